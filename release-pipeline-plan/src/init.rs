//! `release-pipeline init`'s decisions: from the repository's files and packages (plain data),
//! every file it writes, whole, with what is there now; what it keeps of the user's; and why it
//! refuses. The library's `init.rs` reads the files, runs `cargo metadata` and the lockfile's
//! resolution, and writes what this decides.
use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::{config::Config, error, reference::ImageRepository};

/// The settings of the dev profile that make the xtask's cold build short: this workspace's
/// own `[profile.dev.package.*]` tables (a test holds the two equal).
pub const PROFILE: &str = include_str!("../templates/profile.toml");
const DOCKERFILE: &str = include_str!("../templates/Dockerfile");
const GITHUB_WORKFLOW: &str = include_str!("../templates/github-workflow.yml");
const GITLAB_CI: &str = include_str!("../templates/gitlab-ci.yml");
/// The xtask's `main`: one line calling the library.
const XTASK_MAIN: &str = include_str!("../templates/xtask-main.rs");

/// Where the generated GitHub Actions workflow goes (its own file: a `release.yml` of yours stays).
pub const GITHUB_WORKFLOW_PATH: &str = ".github/workflows/release-pipeline.yml";
pub const GITLAB_CI_PATH: &str = ".gitlab-ci.yml";
pub const XTASK_DIR: &str = "xtask";
/// The pipeline's own package: its binary (`init`) is never a service.
const PIPELINE_PACKAGE: &str = "release-pipeline";

/// A target `init` knows how to set up: its platform, its cross linker (none: the host's `cc`
/// links it) and the Debian packages that bring the linker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownTarget {
    pub target: &'static str,
    pub platform: &'static str,
    pub linker: Option<&'static str>,
    /// `command=package`: the command whose absence installs the package (the CI templates).
    pub tool: Option<&'static str>,
}

pub const KNOWN_TARGETS: &[KnownTarget] = &[
    KnownTarget {
        target: "x86_64-unknown-linux-musl",
        platform: "linux/amd64",
        linker: None,
        tool: Some("musl-gcc=musl-tools"),
    },
    KnownTarget { target: "x86_64-unknown-linux-gnu", platform: "linux/amd64", linker: None, tool: None },
    KnownTarget {
        target: "aarch64-unknown-linux-gnu",
        platform: "linux/arm64",
        linker: Some("aarch64-linux-gnu-gcc"),
        tool: Some("aarch64-linux-gnu-gcc=gcc-aarch64-linux-gnu"),
    },
    KnownTarget {
        target: "armv7-unknown-linux-gnueabihf",
        platform: "linux/arm/v7",
        linker: Some("arm-linux-gnueabihf-gcc"),
        tool: Some("arm-linux-gnueabihf-gcc=gcc-arm-linux-gnueabihf"),
    },
];

/// The targets used unless `--target` says otherwise: this repository's three.
pub const DEFAULT_TARGETS: [&str; 3] =
    ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"];

/// Where the xtask's `release-pipeline` dependency comes from, as `cargo add` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrateSource {
    /// crates.io, by version.
    Version(String),
    /// A checkout of the crate: the path from the xtask's directory.
    Path(Utf8PathBuf),
    /// A registry in cargo's configuration, by version.
    Registry { name: String, version: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiSystem {
    GitHub,
    GitLab,
    None,
}

impl CiSystem {
    pub fn parse(text: Option<&str>) -> Result<CiSystem> {
        match text {
            None | Some("github") => Ok(CiSystem::GitHub),
            Some("gitlab") => Ok(CiSystem::GitLab),
            Some("none") => Ok(CiSystem::None),
            Some(other) => bail!("--ci {other}: expected github, gitlab or none"),
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    pub source: CrateSource,
    /// `--bin`: the service binaries (none: the one the workspace has).
    pub bins: Vec<String>,
    /// `--target` (none: [`DEFAULT_TARGETS`]).
    pub targets: Vec<String>,
    pub ci: CiSystem,
    /// The xtask in a workspace of its own, with its own `Cargo.lock`.
    pub separate_lockfile: bool,
    pub image: Option<String>,
    pub release_repository: Option<String>,
}

/// A member package of the workspace, as `cargo metadata` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberPackage {
    pub name: String,
    pub bins: Vec<String>,
}

/// A released binary `init` configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenService {
    /// `None`: the package's name (the package's only binary).
    pub name: Option<String>,
    pub package: String,
    pub bin: String,
}

impl ChosenService {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.package)
    }
}

/// One file `init` writes: the whole new text, and what is there now (`None`: no such file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub path: Utf8PathBuf,
    pub before: Option<String>,
    pub after: String,
}

/// Everything `init` does: the files (only those whose text changes), what it left as the user
/// had it, and whether the lockfile must be resolved for the new package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitPlan {
    pub services: Vec<ChosenService>,
    pub writes: Vec<FileWrite>,
    /// What was already there and kept (said, not changed).
    pub kept: Vec<String>,
    /// The manifest whose lockfile is resolved (the workspace's, or the xtask's own).
    pub lock_manifest: Utf8PathBuf,
}

/// Picks the service binaries: `--bin` names them; without it, the one binary the workspace has
/// (never a question: several binaries and no `--bin` is an error listing them).
pub fn choose_services(members: &[MemberPackage], bins: &[String]) -> Result<Vec<ChosenService>> {
    let candidates: Vec<(&MemberPackage, &String)> = members
        .iter()
        .filter(|p| ![XTASK_DIR, PIPELINE_PACKAGE].contains(&p.name.as_str()))
        .flat_map(|p| p.bins.iter().map(move |b| (p, b)))
        .collect();
    let listing = || candidates.iter().map(|(p, b)| format!("{b} (package {})", p.name)).collect::<Vec<_>>().join(", ");
    let chosen: Vec<(&MemberPackage, &String)> = if bins.is_empty() {
        match candidates.as_slice() {
            [one] => vec![*one],
            [] => bail!("the workspace has no binary to release (a package with a `src/main.rs` or a [[bin]])"),
            _ => {
                return Err(error::error_with_help(
                    format!("the workspace has several binaries: {}", listing()),
                    "pick the released ones with --bin NAME (repeatable), e.g. --bin ".to_owned() + candidates[0].1,
                ))
            }
        }
    } else {
        let mut chosen = Vec::new();
        for bin in bins {
            let found: Vec<_> = candidates.iter().filter(|(_, b)| *b == bin).collect();
            match found.as_slice() {
                [one] if !chosen.contains(*one) => chosen.push(**one),
                [_] => bail!("--bin {bin} is given twice"),
                [] => {
                    return Err(error::error_with_help(
                        format!("--bin {bin}: the workspace has no such binary"),
                        format!("its binaries are {}", listing()),
                    ))
                }
                _ => bail!("--bin {bin}: several packages have a binary `{bin}`: {}", listing()),
            }
        }
        chosen
    };
    Ok(chosen
        .into_iter()
        .map(|(package, bin)| ChosenService {
            // A package of several binaries: the service (its packages, its local image) is
            // named after the binary, so two of them never share a name.
            name: (package.bins.len() > 1 && *bin != package.name).then(|| bin.clone()),
            package: package.name.clone(),
            bin: bin.clone(),
        })
        .collect())
}

/// The targets `--target` names (each one `init` knows), or the three defaults.
pub fn choose_targets(targets: &[String]) -> Result<Vec<KnownTarget>> {
    let names: Vec<&str> =
        if targets.is_empty() { DEFAULT_TARGETS.to_vec() } else { targets.iter().map(String::as_str).collect() };
    names
        .iter()
        .map(|name| {
            KNOWN_TARGETS.iter().find(|t| t.target == *name).copied().ok_or_else(|| {
                error::error_with_help(
                    format!("--target {name}: init does not know this target's platform and linker"),
                    format!(
                        "init knows {}; add another target to `targets` and .cargo/config.toml by hand",
                        KNOWN_TARGETS.iter().map(|t| t.target).collect::<Vec<_>>().join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// The context directory of each service: `docker/`, or `docker/<service>/` with several.
pub fn context_dir(services: &[ChosenService], service: &ChosenService) -> Utf8PathBuf {
    match services {
        [_] => "docker".into(),
        _ => Utf8PathBuf::from("docker").join(service.name()),
    }
}

/// The paths `init` reads (and may write), given the services it configures.
pub fn paths(services: &[ChosenService]) -> Vec<Utf8PathBuf> {
    let mut paths: Vec<Utf8PathBuf> = [
        "Cargo.toml",
        "xtask/Cargo.toml",
        "xtask/src/main.rs",
        ".cargo/config.toml",
        ".gitignore",
        GITHUB_WORKFLOW_PATH,
        GITLAB_CI_PATH,
    ]
    .map(Utf8PathBuf::from)
    .to_vec();
    paths.extend(services.iter().map(|s| context_dir(services, s).join("Dockerfile")));
    paths
}

/// The plan: `files` holds the current text of every path [`paths`] names (absent: no file).
pub fn plan(
    options: &InitOptions,
    members: &[MemberPackage],
    files: &BTreeMap<Utf8PathBuf, String>,
) -> Result<InitPlan> {
    let services = choose_services(members, &options.bins)?;
    let targets = choose_targets(&options.targets)?;
    let current = |path: &str| files.get(Utf8Path::new(path)).cloned();
    let mut kept = Vec::new();
    let mut conflicts = Vec::new();
    let mut writes: Vec<FileWrite> = Vec::new();
    let mut write = |path: &str, after: String| {
        let before = current(path);
        if before.as_deref() != Some(after.as_str()) {
            writes.push(FileWrite { path: path.into(), before, after });
        }
    };

    // The workspace's manifest: membership, the configuration, the profile.
    let root_text = current("Cargo.toml").context("the repository has no Cargo.toml at its root")?;
    let root = workspace_manifest(&root_text, options, &services, &targets, &mut kept).context("editing Cargo.toml")?;
    write("Cargo.toml", root);

    // The xtask: a new package, or exactly what init wrote before.
    for (path, text) in [("xtask/Cargo.toml", xtask_manifest(options)), ("xtask/src/main.rs", XTASK_MAIN.to_owned())] {
        match current(path) {
            Some(existing) if existing != text => conflicts.push(format!("{path} exists, with other content")),
            _ => write(path, text),
        }
    }

    let config = cargo_config(current(".cargo/config.toml").as_deref(), options, &targets, &mut kept, &mut conflicts)?;
    write(".cargo/config.toml", config);
    write(".gitignore", gitignore(current(".gitignore").as_deref(), options));

    for service in &services {
        let path = context_dir(&services, service).join("Dockerfile");
        let text = DOCKERFILE.replace("{bin}", &service.bin);
        match current(path.as_str()) {
            Some(existing) if existing != text => {
                conflicts.push(format!("{path} exists, with other content (the context of service {})", service.name()))
            }
            _ => write(path.as_str(), text),
        }
    }

    let ci = match options.ci {
        CiSystem::GitHub => Some((GITHUB_WORKFLOW_PATH, GITHUB_WORKFLOW)),
        CiSystem::GitLab => Some((GITLAB_CI_PATH, GITLAB_CI)),
        CiSystem::None => None,
    };
    if let Some((path, template)) = ci {
        let text = ci_file(template, &targets);
        match current(path) {
            Some(existing) if existing != text => conflicts.push(format!("{path} exists, with other content")),
            _ => write(path, text),
        }
    }

    if !conflicts.is_empty() {
        return Err(error::problems_error(
            "init changed nothing: it would overwrite what it did not write",
            &conflicts,
            "move those files away (or merge them by hand from `release-pipeline init --dry-run`'s output), then run init again",
        ));
    }
    let lock_manifest =
        if options.separate_lockfile { Utf8PathBuf::from("xtask/Cargo.toml") } else { Utf8PathBuf::from("Cargo.toml") };
    Ok(InitPlan { services, writes, kept, lock_manifest })
}

/// The xtask's `Cargo.toml`: the dependency, `url`'s ASCII-only IDNA back end, and with
/// `--separate-lockfile` a workspace of its own with the profile.
fn xtask_manifest(options: &InitOptions) -> String {
    let dependency = match &options.source {
        CrateSource::Version(version) => quote(version),
        CrateSource::Path(path) => format!("{{ path = {} }}", quote(path.as_str())),
        CrateSource::Registry { name, version } => {
            format!("{{ version = {}, registry = {} }}", quote(version), quote(name))
        }
    };
    let mut text = format!(
        "[package]\nname = \"xtask\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n[dependencies]\nrelease-pipeline = {dependency}\n# `url`'s IDNA back end, ASCII only: about 20 crates fewer in the first `cargo xtask` (a host name\n# outside ASCII in the git remote's URL is left out of the provenance, with a warning).\nidna_adapter = \"~1.0\"\n"
    );
    if options.separate_lockfile {
        text.push_str("\n# A workspace of its own: its dependencies never change the shipped binaries' Cargo.lock.\n[workspace]\n\n");
        text.push_str(PROFILE);
    }
    text
}

/// The workspace manifest with the xtask a member (a one-package repository becomes a
/// workspace), the configuration, and the profile's tables it lacks; the user's text kept.
fn workspace_manifest(
    text: &str,
    options: &InitOptions,
    services: &[ChosenService],
    targets: &[KnownTarget],
    kept: &mut Vec<String>,
) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("parsing TOML")?;
    let mut appended = String::new();
    let has_package = doc.contains_key("package");
    let wanted: &[&str] = match (options.separate_lockfile, has_package) {
        (false, true) => &[".", XTASK_DIR],
        (false, false) => &[XTASK_DIR],
        (true, true) => &["."],
        (true, false) => &[],
    };
    match doc.get_mut("workspace").and_then(toml_edit::Item::as_table_like_mut) {
        None => {
            let list = |items: &[&str]| items.iter().map(|m| quote(m)).collect::<Vec<_>>().join(", ");
            appended.push_str(&format!("\n[workspace]\nmembers = [{}]\n", list(wanted)));
            if options.separate_lockfile {
                appended.push_str(&format!("exclude = [{}]\n", list(&[XTASK_DIR])));
            }
        }
        Some(workspace) => {
            let key = if options.separate_lockfile { "exclude" } else { "members" };
            let wanted: &[&str] = if options.separate_lockfile { &[XTASK_DIR] } else { wanted };
            let item = workspace.entry(key).or_insert(toml_edit::value(toml_edit::Array::new()));
            let array = item.as_array_mut().with_context(|| format!("`workspace.{key}` is not an array"))?;
            for member in wanted {
                if !array.iter().any(|m| m.as_str() == Some(member)) {
                    array.push(*member);
                }
            }
        }
    }

    let has_config =
        doc.get("workspace").and_then(|w| w.get("metadata")).and_then(|m| m.get("release-pipeline")).is_some();
    if has_config {
        kept.push("Cargo.toml: [workspace.metadata.release-pipeline] is there already, kept as it is".to_owned());
    } else {
        appended.push_str(&configuration(options, services, targets)?);
    }

    if !options.separate_lockfile {
        let mut profile: toml_edit::DocumentMut = PROFILE.parse().expect("the profile template is TOML");
        let ours = profile["profile"]["dev"]["package"].as_table_mut().expect("profile.dev.package is a table");
        let theirs = doc.get("profile").and_then(|p| p.get("dev")).and_then(|d| d.get("package"));
        let names: Vec<String> = ours.iter().map(|(k, _)| k.to_owned()).collect();
        for name in names {
            if let Some(existing) = theirs.and_then(|t| t.get(&name)) {
                if !same_settings(existing, &ours[&name]) {
                    let key = toml_edit::Key::new(name.as_str());
                    kept.push(format!("Cargo.toml: [profile.dev.package.{key}] is yours, kept as it is"));
                }
                ours.remove(&name);
            }
        }
        if !ours.is_empty() {
            appended.push('\n');
            appended.push_str(&profile.to_string());
        }
    }
    let mut out = doc.to_string();
    if !appended.is_empty() && !out.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&appended);
    // Whatever came in, what goes out is a manifest the pipeline reads.
    Config::parse(&out).context("the configuration init would write")?;
    Ok(out)
}

/// `[workspace.metadata.release-pipeline]` for the chosen services and targets.
fn configuration(options: &InitOptions, services: &[ChosenService], targets: &[KnownTarget]) -> Result<String> {
    let mut out = String::from(
        "\n# The release pipeline (`cargo xtask …`; written by `release-pipeline init`, every key in its\n# README: \"Configuration\").\n[workspace.metadata.release-pipeline]\ntargets = [\n",
    );
    for t in targets {
        out.push_str(&format!("  {{ target = {}, platform = {} }},\n", quote(t.target), quote(t.platform)));
    }
    out.push_str("]\n");
    if let Some(image) = &options.image {
        ImageRepository::parse(image).map_err(anyhow::Error::msg)?;
        out.push_str(&format!("image = {}\n", quote(image)));
    }
    if let Some(repository) = &options.release_repository {
        out.push_str(&format!("release-repository = {}\n", quote(repository)));
    }
    let mut platforms: Vec<String> = Vec::new();
    for quoted in targets.iter().map(|t| quote(t.platform)) {
        if !platforms.contains(&quoted) {
            platforms.push(quoted);
        }
    }
    for service in services {
        out.push_str("\n[[workspace.metadata.release-pipeline.service]]\n");
        if let Some(name) = &service.name {
            out.push_str(&format!("name = {}\n", quote(name)));
        }
        out.push_str(&format!("package = {}\nbin = {}\n", quote(&service.package), quote(&service.bin)));
    }
    for service in services {
        out.push_str(&format!(
            "\n[[workspace.metadata.release-pipeline.context]]\ndir = {}\nplatforms = [{}]\n",
            quote(context_dir(services, service).as_str()),
            platforms.join(", ")
        ));
        if services.len() > 1 {
            out.push_str(&format!("service = {}\n", quote(service.name())));
        }
    }
    Ok(out)
}

/// `.cargo/config.toml` with the `cargo xtask` alias and each target's linker and static
/// linking; a setting of the user's is kept (and said), an alias `xtask` of another meaning
/// refused.
fn cargo_config(
    text: Option<&str>,
    options: &InitOptions,
    targets: &[KnownTarget],
    kept: &mut Vec<String>,
    conflicts: &mut Vec<String>,
) -> Result<String> {
    let text = text.unwrap_or_default();
    let mut doc: toml_edit::DocumentMut = text.parse().context("parsing .cargo/config.toml")?;
    let alias =
        if options.separate_lockfile { "run --manifest-path xtask/Cargo.toml --" } else { "run --package xtask --" };
    let aliases = doc.entry("alias").or_insert(toml_edit::table());
    let aliases = aliases.as_table_like_mut().context(".cargo/config.toml: `alias` is not a table")?;
    match aliases.get("xtask").map(|a| a.as_str()) {
        None => {
            aliases.insert("xtask", toml_edit::value(alias));
        }
        Some(Some(existing)) if existing == alias => {}
        Some(_) => conflicts.push(format!(".cargo/config.toml has an alias `xtask` other than `{alias}`")),
    }
    for target in targets {
        let mut settings: Vec<(&str, toml_edit::Item)> = Vec::new();
        if let Some(linker) = target.linker {
            settings.push(("linker", toml_edit::value(linker)));
        }
        let flags: toml_edit::Array = ["-C", "target-feature=+crt-static"].into_iter().collect();
        settings.push(("rustflags", toml_edit::value(flags)));
        let table = doc.entry("target").or_insert_with(|| {
            let mut implicit = toml_edit::Table::new();
            implicit.set_implicit(true);
            toml_edit::Item::Table(implicit)
        });
        let table = table.as_table_like_mut().context(".cargo/config.toml: `target` is not a table")?;
        let table = table.entry(target.target).or_insert(toml_edit::table());
        let table = table.as_table_like_mut().context(".cargo/config.toml: a target is not a table")?;
        for (key, value) in settings {
            match table.get(key) {
                None => {
                    table.insert(key, value);
                }
                Some(existing) if same_value(existing, &value) => {}
                Some(_) => kept.push(format!(".cargo/config.toml: `target.{}.{key}` is yours, kept", target.target)),
            }
        }
    }
    Ok(doc.to_string())
}

/// `.gitignore` with the lines the pipeline's outputs need, each added once.
fn gitignore(text: Option<&str>, options: &InitOptions) -> String {
    let text = text.unwrap_or_default();
    let has = |line: &str| text.lines().any(|l| l.trim() == line);
    let mut wanted = vec!["dist/", "pkg/"];
    let target_ignored = ["target", "target/", "/target", "/target/"].iter().any(|l| has(l));
    if !target_ignored {
        wanted.push("target/");
    }
    let everywhere = has("target") || has("target/");
    if options.separate_lockfile && !everywhere {
        wanted.push("/xtask/target/");
    }
    let missing: Vec<&str> = wanted.into_iter().filter(|l| !has(l)).collect();
    let mut out = text.to_owned();
    if missing.is_empty() {
        return out;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("# The release pipeline's packages (`cargo xtask dist`) and each image context's copy of them.\n");
    for line in missing {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A CI template with the targets and the tools they need.
fn ci_file(template: &str, targets: &[KnownTarget]) -> String {
    let names: Vec<&str> = targets.iter().map(|t| t.target).collect();
    let mut tools: Vec<&str> = targets.iter().filter_map(|t| t.tool).collect();
    tools.push("skopeo=skopeo");
    tools.dedup();
    template.replace("{targets}", &names.join(" ")).replace("{tools}", &tools.join(" "))
}

/// `text` as a TOML string, quoted and escaped by TOML's own rules.
fn quote(text: &str) -> String {
    toml_edit::Value::from(text).to_string()
}

/// Two tables of settings with the same keys and values, whatever their comments and layout.
fn same_settings(a: &toml_edit::Item, b: &toml_edit::Item) -> bool {
    match (a.as_table_like(), b.as_table_like()) {
        (Some(a), Some(b)) => {
            a.len() == b.len() && a.iter().all(|(key, value)| b.get(key).is_some_and(|other| same_value(value, other)))
        }
        _ => false,
    }
}

/// Two values, whatever their comments and layout.
fn same_value(a: &toml_edit::Item, b: &toml_edit::Item) -> bool {
    let text = |item: &toml_edit::Item| {
        item.as_value().map(|v| {
            let mut v = v.clone();
            v.decor_mut().clear();
            v.to_string()
        })
    };
    text(a).is_some() && text(a) == text(b)
}

/// `to` relative to `from` (both absolute, normalized): the path a manifest in `from` gives.
pub fn relative_path(from: &Utf8Path, to: &Utf8Path) -> Utf8PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut out = Utf8PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part.as_str());
    }
    if out.as_str().is_empty() {
        out.push(".");
    }
    out
}

/// Whether the lockfile must be resolved: something changed, or it does not lock the xtask yet
/// (a second run with nothing to write and the xtask locked has nothing to do).
pub fn lock_needed(plan: &InitPlan, lockfile: Option<&str>) -> bool {
    let locked = lockfile
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|doc| {
            let packages = doc.get("package")?.as_array_of_tables()?;
            Some(packages.iter().any(|p| p.get("name").and_then(|n| n.as_str()) == Some(XTASK_DIR)))
        })
        .unwrap_or(false);
    !plan.writes.is_empty() || !locked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> InitOptions {
        InitOptions {
            source: CrateSource::Version("0.1.0".into()),
            bins: vec![],
            targets: vec![],
            ci: CiSystem::GitHub,
            separate_lockfile: false,
            image: None,
            release_repository: None,
        }
    }

    fn member(name: &str, bins: &[&str]) -> MemberPackage {
        MemberPackage { name: name.into(), bins: bins.iter().map(|b| (*b).to_owned()).collect() }
    }

    const ONE_PACKAGE: &str =
        "[package]\nname = \"kv\" # the store\nversion = \"0.4.1\"\nedition = \"2021\"\n\n[dependencies]\n";

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<Utf8PathBuf, String> {
        pairs.iter().map(|(p, t)| (Utf8PathBuf::from(*p), (*t).to_owned())).collect()
    }

    /// Applies a plan's writes to the files, as the library does.
    fn apply(files: &mut BTreeMap<Utf8PathBuf, String>, plan: &InitPlan) {
        for w in &plan.writes {
            files.insert(w.path.clone(), w.after.clone());
        }
    }

    #[test]
    fn one_binary_asks_nothing_several_need_bin() {
        let others = [member("xtask", &["xtask"]), member("release-pipeline", &["release-pipeline"])];
        let one = choose_services(&[&others[..], &[member("kv", &["kv"])]].concat(), &[]).unwrap();
        assert_eq!(one, [ChosenService { name: None, package: "kv".into(), bin: "kv".into() }]);
        let several = [member("kv", &["server", "client"])];
        let err = format!("{:#}", choose_services(&several, &[]).unwrap_err());
        assert!(err.contains("several binaries: server (package kv), client (package kv)"), "{err}");
        let chosen = choose_services(&several, &["server".into()]).unwrap();
        assert_eq!(chosen, [ChosenService { name: Some("server".into()), package: "kv".into(), bin: "server".into() }]);
        let err = format!("{:#}", choose_services(&several, &["serve".into()]).unwrap_err());
        assert!(err.contains("--bin serve: the workspace has no such binary"), "{err}");
        let err = format!("{:#}", choose_services(&[member("lib", &[])], &[]).unwrap_err());
        assert!(err.contains("no binary to release"), "{err}");
    }

    #[test]
    fn a_one_package_repository_becomes_a_workspace() {
        let mut opts = options();
        opts.bins = vec!["server".into()];
        let mut current = files(&[("Cargo.toml", ONE_PACKAGE), (".gitignore", "/target\n")]);
        let plan = plan(&opts, &[member("kv", &["server", "client"])], &current).unwrap();
        let written: Vec<&str> = plan.writes.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(
            written,
            [
                "Cargo.toml",
                "xtask/Cargo.toml",
                "xtask/src/main.rs",
                ".cargo/config.toml",
                ".gitignore",
                "docker/Dockerfile",
                GITHUB_WORKFLOW_PATH
            ]
        );
        let root = &plan.writes[0].after;
        assert!(root.starts_with(ONE_PACKAGE), "the user's text is kept as it was:\n{root}");
        assert!(root.contains("\n[workspace]\nmembers = [\".\", \"xtask\"]\n"), "{root}");
        let config = Config::parse(root).unwrap();
        assert_eq!(config.targets.len(), 3);
        assert_eq!(config.service[0].name(), "server");
        assert_eq!(config.service[0].bin.as_deref(), Some("server"));
        assert_eq!(config.context[0].dir, "docker");
        assert!(root.contains("[profile.dev.package.libgit2-sys]\nopt-level = 1"), "{root}");
        let dockerfile = &plan.writes[5].after;
        assert!(dockerfile.contains("FROM scratch AS package\n"), "{dockerfile}");
        assert!(dockerfile.contains("ADD pkg/${TARGETPLATFORM}/*.tar.gz /package/\n"), "{dockerfile}");
        assert!(dockerfile.contains("COPY --from=package /package/bin/ /usr/local/bin/\n"), "{dockerfile}");
        assert!(dockerfile.ends_with("ENTRYPOINT [\"/usr/local/bin/server\"]\n"), "{dockerfile}");
        assert_eq!(plan.writes[4].after, "/target\n# The release pipeline's packages (`cargo xtask dist`) and each image context's copy of them.\ndist/\npkg/\n");
        let cargo_config = &plan.writes[3].after;
        assert!(cargo_config.contains("[alias]\nxtask = \"run --package xtask --\"\n"), "{cargo_config}");
        assert!(
            cargo_config.contains("[target.aarch64-unknown-linux-gnu]\nlinker = \"aarch64-linux-gnu-gcc\"\n"),
            "{cargo_config}"
        );
        assert_eq!(plan.lock_manifest, "Cargo.toml");

        // A second run changes nothing.
        apply(&mut current, &plan);
        let again =
            super::plan(&opts, &[member("kv", &["server", "client"]), member("xtask", &["xtask"])], &current).unwrap();
        assert_eq!(again.writes, []);
        let lock = "version = 4\n\n[[package]]\nname = \"xtask\"\nversion = \"0.1.0\"\n";
        assert!(!lock_needed(&again, Some(lock)));
        assert!(lock_needed(&again, Some("version = 4\n")));
        assert!(lock_needed(&plan, Some(lock)));
    }

    #[test]
    fn an_existing_workspace_gains_a_member_and_keeps_its_settings() {
        let manifest = "[workspace]\nmembers = [\"api\", \"worker\"]  # ours\nresolver = \"2\"\n\n[profile.dev.package.\"*\"]\ndebug = true\n";
        let current = files(&[
            ("Cargo.toml", manifest),
            (".cargo/config.toml", "# mine\n[target.aarch64-unknown-linux-gnu]\nlinker = \"clang\"\n"),
            (".gitignore", "target\ndist/\npkg/\n"),
        ]);
        let mut opts = options();
        opts.bins = vec!["api".into(), "worker".into()];
        opts.ci = CiSystem::GitLab;
        let plan = plan(&opts, &[member("api", &["api"]), member("worker", &["worker"])], &current).unwrap();
        let root = &plan.writes[0].after;
        assert!(
            root.starts_with("[workspace]\nmembers = [\"api\", \"worker\", \"xtask\"]  # ours\nresolver = \"2\"\n"),
            "{root}"
        );
        assert!(!root.contains("[profile.dev.package.\"*\"]\ndebug = false"), "{root}");
        let config = Config::parse(root).unwrap();
        let contexts: Vec<(&str, Option<&str>)> =
            config.context.iter().map(|c| (c.dir.as_str(), c.service.as_deref())).collect();
        assert_eq!(contexts, [("docker/api", Some("api")), ("docker/worker", Some("worker"))]);
        assert!(plan.kept.iter().any(|k| k.contains("[profile.dev.package.\"*\"] is yours")), "{:?}", plan.kept);
        assert!(plan.kept.iter().any(|k| k.contains("target.aarch64-unknown-linux-gnu.linker")), "{:?}", plan.kept);
        let config_toml = plan.writes.iter().find(|w| w.path == ".cargo/config.toml").unwrap();
        assert!(config_toml.after.contains("linker = \"clang\""), "{}", config_toml.after);
        assert!(plan.writes.iter().all(|w| w.path != ".gitignore"), "nothing to add to .gitignore");
        assert!(plan.writes.iter().any(|w| w.path == GITLAB_CI_PATH));
        assert!(plan.writes.iter().all(|w| w.path != GITHUB_WORKFLOW_PATH));
    }

    #[test]
    fn a_file_of_the_users_is_never_overwritten() {
        let current = files(&[
            ("Cargo.toml", ONE_PACKAGE),
            ("docker/Dockerfile", "FROM debian\n"),
            (".cargo/config.toml", "[alias]\nxtask = \"run -p tools --\"\n"),
        ]);
        let err = format!("{:?}", plan(&options(), &[member("kv", &["kv"])], &current).unwrap_err());
        assert!(err.contains("init changed nothing"), "{err}");
        assert!(err.contains("docker/Dockerfile exists, with other content"), "{err}");
        assert!(err.contains("an alias `xtask` other than"), "{err}");
    }

    #[test]
    fn a_separate_lockfile_makes_the_xtask_a_workspace_of_its_own() {
        let mut opts = options();
        opts.separate_lockfile = true;
        opts.source = CrateSource::Path("../../release-pipeline".into());
        let current = files(&[("Cargo.toml", ONE_PACKAGE)]);
        let plan = plan(&opts, &[member("kv", &["kv"])], &current).unwrap();
        let after = |path: &str| plan.writes.iter().find(|w| w.path == path).unwrap().after.clone();
        let root = after("Cargo.toml");
        assert!(root.contains("[workspace]\nmembers = [\".\"]\nexclude = [\"xtask\"]\n"), "{root}");
        assert!(!root.contains("[profile"), "the profile goes where the xtask is built: {root}");
        let xtask = after("xtask/Cargo.toml");
        assert!(xtask.contains("release-pipeline = { path = \"../../release-pipeline\" }\n"), "{xtask}");
        assert!(xtask.contains("\n[workspace]\n") && xtask.contains("[profile.dev.package.libgit2-sys]"), "{xtask}");
        assert!(after(".cargo/config.toml").contains("xtask = \"run --manifest-path xtask/Cargo.toml --\""));
        assert!(after(".gitignore").contains("\n/xtask/target/\n"));
        assert_eq!(plan.lock_manifest, "xtask/Cargo.toml");
    }

    #[test]
    fn targets_and_sources() {
        let mut opts = options();
        opts.targets = vec!["x86_64-unknown-linux-musl".into()];
        opts.source = CrateSource::Registry { name: "acme".into(), version: "0.2.0".into() };
        let plan = plan(&opts, &[member("kv", &["kv"])], &files(&[("Cargo.toml", ONE_PACKAGE)])).unwrap();
        let after = |path: &str| plan.writes.iter().find(|w| w.path == path).unwrap().after.clone();
        assert!(after("Cargo.toml").contains("platforms = [\"linux/amd64\"]\n"));
        assert!(after("xtask/Cargo.toml").contains("release-pipeline = { version = \"0.2.0\", registry = \"acme\" }"));
        let workflow = after(GITHUB_WORKFLOW_PATH);
        assert!(workflow.contains("rustup target add x86_64-unknown-linux-musl\n"), "{workflow}");
        assert!(workflow.contains("for tool_package in musl-gcc=musl-tools skopeo=skopeo; do"), "{workflow}");
        // A value is quoted by TOML's rules: it stays one value, whatever it holds.
        let mut hostile = options();
        hostile.release_repository = Some("acme/kv\"\n[evil]\nx = \"".into());
        let plan = super::plan(&hostile, &[member("kv", &["kv"])], &files(&[("Cargo.toml", ONE_PACKAGE)])).unwrap();
        let config = Config::parse(&plan.writes[0].after).unwrap();
        assert_eq!(config.release_repository, "acme/kv\"\n[evil]\nx = \"");
        let err = format!("{:#}", choose_targets(&["riscv64gc-unknown-linux-gnu".into()]).unwrap_err());
        assert!(err.contains("does not know this target"), "{err}");
        assert_eq!(
            relative_path("/w/kv/xtask".into(), "/w/release-pipeline/release-pipeline".into()),
            "../../release-pipeline/release-pipeline"
        );
        assert_eq!(relative_path("/w/kv/xtask".into(), "/w/kv/xtask/lib".into()), "lib");
    }
}
