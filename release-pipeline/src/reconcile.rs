//! `cargo xtask reconcile [--apply]`: every moving tag (`X.Y`, `X`, `latest`, per context prefix)
//! back on the highest release the registry holds that is not retracted, copied with its digest.
//! Without `--apply` it prints the steps and changes nothing; a second run has nothing to do.
use anstream::{print, println};
use anyhow::{Context, Result};

use crate::{
    docker::TagRead, error, execute::MOVE_ROUNDS, flags, gather, preflight, releases::Qualifier, ui,
    workspace::Workspace,
};
use release_pipeline_plan::{
    plan::{registry, step::Step},
    tags,
};

pub(crate) fn run(cmd: flags::Reconcile, ws: &Workspace) -> Result<()> {
    // Each service's image, with its own version tags and contexts.
    for view in ws.all_services()? {
        // The image's repository and each mirror's: every registry holds the same tags.
        for repository in preflight::repositories(&view, cmd.repository.clone())? {
            reconcile(&cmd, &view, &repository)?;
        }
    }
    Ok(())
}

fn reconcile(cmd: &flags::Reconcile, ws: &Workspace, repository: &str) -> Result<()> {
    let retracted = gather::retracted_here_and_remote(ws)?;
    let docker = preflight::registry_session(ws, repository)?;
    let prefixes: Vec<&str> = ws.config.context.iter().map(|c| c.image_tag_prefix.as_str()).collect();
    // Only version and moving tags matter here: dev tags are not read.
    let relevant = |name: &str| {
        prefixes
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|b| tags::as_version_tag(b).is_some() || tags::is_moving_tag(b)))
            .then_some(TagRead::Digests)
    };
    // Only a release of ours, complete and (with signing on) signed is a moving tag's home.
    let mut qualifier =
        Qualifier::new(ws, &docker, repository, crate::releases::contexts_of(&ws.config), retracted.clone())?;
    // As many rounds as a release's own tag step takes before it gives up on converging.
    for round in 0..MOVE_ROUNDS {
        let held = docker.held_tags(repository, relevant)?;
        let names: Vec<&str> = held.iter().map(|t| t.name.as_str()).collect();
        let mut passed_over = Vec::new();
        for prefix in &prefixes {
            let versions: Vec<semver::Version> =
                registry::releases(&names, prefix, &prefixes, &retracted).into_keys().collect();
            for bare in registry::moving_tags_to_place(&names, prefix, &versions) {
                passed_over.extend(qualifier.home(&bare, &versions)?.1);
            }
        }
        passed_over.sort();
        passed_over.dedup();
        if round == 0 {
            for why in &passed_over {
                ui::warn(format_args!("passed over for moving tags: {why}"));
            }
        }
        // What does not qualify counts as no release, as a retracted one does.
        let excluded: Vec<semver::Version> = retracted.iter().cloned().chain(qualifier.disqualified()).collect();
        let steps: Vec<Step> = ws
            .config
            .context
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                registry::reconcile(
                    repository,
                    (i, &c.image_tag_prefix),
                    &prefixes,
                    &held,
                    &excluded,
                    docker.authfile().as_deref(),
                )
            })
            .collect();
        let copies: Vec<&Step> = steps.iter().filter(|s| matches!(s, Step::PointTag { .. })).collect();
        let staying = steps.len() - copies.len();
        if round == 0 {
            if cmd.json {
                println!("{}", serde_json::to_string_pretty(&steps).context("serializing the steps")?);
            } else {
                print!("{}", ui::mask(&release_pipeline_plan::plan::step::render(&steps)));
            }
        }
        if staying > 0 && round == 0 {
            ui::warn(format_args!(
                "{staying} moving tag(s) have no release left to point at and stay where they are (listed above)"
            ));
        }
        if copies.is_empty() {
            let done = if round == 0 { "nothing to do" } else { "done" };
            ui::info(format_args!("{done}: every other moving tag of {repository} is on its release"));
            return Ok(());
        }
        // `--json` only shows, like every command's `--json`.
        if !cmd.apply || cmd.json {
            ui::info("nothing was changed: run with --apply (without --json) to make these changes");
            return Ok(());
        }
        for step in copies {
            if let Step::PointTag { image, tag, from, digest, argv } = step {
                // The step copies the digest this round read; the qualifier checked that release
                // (complete, ours, signed): a version tag written over in between is left to the
                // next round's read.
                let prefix = &ws.config.context[*image].image_tag_prefix;
                let version = from
                    .strip_prefix(prefix.as_str())
                    .and_then(tags::as_version_tag)
                    .with_context(|| format!("{repository}:{from} is no version tag"))?;
                let checked = qualifier
                    .digest_of(&version, prefix)
                    .with_context(|| format!("{repository}:{from} was not checked"))?;
                if checked != digest {
                    // Checked again in the next round, from a fresh read of the registry.
                    ui::warn(format_args!("{repository}:{from} changed since it was checked; checking it again"));
                    qualifier.forget(&version);
                    continue;
                }
                docker.copy(repository, argv, &format!("pointing {repository}:{tag} at {from} ({digest})"))?;
            }
        }
    }
    Err(error::error_with_help(
        format!("{repository}'s moving tags kept changing over {MOVE_ROUNDS} rounds: another run keeps writing them"),
        "run reconcile again once the other run is done",
    ))
}
