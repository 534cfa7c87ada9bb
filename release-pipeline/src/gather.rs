//! Git, the environment and the configuration, read into the planner's input
//! (`plan::PlanInput`): the one place a release's facts are gathered.
use anyhow::{Context, Result};

use crate::{
    config::DevReleasePolicy,
    repo::Repo,
    ui,
    version::{self, parse_tag, TagKind, VersionTag},
    workspace::Workspace,
};
use release_pipeline_plan::plan::PlanInput;

/// Reads git, the environment and the configuration into the planner's input.
pub(crate) fn plan_input(
    ws: &Workspace,
    repository: Option<String>,
    force_local: bool,
    run: bool,
) -> Result<PlanInput> {
    let repo = ws.repo()?;
    let config = &ws.config;
    let tags = version::version_tags(repo, &config.version_tag_prefix)?;
    let version = version::compute_with_tags(repo, &tags)?;
    let head = repo.head()?;
    let mut head_tags: Vec<(String, semver::Version)> = tags
        .iter()
        .filter(|t| head.is_some() && repo.peel(t.target) == head)
        .map(|t| (t.name.clone(), t.version.clone()))
        .collect();
    // Highest first: a release of HEAD releases its highest version tag.
    head_tags.sort_by(|a, b| b.1.cmp_precedence(&a.1).then_with(|| a.0.cmp(&b.0)));
    let repository = ws.image_repository(repository);
    let service = ws.service().clone();
    // Tracked files with uncommitted changes: what makes the tree dirty, read once.
    let changed_files = if version.dirty { repo.changed_files()? } else { Vec::new() };
    let unchanged = match (service.dev_release, &version.tag) {
        (DevReleasePolicy::Changed, Some(base)) => {
            let commit = tags.iter().find(|t| &t.name == base).and_then(|t| repo.peel_listed(t.target, t.peeled));
            match commit {
                Some(commit) => unchanged_since(ws, repo, commit, base, &changed_files)?,
                None => None,
            }
        }
        _ => None,
    };
    Ok(PlanInput {
        service,
        unchanged,
        shared_prefixes: Vec::new(),
        retracted: retracted_among(repo, &tags)?,
        branch: repo.branch()?,
        head_tags,
        releases: tags.into_iter().map(|t| t.version).collect(),
        repository,
        force_local,
        run,
        changed_files,
        version,
        config: config.clone(),
    })
}

/// Why a `dev-release = "changed"` service is skipped: nothing its build reads (its package's
/// and path dependencies' directories, the workspace's manifest and lockfile, `.cargo/`, the
/// toolchain file, its contexts) changed since its base version tag, committed or not (among
/// `changed_files`). `None`: something did, and it is built.
fn unchanged_since(
    ws: &Workspace,
    repo: &Repo,
    base: git2::Oid,
    tag: &str,
    changed_files: &[String],
) -> Result<Option<String>> {
    let service = ws.service();
    let Some(paths) = built_from(ws) else { return Ok(None) };
    if repo.first_change_since(base, &paths)?.is_some() {
        return Ok(None);
    }
    let inside = |file: &String| paths.iter().any(|p| file == p || file.starts_with(&format!("{p}/")));
    if changed_files.iter().any(inside) {
        return Ok(None);
    }
    Ok(Some(format!(
        "dev-release = \"changed\" and nothing {} is built from ({}) changed since {tag}",
        service.name,
        paths.join(", ")
    )))
}

/// What a service's build reads, relative to the root: its package's directory and those of its
/// path dependencies, the workspace's manifest and lockfile, `.cargo/`, the toolchain file, its
/// contexts. `None`: the whole workspace (a package at the root, or a path dependency outside the
/// repository, whose changes are not in this history).
pub(crate) fn built_from(ws: &Workspace) -> Option<Vec<String>> {
    let service = ws.service();
    if service.sources.iter().any(|p| p.is_absolute()) {
        return None;
    }
    let mut paths: Vec<String> = service.sources.iter().map(|p| p.to_string()).collect();
    // The manifest (profiles, features, patches), the lockfile, cargo's and the toolchain's
    // configuration change every build.
    paths.extend(["Cargo.toml", "Cargo.lock", ".cargo", "rust-toolchain", "rust-toolchain.toml"].map(str::to_owned));
    paths.extend(ws.config.context.iter().map(|c| c.dir.clone()));
    // The whole workspace when the package is at its root.
    if paths.iter().any(String::is_empty) {
        return None;
    }
    Some(paths)
}

/// The retracted versions the repository records (`retracted/<version tag>`), with reasons.
pub(crate) fn retracted(ws: &Workspace) -> Result<Vec<(semver::Version, String)>> {
    let repo = ws.repo()?;
    retracted_among(repo, &version::version_tags(repo, &ws.config.version_tag_prefix)?)
}

/// [`retracted`], among version tags already listed.
fn retracted_among(repo: &Repo, tags: &[VersionTag]) -> Result<Vec<(semver::Version, String)>> {
    let retractions = repo.retractions()?;
    Ok(tags
        .iter()
        .filter_map(|t| {
            retractions.iter().find(|(name, _)| *name == t.name).map(|(_, why)| (t.version.clone(), why.clone()))
        })
        .collect())
}

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
        .remote_refs(
            &ws.exec,
            remote,
            "refs/tags/retracted/",
            &format!("reading the retractions of the git remote `{remote}`"),
        )
        .context("a retraction missed would put a moving tag on it or publish it: the remote's are needed")?;
    Ok(names
        .iter()
        .filter_map(|name| match parse_tag(name, &ws.config.version_tag_prefix) {
            TagKind::Version(v) => Some(v),
            _ => None,
        })
        .collect())
}

/// Every retracted version: this checkout's and the git remote's (a retraction pushed from
/// another clone counts before this one has fetched it). Read right before a decision that a
/// retraction changes: moving a tag, publishing a crate, `reconcile`.
pub(crate) fn retracted_here_and_remote(ws: &Workspace) -> Result<Vec<semver::Version>> {
    let mut retracted: Vec<semver::Version> = retracted(ws)?.into_iter().map(|(v, _)| v).collect();
    for v in remote_retractions(ws)? {
        if !retracted.contains(&v) {
            retracted.push(v);
        }
    }
    Ok(retracted)
}
