//! The version rules: tags → version. All of them live here; `version.rs` of the library reads
//! git with them.
//!
//! setuptools_scm's `guess-next-dev` with no local part, with three changes: version tags are
//! SemVer (optionally `v`-prefixed, after `version-tag-prefix`); the base is the *highest*
//! version tag reachable from HEAD, not the nearest; and a shallow clone is an error (rather
//! than a possibly lower version) unless HEAD is exactly on a version tag.
use semver::{Prerelease, Version};
use serde::Serialize;

/// Used as the version outside a git repository (a build from a source tarball).
pub const OVERRIDE_VAR: &str = "RELEASE_VERSION";

/// What `cargo xtask version --format json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    #[serde(serialize_with = "serialize_display")]
    pub semver: Version,
    pub pep440: Option<String>,
    /// The base tag's name.
    pub tag: Option<String>,
    pub distance: u64,
    pub commit: Option<String>,
    pub dirty: bool,
    pub shallow: bool,
}

impl VersionInfo {
    /// HEAD is exactly on the base tag and the tree is clean: a release version.
    pub fn is_release(&self) -> bool {
        self.tag.is_some() && self.distance == 0 && !self.dirty
    }
}

pub fn serialize_display<S: serde::Serializer>(v: &impl std::fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// How a tag name reads under the version rules.
#[derive(Debug, PartialEq, Eq)]
pub enum TagKind {
    Version(Version),
    /// Looks like a version (`1.2`, `v1.2.3.4`, `9.0.2-`) but is not SemVer: ignored, with a
    /// warning.
    NotSemver,
    Other,
}

pub fn parse_tag(name: &str, prefix: &str) -> TagKind {
    let Some(rest) = name.strip_prefix(prefix) else { return TagKind::Other };
    // Byte checks first: in a repository of several crates most tags are other crates'
    // (`ignore-0.4.1`), settled without a parse.
    let bare = match rest.as_bytes().first() {
        Some(b'0'..=b'9') => rest,
        Some(b'v') => &rest[1..],
        // `V1.2.3` (or `Vv1.2.3`): almost a version tag, worth a warning.
        Some(b'V') if matches!(parse_tag(&rest[1..], ""), TagKind::Version(_)) => return TagKind::NotSemver,
        _ => return TagKind::Other,
    };
    if !bare.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return TagKind::Other;
    }
    match Version::parse(bare) {
        Ok(v) => TagKind::Version(v),
        Err(_) if bare.bytes().all(|c| c.is_ascii_digit() || c == b'.') || core_then_suffix(bare) => TagKind::NotSemver,
        Err(_) => TagKind::Other,
    }
}

/// `X.Y.Z-…` or `X.Y.Z+…` (digits only in `X.Y.Z`): a version whose pre-release or build part
/// SemVer refuses (`9.0.0-x/y`, `9.0.2-`). Byte checks only: it runs on failed parses alone.
fn core_then_suffix(bare: &str) -> bool {
    let Some(end) = bare.bytes().position(|c| c == b'-' || c == b'+') else { return false };
    let core = &bare.as_bytes()[..end];
    core.split(|c| *c == b'.').count() == 3
        && core.split(|c| *c == b'.').all(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

/// The version of a commit `distance` commits past `base` (or dirty on it).
pub fn dev_version(base: &Version, distance: u64) -> Version {
    let mut next = base.clone();
    if base.pre.is_empty() {
        next.patch += 1;
        next.pre = prerelease(&format!("dev.{distance}"));
    } else {
        // Bump the last number of the pre-release: rc.1 → rc.2, rc1 → rc2, alpha → alpha.1.
        let mut idents: Vec<String> = base.pre.split('.').map(str::to_owned).collect();
        let last = idents.last_mut().expect("a pre-release has an identifier");
        let digits_at = last.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        match last[digits_at..].parse::<u64>() {
            Ok(n) => *last = format!("{}{}", &last[..digits_at], n + 1),
            Err(_) => idents.push("1".to_owned()),
        }
        idents.push(format!("dev.{distance}"));
        next.pre = prerelease(&idents.join("."));
    }
    next
}

pub fn prerelease(s: &str) -> Prerelease {
    Prerelease::new(s).expect("built from valid identifiers")
}

/// The PEP 440 form of a SemVer version, as `packaging` normalizes it; `None` when there is none
/// (`1.0.0-foo.1`). Build metadata becomes the local version (`+build7`), as setuptools_scm
/// keeps a tag's local part on the dev versions after it.
pub fn pep440(v: &Version) -> Option<String> {
    let mut out = format!("{}.{}.{}", v.major, v.minor, v.patch);
    let idents: Vec<&str> = if v.pre.is_empty() { Vec::new() } else { v.pre.split('.').collect() };
    let mut rest = idents.as_slice();
    // Optional pre-release segment: a label with its number joined (`rc1`) or next (`rc.1`).
    if let Some((first, tail)) = rest.split_first() {
        let lower = first.to_ascii_lowercase();
        let label_len = lower.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let pep_label = match &lower[..label_len] {
            "a" | "alpha" => Some("a"),
            "b" | "beta" => Some("b"),
            "c" | "rc" | "pre" | "preview" => Some("rc"),
            _ => None,
        };
        if let Some(label) = pep_label {
            let (number, tail) = segment_number(&lower[label_len..], tail)?;
            out.push_str(&format!("{label}{number}"));
            rest = tail;
        }
    }
    // Optional dev segment: `dev.5` or `dev5`.
    if let Some((first, tail)) = rest.split_first() {
        let lower = first.to_ascii_lowercase();
        if let Some(joined) = lower.strip_prefix("dev") {
            let (number, tail) = segment_number(joined, tail)?;
            out.push_str(&format!(".dev{number}"));
            rest = tail;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    if !v.build.is_empty() {
        out.push('+');
        out.push_str(&v.build.as_str().to_ascii_lowercase().replace('-', "."));
    }
    Some(out)
}

/// The number of a PEP 440 segment: joined to its label (`rc1`: `joined` = "1"), the next
/// identifier (`rc.1`), or 0 when there is none (`alpha`). `None` when `joined` is not a number.
fn segment_number<'a>(joined: &str, tail: &'a [&'a str]) -> Option<(u64, &'a [&'a str])> {
    if !joined.is_empty() {
        return Some((joined.parse().ok()?, tail));
    }
    match tail.split_first() {
        Some((n, t)) if n.parse::<u64>().is_ok() => Some((n.parse().ok()?, t)),
        _ => Some((0, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each rule of a tag name, on both sides of its line: a version, a near-version worth a
    /// warning, or another name.
    #[test]
    fn tag_names_are_read_by_the_rules() {
        let version = |s: &str| TagKind::Version(Version::parse(s).unwrap());
        let cases = [
            ("1.2.3", "", version("1.2.3")),
            ("v1.2.3-rc.1", "", version("1.2.3-rc.1")),
            ("ignore-0.4.1", "ignore-", version("0.4.1")),
            ("ignore-0.4.1", "", TagKind::Other),
            ("1.2.3", "svc-", TagKind::Other),
            // A capital V before a version: almost one.
            ("V1.2.3", "", TagKind::NotSemver),
            ("Vv1.2.3", "", TagKind::NotSemver),
            ("V1.2", "", TagKind::Other),
            ("Vfoo", "", TagKind::Other),
            ("v", "", TagKind::Other),
            ("vx1", "", TagKind::Other),
            // Digits and dots, not SemVer.
            ("1.2", "", TagKind::NotSemver),
            ("v1.2.3.4", "", TagKind::NotSemver),
            // X.Y.Z with a pre-release or build part SemVer refuses.
            ("9.0.2-", "", TagKind::NotSemver),
            ("9.0.0+", "", TagKind::NotSemver),
            ("9.0.0-x/y", "", TagKind::NotSemver),
            ("9.0.0+x/y", "", TagKind::NotSemver),
            // Not X.Y.Z before the suffix.
            ("1-2", "", TagKind::Other),
            ("1.2-x", "", TagKind::Other),
            ("1.2.3.4-x", "", TagKind::Other),
            ("1..2-x", "", TagKind::Other),
            ("1.a.2-x", "", TagKind::Other),
            ("2024-01-01", "", TagKind::Other),
        ];
        for (name, prefix, want) in cases {
            assert_eq!(parse_tag(name, prefix), want, "{prefix}: {name}");
        }
    }

    /// Each PEP 440 segment rule: the labels and their spellings, a number joined, next or
    /// absent, the dev segment, what has no PEP 440 form, the local part.
    #[test]
    fn pep440_forms() {
        let cases = [
            ("1.2.3", Some("1.2.3")),
            ("1.2.3-alpha", Some("1.2.3a0")),
            ("1.2.3-a.1", Some("1.2.3a1")),
            ("1.2.3-beta.2", Some("1.2.3b2")),
            ("1.2.3-b1", Some("1.2.3b1")),
            ("1.2.3-rc.1", Some("1.2.3rc1")),
            ("1.2.3-c1", Some("1.2.3rc1")),
            ("1.2.3-pre.2", Some("1.2.3rc2")),
            ("1.2.3-preview", Some("1.2.3rc0")),
            ("1.2.4-dev.5", Some("1.2.4.dev5")),
            ("1.2.4-dev5", Some("1.2.4.dev5")),
            ("1.2.4-rc.2.dev.3", Some("1.2.4rc2.dev3")),
            // A label with no number, then the dev segment.
            ("1.2.4-rc.dev.3", Some("1.2.4rc0.dev3")),
            ("1.2.3+Build-7", Some("1.2.3+build.7")),
            ("1.0.0-foo.1", None),
            ("1.2.3-rc.x", None),
            ("1.2.3-rcx", None),
        ];
        for (semver, want) in cases {
            assert_eq!(pep440(&Version::parse(semver).unwrap()).as_deref(), want, "{semver}");
        }
    }
}
