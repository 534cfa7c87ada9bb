//! `cargo xtask reconcile [--apply]`: every moving tag (`X.Y`, `X`, `latest`, per context prefix)
//! back on the highest release the registry holds that is not retracted, copied with its digest.
//! Without `--apply` it prints the steps and changes nothing; a second run has nothing to do.
use anstream::{print, println};
use anyhow::{Context, Result};

use crate::{
    error, flags, gather,
    plan::{registry, Step},
    preflight, tags, ui,
    workspace::Workspace,
};

/// How many times `--apply` reads and writes before it gives up on converging (another run
/// writing the same tags).
const ROUNDS: usize = 5;

pub(crate) fn run(cmd: flags::Reconcile, ws: &Workspace) -> Result<()> {
    let repository = preflight::repository(ws, cmd.repository)?;
    let retracted: Vec<semver::Version> = gather::retracted(ws)?.into_iter().map(|(v, _)| v).collect();
    let docker = preflight::registry_session(ws, &repository)?;
    let prefixes: Vec<&str> = ws.config.context.iter().map(|c| c.image_tag_prefix.as_str()).collect();
    // Only version and moving tags matter here: dev tags are not read.
    let relevant = |name: &str| {
        prefixes
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|b| tags::as_version_tag(b).is_some() || tags::is_moving_tag(b)))
    };
    for round in 0..ROUNDS {
        let held = docker.held_tags(&repository, relevant)?;
        let steps: Vec<Step> = ws
            .config
            .context
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                registry::reconcile(
                    &repository,
                    i,
                    &c.image_tag_prefix,
                    &held,
                    &retracted,
                    docker.authfile().as_deref(),
                )
            })
            .collect();
        let copies: Vec<&Step> = steps.iter().filter(|s| matches!(s, Step::PointTag { .. })).collect();
        if round == 0 {
            if cmd.json {
                println!("{}", serde_json::to_string_pretty(&steps).context("serializing the steps")?);
            } else {
                print!("{}", ui::mask(&crate::plan::steps::render(&steps)));
            }
        }
        if copies.is_empty() {
            if round == 0 {
                ui::info(format_args!("nothing to do: every moving tag of {repository} is on its release"));
            } else {
                ui::info(format_args!("done: every moving tag of {repository} is on its release"));
            }
            return Ok(());
        }
        if !cmd.apply {
            ui::info("nothing was changed: run with --apply to make these changes");
            return Ok(());
        }
        for step in copies {
            if let Step::PointTag { tag, from, .. } = step {
                docker.copy_tag(&repository, from, tag)?;
            }
        }
    }
    Err(error::error_with_help(
        format!("{repository}'s moving tags kept changing over {ROUNDS} rounds: another run keeps writing them"),
        "run reconcile again once the other run is done",
    ))
}
