//! `cargo xtask prune [--apply] [--keep-days N]`: the dev tags of branches gone from the git
//! remote (and, with `--keep-days`, those older than N days) deleted through the registry API.
//! Version and moving tags are never pruned, nor cosign's, nor a tag whose digest a kept tag
//! holds; staging tags only with `--keep-days`. Without `--apply` it prints every tag with the
//! reason it goes or stays. Each delete is decided again right before it, on a fresh read
//! (the race tests' `prune` pause comes first: `execute::PauseHook`).
use anstream::{print, println};
use anyhow::{Context, Result};
use serde::Serialize;

use crate::{dist, docker::TagRead, error, execute, flags, preflight, ui, workspace::Workspace};
use release_pipeline_plan::plan::{registry, step::Step};

#[derive(Serialize)]
struct PruneJson<'a> {
    decisions: &'a [registry::PruneDecision],
    steps: &'a [Step],
}

pub(crate) fn run(cmd: flags::Prune, ws: &Workspace) -> Result<()> {
    // Each service's image, with its own contexts' prefixes.
    for view in ws.all_services()? {
        // The image's repository and each mirror's: every registry holds the same tags.
        for repository in preflight::repositories(&view, cmd.repository.clone())? {
            prune(&cmd, &view, &repository)?;
        }
    }
    Ok(())
}

fn prune(cmd: &flags::Prune, ws: &Workspace, repository: &str) -> Result<()> {
    let branches = remote_branches(ws)?;
    let docker = preflight::registry_session(ws, repository)?;
    let prefixes: Vec<&str> = ws.config.context.iter().map(|c| c.image_tag_prefix.as_str()).collect();
    let read =
        |name: &str| Some(if registry::needs_labels(name, &prefixes) { TagRead::Labels } else { TagRead::Digests });
    let held = docker.held_tags(repository, read)?;
    let cutoff = cmd.keep_days.map(|days| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        dist::rfc3339(now - i64::from(days) * 86_400)
    });
    let decisions = registry::prune(&held, &prefixes, &branches, cutoff.as_deref());
    let steps = registry::prune_steps(repository, &decisions, docker.authfile().as_deref());
    if cmd.json {
        let shown = PruneJson { decisions: &decisions, steps: &steps };
        println!("{}", serde_json::to_string_pretty(&shown).context("serializing the decisions")?);
    } else {
        for d in &decisions {
            println!("{} {}:{}  ({})", if d.prune { "prune" } else { "keep " }, repository, d.tag, d.reason);
        }
        print!("{}", ui::mask(&release_pipeline_plan::plan::step::render(&steps)));
    }
    if steps.is_empty() {
        ui::info(format_args!("nothing to prune in {repository}"));
        return Ok(());
    }
    // `--json` only shows, like every command's `--json`.
    if !cmd.apply || cmd.json {
        ui::info("nothing was deleted: run with --apply (without --json) to delete these tags");
        return Ok(());
    }
    execute::PauseHook::from_env(ws.env()).pause("prune");
    // Decide again right before each delete, on a fresh read of the remote's branches and of the
    // registry: a branch pushed again, a tag pushed or moved since, is not deleted on the old
    // decision, and a digest another prune deleted meanwhile counts as done.
    let mut held = docker.held_tags(repository, read)?;
    let mut deleted = 0;
    for step in &steps {
        let Step::Delete { digest, .. } = step else { continue };
        let branches = remote_branches(ws)?;
        // The tags on this digest, read again (a tag gone since is dropped).
        let on_it: Vec<String> = held.iter().filter(|t| t.digest == *digest).map(|t| t.name.clone()).collect();
        held.retain(|t| t.digest != *digest);
        for name in on_it {
            held.extend(docker.held_tag(repository, &name)?);
        }
        let fresh = registry::prune(&held, &prefixes, &branches, cutoff.as_deref());
        match registry::recheck(&fresh, digest) {
            registry::Recheck::Delete => {
                execute::run_command_step(ws, step)?;
                held.retain(|t| t.digest != *digest);
                deleted += 1;
            }
            registry::Recheck::Gone => {
                ui::info(format_args!("{repository}@{digest} was deleted meanwhile (another prune?): done"))
            }
            registry::Recheck::Keep(why) => {
                ui::warn(format_args!("{repository}@{digest} changed since it was read, left alone: {why}"))
            }
        }
    }
    ui::info(format_args!(
        "deleted {deleted} manifest(s); the registry frees their layers at its next garbage collection"
    ));
    Ok(())
}

/// The branches the configured git remote has (`git ls-remote --heads`); none is an error, since
/// every dev tag would count as gone.
fn remote_branches(ws: &Workspace) -> Result<Vec<String>> {
    let remote = &ws.config.git_remote;
    let branches = ws.repo()?.remote_refs(
        &ws.exec,
        remote,
        "refs/heads/",
        &format!("listing the branches of the git remote `{remote}`"),
    )?;
    if branches.is_empty() {
        return Err(error::error_with_help(
            format!("the git remote `{remote}` lists no branches: every dev tag would count as gone"),
            "check `git-remote` in the configuration (and `git remote -v`): prune reads the branches of the team's remote",
        ));
    }
    Ok(branches)
}
