//! The signing steps of a plan that signs (`signing.sign`): an SBOM per target, a provenance per
//! image, the image's signature (its index and, recursively, each platform manifest), the
//! attestations on the index and on each platform manifest, and the signature of
//! `dist/SHA256SUMS`. Pure: each step's `argv` is cosign's command line, with the key passed by
//! environment reference (`env://VAR`) and `<digest>` where the executor puts the digest it
//! pushed.
use camino::{Utf8Path, Utf8PathBuf};
use semver::Version;

use super::{steps::Step, ImagePlan};
use crate::{config::SigningConfig, dist, platform::Platform, reference, services::Service};

/// Where a signing step's command line takes the digest the build pushed (unknown until then).
pub(crate) const DIGEST: &str = "<digest>";

/// cosign's predicate types, as `cosign attest --type` names them.
pub(crate) const SBOM_TYPE: &str = "cyclonedx";
pub(crate) const PROVENANCE_TYPE: &str = "slsaprovenance1";
/// A retraction (`retract`): the version and the reason, attested on each of its images, so that
/// `verify` refuses them without the git tag that records it.
pub(crate) const RETRACTION_TYPE: &str = "https://release-pipeline.dev/retraction/v1";

/// What a retraction attestation says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Retraction {
    pub(crate) version: String,
    pub(crate) reason: String,
}

/// `retract`'s attestation of a retraction on one image (`repository@digest`, read before).
pub(crate) fn retraction_step(
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
        argv,
    }
}

/// `dist/<bin>-<version>-<target>.cdx.json`: the target's SBOM, beside its package.
pub(crate) fn sbom_path(root: &Utf8Path, bin: &str, version: &Version, target: &str) -> Utf8PathBuf {
    root.join("dist").join(format!("{bin}-{version}-{target}.cdx.json"))
}

/// `dist/<bin>-<version>-<context>.provenance.json`: one image's SLSA provenance predicate.
pub(crate) fn provenance_path(root: &Utf8Path, bin: &str, version: &Version, context: &str) -> Utf8PathBuf {
    root.join("dist").join(format!("{bin}-{version}-{}.provenance.json", context.replace('/', "-")))
}

/// The command line whose dependency graph an SBOM describes.
pub(crate) fn metadata_argv(target: &str) -> Vec<String> {
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

/// The image's digest as cosign's argument, `<digest>` until the executor knows it.
fn by_digest(repository: &str) -> String {
    format!("{repository}@{DIGEST}")
}

/// The targets serving an image's platforms, in the configured order.
pub(crate) fn targets_of<'a>(targets: &'a [crate::config::TargetConfig], platforms: &[Platform]) -> Vec<&'a str> {
    targets.iter().filter(|t| platforms.contains(&t.platform)).map(|t| t.target.as_str()).collect()
}

/// The SBOM steps for every target the signed images are built for, each once.
pub(crate) fn sbom_steps(
    root: &Utf8Path,
    service: &Service,
    version: &Version,
    targets: &[crate::config::TargetConfig],
    images: &[&ImagePlan],
) -> Vec<Step> {
    let platforms: Vec<Platform> = images.iter().flat_map(|i| i.platforms.iter().cloned()).collect();
    targets_of(targets, &platforms)
        .into_iter()
        .map(|target| Step::Sbom {
            target: target.to_owned(),
            package: service.package.clone(),
            path: sbom_path(root, &service.bin, version, target),
            argv: metadata_argv(target),
        })
        .collect()
}

/// One image's signing: its provenance; on the index the provenance and one SBOM per target, and
/// on each platform manifest the provenance and that platform's SBOM; then the signature
/// (recursive: the index and each platform manifest). A single-platform image is one manifest:
/// it gets the provenance, its SBOM and the signature. The signature comes last so that a run
/// stopped half-way leaves no signature, and its rerun attests again.
pub(crate) fn image_steps(
    root: &Utf8Path,
    bin: &str,
    version: &Version,
    targets: &[crate::config::TargetConfig],
    signing: &SigningConfig,
    i: usize,
    image: &ImagePlan,
) -> Vec<Step> {
    let provenance = provenance_path(root, bin, version, &image.context);
    let mut steps = vec![Step::Provenance { image: i, path: provenance.clone(), argv: Vec::new() }];
    let reference = reference::ImageRef::tag(&image.repository, image.primary_tag()).to_string();
    let attest = |manifest: Option<&Platform>, predicate_type: &str, predicate: &Utf8Path| {
        let mut argv = cosign_argv("attest", signing, Some(&image.repository));
        argv.extend(["--type".to_owned(), predicate_type.to_owned(), "--predicate".to_owned(), predicate.to_string()]);
        argv.push(by_digest(&image.repository));
        Step::Attest {
            image: i,
            reference: reference.clone(),
            manifest: manifest.cloned(),
            predicate_type: predicate_type.to_owned(),
            predicate: predicate.to_owned(),
            argv,
        }
    };
    steps.push(attest(None, PROVENANCE_TYPE, &provenance));
    for target in targets_of(targets, &image.platforms) {
        steps.push(attest(None, SBOM_TYPE, &sbom_path(root, bin, version, target)));
    }
    if image.platforms.len() > 1 {
        for platform in &image.platforms {
            steps.push(attest(Some(platform), PROVENANCE_TYPE, &provenance));
            for target in targets_of(targets, std::slice::from_ref(platform)) {
                steps.push(attest(Some(platform), SBOM_TYPE, &sbom_path(root, bin, version, target)));
            }
        }
    }
    // The signature last: a signed digest has every attestation (what a rerun checks).
    let mut sign = cosign_argv("sign", signing, Some(&image.repository));
    sign.push("--recursive".to_owned());
    sign.push(by_digest(&image.repository));
    steps.push(Step::Sign { image: i, reference, argv: sign });
    steps
}

/// `cosign sign-blob` of `dist/SHA256SUMS` into `dist/SHA256SUMS.sig`.
pub(crate) fn sums_step(root: &Utf8Path, signing: &SigningConfig) -> Step {
    let file = root.join("dist").join(dist::SUMS);
    let signature = root.join("dist").join(format!("{}.sig", dist::SUMS));
    let mut argv = cosign_argv("sign-blob", signing, None);
    argv.extend(["--output-signature".to_owned(), signature.to_string(), file.to_string()]);
    Step::SignBlob { file, signature, argv }
}

/// A step's command line with the digest it works on in place of `<digest>`.
pub(crate) fn with_digest(argv: &[String], digest: &str) -> Vec<String> {
    argv.iter().map(|a| a.replace(DIGEST, digest)).collect()
}
