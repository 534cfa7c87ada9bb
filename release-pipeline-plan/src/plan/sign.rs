//! The signing steps of a plan that signs (`signing.sign`): an SBOM per target, a provenance per
//! image, the image's signature (its index and, recursively, each platform manifest), the
//! attestations on the index and on each platform manifest, and the signature of
//! `dist/SHA256SUMS`. Pure: each step's `argv` is cosign's command line, with the key passed by
//! environment reference (`env://VAR`) and the digest an earlier step pushed as a reference to
//! that step (`step::Arg::Digest`).
use camino::{Utf8Path, Utf8PathBuf};
use semver::Version;

use super::{
    facts::Facts,
    step::{Arg, DigestRef, Packages, ProvenancePlan, Step, StepId, When},
    ImagePlan, ReleasePlan,
};
use crate::{
    config::SigningConfig,
    dist,
    platform::{Platform, TargetTriple},
    reference,
    service::Service,
};

/// cosign's predicate types, as `cosign attest --type` names them.
pub const SBOM_TYPE: &str = "cyclonedx";
pub const PROVENANCE_TYPE: &str = "slsaprovenance1";
/// A retraction (`retract`): the version and the reason, attested on each of its images, so that
/// `verify` refuses them without the git tag that records it.
pub const RETRACTION_TYPE: &str = "https://release-pipeline.dev/retraction/v1";

/// What a retraction attestation says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retraction {
    pub version: String,
    pub reason: String,
}

/// `retract`'s attestation of a retraction on one image (`repository@digest`, read before).
pub fn retraction_step(
    signing: &SigningConfig,
    image: usize,
    repository: &str,
    digest: &str,
    predicate: &Utf8Path,
) -> Step {
    let pinned = format!("{repository}@{digest}");
    let mut argv = cosign_argv("attest", signing, Some(repository));
    argv.extend(["--type".to_owned(), RETRACTION_TYPE.to_owned(), "--predicate".to_owned(), predicate.to_string()]);
    argv.push(pinned.clone());
    Step::Attest {
        image,
        reference: pinned,
        manifest: None,
        predicate_type: RETRACTION_TYPE.to_owned(),
        predicate: predicate.to_owned(),
        when: None,
        argv: Arg::lits(argv),
    }
}

/// `dist/<bin>-<version>-<target>.cdx.json`: the target's SBOM, beside its package.
pub fn sbom_path(root: &Utf8Path, bin: &str, version: &Version, target: &str) -> Utf8PathBuf {
    dist::DistLayout::new(root).sbom(bin, version, target)
}

/// `dist/<bin>-<version>-<context>.provenance.json`: one image's SLSA provenance predicate.
pub fn provenance_path(root: &Utf8Path, bin: &str, version: &Version, context: &str) -> Utf8PathBuf {
    dist::DistLayout::new(root).provenance(bin, version, context)
}

/// The command line whose dependency graph an SBOM describes.
pub fn metadata_argv(target: &str) -> Vec<String> {
    ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target].map(str::to_owned).to_vec()
}

/// The options every cosign command that writes takes: no transparency log (key-based, offline),
/// and plain HTTP for a loopback registry only.
fn cosign_argv(command: &str, signing: &SigningConfig, repository: Option<&str>) -> Vec<String> {
    let mut argv: Vec<String> = ["cosign", command, "--yes"].map(str::to_owned).to_vec();
    argv.extend(["--key".to_owned(), format!("env://{}", signing.key_env), "--tlog-upload=false".to_owned()]);
    if repository.is_some_and(|r| reference::is_loopback_registry(reference::registry_host(r))) {
        argv.push("--allow-http-registry".to_owned());
    }
    argv
}

/// The targets serving an image's platforms, in the configured order.
pub fn targets_of<'a>(targets: &'a [crate::config::TargetConfig], platforms: &[Platform]) -> Vec<&'a TargetTriple> {
    targets.iter().filter(|t| platforms.contains(&t.platform)).map(|t| &t.target).collect()
}

/// The SBOM steps for every target the signed images are built for, each once.
pub fn sbom_steps(facts: &Facts, service: &Service, version: &Version, images: &[&ImagePlan]) -> Vec<Step> {
    let platforms: Vec<Platform> = images.iter().flat_map(|i| i.platforms.iter().cloned()).collect();
    targets_of(&facts.targets, &platforms)
        .into_iter()
        .map(|target| Step::Sbom {
            target: target.clone(),
            package: service.package.clone(),
            epoch: facts.epoch,
            path: sbom_path(&facts.root, &service.bin, version, target.as_str()),
            argv: metadata_argv(target.as_str()),
        })
        .collect()
}

/// What an image's provenance says, decided now: the packages it is built from are the service's
/// for the image's targets (this run's `SHA256SUMS` lists their hashes; a merge's parts reported
/// them).
fn provenance_plan(plan: &ReleasePlan, facts: &Facts, image: &ImagePlan) -> ProvenancePlan {
    let targets = targets_of(&facts.targets, &image.platforms);
    let version = plan.version.semver.to_string();
    let files: Vec<String> = targets
        .iter()
        .map(|t| dist::package_name(&plan.service.bin, &version, t.as_str(), dist::Format::TarGz.ext()))
        .collect();
    let packages = match &facts.merge {
        Some(merge) => {
            Packages::Known(merge.packages.iter().filter(|(file, _)| files.contains(file)).cloned().collect())
        }
        None => Packages::Sums { sums: dist::DistLayout::new(&facts.root).sums(), files },
    };
    ProvenancePlan {
        repository: facts.provenance_repository.clone(),
        git_ref: match (&plan.tag, &plan.branch) {
            (Some(tag), _) => Some(format!("refs/tags/{tag}")),
            (None, Some(branch)) => Some(format!("refs/heads/{branch}")),
            (None, None) => None,
        },
        commit: plan.commit.map(|c| c.to_string()).unwrap_or_default(),
        kind: plan.kind,
        version: plan.version.semver.clone(),
        context: image.context.clone(),
        platforms: image.platforms.clone(),
        lockfile: facts.root.join("Cargo.lock"),
        packages,
        builder: facts.run_url.clone().unwrap_or_else(|| "local".to_owned()),
    }
}

/// One image's signing of `digest` (once `when` holds): its provenance; on the index the
/// provenance and one SBOM per target, and on each platform manifest (read back first, as step
/// `first`) the provenance and that platform's SBOM; then the signature (recursive: the index
/// and each platform manifest). A single-platform image is one manifest: it gets the
/// provenance, its SBOM and the signature. The signature comes last so that a run stopped
/// half-way leaves no signature, and its rerun attests again.
pub fn image_steps(
    plan: &ReleasePlan,
    facts: &Facts,
    i: usize,
    image: &ImagePlan,
    digest: &DigestRef,
    when: Option<When>,
    first: StepId,
) -> Vec<Step> {
    let (root, bin, version, signing) = (&facts.root, &plan.service.bin, &plan.version.semver, &facts.signing);
    let several = image.platforms.len() > 1;
    let mut steps = Vec::new();
    if several {
        let mut argv = Arg::lits(vec!["docker".into(), "buildx".into(), "imagetools".into(), "inspect".into()]);
        argv.push(Arg::Digest { prefix: format!("{}@", image.repository), digest: digest.clone() });
        argv.extend(Arg::lits(vec!["--format".into(), "{{json .}}".into()]));
        steps.push(Step::Inspect { image: i, digest: digest.clone(), when, argv });
    }
    let provenance = provenance_path(root, bin, version, &image.context);
    steps.push(Step::Provenance {
        image: i,
        path: provenance.clone(),
        input: provenance_plan(plan, facts, image),
        when,
        argv: Vec::new(),
    });
    let reference = reference::ImageRef::tag(&image.repository, image.primary_tag()).to_string();
    let attest = |manifest: Option<&Platform>, predicate_type: &str, predicate: &Utf8Path| {
        let mut argv = cosign_argv("attest", signing, Some(&image.repository));
        argv.extend(["--type".to_owned(), predicate_type.to_owned(), "--predicate".to_owned(), predicate.to_string()]);
        let mut argv = Arg::lits(argv);
        let on = match manifest {
            None => digest.clone(),
            Some(platform) => DigestRef::Of { step: first, platform: Some(platform.clone()) },
        };
        argv.push(Arg::Digest { prefix: format!("{}@", image.repository), digest: on });
        Step::Attest {
            image: i,
            reference: reference.clone(),
            manifest: manifest.cloned(),
            predicate_type: predicate_type.to_owned(),
            predicate: predicate.to_owned(),
            when,
            argv,
        }
    };
    steps.push(attest(None, PROVENANCE_TYPE, &provenance));
    for target in targets_of(&facts.targets, &image.platforms) {
        steps.push(attest(None, SBOM_TYPE, &sbom_path(root, bin, version, target.as_str())));
    }
    if several {
        for platform in &image.platforms {
            steps.push(attest(Some(platform), PROVENANCE_TYPE, &provenance));
            for target in targets_of(&facts.targets, std::slice::from_ref(platform)) {
                steps.push(attest(Some(platform), SBOM_TYPE, &sbom_path(root, bin, version, target.as_str())));
            }
        }
    }
    // The release notes, when the run has them (`release_notes.rs`).
    if let Some(notes) = super::release_notes::predicate(plan, facts) {
        steps.push(attest(None, crate::notes::NOTES_TYPE, &notes));
    }
    // The signature last: a signed digest has every attestation (what a rerun checks).
    let mut sign = cosign_argv("sign", signing, Some(&image.repository));
    sign.push("--recursive".to_owned());
    let mut argv = Arg::lits(sign);
    argv.push(Arg::Digest { prefix: format!("{}@", image.repository), digest: digest.clone() });
    steps.push(Step::Sign { image: i, reference, when, argv });
    steps
}

/// `cosign sign-blob` of `dist/SHA256SUMS` into `dist/SHA256SUMS.sig`.
pub fn sums_step(facts: &Facts) -> Step {
    let dist = dist::DistLayout::new(&facts.root);
    let (file, signature) = (dist.sums(), dist.sums_signature());
    let mut argv = cosign_argv("sign-blob", &facts.signing, None);
    argv.extend(["--output-signature".to_owned(), signature.to_string(), file.to_string()]);
    Step::SignBlob { file, signature, argv }
}
