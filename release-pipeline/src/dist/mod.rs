//! `cargo xtask dist`: build each service once per target, on the host, and package each build
//! reproducibly (`dist/<bin>-<version>-<target>.tar.gz` + `dist/SHA256SUMS`). Every image is
//! made from these packages, never from a rebuild.
use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::{config::Config, exec::Exec, flags, repo::CommitId, services::Service, ui, version, workspace::Workspace};
use release_pipeline_plan::platform::{Platform, TargetTriple};

pub(crate) use release_pipeline_plan::dist::*;

/// The manifest inside every package; `distcopy` and the pipeline read it to refuse a stale one.
pub(crate) const MANIFEST: &str = "manifest.json";

/// `manifest.json`, as `docs/schemas/manifest.schema.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The binary's name.
    pub(crate) name: String,
    pub(crate) version: semver::Version,
    pub(crate) target: TargetTriple,
    pub(crate) platform: Platform,
    /// The commit it was built from; `unknown` in a repository without one.
    #[serde(with = "commit_or_unknown")]
    pub(crate) commit: Option<CommitId>,
    /// SHA-256 of the binary.
    pub(crate) sha256: Sha256,
}

/// What a package says of a build with no commit (and `SERVICE_COMMIT` tells the binary).
const UNKNOWN_COMMIT: &str = "unknown";

/// A manifest's commit: its id, or `unknown`.
mod commit_or_unknown {
    use crate::{dist::UNKNOWN_COMMIT, repo::CommitId};

    pub(super) fn serialize<S: serde::Serializer>(commit: &Option<CommitId>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(commit.as_ref().map_or(UNKNOWN_COMMIT, CommitId::as_str))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<CommitId>, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        match text.as_ref() {
            UNKNOWN_COMMIT => Ok(None),
            id => CommitId::parse(id).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// The variables `dist` sets while it builds a service, with what each holds (README: "The
/// version in the binary"): a service reads the first two with `option_env!`.
pub(crate) const BUILD_VARS: [(&str, &str); 3] = [
    ("SERVICE_VERSION", "the version computed from git, as `cargo xtask version` prints it"),
    ("SERVICE_COMMIT", "the commit's full id (`unknown` outside git)"),
    ("SOURCE_DATE_EPOCH", "the commit's time in seconds, for reproducible builds"),
];

/// The three lines a service adds to print the version and commit `dist` built it with (a plain
/// `cargo build` falls back to `Cargo.toml`'s version). `init` prints them; both READMEs show
/// them verbatim (a unit test and `xtask/tests/readme.rs` check it).
pub(crate) const VERSION_LINES: &str = r#"const VERSION: &str = match option_env!("SERVICE_VERSION") { Some(v) => v, None => env!("CARGO_PKG_VERSION") };
const COMMIT: &str = match option_env!("SERVICE_COMMIT") { Some(c) => c, None => "unknown" };
if std::env::args().any(|a| a == "--version") { println!("{VERSION} ({COMMIT})"); return; }
"#;

/// The warning for a built binary that does not contain its version string: the service would
/// report another version than its package's name says (it does not read `SERVICE_VERSION`).
pub(crate) fn missing_version(binary_name: &str, target: &str, version: &str, binary: &[u8]) -> Option<String> {
    if memchr::memmem::find(binary, version.as_bytes()).is_some() {
        return None;
    }
    let lines: String = VERSION_LINES.lines().map(|line| format!("\n    {line}")).collect();
    Some(format!(
        "{binary_name} for {target} does not contain its version {version}: it does not print the version `dist` \
         computed. Three lines print it (README: \"The version in the binary\"):{lines}"
    ))
}

/// One file in a package.
pub(crate) struct Entry {
    pub(crate) path: String,
    pub(crate) mode: u32,
    pub(crate) data: Vec<u8>,
}

/// What `dist` needs to know; the pipeline fills it from its plan.
pub(crate) struct DistRequest<'a> {
    pub(crate) root: &'a Utf8Path,
    pub(crate) service: &'a Service,
    pub(crate) config: &'a Config,
    pub(crate) version: &'a str,
    pub(crate) commit: &'a str,
    /// Seconds since the epoch for every mtime in the archives.
    pub(crate) epoch: i64,
    pub(crate) targets: Vec<TargetTriple>,
    pub(crate) format: Format,
    /// More variables no build script gets (`Workspace::also_secret`).
    pub(crate) also_secret: &'a [String],
    /// How the build runs (`Workspace::exec`).
    pub(crate) exec: &'a Exec,
}

pub(crate) fn run(cmd: flags::Dist, ws: &Workspace) -> Result<()> {
    let format = Format::parse(cmd.format.as_deref())?;
    for ws in ws.services(&cmd.service)? {
        let (repo, root, config) = (ws.repo.as_deref(), &ws.root, &ws.config);
        let info = version::of(&ws)?;
        let commit = info.commit.clone().unwrap_or_else(|| UNKNOWN_COMMIT.to_owned());
        let epoch = source_date_epoch(repo, info.commit.as_deref())?;
        let targets = if cmd.target.is_empty() {
            config.targets.iter().map(|t| t.target.clone()).collect()
        } else {
            cmd.target
                .iter()
                .map(|t| TargetTriple::parse(t).map_err(|why| anyhow::anyhow!("--target {t}: {why}")))
                .collect::<Result<_>>()?
        };
        let version = info.semver.to_string();
        let service = ws.service();
        let also_secret = &ws.also_secret;
        let request = DistRequest {
            root,
            service,
            config,
            version: &version,
            commit: &commit,
            epoch,
            targets,
            format,
            also_secret,
            exec: &ws.exec,
        };
        for p in dist(&request)? {
            println!("{p}");
        }
    }
    Ok(())
}

/// `SOURCE_DATE_EPOCH` if set, else the commit's time (0 with no commit).
pub(crate) fn source_date_epoch(repo: Option<&crate::repo::Repo>, commit: Option<&str>) -> Result<i64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"));
    }
    match (repo, commit) {
        (Some(repo), Some(c)) => repo.commit_time(git2::Oid::from_str(c)?),
        _ => Ok(0),
    }
}

/// Builds and packages; returns the package paths.
pub(crate) fn dist(req: &DistRequest<'_>) -> Result<Vec<Utf8PathBuf>> {
    // What every manifest says, checked before anything is built.
    let mut targets = Vec::new();
    for t in &req.targets {
        let Some(platform) = req.config.platform_of(t.as_str()) else {
            let known: Vec<&str> = req.config.targets.iter().map(|t| t.target.as_str()).collect();
            bail!("target `{t}` is not in the configuration's `targets` ({})", known.join(", "));
        };
        targets.push((t.clone(), platform.clone()));
    }
    let version = semver::Version::parse(req.version).with_context(|| format!("version `{}`", req.version))?;
    let commit = match req.commit {
        UNKNOWN_COMMIT => None,
        id => Some(CommitId::parse(id).map_err(anyhow::Error::msg)?),
    };
    let binaries = build(req)?;
    let dist = DistLayout::new(req.root);
    let dist_dir = dist.dir();
    std::fs::create_dir_all(dist_dir).with_context(|| format!("creating {dist_dir}"))?;
    let bin = &req.service.bin;
    remove_stale(dist_dir, bin, req.version)?;
    let readme = read_optional(&req.root.join(&req.service.dir).join("README.md"))?;
    let licenses = license_files(req.root, req.service)?;
    let mut packages = Vec::new();
    let mut known_sums = Sha256Sums::default();
    for ((target, platform), binary) in targets.into_iter().zip(binaries) {
        let data = std::fs::read(&binary).with_context(|| format!("reading the built binary {binary}"))?;
        if let Some(warning) = missing_version(bin, target.as_str(), req.version, &data) {
            ui::warn(warning);
        }
        let path = dist.package(bin, req.version, &target, req.format);
        let manifest = Manifest {
            name: bin.clone(),
            version: version.clone(),
            target,
            platform,
            commit,
            sha256: Sha256::of(&data),
        };
        let mut entries = vec![
            Entry { path: format!("bin/{bin}"), mode: 0o755, data },
            Entry { path: MANIFEST.to_owned(), mode: 0o644, data: serde_json::to_vec_pretty(&manifest)? },
        ];
        if let Some(readme) = &readme {
            entries.push(Entry { path: "README.md".to_owned(), mode: 0o644, data: readme.clone() });
        }
        for (name, data) in &licenses {
            entries.push(Entry { path: name.clone(), mode: 0o644, data: data.clone() });
        }
        let bytes = match req.format {
            Format::TarGz => tar_gz(entries, req.epoch)?,
            Format::Zip => zip(entries, req.epoch)?,
        };
        write_atomic(&path, &bytes)?;
        known_sums
            .insert(path.file_name().expect("a package has a file name"), Sha256::of(&bytes))
            .map_err(anyhow::Error::msg)?;
        ui::info(format_args!("packaged {path} ({} bytes)", bytes.len()));
        packages.push(path);
    }
    write_sums(&dist, known_sums)?;
    Ok(packages)
}

/// Whether a file name is a license file by the Rust convention (what crates ship):
/// `LICENSE`, `LICENSE-MIT`, `LICENSE-APACHE`, `LICENCE.md`, `COPYING`, …
pub(crate) fn is_license_file(name: &str) -> bool {
    ["LICENSE", "LICENCE", "COPYING"].iter().any(|prefix| name.starts_with(prefix))
}

/// The license files a service's packages carry, by name, sorted: those of its package's
/// directory and its `license-file`; when the package has none, the workspace root's. A
/// `license-file` outside the workspace is refused.
fn license_files(root: &Utf8Path, service: &Service) -> Result<Vec<(String, Vec<u8>)>> {
    let package_dir = root.join(&service.dir);
    let mut found = std::collections::BTreeMap::new();
    if let Some(file) = &service.license_file {
        let path = inside(root, &package_dir.join(file)).ok_or_else(|| {
            anyhow::anyhow!("`license-file = \"{file}\"` of package `{}` is outside the workspace", service.package)
        })?;
        let name = path.file_name().with_context(|| format!("`license-file = \"{file}\"` names no file"))?;
        let data = std::fs::read(&path).with_context(|| format!("reading the license file {path}"))?;
        found.insert(name.to_owned(), data);
    }
    for dir in [&package_dir, root] {
        for (name, data) in license_files_in(dir)? {
            found.entry(name).or_insert(data);
        }
        if !found.is_empty() {
            break;
        }
    }
    Ok(found.into_iter().collect())
}

/// The license files directly in `dir` (regular files, or links to them).
fn license_files_in(dir: &Utf8Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in dir.read_dir_utf8().with_context(|| format!("reading {dir}"))? {
        let entry = entry?;
        if is_license_file(entry.file_name()) && entry.path().is_file() {
            let data = std::fs::read(entry.path()).with_context(|| format!("reading {}", entry.path()))?;
            files.push((entry.file_name().to_owned(), data));
        }
    }
    Ok(files)
}

/// `path` with `.` and `..` resolved by its text, when that lies inside `root`.
fn inside(root: &Utf8Path, path: &Utf8Path) -> Option<Utf8PathBuf> {
    let mut out = Utf8PathBuf::new();
    for part in path.components() {
        match part {
            camino::Utf8Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            camino::Utf8Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.starts_with(root).then_some(out)
}

fn read_optional(path: &Utf8Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(data) => Ok(Some(data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {path}")),
    }
}

/// The directory cargo builds into: `CARGO_TARGET_DIR`, or the workspace's `target/`.
pub(crate) fn target_dir(root: &Utf8Path) -> Utf8PathBuf {
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) if !dir.is_empty() => {
            let dir = Utf8PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        }
        _ => root.join("target"),
    }
}

/// One `cargo build` for every target (cargo builds them in parallel), with the version and
/// commit injected.
fn build(req: &DistRequest<'_>) -> Result<Vec<Utf8PathBuf>> {
    let exec = req.exec.in_dir(req.root);
    let sh = &exec.sh;
    let [(version_var, _), (commit_var, _), (epoch_var, _)] = BUILD_VARS;
    let _v = sh.push_env(version_var, req.version);
    let _c = sh.push_env(commit_var, req.commit);
    let _e = sh.push_env(epoch_var, req.epoch.to_string());
    let Service { package, bin, .. } = req.service;
    let argv = cargo_build_argv(package, bin, &req.targets, cargo_home().as_deref());
    let (program, args) = argv.split_first().expect("cargo build argv starts with cargo");
    let quiet = ui::quiet().then_some("--quiet");
    ui::info(format_args!(
        "building {bin} {} for {}: cargo build --release -p {package} --bin {bin} --target …",
        req.version,
        req.targets.join(", ")
    ));
    let mut build = cmd!(sh, "{program} {args...} {quiet...}").quiet();
    // The build runs every dependency's build script: none of them gets a secret.
    let names: Vec<String> = std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()).collect();
    for name in req.config.secret_vars(&names).into_iter().chain(req.also_secret.iter().map(String::as_str)) {
        build = build.env_remove(name);
    }
    exec.stream(build, &format!("building {bin} for {}", req.targets.join(", ")))?;
    let dir = target_dir(req.root);
    Ok(req.targets.iter().map(|t| dir.join(t.as_str()).join("release").join(bin)).collect())
}

/// `CARGO_HOME`, where registry sources are compiled from.
pub(crate) fn cargo_home() -> Option<String> {
    std::env::var("CARGO_HOME")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|h| format!("{h}/.cargo")))
        .filter(|h| !h.is_empty())
}

/// Removes `bin`'s packages of other versions (and every checksum list) so `dist/` holds one
/// version of each service.
fn remove_stale(dist_dir: &Utf8Path, bin: &str, version: &str) -> Result<()> {
    let keep = format!("{bin}-{version}-");
    for entry in dist_dir.read_dir_utf8().with_context(|| format!("reading {dist_dir}"))? {
        let entry = entry?;
        let name = entry.file_name();
        // Packages, and the SBOMs and provenances written beside them.
        let is_package =
            name.strip_prefix(bin).and_then(|rest| rest.strip_prefix('-')).is_some_and(starts_with_version)
                && is_per_version(name);
        if is_package && !name.starts_with(&keep) {
            std::fs::remove_file(entry.path()).with_context(|| format!("removing stale package {}", entry.path()))?;
            ui::info(format_args!("removed stale package {}", entry.path()));
        }
    }
    Ok(())
}

/// Whether a file name's rest after `<bin>-` starts with a version and a `-`: `app-2fa-1.0.0-…`
/// is not a package of the binary `app`'s (`2fa` is no version), but of `app-2fa`'s.
fn starts_with_version(rest: &str) -> bool {
    rest.match_indices('-').any(|(at, _)| semver::Version::parse(&rest[..at]).is_ok())
}

/// `dist/SHA256SUMS` over every package in `dist/`, in `sha256sum -c` format, sorted. Packages
/// this run just wrote come with their sums (`known`); the others (same version, other targets
/// or format) are read and hashed.
fn write_sums(dist: &DistLayout, mut known: Sha256Sums) -> Result<()> {
    let dir = dist.dir();
    for entry in dir.read_dir_utf8().with_context(|| format!("reading {dir}"))? {
        let name = entry?.file_name().to_owned();
        if Format::of(&name).is_some() && known.get(&name).is_none() {
            let sum = Sha256::of(&std::fs::read(dist.file(&name)).with_context(|| format!("reading {name}"))?);
            known.insert(&name, sum).map_err(anyhow::Error::msg)?;
        }
    }
    // A signature of the list this replaces would not verify: the run that signs writes it anew.
    match std::fs::remove_file(dist.sums_signature()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).context("removing the stale SHA256SUMS.sig")
        }
        _ => {}
    }
    write_sums_to(&known, &dist.sums())
}

/// The SHA-256 of `data` in hex ([`Sha256::of`] as text).
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    Sha256::of(data).into()
}

pub(crate) fn write_atomic(path: &Utf8Path, data: &[u8]) -> Result<()> {
    let tmp = Utf8PathBuf::from(format!("{path}.tmp{}", std::process::id()));
    std::fs::write(&tmp, data).with_context(|| format!("writing {tmp}"))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {tmp} to {path}"))
}

/// A reproducible `.tar.gz`: entries sorted, owner 0:0 with no names, fixed modes, every mtime
/// `epoch`, and a gzip header with no name and mtime 0.
pub(crate) fn tar_gz(mut entries: Vec<Entry>, epoch: i64) -> Result<Vec<u8>> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    let mtime = u64::try_from(epoch).unwrap_or(0);
    let mut dirs_done = std::collections::BTreeSet::new();
    for entry in &entries {
        // Directory entries first, so every extractor creates them with a fixed mode.
        if let Some((dir, _)) = entry.path.rsplit_once('/') {
            if dirs_done.insert(dir.to_owned()) {
                let mut h = header(0o755, mtime, 0);
                h.set_entry_type(tar::EntryType::Directory);
                tar.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
            }
        }
        let mut h = header(entry.mode, mtime, entry.data.len() as u64);
        tar.append_data(&mut h, &entry.path, entry.data.as_slice())?;
    }
    let gz = tar.into_inner().context("finishing the tar stream")?;
    gz.finish().context("finishing the gzip stream")
}

fn header(mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

/// A reproducible `.zip`: entries sorted, fixed permissions, every time `epoch` (clamped to
/// 1980, the format's start).
pub(crate) fn zip(mut entries: Vec<Entry>, epoch: i64) -> Result<Vec<u8>> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let time = zip_time(epoch);
    for entry in &entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(time)
            .unix_permissions(entry.mode);
        zip.start_file(entry.path.as_str(), options)?;
        zip.write_all(&entry.data)?;
    }
    Ok(zip.finish().context("finishing the zip archive")?.into_inner())
}

/// Seconds since the epoch → a zip (MS-DOS) timestamp, in UTC.
fn zip_time(epoch: i64) -> zip::DateTime {
    let (year, month, day, hour, minute, second) = civil_time(epoch);
    zip::DateTime::from_date_and_time(year.clamp(1980, 2107) as u16, month, day, hour, minute, second)
        .unwrap_or_default()
}

/// The manifest inside a `.tar.gz` package.
pub(crate) fn read_manifest(package: &Utf8Path) -> Result<Manifest> {
    let file = std::fs::File::open(package).with_context(|| format!("opening {package}"))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    for entry in archive.entries().with_context(|| format!("reading {package}"))? {
        let mut entry = entry.with_context(|| format!("reading {package}"))?;
        if entry.path()?.as_os_str() == MANIFEST {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            return serde_json::from_str(&text).with_context(|| format!("parsing {MANIFEST} in {package}"));
        }
    }
    bail!("{package} has no {MANIFEST}: it was not made by `cargo xtask dist`")
}

/// The `SHA256SUMS` at `path`. A missing list says to run `cargo xtask dist`.
pub(crate) fn read_sums(path: &Utf8Path) -> Result<Sha256Sums> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(crate::error::error_with_help(
                format!("no packages: {path} does not exist"),
                "run `cargo xtask dist` first",
            ))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {path}")),
    };
    Sha256Sums::parse(&text).map_err(|why| {
        crate::error::error_with_help(
            format!("{path}: {why}"),
            "write it with `cargo xtask dist` (or `sha256sum FILE… > SHA256SUMS` in its directory)",
        )
    })
}

/// Writes `sums` to `path`, whole or not at all.
pub(crate) fn write_sums_to(sums: &Sha256Sums, path: &Utf8Path) -> Result<()> {
    write_atomic(path, sums.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_written_sorted_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::try_from(dir.path().join(SUMS)).unwrap();
        let mut sums = Sha256Sums::default();
        sums.insert("b.zip", Sha256::of(b"2")).unwrap();
        sums.insert("a.tar.gz", Sha256::of(b"1")).unwrap();
        assert!(sums.insert("x/a.tar.gz", Sha256::of(b"3")).unwrap_err().contains("is not the name of a file"));
        write_sums_to(&sums, &path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}  a.tar.gz\n{}  b.zip\n", Sha256::of(b"1"), Sha256::of(b"2"))
        );
        assert_eq!(read_sums(&path).unwrap(), sums);
        std::fs::write(&path, "nonsense\n").unwrap();
        let err = format!("{:#}", read_sums(&path).unwrap_err());
        assert!(err.contains(&format!("{path}: line 1: \"nonsense\" is not a checksum line")), "{err}");
        let missing = format!("{:#}", read_sums(&path.with_file_name("none")).unwrap_err());
        assert!(missing.contains("does not exist"), "{missing}");
    }

    /// A package is another binary's when what follows `<bin>-` is no version.
    #[test]
    fn packages_are_told_apart_by_their_version() {
        assert!(starts_with_version("1.2.3-x86_64-unknown-linux-musl.tar.gz"));
        assert!(starts_with_version("1.2.4-dev.5-aarch64-unknown-linux-gnu.cdx.json"));
        assert!(!starts_with_version("2fa-1.0.0-x86_64-unknown-linux-musl.tar.gz"), "`app-2fa`'s, not `app`'s");
        assert!(!starts_with_version("worker-1.0.0-x86_64-unknown-linux-musl.tar.gz"));
    }

    fn manifest(commit: Option<&str>) -> Manifest {
        Manifest {
            name: "app".to_owned(),
            version: semver::Version::parse("1.2.4-dev.3").unwrap(),
            target: TargetTriple::parse("armv7-unknown-linux-gnueabihf").unwrap(),
            platform: "linux/arm/v7".into(),
            commit: commit.map(|c| CommitId::parse(c).unwrap()),
            sha256: Sha256::of(b"the binary"),
        }
    }

    /// `manifest.json` as `dist` writes it: the example beside the schema
    /// (`docs/schemas/manifest.schema.json`), which `xtask/tests/schemas.rs` checks against it.
    #[test]
    fn a_manifest_is_the_documented_json() {
        let written = manifest(Some("0123456789abcdef0123456789abcdef01234567"));
        let json = String::from_utf8(serde_json::to_vec_pretty(&written).unwrap()).unwrap();
        expect_test::expect_file!["../../docs/schemas/examples/manifest.json"].assert_eq(&json);
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), written);
        // Built where there is no commit: `unknown`, both ways.
        let unknown = serde_json::to_value(manifest(None)).unwrap();
        assert_eq!(unknown["commit"], UNKNOWN_COMMIT);
        assert_eq!(serde_json::from_value::<Manifest>(unknown).unwrap(), manifest(None));
    }

    /// Every field is checked when a manifest is read: what `dist` does not write is an error
    /// naming it.
    #[test]
    fn a_manifest_refuses_what_dist_does_not_write() {
        let json = serde_json::to_value(manifest(None)).unwrap();
        for (field, bad, why) in [
            ("version", "1.2", "unexpected end of input while parsing minor version number"),
            ("target", "x86_64", "is not a target triple"),
            ("platform", "amd64", "is not a platform"),
            ("commit", "", "is not a commit id"),
            ("sha256", "0", "is not a SHA-256"),
        ] {
            let mut edited = json.clone();
            edited[field] = bad.into();
            let err = serde_json::from_value::<Manifest>(edited).unwrap_err().to_string();
            assert!(err.contains(why), "{field}: {err}");
        }
    }

    /// A binary holds its version string when the service reads `SERVICE_VERSION`; one that does
    /// not is named with the variable to read.
    #[test]
    fn a_binary_without_its_version_is_warned_about() {
        let binary = b"\x7fELF\0\0prefix 0.4.2-dev.3\0 and more";
        assert_eq!(missing_version("app", "x86_64-unknown-linux-musl", "0.4.2-dev.3", binary), None);
        let warning = missing_version("app", "x86_64-unknown-linux-musl", "0.4.2-dev.0", binary).unwrap();
        assert!(warning.starts_with("app for x86_64-unknown-linux-musl does not contain its version 0.4.2-dev.0"));
        assert!(warning.contains("\n    const VERSION: &str = match option_env!(\"SERVICE_VERSION\")"), "{warning}");
        assert!(missing_version("app", "t", "1.0.0", b"").is_some(), "an empty binary holds nothing");
    }

    /// The crate's README shows the three lines and every variable `dist` sets.
    #[test]
    fn the_readme_shows_the_version_contract() {
        let readme = include_str!("../../README.md");
        assert!(readme.contains(&format!("```rust\n{VERSION_LINES}```")), "README.md lacks:\n{VERSION_LINES}");
        for (var, _) in BUILD_VARS {
            assert!(readme.contains(&format!("| `{var}` |")), "README.md's table lacks {var}");
        }
    }

    #[test]
    fn license_files_by_the_rust_convention() {
        for name in ["LICENSE", "LICENSE-MIT", "LICENSE-APACHE", "LICENSE.md", "LICENCE", "COPYING", "COPYING.LESSER"] {
            assert!(is_license_file(name), "{name}");
        }
        for name in ["README.md", "license", "Cargo.toml", "NOTICE", "src"] {
            assert!(!is_license_file(name), "{name}");
        }
    }

    /// The package's own license files win over the root's; its `license-file` joins them;
    /// a `license-file` outside the workspace is refused.
    #[test]
    fn license_files_of_the_package_else_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::try_from(dir.path().to_owned()).unwrap();
        let write = |path: &str, text: &str| {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        };
        write("LICENSE", "root");
        write("app/src/main.rs", "");
        let mut service = Service::named("app");
        let names = |service: &Service| -> Vec<String> {
            license_files(&root, service).unwrap().into_iter().map(|(name, _)| name).collect()
        };
        assert_eq!(names(&service), ["LICENSE"], "the root's when the package has none");
        write("app/LICENSE-MIT", "mit");
        write("app/LICENSE-APACHE", "apache");
        write("app/COPYING", "gpl");
        assert_eq!(names(&service), ["COPYING", "LICENSE-APACHE", "LICENSE-MIT"], "sorted, the root's left out");
        service.license_file = Some("../legal/TERMS.txt".into());
        write("legal/TERMS.txt", "terms");
        assert_eq!(names(&service), ["COPYING", "LICENSE-APACHE", "LICENSE-MIT", "TERMS.txt"]);
        service.license_file = Some("../../outside.txt".into());
        let err = format!("{:#}", license_files(&root, &service).unwrap_err());
        assert!(err.contains("is outside the workspace"), "{err}");
    }

    #[test]
    fn zip_times() {
        let t = zip_time(1_700_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!((t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()), (2023, 11, 14, 22, 13, 20));
        assert_eq!(zip_time(0).year(), 1980);
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn tar_gz_is_reproducible_and_sorted() {
        let entries = || {
            vec![
                Entry { path: "manifest.json".into(), mode: 0o644, data: b"{}".to_vec() },
                Entry { path: "bin/service".into(), mode: 0o755, data: vec![1, 2, 3] },
            ]
        };
        let a = tar_gz(entries(), 1_700_000_000).unwrap();
        assert_eq!(a, tar_gz(entries(), 1_700_000_000).unwrap());
        assert_ne!(a, tar_gz(entries(), 1_700_000_001).unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(a.as_slice()));
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["bin/", "bin/service", "manifest.json"]);
    }
}
