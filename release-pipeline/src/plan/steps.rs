//! The steps a run takes, in order, each with the exact command line it runs: made from the plan
//! and the facts the read-only preflight gathered (what the registry holds, the host, which
//! credentials are there). Pure, like the rest of `plan/`: `--dry-run` prints these steps,
//! `--json` emits them, and the executor runs them one by one, deciding nothing of its own.
use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use serde::Serialize;

use camino::Utf8Path;
use semver::Version;

use super::{parts, sign, BuildAction, ImagePlan, Kind, ReleasePlan};
use crate::{
    config::{SigningConfig, TargetConfig},
    dist,
    platform::Platform,
    qemu,
    reference::{self, Digest, ImageRef},
};

/// The image label naming the branch of a dev build: two branch names can share a dev tag
/// (`feature/x`, `feature-x`), and one must never take the other's tag.
pub(crate) const BRANCH_LABEL: &str = "org.release-pipeline.branch";
/// The commit an image was built from (OCI's annotation key, as a label).
pub(crate) const REVISION_LABEL: &str = "org.opencontainers.image.revision";
/// The version an image was built as.
pub(crate) const VERSION_LABEL: &str = "org.opencontainers.image.version";
/// The context an image was built from: two contexts' images of one version are told apart.
pub(crate) const CONTEXT_LABEL: &str = "org.release-pipeline.context";
/// The label on the containers `--run` starts: what it may replace on the next `--run`.
pub(crate) const RUN_LABEL: &str = "org.release-pipeline.run";

/// What the preflight read, for the step planner: the registry (as `BuildAction`s), the cargo
/// registry, the host and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) root: Utf8PathBuf,
    /// The configured targets and the platform each serves.
    pub(crate) targets: Vec<TargetConfig>,
    /// This run's own scratch directory (buildx's metadata files go there).
    pub(crate) scratch_dir: Utf8PathBuf,
    /// `CARGO_HOME`, remapped out of the binaries.
    pub(crate) cargo_home: Option<String>,
    pub(crate) host_platform: Platform,
    /// Whether the engine keeps images in containerd (which holds multi-platform images).
    pub(crate) containerd_store: bool,
    pub(crate) qemu: qemu::HostQemu,
    /// The image that registers qemu handlers when the host cannot (`qemu-image`).
    pub(crate) qemu_image: String,
    /// The commit's time: the image's creation time and every mtime in the packages.
    pub(crate) epoch: i64,
    /// The repository's web address, from the CI environment.
    pub(crate) source_url: Option<String>,
    /// The registry user when both credentials are in the environment (the password goes on
    /// stdin and is never part of a step).
    pub(crate) login_user: Option<String>,
    /// The run's private docker config (its `config.json` is skopeo's `--authfile`).
    pub(crate) authfile: Option<Utf8PathBuf>,
    pub(crate) builder: Option<String>,
    /// `--run`: the port to publish the started image on.
    pub(crate) run_port: Option<u16>,
    /// Per image of the plan: what the registry holds decided (`plan::reconcile`).
    pub(crate) actions: Vec<BuildAction>,
    /// Per crate of the plan: what the cargo registry holds decided.
    pub(crate) crates: Vec<CrateAction>,
    /// The key and public key a signing plan uses.
    pub(crate) signing: SigningConfig,
    /// Per image of the plan: whether the registry already holds the signature and the
    /// attestations of the digest it holds (a rerun does not sign twice).
    pub(crate) signed: Vec<bool>,
    /// `dist/SHA256SUMS` is there without its signature (a run stopped before signing it).
    pub(crate) sums_unsigned: bool,
    /// `--part TARGET`: this run does that target's share only.
    pub(crate) part: Option<String>,
    /// `merge`: what each image is assembled from, read from the parts' results.
    pub(crate) merge: Option<Merge>,
}

/// What `merge` read from the parts: per image, the manifest digest of each platform (in the
/// plan's order), and the packages the parts built (for the provenance).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Merge {
    pub(crate) sources: Vec<Vec<(Platform, Digest)>>,
    pub(crate) packages: Vec<(String, String)>,
}

/// What the cargo registry holds decided for one crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CrateAction {
    pub(crate) krate: String,
    pub(crate) version: Version,
    pub(crate) registry: String,
    pub(crate) state: PublishState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublishState {
    Publish,
    /// Published before from this very commit: a rerun.
    AlreadyThere,
    /// A dev version published from another commit (two branches at the same distance).
    SkipDev {
        theirs: String,
    },
}

impl CrateAction {
    pub(crate) fn describe(&self) -> String {
        match &self.state {
            PublishState::Publish => format!("published to `{}`", self.registry),
            PublishState::AlreadyThere => format!("already in `{}` from this commit", self.registry),
            PublishState::SkipDev { theirs } => format!(
                "skipped: `{}` already has {} from commit {} (the branch's image tag is its own handle)",
                self.registry,
                self.version,
                super::short(Some(theirs))
            ),
        }
    }
}

/// One step of a run. Each has the command line it runs (`argv`, no secret in it: a password
/// goes on stdin); a step done in-process shows the `cargo xtask` command that does the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum Step {
    /// Log in to a registry, into the run's private docker config. Done by the preflight, which
    /// reads the registry with it.
    Login { host: String, user: String, argv: Vec<String> },
    /// Build the service for these targets and package each build in `dist/`.
    Package {
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        /// The cargo package and its binary (`dist/<bin>-<version>-<target>.tar.gz`).
        package: String,
        bin: String,
        targets: Vec<String>,
        argv: Vec<String>,
    },
    /// Copy the packages into these contexts' `pkg/` (a part: its platform's only).
    FillPkg { contexts: Vec<String>, platform: Option<Platform>, argv: Vec<String> },
    /// Register a qemu handler, so buildx can run foreign platforms' binaries.
    RegisterQemu { handlers: Vec<String>, argv: Vec<String> },
    /// Build one context's image for its platforms; push it, or load it into the engine.
    Build {
        /// The image's index in the plan's `images`.
        image: usize,
        context: String,
        platforms: Vec<Platform>,
        tags: Vec<String>,
        build_args: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
        push: bool,
        /// A part's push under a staging tag: no user-visible tag, so no re-read before it.
        staging: bool,
        /// Where buildx writes the pushed digest.
        metadata_file: Utf8PathBuf,
        /// Why the step differs from the plan (a platform left out), if it does.
        note: Option<String>,
        argv: Vec<String>,
    },
    /// Put an image together from the manifests its parts pushed (`merge`) under a staging tag
    /// (`reference`) no user pulls: an index of them (`imagetools create`), or the one manifest
    /// as it is (`skopeo copy`). Read back right after, it must hold exactly `sources`; its
    /// digest is what the later steps sign and tag.
    Assemble { image: usize, reference: String, sources: Vec<(Platform, Digest)>, argv: Vec<String> },
    /// Write the primary tag (`reference`): a copy of the digest this run built or assembled
    /// (`<digest>` in `argv`), by digest, so that what was checked and signed is what is tagged.
    /// After a fresh read of the tag; in a plan that signs, after the signing.
    Promote { image: usize, reference: String, argv: Vec<String> },
    /// Write what this part pushed to `dist/part-<target>.json` (done in-process).
    WritePart { target: String, platform: Platform, images: Vec<usize>, path: Utf8PathBuf, argv: Vec<String> },
    /// Point a moving tag at the highest release it covers, keeping the digest; planned from
    /// this release's version tag, read again right before writing.
    PointTag { image: usize, tag: String, from: String, argv: Vec<String> },
    /// Check a pushed primary tag's digest and platforms.
    Verify { image: usize, reference: String, platforms: Vec<Platform>, argv: Vec<String> },
    /// Publish a crate from a staged copy of the workspace.
    Publish {
        krate: String,
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        registry: String,
        argv: Vec<String>,
    },
    /// Start the image from the local engine and show its `/version`.
    Run { image: usize, reference: String, container: String, port: u16, argv: Vec<String> },
    /// Delete a manifest from the registry, and so every tag on it (`prune`).
    Delete { tags: Vec<String>, digest: String, reason: String, argv: Vec<String> },
    /// Record a retraction: an annotated git tag with the reason.
    GitTag { name: String, commit: String, message: String, argv: Vec<String> },
    /// Push a git tag to the remote.
    GitPush { name: String, argv: Vec<String> },
    /// Yank a published crate version from the cargo registry.
    Yank {
        krate: String,
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        registry: String,
        argv: Vec<String>,
    },
    /// Write a target's SBOM (CycloneDX) from the dependency graph `cargo metadata` resolves.
    Sbom { target: String, package: String, path: Utf8PathBuf, argv: Vec<String> },
    /// Write an image's SLSA provenance predicate, from the plan (done in-process).
    Provenance { image: usize, path: Utf8PathBuf, argv: Vec<String> },
    /// Sign the digest the image's primary tag (`reference`) was pushed with, and each platform
    /// manifest of its index.
    Sign { image: usize, reference: String, argv: Vec<String> },
    /// Attach an attestation to an image's digest (`manifest: null`) or to one platform's manifest.
    Attest {
        image: usize,
        reference: String,
        manifest: Option<Platform>,
        predicate_type: String,
        predicate: Utf8PathBuf,
        argv: Vec<String>,
    },
    /// Sign `dist/SHA256SUMS`.
    SignBlob { file: Utf8PathBuf, signature: Utf8PathBuf, argv: Vec<String> },
    /// Something the plan names that this run leaves alone, and why.
    Skip { what: String, why: String, argv: Vec<String> },
}

impl Step {
    /// The step with its image indices moved by `by`: a service's steps among several, whose
    /// images follow the earlier services' in the combined plan.
    pub(crate) fn offset(mut self, by: usize) -> Step {
        match &mut self {
            Step::Build { image, .. }
            | Step::Assemble { image, .. }
            | Step::Promote { image, .. }
            | Step::PointTag { image, .. }
            | Step::Verify { image, .. }
            | Step::Run { image, .. }
            | Step::Provenance { image, .. }
            | Step::Sign { image, .. }
            | Step::Attest { image, .. } => *image += by,
            Step::WritePart { images, .. } => images.iter_mut().for_each(|i| *i += by),
            Step::Login { .. }
            | Step::Package { .. }
            | Step::FillPkg { .. }
            | Step::RegisterQemu { .. }
            | Step::Publish { .. }
            | Step::Delete { .. }
            | Step::GitTag { .. }
            | Step::GitPush { .. }
            | Step::Yank { .. }
            | Step::Sbom { .. }
            | Step::SignBlob { .. }
            | Step::Skip { .. } => {}
        }
        self
    }

    pub(crate) fn argv(&self) -> &[String] {
        match self {
            Step::Login { argv, .. }
            | Step::Package { argv, .. }
            | Step::FillPkg { argv, .. }
            | Step::RegisterQemu { argv, .. }
            | Step::Build { argv, .. }
            | Step::Assemble { argv, .. }
            | Step::Promote { argv, .. }
            | Step::WritePart { argv, .. }
            | Step::PointTag { argv, .. }
            | Step::Verify { argv, .. }
            | Step::Publish { argv, .. }
            | Step::Run { argv, .. }
            | Step::Delete { argv, .. }
            | Step::GitTag { argv, .. }
            | Step::GitPush { argv, .. }
            | Step::Yank { argv, .. }
            | Step::Sbom { argv, .. }
            | Step::Provenance { argv, .. }
            | Step::Sign { argv, .. }
            | Step::Attest { argv, .. }
            | Step::SignBlob { argv, .. }
            | Step::Skip { argv, .. } => argv,
        }
    }

    /// The step's kind, as `--json` names it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Step::Login { .. } => "login",
            Step::Package { .. } => "package",
            Step::FillPkg { .. } => "fill-pkg",
            Step::RegisterQemu { .. } => "register-qemu",
            Step::Build { .. } => "build",
            Step::Assemble { .. } => "assemble",
            Step::Promote { .. } => "promote",
            Step::WritePart { .. } => "write-part",
            Step::PointTag { .. } => "point-tag",
            Step::Verify { .. } => "verify",
            Step::Publish { .. } => "publish",
            Step::Run { .. } => "run",
            Step::Delete { .. } => "delete",
            Step::GitTag { .. } => "git-tag",
            Step::GitPush { .. } => "git-push",
            Step::Yank { .. } => "yank",
            Step::Sbom { .. } => "sbom",
            Step::Provenance { .. } => "provenance",
            Step::Sign { .. } => "sign",
            Step::Attest { .. } => "attest",
            Step::SignBlob { .. } => "sign-blob",
            Step::Skip { .. } => "skip",
        }
    }
}

/// The steps, and what stops them (each problem a sentence).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Steps {
    pub(crate) steps: Vec<Step>,
    pub(crate) problems: Vec<String>,
}

fn strings<const N: usize>(words: [&str; N]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The registry hosts the plan pushes to, each once.
pub(crate) fn push_hosts(plan: &ReleasePlan) -> Vec<String> {
    let mut hosts: Vec<String> =
        plan.images.iter().filter(|i| i.push).map(|i| reference::registry_host(&i.repository).to_owned()).collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The logins a run makes before it reads the registry: one per pushed host, when the
/// credentials are in the environment (without them, the user's own docker login is used).
pub(crate) fn logins(plan: &ReleasePlan, user: Option<&str>) -> Vec<Step> {
    let Some(user) = user else { return Vec::new() };
    push_hosts(plan)
        .into_iter()
        .map(|host| Step::Login {
            argv: strings(["docker", "login", &host, "--username", user, "--password-stdin"]),
            host,
            user: user.to_owned(),
        })
        .collect()
}

/// skopeo's options for a registry: this run's login and, for a loopback registry only, plain
/// HTTP (`tls_flags` turned off).
pub(crate) fn skopeo_options(authfile: Option<&Utf8Path>, repository: &str, tls_flags: &[&str]) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(authfile) = authfile {
        args.extend(["--authfile".to_owned(), authfile.to_string()]);
    }
    if reference::is_loopback_registry(reference::registry_host(repository)) {
        args.extend(tls_flags.iter().map(|f| format!("{f}=false")));
    }
    args
}

/// `skopeo copy` of `repository:from` to `repository:to`, keeping the digest: a multi-platform
/// index and a single-platform manifest alike are copied as they are (`imagetools create` would
/// wrap a single manifest in a new index with a new digest).
pub(crate) fn copy_tag_argv(authfile: Option<&Utf8Path>, repository: &str, from: &str, to: &str) -> Vec<String> {
    let mut argv = strings(["skopeo", "copy", "--all", "--preserve-digests"]);
    argv.extend(skopeo_options(authfile, repository, &["--src-tls-verify", "--dest-tls-verify"]));
    argv.push(ImageRef::tag(repository, from).transport());
    argv.push(ImageRef::tag(repository, to).transport());
    argv
}

/// `skopeo copy` of `repository@digest` to `repository:to`, keeping the digest.
pub(crate) fn copy_digest_argv(authfile: Option<&Utf8Path>, repository: &str, digest: &str, to: &str) -> Vec<String> {
    let mut argv = strings(["skopeo", "copy", "--all", "--preserve-digests"]);
    argv.extend(skopeo_options(authfile, repository, &["--src-tls-verify", "--dest-tls-verify"]));
    argv.push(format!("docker://{repository}@{digest}"));
    argv.push(ImageRef::tag(repository, to).transport());
    argv
}

/// `docker buildx imagetools inspect` of a reference, as JSON.
pub(crate) fn inspect_argv(reference: &str) -> Vec<String> {
    strings(["docker", "buildx", "imagetools", "inspect", reference, "--format", "{{json .}}"])
}

/// `cargo publish` of one crate, run in the staged copy of the workspace (which is why
/// `--allow-dirty`; `--no-verify`: the release built it already).
pub(crate) fn publish_argv(registry: &str, krate: &str) -> Vec<String> {
    strings(["cargo", "publish", "--no-verify", "--allow-dirty", "--registry", registry, "-p", krate])
}

/// `cargo yank` of one crate version.
pub(crate) fn yank_argv(registry: &str, krate: &str, version: &Version) -> Vec<String> {
    strings(["cargo", "yank", "--version", &version.to_string(), "--registry", registry, krate])
}

/// The container name `--run` uses for a service's image tag.
pub(crate) fn run_container(service: &str, tag: &str) -> String {
    format!("{service}-{tag}")
}

/// Every step of a run, in order: log in, package, fill `pkg/`, register qemu, build each
/// image, point the moving tags, verify, publish, run.
pub(crate) fn steps(plan: &ReleasePlan, facts: &Facts) -> Steps {
    let mut out = Steps::default();
    if plan.kind == Kind::Skip {
        return out;
    }
    let commit = plan.commit.map(|c| c.to_string()).unwrap_or_default();
    out.steps.extend(logins(plan, facts.login_user.as_deref()));
    if let Some(target) = &facts.part {
        part_steps(plan, facts, target, &commit, &mut out);
        return out;
    }
    let action = |i: usize| facts.actions.get(i).cloned().unwrap_or(BuildAction::Build);
    let to_build: Vec<usize> = (0..plan.images.len()).filter(|&i| action(i) == BuildAction::Build).collect();

    let has_digest = |i: usize| image_has_digest(&action(i));
    // The pushed images to sign: those built now, and those a stopped run left unsigned.
    let to_sign: Vec<usize> = (0..plan.images.len())
        .filter(|&i| plan.signed && plan.images[i].push && has_digest(i))
        .filter(|&i| action(i) == BuildAction::Build || !facts.signed.get(i).copied().unwrap_or(false))
        .collect();

    // Packages and pkg/ for the images to build only: a resumed release builds what is missing.
    // An image left unsigned gets its packages again (reproducible), for its provenance.
    let platforms: Vec<&Platform> = to_build.iter().flat_map(|&i| &plan.images[i].platforms).collect();
    let packaged: Vec<&Platform> = to_build.iter().chain(&to_sign).flat_map(|&i| &plan.images[i].platforms).collect();
    if facts.merge.is_some() {
        // The parts built and pushed; the SBOMs come from this checkout's lockfile.
        let signed: Vec<&ImagePlan> = to_sign.iter().map(|&i| &plan.images[i]).collect();
        out.steps.extend(sign::sbom_steps(&facts.root, &plan.service, &plan.version.semver, &facts.targets, &signed));
    } else if !packaged.is_empty() {
        let targets: Vec<String> =
            facts.targets.iter().filter(|t| packaged.contains(&&t.platform)).map(|t| t.target.clone()).collect();
        out.steps.push(package_step(plan, facts, targets));
        let signed: Vec<&ImagePlan> = to_sign.iter().map(|&i| &plan.images[i]).collect();
        out.steps.extend(sign::sbom_steps(&facts.root, &plan.service, &plan.version.semver, &facts.targets, &signed));
    }
    if !to_build.is_empty() && facts.merge.is_none() {
        let contexts: Vec<String> = to_build.iter().map(|&i| plan.images[i].context.clone()).collect();
        let mut argv = strings(["cargo", "xtask", "distcopy", "--from", "dist"]);
        argv.extend(contexts.iter().map(|c| format!("{c}/pkg")));
        out.steps.push(Step::FillPkg { contexts, platform: None, argv });
        match qemu::registrations(&facts.qemu, &facts.host_platform, platforms.iter().copied(), &facts.qemu_image) {
            Ok(registrations) => out
                .steps
                .extend(registrations.into_iter().map(|(handlers, argv)| Step::RegisterQemu { handlers, argv })),
            Err(problem) => out.problems.push(problem),
        }
    }

    // The primary tags: right after each build for a plan that does not sign; for one that signs,
    // after the signing, so that no version or branch tag ever names an unsigned image of ours.
    let mut promotes = Vec::new();
    for (i, image) in plan.images.iter().enumerate() {
        let what = format!("build {}/ → {}:{}", image.context, image.repository, image.primary_tag());
        match (action(i), &facts.merge) {
            (BuildAction::Build, Some(merge)) => {
                out.steps.push(assemble_step(plan, facts, i, image, merge));
                promotes.push(promote_step(facts, i, image));
            }
            (BuildAction::Build, None) => match build_step(plan, facts, i, &commit, None) {
                Ok(step) => {
                    out.steps.push(step);
                    if plan.signed && image.push {
                        promotes.push(promote_step(facts, i, image));
                    }
                }
                Err(problem) => out.problems.push(problem),
            },
            (BuildAction::AlreadyThere { digest }, _) => out.steps.push(Step::Skip {
                what,
                why: format!("already released from this commit ({digest}): a rerun resumes after it"),
                argv: Vec::new(),
            }),
            (BuildAction::Skip { why }, _) => out.steps.push(Step::Skip { what, why, argv: Vec::new() }),
        }
        if !plan.signed {
            out.steps.append(&mut promotes);
        }
    }

    // Signed before any moving tag points at it: `latest` never names an unsigned image.
    for (i, image) in plan.images.iter().enumerate() {
        if to_sign.contains(&i) {
            out.steps.extend(sign::image_steps(
                &facts.root,
                &plan.service.bin,
                &plan.version.semver,
                &facts.targets,
                &facts.signing,
                i,
                image,
            ));
        } else if plan.signed && image.push && has_digest(i) {
            out.steps.push(Step::Skip {
                what: format!("sign {}:{}", image.repository, image.primary_tag()),
                why: "the registry holds its signature and attestations already".to_owned(),
                argv: Vec::new(),
            });
        }
    }
    out.steps.append(&mut promotes);
    // Packages made in this run get their checksums signed, and so does a list a stopped run
    // left unsigned (a merge has none).
    if plan.signed && facts.merge.is_none() && (!to_sign.is_empty() || facts.sums_unsigned) {
        out.steps.push(sign::sums_step(&facts.root, &facts.signing));
    }

    // Moving tags only once every context's immutable tag is in, then a check of each tag.
    for (i, image) in plan.images.iter().enumerate().filter(|(i, im)| im.push && has_digest(*i)) {
        for tag in &image.moving_tags {
            out.steps.push(Step::PointTag {
                image: i,
                tag: tag.clone(),
                from: image.primary_tag().to_owned(),
                argv: copy_tag_argv(facts.authfile.as_deref(), &image.repository, image.primary_tag(), tag),
            });
        }
    }
    // The moving tags are confirmed by their step's last read; the primary tags here.
    for (i, image) in plan.images.iter().enumerate().filter(|(i, im)| im.push && has_digest(*i)) {
        let reference = ImageRef::tag(&image.repository, image.primary_tag()).to_string();
        out.steps.push(Step::Verify {
            image: i,
            argv: inspect_argv(&reference),
            reference,
            platforms: image.platforms.clone(),
        });
    }

    for c in &facts.crates {
        match &c.state {
            PublishState::Publish => out.steps.push(Step::Publish {
                argv: publish_argv(&c.registry, &c.krate),
                krate: c.krate.clone(),
                version: c.version.clone(),
                registry: c.registry.clone(),
            }),
            _ => out.steps.push(Step::Skip {
                what: format!("publish {} {}", c.krate, c.version),
                why: c.describe(),
                argv: Vec::new(),
            }),
        }
    }

    if let Some(port) = facts.run_port {
        match plan.images.iter().position(|i| i.platforms.contains(&facts.host_platform)) {
            Some(i) => {
                let image = &plan.images[i];
                let reference = ImageRef::tag(&image.repository, image.primary_tag()).to_string();
                let container = run_container(&plan.service.name, image.primary_tag());
                let mut argv = strings(["docker", "run", "--detach", "--rm", "--name", &container, "--label"]);
                argv.push(format!("{RUN_LABEL}=1"));
                argv.push("--publish".to_owned());
                argv.push(format!("127.0.0.1:{port}:8080"));
                argv.push(reference.clone());
                out.steps.push(Step::Run { image: i, reference, container, port, argv });
            }
            None => out.problems.push(format!(
                "--run starts the image built for this machine ({}), but no context builds that platform",
                facts.host_platform
            )),
        }
    }
    out
}

/// The one `cargo build` of the plan's service for `targets`, packaged.
fn package_step(plan: &ReleasePlan, facts: &Facts, targets: Vec<String>) -> Step {
    let service = &plan.service;
    Step::Package {
        version: plan.version.semver.clone(),
        argv: dist::cargo_build_argv(&service.package, &service.bin, &targets, facts.cargo_home.as_deref()),
        package: service.package.clone(),
        bin: service.bin.clone(),
        targets,
    }
}

/// Whether an image has a digest to point tags at and verify after its step.
fn image_has_digest(action: &BuildAction) -> bool {
    matches!(action, BuildAction::Build | BuildAction::AlreadyThere { .. })
}

/// One context's `docker buildx build`; for a part, of its one platform, pushed under a staging
/// tag (`part`).
fn build_step(
    plan: &ReleasePlan,
    facts: &Facts,
    i: usize,
    commit: &str,
    part: Option<(&Platform, String)>,
) -> Result<Step, String> {
    let image = &plan.images[i];
    let mut platforms = image.platforms.clone();
    let mut note = None;
    if let Some((platform, _)) = &part {
        platforms = vec![(*platform).clone()];
    }
    if !image.push && !facts.containerd_store {
        // Without the containerd image store the engine holds one platform per tag.
        if !platforms.contains(&facts.host_platform) {
            return Err(format!(
                "the local engine cannot hold {} images without the containerd image store (enable it in /etc/docker/daemon.json)",
                platforms.join(",")
            ));
        }
        note = Some(format!(
            "the engine has no containerd image store: loading {} only, not {}",
            facts.host_platform,
            platforms.join(",")
        ));
        platforms = vec![facts.host_platform.clone()];
    }
    let build_args: BTreeMap<String, String> = [
        ("VERSION", plan.version.semver.to_string()),
        ("REVISION", commit.to_owned()),
        ("CREATED", dist::rfc3339(facts.epoch)),
        ("SOURCE", facts.source_url.clone().unwrap_or_default()),
        ("SOURCE_DATE_EPOCH", facts.epoch.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    // What the pipeline decides from when it reads an image back (a merge's parts, moving tags,
    // a stale dev tag): set here, whatever the Dockerfile says. A label adds no history entry,
    // so a Dockerfile that sets the same values builds the same digest.
    let mut labels = BTreeMap::from([
        (REVISION_LABEL.to_owned(), commit.to_owned()),
        (VERSION_LABEL.to_owned(), plan.version.semver.to_string()),
        (CONTEXT_LABEL.to_owned(), image.context.clone()),
    ]);
    if let (Kind::DevRelease | Kind::BuildOnly, Some(branch)) = (plan.kind, &plan.branch) {
        labels.insert(BRANCH_LABEL.to_owned(), branch.clone());
    }
    // A push carries the immutable tag only (moving tags follow once all contexts are in); the
    // local engine gets every tag at once.
    // A plan that signs pushes under a staging tag no user pulls (buildx's docker driver cannot
    // push by digest alone): the primary tag follows the signature, copied by digest.
    let staged = plan.signed && image.push && part.is_none();
    let tags: Vec<String> = if let (Some((_, staging)), true) = (&part, image.push) {
        vec![ImageRef::tag(&image.repository, staging).to_string()]
    } else if staged {
        vec![ImageRef::tag(&image.repository, &crate::tags::staging_tag(commit, image.primary_tag(), "build"))
            .to_string()]
    } else if image.push {
        vec![ImageRef::tag(&image.repository, image.primary_tag()).to_string()]
    } else {
        image.tags().iter().map(|t| ImageRef::tag(&image.repository, t).to_string()).collect()
    };
    let metadata_file = facts.scratch_dir.join(format!("buildx-{}.json", image.context.replace('/', "-")));
    let staging = part.is_some();
    let mut argv = strings(["docker", "buildx", "build"]);
    if let Some(b) = &facts.builder {
        argv.extend(["--builder".to_owned(), b.clone()]);
    }
    argv.extend(["--platform".to_owned(), platforms.join(",")]);
    // No attestations: they show in registries as a bogus `unknown/unknown` platform.
    argv.push("--provenance=false".to_owned());
    for (k, v) in &build_args {
        argv.extend(["--build-arg".to_owned(), format!("{k}={v}")]);
    }
    for (k, v) in &labels {
        argv.extend(["--label".to_owned(), format!("{k}={v}")]);
    }
    for tag in &tags {
        argv.extend(["--tag".to_owned(), tag.clone()]);
    }
    argv.extend(["--metadata-file".to_owned(), metadata_file.to_string()]);
    argv.push(if image.push { "--push" } else { "--load" }.to_owned());
    argv.push(facts.root.join(&image.context).to_string());
    Ok(Step::Build {
        image: i,
        context: image.context.clone(),
        platforms,
        tags,
        build_args,
        labels,
        push: image.push,
        staging,
        metadata_file,
        note,
        argv,
    })
}

/// A part's steps: package its target, fill the `pkg/` of the contexts that build its platform,
/// register qemu for it, build each of those contexts for that platform and push it under a
/// staging tag, then write the result for `merge`. No version, moving or branch tag.
fn part_steps(plan: &ReleasePlan, facts: &Facts, target: &str, commit: &str, out: &mut Steps) {
    let platform = match parts::part_platform(plan, &facts.targets, target) {
        Ok(platform) => platform,
        Err(problem) => return out.problems.push(problem),
    };
    let images: Vec<usize> = parts::part_images(plan, platform).map(|(i, _)| i).collect();
    out.steps.push(package_step(plan, facts, vec![target.to_owned()]));
    let contexts: Vec<String> = images.iter().map(|&i| plan.images[i].context.clone()).collect();
    let mut argv = strings(["cargo", "xtask", "distcopy", "--from", "dist", "--platform", platform.as_str()]);
    argv.extend(contexts.iter().map(|c| format!("{c}/pkg")));
    out.steps.push(Step::FillPkg { contexts, platform: Some(platform.clone()), argv });
    match qemu::registrations(&facts.qemu, &facts.host_platform, [platform], &facts.qemu_image) {
        Ok(registrations) => {
            out.steps.extend(registrations.into_iter().map(|(handlers, argv)| Step::RegisterQemu { handlers, argv }))
        }
        Err(problem) => out.problems.push(problem),
    }
    for &i in &images {
        let staging = crate::tags::staging_tag(commit, plan.images[i].primary_tag(), platform.as_str());
        match build_step(plan, facts, i, commit, Some((platform, staging))) {
            Ok(step) => out.steps.push(step),
            Err(problem) => out.problems.push(problem),
        }
    }
    // A build-only plan (a pull request) checks that its share builds: nothing to merge.
    if images.iter().any(|&i| !plan.images[i].push) {
        return;
    }
    out.steps.push(Step::WritePart {
        target: target.to_owned(),
        platform: platform.clone(),
        images,
        path: parts::part_path(&facts.root, target),
        argv: Vec::new(),
    });
}

/// `merge`'s assembly of one image from its parts' manifests, under a staging tag: several
/// platforms in an index; one platform's manifest as it is (an index around it would get another
/// digest).
fn assemble_step(plan: &ReleasePlan, facts: &Facts, i: usize, image: &ImagePlan, merge: &Merge) -> Step {
    let sources = merge.sources.get(i).cloned().unwrap_or_default();
    let commit = plan.commit.map(|c| c.to_string()).unwrap_or_default();
    let staging = crate::tags::staging_tag(&commit, image.primary_tag(), "merge");
    let reference = ImageRef::tag(&image.repository, &staging).to_string();
    let argv = match sources.as_slice() {
        [(_, digest)] => copy_digest_argv(facts.authfile.as_deref(), &image.repository, digest.as_str(), &staging),
        _ => {
            let mut argv = strings(["docker", "buildx", "imagetools", "create", "--tag", &reference]);
            argv.extend(sources.iter().map(|(_, digest)| format!("{}@{digest}", image.repository)));
            argv
        }
    };
    Step::Assemble { image: i, reference, sources, argv }
}

/// The write of an image's primary tag from the digest built or assembled before it.
fn promote_step(facts: &Facts, i: usize, image: &ImagePlan) -> Step {
    let argv = copy_digest_argv(facts.authfile.as_deref(), &image.repository, super::sign::DIGEST, image.primary_tag());
    let reference = ImageRef::tag(&image.repository, image.primary_tag()).to_string();
    Step::Promote { image: i, reference, argv }
}

/// The steps for a person: one line each, its command line after it.
pub(crate) fn render(steps: &[Step]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (n, step) in steps.iter().enumerate() {
        let what = match step {
            Step::Login { host, user, .. } => format!("log in to {host} as {user} (password on stdin)"),
            Step::Package { version, targets, .. } => format!("package {version} for {}", targets.join(", ")),
            Step::FillPkg { contexts, platform, .. } => format!(
                "fill pkg/ of {}{}",
                contexts.join(", "),
                platform.as_ref().map(|p| format!(" for {p}")).unwrap_or_default()
            ),
            Step::RegisterQemu { handlers, .. } => format!("register {}", handlers.join(", ")),
            Step::Build { context, platforms, push, note, .. } => format!(
                "build {context}/ for {} ({}){}",
                platforms.join(","),
                if *push { "push" } else { "load into the local engine" },
                note.as_ref().map(|n| format!("; {n}")).unwrap_or_default()
            ),
            Step::Assemble { reference, sources, .. } => format!(
                "assemble {reference} from {}",
                sources.iter().map(|(p, d)| format!("{p} {}", &d.as_str()[..19])).collect::<Vec<_>>().join(", ")
            ),
            Step::Promote { reference, .. } => format!("tag {reference} (the digest built or assembled above)"),
            Step::WritePart { target, path, .. } => format!("write what the part for {target} pushed to {path}"),
            Step::PointTag { tag, from, .. } => format!("point {tag} at {from} (or the higher release it covers)"),
            Step::Verify { reference, platforms, .. } => format!("verify {reference} [{}]", platforms.join(", ")),
            Step::Publish { krate, version, registry, .. } => format!("publish {krate} {version} to `{registry}`"),
            Step::Run { reference, port, .. } => format!("run {reference} on 127.0.0.1:{port}"),
            Step::Delete { tags, reason, .. } => format!("delete {}: {reason}", tags.join(", ")),
            Step::GitTag { name, commit, message, .. } => {
                format!("tag {} as {name}: {message}", &commit[..commit.len().min(12)])
            }
            Step::GitPush { name, .. } => format!("push the tag {name}"),
            Step::Yank { krate, version, registry, .. } => format!("yank {krate} {version} from `{registry}`"),
            Step::Sbom { target, path, .. } => format!("write the SBOM of {target} to {path}"),
            Step::Provenance { path, .. } => format!("write the provenance to {path}"),
            Step::Sign { reference, .. } => format!("sign {reference} (its digest) and its platform manifests"),
            Step::Attest { reference, manifest, predicate_type, .. } => format!(
                "attest {predicate_type} on {}",
                manifest
                    .as_ref()
                    .map(|p| format!("the {p} manifest of {reference}"))
                    .unwrap_or_else(|| reference.clone())
            ),
            Step::SignBlob { file, signature, .. } => format!("sign {file} into {signature}"),
            Step::Skip { what, why, .. } => format!("skip {what}: {why}"),
        };
        let _ = writeln!(out, "step {:>2}: {:<13} {what}", n + 1, step.kind());
        if !step.argv().is_empty() {
            let _ = writeln!(out, "          $ {}", shell_words::join(step.argv()));
        }
    }
    out
}
