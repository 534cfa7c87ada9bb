//! `release`, `dev-release` and `ci`: gather the facts, make the plan (`plan/`), run the
//! read-only preflight (`preflight.rs`), make the steps (`plan/steps.rs`), then print them
//! (`--dry-run`, `--json`) or run them (`execute.rs`).
use anstream::{print, println};
use anyhow::{Context, Result};
use serde::Serialize;

use crate::{
    error, execute, flags, gather,
    preflight::{self, RunOptions},
    publish, ui,
    workspace::Workspace,
};
use release_pipeline_plan::{
    ci,
    plan::{self, step::Step, Kind, PlanInput, ReleasePlan},
    reference::ImageRef,
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

/// Each selected service's view of the workspace and the planner's input for it. Every service
/// is looked at, selected or not: two that push to one repository with one tag prefix stop the
/// run, and a dev tag is guarded against the prefixes of every context sharing its repository.
fn inputs(ws: &Workspace, services: &[String], opts: &Options) -> Result<(Vec<Workspace>, Vec<PlanInput>)> {
    let all = ws.all_services()?;
    let views = crate::services::select(all.clone(), services, |view| view.service().name.as_str())?;
    // Where each service pushes (local mode: an image named after the service).
    let repositories: Vec<String> = all
        .iter()
        .map(|view| match (opts.local, view.image_repository(opts.repository.clone())) {
            (false, Some(repository)) => repository,
            _ => view.service().name.clone(),
        })
        .collect();
    let targets: Vec<(&str, &str, &str)> = all
        .iter()
        .zip(&repositories)
        .flat_map(|(view, repository)| {
            view.config
                .context
                .iter()
                .map(move |c| (repository.as_str(), c.image_tag_prefix.as_str(), view.service().name.as_str()))
        })
        .collect();
    if let Some(conflict) = plan::repository_conflict(&targets) {
        return Err(error::error_with_help(
            conflict,
            "give one of them its own `image`, or its contexts their own `image-tag-prefix`",
        ));
    }
    let mut inputs = Vec::new();
    for view in &views {
        let mut input = gather::plan_input(view, opts.repository.clone(), opts.local, opts.run)?;
        let own = targets.iter().find(|(_, _, name)| *name == view.service().name).map(|(r, _, _)| *r);
        input.shared_prefixes = targets
            .iter()
            .filter(|(r, _, name)| Some(*r) == own && *name != view.service().name)
            .map(|(_, prefix, _)| (*prefix).to_owned())
            .collect();
        inputs.push(input);
    }
    Ok((views, inputs))
}

pub(crate) fn run_release(cmd: flags::Release, ws: &Workspace) -> Result<()> {
    let opts = options!(cmd);
    let (views, inputs) = inputs(ws, &cmd.service, &opts)?;
    let plans = plan::release_services(&inputs)?;
    finish(views.into_iter().zip(plans).collect(), &opts)
}

pub(crate) fn run_dev_release(cmd: flags::DevRelease, ws: &Workspace) -> Result<()> {
    let opts = options!(cmd);
    let (views, inputs) = inputs(ws, &cmd.service, &opts)?;
    let plans = views
        .iter()
        .zip(&inputs)
        .map(|(view, input)| unless_stale(view, input, |input| plan::dev_release(input, cmd.branch.as_deref())))
        .collect::<Result<Vec<_>>>()?;
    finish(views.into_iter().zip(plans).collect(), &opts)
}

/// The plan `make_plan` makes of `input`; when that skips the service as unchanged since its base
/// tag (`dev-release = "changed"`), the registry is read: a dev tag holding a build of another
/// commit is stale (`plan::stale_dev_tag`), and the service is planned as changed.
fn unless_stale(
    view: &Workspace,
    input: &PlanInput,
    make_plan: impl Fn(&PlanInput) -> Result<ReleasePlan>,
) -> Result<ReleasePlan> {
    let plan = make_plan(input)?;
    if plan.kind != Kind::Skip || input.unchanged.is_none() {
        return Ok(plan);
    }
    let changed = make_plan(&PlanInput { unchanged: None, ..input.clone() })?;
    let pushed: Vec<&plan::ImagePlan> = changed.images.iter().filter(|i| i.push).collect();
    let Some(first) = pushed.first() else { return Ok(plan) };
    if changed.kind != Kind::DevRelease {
        return Ok(plan);
    }
    let read = || -> Result<Option<String>> {
        let docker = preflight::registry_session(view, &first.repository)?;
        for image in &pushed {
            let held = docker.inspect(&ImageRef::tag(&image.repository, image.primary_tag()).to_string())?;
            if let Some(why) = plan::stale_dev_tag(&changed, image, held.as_ref()) {
                return Ok(Some(why));
            }
        }
        Ok(None)
    };
    match read() {
        Ok(Some(why)) => {
            ui::info(why);
            Ok(changed)
        }
        Ok(None) => Ok(plan),
        // The skip stands, and says what it could not check.
        Err(e) => {
            ui::warn(format_args!("could not read {}'s dev tags to check that none is stale: {e:#}", first.repository));
            Ok(plan)
        }
    }
}

pub(crate) fn run_ci(cmd: flags::Ci, ws: &Workspace) -> Result<()> {
    let Some(ctx) = ci::detect(ws.env())? else {
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
    let (views, inputs) = inputs(ws, &cmd.service, &opts)?;
    let plans = views
        .iter()
        .zip(&inputs)
        .map(|(view, input)| unless_stale(view, input, |input| plan::ci(input, &ctx)))
        .collect::<Result<Vec<_>>>()?;
    for (view, plan) in views.iter().zip(&plans) {
        plan::check_ci_credentials(plan, &view.config, view.env())?;
        if !plan.publish.is_empty() {
            publish::check_token(&view.config, view.env())?;
        }
    }
    finish(views.into_iter().zip(plans).collect(), &opts)
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
    // The service the parts built (a part builds one).
    let names: Vec<String> = first.service.iter().cloned().collect();
    if let Some(other) = parts.iter().find(|p| p.service != first.service) {
        return Err(error::error_with_help(
            format!(
                "the parts are of different services ({} and {})",
                first.service.as_deref().unwrap_or("?"),
                other.service.as_deref().unwrap_or("?")
            ),
            "merge one service's parts at a time",
        ));
    }
    let mut views = ws.services(&names)?;
    if views.len() > 1 {
        return Err(error::error_with_help(
            "the parts do not say which service they built, and this workspace has several",
            "make the parts again with this version of the pipeline (`--part TARGET --service NAME`)",
        ));
    }
    let ws = views.remove(0);
    let ws = &ws;
    let input = gather::plan_input(ws, cmd.repository.clone(), false, false)?;
    // The plan is this checkout's (in CI, the trigger's, as the parts' `ci --part` made it): its
    // commit and branch never come from the results, whose own say `parts::sources` checks.
    let mut plan = match ci::detect(ws.env())? {
        Some(ctx) => plan::ci(&input, &ctx)?,
        // A version tag of the service at HEAD: its release; otherwise the branch's dev release.
        None if !input.head_tags.is_empty() => plan::release(&input, None)?,
        None => plan::dev_release(&input, cmd.branch.as_deref())?,
    };
    let merge = match plan::parts::sources(&plan, &ws.config.targets, &parts) {
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
    finish(vec![(ws.clone(), plan)], &opts)
}

/// What `--json` prints: the plan's fields as they always were (with several services, those
/// of `plan::combine`), the problems the preflight found added to the plan's own, each service,
/// and the steps.
#[derive(Serialize)]
struct PlanWithSteps<'a> {
    #[serde(flatten)]
    plan: &'a ReleasePlan,
    services: Vec<plan::ServiceJson<'a>>,
    steps: &'a [Step],
}

/// One service's run: its view, its plan and, once the preflight ran, what it read and the steps.
struct ServiceRun {
    ws: Workspace,
    plan: ReleasePlan,
    ran: Option<(preflight::Preflight, Vec<Step>)>,
}

fn finish(plans: Vec<(Workspace, ReleasePlan)>, opts: &Options) -> Result<()> {
    let several = plans.len() > 1;
    if opts.part.is_some() && plans.iter().filter(|(_, p)| p.kind != Kind::Skip).count() > 1 {
        return Err(error::error_with_help(
            "a part builds one service's share, and this run has several services",
            "run a part per service: add --service NAME",
        ));
    }
    if opts.run && plans.iter().filter(|(_, p)| p.kind != Kind::Skip).count() > 1 {
        return Err(error::error_with_help(
            "--run starts one service's image, and this run has several services",
            "add --service NAME",
        ));
    }
    let mut runs: Vec<ServiceRun> = plans.into_iter().map(|(ws, plan)| ServiceRun { ws, plan, ran: None }).collect();
    let dry = opts.dry_run || opts.json;
    let show = |runs: &[ServiceRun]| {
        for run in runs {
            match &run.plan.skipped {
                Some(why) => println!("service: {} skipped: {why}", run.plan.service.name),
                None => {
                    if several {
                        println!("service: {}", run.plan.service.name);
                    }
                    print!("{}", plan::render(&run.plan));
                }
            }
        }
    };
    if !dry && !ui::quiet() {
        show(&runs);
    }
    // Plans with problems of their own stop before anything is read; a skip has nothing to read.
    let plain_problems = runs.iter().any(|r| !r.plan.problems.is_empty());
    if !plain_problems && runs.iter().any(|r| r.plan.kind != Kind::Skip) {
        let progress = (!dry).then(|| ui::step("preflight: docker, buildx, registry, cargo registry"));
        for run in runs.iter_mut().filter(|r| r.plan.kind != Kind::Skip) {
            let options = RunOptions {
                builder: opts.builder.clone(),
                run_port: opts.run.then(|| opts.port.unwrap_or(8080)),
                may_fetch: !dry,
                part: opts.part.clone(),
                merge: opts.merge.clone(),
            };
            let preflight = preflight::preflight(&run.ws, &run.plan, &options)?;
            let steps = plan::steps::steps(&run.plan, &preflight.facts);
            run.plan.problems.extend(preflight.problems.iter().cloned());
            run.plan.problems.extend(steps.problems);
            run.ran = Some((preflight, steps.steps));
        }
        if let (Some(progress), true) = (progress, runs.iter().all(|r| r.plan.problems.is_empty())) {
            progress.done();
        }
    }
    let combined = plan::combine(&runs.iter().map(|r| r.plan.clone()).collect::<Vec<_>>());
    let mut steps: Vec<Step> = Vec::new();
    let mut images = 0;
    for run in &runs {
        if let Some((_, own)) = &run.ran {
            let before = steps.len();
            steps.extend(own.iter().cloned().map(|s| s.offset(images, before)));
        }
        images += run.plan.images.len();
    }
    if opts.json {
        let services = runs.iter().map(|r| r.plan.service_json()).collect();
        let shown = PlanWithSteps { plan: &combined, services, steps: &steps };
        println!("{}", serde_json::to_string_pretty(&shown).context("serializing the plan")?);
    } else if opts.dry_run {
        show(&runs);
        print!("{}", ui::mask(&plan::step::render(&steps)));
    }
    if !combined.problems.is_empty() {
        return Err(error::problems_error(
            format_args!("this {} cannot go ahead ({} problem(s))", combined.kind.as_str(), combined.problems.len()),
            &combined.problems,
            "nothing was built or pushed; fix the problems above and run it again (a version is released once: tag a new version for new code)",
        ));
    }
    if dry {
        return Ok(());
    }
    if runs.iter().all(|r| r.ran.is_none()) {
        ui::info(format_args!("nothing to do: {}", combined.reason));
        return Ok(());
    }
    for run in runs {
        if let Some((preflight, steps)) = run.ran {
            execute::execute(&run.ws, &run.plan, preflight, &steps)?;
        }
    }
    Ok(())
}
