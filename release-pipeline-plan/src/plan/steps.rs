//! The steps a run takes, in order, each with the exact command line it runs: made from the plan
//! and the facts the read-only preflight gathered (what the registry holds, the host, which
//! credentials are there). Pure, like the rest of `plan/`: `--dry-run` prints these steps,
//! `--json` emits them, and the executor runs them one by one, deciding nothing of its own.
use std::collections::BTreeMap;

use camino::Utf8Path;
use semver::Version;

pub use super::facts::{CrateAction, Facts, Merge, PublishState};
pub use super::step::inspect_argv;
use super::{
    mirror, parts, sign,
    step::{Accept, Arg, DigestRef, PartImageRef, Step, StepId, When},
    BuildAction, ImagePlan, Kind, ReleasePlan,
};
use crate::{
    dist,
    platform::{Platform, TargetTriple},
    qemu,
    reference::{self, ImageRef},
};

/// The image label naming the branch of a dev build: two branch names can share a dev tag
/// (`feature/x`, `feature-x`), and one must never take the other's tag.
pub const BRANCH_LABEL: &str = "org.release-pipeline.branch";
/// The commit an image was built from (OCI's annotation key, as a label).
pub const REVISION_LABEL: &str = "org.opencontainers.image.revision";
/// The version an image was built as.
pub const VERSION_LABEL: &str = "org.opencontainers.image.version";
/// The context an image was built from: two contexts' images of one version are told apart.
pub const CONTEXT_LABEL: &str = "org.release-pipeline.context";
/// The label on the containers `--run` starts: what it may replace on the next `--run`.
pub const RUN_LABEL: &str = "org.release-pipeline.run";

pub use super::step::Steps;

fn strings<const N: usize>(words: [&str; N]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// The registry hosts the plan pushes to, each once.
pub fn push_hosts(plan: &ReleasePlan) -> Vec<String> {
    let mut hosts: Vec<String> =
        plan.images.iter().filter(|i| i.push).map(|i| reference::registry_host(&i.repository).to_owned()).collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The logins a run makes before it reads the registry: one per pushed host, when the
/// credentials are in the environment (without them, the user's own docker login is used).
pub fn logins(plan: &ReleasePlan, user: Option<&str>) -> Vec<Step> {
    let Some(user) = user else { return Vec::new() };
    push_hosts(plan).into_iter().map(|host| login_step(host, user)).collect()
}

/// The login into each mirror's registry with its own credentials, when they are in the
/// environment (`users`, in the plan's order of mirrors); a host the image's login covers
/// already is not logged into twice (the configuration gives one host one login).
pub fn mirror_logins(plan: &ReleasePlan, users: &[Option<String>]) -> Vec<(usize, Step)> {
    if !plan.pushes() {
        return Vec::new();
    }
    let primary = push_hosts(plan);
    let mut seen: Vec<&str> = Vec::new();
    let mut steps = Vec::new();
    for (m, (mirror, user)) in plan.mirrors.iter().zip(users).enumerate() {
        let host = reference::registry_host(&mirror.repository);
        if let (Some(user), false, false) = (user, primary.iter().any(|h| h == host), seen.contains(&host)) {
            seen.push(host);
            steps.push((m, login_step(host.to_owned(), user)));
        }
    }
    steps
}

fn login_step(host: String, user: &str) -> Step {
    Step::Login {
        argv: strings(["docker", "login", &host, "--username", user, "--password-stdin"]),
        host,
        user: user.to_owned(),
    }
}

/// skopeo's options for a registry: this run's login and, for a loopback registry only, plain
/// HTTP (`tls_flags` turned off).
pub fn skopeo_options(authfile: Option<&Utf8Path>, repository: &str, tls_flags: &[&str]) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(authfile) = authfile {
        args.extend(["--authfile".to_owned(), authfile.to_string()]);
    }
    if reference::is_loopback_registry(reference::registry_host(repository)) {
        args.extend(tls_flags.iter().map(|f| format!("{f}=false")));
    }
    args
}

/// `skopeo copy` of `repository@digest` to `repository:to`, keeping the digest: a multi-platform
/// index and a single-platform manifest alike are copied as they are (`imagetools create` would
/// wrap a single manifest in a new index with a new digest).
pub fn copy_digest_argv(authfile: Option<&Utf8Path>, repository: &str, digest: &str, to: &str) -> Vec<String> {
    let mut argv = strings(["skopeo", "copy", "--all", "--preserve-digests"]);
    argv.extend(skopeo_options(authfile, repository, &["--src-tls-verify", "--dest-tls-verify"]));
    argv.push(format!("docker://{repository}@{digest}"));
    argv.push(ImageRef::tag(repository, to).transport());
    argv
}

/// `skopeo copy` of the digest an earlier step made (`digest`) to `repository:to`, keeping it.
fn copy_digest_args(authfile: Option<&Utf8Path>, repository: &str, digest: &DigestRef, to: &str) -> Vec<Arg> {
    let mut argv = Arg::lits(strings(["skopeo", "copy", "--all", "--preserve-digests"]));
    argv.extend(Arg::lits(skopeo_options(authfile, repository, &["--src-tls-verify", "--dest-tls-verify"])));
    argv.push(Arg::Digest { prefix: format!("docker://{repository}@"), digest: digest.clone() });
    argv.push(Arg::Lit(ImageRef::tag(repository, to).transport()));
    argv
}

/// `cargo publish` of one crate, run in the staged copy of the workspace (which is why
/// `--allow-dirty`; `--no-verify`: the release built it already).
pub fn publish_argv(registry: &str, krate: &str) -> Vec<String> {
    strings(["cargo", "publish", "--no-verify", "--allow-dirty", "--registry", registry, "-p", krate])
}

/// `cargo yank` of one crate version.
pub fn yank_argv(registry: &str, krate: &str, version: &Version) -> Vec<String> {
    strings(["cargo", "yank", "--version", &version.to_string(), "--registry", registry, krate])
}

/// The container name `--run` uses for a service's image tag.
pub fn run_container(service: &str, tag: &str) -> String {
    format!("{service}-{tag}")
}

/// A run's steps as they are made: each pushed gets the next `StepId`, which later steps take
/// its results by.
#[derive(Default)]
struct Planner {
    out: Steps,
}

impl Planner {
    fn push(&mut self, step: Step) -> StepId {
        self.out.steps.push(step);
        StepId(self.out.steps.len() - 1)
    }
    fn next(&self) -> StepId {
        StepId(self.out.steps.len())
    }

    /// A build, and for a pushed image the push of the archive it wrote, once it ran. Returns
    /// the build's id: its digest is the image's.
    fn push_build(&mut self, build: Step, facts: &Facts) -> StepId {
        let push = push_step(&build, facts);
        let id = self.push(build);
        if let Some(mut push) = push {
            if let Step::Push { when, .. } = &mut push {
                *when = Some(When::Ran(id));
            }
            self.push(push);
        }
        id
    }
}

/// The push of a pushed image's build: its OCI archive copied to its tag as it is (`skopeo copy
/// --all --preserve-digests`), so the registry holds exactly the digest the build made.
fn push_step(build: &Step, facts: &Facts) -> Option<Step> {
    let Step::Build { image, push: true, tags, archive: Some(archive), .. } = build else { return None };
    let reference = tags.first()?.clone();
    let repository = reference.rsplit_once(':').map_or(reference.as_str(), |(repository, _)| repository);
    let mut argv = strings(["skopeo", "copy", "--all", "--preserve-digests"]);
    argv.extend(skopeo_options(facts.authfile.as_deref(), repository, &["--dest-tls-verify"]));
    argv.push(format!("oci-archive:{archive}"));
    argv.push(format!("docker://{reference}"));
    Some(Step::Push { image: *image, archive: archive.clone(), reference, when: None, argv })
}

/// Per image: the digest its later steps (moving tags, verify, mirrors) take, and when it is there.
#[derive(Clone)]
struct Final {
    digest: DigestRef,
    when: Option<When>,
}

/// Every step of a run, in order: log in, package, fill `pkg/`, register qemu, build each
/// image (each write after a fresh read of its tag), sign, tag, move the moving tags, verify,
/// publish, the summary, run.
pub fn steps(plan: &ReleasePlan, facts: &Facts) -> Steps {
    let mut p = Planner::default();
    if plan.kind == Kind::Skip {
        return p.out;
    }
    let commit = plan.commit.map(|c| c.to_string()).unwrap_or_default();
    for login in logins(plan, facts.login_user.as_deref()) {
        p.push(login);
    }
    for (_, login) in mirror_logins(plan, &facts.mirror_users) {
        p.push(login);
    }
    if let Some(target) = &facts.part {
        part_steps(plan, facts, target, &commit, &mut p);
        p.push(Step::Summary { argv: Vec::new() });
        return p.out;
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
    let signed: Vec<&ImagePlan> = to_sign.iter().map(|&i| &plan.images[i]).collect();
    if facts.merge.is_some() {
        // The parts built and pushed; the SBOMs come from this checkout's lockfile.
        for step in sign::sbom_steps(facts, &plan.service, &plan.version.semver, &signed) {
            p.push(step);
        }
    } else if !packaged.is_empty() {
        let targets: Vec<TargetTriple> =
            facts.targets.iter().filter(|t| packaged.contains(&&t.platform)).map(|t| t.target.clone()).collect();
        p.push(package_step(plan, facts, targets));
        for step in sign::sbom_steps(facts, &plan.service, &plan.version.semver, &signed) {
            p.push(step);
        }
    }
    if !to_build.is_empty() && facts.merge.is_none() {
        let contexts: Vec<String> = to_build.iter().map(|&i| plan.images[i].context.clone()).collect();
        p.push(fill_pkg_step(plan, facts, contexts, None));
        match qemu::registrations(&facts.qemu, &facts.host_platform, platforms.iter().copied(), &facts.qemu_image) {
            Ok(registrations) => {
                for (handlers, argv) in registrations {
                    p.push(Step::RegisterQemu { handlers, argv });
                }
            }
            Err(problem) => p.out.problems.push(problem),
        }
    }

    p.out.steps.extend(super::release_notes::write_step(plan, facts));

    // Per image: the step that wrote its digest in this run (a build or an assembly), and the
    // digest its later steps take.
    let mut wrote: Vec<Option<StepId>> = vec![None; plan.images.len()];
    let mut finals: Vec<Option<Final>> = vec![None; plan.images.len()];
    // The primary tags: right after each build for a plan that does not sign; for one that
    // signs (and for a merge), after the signing, so that no version or branch tag ever names
    // an unsigned image of ours.
    let promoted = |i: usize| plan.signed && plan.images[i].push || facts.merge.is_some();
    for (i, image) in plan.images.iter().enumerate() {
        let what = format!("build {}/ → {}:{}", image.context, image.repository, image.primary_tag());
        match (action(i), &facts.merge) {
            (BuildAction::Build, Some(merge)) => wrote[i] = Some(p.push(assemble_step(plan, facts, i, image, merge))),
            (BuildAction::Build, None) => {
                // Read the tag again right before building: another run may have pushed it.
                let gate = image.push.then(|| {
                    let accept = if plan.signed { Accept::SignedByKey } else { Accept::Reconciled };
                    p.push(recheck_step(i, image, accept, None))
                });
                let when = gate.map(When::Ran);
                match build_step(plan, facts, i, &commit, None, when) {
                    Ok(build) => {
                        p.push(Step::CheckPkg {
                            context: image.context.clone(),
                            platforms: match &build {
                                Step::Build { platforms, .. } => platforms.clone(),
                                _ => image.platforms.clone(),
                            },
                            bin: plan.service.bin.clone(),
                            version: plan.version.semver.clone(),
                            when,
                            argv: Vec::new(),
                        });
                        let id = p.push_build(build, facts);
                        wrote[i] = Some(id);
                        finals[i] = Some(Final { digest: DigestRef::of(id), when: Some(When::Digest(id)) });
                    }
                    Err(problem) => p.out.problems.push(problem),
                }
            }
            (BuildAction::AlreadyThere { digest }, _) => {
                p.push(Step::Skip {
                    what,
                    why: format!("already released from this commit ({digest}): a rerun resumes after it"),
                    image: Some(i),
                    digest: Some(digest.clone()),
                    argv: Vec::new(),
                });
                finals[i] = Some(Final { digest: DigestRef::Known(digest), when: None });
            }
            (BuildAction::Skip { why }, _) => {
                p.push(Step::Skip { what, why, image: Some(i), digest: None, argv: Vec::new() });
            }
        }
        if !plan.signed && promoted(i) {
            promote_steps(facts, i, image, wrote[i], &mut finals[i], &mut p);
        }
    }

    // Signed before any moving tag points at it: `latest` never names an unsigned image.
    for (i, image) in plan.images.iter().enumerate() {
        if to_sign.contains(&i) {
            // What this run wrote, once it wrote it; what a stopped run left unsigned, as it is.
            let (digest, when) = match (wrote[i], &finals[i]) {
                (Some(id), _) => (DigestRef::of(id), Some(When::Ran(id))),
                (None, Some(known)) => (known.digest.clone(), None),
                (None, None) => continue,
            };
            let first = p.next();
            for step in sign::image_steps(plan, facts, i, image, &digest, when, first) {
                p.push(step);
            }
        } else if plan.signed && image.push && has_digest(i) {
            p.push(Step::Skip {
                what: format!("sign {}:{}", image.repository, image.primary_tag()),
                why: "the registry holds its signature and attestations already".to_owned(),
                image: Some(i),
                digest: None,
                argv: Vec::new(),
            });
        }
    }
    p.out.steps.extend(super::release_notes::unsigned_skips(plan, facts));
    if plan.signed {
        for (i, image) in plan.images.iter().enumerate().filter(|(i, _)| promoted(*i)) {
            promote_steps(facts, i, image, wrote[i], &mut finals[i], &mut p);
        }
    }
    // Packages made in this run get their checksums signed, and so does a list a stopped run
    // left unsigned (a merge has none).
    if plan.signed && facts.merge.is_none() && (!to_sign.is_empty() || facts.sums_unsigned) {
        p.push(sign::sums_step(facts));
    }

    // Moving tags only once every context's immutable tag is in, then a check of each tag.
    for (i, image) in plan.images.iter().enumerate().filter(|(_, im)| im.push && !im.moving_tags.is_empty()) {
        if let Some(done) = &finals[i] {
            p.push(Step::MoveTags {
                image: i,
                repository: image.repository.to_string(),
                tags: image.moving_tags.clone(),
                when: done.when,
                argv: Vec::new(),
            });
        }
    }
    // The moving tags are confirmed by their step's last read; the primary tags here.
    for (i, image) in plan.images.iter().enumerate().filter(|(_, im)| im.push) {
        if let Some(done) = &finals[i] {
            let reference = ImageRef::tag(&image.repository, image.primary_tag()).to_string();
            p.push(Step::Verify {
                image: i,
                argv: inspect_argv(&reference),
                reference,
                digest: done.digest.clone(),
                platforms: image.platforms.clone(),
                when: done.when,
            });
        }
    }

    let publishing: Vec<&CrateAction> = facts.crates.iter().filter(|c| c.state == PublishState::Publish).collect();
    if !publishing.is_empty() {
        let dir = facts.scratch_dir.join("publish");
        p.push(Step::CheckRetraction { version: plan.version.semver.clone(), argv: Vec::new() });
        p.push(Step::StageCrates {
            crates: facts.crates.iter().map(|c| c.krate.clone()).collect(),
            version: plan.version.semver.clone(),
            dir: dir.clone(),
            argv: Vec::new(),
        });
        for c in publishing {
            p.push(Step::Publish {
                argv: publish_argv(&c.registry, &c.krate),
                krate: c.krate.clone(),
                version: c.version.clone(),
                registry: c.registry.clone(),
                dir: dir.clone(),
            });
        }
    }
    for c in facts.crates.iter().filter(|c| c.state != PublishState::Publish) {
        p.push(Step::Skip {
            what: format!("publish {} {}", c.krate, c.version),
            why: c.describe(),
            image: None,
            digest: None,
            argv: Vec::new(),
        });
    }

    // The mirrors last: the image's own repository is complete, whatever a mirror does.
    let pushed: Vec<(usize, DigestRef, Option<When>)> = (0..plan.images.len())
        .filter(|&i| plan.images[i].push)
        .filter_map(|i| finals[i].as_ref().map(|done| (i, done.digest.clone(), done.when)))
        .collect();
    let mirrored = mirror::steps(plan, facts, &pushed, p.next());
    p.out.steps.extend(mirrored.steps);
    p.out.problems.extend(mirrored.problems);

    // The summary before `--run`: a failed start still leaves the run's record.
    p.push(Step::Summary { argv: Vec::new() });
    if let Some(port) = facts.run_port {
        match plan.images.iter().position(|i| i.platforms.contains(&facts.host_platform)) {
            Some(i) => {
                let image = &plan.images[i];
                let reference = ImageRef::tag(&image.repository, image.primary_tag()).to_string();
                let container = run_container(&plan.service.name, image.primary_tag());
                let run = plan.service.table.run.clone().unwrap_or_default();
                let mut argv = strings(["docker", "run", "--detach", "--rm", "--name", &container, "--label"]);
                argv.push(format!("{RUN_LABEL}=1"));
                argv.push("--publish".to_owned());
                argv.push(format!("127.0.0.1:{port}:{}", run.port));
                argv.push(reference.clone());
                // The service's own arguments: after the image, never docker's options.
                argv.extend(run.args);
                p.push(Step::Run { image: i, reference, container, port, ready: run.ready, argv });
            }
            None => p.out.problems.push(format!(
                "--run starts the image built for this machine ({}), but no context builds that platform",
                facts.host_platform
            )),
        }
    }
    p.out
}

/// `rebuild`'s steps: the release's packages and every context's image built again from the
/// version's commit (`facts.root`, a clone), each image into its OCI archive exactly as the
/// release's build made it, and nothing pushed.
pub fn rebuild_steps(plan: &ReleasePlan, facts: &Facts) -> Steps {
    let mut p = Planner::default();
    let commit = plan.commit.map(|c| c.to_string()).unwrap_or_default();
    let platforms: Vec<&Platform> = plan.images.iter().flat_map(|i| &i.platforms).collect();
    let targets: Vec<TargetTriple> =
        facts.targets.iter().filter(|t| platforms.contains(&&t.platform)).map(|t| t.target.clone()).collect();
    p.push(package_step(plan, facts, targets));
    p.push(fill_pkg_step(plan, facts, plan.images.iter().map(|i| i.context.clone()).collect(), None));
    match qemu::registrations(&facts.qemu, &facts.host_platform, platforms.iter().copied(), &facts.qemu_image) {
        Ok(registrations) => {
            for (handlers, argv) in registrations {
                p.push(Step::RegisterQemu { handlers, argv });
            }
        }
        Err(problem) => p.out.problems.push(problem),
    }
    for i in 0..plan.images.len() {
        match build_step(plan, facts, i, &commit, None, None) {
            Ok(build) => {
                p.push(build);
            }
            Err(problem) => p.out.problems.push(problem),
        }
    }
    p.out
}

/// The read of an image's primary tag right before a write of it.
fn recheck_step(i: usize, image: &ImagePlan, accept: Accept, when: Option<When>) -> Step {
    let reference = ImageRef::tag(&image.repository, image.primary_tag()).to_string();
    Step::Recheck { image: i, argv: inspect_argv(&reference), reference, accept, when }
}

/// The write of an image's primary tag from the digest `wrote` made, after a fresh read of the
/// tag that accepts only that digest.
fn promote_steps(
    facts: &Facts,
    i: usize,
    image: &ImagePlan,
    wrote: Option<StepId>,
    done: &mut Option<Final>,
    p: &mut Planner,
) {
    let Some(wrote) = wrote else { return };
    let gate = p.push(recheck_step(i, image, Accept::Exactly(DigestRef::of(wrote)), Some(When::Ran(wrote))));
    let reference = ImageRef::tag(&image.repository, image.primary_tag()).to_string();
    let digest = DigestRef::of(wrote);
    let argv = copy_digest_args(facts.authfile.as_deref(), &image.repository, &digest, image.primary_tag());
    let id = p.push(Step::Promote { image: i, reference, digest, when: Some(When::Ran(gate)), argv });
    *done = Some(Final { digest: DigestRef::of(id), when: Some(When::Digest(id)) });
}

/// The one `cargo build` of the plan's service for `targets`, packaged into `dist/`.
fn package_step(plan: &ReleasePlan, facts: &Facts, targets: Vec<TargetTriple>) -> Step {
    let service = &plan.service;
    Step::Package {
        version: plan.version.semver.clone(),
        argv: dist::cargo_build_argv(&service.package, &service.bin, &targets, facts.cargo_home.as_deref()),
        package: service.package.clone(),
        bin: service.bin.clone(),
        targets,
        dist: dist::dist_dir(&facts.root),
        format: dist::Format::TarGz,
        epoch: facts.epoch,
    }
}

/// The copy of the packages into the contexts' `pkg/` (a part: its platform's only).
fn fill_pkg_step(plan: &ReleasePlan, facts: &Facts, contexts: Vec<String>, platform: Option<&Platform>) -> Step {
    let mut argv = strings(["cargo", "xtask", "distcopy", "--from", dist::DistLayout::DIR]);
    if let Some(platform) = platform {
        argv.extend(["--platform".to_owned(), platform.to_string()]);
    }
    argv.extend(contexts.iter().map(|c| format!("{c}/pkg")));
    Step::FillPkg {
        contexts,
        platform: platform.cloned(),
        from: dist::dist_dir(&facts.root),
        version: plan.version.semver.clone(),
        argv,
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
    when: Option<When>,
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
    // A pushed image is written to an OCI archive with every timestamp rewritten to
    // SOURCE_DATE_EPOCH (the docker driver cannot rewrite them on a push), and pushed as it is
    // by the step after: the same commit builds the same digest on any machine.
    let archive =
        image.push.then(|| facts.scratch_dir.join(format!("image-{}.oci.tar", image.context.replace('/', "-"))));
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
    if archive.is_none() {
        for tag in &tags {
            argv.extend(["--tag".to_owned(), tag.clone()]);
        }
    }
    argv.extend(["--metadata-file".to_owned(), metadata_file.to_string()]);
    match &archive {
        Some(archive) => {
            argv.extend(["--output".to_owned(), format!("type=oci,dest={archive},rewrite-timestamp=true")])
        }
        None => argv.push("--load".to_owned()),
    }
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
        archive,
        epoch: facts.epoch,
        note,
        when,
        argv,
    })
}

/// A part's steps: package its target, fill the `pkg/` of the contexts that build its platform,
/// register qemu for it, build each of those contexts for that platform and push it under a
/// staging tag, then write the result for `merge`. No version, moving or branch tag.
fn part_steps(plan: &ReleasePlan, facts: &Facts, target: &str, commit: &str, p: &mut Planner) {
    let (triple, platform) = match parts::part_platform(plan, &facts.targets, target) {
        Ok(config) => (&config.target, &config.platform),
        Err(problem) => return p.out.problems.push(problem),
    };
    let images: Vec<usize> = parts::part_images(plan, platform).map(|(i, _)| i).collect();
    p.push(package_step(plan, facts, vec![triple.clone()]));
    let contexts: Vec<String> = images.iter().map(|&i| plan.images[i].context.clone()).collect();
    p.push(fill_pkg_step(plan, facts, contexts, Some(platform)));
    match qemu::registrations(&facts.qemu, &facts.host_platform, [platform], &facts.qemu_image) {
        Ok(registrations) => {
            for (handlers, argv) in registrations {
                p.push(Step::RegisterQemu { handlers, argv });
            }
        }
        Err(problem) => p.out.problems.push(problem),
    }
    let mut built = Vec::new();
    for &i in &images {
        let image = &plan.images[i];
        let staging = crate::tags::staging_tag(commit, image.primary_tag(), platform.as_str());
        match build_step(plan, facts, i, commit, Some((platform, staging.clone())), None) {
            Ok(build) => {
                p.push(Step::CheckPkg {
                    context: image.context.clone(),
                    platforms: vec![platform.clone()],
                    bin: plan.service.bin.clone(),
                    version: plan.version.semver.clone(),
                    when: None,
                    argv: Vec::new(),
                });
                let build = p.push_build(build, facts);
                built.push(PartImageRef {
                    image: i,
                    context: image.context.clone(),
                    repository: image.repository.to_string(),
                    staging_tag: staging,
                    build,
                });
            }
            Err(problem) => p.out.problems.push(problem),
        }
    }
    // A build-only plan (a pull request) checks that its share builds: nothing to merge.
    if images.iter().any(|&i| !plan.images[i].push) {
        return;
    }
    p.push(Step::WritePart {
        target: triple.clone(),
        platform: platform.clone(),
        package: dist::package_name(&plan.service.bin, &plan.version.semver, target, dist::Format::TarGz.ext()),
        sums: dist::DistLayout::new(&facts.root).sums(),
        images: built,
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
