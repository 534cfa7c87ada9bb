//! `release-pipeline init`: adopts the pipeline in the repository of the current directory. What
//! to write is decided by the plan's `init.rs` from the files and packages read here; this module
//! reads them, shows the plan (`--dry-run`: every file, and the lockfile's command), writes it
//! and resolves `Cargo.lock` for the xtask.
use std::collections::BTreeMap;

use anstream::println;
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use release_pipeline_plan::init::{self as decide, CiSystem, CrateSource, FileWrite, InitOptions, MemberPackage};
use xshell::cmd;

use crate::{error, exec::Exec, flags, services, ui};

/// The version of the crate this binary belongs to: the xtask depends on exactly it.
const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) fn run(cmd: flags::tool::Init, exec: &Exec) -> Result<()> {
    let root = Utf8PathBuf::try_from(std::env::current_dir().context("reading the current directory")?)
        .context("the current directory is not UTF-8")?;
    if !root.join("Cargo.toml").is_file() {
        return Err(error::error_with_help(
            format!("{root} has no Cargo.toml"),
            "run `release-pipeline init` at the top of the repository, beside its Cargo.toml",
        ));
    }
    // The pipeline's root is the repository's top, where its workspace's manifest is: init
    // writes there or nowhere (a member's directory would become a workspace of its own).
    let exec = exec.in_dir(&root);
    let sh = &exec.sh;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = exec.exec(
        cmd!(sh, "{cargo} locate-project --workspace --message-format plain"),
        "finding the workspace's manifest (cargo locate-project)",
    )?;
    let git_top = crate::repo::Repo::discover(&root)?.map(|repo| repo.root());
    let tops = [Some(Utf8PathBuf::from(workspace.trim()).with_file_name("")), git_top];
    for top in tops.into_iter().flatten() {
        if same_dir(&top, &root)? {
            continue;
        }
        return Err(error::error_with_help(
            format!("{root} is not the top of the repository and its workspace ({top} is)"),
            format!("run `release-pipeline init` in {top}"),
        ));
    }
    let source = match (&cmd.path, &cmd.registry) {
        (Some(_), Some(_)) => bail!("--path and --registry: give one, or neither for crates.io"),
        (Some(path), None) => CrateSource::Path(crate_path(&root, path)?),
        (None, Some(name)) => CrateSource::Registry { name: name.clone(), version: VERSION.to_owned() },
        (None, None) => CrateSource::Version(VERSION.to_owned()),
    };
    let options = InitOptions {
        source,
        bins: cmd.bin,
        targets: cmd.target,
        ci: CiSystem::parse(cmd.ci.as_deref())?,
        separate_lockfile: cmd.separate_lockfile,
        image: cmd.image,
        release_repository: cmd.release_repository,
    };
    let metadata = services::metadata(&exec, &root)?;
    let members: Vec<MemberPackage> = metadata
        .packages
        .iter()
        .filter(|p| metadata.workspace_members.contains(&p.id))
        .map(|p| MemberPackage { name: p.name.clone(), bins: p.bins().into_iter().map(str::to_owned).collect() })
        .collect();
    let chosen = decide::choose_services(&members, &options.bins)?;
    let mut files = BTreeMap::new();
    for path in decide::paths(&chosen) {
        if let Some(text) = read_optional(&root.join(&path))? {
            files.insert(path, text);
        }
    }
    let plan = decide::plan(&options, &members, &files)?;
    let lockfile = root.join(&plan.lock_manifest).with_file_name("Cargo.lock");
    let lock_text = read_optional(&lockfile)?;
    let lock_needed = decide::lock_needed(&plan, lock_text.as_deref());

    let manifest = root.join(&plan.lock_manifest);
    // With a lockfile, its locked versions are kept where the xtask's requirements allow.
    let lock_cmd = match lock_text {
        Some(_) => cmd!(sh, "{cargo} update --workspace --manifest-path {manifest}"),
        None => cmd!(sh, "{cargo} generate-lockfile --manifest-path {manifest}"),
    };
    let services: Vec<&str> = plan.services.iter().map(|s| s.bin.as_str()).collect();
    if plan.writes.is_empty() && !lock_needed {
        for note in &plan.kept {
            println!("  kept: {note}");
        }
        println!("nothing to change: {root} is set up already (services: {})", services.join(", "));
        return Ok(());
    }
    if cmd.dry_run {
        println!("release-pipeline init --dry-run: changes nothing; a run would (services: {}):", services.join(", "));
        for write in &plan.writes {
            show(write);
        }
        for note in &plan.kept {
            println!("  kept: {note}");
        }
        if lock_needed {
            println!("run: {lock_cmd}");
        }
        return Ok(());
    }
    for write in &plan.writes {
        let path = root.join(&write.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
        }
        std::fs::write(&path, &write.after).with_context(|| format!("writing {path}"))?;
        let verb = if write.before.is_some() { "edited " } else { "created" };
        println!("  {verb} {}", write.path);
    }
    for note in &plan.kept {
        println!("  kept: {note}");
    }
    if lock_needed {
        exec.exec(lock_cmd, "resolving Cargo.lock for the xtask")?;
        println!("  resolved {}", lockfile.strip_prefix(&root).unwrap_or(&lockfile));
    }
    ui::info(format!(
        "done. Next: commit it all (Cargo.lock too), tag a version, and `cargo xtask version` prints it; `cargo xtask dev-release --local` builds the image{}",
        if services.len() > 1 { "s" } else { "" }
    ));
    // The version contract: what `dist` sets while building, and the lines a service adds to
    // print it (`dist` warns about a binary that does not).
    let vars: Vec<&str> = crate::dist::BUILD_VARS.iter().map(|(name, _)| *name).collect();
    println!(
        "The version in the binary: `dist` builds with {} set; to print them, a service's main adds:",
        vars.join(", ")
    );
    for line in crate::dist::VERSION_LINES.lines() {
        println!("    {line}");
    }
    Ok(())
}

/// `--path DIR` as the xtask's manifest gives it: relative to `xtask/`, checked to hold the crate.
fn crate_path(root: &Utf8Path, path: &std::path::Path) -> Result<Utf8PathBuf> {
    let dir = std::fs::canonicalize(path).with_context(|| format!("--path {}: no such directory", path.display()))?;
    let dir = Utf8PathBuf::try_from(dir).context("--path is not UTF-8")?;
    let manifest = read_optional(&dir.join("Cargo.toml"))?.unwrap_or_default();
    let doc: toml_edit::DocumentMut =
        manifest.parse().with_context(|| format!("--path {dir}: reading its Cargo.toml"))?;
    let name = doc.get("package").and_then(|p| p.get("name")).and_then(|n| n.as_str());
    if name != Some(env!("CARGO_PKG_NAME")) {
        bail!("--path {dir}: no package {} there (a checkout's `release-pipeline/` directory)", env!("CARGO_PKG_NAME"));
    }
    let root = std::fs::canonicalize(root).context("reading the repository's path")?;
    let root = Utf8PathBuf::try_from(root).context("the repository's path is not UTF-8")?;
    Ok(decide::relative_path(&root.join(decide::XTASK_DIR), &dir))
}

/// Whether two paths name one directory (links resolved).
fn same_dir(a: &Utf8Path, b: &Utf8Path) -> Result<bool> {
    let canonical = |p: &Utf8Path| std::fs::canonicalize(p).with_context(|| format!("reading {p}"));
    Ok(canonical(a)? == canonical(b)?)
}

fn read_optional(path: &Utf8Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {path}")),
    }
}

/// A file `--dry-run` would write: a new one whole, an edit as its changed lines with the
/// unchanged ones around them counted.
fn show(write: &FileWrite) {
    let after: Vec<&str> = write.after.lines().collect();
    let Some(before) = &write.before else {
        println!("create {}", write.path);
        for line in after {
            println!("  + {line}");
        }
        return;
    };
    println!("edit {}", write.path);
    let before: Vec<&str> = before.lines().collect();
    let head = before.iter().zip(&after).take_while(|(a, b)| a == b).count();
    let tail = before[head..].iter().rev().zip(after[head..].iter().rev()).take_while(|(a, b)| a == b).count();
    if head > 0 {
        println!("    … {head} line(s) unchanged");
    }
    for line in &before[head..before.len() - tail] {
        println!("  - {line}");
    }
    for line in &after[head..after.len() - tail] {
        println!("  + {line}");
    }
    if tail > 0 {
        println!("    … {tail} line(s) unchanged");
    }
}
