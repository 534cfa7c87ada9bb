//! What `reconcile` and `prune` do to a registry, decided from what it holds (pure, like the
//! rest of `plan/`): every moving tag back on the highest release that is not retracted, and the
//! dev tags of gone branches deleted, never a tag anything else needs.
use std::collections::BTreeMap;

use camino::Utf8Path;
use semver::Version;
use serde::Serialize;

use super::steps::{copy_tag_argv, skopeo_options, Step};
use crate::{reference::ImageRef, tags};

/// A tag the registry holds, as the preflight read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldTag {
    pub(crate) name: String,
    pub(crate) digest: String,
    /// The branch label of a dev build (`org.release-pipeline.branch`).
    pub(crate) branch: Option<String>,
    /// The image's `org.opencontainers.image.created` label (RFC 3339, UTC).
    pub(crate) created: Option<String>,
}

/// The releases of one context (its tag prefix) among a repository's tag names, retracted ones
/// aside: version → its tag. A release counts only once every context holds its version tag
/// (`all_prefixes`): a release stopped half-way is no moving tag's home until it is finished.
/// `reconcile` and the release's own tag step both decide with it.
pub(crate) fn releases<'a>(
    names: &[&'a str],
    prefix: &str,
    all_prefixes: &[&str],
    retracted: &[Version],
) -> BTreeMap<Version, &'a str> {
    let complete =
        |v: &Version| all_prefixes.iter().all(|p| names.iter().any(|n| *n == format!("{p}{}", tags::version_tag(v))));
    names
        .iter()
        .filter_map(|&name| Some((tags::as_version_tag(name.strip_prefix(prefix)?)?, name)))
        .filter(|(v, _)| !retracted.contains(v) && complete(v))
        .collect()
}

/// The moving-tag steps of one context (image `index` of `repository`, tags with `prefix`): a
/// copy for each moving tag not on the highest release it covers, and a `skip` for each that has
/// no release left to point at (it stays where it is).
pub(crate) fn reconcile(
    repository: &str,
    (index, prefix): (usize, &str),
    all_prefixes: &[&str],
    held: &[HeldTag],
    retracted: &[Version],
    authfile: Option<&Utf8Path>,
) -> Vec<Step> {
    let names: Vec<&str> = held.iter().map(|t| t.name.as_str()).collect();
    let released = releases(&names, prefix, all_prefixes, retracted);
    let versions: Vec<Version> = released.keys().cloned().collect();
    let digest_of = |tag: &str| held.iter().find(|t| t.name == tag).map(|t| t.digest.as_str());
    // The moving tags the releases call for, and any the registry holds besides.
    let mut moving: Vec<String> = tags::moving_tags_of(&versions);
    for t in held {
        if let Some(bare) = t.name.strip_prefix(prefix).filter(|b| tags::is_moving_tag(b)) {
            if !moving.iter().any(|m| m == bare) {
                moving.push(bare.to_owned());
            }
        }
    }
    let mut steps = Vec::new();
    for bare in moving {
        let tag = format!("{prefix}{bare}");
        match tags::moving_tag_home(&bare, &versions) {
            Some(home) => {
                let from = released[home];
                if digest_of(&tag) != digest_of(from) {
                    steps.push(Step::PointTag {
                        image: index,
                        argv: copy_tag_argv(authfile, repository, from, &tag),
                        tag,
                        from: from.to_owned(),
                    });
                }
            }
            None => steps.push(Step::Skip {
                what: ImageRef::tag(repository, &tag).to_string(),
                why: "no release it covers is left (the others are retracted or gone): it stays where it is".to_owned(),
                argv: Vec::new(),
            }),
        }
    }
    steps
}

/// Why `prune` keeps a tag of cosign's (`sha256-<hex>.sig|.att|.sbom`).
const COSIGN_OWNS_IT: &str = "cosign's tag (signature, attestation or SBOM): cosign owns it";

/// What `prune` decides for one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PruneDecision {
    pub(crate) tag: String,
    pub(crate) digest: String,
    pub(crate) prune: bool,
    pub(crate) reason: String,
}

/// Decides every tag of a repository: the dev builds of branches `remote_branches` no longer
/// has go, and with `cutoff` (an RFC 3339 UTC time) those created before it; version tags,
/// and moving tags stay, so does anything not built by this pipeline, and so does
/// a tag whose digest a kept tag holds (deleting the manifest would take that tag with it).
/// Cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`) are cosign's: never deleted.
pub(crate) fn prune(
    held: &[HeldTag],
    prefixes: &[&str],
    remote_branches: &[String],
    cutoff: Option<&str>,
) -> Vec<PruneDecision> {
    let is_kind = |name: &str, f: &dyn Fn(&str) -> bool| prefixes.iter().any(|p| name.strip_prefix(p).is_some_and(f));
    let mut decisions: Vec<PruneDecision> = held
        .iter()
        .filter(|t| !tags::is_cosign_tag(&t.name))
        .map(|t| {
            let (prune, reason) = if is_kind(&t.name, &|b| tags::as_version_tag(b).is_some()) {
                (false, "a version tag".to_owned())
            } else if is_kind(&t.name, &tags::is_moving_tag) {
                (false, "a moving tag".to_owned())
            } else {
                match &t.branch {
                    None => (false, "not a dev build of this pipeline (no branch label)".to_owned()),
                    Some(branch) if !remote_branches.contains(branch) => {
                        (true, format!("branch {branch} is gone from the remote"))
                    }
                    Some(branch) => match (cutoff, t.created.as_deref()) {
                        (Some(cutoff), Some(created)) if is_utc_time(created) && created < cutoff => {
                            (true, format!("created {created}, before {cutoff}"))
                        }
                        _ => (false, format!("branch {branch} exists on the remote")),
                    },
                }
            };
            PruneDecision { tag: t.name.clone(), digest: t.digest.clone(), prune, reason }
        })
        .collect();
    // Cosign owns its tags: kept, and so is what they hold (in the loop below).
    decisions.extend(held.iter().filter(|t| tags::is_cosign_tag(&t.name)).map(|t| PruneDecision {
        tag: t.name.clone(),
        digest: t.digest.clone(),
        prune: false,
        reason: COSIGN_OWNS_IT.to_owned(),
    }));
    // A manifest is deleted with every tag on it: a kept tag keeps its digest's other tags.
    loop {
        let kept: BTreeMap<&str, &str> =
            decisions.iter().filter(|d| !d.prune).map(|d| (d.digest.as_str(), d.tag.as_str())).collect();
        let spared: Vec<(usize, String)> = decisions
            .iter()
            .enumerate()
            .filter(|(_, d)| d.prune)
            .filter_map(|(i, d)| kept.get(d.digest.as_str()).map(|k| (i, (*k).to_owned())))
            .collect();
        if spared.is_empty() {
            break;
        }
        for (i, keeper) in spared {
            decisions[i].prune = false;
            decisions[i].reason = format!("shares its digest with {keeper}, which stays");
        }
    }
    decisions
}

/// `YYYY-MM-DDTHH:MM:SSZ`: the only form compared (as text, which orders it by time).
fn is_utc_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The delete steps of the decisions that prune.
pub(crate) fn prune_steps(repository: &str, decisions: &[PruneDecision], authfile: Option<&Utf8Path>) -> Vec<Step> {
    decisions
        .iter()
        .filter(|d| d.prune)
        .map(|d| {
            let mut argv = vec!["skopeo".to_owned(), "delete".to_owned()];
            argv.extend(skopeo_options(authfile, repository, &["--tls-verify"]));
            // By the digest decided on: whatever the tag holds by then is not deleted blindly.
            argv.push(format!("docker://{repository}@{}", d.digest));
            Step::Delete { tag: d.tag.clone(), digest: d.digest.clone(), reason: d.reason.clone(), argv }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(name: &str, digest: &str, branch: Option<&str>, created: Option<&str>) -> HeldTag {
        HeldTag {
            name: name.into(),
            digest: digest.into(),
            branch: branch.map(str::to_owned),
            created: created.map(str::to_owned),
        }
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    /// `tag → from` for each copy, `tag stays` for each skip.
    fn summary(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::PointTag { tag, from, .. } => format!("{tag} → {from}"),
                Step::Skip { what, .. } => format!("{what} stays"),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn moving_tags_go_back_to_the_highest_release_not_retracted() {
        let registry = [
            held("1.2.0", "sha256:a", None, None),
            held("1.3.0", "sha256:b", None, None),
            held("1.3", "sha256:b", None, None),
            held("1.2", "sha256:a", None, None),
            held("1", "sha256:a", None, None),      // moved back by hand
            held("latest", "sha256:a", None, None), // moved back by hand
            held("rpi-1.3.0", "sha256:c", None, None),
            held("rpi-latest", "sha256:c", None, None),
            held("feature-x", "sha256:d", Some("feature/x"), None),
        ];
        let both = ["", "rpi-"];
        // rpi-1.2.0 was never pushed, so 1.2.0 is a release stopped half-way: no home.
        // (1.2 stays where it is: its one release is not complete.)
        assert_eq!(
            summary(&reconcile("r/s", (0, ""), &both, &registry, &[], None)),
            ["1 → 1.3.0", "latest → 1.3.0", "r/s:1.2 stays"]
        );
        // The rpi- context is its own.
        assert_eq!(
            summary(&reconcile("r/s", (1, "rpi-"), &both, &registry, &[], None)),
            ["rpi-1 → rpi-1.3.0", "rpi-1.3 → rpi-1.3.0"]
        );
        // 1.3.0 retracted: 1.2.0 is not complete either, so nothing is left to point at.
        assert_eq!(
            summary(&reconcile("r/s", (0, ""), &both, &registry, &[v("1.3.0")], None)),
            ["1.3", "1.2", "1", "latest"].map(|s| format!("r/s:{s} stays"))
        );
        // With one context 1.2.0 is complete: 1, 1.2 and latest are on it already, 1.3 stays.
        assert_eq!(summary(&reconcile("r/s", (0, ""), &[""], &registry, &[v("1.3.0")], None)), ["r/s:1.3 stays"]);
    }

    #[test]
    fn prune_keeps_what_anything_else_needs() {
        let registry = [
            held("1.2.0", "sha256:r", None, None),
            held("latest", "sha256:r", None, None),
            held("rpi-1", "sha256:q", None, None),
            held("a", "sha256:a", Some("a"), Some("2026-01-01T00:00:00Z")),
            held("b", "sha256:b", Some("b"), Some("2026-01-01T00:00:00Z")),
            held("b-old", "sha256:bo", Some("b"), Some("2025-01-01T00:00:00Z")),
            held("c", "sha256:r", Some("c"), None), // the release's digest
            held("d", "sha256:d", Some("d"), None),
            held("d-twin", "sha256:d", Some("kept"), None),
            held("manual", "sha256:m", None, None),
            held("sha256-a.sig", "sha256:asig", None, None),
            held("sha256-b.sig", "sha256:bsig", None, None),
            // A dev build pushed over cosign's tag name (before dev tags were guarded).
            held("e", "sha256:esig", Some("e"), None),
            held("sha256-e.att", "sha256:esig", None, None),
        ];
        let remote = ["b".to_owned(), "kept".to_owned()];
        let decisions = prune(&registry, &["", "rpi-"], &remote, Some("2025-06-01T00:00:00Z"));
        // Created exactly at the cutoff is not older than it.
        let on_the_cutoff = [held("b-now", "sha256:bn", Some("b"), Some("2025-06-01T00:00:00Z"))];
        let kept = prune(&on_the_cutoff, &[""], &remote, Some("2025-06-01T00:00:00Z"));
        assert_eq!((kept[0].prune, kept[0].reason.as_str()), (false, "branch b exists on the remote"));
        let got: BTreeMap<&str, (bool, &str)> =
            decisions.iter().map(|d| (d.tag.as_str(), (d.prune, d.reason.as_str()))).collect();
        assert_eq!(got["1.2.0"], (false, "a version tag"));
        assert_eq!(got["latest"], (false, "a moving tag"));
        assert_eq!(got["rpi-1"], (false, "a moving tag"));
        assert_eq!(got["a"], (true, "branch a is gone from the remote"));
        assert_eq!(got["b"], (false, "branch b exists on the remote"));
        assert_eq!(got["b-old"], (true, "created 2025-01-01T00:00:00Z, before 2025-06-01T00:00:00Z"));
        assert_eq!(got["c"], (false, "shares its digest with latest, which stays"));
        assert_eq!(got["d"], (false, "shares its digest with d-twin, which stays"));
        assert_eq!(got["manual"], (false, "not a dev build of this pipeline (no branch label)"));
        // Cosign's tags are cosign's: never deleted, whatever becomes of the image they sign.
        for cosign in ["sha256-a.sig", "sha256-b.sig", "sha256-e.att"] {
            assert_eq!(got[cosign], (false, COSIGN_OWNS_IT), "{cosign}");
        }
        assert_eq!(got["e"], (false, "shares its digest with sha256-e.att, which stays"));
        let steps = prune_steps("127.0.0.1:5000/acme/service", &decisions, None);
        let argv: Vec<String> = steps.iter().map(|s| s.argv().join(" ")).collect();
        assert_eq!(
            argv,
            [
                "skopeo delete --tls-verify=false docker://127.0.0.1:5000/acme/service@sha256:a",
                "skopeo delete --tls-verify=false docker://127.0.0.1:5000/acme/service@sha256:bo",
            ]
        );
    }

    #[test]
    fn only_utc_times_in_our_form_are_compared() {
        assert!(is_utc_time("2026-11-26T17:00:13Z"));
        for other in ["2026-11-26T17:00:13+01:00", "2026-11-26", "", "2026-11-26T17:00:13.5Z", "20261126T170013Z123"] {
            assert!(!is_utc_time(other), "{other}");
        }
    }
}
