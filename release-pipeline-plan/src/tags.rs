//! Image tag rules: a branch name made into a dev tag that can never pass for a release tag, and
//! the tags of a release (its version, then the moving `X.Y`, `X`, `latest`).
use semver::Version;
use sha2::{Digest, Sha256};

use crate::version::{parse_tag, TagKind};

/// Docker's limit for a tag, prefix included.
pub const MAX_TAG_LEN: usize = 128;
/// Put before a branch name that would otherwise look like a release tag, a context's tag or
/// one of cosign's tags.
pub const BRANCH_GUARD: &str = "branch-";
/// What every staging tag starts with: a push no user pulls (`--part`, a signed build).
pub use crate::config::STAGING_PREFIX;

/// The tag a part pushes one platform of one image under: `staging-`, the commit, the image's
/// primary tag and the platform, cut to docker's limit with a hash of the whole.
pub fn staging_tag(commit: &str, primary: &str, platform: &str) -> String {
    let full = format!("{STAGING_PREFIX}{}-{primary}-{}", &commit[..commit.len().min(12)], platform.replace('/', "-"));
    if full.len() <= MAX_TAG_LEN {
        return full;
    }
    let hash = short_hash(&full);
    format!("{}-{hash}", &full[..MAX_TAG_LEN - 1 - hash.len()])
}

/// Whether `name` is a branch name `git check-ref-format --branch` accepts.
pub fn is_valid_branch(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name != "HEAD"
        && gix_validate::reference::name(format!("refs/heads/{name}").as_str().into()).is_ok()
}

/// The dev tag of `branch` for a context with `prefix`; `all_prefixes` are every context's
/// prefixes (a name starting with one of them is guarded, so `rpi-latest` never lands on the
/// ARM context's `rpi-latest`). `version_tag_prefix` is the configured version tag prefix.
pub fn dev_tag(branch: &str, prefix: &str, all_prefixes: &[&str], version_tag_prefix: &str) -> String {
    let mut name = String::with_capacity(branch.len());
    let mut in_run = false;
    for c in branch.chars() {
        if c.is_ascii_alphanumeric() || "_.-".contains(c) {
            name.push(c);
            in_run = false;
        } else if !in_run {
            name.push('-');
            in_run = true;
        }
    }
    let name = name.trim_start_matches(['.', '-']);
    let hash = short_hash(branch);
    let name = if name.is_empty() {
        format!("{BRANCH_GUARD}{hash}")
    } else if looks_like_release(name, version_tag_prefix)
        || name.starts_with(STAGING_PREFIX)
        || all_prefixes.iter().any(|p| !p.is_empty() && name.starts_with(p))
        || is_cosign_tag(name)
        || is_cosign_tag(&format!("{prefix}{name}"))
    {
        format!("{BRANCH_GUARD}{name}")
    } else {
        name.to_owned()
    };
    let full = format!("{prefix}{name}");
    if full.len() <= MAX_TAG_LEN {
        return full;
    }
    // Cut, and end in the hash of the whole branch name so two long names never share a tag.
    let keep = MAX_TAG_LEN - 1 - hash.len();
    format!("{}-{hash}", &full[..keep]) // ASCII only: any index is a char boundary
}

/// `latest`, or anything that could be read as a version: a version tag, or digits and dots
/// (`parse_tag` calls those `NotSemver`; a name here never starts with a dot).
fn looks_like_release(name: &str, version_tag_prefix: &str) -> bool {
    name == "latest"
        || !matches!(parse_tag(name, ""), TagKind::Other)
        || (!version_tag_prefix.is_empty() && !matches!(parse_tag(name, version_tag_prefix), TagKind::Other))
}

/// Whether `tag` is one of cosign's: `sha256-<hex>.sig`, `.att` or `.sbom`, stored beside the
/// image whose digest it names. Cosign owns these tags: the pipeline never writes or deletes one.
pub fn is_cosign_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").and_then(|rest| rest.rsplit_once('.')).is_some_and(|(hex, kind)| {
        !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) && ["sig", "att", "sbom"].contains(&kind)
    })
}

fn short_hash(s: &str) -> String {
    format!("{:x}", Sha256::digest(s.as_bytes()))[..8].to_owned()
}

#[cfg(test)]
/// Whether `tag` is a valid image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn is_valid_image_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= MAX_TAG_LEN
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The tags of a release, unprefixed: the version itself, then the moving tags it may move.
/// A moving tag moves only if this release is the highest release carrying it among
/// `releases` (every version tag of the repository); pre-releases get only their own tag.
pub fn release_tags(version: &Version, releases: &[Version]) -> (String, Vec<String>) {
    let own = version_tag(version);
    if !version.pre.is_empty() {
        return (own, Vec::new());
    }
    let higher_exists = |same: &dyn Fn(&Version) -> bool| {
        releases.iter().any(|r| r.pre.is_empty() && same(r) && r.cmp_precedence(version).is_gt())
    };
    let mut moving = Vec::new();
    if !higher_exists(&|r| r.major == version.major && r.minor == version.minor) {
        moving.push(format!("{}.{}", version.major, version.minor));
    }
    if version.major > 0 && !higher_exists(&|r| r.major == version.major) {
        moving.push(version.major.to_string());
    }
    if !higher_exists(&|_| true) {
        moving.push("latest".to_owned());
    }
    (own, moving)
}

/// Whether an unprefixed tag is a moving tag: `latest`, `X` (X > 0) or `X.Y`.
pub fn is_moving_tag(tag: &str) -> bool {
    let numbers: Option<Vec<u64>> = tag.split('.').map(|p| p.parse().ok()).collect();
    tag == "latest"
        || match numbers.as_deref() {
            // No leading zero: so neither `0` (major 0 has no `X` tag) nor `01`.
            Some([_]) => !tag.starts_with('0'),
            Some([_, _]) => !tag.starts_with('.') && tag.split('.').all(|p| p == "0" || !p.starts_with('0')),
            _ => false,
        }
}

/// The moving tags the releases call for (unprefixed): `latest`, each major's `X` (X > 0) and
/// each `X.Y`, from the releases that are not pre-releases.
pub fn moving_tags_of(releases: &[Version]) -> Vec<String> {
    let mut tags = std::collections::BTreeSet::new();
    for v in releases.iter().filter(|v| v.pre.is_empty()) {
        tags.insert("latest".to_owned());
        if v.major > 0 {
            tags.insert(v.major.to_string());
        }
        tags.insert(format!("{}.{}", v.major, v.minor));
    }
    tags.into_iter().collect()
}

/// Whether an unprefixed tag is the version tag of a release (`1.2.3`, `1.3.0-rc.1`).
pub fn as_version_tag(tag: &str) -> Option<Version> {
    match parse_tag(tag, "") {
        TagKind::Version(v) if tag == version_tag(&v) => Some(v),
        _ => None,
    }
}

/// Where a moving tag (unprefixed: `1.2`, `1`, `latest`) belongs: on the highest release (no
/// pre-release) among `released` (the versions whose tags the registry holds) that the tag
/// covers. `None` when no release covers it, or it is not a moving tag.
pub fn moving_tag_home<'a>(moving: &str, released: &'a [Version]) -> Option<&'a Version> {
    let covers: Box<dyn Fn(&Version) -> bool> = if moving == "latest" {
        Box::new(|_| true)
    } else {
        let parts: Vec<u64> = moving.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        match parts[..] {
            [major] if major > 0 => Box::new(move |v| v.major == major),
            [major, minor] => Box::new(move |v| v.major == major && v.minor == minor),
            _ => return None,
        }
    };
    released.iter().filter(|v| v.pre.is_empty() && covers(v)).max_by(|a, b| a.cmp_precedence(b))
}

/// The releases (no pre-release) among `released` that the moving tag covers, highest first:
/// where it may land, best first (`plan::moving` passes over those that do not qualify).
pub fn moving_tag_candidates<'a>(moving: &str, released: &'a [Version]) -> Vec<&'a Version> {
    let mut candidates: Vec<&Version> =
        released.iter().filter(|v| moving_tag_home(moving, std::slice::from_ref(*v)).is_some()).collect();
    candidates.sort_by(|a, b| b.cmp_precedence(a));
    candidates
}

/// The version tag a release pushes, unprefixed: `1.2.3`, `1.3.0-rc.1` (no build metadata).
pub fn version_tag(version: &Version) -> String {
    format!("{}.{}.{}{}", version.major, version.minor, version.patch, pre_suffix(version))
}

fn pre_suffix(v: &Version) -> String {
    if v.pre.is_empty() {
        String::new()
    } else {
        format!("-{}", v.pre)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Digits and dots that are no version at all still look like one to a person: guarded.
    #[test]
    fn numeric_branch_names_are_guarded() {
        for branch in ["1..2", "2024", "1.2.3.4.5", "10..", "0"] {
            assert_eq!(dev_tag(branch, "", &[""], ""), format!("{BRANCH_GUARD}{branch}"), "{branch}");
        }
        assert_eq!(dev_tag("1a", "", &[""], ""), "1a");
    }

    #[test]
    fn moving_and_version_tags_are_told_apart() {
        for moving in ["latest", "1", "12", "1.2", "0.3", "1.0", "10.20"] {
            assert!(is_moving_tag(moving), "{moving}");
        }
        for other in ["0", "01", "1.02", "1.2.3", "v1", "1.", ".1", "latest-x", "", "1.2.x", "feature-1"] {
            assert!(!is_moving_tag(other), "{other}");
        }
        assert_eq!(as_version_tag("1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(as_version_tag("1.3.0-rc.1").map(|v| v.to_string()).as_deref(), Some("1.3.0-rc.1"));
        for other in ["v1.2.3", "1.2", "latest", "1.2.3+build", "feature"] {
            assert_eq!(as_version_tag(other), None, "{other}");
        }
        let releases: Vec<Version> =
            ["0.9.0", "1.2.0", "1.3.1", "2.0.0-rc.1"].iter().map(|v| Version::parse(v).unwrap()).collect();
        assert_eq!(moving_tags_of(&releases), ["0.9", "1", "1.2", "1.3", "latest"]);
        assert_eq!(moving_tags_of(&[]), Vec::<String>::new());
    }

    const PREFIXES: &[&str] = &["", "rpi-"];

    #[track_caller]
    fn check(branch: &str, plain: &str, rpi: &str) {
        assert_eq!(dev_tag(branch, "", PREFIXES, ""), plain, "{branch:?}");
        assert_eq!(dev_tag(branch, "rpi-", PREFIXES, ""), rpi, "{branch:?}");
    }

    #[test]
    fn staging_tags() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(staging_tag(commit, "rpi-1.2.3", "linux/arm/v7"), "staging-0123456789ab-rpi-1.2.3-linux-arm-v7");
        let long = staging_tag(commit, &"b".repeat(128), "linux/amd64");
        assert_eq!(long.len(), MAX_TAG_LEN);
        assert!(is_valid_image_tag(&long) && long.starts_with(STAGING_PREFIX));
        // A staging tag starts with `staging-`: never one of cosign's tags.
        let digest = "a".repeat(64);
        assert!(!is_cosign_tag(&staging_tag(commit, &format!("sha256-{digest}.sig"), "linux/amd64")));
        assert_ne!(long, staging_tag(commit, &"b".repeat(127), "linux/amd64"), "cut tags keep a hash of the whole");
    }

    #[test]
    fn dev_tags() {
        check("feature/add-doodad", "feature-add-doodad", "rpi-feature-add-doodad");
        check("feature/a#1", "feature-a-1", "rpi-feature-a-1");
        check("Feature/UPPER", "Feature-UPPER", "rpi-Feature-UPPER");
        check("#lead", "lead", "rpi-lead");
        check("a//b", "a-b", "rpi-a-b");
        check("latest", "branch-latest", "rpi-branch-latest");
        check("1.2", "branch-1.2", "rpi-branch-1.2");
        check("1", "branch-1", "rpi-branch-1");
        check("v3.0.0", "branch-v3.0.0", "rpi-branch-v3.0.0");
        check("v2.0.0-rc.1", "branch-v2.0.0-rc.1", "rpi-branch-v2.0.0-rc.1");
        check("1.2.3.4", "branch-1.2.3.4", "rpi-branch-1.2.3.4");
        check("rpi-latest", "branch-rpi-latest", "rpi-branch-rpi-latest");
        check("staging-x", "branch-staging-x", "rpi-branch-staging-x");
        check("staging", "staging", "rpi-staging");
        // Cosign's signature, attestation and SBOM tags: a release's signature is never overwritten.
        let digest = "0123456789abcdef".repeat(4);
        for kind in ["sig", "att", "sbom"] {
            let branch = format!("sha256-{digest}.{kind}");
            check(&branch, &format!("branch-{branch}"), &format!("rpi-branch-{branch}"));
        }
        check("sha256-cafe.sig", "branch-sha256-cafe.sig", "rpi-branch-sha256-cafe.sig");
        check("sha256-cafe.sigs", "sha256-cafe.sigs", "rpi-sha256-cafe.sigs");
        // A context prefix that ends where cosign's tags begin: the whole tag is what counts.
        assert_eq!(dev_tag("cafe.sig", "sha256-", &["sha256-"], ""), "sha256-branch-cafe.sig");
        check("main", "main", "rpi-main");
        check("héllo/wörld", "h-llo-w-rld", "rpi-h-llo-w-rld");
        let hash = &short_hash("###");
        check("###", &format!("branch-{hash}"), &format!("rpi-branch-{hash}"));
    }

    #[test]
    fn version_tag_prefix_names_are_guarded() {
        assert_eq!(dev_tag("release-1.2.3", "", PREFIXES, "release-"), "branch-release-1.2.3");
        assert_eq!(dev_tag("release-notes", "", PREFIXES, "release-"), "release-notes");
    }

    #[test]
    fn long_names_are_cut_with_a_hash() {
        let long_a = format!("feature/{}", "a".repeat(300));
        let long_b = format!("feature/{}b", "a".repeat(299));
        let (a, b) = (dev_tag(&long_a, "rpi-", PREFIXES, ""), dev_tag(&long_b, "rpi-", PREFIXES, ""));
        assert_eq!(a.len(), 128);
        assert!(a.starts_with("rpi-feature-aaa"));
        assert!(a.ends_with(&format!("-{}", short_hash(&long_a))));
        assert_ne!(a, b);
        assert_eq!(dev_tag(&long_a, "", PREFIXES, "").len(), 128);
    }

    #[test]
    fn branch_names_like_git_check_ref_format() {
        for ok in ["main", "feature/a#1", "#lead", "latest", "héllo", "a.b"] {
            assert!(is_valid_branch(ok), "{ok}");
        }
        for bad in ["-lead", "..dots", "a b", "a..b", "a~b", "a^b", "a:b", "", "HEAD", "a.lock", "a/", "@{x}"] {
            assert!(!is_valid_branch(bad), "{bad}");
        }
    }

    #[track_caller]
    fn check_release(version: &str, others: &[&str], own: &str, moving: &[&str]) {
        let releases: Vec<Version> = others.iter().chain([&version]).map(|v| Version::parse(v).unwrap()).collect();
        let (o, m) = release_tags(&Version::parse(version).unwrap(), &releases);
        assert_eq!((o.as_str(), m.iter().map(String::as_str).collect::<Vec<_>>().as_slice()), (own, moving));
    }

    #[test]
    fn release_tag_rules() {
        check_release("1.2.3", &[], "1.2.3", &["1.2", "1", "latest"]);
        check_release("1.9.1", &["2.0.0", "1.9.0"], "1.9.1", &["1.9", "1"]);
        check_release("1.9.1", &["2.0.0", "1.10.0"], "1.9.1", &["1.9"]);
        check_release("1.9.1", &["1.9.2"], "1.9.1", &[]);
        check_release("0.3.1", &[], "0.3.1", &["0.3", "latest"]);
        check_release("1.3.0-rc.1", &[], "1.3.0-rc.1", &[]);
        check_release("1.2.3", &["1.3.0-rc.1"], "1.2.3", &["1.2", "1", "latest"]);
        check_release("2.0.0", &["2.0.0"], "2.0.0", &["2.0", "2", "latest"]);
    }

    #[test]
    fn moving_tags_belong_on_the_highest_release_they_cover() {
        let released: Vec<Version> = ["1.9.1", "2.0.0", "2.0.1", "2.1.0", "2.2.0-rc.1", "0.4.0", "0.4.2"]
            .iter()
            .map(|v| Version::parse(v).unwrap())
            .collect();
        let home = |m: &str| moving_tag_home(m, &released).map(|v| v.to_string());
        assert_eq!(home("latest").as_deref(), Some("2.1.0"));
        assert_eq!(home("2").as_deref(), Some("2.1.0"));
        assert_eq!(home("2.0").as_deref(), Some("2.0.1"));
        assert_eq!(home("1").as_deref(), Some("1.9.1"));
        assert_eq!(home("1.9").as_deref(), Some("1.9.1"));
        assert_eq!(home("0.4").as_deref(), Some("0.4.2"));
        assert_eq!(home("2.2"), None, "a pre-release never carries a moving tag");
        assert_eq!(home("0"), None, "there is no moving tag `0`");
        assert_eq!(home("3"), None);
        assert_eq!(home("feature-x"), None);
        assert_eq!(home("1.2.3"), None);
        assert_eq!(moving_tag_home("latest", &[]), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]
        /// The structural guarantee: a dev tag is never `latest`, a version, a moving tag or
        /// one of cosign's tags, and always a valid image tag.
        #[test]
        fn dev_tags_never_pass_for_release_tags(branch in "[a-zA-Z0-9/#._ lé-]{0,40}|[0-9.v]{1,12}|(rpi-)?(latest|v?[0-9]+(\\.[0-9]+){0,2})|(rpi-)?sha256-[0-9a-fA-F]{1,64}\\.(sig|att|sbom)") {
            for prefix in PREFIXES {
                let tag = dev_tag(&branch, prefix, PREFIXES, "");
                prop_assert!(is_valid_image_tag(&tag), "{tag:?}");
                let unprefixed = &tag[prefix.len()..];
                prop_assert!(unprefixed != "latest");
                prop_assert!(matches!(parse_tag(unprefixed, ""), TagKind::Other), "{tag:?}");
                prop_assert!(!unprefixed.chars().all(|c| c.is_ascii_digit() || c == '.'), "{tag:?}");
                prop_assert!(!unprefixed.starts_with("rpi-"), "{tag:?} would pass for an ARM context's tag");
                prop_assert!(!is_cosign_tag(&tag), "{tag:?} is cosign's tag");
            }
        }
    }
}
