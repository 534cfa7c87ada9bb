//! `dist/`'s layout, written once: where each file lives ([`DistLayout`]), what a package is
//! called ([`package_name`], [`Format`]), a SHA-256 ([`Sha256`]) and the checksum list beside the
//! packages ([`Sha256Sums`]: `SHA256SUMS` in `sha256sum`'s format, read and written here only).
//! Paths are computed, never read: the planner (`plan/`, pure) names its files with it too.
use std::{collections::BTreeMap, fmt};

use camino::{Utf8Path, Utf8PathBuf};

use crate::{
    newtype::{is_lower_hex, string_newtype},
    platform::TargetTriple,
};

/// The checksum list's file name.
pub const SUMS: &str = "SHA256SUMS";
/// An SBOM's ending (`<bin>-<version>-<target>.cdx.json`).
const SBOM: &str = ".cdx.json";
/// A provenance's ending (`<bin>-<version>-<context>.provenance.json`).
const PROVENANCE: &str = ".provenance.json";
/// The notes' JSON ending (`<bin>-<version>.notes.json`).
const NOTES: &str = ".notes.json";

/// Every path under a `dist/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistLayout {
    dir: Utf8PathBuf,
}

impl DistLayout {
    /// `dist/`'s name in the workspace's root.
    pub const DIR: &str = "dist";

    /// The workspace's `dist/`.
    pub fn new(root: &Utf8Path) -> DistLayout {
        DistLayout { dir: root.join(DistLayout::DIR) }
    }

    /// Another directory laid out the same (`distcopy --from DIR`).
    pub fn at(dir: &Utf8Path) -> DistLayout {
        DistLayout { dir: dir.to_owned() }
    }

    pub fn dir(&self) -> &Utf8Path {
        &self.dir
    }

    /// A file directly in `dist/` by its name (one that `SHA256SUMS` lists).
    pub fn file(&self, name: &str) -> Utf8PathBuf {
        self.dir.join(name)
    }

    /// `dist/<bin>-<version>-<target>.<ext>`.
    pub fn package(
        &self,
        bin: &str,
        version: &(impl fmt::Display + ?Sized),
        target: &(impl fmt::Display + ?Sized),
        format: Format,
    ) -> Utf8PathBuf {
        self.dir.join(package_name(bin, version, target, format.ext()))
    }

    /// `dist/SHA256SUMS`.
    pub fn sums(&self) -> Utf8PathBuf {
        self.dir.join(SUMS)
    }

    /// `dist/SHA256SUMS.sig`: cosign's signature of the list.
    pub fn sums_signature(&self) -> Utf8PathBuf {
        self.dir.join(format!("{SUMS}.sig"))
    }

    /// `dist/part-<target>.json`: what a part did, for `merge`.
    pub fn part(&self, target: &(impl fmt::Display + ?Sized)) -> Utf8PathBuf {
        self.dir.join(format!("part-{target}.json"))
    }

    /// `dist/<bin>-<version>-<target>.cdx.json`: the target's SBOM, beside its package.
    pub fn sbom(
        &self,
        bin: &str,
        version: &(impl fmt::Display + ?Sized),
        target: &(impl fmt::Display + ?Sized),
    ) -> Utf8PathBuf {
        self.dir.join(format!("{bin}-{version}-{target}{SBOM}"))
    }

    /// `dist/<bin>-<version>-<context>.provenance.json` (a context `a/b` as `a-b`): one image's
    /// SLSA provenance predicate.
    pub fn provenance(&self, bin: &str, version: &(impl fmt::Display + ?Sized), context: &str) -> Utf8PathBuf {
        self.dir.join(format!("{bin}-{version}-{}{PROVENANCE}", context.replace('/', "-")))
    }

    /// `dist/RELEASE_NOTES.md`: the release's notes; with several services, the service's
    /// (`dist/RELEASE_NOTES-<service>.md`), since one run may release several.
    pub fn release_notes(&self, service: Option<&str>) -> Utf8PathBuf {
        match service {
            Some(name) => self.dir.join(format!("RELEASE_NOTES-{name}.md")),
            None => self.dir.join("RELEASE_NOTES.md"),
        }
    }

    /// `dist/<bin>-<version>.notes.json`: the notes as JSON, the predicate of their attestation.
    pub fn notes_predicate(&self, bin: &str, version: &(impl fmt::Display + ?Sized)) -> Utf8PathBuf {
        self.dir.join(format!("{bin}-{version}{NOTES}"))
    }

    /// `dist/<bin>-<version>.retraction.json`: the predicate of `retract`'s attestation.
    pub fn retraction(&self, bin: &str, version: &(impl fmt::Display + ?Sized)) -> Utf8PathBuf {
        self.dir.join(format!("{bin}-{version}.retraction.json"))
    }
}

/// A package's file name: `<bin>-<version>-<target>.<ext>`.
pub fn package_name(
    bin: &str,
    version: &(impl fmt::Display + ?Sized),
    target: &(impl fmt::Display + ?Sized),
    ext: &str,
) -> String {
    format!("{bin}-{version}-{target}.{ext}")
}

/// Whether `name` (after `<bin>-<version>-`) is a file `dist/` holds per version of a binary:
/// a package, or an SBOM or provenance written beside it.
pub fn is_per_version(name: &str) -> bool {
    Format::of(name).is_some() || [SBOM, PROVENANCE].iter().any(|ending| name.ends_with(ending))
}

/// A package's archive format (in `--json`, its extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Format {
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "zip")]
    Zip,
}

impl Format {
    /// `--format`: `tar.gz` (the default, also `tgz`) or `zip`.
    pub fn parse(s: Option<&str>) -> anyhow::Result<Format> {
        match s.unwrap_or("tar.gz") {
            "tar.gz" | "tgz" => Ok(Format::TarGz),
            "zip" => Ok(Format::Zip),
            other => anyhow::bail!("unknown --format `{other}`: expected tar.gz or zip"),
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::Zip => "zip",
        }
    }

    /// The format of a package by its file name, `None` for a file that is no package.
    pub fn of(file_name: &str) -> Option<Format> {
        [Format::TarGz, Format::Zip]
            .into_iter()
            .find(|f| file_name.strip_suffix(f.ext()).is_some_and(|stem| stem.len() > 1 && stem.ends_with('.')))
    }
}

string_newtype!(
    /// A SHA-256: 64 lowercase hex digits, as `sha256sum` writes it.
    Sha256,
    |text| match is_lower_hex(text, 64) {
        true => Ok(()),
        false => Err(format!("`{text}` is not a SHA-256 (64 lowercase hex digits)")),
    }
);

impl Sha256 {
    /// The SHA-256 of `data`.
    pub fn of(data: &[u8]) -> Sha256 {
        Sha256(format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(data)))
    }
}

/// `SHA256SUMS`: the SHA-256 of each file beside it, by file name, in `sha256sum`'s format
/// (`<sha256>  <name>`, or ` *<name>` for a file hashed in binary mode; one line each). Read
/// strictly: a line `sha256sum` would not write is an error that names it. Written sorted, in
/// text mode, as `sha256sum -c` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sha256Sums(BTreeMap<String, Sha256>);

impl Sha256Sums {
    /// The list in `text`, or the first line that is not one `sha256sum` writes, and why.
    pub fn parse(text: &str) -> Result<Sha256Sums, String> {
        let mut sums = Sha256Sums::default();
        let body = text.strip_suffix('\n').unwrap_or(text);
        if body.is_empty() {
            return Ok(sums);
        }
        for (n, line) in body.split('\n').enumerate() {
            let at = |why: String| format!("line {}: {why}", n + 1);
            let (sum, name) = split_line(line).map_err(at)?;
            let sum = Sha256::parse(sum).map_err(at)?;
            if sums.0.insert(name.to_owned(), sum).is_some() {
                return Err(at(format!("{name} is listed twice")));
            }
        }
        Ok(sums)
    }

    /// The SHA-256 the list gives `file_name`.
    pub fn get(&self, file_name: &str) -> Option<&Sha256> {
        self.0.get(file_name)
    }

    /// Each file's name and SHA-256, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sha256)> {
        self.0.iter().map(|(name, sum)| (name.as_str(), sum))
    }

    /// Lists `file_name` with `sum` (replacing what it listed for it); a name that no line can
    /// hold is refused.
    pub fn insert(&mut self, file_name: &str, sum: Sha256) -> Result<(), String> {
        check_name(file_name)?;
        self.0.insert(file_name.to_owned(), sum);
        Ok(())
    }
}

impl fmt::Display for Sha256Sums {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter().try_for_each(|(name, sum)| writeln!(f, "{sum}  {name}"))
    }
}

/// A line's SHA-256 and file name.
fn split_line(line: &str) -> Result<(&str, &str), String> {
    const FORMAT: &str = "`sha256sum` writes `<64 hex digits>  <file name>`, or ` *<file name>` in binary mode";
    if line.is_empty() {
        return Err(format!("an empty line ({FORMAT})"));
    }
    if line.starts_with('\\') {
        return Err("an escaped file name (one holding `\\` or a line break), which no file in dist/ has".to_owned());
    }
    if line.starts_with("SHA256 (") {
        return Err(format!("a BSD-style line (`sha256sum --tag`), which is not read: {FORMAT}"));
    }
    let Some((sum, name)) = line.split_at_checked(64).and_then(|(sum, rest)| {
        let name = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *"))?;
        Some((sum, name))
    }) else {
        return Err(format!("{line:?} is not a checksum line ({FORMAT})"));
    };
    check_name(name)?;
    Ok((sum, name))
}

/// A name `SHA256SUMS` may list: a file beside it, which one line holds as it is.
fn check_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\n', '\r']);
    match bad {
        false => Ok(()),
        true => Err(format!("{name:?} is not the name of a file beside {SUMS}")),
    }
}

/// Where a workspace's packages, checksums, SBOMs, provenances and parts' results go
/// ([`DistLayout::dir`]).
pub fn dist_dir(root: &Utf8Path) -> Utf8PathBuf {
    DistLayout::new(root).dir().to_owned()
}

/// The one `cargo build` of a service's binary for `targets`. Registry sources are compiled from
/// `cargo_home`; it is remapped so the binary (and so the package) is the same on every machine.
/// Workspace paths are relative already, std's are remapped.
pub fn cargo_build_argv(package: &str, bin: &str, targets: &[TargetTriple], cargo_home: Option<&str>) -> Vec<String> {
    let mut argv: Vec<String> = ["cargo", "build", "--release", "--locked", "-p", package, "--bin", bin]
        .iter()
        .map(|w| (*w).to_owned())
        .collect();
    for t in targets {
        argv.push("--target".to_owned());
        argv.push(t.to_string());
        if let Some(home) = cargo_home {
            let flag = serde_json::Value::from(format!("--remap-path-prefix={home}=/cargo"));
            argv.push("--config".to_owned());
            argv.push(format!("target.{t}.rustflags=[{flag}]"));
        }
    }
    argv
}

/// Seconds since the epoch → RFC 3339 in UTC (the `created` image label).
pub fn rfc3339(epoch: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_time(epoch);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Seconds since the epoch → (year, month, day, hour, minute, second) in UTC, with Howard
/// Hinnant's days-to-civil algorithm (no date crate for two timestamps).
pub fn civil_time(epoch: i64) -> (i64, u8, u8, u8, u8, u8) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8, (secs / 3600) as u8, (secs % 3600 / 60) as u8, (secs % 60) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(n: u8) -> Sha256 {
        Sha256::parse(&format!("{n:02x}").repeat(32)).unwrap()
    }

    #[track_caller]
    fn refused(text: &str, why: &str) {
        let err = Sha256Sums::parse(text).unwrap_err();
        assert!(err.contains(why), "{text:?}: {err}");
    }

    #[test]
    fn sha256() {
        assert_eq!(
            Sha256::of(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "FIPS 180-2's example"
        );
        for bad in ["", &"a".repeat(63), &"a".repeat(65), &"A".repeat(64), &"g".repeat(64)] {
            let err = Sha256::parse(bad).unwrap_err();
            assert!(err.ends_with("is not a SHA-256 (64 lowercase hex digits)"), "{bad}: {err}");
        }
    }

    /// Both forms `sha256sum` writes: text (`  `) and binary (` *`); written back in text form.
    #[test]
    fn sums_read_what_sha256sum_writes() {
        let text = format!("{}  app-1.0.0-x.tar.gz\n{} *app-1.0.0-y.zip\n", sum(1), sum(2));
        let sums = Sha256Sums::parse(&text).unwrap();
        assert_eq!(sums.get("app-1.0.0-x.tar.gz"), Some(&sum(1)));
        assert_eq!(sums.get("app-1.0.0-y.zip"), Some(&sum(2)), "binary mode");
        assert_eq!(sums.get("app-1.0.0-z.zip"), None);
        let listed: Vec<&str> = sums.iter().map(|(name, _)| name).collect();
        assert_eq!(listed, ["app-1.0.0-x.tar.gz", "app-1.0.0-y.zip"]);
        assert_eq!(sums.to_string(), format!("{}  app-1.0.0-x.tar.gz\n{}  app-1.0.0-y.zip\n", sum(1), sum(2)));
        assert_eq!(Sha256Sums::parse(&sums.to_string()).unwrap(), sums);
        // A last line without its line break, a name with spaces, an empty list.
        let unterminated = Sha256Sums::parse(&format!("{}  my file.tar.gz", sum(3))).unwrap();
        assert_eq!(unterminated.get("my file.tar.gz"), Some(&sum(3)));
        assert_eq!(Sha256Sums::parse("").unwrap(), Sha256Sums::default());
        assert_eq!(Sha256Sums::default().to_string(), "");
    }

    #[test]
    fn sums_refuse_lines_sha256sum_does_not_write() {
        let ok = format!("{}  a.tar.gz\n", sum(1));
        refused(&format!("{ok}\n"), "line 2: an empty line");
        refused(&format!("{ok}{}  b.tar.gz\r\n", sum(2)), "line 2: \"b.tar.gz\\r\" is not the name of a file");
        refused(&format!("{} a.tar.gz\n", sum(1)), "line 1: ");
        refused(&format!("{}\ta.tar.gz\n", sum(1)), "is not a checksum line");
        refused(&format!("{}  \n", sum(1)), "\"\" is not the name of a file");
        refused(&format!("{}  a.tar.gz\n", sum(0xab).as_str().to_uppercase()), "is not a SHA-256");
        refused(&format!("{}  a.tar.gz\n", &sum(1).as_str()[..63]), "is not a checksum line");
        refused(&format!("SHA256 (a.tar.gz) = {}\n", sum(1)), "a BSD-style line");
        refused(&format!("\\{}  a\\\\b.tar.gz\n", sum(1)), "an escaped file name");
        refused(&format!("{}  ../a.tar.gz\n", sum(1)), "is not the name of a file beside SHA256SUMS");
        refused(&format!("{}  ..\n", sum(1)), "is not the name of a file beside SHA256SUMS");
        refused(&format!("{ok}{}  a.tar.gz\n", sum(2)), "line 2: a.tar.gz is listed twice");
        refused("ü", "is not a checksum line");
    }

    #[test]
    fn the_layout_names_every_file() {
        let dist = DistLayout::new(Utf8Path::new("/w"));
        assert_eq!(dist.dir(), "/w/dist");
        assert_eq!(
            dist.package("app", "1.2.3", "x86_64-unknown-linux-musl", Format::Zip),
            "/w/dist/app-1.2.3-x86_64-unknown-linux-musl.zip"
        );
        assert_eq!(dist.sums(), "/w/dist/SHA256SUMS");
        assert_eq!(dist.sums_signature(), "/w/dist/SHA256SUMS.sig");
        assert_eq!(dist.part("aarch64-unknown-linux-gnu"), "/w/dist/part-aarch64-unknown-linux-gnu.json");
        assert_eq!(dist.sbom("app", "1.2.3", "t-u"), "/w/dist/app-1.2.3-t-u.cdx.json");
        assert_eq!(dist.provenance("app", "1.2.3", "a/docker"), "/w/dist/app-1.2.3-a-docker.provenance.json");
        assert_eq!(dist.retraction("app", "1.2.3"), "/w/dist/app-1.2.3.retraction.json");
        assert_eq!(DistLayout::at(Utf8Path::new("/elsewhere")).file("x.tar.gz"), "/elsewhere/x.tar.gz");
        for (name, format) in [
            ("a-1-t.tar.gz", Some(Format::TarGz)),
            ("a-1-t.zip", Some(Format::Zip)),
            ("zip", None),
            (".zip", None),
            ("a.tgz", None),
        ] {
            assert_eq!(Format::of(name), format, "{name}");
        }
        for name in ["a-1-t.tar.gz", "a-1-t.zip", "a-1-t.cdx.json", "a-1-docker.provenance.json"] {
            assert!(is_per_version(name), "{name}");
        }
        assert!(!is_per_version("a-1.retraction.json") && !is_per_version(SUMS));
    }
}
