//! `cargo xtask reconcile [--apply]`: every moving tag (`X.Y`, `X`, `latest`, per context prefix)
//! back on the highest release the registry holds that is not retracted, copied with its digest.
//! Without `--apply` it prints the steps and changes nothing; a second run has nothing to do.
use anstream::{print, println};
use anyhow::{Context, Result};

use crate::{
    docker::TagRead,
    error,
    execute::MOVE_ROUNDS,
    flags, gather,
    plan::{registry, Step},
    preflight, tags, ui,
    version::{parse_tag, TagKind},
    workspace::Workspace,
};

/// The retractions the git remote holds (`git ls-remote --tags <git-remote> 'refs/tags/retracted/*'`).
/// None when this checkout has no such remote; an unreadable remote stops the run, since a
/// retraction missed here would put a moving tag back on a retracted release.
fn remote_retractions(ws: &Workspace) -> Result<Vec<semver::Version>> {
    let repo = ws.repo()?;
    let remote = ws.config.git_remote.as_str();
    if !repo.has_remote(remote) {
        ui::info(format_args!("no git remote `{remote}`: only this checkout's retractions count"));
        return Ok(Vec::new());
    }
    let names = repo
        .remote_refs(remote, "refs/tags/retracted/", &format!("reading the retractions of the git remote `{remote}`"))
        .context("a retraction missed would put a moving tag back on it: reconcile needs the remote's")?;
    Ok(names
        .iter()
        .filter_map(|name| match parse_tag(name, &ws.config.version_tag_prefix) {
            TagKind::Version(v) => Some(v),
            _ => None,
        })
        .collect())
}

pub(crate) fn run(cmd: flags::Reconcile, ws: &Workspace) -> Result<()> {
    // Each service's image, with its own version tags and contexts.
    for view in ws.all_services()? {
        reconcile(&cmd, &view)?;
    }
    Ok(())
}

fn reconcile(cmd: &flags::Reconcile, ws: &Workspace) -> Result<()> {
    let repository = preflight::repository(ws, cmd.repository.clone())?;
    let mut retracted: Vec<semver::Version> = gather::retracted(ws)?.into_iter().map(|(v, _)| v).collect();
    // A retraction pushed from another clone counts too, before this one has fetched it.
    for v in remote_retractions(ws)? {
        if !retracted.contains(&v) {
            retracted.push(v);
        }
    }
    let docker = preflight::registry_session(ws, &repository)?;
    let prefixes: Vec<&str> = ws.config.context.iter().map(|c| c.image_tag_prefix.as_str()).collect();
    // Only version and moving tags matter here: dev tags are not read.
    let relevant = |name: &str| {
        prefixes
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|b| tags::as_version_tag(b).is_some() || tags::is_moving_tag(b)))
            .then_some(TagRead::Digests)
    };
    // As many rounds as a release's own tag step takes before it gives up on converging.
    for round in 0..MOVE_ROUNDS {
        let held = docker.held_tags(&repository, relevant)?;
        let steps: Vec<Step> = ws
            .config
            .context
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                registry::reconcile(
                    &repository,
                    (i, &c.image_tag_prefix),
                    &prefixes,
                    &held,
                    &retracted,
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
                print!("{}", ui::mask(&crate::plan::steps::render(&steps)));
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
            if let Step::PointTag { tag, from, .. } = step {
                docker.copy_tag(&repository, from, tag)?;
            }
        }
    }
    Err(error::error_with_help(
        format!("{repository}'s moving tags kept changing over {MOVE_ROUNDS} rounds: another run keeps writing them"),
        "run reconcile again once the other run is done",
    ))
}
