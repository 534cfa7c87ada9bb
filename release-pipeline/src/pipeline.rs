//! `release`, `dev-release` and `ci`: gather the facts, make the plan (`plan/`), run the
//! read-only preflight (`preflight.rs`), make the steps (`plan/steps.rs`), then print them
//! (`--dry-run`, `--json`) or run them (`execute.rs`).
use anstream::{print, println};
use anyhow::{Context, Result};
use serde::Serialize;

use crate::{
    ci, error, execute, flags, gather,
    plan::{self, Kind, ReleasePlan, Step},
    preflight::{self, RunOptions},
    publish, ui,
    workspace::Workspace,
};

/// What the commands share: where to push, and how to show or run the plan.
struct Options {
    dry_run: bool,
    json: bool,
    repository: Option<String>,
    local: bool,
    builder: Option<String>,
    run: bool,
    port: Option<u16>,
    part: Option<String>,
    merge: Option<plan::steps::Merge>,
}

/// `release` and `dev-release` take the same flags (xflags makes a struct for each).
macro_rules! options {
    ($cmd:ident) => {
        Options {
            dry_run: $cmd.dry_run,
            json: $cmd.json,
            repository: $cmd.repository,
            local: $cmd.local,
            builder: $cmd.builder,
            run: $cmd.run,
            port: $cmd.port,
            part: $cmd.part,
            merge: None,
        }
    };
}

pub(crate) fn run_release(cmd: flags::Release, ws: &Workspace) -> Result<()> {
    let opts = options!(cmd);
    let input = gather::plan_input(ws, opts.repository.clone(), opts.local, opts.run)?;
    let plan = plan::release(&input, None)?;
    finish(ws, plan, &opts)
}

pub(crate) fn run_dev_release(cmd: flags::DevRelease, ws: &Workspace) -> Result<()> {
    let opts = options!(cmd);
    let input = gather::plan_input(ws, opts.repository.clone(), opts.local, opts.run)?;
    let plan = plan::dev_release(&input, cmd.branch.as_deref())?;
    finish(ws, plan, &opts)
}

pub(crate) fn run_ci(cmd: flags::Ci, ws: &Workspace) -> Result<()> {
    let Some(ctx) = ci::detect(&ws.env)? else {
        return Err(error::error_with_help(
            "not running in CI (none of GITHUB_ACTIONS, GITLAB_CI or TRAVIS is set)",
            "a person releases with `cargo xtask release` or `cargo xtask dev-release`",
        ));
    };
    let opts = Options {
        dry_run: cmd.dry_run,
        json: cmd.json,
        repository: cmd.repository,
        local: false,
        builder: cmd.builder,
        run: false,
        port: None,
        part: cmd.part,
        merge: None,
    };
    let input = gather::plan_input(ws, opts.repository.clone(), false, false)?;
    let plan = plan::ci(&input, &ctx)?;
    plan::check_ci_credentials(&plan, &ws.config, &ws.env)?;
    if !plan.publish.is_empty() {
        publish::check_token(&ws.config, &ws.env)?;
    }
    finish(ws, plan, &opts)
}

/// `merge`: the plan the parts were built for (their kind and branch, on this checkout), checked
/// against what they pushed, then the usual run with each image assembled from its parts.
pub(crate) fn run_merge(cmd: flags::Merge, ws: &Workspace) -> Result<()> {
    let mut parts = Vec::new();
    for path in &cmd.parts {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the part result {}", path.display()))?;
        let part: plan::parts::PartResult =
            serde_json::from_str(&text).with_context(|| format!("{} is not a part's result", path.display()))?;
        parts.push(part);
    }
    let Some(first) = parts.first() else {
        return Err(error::error_with_help(
            "no part results given",
            "pass the dist/part-<target>.json files the parts wrote: cargo xtask merge dist/part-*.json",
        ));
    };
    let input = gather::plan_input(ws, cmd.repository.clone(), false, false)?;
    let mut plan = match first.kind.as_str() {
        "release" => plan::release(&input, None)?,
        _ => plan::dev_release(&input, first.branch.as_deref())?,
    };
    let merge = match plan::parts::sources(&plan, &parts) {
        Ok(sources) => Some(plan::steps::Merge {
            sources,
            packages: parts.iter().map(|p| (p.package.file.clone(), p.package.sha256.clone())).collect(),
        }),
        Err(problems) => {
            plan.problems.extend(problems);
            None
        }
    };
    let opts = Options {
        dry_run: cmd.dry_run,
        json: cmd.json,
        repository: cmd.repository,
        local: false,
        builder: None,
        run: false,
        port: None,
        part: None,
        merge,
    };
    finish(ws, plan, &opts)
}

/// What `--json` prints: the plan's fields as they always were, the problems the preflight
/// found added to the plan's own, and the steps.
#[derive(Serialize)]
struct PlanWithSteps<'a> {
    #[serde(flatten)]
    plan: &'a ReleasePlan,
    steps: &'a [Step],
}

fn finish(ws: &Workspace, mut plan: ReleasePlan, opts: &Options) -> Result<()> {
    let dry = opts.dry_run || opts.json;
    if !dry && !ui::quiet() {
        print!("{}", plan::render(&plan));
    }
    // A plan with problems of its own stops before anything is read; a skip has nothing to read.
    let mut ran = None;
    if plan.problems.is_empty() && plan.kind != Kind::Skip {
        let progress = (!dry).then(|| ui::step("preflight: docker, buildx, registry, cargo registry"));
        let options = RunOptions {
            builder: opts.builder.clone(),
            run_port: opts.run.then(|| opts.port.unwrap_or(8080)),
            may_fetch: !dry,
            part: opts.part.clone(),
            merge: opts.merge.clone(),
        };
        let preflight = preflight::preflight(ws, &plan, &options)?;
        let steps = plan::steps::steps(&plan, &preflight.facts);
        plan.problems.extend(preflight.problems.iter().cloned());
        plan.problems.extend(steps.problems);
        if let (Some(progress), true) = (progress, plan.problems.is_empty()) {
            progress.done();
        }
        ran = Some((preflight, steps.steps));
    }
    let steps: &[Step] = ran.as_ref().map(|(_, s)| s.as_slice()).unwrap_or_default();
    if opts.json {
        let shown = PlanWithSteps { plan: &plan, steps };
        println!("{}", serde_json::to_string_pretty(&shown).context("serializing the plan")?);
    } else if opts.dry_run {
        print!("{}", plan::render(&plan));
        print!("{}", ui::mask(&plan::steps::render(steps)));
    }
    if !plan.problems.is_empty() {
        return Err(error::problems_error(
            format_args!("this {} cannot go ahead ({} problem(s))", plan.kind.as_str(), plan.problems.len()),
            &plan.problems,
            "nothing was built or pushed; fix the problems above and run it again (a version is released once: tag a new version for new code)",
        ));
    }
    if dry {
        return Ok(());
    }
    match ran {
        Some((preflight, steps)) => execute::execute(ws, &plan, preflight, &steps),
        None => {
            ui::info(format_args!("nothing to do: {}", plan.reason));
            Ok(())
        }
    }
}
