//! `Step`: one thing a run does, with its exact command line, and the typed references between
//! steps for what is known only once an earlier step ran (the digest a build pushed; whether a
//! re-read let a write go ahead). The planners (`steps.rs`, `sign.rs`, `registry.rs`) make them;
//! the executor (`execute.rs`) runs them one by one, deciding nothing of its own.
use std::collections::BTreeMap;

use camino::Utf8PathBuf;
use semver::Version;
use serde::{Serialize, Serializer};

use crate::{
    dist::Format,
    notes::ReleaseNotes,
    platform::{Platform, TargetTriple},
    reference::Digest,
};

/// A step's place in its run: its number as `--dry-run` shows it (1-based in `--json` too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StepId(pub usize);

impl Serialize for StepId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0 as u64 + 1)
    }
}

impl std::fmt::Display for StepId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}", self.0 + 1)
    }
}

/// A digest a step works on: known when the plan is made (what the registry held), or the one
/// an earlier step produced (a build's push, an assembly, a re-read that found the image there);
/// with `platform`, that platform's manifest in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DigestRef {
    Known(Digest),
    Of {
        step: StepId,
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: Option<Platform>,
    },
}

impl DigestRef {
    pub fn of(step: StepId) -> DigestRef {
        DigestRef::Of { step, platform: None }
    }
}

impl std::fmt::Display for DigestRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DigestRef::Known(digest) => write!(f, "{digest}"),
            DigestRef::Of { step, platform: None } => write!(f, "<digest of {step}>"),
            DigestRef::Of { step, platform: Some(p) } => write!(f, "<{p} manifest of {step}>"),
        }
    }
}

/// One argument of a command line: written out, or `prefix` and a digest known at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Lit(String),
    Digest { prefix: String, digest: DigestRef },
}

impl Arg {
    pub fn lits(words: Vec<String>) -> Vec<Arg> {
        words.into_iter().map(Arg::Lit).collect()
    }
}

impl Serialize for Arg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Reference<'a> {
            prefix: &'a str,
            digest: &'a DigestRef,
        }
        match self {
            Arg::Lit(word) => s.serialize_str(word),
            Arg::Digest { prefix, digest } => Reference { prefix, digest }.serialize(s),
        }
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Lit(word) => f.write_str(word),
            Arg::Digest { prefix, digest } => write!(f, "{prefix}{digest}"),
        }
    }
}

/// When a step runs, from what an earlier one did. A step whose condition fails is passed over,
/// and stands for what that step found (a re-read that found the image already there: its
/// digest is the one later steps verify and tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// `step` ran and did its work: a re-read let the write go ahead, a build pushed.
    Ran(StepId),
    /// `step`, or the re-read it stood for, left a digest.
    Digest(StepId),
}

/// What the re-read before writing an image's primary tag accepts as already ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Accept {
    /// A plan that does not sign: what `plan::reconcile` calls this commit's image.
    Reconciled,
    /// Before a build that is signed: a digest the configured key signed (another run of ours).
    SignedByKey,
    /// At the tag step: exactly the digest this run built or assembled, and signed.
    Exactly(DigestRef),
}

/// One step of a run. Each has the command line it runs (`argv`, no secret in it: a password
/// goes on stdin); a step done in-process shows the `cargo xtask` command that does the same,
/// or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// Log in to a registry, into the run's private docker config. Done by the preflight, which
    /// reads the registry with it.
    Login { host: String, user: String, argv: Vec<String> },
    /// Build the service for these targets and package each build in `dist` (`format`).
    Package {
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        /// The cargo package and its binary (`dist/<bin>-<version>-<target>.tar.gz`).
        package: String,
        bin: String,
        targets: Vec<TargetTriple>,
        dist: Utf8PathBuf,
        format: Format,
        /// The commit's time: every mtime in the packages.
        epoch: i64,
        argv: Vec<String>,
    },
    /// Copy the packages of `version` from `from` into these contexts' `pkg/` (a part: its
    /// platform's only).
    FillPkg {
        contexts: Vec<String>,
        platform: Option<Platform>,
        from: Utf8PathBuf,
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        argv: Vec<String>,
    },
    /// Register a qemu handler, so buildx can run foreign platforms' binaries.
    RegisterQemu { handlers: Vec<String>, argv: Vec<String> },
    /// Read an image's primary tag again right before writing it: another run may have written
    /// it since the preflight. Lets the write go ahead, finds it done (by a run of ours, as
    /// `accept` says), or stops the image (a newer build is there); anything else stops the run.
    Recheck {
        image: usize,
        reference: String,
        accept: Accept,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<String>,
    },
    /// Check that a context's `pkg/` holds exactly this version's package of `bin` for each
    /// platform, before docker sees it.
    CheckPkg {
        context: String,
        platforms: Vec<Platform>,
        bin: String,
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<String>,
    },
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
        /// A part's push under a staging tag.
        staging: bool,
        /// Where buildx writes the built digest.
        metadata_file: Utf8PathBuf,
        /// A pushed image's OCI archive (its timestamps rewritten to `epoch`), which the `push`
        /// step after it pushes.
        #[serde(skip_serializing_if = "Option::is_none")]
        archive: Option<Utf8PathBuf>,
        /// The commit's time (`SOURCE_DATE_EPOCH`).
        epoch: i64,
        /// Why the step differs from the plan (a platform left out), if it does.
        note: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<String>,
    },
    /// Push a build's OCI archive to its tag (`reference`) as it is, digests kept.
    Push {
        image: usize,
        archive: Utf8PathBuf,
        reference: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<String>,
    },
    /// Put an image together from the manifests its parts pushed (`merge`) under a staging tag
    /// (`reference`) no user pulls: an index of them (`imagetools create`), or the one manifest
    /// as it is (`skopeo copy`). Read back right after, it must hold exactly `sources`; its
    /// digest is what the later steps sign and tag.
    Assemble { image: usize, reference: String, sources: Vec<(Platform, Digest)>, argv: Vec<String> },
    /// Read an image back by digest: its platform manifests, which the attestations name.
    Inspect {
        image: usize,
        digest: DigestRef,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<Arg>,
    },
    /// Write the primary tag (`reference`): a copy of `digest`, the one this run built or
    /// assembled, so that what was checked and signed is what is tagged; read back after.
    Promote {
        image: usize,
        reference: String,
        digest: DigestRef,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<Arg>,
    },
    /// Write what this part pushed to `dist/part-<target>.json` (done in-process).
    WritePart {
        target: TargetTriple,
        platform: Platform,
        /// The package this part built, as `SHA256SUMS` in `sums` lists it.
        package: String,
        sums: Utf8PathBuf,
        /// Per image: what the part's result names, and the build that pushed it.
        images: Vec<PartImageRef>,
        path: Utf8PathBuf,
        argv: Vec<String>,
    },
    /// Point a moving tag at the highest release it covers, keeping the digest (`reconcile`).
    PointTag { image: usize, tag: String, from: String, digest: Digest, argv: Vec<String> },
    /// Put an image's moving tags on the highest release each covers: read the registry, write
    /// what is not there, and again until a whole round changes nothing (a concurrent release
    /// is converged with). Never backwards; only onto a complete, qualified release of ours
    /// (`plan::moving`); the retractions are read again first.
    MoveTags {
        image: usize,
        repository: String,
        tags: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<String>,
    },
    /// Copy the signatures and attestations of `digest` (the image's, and its platform
    /// manifests') from the image's repository to a mirror (`mirrors`), before the mirror's tag
    /// names the image: no tag of a mirror names an unsigned image of ours either.
    MirrorSignatures {
        image: usize,
        /// The mirror's repository.
        repository: String,
        digest: DigestRef,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<Arg>,
    },
    /// Copy the image's `digest` to a mirror's tag (`reference`), keeping the digest (never
    /// rebuilt), after a fresh read of the mirror's tag (only an absent tag, an older dev build
    /// of this branch or exactly this digest is written over), and read it back.
    Mirror {
        image: usize,
        /// The mirror's repository.
        repository: String,
        reference: String,
        digest: DigestRef,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<Arg>,
    },
    /// Check a pushed primary tag's digest and platforms.
    Verify {
        image: usize,
        reference: String,
        digest: DigestRef,
        platforms: Vec<Platform>,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<String>,
    },
    /// Stop before publishing when `version` was retracted while this run was going (the git
    /// tags here and on the remote, read again).
    CheckRetraction {
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        argv: Vec<String>,
    },
    /// Copy the tracked files of the published crates into `dir`, their versions set and the
    /// commit recorded, each pinned to the others (`=version`).
    StageCrates {
        crates: Vec<String>,
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        dir: Utf8PathBuf,
        argv: Vec<String>,
    },
    /// Publish a crate from the staged copy (`dir`).
    Publish {
        krate: String,
        #[serde(serialize_with = "crate::version::serialize_display")]
        version: Version,
        registry: String,
        dir: Utf8PathBuf,
        argv: Vec<String>,
    },
    /// Print the run's summary (and write GitHub's job summary): from the plan and what each step did.
    Summary { argv: Vec<String> },
    /// Start the image from the local engine on 127.0.0.1:`port`, wait until it is `ready` (the
    /// service's `run` settings), and show its `/version` when it serves HTTP; a service that
    /// does not come up is stopped.
    Run {
        image: usize,
        reference: String,
        container: String,
        port: u16,
        ready: crate::config::Readiness,
        argv: Vec<String>,
    },
    /// Delete a manifest from the registry, and so every tag on it (`prune`).
    Delete { tags: Vec<String>, digest: Digest, reason: String, argv: Vec<String> },
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
    Sbom { target: TargetTriple, package: String, epoch: i64, path: Utf8PathBuf, argv: Vec<String> },
    /// Write an image's SLSA provenance predicate (done in-process).
    Provenance {
        image: usize,
        path: Utf8PathBuf,
        /// What it says, decided with the plan: only the hashes are read when it is written.
        input: ProvenancePlan,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<String>,
    },
    /// Sign an image's digest and, recursively, each platform manifest of its index.
    Sign {
        image: usize,
        reference: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<Arg>,
    },
    /// Attach an attestation to an image's digest (`manifest: null`) or to one platform's manifest.
    Attest {
        image: usize,
        reference: String,
        manifest: Option<Platform>,
        predicate_type: String,
        predicate: Utf8PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<When>,
        argv: Vec<Arg>,
    },
    /// Write the release's notes (done in-process): the markdown at `path`
    /// (`dist/RELEASE_NOTES.md`) and the JSON at `predicate` (what the notes' attestation says).
    WriteNotes { path: Utf8PathBuf, predicate: Utf8PathBuf, notes: ReleaseNotes, argv: Vec<String> },
    /// Sign `dist/SHA256SUMS`.
    SignBlob { file: Utf8PathBuf, signature: Utf8PathBuf, argv: Vec<String> },
    /// Something the plan names that this run leaves alone, and why.
    Skip {
        what: String,
        why: String,
        /// The image it concerns, and the digest the registry holds for it, when it does.
        #[serde(skip_serializing_if = "Option::is_none")]
        image: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        digest: Option<Digest>,
        argv: Vec<String>,
    },
}

/// One image a part's result names: `digest` is what `build` pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartImageRef {
    pub image: usize,
    pub context: String,
    pub repository: String,
    pub staging_tag: String,
    pub build: StepId,
}

/// An image's provenance, as far as the plan knows it: everything but the hashes of the
/// lockfile and the packages (read when it is written) and the times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvenancePlan {
    /// The repository's address, without any credential.
    pub repository: String,
    pub git_ref: Option<String>,
    pub commit: String,
    pub kind: super::Kind,
    #[serde(serialize_with = "crate::version::serialize_display")]
    pub version: Version,
    pub context: String,
    pub platforms: Vec<Platform>,
    pub lockfile: Utf8PathBuf,
    pub packages: Packages,
    /// The CI run's address, or `local`.
    pub builder: String,
}

/// Where the hashes of an image's packages come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Packages {
    /// These files, as `sums` (this run's `SHA256SUMS`) lists them.
    Sums { sums: Utf8PathBuf, files: Vec<String> },
    /// What a merge's parts reported (file, SHA-256).
    Known(Vec<(String, crate::dist::Sha256)>),
}

impl Step {
    /// The step with its image indices moved by `images` and its references to other steps by
    /// `steps`: a service's steps among several, in the combined plan.
    pub fn offset(mut self, images: usize, steps: usize) -> Step {
        let shift = |id: &mut StepId| id.0 += steps;
        let shift_ref = |d: &mut DigestRef| {
            if let DigestRef::Of { step, .. } = d {
                step.0 += steps
            }
        };
        let shift_args = |argv: &mut Vec<Arg>| {
            for arg in argv {
                if let Arg::Digest { digest: DigestRef::Of { step, .. }, .. } = arg {
                    step.0 += steps
                }
            }
        };
        if let Some(When::Ran(id) | When::Digest(id)) = self.when_mut() {
            shift(id)
        }
        match &mut self {
            Step::Recheck { image, accept, .. } => {
                *image += images;
                if let Accept::Exactly(d) = accept {
                    shift_ref(d)
                }
            }
            Step::Inspect { image, digest, argv, .. }
            | Step::Promote { image, digest, argv, .. }
            | Step::MirrorSignatures { image, digest, argv, .. }
            | Step::Mirror { image, digest, argv, .. } => {
                *image += images;
                shift_ref(digest);
                shift_args(argv);
            }
            Step::Verify { image, digest, .. } => {
                *image += images;
                shift_ref(digest);
            }
            Step::Sign { image, argv, .. } | Step::Attest { image, argv, .. } => {
                *image += images;
                shift_args(argv);
            }
            Step::Build { image, .. }
            | Step::Push { image, .. }
            | Step::Assemble { image, .. }
            | Step::PointTag { image, .. }
            | Step::MoveTags { image, .. }
            | Step::Run { image, .. }
            | Step::Provenance { image, .. } => *image += images,
            Step::Skip { image, .. } => {
                if let Some(image) = image {
                    *image += images
                }
            }
            Step::WritePart { images: refs, .. } => refs.iter_mut().for_each(|r| {
                r.image += images;
                shift(&mut r.build)
            }),
            Step::Login { .. }
            | Step::Package { .. }
            | Step::FillPkg { .. }
            | Step::RegisterQemu { .. }
            | Step::CheckPkg { .. }
            | Step::CheckRetraction { .. }
            | Step::StageCrates { .. }
            | Step::Publish { .. }
            | Step::Summary { .. }
            | Step::Delete { .. }
            | Step::GitTag { .. }
            | Step::GitPush { .. }
            | Step::Yank { .. }
            | Step::Sbom { .. }
            | Step::WriteNotes { .. }
            | Step::SignBlob { .. } => {}
        }
        self
    }

    /// When the step runs; `None`: always (once the steps before it succeeded).
    pub fn when(&self) -> Option<When> {
        match self {
            Step::Recheck { when, .. }
            | Step::CheckPkg { when, .. }
            | Step::Build { when, .. }
            | Step::Push { when, .. }
            | Step::Inspect { when, .. }
            | Step::Promote { when, .. }
            | Step::MoveTags { when, .. }
            | Step::MirrorSignatures { when, .. }
            | Step::Mirror { when, .. }
            | Step::Verify { when, .. }
            | Step::Provenance { when, .. }
            | Step::Sign { when, .. }
            | Step::Attest { when, .. } => *when,
            _ => None,
        }
    }

    fn when_mut(&mut self) -> Option<&mut When> {
        match self {
            Step::Recheck { when, .. }
            | Step::CheckPkg { when, .. }
            | Step::Build { when, .. }
            | Step::Push { when, .. }
            | Step::Inspect { when, .. }
            | Step::Promote { when, .. }
            | Step::MoveTags { when, .. }
            | Step::MirrorSignatures { when, .. }
            | Step::Mirror { when, .. }
            | Step::Verify { when, .. }
            | Step::Provenance { when, .. }
            | Step::Sign { when, .. }
            | Step::Attest { when, .. } => when.as_mut(),
            _ => None,
        }
    }

    /// The step's command line, a digest known only at run time shown as a reference.
    pub fn command_line(&self) -> Vec<String> {
        match self {
            Step::Inspect { argv, .. }
            | Step::Promote { argv, .. }
            | Step::MirrorSignatures { argv, .. }
            | Step::Mirror { argv, .. }
            | Step::Sign { argv, .. }
            | Step::Attest { argv, .. } => argv.iter().map(Arg::to_string).collect(),
            Step::Login { argv, .. }
            | Step::Package { argv, .. }
            | Step::FillPkg { argv, .. }
            | Step::RegisterQemu { argv, .. }
            | Step::Recheck { argv, .. }
            | Step::CheckPkg { argv, .. }
            | Step::Build { argv, .. }
            | Step::Push { argv, .. }
            | Step::Assemble { argv, .. }
            | Step::WritePart { argv, .. }
            | Step::PointTag { argv, .. }
            | Step::MoveTags { argv, .. }
            | Step::Verify { argv, .. }
            | Step::CheckRetraction { argv, .. }
            | Step::StageCrates { argv, .. }
            | Step::Publish { argv, .. }
            | Step::Summary { argv }
            | Step::Run { argv, .. }
            | Step::Delete { argv, .. }
            | Step::GitTag { argv, .. }
            | Step::GitPush { argv, .. }
            | Step::Yank { argv, .. }
            | Step::Sbom { argv, .. }
            | Step::Provenance { argv, .. }
            | Step::WriteNotes { argv, .. }
            | Step::SignBlob { argv, .. }
            | Step::Skip { argv, .. } => argv.clone(),
        }
    }

    /// The step's kind, as `--json` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Login { .. } => "login",
            Step::Package { .. } => "package",
            Step::FillPkg { .. } => "fill-pkg",
            Step::RegisterQemu { .. } => "register-qemu",
            Step::Recheck { .. } => "recheck",
            Step::CheckPkg { .. } => "check-pkg",
            Step::Build { .. } => "build",
            Step::Push { .. } => "push",
            Step::Assemble { .. } => "assemble",
            Step::Inspect { .. } => "inspect",
            Step::Promote { .. } => "promote",
            Step::WritePart { .. } => "write-part",
            Step::PointTag { .. } => "point-tag",
            Step::MoveTags { .. } => "move-tags",
            Step::MirrorSignatures { .. } => "mirror-signatures",
            Step::Mirror { .. } => "mirror",
            Step::Verify { .. } => "verify",
            Step::CheckRetraction { .. } => "check-retraction",
            Step::StageCrates { .. } => "stage-crates",
            Step::Publish { .. } => "publish",
            Step::Summary { .. } => "summary",
            Step::Run { .. } => "run",
            Step::Delete { .. } => "delete",
            Step::GitTag { .. } => "git-tag",
            Step::GitPush { .. } => "git-push",
            Step::Yank { .. } => "yank",
            Step::Sbom { .. } => "sbom",
            Step::Provenance { .. } => "provenance",
            Step::Sign { .. } => "sign",
            Step::Attest { .. } => "attest",
            Step::WriteNotes { .. } => "write-notes",
            Step::SignBlob { .. } => "sign-blob",
            Step::Skip { .. } => "skip",
        }
    }

    /// The race tests' pause point this step kind passes (`RELEASE_PIPELINE_PAUSE_AT`): the run
    /// pauses at the first step of each.
    pub fn pause_point(&self) -> Option<&'static str> {
        match self {
            Step::Package { .. } => Some("dist"),
            Step::Recheck { accept: Accept::Reconciled | Accept::SignedByKey, .. }
            | Step::Build { .. }
            | Step::Push { .. } => Some("build"),
            Step::Provenance { .. } | Step::Attest { .. } | Step::Sign { .. } => Some("sign"),
            Step::Assemble { .. } | Step::Recheck { accept: Accept::Exactly(_), .. } | Step::Promote { .. } => {
                Some("merge")
            }
            Step::MoveTags { .. } | Step::PointTag { .. } => Some("move-tags"),
            Step::CheckRetraction { .. } | Step::Publish { .. } => Some("publish"),
            Step::Delete { .. } => Some("prune"),
            Step::MirrorSignatures { .. } | Step::Mirror { .. } => Some("mirror"),
            _ => None,
        }
    }
}

/// Steps, and what stops them (each problem a sentence): what a planner returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Steps {
    pub steps: Vec<Step>,
    pub problems: Vec<String>,
}

/// `docker buildx imagetools inspect` of a reference, as JSON: the read of a recheck, a verify,
/// and the library's every registry read.
pub fn inspect_argv(reference: &str) -> Vec<String> {
    ["docker", "buildx", "imagetools", "inspect", reference, "--format", "{{json .}}"].map(str::to_owned).to_vec()
}

/// The steps for a person: one line each, its command line after it.
pub fn render(steps: &[Step]) -> String {
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
            Step::Recheck { reference, accept, .. } => format!(
                "read {reference} again: write it unless another run did{}",
                match accept {
                    Accept::Reconciled => String::new(),
                    Accept::SignedByKey => " (signed by the key)".to_owned(),
                    Accept::Exactly(digest) => format!(" (with {digest})"),
                }
            ),
            Step::CheckPkg { context, platforms, version, .. } => {
                format!("check {context}/pkg/ holds {version} for {}", platforms.join(","))
            }
            Step::Build { context, platforms, push, note, .. } => format!(
                "build {context}/ for {} ({}){}",
                platforms.join(","),
                if *push { "push" } else { "load into the local engine" },
                note.as_ref().map(|n| format!("; {n}")).unwrap_or_default()
            ),
            Step::Push { reference, archive, .. } => format!("push {archive} to {reference}, digests kept"),
            Step::Assemble { reference, sources, .. } => format!(
                "assemble {reference} from {}",
                sources.iter().map(|(p, d)| format!("{p} {}", &d.as_str()[..19])).collect::<Vec<_>>().join(", ")
            ),
            Step::Inspect { digest, .. } => format!("read the platform manifests of {digest}"),
            Step::Promote { reference, digest, .. } => format!("tag {reference} with {digest}"),
            Step::WritePart { target, path, .. } => format!("write what the part for {target} pushed to {path}"),
            Step::PointTag { tag, from, digest, .. } => format!("point {tag} at {from} ({digest})"),
            Step::MoveTags { repository, tags, .. } => {
                format!("put {repository}'s {} on the highest release each covers", tags.join(", "))
            }
            Step::MirrorSignatures { repository, digest, .. } => {
                format!("copy the signatures and attestations of {digest} to {repository}")
            }
            Step::Mirror { reference, digest, .. } => format!("mirror {digest} to {reference}"),
            Step::Verify { reference, digest, platforms, .. } => {
                format!("verify {reference} is {digest} [{}]", platforms.join(", "))
            }
            Step::CheckRetraction { version, .. } => format!("stop unless {version} is still not retracted"),
            Step::StageCrates { crates, dir, .. } => format!("stage {} in {dir}", crates.join(", ")),
            Step::Publish { krate, version, registry, .. } => format!("publish {krate} {version} to `{registry}`"),
            Step::Summary { .. } => "print the summary".to_owned(),
            Step::Run { reference, port, ready, .. } => format!("run {reference} on 127.0.0.1:{port} (ready: {ready})"),
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
            Step::WriteNotes { path, notes, .. } => format!(
                "write the notes of {} to {path}: {} commit(s) since {}",
                notes.version,
                notes.commits,
                notes.since.as_deref().unwrap_or("the first commit")
            ),
            Step::SignBlob { file, signature, .. } => format!("sign {file} into {signature}"),
            Step::Skip { what, why, .. } => format!("skip {what}: {why}"),
        };
        let when = match step.when() {
            Some(When::Ran(id)) => format!(" (if {id} ran)"),
            Some(When::Digest(id)) => format!(" (if {id} left a digest)"),
            None => String::new(),
        };
        let _ = writeln!(out, "step {:>2}: {:<13} {what}{when}", n + 1, step.kind());
        let argv = step.command_line();
        if !argv.is_empty() {
            let _ = writeln!(out, "          $ {}", shell_words::join(argv));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service's steps among several: every image index moves by the images before it, every
    /// reference to a step (condition, digest, argument, accepted digest, a part's build) by the
    /// steps before it; nothing else changes. A step is numbered from 1 where people read it.
    #[test]
    fn offset_moves_every_index_and_reference() {
        let of = |n| DigestRef::of(StepId(n));
        let arg = |n| Arg::Digest { prefix: "r@".into(), digest: of(n) };
        let ran = |n| Some(When::Ran(StepId(n)));
        let steps = [
            Step::Recheck {
                image: 0,
                reference: "r:1".into(),
                accept: Accept::Exactly(of(1)),
                when: ran(1),
                argv: vec![],
            },
            Step::Inspect { image: 1, digest: of(1), when: ran(1), argv: vec![arg(1)] },
            Step::Promote { image: 0, reference: "r:1".into(), digest: of(2), when: ran(2), argv: vec![arg(2)] },
            Step::Verify {
                image: 1,
                reference: "r:1".into(),
                digest: of(3),
                platforms: vec![],
                when: Some(When::Digest(StepId(3))),
                argv: vec![],
            },
            Step::Sign {
                image: 0,
                reference: "r:1".into(),
                when: ran(1),
                argv: vec![Arg::Lit("cosign".into()), arg(1)],
            },
            Step::MoveTags { image: 1, repository: "r".into(), tags: vec![], when: None, argv: vec![] },
            Step::Skip { what: "w".into(), why: "y".into(), image: Some(1), digest: None, argv: vec![] },
            Step::WritePart {
                target: TargetTriple::parse("x86_64-unknown-linux-musl").unwrap(),
                platform: "linux/amd64".into(),
                package: "p".into(),
                sums: "s".into(),
                images: vec![PartImageRef {
                    image: 1,
                    context: "c".into(),
                    repository: "r".into(),
                    staging_tag: "s".into(),
                    build: StepId(4),
                }],
                path: "p".into(),
                argv: vec![],
            },
        ];
        let moved: Vec<Step> = steps.iter().cloned().map(|s| s.offset(10, 100)).collect();
        let json = serde_json::to_value(&moved).unwrap();
        let expected = serde_json::json!([
            {"kind": "recheck", "image": 10, "reference": "r:1", "accept": {"exactly": {"step": 102}}, "when": {"ran": 102}, "argv": []},
            {"kind": "inspect", "image": 11, "digest": {"step": 102}, "when": {"ran": 102}, "argv": [{"prefix": "r@", "digest": {"step": 102}}]},
            {"kind": "promote", "image": 10, "reference": "r:1", "digest": {"step": 103}, "when": {"ran": 103}, "argv": [{"prefix": "r@", "digest": {"step": 103}}]},
            {"kind": "verify", "image": 11, "reference": "r:1", "digest": {"step": 104}, "platforms": [], "when": {"digest": 104}, "argv": []},
            {"kind": "sign", "image": 10, "reference": "r:1", "when": {"ran": 102}, "argv": ["cosign", {"prefix": "r@", "digest": {"step": 102}}]},
            {"kind": "move-tags", "image": 11, "repository": "r", "tags": [], "argv": []},
            {"kind": "skip", "what": "w", "why": "y", "image": 11, "argv": []},
            {"kind": "write-part", "target": "x86_64-unknown-linux-musl", "platform": "linux/amd64", "package": "p", "sums": "s",
             "images": [{"image": 11, "context": "c", "repository": "r", "staging_tag": "s", "build": 105}], "path": "p", "argv": []},
        ]);
        assert_eq!(json, expected);
        // The conditions read back as they were written, moved.
        assert_eq!(moved[3].when(), Some(When::Digest(StepId(103))));
        assert_eq!(steps[3].when(), Some(When::Digest(StepId(3))));
        assert_eq!(moved[5].when(), None);
        assert_eq!(StepId(0).to_string(), "step 1");
        assert_eq!(moved[1].command_line(), ["r@<digest of step 102>"]);
    }

    /// The race tests' pause points (`RELEASE_PIPELINE_PAUSE_AT`), by step kind: the re-read
    /// before a build pauses at `build`, the one before a tag at `merge`, so that every read
    /// deciding a write comes after the pause.
    #[test]
    fn each_pause_point_names_its_steps() {
        let of = DigestRef::of(StepId(0));
        let recheck = |accept| Step::Recheck { image: 0, reference: "r".into(), accept, when: None, argv: vec![] };
        let cases = [
            (
                Step::Package {
                    version: Version::new(1, 0, 0),
                    package: "p".into(),
                    bin: "b".into(),
                    targets: vec![],
                    dist: "d".into(),
                    format: Format::TarGz,
                    epoch: 0,
                    argv: vec![],
                },
                Some("dist"),
            ),
            (recheck(Accept::Reconciled), Some("build")),
            (recheck(Accept::SignedByKey), Some("build")),
            (recheck(Accept::Exactly(of.clone())), Some("merge")),
            (Step::Sign { image: 0, reference: "r".into(), when: None, argv: vec![] }, Some("sign")),
            (Step::Promote { image: 0, reference: "r".into(), digest: of, when: None, argv: vec![] }, Some("merge")),
            (
                Step::MoveTags { image: 0, repository: "r".into(), tags: vec![], when: None, argv: vec![] },
                Some("move-tags"),
            ),
            (Step::CheckRetraction { version: Version::new(1, 0, 0), argv: vec![] }, Some("publish")),
            (
                Step::Delete {
                    tags: vec![],
                    digest: Digest::parse(&format!("sha256:{}", "d".repeat(64))).unwrap(),
                    reason: "r".into(),
                    argv: vec![],
                },
                Some("prune"),
            ),
            (
                Step::Mirror {
                    image: 0,
                    repository: "m".into(),
                    reference: "m:1".into(),
                    digest: DigestRef::of(StepId(0)),
                    when: None,
                    argv: vec![],
                },
                Some("mirror"),
            ),
            (
                Step::MirrorSignatures {
                    image: 0,
                    repository: "m".into(),
                    digest: DigestRef::of(StepId(0)),
                    when: None,
                    argv: vec![],
                },
                Some("mirror"),
            ),
            (Step::Summary { argv: vec![] }, None),
        ];
        for (step, point) in cases {
            assert_eq!(step.pause_point(), point, "{}", step.kind());
        }
    }
}
