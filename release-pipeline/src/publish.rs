//! Publishing the crates to a cargo registry, driven through `cargo` itself (any registry cargo
//! knows: git or sparse index). The version reaches the published crate without touching the
//! checkout: a staged copy of the workspace, edited with `toml_edit`, is what gets published.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::cmd;

use crate::{config::Config, error, exec::Exec, flags, gather, ui, workspace::Workspace};
use release_pipeline_plan::plan::{self, steps::CrateAction, steps::PublishState, Kind, ReleasePlan};

/// cargo's own token variable for a registry: `CARGO_REGISTRIES_<NAME>_TOKEN`.
pub(crate) fn token_var(registry: &str) -> String {
    format!("CARGO_REGISTRIES_{}_TOKEN", registry.to_ascii_uppercase().replace('-', "_"))
}

pub(crate) fn check_token(config: &Config, env: &BTreeMap<String, String>) -> Result<()> {
    let var = token_var(&config.cargo_registry);
    match env.get(&var).filter(|t| !t.is_empty()) {
        Some(token) => {
            ui::add_secret(token);
            Ok(())
        }
        None => Err(error::error_with_help(
            format!("this plan publishes to the cargo registry `{}`, but {var} is not set", config.cargo_registry),
            format!("set {var} to the registry's token (a CI secret)"),
        )),
    }
}

/// `cargo xtask publish`: the publish step alone, for the plan a person's `release` (HEAD on a
/// version tag) or `dev-release` (otherwise) would make.
pub(crate) fn run(cmd: flags::Publish, ws: &Workspace) -> Result<()> {
    let views = ws.services(&cmd.service)?;
    let inputs = views.iter().map(|v| gather::plan_input(v, None, false, false)).collect::<Result<Vec<_>>>()?;
    // As `release` decides: a version tag of any service at HEAD makes this a release commit,
    // where only the services tagged there publish.
    let release_commit = inputs.iter().any(|i| i.version.is_release());
    for (view, input) in views.iter().zip(inputs) {
        if release_commit && !input.version.is_release() {
            ui::info(format_args!(
                "nothing to publish for {}: HEAD is a release of another service, and only the services tagged there publish",
                input.service.name
            ));
            continue;
        }
        publish_service(&cmd, view, input)?;
    }
    Ok(())
}

/// [`run`] for one service's view.
fn publish_service(cmd: &flags::Publish, ws: &Workspace, input: release_pipeline_plan::plan::PlanInput) -> Result<()> {
    let plan = if input.version.is_release() {
        plan::release(&input, None)?
    } else {
        plan::dev_release(&input, cmd.branch.as_deref())?
    };
    if let Some(why) = plan.publish_skipped.as_ref().or(plan.skipped.as_ref()) {
        ui::info(format_args!("nothing to publish: {why}"));
        return Ok(());
    }
    if plan.publish.is_empty() {
        let why = if input.config.publish.is_empty() {
            "`publish` is empty in the configuration"
        } else {
            "no image repository is configured (`image`, --repository or RELEASE_REPOSITORY), so this is local mode, which never publishes"
        };
        ui::info(format_args!("nothing to publish: {why}"));
        return Ok(());
    }
    if !plan.problems.is_empty() {
        return Err(error::problems_error(
            "nothing was published",
            &plan.problems,
            "fix the problems above and run it again",
        ));
    }
    let actions = preflight(ws, &plan)?;
    if cmd.dry_run {
        for a in &actions {
            println!("{} {}: {:?}", a.krate, a.version, a.state);
        }
        return Ok(());
    }
    publish(ws, &plan, &actions)?;
    for a in &actions {
        ui::info(format_args!("{} {}: {}", a.krate, a.version, a.describe()));
    }
    Ok(())
}

/// Reads the registry for every crate the plan publishes: what is there already, from which
/// commit. A release version published from another commit is an error, before anything is
/// built or pushed.
pub(crate) fn preflight(ws: &Workspace, plan: &ReleasePlan) -> Result<Vec<CrateAction>> {
    if plan.publish.is_empty() || !matches!(plan.kind, Kind::Release | Kind::DevRelease) {
        return Ok(Vec::new());
    }
    let root = &ws.root;
    if ws.config.cargo_registry.is_empty() {
        return Err(error::error_with_help(
            "`publish` lists crates but `cargo-registry` is empty",
            "name the registry (as in cargo's [registries]) in `cargo-registry`",
        ));
    }
    check_token(&ws.config, ws.env())?;
    let ours = plan.commit.map(|c| c.to_string()).unwrap_or_default();
    let mut actions = Vec::new();
    let mut problems = Vec::new();
    for p in &plan.publish {
        let state = match published_commit(&ws.exec, root, &p.krate, &p.version.to_string(), &p.registry)? {
            None => PublishState::Publish,
            Some(theirs) if theirs == ours => PublishState::AlreadyThere,
            Some(theirs) if plan.kind == Kind::Release => {
                problems.push(format!(
                    "{} {} is already in the cargo registry `{}`, published from commit {} (this release is {})",
                    p.krate,
                    p.version,
                    p.registry,
                    plan::short(Some(&theirs)),
                    plan::short(Some(&ours))
                ));
                continue;
            }
            Some(theirs) => {
                ui::warn(format_args!(
                    "{} {} is already in `{}` from commit {}: another branch at the same distance published it; skipping the crate",
                    p.krate, p.version, p.registry, plan::short(Some(&theirs))
                ));
                PublishState::SkipDev { theirs }
            }
        };
        actions.push(CrateAction {
            krate: p.krate.clone(),
            version: p.version.clone(),
            registry: p.registry.clone(),
            state,
        });
    }
    if !problems.is_empty() {
        return Err(error::error_with_help(problems.join("\n"), "versions are immutable: tag a new version"));
    }
    Ok(actions)
}

/// The commit recorded in `krate@version` in the registry, `Some("")` when it has none, `None`
/// when that version is not published. Asks cargo: a probe package depending on exactly that
/// version, and `cargo metadata` (which reads the published manifest).
fn published_commit(
    exec: &Exec,
    root: &Utf8Path,
    krate: &str,
    version: &str,
    registry: &str,
) -> Result<Option<String>> {
    let probe = staging_dir(root, "probe")?;
    let mut manifest = toml_edit::DocumentMut::new();
    manifest["package"]["name"] = toml_edit::value("release-pipeline-probe");
    manifest["package"]["version"] = toml_edit::value("0.0.0");
    manifest["package"]["edition"] = toml_edit::value("2021");
    manifest["package"]["publish"] = toml_edit::value(false);
    manifest["workspace"] = toml_edit::table();
    let mut dep = toml_edit::InlineTable::new();
    dep.insert("version", format!("={version}").into());
    dep.insert("registry", registry.into());
    manifest["dependencies"][krate] = toml_edit::value(dep);
    std::fs::create_dir_all(probe.join("src"))?;
    std::fs::write(probe.join("Cargo.toml"), manifest.to_string())?;
    std::fs::write(probe.join("src/lib.rs"), "")?;
    let exec = exec.in_dir(&probe);
    let out = exec.output(cmd!(exec.sh, "cargo metadata --format-version 1"))?;
    let _ = std::fs::remove_dir_all(&probe);
    if !out.status.success() {
        if crate::failure::cargo_version_missing(&String::from_utf8_lossy(&out.stderr)) {
            return Ok(None);
        }
        return Err(error::command_failed(
            &format!("reading {krate} {version} from the cargo registry `{registry}`"),
            &out,
        ));
    }
    let meta: Metadata = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let package = meta.packages.into_iter().find(|p| p.name == krate && p.version == version);
    Ok(package.map(|p| p.metadata.and_then(|m| m.release_pipeline).and_then(|r| r.commit).unwrap_or_default()))
}

/// What `cargo metadata --format-version 1` prints (the part read here).
#[derive(serde::Deserialize)]
struct Metadata {
    packages: Vec<MetadataPackage>,
}

#[derive(serde::Deserialize)]
struct MetadataPackage {
    name: String,
    version: String,
    /// `[package.metadata]` of the published manifest (`null` when it has none).
    metadata: Option<PackageMetadata>,
}

#[derive(serde::Deserialize)]
struct PackageMetadata {
    #[serde(rename = "release-pipeline")]
    release_pipeline: Option<PublishedBy>,
}

/// `[package.metadata.release-pipeline]`, written by `publish`: the commit a version came from.
#[derive(serde::Deserialize)]
struct PublishedBy {
    commit: Option<String>,
}

/// A fresh directory under the target dir, inside the workspace (so cargo reads its
/// `.cargo/config.toml` and the registries named there), git-ignored.
fn staging_dir(root: &Utf8Path, what: &str) -> Result<Utf8PathBuf> {
    let dir = crate::dist::target_dir(root).join("release-pipeline").join(format!("{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
    Ok(dir)
}

/// Publishes every crate marked `Publish`, from a staged copy of the workspace with the version
/// set, the commit recorded, and the published crates pinned to each other (`=version`).
pub(crate) fn publish(ws: &Workspace, plan: &ReleasePlan, actions: &[CrateAction]) -> Result<()> {
    let to_publish: Vec<&CrateAction> = actions.iter().filter(|a| a.state == PublishState::Publish).collect();
    if to_publish.is_empty() {
        return Ok(());
    }
    let stage = staging_dir(&ws.root, "publish")?;
    stage_crates(ws, &ws.config.publish, &plan.version.semver, plan.commit, &stage)?;
    for a in to_publish {
        publish_one(
            &ws.exec,
            &stage,
            &a.krate,
            &a.version,
            &a.registry,
            &plan::steps::publish_argv(&a.registry, &a.krate),
        )?;
    }
    let _ = std::fs::remove_dir_all(&stage);
    Ok(())
}

/// Copies the tracked files of `crates` into `stage` (made empty first), each manifest with
/// `version` set, `commit` recorded, and the crates pinned to each other (`=version`).
pub(crate) fn stage_crates(
    ws: &Workspace,
    crates: &[String],
    version: &semver::Version,
    commit: Option<plan::CommitId>,
    stage: &Utf8Path,
) -> Result<()> {
    let (root, config) = (&ws.root, &ws.config);
    let version = version.to_string();
    let commit = commit.map(|c| c.to_string()).unwrap_or_default();
    let _ = std::fs::remove_dir_all(stage);
    std::fs::create_dir_all(stage).with_context(|| format!("creating {stage}"))?;
    let crates: Vec<&str> = crates.iter().map(String::as_str).collect();
    // The workspace manifest, with only the published crates as members.
    let mut top: toml_edit::DocumentMut =
        std::fs::read_to_string(root.join("Cargo.toml"))?.parse().context("parsing Cargo.toml")?;
    top["workspace"]["members"] = toml_edit::value(crates.iter().copied().collect::<toml_edit::Array>());
    std::fs::write(stage.join("Cargo.toml"), top.to_string())?;
    let repo = ws.repo.as_deref().context("publishing needs the git checkout: only tracked files are published")?;
    let tracked = repo.tracked_files()?;
    // Never in a crate, even when tracked: the packages and image contexts' pkg/.
    let generated: Vec<Utf8PathBuf> = std::iter::once(Utf8PathBuf::from(crate::dist::DistLayout::DIR))
        .chain(config.context.iter().map(|c| Utf8Path::new(&c.dir).join("pkg")))
        .collect();
    let wanted = |file: &&Utf8PathBuf| {
        [".cargo/config.toml", "LICENSE", "Cargo.lock"].contains(&file.as_str())
            || crates.iter().any(|k| file.starts_with(k)) && !generated.iter().any(|g| file.starts_with(g))
    };
    for file in tracked.iter().filter(wanted) {
        let src = root.join(file);
        // A tracked link is followed only to another tracked file: never to untracked content.
        if std::fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_symlink()) {
            let real = src.canonicalize_utf8().with_context(|| format!("following the link {file}"))?;
            let inside = real.strip_prefix(root.canonicalize_utf8()?).ok().map(Utf8Path::to_owned);
            if !inside.is_some_and(|r| tracked.contains(&r)) {
                return Err(error::error_with_help(
                    format!("{file} is a link to {real}, which git does not track: refusing to publish its content"),
                    "link to a tracked file, or commit the file itself",
                ));
            }
        }
        let dst = stage.join(file);
        std::fs::create_dir_all(dst.parent().expect("a file has a parent"))?;
        std::fs::copy(&src, &dst).with_context(|| format!("copying {file}"))?;
    }
    for krate in &crates {
        let path = stage.join(krate).join("Cargo.toml");
        let mut manifest: toml_edit::DocumentMut =
            std::fs::read_to_string(&path)?.parse().with_context(|| format!("parsing {path}"))?;
        manifest["package"]["version"] = toml_edit::value(version.as_str());
        manifest["package"]["metadata"]["release-pipeline"]["commit"] = toml_edit::value(commit.as_str());
        for section in ["dependencies", "build-dependencies"] {
            for other in &crates {
                if let Some(dep) =
                    manifest.get_mut(section).and_then(|d| d.get_mut(other)).and_then(|d| d.as_table_like_mut())
                {
                    dep.insert("version", toml_edit::value(format!("={version}")));
                    dep.insert("registry", toml_edit::value(config.cargo_registry.as_str()));
                }
            }
        }
        std::fs::write(&path, manifest.to_string())?;
    }
    Ok(())
}

/// Runs one crate's `cargo publish` command line in the staged copy.
pub(crate) fn publish_one(
    exec: &Exec,
    stage: &Utf8Path,
    krate: &str,
    version: &semver::Version,
    registry: &str,
    argv: &[String],
) -> Result<()> {
    let exec = exec.in_dir(stage);
    let (program, args) = argv.split_first().context("an empty command line")?;
    let out = exec.output(cmd!(exec.sh, "{program} {args...}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if crate::failure::classify(&stderr) == crate::failure::Failure::Refused {
            return Err(error::error_with_help(
                format!("the cargo registry `{registry}` refused the token in {}", token_var(registry)),
                "check the token (a CI secret)",
            ));
        }
        return Err(error::command_failed(&format!("publishing {krate} {version} to `{registry}`"), &out));
    }
    Ok(())
}
