//! What `reconcile` and `prune` do to a registry, decided from what it holds (pure, like the
//! rest of `plan/`): every moving tag back on the highest release that is not retracted, and the
//! dev tags of gone branches deleted, never a tag anything else needs.
use std::collections::BTreeMap;

use camino::Utf8Path;
use semver::Version;
use serde::Serialize;

use crate::reference::Digest;

use super::{
    step::Step,
    steps::{copy_digest_argv, skopeo_options},
};
use crate::{reference::ImageRef, tags};

/// A tag the registry holds, as the preflight read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldTag {
    pub name: String,
    pub digest: Digest,
    /// The branch label of a dev build (`org.release-pipeline.branch`).
    pub branch: Option<String>,
    /// The image's `org.opencontainers.image.created` label (RFC 3339, UTC).
    pub created: Option<String>,
    /// The manifests of an index (their digests); none for a single manifest.
    pub manifests: Vec<Digest>,
}

/// The releases of one context (its tag prefix) among a repository's tag names, retracted ones
/// aside: version → its tag. A release counts only once every context holds its version tag
/// (`all_prefixes`): a release stopped half-way is no moving tag's home until it is finished.
/// `reconcile` and the release's own tag step both decide with it.
pub fn releases<'a>(
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

/// The moving tags of one context (`prefix`) that `reconcile` places, unprefixed: those the
/// releases call for, then any other the registry holds (`names`).
pub fn moving_tags_to_place(names: &[&str], prefix: &str, versions: &[Version]) -> Vec<String> {
    let mut moving: Vec<String> = tags::moving_tags_of(versions);
    for bare in names.iter().filter_map(|n| n.strip_prefix(prefix)).filter(|b| tags::is_moving_tag(b)) {
        if !moving.iter().any(|m| m == bare) {
            moving.push(bare.to_owned());
        }
    }
    moving
}

/// The moving-tag steps of one context (image `index` of `repository`, tags with `prefix`): a
/// copy for each moving tag not on the highest release it covers, and a `skip` for each that has
/// no release left to point at (it stays where it is).
pub fn reconcile(
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
    let digest_of = |tag: &str| held.iter().find(|t| t.name == tag).map(|t| &t.digest);
    let mut steps = Vec::new();
    for bare in moving_tags_to_place(&names, prefix, &versions) {
        let tag = format!("{prefix}{bare}");
        match tags::moving_tag_home(&bare, &versions) {
            Some(home) => {
                let from = released[home];
                // Copied by the digest read here: a version tag written over since moves nothing.
                match (digest_of(from), digest_of(&tag)) {
                    (Some(digest), now) if now != Some(digest) => steps.push(Step::PointTag {
                        image: index,
                        argv: copy_digest_argv(authfile, repository, digest.as_str(), &tag),
                        tag,
                        from: from.to_owned(),
                        digest: digest.clone(),
                    }),
                    _ => {}
                }
            }
            None => steps.push(Step::Skip {
                what: ImageRef::tag(repository, &tag).to_string(),
                why: "no release it covers is left (the others are retracted or gone): it stays where it is".to_owned(),
                image: None,
                digest: None,
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
pub struct PruneDecision {
    pub tag: String,
    pub digest: Digest,
    pub prune: bool,
    pub reason: String,
}

/// Decides every tag of a repository: the dev builds of branches `remote_branches` no longer
/// has go, and with `cutoff` (an RFC 3339 UTC time) those created before it; version tags,
/// and moving tags stay, so does anything not built by this pipeline, and so does
/// a tag whose digest a kept tag holds, as its own or as a manifest of its index (deleting the
/// manifest would take that tag with it, or break that index). Staging tags (a part's push) go
/// only with `cutoff`, once created before it: a merge may need them until then, whatever their
/// branch. Cosign's tags (`sha256-<hex>.sig`, `.att`, `.sbom`) are cosign's: never deleted.
pub fn prune(
    held: &[HeldTag],
    prefixes: &[&str],
    remote_branches: &[String],
    cutoff: Option<&str>,
) -> Vec<PruneDecision> {
    let is_kind = |name: &str, f: &dyn Fn(&str) -> bool| prefixes.iter().any(|p| name.strip_prefix(p).is_some_and(f));
    let older = |t: &HeldTag| match (cutoff, t.created.as_deref()) {
        (Some(cutoff), Some(created)) if is_utc_time(created) && created < cutoff => {
            Some(format!("created {created}, before {cutoff}"))
        }
        _ => None,
    };
    let (cosign, images): (Vec<&HeldTag>, Vec<&HeldTag>) = held.iter().partition(|t| tags::is_cosign_tag(&t.name));
    let mut decisions: Vec<PruneDecision> = images
        .iter()
        .map(|t| {
            let (prune, reason) = if t.name.starts_with(tags::STAGING_PREFIX) {
                match older(t) {
                    Some(when) => (true, format!("a staging tag {when}: no merge needs it any more")),
                    None => (
                        false,
                        "a staging tag: a merge may still need it (pruned with --keep-days once older)".to_owned(),
                    ),
                }
            } else if is_kind(&t.name, &|b| tags::as_version_tag(b).is_some()) {
                (false, "a version tag".to_owned())
            } else if is_kind(&t.name, &tags::is_moving_tag) {
                (false, "a moving tag".to_owned())
            } else {
                match &t.branch {
                    None => (false, "not a dev build of this pipeline (no branch label)".to_owned()),
                    Some(branch) if !remote_branches.contains(branch) => {
                        (true, format!("branch {branch} is gone from the remote"))
                    }
                    Some(branch) => match older(t) {
                        Some(when) => (true, when),
                        None => (false, format!("branch {branch} exists on the remote")),
                    },
                }
            };
            PruneDecision { tag: t.name.clone(), digest: t.digest.clone(), prune, reason }
        })
        .collect();
    // A manifest is deleted with every tag on it, and an index needs its manifests: a kept tag
    // (cosign's included) keeps its digest's other tags and its manifests' tags.
    loop {
        let mut kept: BTreeMap<&str, String> = BTreeMap::new();
        for t in &cosign {
            kept.entry(t.digest.as_str()).or_insert_with(|| format!("shares its digest with {}, which stays", t.name));
        }
        // A kept staging tag keeps its own manifest only: a signed build is pushed under one and
        // then tagged, and its branch's tag, once the branch is gone, must still go.
        for (d, t) in decisions.iter().zip(&images).filter(|(d, _)| !d.prune) {
            if t.name.starts_with(tags::STAGING_PREFIX) {
                continue;
            }
            kept.entry(d.digest.as_str()).or_insert_with(|| format!("shares its digest with {}, which stays", d.tag));
            for m in &t.manifests {
                kept.entry(m.as_str()).or_insert_with(|| format!("a manifest of {}, which stays", d.tag));
            }
        }
        let spared: Vec<(usize, String)> = decisions
            .iter()
            .enumerate()
            .filter(|(_, d)| d.prune)
            .filter_map(|(i, d)| kept.get(d.digest.as_str()).map(|why| (i, why.clone())))
            .collect();
        if spared.is_empty() {
            break;
        }
        for (i, why) in spared {
            decisions[i].prune = false;
            decisions[i].reason = why;
        }
    }
    // Cosign owns its tags: kept, whatever becomes of the image they sign.
    decisions.extend(cosign.iter().map(|t| PruneDecision {
        tag: t.name.clone(),
        digest: t.digest.clone(),
        prune: false,
        reason: COSIGN_OWNS_IT.to_owned(),
    }));
    decisions
}

/// Whether `prune` decides on a tag by its labels (branch, created): all but version and moving
/// tags, which it keeps by their name.
pub fn needs_labels(name: &str, prefixes: &[&str]) -> bool {
    name.starts_with(tags::STAGING_PREFIX)
        || !prefixes
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|b| tags::as_version_tag(b).is_some() || tags::is_moving_tag(b)))
}

/// What the decisions of a fresh read say of a delete planned on `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Every tag on the digest still goes.
    Delete,
    /// No tag holds the digest any more (another prune deleted it): done.
    Gone,
    /// A tag on the digest stays now (`tag: reason`): the delete is left out.
    Keep(String),
}

pub fn recheck(fresh: &[PruneDecision], digest: &Digest) -> Recheck {
    let mut on_it = fresh.iter().filter(|d| d.digest == *digest).peekable();
    if on_it.peek().is_none() {
        return Recheck::Gone;
    }
    match on_it.find(|d| !d.prune) {
        Some(d) => Recheck::Keep(format!("{}: {}", d.tag, d.reason)),
        None => Recheck::Delete,
    }
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

/// The delete steps of the decisions that prune: one per digest (the registry deletes a
/// manifest, and every tag on it goes with it), naming its tags.
pub fn prune_steps(repository: &str, decisions: &[PruneDecision], authfile: Option<&Utf8Path>) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for d in decisions.iter().filter(|d| d.prune) {
        if let Some(Step::Delete { tags, .. }) =
            steps.iter_mut().find(|s| matches!(s, Step::Delete { digest, .. } if *digest == d.digest))
        {
            tags.push(d.tag.clone());
            continue;
        }
        let mut argv = vec!["skopeo".to_owned(), "delete".to_owned()];
        argv.extend(skopeo_options(authfile, repository, &["--tls-verify"]));
        // By the digest decided on: whatever the tag holds by then is not deleted blindly.
        argv.push(format!("docker://{repository}@{}", d.digest));
        steps.push(Step::Delete {
            tags: vec![d.tag.clone()],
            digest: d.digest.clone(),
            reason: d.reason.clone(),
            argv,
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sha256:LABEL` as a whole digest: the label's bytes in hex, padded to 64 digits.
    fn d(label: &str) -> Digest {
        let label = label.strip_prefix("sha256:").unwrap_or(label);
        let hex: String = label.bytes().map(|b| format!("{b:02x}")).collect();
        Digest::parse(&format!("sha256:{hex:0>64}")).unwrap()
    }

    fn held(name: &str, digest: &str, branch: Option<&str>, created: Option<&str>) -> HeldTag {
        HeldTag {
            name: name.into(),
            digest: d(digest),
            branch: branch.map(str::to_owned),
            created: created.map(str::to_owned),
            manifests: Vec::new(),
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
        // Each copy is of the digest read at the release's version tag, not of the tag (which
        // may be written over before the copy).
        let steps = reconcile("r/s", (0, ""), &both, &registry, &[], None);
        let Step::PointTag { digest, argv, .. } = &steps[0] else { panic!("{steps:?}") };
        assert_eq!(digest, &d("b"));
        assert_eq!(
            argv.join(" "),
            format!("skopeo copy --all --preserve-digests docker://r/s@{} docker://r/s:1", d("b"))
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
        assert_eq!(got["c"], (false, "shares its digest with 1.2.0, which stays"));
        assert_eq!(got["d"], (false, "shares its digest with d-twin, which stays"));
        assert_eq!(got["manual"], (false, "not a dev build of this pipeline (no branch label)"));
        // Cosign's tags are cosign's: never deleted, whatever becomes of the image they sign.
        for cosign in ["sha256-a.sig", "sha256-b.sig", "sha256-e.att"] {
            assert_eq!(got[cosign], (false, COSIGN_OWNS_IT), "{cosign}");
        }
        assert_eq!(got["e"], (false, "shares its digest with sha256-e.att, which stays"));
        let steps = prune_steps("127.0.0.1:5000/acme/service", &decisions, None);
        let argv: Vec<String> = steps.iter().map(|s| s.command_line().join(" ")).collect();
        assert_eq!(
            argv,
            [
                format!("skopeo delete --tls-verify=false docker://127.0.0.1:5000/acme/service@{}", d("a")),
                format!("skopeo delete --tls-verify=false docker://127.0.0.1:5000/acme/service@{}", d("bo")),
            ]
        );
    }

    /// Two tags it deletes on one digest are one delete (the first would take both).
    #[test]
    fn each_digest_is_deleted_once() {
        let registry = [
            held("a", "sha256:a", Some("a"), None),
            held("a-twin", "sha256:a", Some("a"), None),
            held("c", "sha256:c", Some("c"), None),
        ];
        let decisions = prune(&registry, &[""], &["main".to_owned()], None);
        let argv: Vec<String> =
            prune_steps("r/s", &decisions, None).iter().map(|s| s.command_line().join(" ")).collect();
        assert_eq!(
            argv,
            [format!("skopeo delete docker://r/s@{}", d("a")), format!("skopeo delete docker://r/s@{}", d("c"))]
        );
    }

    /// A staging tag goes only with `--keep-days`, once older than the cutoff, and never
    /// while a kept image (a merge's index, or a single-platform merge's tag) holds its manifest.
    /// A signed dev build is pushed under a staging tag, then tagged: the staging tag does not
    /// keep the branch's tag once the branch is gone (the manifest goes, and the staging tag with
    /// it); a version tag does keep its build's staging tag.
    #[test]
    fn a_staging_tag_keeps_no_other_tag() {
        let registry = [
            held("gone", "sha256:dev", Some("gone"), None),
            held("staging-0123456789ab-gone-build", "sha256:dev", Some("gone"), Some("2026-01-01T00:00:00Z")),
            held("1.0.0", "sha256:release", None, None),
            held("staging-0123456789ab-1.0.0-build", "sha256:release", None, Some("2020-01-01T00:00:00Z")),
        ];
        let decisions = prune(&registry, &[""], &[], Some("2025-01-01T00:00:00Z"));
        let got: BTreeMap<&str, (bool, &str)> =
            decisions.iter().map(|d| (d.tag.as_str(), (d.prune, d.reason.as_str()))).collect();
        assert_eq!(got["gone"], (true, "branch gone is gone from the remote"));
        assert_eq!(got["staging-0123456789ab-1.0.0-build"], (false, "shares its digest with 1.0.0, which stays"));
    }

    #[test]
    fn staging_tags_follow_their_own_rule() {
        let old = Some("2025-01-01T00:00:00Z");
        let mut release = held("1.0.0", "sha256:index", None, old);
        release.manifests = vec![d("merged")];
        let registry = [
            release,
            held("staging-c0ffeec0ffee-1.0.0-linux-amd64", "sha256:merged", None, old),
            held("staging-c0ffeec0ffee-rpi-1.0.0-linux-arm-v7", "sha256:rpi", None, old),
            held("rpi-1.0.0", "sha256:rpi", None, old),
            held("staging-0123456789ab-gone-linux-amd64", "sha256:abandoned", Some("gone"), old),
            held("staging-0123456789ab-main-linux-amd64", "sha256:recent", Some("main"), Some("2026-01-01T00:00:00Z")),
        ];
        let remote = ["main".to_owned()];
        let decide = |cutoff| -> BTreeMap<String, (bool, String)> {
            prune(&registry, &["", "rpi-"], &remote, cutoff).into_iter().map(|d| (d.tag, (d.prune, d.reason))).collect()
        };
        // Without --keep-days no staging tag goes, not even one of a gone branch.
        let kept = decide(None);
        for (tag, (prune, reason)) in &kept {
            assert!(!prune, "{tag}: {reason}");
        }
        assert_eq!(
            kept["staging-0123456789ab-gone-linux-amd64"].1,
            "a staging tag: a merge may still need it (pruned with --keep-days once older)"
        );
        let got = decide(Some("2025-06-01T00:00:00Z"));
        let reason = |tag: &str| (got[tag].0, got[tag].1.as_str());
        assert_eq!(
            reason("staging-0123456789ab-gone-linux-amd64"),
            (
                true,
                "a staging tag created 2025-01-01T00:00:00Z, before 2025-06-01T00:00:00Z: no merge needs it any more"
            )
        );
        assert_eq!(reason("staging-c0ffeec0ffee-1.0.0-linux-amd64"), (false, "a manifest of 1.0.0, which stays"));
        assert_eq!(
            reason("staging-c0ffeec0ffee-rpi-1.0.0-linux-arm-v7"),
            (false, "shares its digest with rpi-1.0.0, which stays")
        );
        assert_eq!(
            reason("staging-0123456789ab-main-linux-amd64"),
            (false, "a staging tag: a merge may still need it (pruned with --keep-days once older)")
        );
    }

    /// Right before a delete, the fresh decisions say whether it still goes.
    #[test]
    fn a_delete_is_decided_again_on_a_fresh_read() {
        let planned = prune(&[held("a", "sha256:a", Some("a"), None)], &[""], &["main".to_owned()], None);
        assert!(planned[0].prune);
        // The branch came back: the tag stays.
        let back = prune(&[held("a", "sha256:a", Some("a"), None)], &[""], &["main".to_owned(), "a".to_owned()], None);
        assert_eq!(recheck(&back, &d("a")), Recheck::Keep("a: branch a exists on the remote".to_owned()));
        // Another prune deleted it meanwhile: done.
        assert_eq!(recheck(&prune(&[], &[""], &["main".to_owned()], None), &d("a")), Recheck::Gone);
        // Still gone, and a new tag on the digest that is kept keeps it.
        assert_eq!(recheck(&planned, &d("a")), Recheck::Delete);
        let twin = [held("a", "sha256:a", Some("a"), None), held("mine", "sha256:a", None, None)];
        assert_eq!(
            recheck(&prune(&twin, &[""], &["main".to_owned()], None), &d("a")),
            Recheck::Keep("a: shares its digest with mine, which stays".to_owned())
        );
    }

    #[test]
    fn labels_are_read_for_all_but_version_and_moving_tags() {
        for (name, needs) in [
            ("1.2.3", false),
            ("rpi-latest", false),
            ("rpi-1.2", false),
            ("feature-x", true),
            ("rpi-feature-x", true),
            ("branch-1.2.3", true),
            ("staging-0123456789ab-1.2.3-linux-amd64", true),
            ("sha256-ab.sig", true),
        ] {
            assert_eq!(needs_labels(name, &["", "rpi-"]), needs, "{name}");
        }
    }

    #[test]
    fn only_utc_times_in_our_form_are_compared() {
        assert!(is_utc_time("2026-11-26T17:00:13Z"));
        for other in ["2026-11-26T17:00:13+01:00", "2026-11-26", "", "2026-11-26T17:00:13.5Z", "20261126T170013Z123"] {
            assert!(!is_utc_time(other), "{other}");
        }
    }
}
