//! A release spread over machines: a part (`--part TARGET`) does one target's share (package it,
//! build each context's image for that target's platform, push it under a staging tag, write
//! `dist/part-<target>.json`); `merge` checks the parts against the plan and assembles each
//! image from their digests, then the usual tail runs. Pure, like the rest of `plan/`.
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use super::{CommitId, ImagePlan, Kind, ReleasePlan, RemoteImage};
use semver::Version;

use crate::{
    config::TargetConfig,
    dist::{DistLayout, Format, Sha256},
    platform::{Platform, TargetTriple},
    reference::Digest,
};

/// What a part did: written to `dist/part-<target>.json`, passed on by CI, read by `merge`;
/// `docs/schemas/part.schema.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartResult {
    /// The service the part built (absent in results written before services).
    #[serde(default)]
    pub service: Option<String>,
    pub target: TargetTriple,
    pub platform: Platform,
    /// The plan's kind (`release`, `dev-release`) and branch: the merge makes the same plan.
    pub kind: Kind,
    pub branch: Option<String>,
    pub commit: CommitId,
    pub version: Version,
    pub package: PartPackage,
    pub images: Vec<PartImage>,
}

/// The package a part built its images from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartPackage {
    /// Its file name in `dist/`.
    pub file: String,
    pub sha256: Sha256,
}

/// One context's image, built for the part's platform and pushed under `staging_tag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartImage {
    pub context: String,
    pub repository: String,
    pub staging_tag: String,
    pub digest: Digest,
}

/// Where a part writes its result ([`DistLayout::part`]).
pub fn part_path(root: &Utf8Path, target: &str) -> Utf8PathBuf {
    DistLayout::new(root).part(target)
}

/// The platform a part's target serves, or why it cannot be a part.
pub fn part_platform<'a>(
    plan: &ReleasePlan,
    targets: &'a [TargetConfig],
    target: &str,
) -> Result<&'a TargetConfig, String> {
    let Some(config) = targets.iter().find(|t| t.target == target) else {
        let known: Vec<&str> = targets.iter().map(|t| t.target.as_str()).collect();
        return Err(format!("--part {target}: not a configured target (the targets are {})", known.join(", ")));
    };
    if plan.local {
        return Err(format!(
            "--part {target}: a part pushes its images for `merge`, and a local run pushes nothing (set `image` or RELEASE_REPOSITORY, without --local)"
        ));
    }
    if !plan.images.iter().any(|i| i.platforms.contains(&config.platform)) {
        return Err(format!("--part {target}: no context builds {}, so this part has nothing to do", config.platform));
    }
    Ok(config)
}

/// The images a part for `platform` builds: those whose context builds that platform.
pub fn part_images<'a>(plan: &'a ReleasePlan, platform: &'a Platform) -> impl Iterator<Item = (usize, &'a ImagePlan)> {
    plan.images.iter().enumerate().filter(move |(_, i)| i.platforms.contains(platform))
}

/// Whether a dev part may push its staging tag `tag` of `repository` over what the registry holds
/// there (`held`): never over a part of another branch. Two branches whose names make one dev
/// tag (`feature/x`, `feature-x`) make one staging tag per commit and platform, and the second
/// part would silently replace the first's, which its merge then assembles. A release's
/// staging tag names its version, which no other branch can take.
pub fn staging_taken(
    plan: &ReleasePlan,
    repository: &str,
    tag: &str,
    held: Option<&super::RemoteImage>,
) -> Result<(), String> {
    match (held.and_then(|h| h.branch.as_deref()), plan.branch.as_deref()) {
        (Some(theirs), Some(ours)) if theirs != ours && plan.kind == super::Kind::DevRelease => Err(format!(
            "{repository}:{tag} holds a part of branch {theirs}, and branch {ours} has the same staging tag: neither takes the other's (rename one of the branches)"
        )),
        _ => Ok(()),
    }
}

/// What `merge` assembles each image from: per image of the plan, its platforms' manifest
/// digests in the plan's platform order. Every problem at once: a part from another commit,
/// version, kind or branch; a planned platform of a context no part built; a platform built by
/// two parts.
pub fn sources(
    plan: &ReleasePlan,
    targets: &[TargetConfig],
    parts: &[PartResult],
) -> Result<Vec<Vec<(Platform, Digest)>>, Vec<String>> {
    let mut problems = Vec::new();
    let commit = plan.commit;
    for part in parts {
        // What the provenance will say of it: its target serves its platform, its package has
        // the name `dist` gives it and a SHA-256.
        match targets.iter().find(|t| part.target == t.target.as_str()) {
            None => {
                problems.push(format!("the part for {} names a target the configuration does not have", part.target))
            }
            Some(t) if t.platform != part.platform => problems.push(format!(
                "the part for {} says it built {}, but that target serves {}",
                part.target, part.platform, t.platform
            )),
            Some(_) => {}
        }
        let package =
            crate::dist::package_name(&plan.service.bin, &plan.version.semver, &part.target, Format::TarGz.ext());
        if part.package.file != package {
            problems
                .push(format!("the part for {} lists the package {:?}, not {package}", part.target, part.package.file));
        }
        for image in &part.images {
            if part.images.iter().filter(|i| i.context == image.context).count() > 1 {
                problems.push(format!("the part for {} lists {}/ more than once", part.target, image.context));
                break;
            }
        }
        let mut differs = Vec::new();
        if Some(part.commit) != commit {
            differs.push(format!("commit {} (this checkout is at {})", part.commit, super::short_id(commit)));
        }
        if part.version != plan.version.semver {
            differs.push(format!("version {} (this merge is {})", part.version, plan.version.semver));
        }
        if part.kind != plan.kind || part.branch != plan.branch && part.kind != Kind::Release {
            differs.push(format!(
                "a {} of {} (this merge is a {} of {})",
                part.kind.as_str(),
                part.branch.as_deref().unwrap_or("no branch"),
                plan.kind.as_str(),
                plan.branch.as_deref().unwrap_or("no branch")
            ));
        }
        if !differs.is_empty() {
            problems.push(format!("the part for {} was built from {}", part.target, differs.join(", ")));
        }
    }
    let mut out = Vec::new();
    for image in &plan.images {
        let mut sources = Vec::new();
        for platform in &image.platforms {
            let built: Vec<(&PartResult, &PartImage)> = parts
                .iter()
                .filter(|p| &p.platform == platform)
                .flat_map(|p| p.images.iter().filter(|i| i.context == image.context).map(move |i| (p, i)))
                .collect();
            match built.as_slice() {
                [] => problems.push(format!(
                    "no part built {platform} of {}/: run `--part` for the target serving {platform} and pass its result",
                    image.context
                )),
                [(_, built)] if built.repository != image.repository => problems.push(format!(
                    "the part for {platform} pushed {}/ to {}, but this merge pushes to {}",
                    image.context, built.repository, image.repository
                )),
                [(_, built)] => sources.push((platform.clone(), built.digest.clone())),
                [..] => problems.push(format!("{} parts built {platform} of {}/: pass one", built.len(), image.context)),
            }
        }
        out.push(sources);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// What the registry holds at a part's digest, checked against the plan before `merge` writes
/// anything: the JSON a part wrote is a claim, the manifest and its config are the content. The
/// digest must name one platform's manifest (not an index) whose config says the planned
/// platform, whose revision and version labels are this checkout's commit and version, and, for a
/// dev release, whose branch label is this checkout's branch (a release's has none). Every
/// difference is a problem.
pub fn check_source(
    plan: &ReleasePlan,
    image: &ImagePlan,
    platform: &Platform,
    digest: &Digest,
    held: Option<&RemoteImage>,
) -> Vec<String> {
    let pinned = format!("{}@{}", image.repository, digest.as_str());
    let what = format!("the part's {platform} image of {}/ ({pinned})", image.context);
    let Some(held) = held else {
        return vec![format!("{what} is not in the registry")];
    };
    let mut problems = Vec::new();
    if !held.manifests.is_empty() || held.platforms.len() != 1 {
        problems.push(format!(
            "{what} is an index of {}, not one platform's manifest",
            if held.platforms.is_empty() { "nothing".to_owned() } else { held.platforms.join(", ") }
        ));
    } else if held.platforms[0] != platform.as_str() {
        problems.push(format!("{what} is a {} image, not {platform}", held.platforms[0]));
    }
    if let Some(context) = held.context.as_ref().filter(|c| **c != image.context) {
        problems.push(format!("{what} was built from {context}/, not {}/", image.context));
    }
    let label = |name: &str, got: Option<&str>, want: &str| match got {
        Some(got) if got == want => None,
        Some(got) => Some(format!("{what} was built from {name} {got}, not this checkout's {want}")),
        None => Some(format!("{what} has no {name} label (the pipeline sets it on every image it builds)")),
    };
    let commit = plan.commit.map(|c| c.to_string()).unwrap_or_default();
    problems.extend(label("commit", held.revision.as_deref(), &commit));
    problems.extend(label("version", held.version.as_deref(), &plan.version.semver.to_string()));
    match (plan.kind, &held.branch, &plan.branch) {
        (Kind::DevRelease, Some(theirs), Some(ours)) if theirs != ours => {
            problems.push(format!("{what} is a build of branch {theirs}, not this checkout's {ours}"))
        }
        (Kind::DevRelease, None, Some(ours)) => {
            problems.push(format!("{what} is no dev build (no branch label), and this merge is branch {ours}'s"))
        }
        (Kind::Release, Some(theirs), _) => {
            problems.push(format!("{what} is a dev build of branch {theirs}, and this merge is a release"))
        }
        _ => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::for_test(n)
    }

    fn part(plan: &ReleasePlan, target: &str, platform: &str, n: u8) -> PartResult {
        PartResult {
            service: Some(plan.service.name.clone()),
            target: TargetTriple::parse(target).unwrap(),
            platform: platform.into(),
            kind: plan.kind,
            branch: plan.branch.clone(),
            commit: plan.commit.unwrap(),
            version: plan.version.semver.clone(),
            package: PartPackage {
                file: format!("service-{}-{target}.tar.gz", plan.version.semver),
                sha256: Sha256::of(target.as_bytes()),
            },
            images: plan
                .images
                .iter()
                .filter(|i| i.platforms.iter().any(|p| p.as_str() == platform))
                .map(|i| PartImage {
                    context: i.context.clone(),
                    repository: i.repository.clone(),
                    staging_tag: crate::tags::staging_tag(plan.commit.unwrap().as_str(), i.primary_tag(), platform),
                    digest: digest(n),
                })
                .collect(),
        }
    }

    fn plan() -> ReleasePlan {
        super::super::tests::release_plan("1.2.3")
    }

    #[test]
    fn every_planned_platform_needs_one_part_of_this_commit_and_version() {
        let plan = plan();
        let parts = vec![
            part(&plan, "x86_64-unknown-linux-musl", "linux/amd64", 1),
            part(&plan, "aarch64-unknown-linux-gnu", "linux/arm64", 2),
            part(&plan, "armv7-unknown-linux-gnueabihf", "linux/arm/v7", 3),
        ];
        let targets = crate::config::Config::default().targets;
        let sources = sources(&plan, &targets, &parts).unwrap();
        assert_eq!(
            sources[0].iter().map(|(p, d)| (p.as_str(), d.clone())).collect::<Vec<_>>(),
            [("linux/amd64", digest(1)), ("linux/arm64", digest(2)), ("linux/arm/v7", digest(3))]
        );
        assert_eq!(sources[1], [("linux/arm/v7".into(), digest(3))], "the rpi context from the armv7 part");

        let problems = super::sources(&plan, &targets, &parts[..2]).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("no part built linux/arm/v7 of docker/"), "{problems:?}");

        let mut other = parts.clone();
        other[1].commit = CommitId::parse(&"1".repeat(40)).unwrap();
        other[2].version = Version::new(1, 2, 4);
        let problems = super::sources(&plan, &targets, &other).unwrap_err();
        assert!(problems[0].contains("part for aarch64-unknown-linux-gnu was built from commit 1111"), "{problems:?}");
        assert!(problems[1].contains("version 1.2.4 (this merge is 1.2.3)"), "{problems:?}");

        let mut twice = parts.clone();
        twice.push(part(&plan, "x86_64-unknown-linux-musl", "linux/amd64", 4));
        assert!(
            super::sources(&plan, &targets, &twice).unwrap_err()[0].contains("2 parts built linux/amd64 of docker/")
        );

        // What a part says of itself that the merge does not read back is checked as well.
        let mut odd = parts.clone();
        odd[0].platform = "linux/arm64".into();
        odd[1].package.file = "../../etc/passwd".into();
        let again = odd[2].images[0].clone();
        odd[2].images.push(again);
        let problems = super::sources(&plan, &targets, &odd).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("says it built linux/arm64, but that target serves linux/amd64")),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| p.contains("lists the package \"../../etc/passwd\"")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("lists docker/ more than once")), "{problems:?}");
    }

    /// A part of another kind, of another branch (for a dev merge), pushed to another
    /// repository, or naming a target the configuration lacks is no source of this merge; a
    /// release's parts may come from any branch.
    #[test]
    fn a_part_of_another_kind_branch_or_repository_is_refused() {
        let release = plan();
        let targets = crate::config::Config::default().targets;
        let parts_of = |plan: &ReleasePlan| {
            vec![
                part(plan, "x86_64-unknown-linux-musl", "linux/amd64", 1),
                part(plan, "aarch64-unknown-linux-gnu", "linux/arm64", 2),
                part(plan, "armv7-unknown-linux-gnueabihf", "linux/arm/v7", 3),
            ]
        };
        let mut dev = release.clone();
        dev.kind = Kind::DevRelease;
        dev.branch = Some("feature/x".into());

        // A release merge takes release parts of any branch.
        let mut any_branch = parts_of(&release);
        any_branch[0].branch = Some("elsewhere".into());
        assert!(sources(&release, &targets, &any_branch).is_ok(), "a release's parts may name any branch");
        // A dev part in a release merge: refused, whatever its branch.
        let mut dev_part = parts_of(&release);
        dev_part[0].kind = Kind::DevRelease;
        let problems = sources(&release, &targets, &dev_part).unwrap_err();
        assert!(problems[0].contains("was built from a dev-release of"), "{problems:?}");
        // A dev merge takes its own branch's parts only.
        assert!(sources(&dev, &targets, &parts_of(&dev)).is_ok());
        let mut other_branch = parts_of(&dev);
        other_branch[1].branch = Some("feature/y".into());
        let problems = sources(&dev, &targets, &other_branch).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("a dev-release of feature/y (this merge is a dev-release of feature/x)"),
            "{problems:?}"
        );
        // Pushed to another repository.
        let mut elsewhere = parts_of(&release);
        elsewhere[2].images[0].repository = "127.0.0.1:5000/acme/other".into();
        let problems = sources(&release, &targets, &elsewhere).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("pushed docker/ to 127.0.0.1:5000/acme/other"), "{problems:?}");
        // A target the configuration does not have.
        let mut unknown = parts_of(&release);
        unknown[0].target = TargetTriple::parse("riscv64gc-unknown-linux-gnu").unwrap();
        let problems = sources(&release, &targets, &unknown).unwrap_err();
        assert!(problems.iter().any(|p| p.contains("names a target the configuration does not have")), "{problems:?}");
    }

    /// What the registry holds at a part's digest decides, not the part's JSON.
    #[test]
    fn a_part_image_is_checked_by_its_content() {
        let plan = plan();
        let image = &plan.images[0];
        let commit = plan.commit.unwrap().to_string();
        let held = |platform: &str, revision: &str, version: &str, branch: Option<&str>| RemoteImage {
            digest: digest(2),
            platforms: vec![platform.into()],
            manifests: Default::default(),
            revision: Some(revision.into()),
            version: Some(version.into()),
            branch: branch.map(str::to_owned),
            created: None,
            source: None,
            context: None,
            entries: 0,
        };
        let arm64: Platform = "linux/arm64".into();
        let check = |held: &RemoteImage| check_source(&plan, image, &arm64, &digest(2), Some(held));
        assert_eq!(check(&held("linux/arm64", &commit, "1.2.3", None)), Vec::<String>::new());
        let other_commit = check(&held("linux/arm64", &"1".repeat(40), "1.2.3", None));
        assert_eq!(other_commit.len(), 1, "{other_commit:?}");
        assert!(other_commit[0].contains(&format!("built from commit {} , not", "1".repeat(40)).replace(" ,", ",")));
        let other_version = check(&held("linux/arm64", &commit, "1.1.0", None));
        assert!(
            other_version[0].ends_with("was built from version 1.1.0, not this checkout's 1.2.3"),
            "{other_version:?}"
        );
        let other_platform = check(&held("linux/amd64", &commit, "1.2.3", None));
        assert!(other_platform[0].ends_with("is a linux/amd64 image, not linux/arm64"), "{other_platform:?}");
        let dev = check(&held("linux/arm64", &commit, "1.2.3", Some("feature/x")));
        assert!(dev[0].ends_with("is a dev build of branch feature/x, and this merge is a release"), "{dev:?}");
        let mut index = held("linux/arm64", &commit, "1.2.3", None);
        index.platforms.push("linux/amd64".into());
        index.manifests = [("linux/arm64".into(), digest(3))].into();
        assert!(check(&index)[0].contains("is an index of linux/arm64, linux/amd64, not one platform's manifest"));
        // An index of the one planned platform is an index all the same; so is a listing of two.
        let mut index_of_one = held("linux/arm64", &commit, "1.2.3", None);
        index_of_one.manifests = [("linux/arm64".into(), digest(3))].into();
        assert!(check(&index_of_one)[0].contains("is an index of linux/arm64, not one platform's manifest"));
        let mut two = held("linux/arm64", &commit, "1.2.3", None);
        two.platforms.push("linux/amd64".into());
        assert!(check(&two)[0].contains("is an index of linux/arm64, linux/amd64"), "{:?}", check(&two));
        // Built from another context.
        let mut other_context = held("linux/arm64", &commit, "1.2.3", None);
        other_context.context = Some("rpi-docker".into());
        assert_eq!(check(&other_context).len(), 1);
        assert!(
            check(&other_context)[0].ends_with("was built from rpi-docker/, not docker/"),
            "{:?}",
            check(&other_context)
        );
        other_context.context = Some("docker".into());
        assert_eq!(check(&other_context), Vec::<String>::new());
        let mut unlabelled = held("linux/arm64", &commit, "1.2.3", None);
        unlabelled.revision = None;
        assert!(check(&unlabelled)[0].contains("has no commit label"));
        assert!(check_source(&plan, image, &arm64, &digest(2), None)[0].ends_with("is not in the registry"));

        // A dev merge: the branch label must be the checkout's branch.
        let mut dev_plan = plan.clone();
        dev_plan.kind = Kind::DevRelease;
        dev_plan.branch = Some("feature/x".into());
        let dev_check = |held: &RemoteImage| check_source(&dev_plan, image, &arm64, &digest(2), Some(held));
        assert_eq!(dev_check(&held("linux/arm64", &commit, "1.2.3", Some("feature/x"))), Vec::<String>::new());
        assert!(dev_check(&held("linux/arm64", &commit, "1.2.3", Some("main")))[0]
            .ends_with("is a build of branch main, not this checkout's feature/x"));
        assert!(dev_check(&held("linux/arm64", &commit, "1.2.3", None))[0].contains("is no dev build"));
    }

    #[test]
    fn a_part_result_round_trips_and_refuses_a_bad_digest() {
        let plan = plan();
        let result = part(&plan, "x86_64-unknown-linux-musl", "linux/amd64", 7);
        let json = serde_json::to_string(&result).unwrap();
        assert_eq!(serde_json::from_str::<PartResult>(&json).unwrap(), result);
        let bad = json.replace(digest(7).as_str(), "sha256:abc");
        assert!(serde_json::from_str::<PartResult>(&bad).unwrap_err().to_string().contains("is not a digest"));
    }

    /// The file a part writes, as `write_part` writes it: the example beside the schema
    /// (`docs/schemas/part.schema.json`), which `xtask/tests/schemas.rs` checks against it.
    #[test]
    fn a_part_result_is_the_documented_json() {
        let result = part(&plan(), "aarch64-unknown-linux-gnu", "linux/arm64", 7);
        let json = String::from_utf8(serde_json::to_vec_pretty(&result).unwrap()).unwrap();
        expect_test::expect_file!["../../docs/schemas/examples/part.json"].assert_eq(&json);
        // A result of a pipeline before services (no `service`) is read as well.
        let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
        old.as_object_mut().unwrap().remove("service");
        let read = serde_json::from_value::<PartResult>(old).unwrap();
        assert_eq!(read, PartResult { service: None, ..result });
    }

    /// Every field is checked when a result is read: what no part writes is an error naming it.
    #[test]
    fn a_part_result_refuses_what_no_part_writes() {
        let result = part(&plan(), "aarch64-unknown-linux-gnu", "linux/arm64", 7);
        let json = serde_json::to_value(&result).unwrap();
        for (pointer, bad, why) in [
            ("/kind", "nightly", "unknown variant `nightly`"),
            ("/version", "1.2", "unexpected end of input while parsing minor version number"),
            ("/target", "../x", "is not a target triple"),
            ("/platform", "linux", "is not a platform"),
            ("/commit", "c0ffee", "is not a commit id"),
            ("/package/sha256", "00", "is not a SHA-256"),
            ("/images/0/digest", "sha256:00", "is not a digest"),
        ] {
            let mut edited = json.clone();
            *edited.pointer_mut(pointer).unwrap() = bad.into();
            let err = serde_json::from_value::<PartResult>(edited).unwrap_err().to_string();
            assert!(err.contains(why), "{pointer}: {err}");
        }
        let mut unknown = json.clone();
        unknown["format"] = 2.into();
        assert!(serde_json::from_value::<PartResult>(unknown).unwrap_err().to_string().contains("unknown field"));
    }

    /// `feature/x` and `feature-x` have one dev tag, so one staging tag per commit and
    /// platform: a part refuses the one a part of the other branch pushed, naming both.
    #[test]
    fn a_part_refuses_a_staging_tag_another_branch_holds() {
        let mut plan = plan();
        plan.kind = super::super::Kind::DevRelease;
        plan.branch = Some("feature-x".into());
        let held = |branch: Option<&str>| super::super::RemoteImage {
            digest: digest(1),
            platforms: vec!["linux/amd64".into()],
            manifests: Default::default(),
            revision: None,
            version: None,
            branch: branch.map(str::to_owned),
            created: None,
            source: None,
            context: None,
            entries: 0,
        };
        let tag = "staging-c0ffeec0ffee-feature-x-linux-amd64";
        assert_eq!(
            staging_taken(&plan, "r/s", tag, Some(&held(Some("feature/x")))),
            Err("r/s:staging-c0ffeec0ffee-feature-x-linux-amd64 holds a part of branch feature/x, and branch feature-x has the same staging tag: neither takes the other's (rename one of the branches)".to_owned())
        );
        // Its own branch's part (a rerun), an unlabelled image, or nothing there: the part goes on.
        for there in [Some(held(Some("feature-x"))), Some(held(None)), None] {
            assert_eq!(staging_taken(&plan, "r/s", tag, there.as_ref()), Ok(()));
        }
    }

    #[test]
    fn a_part_needs_a_known_target_a_push_and_a_context_for_its_platform() {
        let plan = plan();
        let targets = crate::config::Config::default().targets;
        assert_eq!(
            part_platform(&plan, &targets, "aarch64-unknown-linux-gnu").unwrap().platform.as_str(),
            "linux/arm64"
        );
        assert!(part_platform(&plan, &targets, "riscv64gc-unknown-linux-gnu")
            .unwrap_err()
            .contains("not a configured target"));
        let mut local = plan.clone();
        local.local = true;
        assert!(part_platform(&local, &targets, "aarch64-unknown-linux-gnu").unwrap_err().contains("pushes nothing"));
    }
}
