//! `dist/`'s layout, written once: where each file lives ([`DistLayout`]), what a package is
//! called ([`package_name`], [`Format`]), a SHA-256 ([`Sha256`]) and the checksum list beside the
//! packages ([`Sha256Sums`]: `SHA256SUMS` in `sha256sum`'s format, read and written here only).
//! Paths are computed, never read: the planner (`plan/`, pure) names its files with it too.
use std::{collections::BTreeMap, fmt};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::{
    error,
    newtype::{is_lower_hex, string_newtype},
};

/// The checksum list's file name.
pub(crate) const SUMS: &str = "SHA256SUMS";
/// An SBOM's ending (`<bin>-<version>-<target>.cdx.json`).
const SBOM: &str = ".cdx.json";
/// A provenance's ending (`<bin>-<version>-<context>.provenance.json`).
const PROVENANCE: &str = ".provenance.json";

/// Every path under a `dist/` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DistLayout {
    dir: Utf8PathBuf,
}

impl DistLayout {
    /// `dist/`'s name in the workspace's root.
    pub(crate) const DIR: &str = "dist";

    /// The workspace's `dist/`.
    pub(crate) fn new(root: &Utf8Path) -> DistLayout {
        DistLayout { dir: root.join(DistLayout::DIR) }
    }

    /// Another directory laid out the same (`distcopy --from DIR`).
    pub(crate) fn at(dir: &Utf8Path) -> DistLayout {
        DistLayout { dir: dir.to_owned() }
    }

    pub(crate) fn dir(&self) -> &Utf8Path {
        &self.dir
    }

    /// A file directly in `dist/` by its name (one that `SHA256SUMS` lists).
    pub(crate) fn file(&self, name: &str) -> Utf8PathBuf {
        self.dir.join(name)
    }

    /// `dist/<bin>-<version>-<target>.<ext>`.
    pub(crate) fn package(
        &self,
        bin: &str,
        version: &(impl fmt::Display + ?Sized),
        target: &(impl fmt::Display + ?Sized),
        format: Format,
    ) -> Utf8PathBuf {
        self.dir.join(package_name(bin, version, target, format.ext()))
    }

    /// `dist/SHA256SUMS`.
    pub(crate) fn sums(&self) -> Utf8PathBuf {
        self.dir.join(SUMS)
    }

    /// `dist/SHA256SUMS.sig`: cosign's signature of the list.
    pub(crate) fn sums_signature(&self) -> Utf8PathBuf {
        self.dir.join(format!("{SUMS}.sig"))
    }

    /// `dist/part-<target>.json`: what a part did, for `merge`.
    pub(crate) fn part(&self, target: &(impl fmt::Display + ?Sized)) -> Utf8PathBuf {
        self.dir.join(format!("part-{target}.json"))
    }

    /// `dist/<bin>-<version>-<target>.cdx.json`: the target's SBOM, beside its package.
    pub(crate) fn sbom(
        &self,
        bin: &str,
        version: &(impl fmt::Display + ?Sized),
        target: &(impl fmt::Display + ?Sized),
    ) -> Utf8PathBuf {
        self.dir.join(format!("{bin}-{version}-{target}{SBOM}"))
    }

    /// `dist/<bin>-<version>-<context>.provenance.json` (a context `a/b` as `a-b`): one image's
    /// SLSA provenance predicate.
    pub(crate) fn provenance(&self, bin: &str, version: &(impl fmt::Display + ?Sized), context: &str) -> Utf8PathBuf {
        self.dir.join(format!("{bin}-{version}-{}{PROVENANCE}", context.replace('/', "-")))
    }

    /// `dist/<bin>-<version>.retraction.json`: the predicate of `retract`'s attestation.
    pub(crate) fn retraction(&self, bin: &str, version: &(impl fmt::Display + ?Sized)) -> Utf8PathBuf {
        self.dir.join(format!("{bin}-{version}.retraction.json"))
    }
}

/// A package's file name: `<bin>-<version>-<target>.<ext>`.
pub(crate) fn package_name(
    bin: &str,
    version: &(impl fmt::Display + ?Sized),
    target: &(impl fmt::Display + ?Sized),
    ext: &str,
) -> String {
    format!("{bin}-{version}-{target}.{ext}")
}

/// Whether `name` (after `<bin>-<version>-`) is a file `dist/` holds per version of a binary:
/// a package, or an SBOM or provenance written beside it.
pub(crate) fn is_per_version(name: &str) -> bool {
    Format::of(name).is_some() || [SBOM, PROVENANCE].iter().any(|ending| name.ends_with(ending))
}

/// A package's archive format (in `--json`, its extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) enum Format {
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "zip")]
    Zip,
}

impl Format {
    /// `--format`: `tar.gz` (the default, also `tgz`) or `zip`.
    pub(crate) fn parse(s: Option<&str>) -> Result<Format> {
        match s.unwrap_or("tar.gz") {
            "tar.gz" | "tgz" => Ok(Format::TarGz),
            "zip" => Ok(Format::Zip),
            other => anyhow::bail!("unknown --format `{other}`: expected tar.gz or zip"),
        }
    }

    pub(crate) fn ext(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::Zip => "zip",
        }
    }

    /// The format of a package by its file name, `None` for a file that is no package.
    pub(crate) fn of(file_name: &str) -> Option<Format> {
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
    pub(crate) fn of(data: &[u8]) -> Sha256 {
        Sha256(format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(data)))
    }
}

/// `SHA256SUMS`: the SHA-256 of each file beside it, by file name, in `sha256sum`'s format
/// (`<sha256>  <name>`, or ` *<name>` for a file hashed in binary mode; one line each). Read
/// strictly: a line `sha256sum` would not write is an error that names it. Written sorted, in
/// text mode, as `sha256sum -c` reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sha256Sums(BTreeMap<String, Sha256>);

impl Sha256Sums {
    /// The list at `path`. A missing list says to run `cargo xtask dist`.
    pub(crate) fn read(path: &Utf8Path) -> Result<Sha256Sums> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(error::error_with_help(
                    format!("no packages: {path} does not exist"),
                    "run `cargo xtask dist` first",
                ))
            }
            Err(e) => return Err(e).with_context(|| format!("reading {path}")),
        };
        Sha256Sums::parse(&text).map_err(|why| {
            error::error_with_help(
                format!("{path}: {why}"),
                "write it with `cargo xtask dist` (or `sha256sum FILE… > SHA256SUMS` in its directory)",
            )
        })
    }

    /// The list in `text`, or the first line that is not one `sha256sum` writes, and why.
    pub(crate) fn parse(text: &str) -> Result<Sha256Sums, String> {
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
    pub(crate) fn get(&self, file_name: &str) -> Option<&Sha256> {
        self.0.get(file_name)
    }

    /// Each file's name and SHA-256, by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Sha256)> {
        self.0.iter().map(|(name, sum)| (name.as_str(), sum))
    }

    /// Lists `file_name` with `sum` (replacing what it listed for it); a name that no line can
    /// hold is refused.
    pub(crate) fn insert(&mut self, file_name: &str, sum: Sha256) -> Result<(), String> {
        check_name(file_name)?;
        self.0.insert(file_name.to_owned(), sum);
        Ok(())
    }

    /// Writes the list to `path`, whole or not at all.
    pub(crate) fn write(&self, path: &Utf8Path) -> Result<()> {
        super::write_atomic(path, self.to_string().as_bytes())
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
    fn sums_are_written_sorted_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::try_from(dir.path().join(SUMS)).unwrap();
        let mut sums = Sha256Sums::default();
        sums.insert("b.zip", sum(2)).unwrap();
        sums.insert("a.tar.gz", sum(1)).unwrap();
        assert!(sums.insert("x/a.tar.gz", sum(3)).unwrap_err().contains("is not the name of a file"));
        sums.write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}  a.tar.gz\n{}  b.zip\n", sum(1), sum(2)));
        assert_eq!(Sha256Sums::read(&path).unwrap(), sums);
        std::fs::write(&path, "nonsense\n").unwrap();
        let err = format!("{:#}", Sha256Sums::read(&path).unwrap_err());
        assert!(err.contains(&format!("{path}: line 1: \"nonsense\" is not a checksum line")), "{err}");
        let missing = format!("{:#}", Sha256Sums::read(&path.with_file_name("none")).unwrap_err());
        assert!(missing.contains("does not exist"), "{missing}");
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
