//! `cargo xtask distcopy [--from DIR] [PKG_DIR...]`: copy the packages into each image build
//! context's `pkg/`, laid out by platform (`pkg/linux/arm/v7/…`), verified against SHA256SUMS.
//! Everything is checked before any `pkg/` is touched, and each `pkg/` is replaced whole, but
//! only a `pkg/` that distcopy filled itself (every file in it one of our packages, at its
//! platform's place): anything else in a destination stops the copy before anything is deleted.
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::{
    config::Config,
    dist::{self, DistLayout, Format, Manifest, Sha256, SUMS},
    error, flags, ui,
    workspace::Workspace,
};
use release_pipeline_plan::platform::Platform;

/// A package in the source directory, checked against its checksum.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub(crate) path: Utf8PathBuf,
    pub(crate) sha256: Sha256,
    pub(crate) manifest: Manifest,
}

/// A `pkg/` to fill: with the packages of which binary, for which platforms.
type Destination = (Utf8PathBuf, Vec<Platform>, String);

pub(crate) fn run(cmd: flags::Distcopy, ws: &Workspace) -> Result<()> {
    let (root, config) = (&ws.root, &ws.config);
    let all = ws.all_services()?;
    let views = crate::services::select(all.clone(), &cmd.service, |view| view.service().name.as_str())?;
    let cwd = Utf8PathBuf::try_from(std::env::current_dir()?)?;
    let from = match cmd.from {
        Some(p) => cwd.join(Utf8PathBuf::try_from(p)?),
        None => DistLayout::new(root).dir().to_owned(),
    };
    let dests = cmd
        .pkg_dirs
        .into_iter()
        .map(|p| Utf8PathBuf::try_from(p).map(|p| cwd.join(p)))
        .collect::<Result<Vec<_>, _>>()?;
    let only = cmd.platform.as_deref().map(Platform::parse).transpose().map_err(anyhow::Error::msg)?;
    let dests: Vec<Destination> = if dests.is_empty() {
        views.iter().flat_map(|view| contexts_of(view, |_| true)).collect()
    } else {
        // A context's pkg/ is its own service's, selected or not.
        let mut named = Vec::new();
        for dest in dests {
            let owner = all.iter().find(|v| context_platforms(&v.root, &v.config, &dest).is_some());
            match owner {
                Some(view) if !views.iter().any(|s| s.service().name == view.service().name) => {
                    return Err(error::error_with_help(
                        format!(
                            "{dest} is a context of the service {}, which this run does not select",
                            view.service().name
                        ),
                        format!("add --service {}", view.service().name),
                    ))
                }
                Some(view) => named.push(destination(std::slice::from_ref(view), dest)?),
                None => named.push(destination(&views, dest)?),
            }
        }
        named
    };
    let filled = copy_into(root, config, &from, restrict(dests, only.as_ref()), None)?;
    for (dir, packages) in filled {
        for p in packages {
            println!("{dir}/{}/{}", p.manifest.platform, p.path.file_name().unwrap_or_default());
        }
    }
    Ok(())
}

/// The `pkg/` of a service view's contexts that `keep` keeps.
fn contexts_of(view: &Workspace, keep: impl Fn(&str) -> bool) -> Vec<Destination> {
    let bin = &view.service().bin;
    view.config
        .context
        .iter()
        .filter(|c| keep(&c.dir))
        .map(|c| (view.root.join(&c.dir).join("pkg"), c.platforms.clone(), bin.clone()))
        .collect()
}

/// A destination named on the command line: a context's `pkg/` gets that context's service and
/// platforms; any other, every platform of the one service (several services: an error).
fn destination(views: &[Workspace], dest: Utf8PathBuf) -> Result<Destination> {
    for view in views {
        if let Some(platforms) = context_platforms(&view.root, &view.config, &dest) {
            return Ok((dest, platforms, view.service().bin.clone()));
        }
    }
    match views {
        [only] => {
            let platforms = only.config.targets.iter().map(|t| t.platform.clone()).collect();
            Ok((dest, platforms, only.service().bin.clone()))
        }
        _ => Err(error::error_with_help(
            format!("{dest} is not a context's pkg/, and the workspace has several services"),
            "name the service whose packages go there with --service NAME",
        )),
    }
}

/// Each destination's platforms, `only` among them when given.
fn restrict(dests: Vec<Destination>, only: Option<&Platform>) -> Vec<Destination> {
    dests
        .into_iter()
        .map(|(dest, platforms, bin)| {
            (dest, platforms.into_iter().filter(|p| only.is_none_or(|o| o == p)).collect(), bin)
        })
        .collect()
}

/// Fills the `pkg/` of a service's contexts in `dirs` only (a resumed release builds only what
/// is missing, so only those contexts get packages).
pub(crate) fn distcopy_contexts(
    view: &Workspace,
    from: &Utf8Path,
    dirs: &[&str],
    expect_version: Option<&str>,
    only: Option<&Platform>,
) -> Result<Vec<(Utf8PathBuf, Vec<Package>)>> {
    let dests = contexts_of(view, |dir| dirs.contains(&dir));
    copy_into(&view.root, &view.config, from, restrict(dests, only), expect_version)
}

/// Fills each destination with its binary's packages for its platforms. Packages of one binary
/// in two versions are refused (a stale `dist/`), and with `expect_version` any other version.
fn copy_into(
    root: &Utf8Path,
    config: &Config,
    from: &Utf8Path,
    dests: Vec<Destination>,
    expect_version: Option<&str>,
) -> Result<Vec<(Utf8PathBuf, Vec<Package>)>> {
    let all = read_packages(from)?;
    // Check everything first: nothing is copied unless every destination can be filled.
    let mut plan = Vec::new();
    check_inside_workspace(root, config)?;
    for (dest, _, _) in &dests {
        check_destination(from, dest)?;
    }
    for (dest, platforms, bin) in &dests {
        let packages: Vec<&Package> = all.iter().filter(|p| &p.manifest.name == bin).collect();
        let Some(first) = packages.first() else {
            return Err(error::error_with_help(
                format!("{from} has no package of {bin}, which {dest} needs"),
                "run `cargo xtask dist` (it builds every service for every configured target)",
            ));
        };
        let version = &first.manifest.version;
        if let Some(p) = packages.iter().find(|p| &p.manifest.version != version) {
            bail!(
                "{from} holds two versions of {bin} ({version} and {}): run `cargo xtask dist` to rebuild it",
                p.manifest.version
            );
        }
        if let Some(expected) = expect_version.filter(|e| version.to_string() != *e) {
            return Err(error::error_with_help(
                format!("the packages in {from} are version {version}, but this release is {expected}"),
                "run `cargo xtask dist` to build the packages for this version",
            ));
        }
        let mut chosen = Vec::new();
        for platform in platforms {
            match packages.iter().find(|p| p.manifest.platform == platform.as_str()) {
                Some(p) => chosen.push((*p).clone()),
                None => {
                    return Err(error::error_with_help(
                        format!("{from} has no .tar.gz package for {platform}, which {dest} needs"),
                        format!(
                            "run `cargo xtask dist` (it builds every configured target){}",
                            target_hint(config, platform)
                        ),
                    ))
                }
            }
        }
        plan.push((dest.clone(), chosen));
    }
    for (dest, chosen) in &plan {
        fill(dest, chosen)?;
        let version = chosen.first().map_or("no version".to_owned(), |p| p.manifest.version.to_string());
        ui::info(format_args!("filled {dest} with {} package(s) of {version}", chosen.len()));
    }
    Ok(plan)
}

/// A destination is replaced whole, so refuse one that would destroy something: the source
/// itself (or a directory around or inside it), or one holding anything distcopy did not write.
fn check_destination(from: &Utf8Path, dest: &Utf8Path) -> Result<()> {
    let canonical = |p: &Utf8Path| p.canonicalize_utf8().unwrap_or_else(|_| p.components().collect());
    let (src, dst) = (canonical(from), canonical(dest));
    if src.starts_with(&dst) || dst.starts_with(&src) {
        return Err(error::error_with_help(
            format!("the destination {dest} is (or holds) the source {from}"),
            "give the source with --from: `cargo xtask distcopy --from dist/ docker/pkg/ rpi-docker/pkg/`",
        ));
    }
    if let Some(foreign) = foreign_file(dest)? {
        return Err(error::error_with_help(
            format!("{dest} holds {foreign}, which distcopy did not write: refusing to replace it"),
            "distcopy only replaces a pkg/ it filled itself; move that file away, or choose an empty or new destination",
        ));
    }
    Ok(())
}

/// The first file under `dest` that is not one of our packages at its platform's place
/// (`<os>/<arch>[/<variant>]/<name>.tar.gz` holding our manifest for that platform).
fn foreign_file(dest: &Utf8Path) -> Result<Option<Utf8PathBuf>> {
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {dest}")),
    };
    if !meta.is_dir() {
        return Ok(Some(dest.to_owned()));
    }
    let mut stack = vec![dest.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in dir.read_dir_utf8().with_context(|| format!("reading {dir}"))? {
            let entry = entry?;
            let path = entry.path().to_owned();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            let platform = path.parent().and_then(|p| p.strip_prefix(dest).ok()).map(|p| p.as_str().to_owned());
            let ours = kind.is_file()
                && path.file_name().and_then(Format::of) == Some(Format::TarGz)
                && dist::read_manifest(&path).is_ok_and(|m| Some(m.platform.as_str()) == platform.as_deref());
            if !ours {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// Context directories must stay inside the workspace, symlinks followed (the configuration
/// checks the names; this checks the disk).
fn check_inside_workspace(root: &Utf8Path, config: &Config) -> Result<()> {
    let root = root.canonicalize_utf8().with_context(|| format!("reading {root}"))?;
    for c in &config.context {
        let dir = root.join(&c.dir);
        if let Ok(real) = dir.canonicalize_utf8() {
            if !real.starts_with(&root) || real == root {
                bail!(
                    "context `{}` resolves to {real}, outside the workspace {root}: refusing to fill its pkg/",
                    c.dir
                );
            }
        }
    }
    Ok(())
}

fn target_hint(config: &Config, platform: &str) -> String {
    match config.targets.iter().find(|t| t.platform == platform) {
        Some(t) => format!("; the target for {platform} is {}", t.target),
        None => String::new(),
    }
}

/// A destination `<context dir>/pkg`'s platforms: that context's (`None`: not a context's).
fn context_platforms(root: &Utf8Path, config: &Config, dest: &Utf8Path) -> Option<Vec<Platform>> {
    let canonical = |p: &Utf8Path| p.canonicalize_utf8().unwrap_or_else(|_| p.to_owned());
    let parent = dest.parent().map(canonical);
    config
        .context
        .iter()
        .find(|c| parent.as_deref() == Some(canonical(&root.join(&c.dir)).as_path()) && dest.file_name() == Some("pkg"))
        .map(|c| c.platforms.clone())
}

/// The `.tar.gz` packages listed in `from/SHA256SUMS`, each verified and its manifest read.
pub(crate) fn read_packages(from: &Utf8Path) -> Result<Vec<Package>> {
    let dist = DistLayout::at(from);
    let sums = dist::read_sums(&dist.sums())?;
    let mut packages = Vec::new();
    // .zip packages are for downloads; images are made from .tar.gz
    for (name, sha) in sums.iter().filter(|(name, _)| Format::of(name) == Some(Format::TarGz)) {
        let path = dist.file(name);
        let data = std::fs::read(&path).with_context(|| format!("reading {path} (listed in {SUMS})"))?;
        let actual = Sha256::of(&data);
        if &actual != sha {
            return Err(error::error_with_help(
                format!("checksum mismatch for {path}: {SUMS} says {sha}, the file is {actual}"),
                "the package changed after it was built; run `cargo xtask dist` again",
            ));
        }
        let manifest = dist::read_manifest(&path)?;
        packages.push(Package { path, sha256: actual, manifest });
    }
    if packages.is_empty() {
        return Err(error::error_with_help(format!("no .tar.gz packages in {from}"), "run `cargo xtask dist` first"));
    }
    Ok(packages)
}

/// Replaces `dest` with a directory holding exactly `packages`, by platform. Built aside and
/// renamed into place, so a failure leaves the old `pkg/` (or none), never a half-filled one.
fn fill(dest: &Utf8Path, packages: &[Package]) -> Result<()> {
    let dest: Utf8PathBuf = dest.components().collect(); // no trailing `/`
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {parent}"))?;
    }
    let staging = Utf8PathBuf::from(format!("{dest}.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = (|| -> Result<()> {
        for p in packages {
            let dir = staging.join(p.manifest.platform.as_str());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir}"))?;
            let target = dir.join(p.path.file_name().expect("a package has a file name"));
            std::fs::copy(&p.path, &target).with_context(|| format!("copying {} to {target}", p.path))?;
            let copied = Sha256::of(&std::fs::read(&target)?);
            if copied != p.sha256 {
                bail!("checksum mismatch after copying {} to {target}", p.path);
            }
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest).with_context(|| format!("emptying {dest}"))?;
        }
        std::fs::rename(&staging, &dest).with_context(|| format!("moving the packages into {dest}"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}
