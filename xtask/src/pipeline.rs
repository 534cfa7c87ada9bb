//! `release`, `dev-release` and `ci`: gather the facts, make the plan (`plan.rs`), then print it
//! (`--dry-run`, `--json`) or carry it out (`execute.rs`).
use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::{
    ci, execute, flags,
    plan::{self, Kind, PlanInput, ReleasePlan},
    ui, version,
};

/// What the commands share: where to push, and how to show or run the plan.
pub(crate) struct Options {
    pub(crate) dry_run: bool,
    pub(crate) json: bool,
    pub(crate) repository: Option<String>,
    pub(crate) local: bool,
    pub(crate) builder: Option<String>,
    pub(crate) run: bool,
    pub(crate) port: Option<u16>,
}

/// Reads git, the environment and the configuration into the planner's input.
pub(crate) fn gather(
    repository: Option<String>,
    force_local: bool,
    run: bool,
) -> Result<(PlanInput, camino::Utf8PathBuf)> {
    let (repo, root, config) = version::open(None)?;
    let repo = repo.ok_or_else(|| {
        ui::error_with_help(format!("{root} is not in a git repository"), "releases are made from a git checkout")
    })?;
    let tags = version::version_tags(&repo, &config.version_tag_prefix)?;
    let version = version::compute_with_tags(&repo, &tags)?;
    let head = repo.head()?;
    let mut head_tags: Vec<(String, semver::Version)> = tags
        .iter()
        .filter(|t| head.is_some() && repo.peel(t.target) == head)
        .map(|t| (t.name.clone(), t.version.clone()))
        .collect();
    // Highest first: a release of HEAD releases its highest version tag.
    head_tags.sort_by(|a, b| b.1.cmp_precedence(&a.1).then_with(|| a.0.cmp(&b.0)));
    let repository = repository
        .or_else(|| std::env::var("RELEASE_REPOSITORY").ok().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| config.image.clone());
    let input = PlanInput {
        branch: repo.branch()?,
        head_tags,
        releases: tags.into_iter().map(|t| t.version).collect(),
        repository,
        force_local,
        run,
        changed_files: if version.dirty { repo.changed_files()? } else { Vec::new() },
        version,
        config,
    };
    Ok((input, root))
}

pub(crate) fn env_map() -> BTreeMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
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
        }
    };
}

pub(crate) fn run_release(cmd: flags::Release) -> Result<()> {
    let opts = options!(cmd);
    let (input, root) = gather(opts.repository.clone(), opts.local, opts.run)?;
    let plan = plan::release(&input, None)?;
    finish(plan, &input, &root, &opts)
}

pub(crate) fn run_dev_release(cmd: flags::DevRelease) -> Result<()> {
    let opts = options!(cmd);
    let (input, root) = gather(opts.repository.clone(), opts.local, opts.run)?;
    let plan = plan::dev_release(&input, cmd.branch.as_deref())?;
    finish(plan, &input, &root, &opts)
}

pub(crate) fn run_ci(cmd: flags::Ci) -> Result<()> {
    let env = env_map();
    let Some(ctx) = ci::detect(&env)? else {
        return Err(ui::error_with_help(
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
    };
    let (input, root) = gather(opts.repository.clone(), false, false)?;
    let plan = plan::ci(&input, &ctx)?;
    plan::check_ci_credentials(&plan, &input.config, &env)?;
    if !plan.publish.is_empty() {
        crate::publish::check_token(&input.config, &env)?;
    }
    finish(plan, &input, &root, &opts)
}

fn finish(plan: ReleasePlan, input: &PlanInput, root: &camino::Utf8Path, opts: &Options) -> Result<()> {
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&plan).context("serializing the plan")?);
    } else if opts.dry_run || !ui::quiet() {
        print!("{}", plan::render(&plan));
    }
    let mut problems = plan.problems.clone();
    if opts.dry_run || opts.json {
        // The one tool check a dry run makes too: a `--builder` buildx does not know.
        if let (Some(builder), true) = (&opts.builder, plan.kind != Kind::Skip) {
            match crate::docker::Docker::connect() {
                Ok(docker) => problems.extend(docker.check_builder(builder).err()),
                Err(e) => problems.push(format!("--builder {builder}: {e:#}")),
            }
        }
    }
    if !problems.is_empty() {
        return Err(ui::problems_error(
            format_args!("this {} cannot go ahead", plan.kind.as_str()),
            &problems,
            "nothing was built or pushed; fix the problems above and run it again",
        ));
    }
    if opts.dry_run || opts.json {
        return Ok(());
    }
    execute::execute(&plan, input, root, opts)
}
