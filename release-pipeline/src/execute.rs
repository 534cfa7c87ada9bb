//! Runs a plan's steps (`plan/steps.rs`) in order and decides nothing: `run_steps` passes over a
//! step whose condition (`When`) an earlier step's outcome does not meet, fills in the digests
//! earlier steps produced, and hands each step to an `Effects`. `Real` is the one that acts,
//! one `match` arm per step kind, each one call; tests run `run_steps` with a recording fake.
//! Right before each write a `recheck` step reads the registry again, and the pure rules turn
//! that read into what to do (`plan::reconcile`; `plan::moving` for a moving tag): another run
//! may have written since the preflight.
use std::{collections::BTreeMap, time::Instant};

use anyhow::{bail, Context, Result};
use semver::Version;

use crate::{
    attest, cosign,
    dist::{self, DistRequest},
    distcopy,
    docker::{self, Docker},
    error,
    exec::Exec,
    failure,
    preflight::{self, Preflight},
    publish, qemu,
    releases::{self, Qualifier},
    summary, ui,
    workspace::Workspace,
};
use release_pipeline_plan::{
    plan::{
        self,
        outcome::{MovedTags, Outcome, Record},
        registry,
        step::Step,
        step::{Accept, Packages, PartImageRef, ProvenancePlan},
        steps::CrateAction,
        BuildAction, ImagePlan, ReleasePlan,
    },
    platform::Platform,
    reference::{Digest, ImageRef},
};

/// What carries steps out: `Real` on a workspace, a recording fake in the tests.
pub(crate) trait Effects {
    /// Carries `step` out; `record` holds what the steps before it did.
    fn run(&mut self, step: &Step, record: &Record) -> Result<Outcome>;
    /// The race tests' hook, at the first step of each pause point (`Step::pause_point`).
    fn pause(&mut self, point: &'static str);
}

/// Runs `steps` in order: a step whose condition is not met is passed over; the first that
/// fails stops the run. Returns what each did.
pub(crate) fn run_steps(steps: &[Step], effects: &mut dyn Effects) -> Result<Vec<Outcome>> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(steps.len());
    let mut paused: Vec<&'static str> = Vec::new();
    for step in steps {
        if let Some(point) = step.pause_point().filter(|p| !paused.contains(p)) {
            paused.push(point);
            effects.pause(point);
        }
        let record = Record { steps, outcomes: &outcomes };
        let outcome = match record.unmet(step.when()) {
            Some(because) => Outcome::Skipped { because },
            None => effects.run(step, &record)?,
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Test hook: with `RELEASE_PIPELINE_PAUSE_AT=<point>` and `RELEASE_PIPELINE_PAUSE_FILE=<path>`,
/// the run creates `<path>.paused` at the first step of that point (`Step::pause_point`: `dist`,
/// `build`, `sign`, `merge`, `move-tags`, `publish`, `prune`) and waits until `<path>` exists.
/// The race tests pause one run here and let another finish; every read that decides a write
/// comes after this point.
#[derive(Debug, Clone, Default)]
pub(crate) struct PauseHook {
    at: Option<(String, String)>,
}

impl PauseHook {
    pub(crate) fn from_env(env: &BTreeMap<String, String>) -> PauseHook {
        let at = env.get("RELEASE_PIPELINE_PAUSE_AT").cloned().zip(env.get("RELEASE_PIPELINE_PAUSE_FILE").cloned());
        PauseHook { at }
    }

    pub(crate) fn pause(&self, point: &str) {
        let Some((at, file)) = &self.at else { return };
        if at != point {
            return;
        }
        let _ = std::fs::write(format!("{file}.paused"), point);
        ui::info(format_args!("paused at {point}: waiting for {file}"));
        while !std::path::Path::new(file).exists() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Runs a service's steps on its workspace.
pub(crate) fn execute(ws: &Workspace, plan: &ReleasePlan, preflight: Preflight, steps: &[Step]) -> Result<()> {
    let Preflight { docker, facts, .. } = preflight;
    let docker = docker.context("the preflight found no docker")?;
    let result = run_steps(steps, &mut Real::new(ws, &docker, plan, &facts.crates));
    let _ = std::fs::remove_dir_all(&facts.scratch_dir);
    result.map(drop)
}

/// The effects of a run on a workspace: each step kind, one call.
pub(crate) struct Real<'a> {
    ws: &'a Workspace,
    docker: &'a Docker,
    plan: &'a ReleasePlan,
    crates: &'a [CrateAction],
    started: Instant,
    started_on: i64,
    pause: PauseHook,
}

impl<'a> Real<'a> {
    /// The effects of a run starting now, pausing where the environment says (`PauseHook`).
    pub(crate) fn new(
        ws: &'a Workspace,
        docker: &'a Docker,
        plan: &'a ReleasePlan,
        crates: &'a [CrateAction],
    ) -> Real<'a> {
        Real {
            ws,
            docker,
            plan,
            crates,
            started: Instant::now(),
            started_on: unix_now(),
            pause: PauseHook::from_env(ws.env()),
        }
    }
}

impl Effects for Real<'_> {
    fn pause(&mut self, point: &'static str) {
        self.pause.pause(point)
    }

    fn run(&mut self, step: &Step, record: &Record) -> Result<Outcome> {
        let (ws, docker, plan) = (self.ws, self.docker, self.plan);
        match step {
            // Done by the preflight, whose registry reads go through it.
            Step::Login { .. } => Ok(Outcome::Done),
            Step::Package { version, targets, format, epoch, .. } => {
                let progress = ui::step(format!(
                    "dist: build and package {} {version} for {}",
                    plan.service.bin,
                    targets.join(", ")
                ));
                dist::dist(&DistRequest {
                    root: &ws.root,
                    service: &plan.service,
                    config: &ws.config,
                    version: &version.to_string(),
                    commit: &plan.commit.map(|c| c.to_string()).unwrap_or_default(),
                    epoch: *epoch,
                    targets: targets.clone(),
                    format: *format,
                    also_secret: &ws.also_secret,
                    exec: &ws.exec,
                })?;
                progress.done();
                Ok(Outcome::Done)
            }
            Step::FillPkg { contexts, platform, from, version, .. } => {
                let progress = ui::step(format!("distcopy: fill the pkg/ of {}", contexts.join(", ")));
                let dirs: Vec<&str> = contexts.iter().map(String::as_str).collect();
                distcopy::distcopy_contexts(ws, from, &dirs, Some(&version.to_string()), platform.as_ref())?;
                progress.done();
                Ok(Outcome::Done)
            }
            Step::RegisterQemu { handlers, argv } => {
                let progress = ui::step(format!("qemu: register {}", handlers.join(", ")));
                qemu::register(&ws.exec, handlers, argv)?;
                progress.done();
                Ok(Outcome::Done)
            }
            Step::Recheck { image, accept, .. } => recheck(ws, docker, plan, *image, accept, record),
            Step::CheckPkg { context, platforms, bin, version, .. } => {
                check_pkg(ws, context, platforms, bin, &version.to_string()).map(|()| Outcome::Done)
            }
            Step::Build { image, .. } => build(docker, &plan.images[*image], step),
            Step::Push { image, archive, reference, argv, .. } => {
                push_archive(docker, &plan.images[*image], archive, reference, argv).map(|()| Outcome::Done)
            }
            Step::Assemble { image: i, reference, sources, argv } => {
                // A staging tag no user pulls, read back at once: its digest, checked, is what is
                // signed and tagged after it (by digest: a later write to the staging tag counts
                // for nothing).
                let progress = ui::step(format!("assemble {reference} from {} part(s)", sources.len()));
                registry_write(docker, &plan.images[*i], &format!("assembling {reference}"), argv)?;
                let digest = holds_exactly(docker, reference, sources)?;
                progress.done();
                Ok(Outcome::image(digest))
            }
            Step::Inspect { image, digest, argv, .. } => {
                let reference = format!("{}@{}", plan.images[*image].repository, record.digest(digest)?);
                let remote = docker
                    .inspect_with(&record.argv(argv)?, &reference)?
                    .with_context(|| format!("{reference} vanished"))?;
                Ok(Outcome::Image { digest: remote.digest, manifests: remote.manifests })
            }
            Step::Promote { image: i, reference, digest, argv, .. } => {
                promote(docker, &plan.images[*i], reference, record.digest(digest)?, &record.argv(argv)?)
            }
            Step::WritePart { target, platform, package, sums, images, path, .. } => {
                write_part(plan, record, target.as_str(), platform, package, sums, images, path)?;
                ui::info(format_args!("wrote {path}: pass it to `cargo xtask merge`"));
                Ok(Outcome::Done)
            }
            Step::PointTag { .. } => run_command_step(ws, step).map(|()| Outcome::Done),
            Step::MoveTags { image: i, repository, .. } => {
                move_tags_in(ws, docker, plan, &plan.images[*i].in_repository(repository))
            }
            Step::MirrorSignatures { image: i, repository, argv, .. } => {
                let argv = record.argv(argv)?;
                let what = format!("copying the signatures of {} to {repository}", argv[argv.len() - 2]);
                let progress = ui::step(&what);
                let mirror = plan.images[*i].in_repository(repository);
                registry_write(docker, &mirror, &what, &argv)?;
                progress.done();
                Ok(Outcome::Done)
            }
            Step::Mirror { image: i, repository, reference, digest, argv, .. } => {
                let mirror = plan.images[*i].in_repository(repository);
                mirror_image(ws, docker, plan, &mirror, reference, record.digest(digest)?, &record.argv(argv)?)
            }
            Step::Verify { reference, digest, platforms, argv, .. } => {
                verify(docker, argv, reference, &record.digest(digest)?, platforms).map(|()| Outcome::Done)
            }
            Step::CheckRetraction { version, .. } => check_not_retracted(ws, version).map(|()| Outcome::Done),
            Step::StageCrates { crates, version, dir, .. } => {
                publish::stage_crates(ws, crates, version, plan.commit, dir).map(|()| Outcome::Done)
            }
            Step::Publish { krate, version, registry, dir, argv } => {
                let progress = ui::step(format!("publish {krate} {version} to `{registry}`"));
                publish::publish_one(&ws.exec, dir, krate, version, registry, argv)?;
                progress.done();
                Ok(Outcome::Done)
            }
            Step::Summary { .. } => {
                summary::summary(plan, self.crates, record, self.started);
                Ok(Outcome::Done)
            }
            Step::Run { reference, container, argv, port, ready, .. } => {
                crate::local_run::run_local(docker, reference, container, argv, *port, ready).map(|()| Outcome::Done)
            }
            Step::Delete { .. } | Step::GitTag { .. } | Step::GitPush { .. } | Step::Yank { .. } => {
                run_command_step(ws, step).map(|()| Outcome::Done)
            }
            Step::Sbom { target, package, epoch, path, argv } => {
                let progress = ui::step(format!("sbom: {target}"));
                write_sbom(&ws.exec, &ws.root, package, target.as_str(), *epoch, path, argv)?;
                progress.done();
                Ok(Outcome::Done)
            }
            Step::Provenance { path, input, .. } => {
                write_provenance(input, self.started_on, path).map(|()| Outcome::Done)
            }
            Step::Sign { image: i, argv, .. } => {
                let argv = record.argv(argv)?;
                let what = format!("signing {}", argv.last().map(String::as_str).unwrap_or_default());
                cosign_step(ws, docker, &plan.images[*i], &what, &argv)
            }
            Step::Attest { image: i, predicate_type, argv, .. } => {
                let argv = record.argv(argv)?;
                let on = argv.last().map(String::as_str).unwrap_or_default();
                cosign_step(ws, docker, &plan.images[*i], &format!("attesting {predicate_type} on {on}"), &argv)
            }
            Step::WriteNotes { path, predicate, notes, .. } => {
                crate::notes::write(path, predicate, notes).map(|()| Outcome::Done)
            }
            Step::SignBlob { file, argv, .. } => {
                let progress = ui::step(format!("sign {file}"));
                cosign::run(docker, &ws.config.signing, ws.env(), argv, &format!("signing {file}"), None)?;
                progress.done();
                Ok(Outcome::Done)
            }
            Step::Skip { what, why, .. } => {
                ui::info(format_args!("skipped {what}: {why}"));
                Ok(Outcome::Done)
            }
        }
    }
}

/// Writes an image's primary tag: a copy of the digest this run built or assembled (`argv`),
/// read back after.
fn promote(docker: &Docker, image: &ImagePlan, reference: &str, digest: Digest, argv: &[String]) -> Result<Outcome> {
    let progress = ui::step(format!("tag {reference} ({digest})"));
    registry_write(docker, image, &format!("tagging {reference}"), argv)?;
    let written = docker.inspect(reference)?.map(|r| r.digest);
    if written.as_ref() != Some(&digest) {
        bail!("{reference} is {written:?} after tagging it, not {digest}");
    }
    progress.done();
    Ok(Outcome::image(digest))
}

/// Moves `image`'s moving tags in its repository (the image's own or a mirror's).
fn move_tags_in(ws: &Workspace, docker: &Docker, plan: &ReleasePlan, image: &ImagePlan) -> Result<Outcome> {
    let progress = ui::step(format!("move tags of {}: {}", image.repository, image.moving_tags.join(", ")));
    // Every context of the plan (they share one repository, and each mirror holds them all): a
    // release counts once all are in.
    let contexts: Vec<releases::Context> = plan
        .images
        .iter()
        .map(|i| releases::Context {
            prefix: i.tag_prefix.clone(),
            dir: i.context.clone(),
            platforms: i.platforms.clone(),
        })
        .collect();
    let prefixes: Vec<&str> = contexts.iter().map(|c| c.prefix.as_str()).collect();
    // Read again now: a retraction made while this run built counts.
    let retracted = crate::gather::retracted_here_and_remote(ws)?;
    let mut qualifier = Qualifier::new(ws, docker, &image.repository, contexts.clone(), retracted)?;
    let moved = move_tags(docker, &plan.version.semver, image, &prefixes, &mut qualifier)?;
    progress.done();
    Ok(Outcome::Moved(moved))
}

/// Writes a mirror's tag (`reference`) with the image's `digest` (`argv`, a copy that keeps the
/// digest) after a fresh read of it: written only where the image's own tag could be (absent, or
/// an older build of this branch); exactly this digest there already is a rerun's (`Found`); a
/// newer build of the branch is left alone; anything else stops the run. Read back after.
fn mirror_image(
    ws: &Workspace,
    docker: &Docker,
    plan: &ReleasePlan,
    mirror: &ImagePlan,
    reference: &str,
    digest: Digest,
    argv: &[String],
) -> Result<Outcome> {
    let progress = ui::step(format!("mirror {digest} to {reference}"));
    let seen = preflight::observe(docker, plan, mirror, ws.repo.as_deref(), Some(&ws.config.git_remote))?;
    match plan::reconcile(plan, mirror, &seen).map_err(anyhow::Error::msg)? {
        BuildAction::AlreadyThere { digest: there } if there == digest => {
            progress.done();
            return Ok(Outcome::Found { digest });
        }
        BuildAction::AlreadyThere { digest: there } => {
            return Err(error::error_with_help(
                format!(
                    "{reference} holds {there}, another image of this commit than the {digest} released: left alone"
                ),
                "find out who pushed it; delete the mirror's tag and run the release again",
            ))
        }
        BuildAction::Skip { why } => {
            ui::warn(format_args!("{why} (on the mirror)"));
            return Ok(Outcome::Leave { why });
        }
        BuildAction::Build => {}
    }
    registry_write(docker, mirror, &format!("mirroring {digest} to {reference}"), argv)?;
    let written = docker.inspect(reference)?.map(|r| r.digest);
    if written.as_ref() != Some(&digest) {
        bail!("{reference} is {written:?} after mirroring, not {digest}");
    }
    progress.done();
    Ok(Outcome::image(digest))
}

/// Stops a run whose version was retracted while it was going (the git tags here and on the
/// remote, read now): its crates are never published.
fn check_not_retracted(ws: &Workspace, version: &Version) -> Result<()> {
    if crate::gather::retracted_here_and_remote(ws)?.contains(version) {
        return Err(error::error_with_help(
            format!("{version} was retracted while this run was going: its crates are not published"),
            "a retracted version is never released again: tag a new version",
        ));
    }
    Ok(())
}

/// Runs a signing step's cosign command line against the image's registry.
fn cosign_step(ws: &Workspace, docker: &Docker, image: &ImagePlan, what: &str, argv: &[String]) -> Result<Outcome> {
    let progress = ui::step(what);
    let host = docker::registry_host(&image.repository);
    cosign::run(docker, &ws.config.signing, ws.env(), argv, what, Some(host))?;
    progress.done();
    Ok(Outcome::Done)
}

/// A digest a registry tool printed, checked.
fn typed_digest(text: &str) -> Result<Digest> {
    Digest::parse(text).map_err(anyhow::Error::msg)
}

/// The re-read of an image's primary tag right before writing it: whether the write goes ahead
/// (`Done`), was done by a run of ours (`Found`), or is left to a newer build (`Leave`).
///
/// In a plan that signs, what is found there must be ours by signature (`accept`): at the tag
/// step, exactly the digest this run signed; before a build, a digest the configured key
/// signed (another run of ours). Anything else was written by something else meanwhile, and the
/// run stops rather than report it as released.
fn recheck(
    ws: &Workspace,
    docker: &Docker,
    plan: &ReleasePlan,
    i: usize,
    accept: &Accept,
    record: &Record,
) -> Result<Outcome> {
    let image = &plan.images[i];
    let seen = preflight::observe(docker, plan, image, ws.repo.as_deref(), Some(&ws.config.git_remote))?;
    let action = plan::reconcile(plan, image, &seen).map_err(|problem| {
        error::error_with_help(
            problem,
            "another run released this version from another commit while this one was building",
        )
    })?;
    if let (true, BuildAction::AlreadyThere { digest }) = (plan.signed && image.push, &action) {
        let reference = ImageRef::tag(&image.repository, image.primary_tag());
        let (ours, expected) = match accept {
            Accept::Exactly(signed) => {
                let signed = record.digest(signed)?;
                (*digest == signed, format!("is not the {signed} this run signed"))
            }
            Accept::SignedByKey | Accept::Reconciled => {
                let key = ws.root.join(&ws.config.signing.public_key);
                let pinned = format!("{}@{digest}", image.repository);
                let ours = cosign::verify(docker, &key, &pinned, cosign::Check::Signature)?.is_ok();
                (ours, "no signature of the configured key covers".to_owned())
            }
        };
        if !ours {
            return Err(error::error_with_help(
                format!(
                    "{reference} was written while this run was going, with {digest}, which {expected}: left alone, and nothing of this run is tagged"
                ),
                "find out who pushed it; delete the tag and run the release again",
            ));
        }
    }
    match action {
        BuildAction::Build => Ok(Outcome::Done),
        BuildAction::AlreadyThere { digest } => Ok(Outcome::Found { digest }),
        BuildAction::Skip { why } => {
            ui::warn(format_args!("{why} (it was pushed while this run was building)"));
            Ok(Outcome::Leave { why })
        }
    }
}

/// Writes a part's result: what it pushed, for `merge`.
#[allow(clippy::too_many_arguments)]
fn write_part(
    plan: &ReleasePlan,
    record: &Record,
    target: &str,
    platform: &Platform,
    package: &str,
    sums_path: &camino::Utf8Path,
    images: &[PartImageRef],
    path: &camino::Utf8Path,
) -> Result<()> {
    let sums = dist::read_sums(sums_path)?;
    let sha256 = sums.get(package).with_context(|| format!("{sums_path} does not list {package}"))?;
    let commit = plan.commit.context("a part needs a commit")?;
    let mut built = Vec::new();
    for image in images {
        built.push(plan::parts::PartImage {
            context: image.context.clone(),
            repository: image.repository.clone(),
            staging_tag: image.staging_tag.clone(),
            digest: record
                .digest_of(image.build)
                .cloned()
                .with_context(|| format!("the part built no image of {}/", image.context))?,
        });
    }
    let result = plan::parts::PartResult {
        service: Some(plan.service.name.clone()),
        target: release_pipeline_plan::platform::TargetTriple::parse(target).map_err(anyhow::Error::msg)?,
        platform: platform.clone(),
        kind: plan.kind,
        branch: plan.branch.clone(),
        commit,
        version: plan.version.semver.clone(),
        package: plan::parts::PartPackage { file: package.to_owned(), sha256: sha256.clone() },
        images: built,
    };
    dist::write_atomic(path, &serde_json::to_vec_pretty(&result).context("serializing the part's result")?)
}

/// Writes an image's provenance: the plan's, with the hashes of the lockfile and the packages
/// read now.
fn write_provenance(input: &ProvenancePlan, started: i64, path: &camino::Utf8Path) -> Result<()> {
    let lock = &input.lockfile;
    let lockfile = Some(dist::sha256_hex(&std::fs::read(lock).with_context(|| format!("reading {lock}"))?));
    let packages = match &input.packages {
        Packages::Known(listed) => listed.clone(),
        Packages::Sums { sums: sums_path, files } => {
            let sums = dist::read_sums(sums_path)?;
            files
                .iter()
                .map(|file| {
                    let sum = sums.get(file).with_context(|| format!("{sums_path} does not list {file}"))?;
                    Ok((file.clone(), sum.clone()))
                })
                .collect::<Result<_>>()?
        }
    };
    let provenance = attest::ProvenanceInput {
        repository: input.repository.clone(),
        git_ref: input.git_ref.clone(),
        commit: crate::repo::CommitId::parse(&input.commit).map_err(anyhow::Error::msg)?,
        kind: input.kind,
        version: input.version.clone(),
        context: input.context.clone(),
        platforms: input.platforms.clone(),
        lockfile,
        packages,
        builder: input.builder.clone(),
        started,
        finished: unix_now(),
    }
    .provenance();
    dist::write_atomic(path, &serde_json::to_vec_pretty(&provenance).context("serializing the provenance")?)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// How many times `move_tags` reads the registry and writes before it gives up on converging.
pub(crate) const MOVE_ROUNDS: usize = 5;

/// Points each of the image's moving tags at the highest release the registry holds that the tag
/// covers (the digest its version tag holds), reading the registry right before writing. Then
/// reads again and repeats until a whole round changes nothing: a concurrent release that wrote
/// in between is converged with, so every moving tag ends on the highest release, never on a
/// lower one, whichever run writes last. A tag found on the wrong release is put right even when
/// this run is not its release (a run that was stopped half-way left it so).
pub(crate) fn move_tags(
    docker: &Docker,
    ours: &Version,
    image: &ImagePlan,
    all_prefixes: &[&str],
    qualifier: &mut Qualifier,
) -> Result<MovedTags> {
    let mut moved = MovedTags::default();
    let retracted = qualifier.retracted().to_vec();
    for round in 0..MOVE_ROUNDS {
        let listed = docker.list_tags(&image.repository)?;
        let names: Vec<&str> = listed.iter().map(String::as_str).collect();
        let released = registry::releases(&names, &image.tag_prefix, all_prefixes, &retracted);
        let versions: Vec<Version> = released.keys().cloned().collect();
        let mut at_home = Vec::new();
        let mut changed = false;
        for moving in &image.moving_tags {
            let unprefixed = moving.strip_prefix(&image.tag_prefix).unwrap_or(moving);
            let (home, passed_over) = qualifier.home(unprefixed, &versions)?;
            if round == 0 {
                for why in passed_over {
                    let why = format!("{}:{moving} does not go on a higher release: {why}", image.repository);
                    ui::warn(&why);
                    moved.kept.push(why);
                }
            }
            let Some(home) = home else {
                if round == 0 {
                    let why = format!("{}:{moving} stays where it is: no release it covers is left", image.repository);
                    ui::warn(&why);
                    moved.kept.push(why);
                }
                continue;
            };
            if home != ours && round == 0 {
                let why = format!(
                    "{}:{moving} stays on {home}, higher than {ours}: moving tags never move backwards",
                    image.repository
                );
                ui::warn(&why);
                moved.kept.push(why);
            }
            // The digest checked, copied by digest: the version tag may have changed since.
            let target = qualifier
                .digest_of(home, &image.tag_prefix)
                .with_context(|| format!("{}'s release {home} has no {} image", image.repository, image.context))?
                .to_owned();
            let current = docker.inspect(&ImageRef::tag(&image.repository, moving).to_string())?.map(|r| r.digest);
            if current.as_ref() != Some(&target) {
                if current.is_some() && (round > 0 || home != ours) {
                    ui::warn(format_args!(
                        "{}:{moving} is not on {home}, the highest release it covers (another run wrote it); putting it right",
                        image.repository
                    ));
                }
                docker.copy_digest(&image.repository, &target, moving)?;
                changed = true;
            }
            at_home.push(moving.clone());
        }
        if !changed {
            moved.at_home = at_home;
            return Ok(moved);
        }
    }
    Err(error::error_with_help(
        format!(
            "{}'s moving tags kept changing over {MOVE_ROUNDS} rounds: another run keeps writing them",
            image.repository
        ),
        "run the release again once the other run is done; it puts every moving tag on its highest release",
    ))
}

/// Runs a step's registry write (`docker` or a registry tool such as skopeo), retried like
/// every registry call.
fn registry_write(docker: &Docker, image: &ImagePlan, what: &str, argv: &[String]) -> Result<()> {
    let (program, args) = argv.split_first().context("a registry step without a command line")?;
    let out =
        docker
            .exec
            .retrying(what, || if program == "docker" { docker.argv(argv) } else { docker.tool(program, args) })?;
    if !out.status.success() {
        return Err(docker::tool_error(docker::registry_host(&image.repository), what, &out));
    }
    Ok(())
}

/// Reads `reference` back: it must hold exactly the parts' manifests (the one manifest itself,
/// with its platform, or an index of them). Returns its digest.
fn holds_exactly(docker: &Docker, reference: &str, sources: &[(Platform, Digest)]) -> Result<Digest> {
    let remote = docker.inspect(reference)?.with_context(|| format!("{reference} is missing"))?;
    let held: BTreeMap<Platform, Digest> = match sources {
        [_] if remote.manifests.is_empty() => {
            remote.platforms.iter().map(|p| (p.clone(), remote.digest.clone())).collect()
        }
        _ => remote.manifests.clone(),
    };
    let wanted: BTreeMap<Platform, Digest> = sources.iter().cloned().collect();
    // Every entry of an index counts, whatever its platform (one without a platform, or
    // `unknown/*`, is in none of the maps above but would be signed with the rest).
    let entries_ok = match sources {
        [_] => remote.entries == 0 || remote.entries == 1,
        _ => remote.entries == sources.len(),
    };
    if held != wanted || remote.platforms.len() != sources.len() || !entries_ok {
        bail!("{reference} holds {held:?}, not the parts' manifests {wanted:?}: nothing was tagged");
    }
    Ok(remote.digest)
}

/// Checks that `pkg/` holds exactly this version for each platform before docker sees it.
fn check_pkg(ws: &Workspace, context: &str, platforms: &[Platform], bin: &str, version: &str) -> Result<()> {
    for platform in platforms {
        let dir = ws.root.join(context).join("pkg").join(platform.as_str());
        let packages: Vec<_> = dir
            .read_dir_utf8()
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path().to_owned())
                    .filter(|p| p.as_str().ends_with(".tar.gz"))
                    .collect()
            })
            .unwrap_or_default();
        let [package] = packages.as_slice() else {
            return Err(error::error_with_help(
                format!("{dir} holds {} packages, not one", packages.len()),
                "run `cargo xtask dist && cargo xtask distcopy`",
            ));
        };
        let manifest = dist::read_manifest(package)?;
        if manifest.name != bin {
            return Err(error::error_with_help(
                format!("{package} is a package of {}, but {context}/ holds {bin}'s", manifest.name),
                "run `cargo xtask dist && cargo xtask distcopy`",
            ));
        }
        if manifest.version.to_string() != version {
            return Err(error::error_with_help(
                format!("{package} is version {}, but this release is {version} (a stale pkg/)", manifest.version),
                "run `cargo xtask dist && cargo xtask distcopy`",
            ));
        }
    }
    Ok(())
}

/// What buildx's `--metadata-file` holds (the part read here).
#[derive(serde::Deserialize)]
struct BuildMetadata {
    #[serde(rename = "containerimage.digest")]
    digest: Option<String>,
}

/// Runs a build step's command line; its outcome is the digest buildx reports.
fn build(docker: &Docker, image: &ImagePlan, step: &Step) -> Result<Outcome> {
    let Step::Build { context, platforms, push, staging, note, metadata_file, epoch, argv, .. } = step else {
        bail!("not a build step: {}", step.kind())
    };
    if let Some(note) = note {
        ui::warn(note);
    }
    let progress = ui::step(format!(
        "build {context}/ for {} → {}{}",
        platforms.join(","),
        if *staging { "a staging tag of ".to_owned() } else { String::new() }
            + &format!("{}:{}", image.repository, image.primary_tag()),
        if *push { " (push)" } else { " (local engine)" }
    ));
    if let Some(dir) = metadata_file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    let _ = std::fs::remove_file(metadata_file);
    let what = format!("building {context}/");
    let out = docker.exec.retrying(&what, || docker.argv(argv).env("SOURCE_DATE_EPOCH", epoch.to_string()))?;
    if !out.status.success() {
        let host = docker::registry_host(&image.repository);
        if *push {
            return Err(docker::tool_error(host, &what, &out))
                .context("the push failed; the moving tags were not touched, so a rerun resumes");
        }
        return Err(error::command_failed(&what, &out));
    }
    let text =
        std::fs::read(metadata_file).with_context(|| format!("reading buildx's metadata file {metadata_file}"))?;
    let _ = std::fs::remove_file(metadata_file);
    let meta: BuildMetadata = serde_json::from_slice(&text).context("parsing buildx's metadata file")?;
    let digest = meta.digest.context("buildx's metadata has no containerimage.digest")?;
    progress.done();
    Ok(Outcome::image(typed_digest(&digest)?))
}

/// Pushes a build's OCI archive to its tag as it is (retried like every registry write), then
/// removes the archive.
fn push_archive(
    docker: &Docker,
    image: &ImagePlan,
    archive: &camino::Utf8Path,
    reference: &str,
    argv: &[String],
) -> Result<()> {
    let progress = ui::step(format!("push {reference}"));
    registry_write(docker, image, &format!("pushing {reference}"), argv)
        .context("the push failed; the moving tags were not touched, so a rerun resumes")?;
    let _ = std::fs::remove_file(archive);
    progress.done();
    Ok(())
}

/// Reads `reference` back with the step's command line (`argv`): it must hold `digest`, with
/// these platforms.
fn verify(docker: &Docker, argv: &[String], reference: &str, digest: &Digest, platforms: &[Platform]) -> Result<()> {
    let Some(remote) = docker.inspect_with(argv, reference)? else {
        bail!("verify: {reference} is missing after the push")
    };
    if remote.digest != *digest {
        bail!("verify: {reference} is {}, expected {digest}", remote.digest);
    }
    let mut got = remote.platforms.clone();
    got.sort();
    let mut want = platforms.to_vec();
    want.sort();
    if got != want {
        bail!("verify: {reference} has platforms {}, expected {}", got.join(","), want.join(","));
    }
    Ok(())
}

/// Runs the SBOM step's `cargo metadata` and writes the target's CycloneDX document.
pub(crate) fn write_sbom(
    exec: &Exec,
    root: &camino::Utf8Path,
    package: &str,
    target: &str,
    epoch: i64,
    path: &camino::Utf8Path,
    argv: &[String],
) -> Result<()> {
    let exec = exec.in_dir(root);
    let (program, args) = argv.split_first().context("a step without a command line")?;
    let metadata =
        exec.exec(xshell::cmd!(exec.sh, "{program} {args...}"), &format!("reading the dependencies of {target}"))?;
    let bom = attest::sbom(metadata.as_bytes(), package, target, epoch)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    dist::write_atomic(path, &serde_json::to_vec_pretty(&bom).context("serializing the SBOM")?)
}

/// Runs a step that is its command line and nothing more (`delete`, `git-tag`, `git-push`,
/// `yank`), in the workspace's root. A registry's refusal to delete is one clear error.
pub(crate) fn run_command_step(ws: &Workspace, step: &Step) -> Result<()> {
    let exec = &ws.exec;
    let argv = step.command_line();
    let (program, args) = argv.split_first().context("a step without a command line")?;
    let what = format!("the {} step", step.kind());
    let out = exec.output(xshell::cmd!(exec.sh, "{program} {args...}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    match step {
        Step::Delete { tags, .. } if failure::deletes_disabled(&stderr) => Err(error::error_with_help(
            format!("the registry refuses to delete {}: deletes are not enabled", tags.join(", ")),
            "enable them in the registry's configuration (distribution: `storage: delete: enabled: true`, or REGISTRY_STORAGE_DELETE_ENABLED=true), then run prune again",
        )),
        Step::Yank { krate, version, .. } if failure::cargo_already_yanked(&stderr) => {
            ui::info(format_args!("{krate} {version} was yanked already"));
            Ok(())
        }
        // The retraction stands: a release of this version stops before publishing it.
        Step::Yank { krate, version, .. } if failure::cargo_nothing_to_yank(&stderr) => {
            ui::info(format_args!(
                "nothing to yank: {krate} {version} is not published; it never will be, since it is retracted"
            ));
            Ok(())
        }
        Step::Delete { tags, .. } if failure::classify(&stderr) == failure::Failure::NotFound => {
            ui::info(format_args!("{} deleted already (another prune?): done", tags.join(", ")));
            Ok(())
        }
        Step::Delete { argv, .. } => {
            let repository = argv.last().and_then(|r| r.strip_prefix("docker://")).unwrap_or_default();
            Err(docker::tool_error(docker::registry_host(repository), &what, &out))
        }
        _ => Err(error::command_failed(&what, &out)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use release_pipeline_plan::plan::step::{Arg, DigestRef, StepId, When};

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    /// Records what it is asked to do (kind and command line, digests filled in) and answers
    /// from a script: by step kind, first come first served; `Done` when nothing is scripted.
    #[derive(Default)]
    struct Recorder {
        ran: Vec<String>,
        paused: Vec<&'static str>,
        script: Vec<(&'static str, Result<Outcome, String>)>,
    }

    impl Effects for Recorder {
        fn run(&mut self, step: &Step, record: &Record) -> Result<Outcome> {
            let argv = match step {
                Step::Inspect { argv, .. }
                | Step::Promote { argv, .. }
                | Step::Sign { argv, .. }
                | Step::Attest { argv, .. } => record.argv(argv)?.join(" "),
                Step::Verify { digest, .. } => record.digest(digest)?.to_string(),
                other => other.command_line().join(" "),
            };
            self.ran.push(format!("{} {argv}", step.kind()).trim_end().to_owned());
            match self.script.iter().position(|(kind, _)| *kind == step.kind()) {
                Some(n) => self.script.remove(n).1.map_err(anyhow::Error::msg),
                None => Ok(Outcome::Done),
            }
        }
        fn pause(&mut self, point: &'static str) {
            self.paused.push(point);
            self.ran.push(format!("pause {point}"));
        }
    }

    /// What `imagetools inspect --format '{{json .}}'` prints of a one-platform image.
    fn inspected(digest: &Digest) -> String {
        format!(r#"{{"manifest":{{"digest":"{digest}"}},"image":{{"os":"linux","architecture":"amd64"}}}}"#)
    }

    /// A staging tag assembled from one part's manifest, tagged, verified, and the git tag:
    /// each step's command line, with the digests the steps before it read.
    fn assemble_promote_verify_tag(d: &Digest) -> Vec<Step> {
        let assembled = DigestRef::of(StepId(0));
        vec![
            Step::Assemble {
                image: 0,
                reference: "r/s:staging".into(),
                sources: vec![("linux/amd64".into(), d.clone())],
                argv: lit(&["docker", "buildx", "imagetools", "create", "--tag", "r/s:staging", &format!("r/s@{d}")]),
            },
            Step::Promote {
                image: 0,
                reference: "r/s:1.0.0".into(),
                digest: assembled.clone(),
                when: None,
                argv: vec![
                    Arg::Lit("skopeo".into()),
                    Arg::Lit("copy".into()),
                    Arg::Digest { prefix: "docker://r/s@".into(), digest: assembled },
                    Arg::Lit("docker://r/s:1.0.0".into()),
                ],
            },
            Step::Verify {
                image: 0,
                reference: "r/s:1.0.0".into(),
                digest: DigestRef::of(StepId(1)),
                platforms: vec!["linux/amd64".into()],
                when: Some(When::Digest(StepId(1))),
                // Not what the executor would make of the reference: the planned line is what runs.
                argv: lit(&["docker", "imagetools", "inspect", "r/s:1.0.0", "--format", "{{json .}}"]),
            },
            Step::GitTag {
                name: "1.0.0".into(),
                commit: "c0ffee".into(),
                message: "1.0.0".into(),
                argv: lit(&["git", "tag", "1.0.0", "c0ffee"]),
            },
        ]
    }

    /// `Real` over `steps` with a recording runner, pausing at `pause` (the race tests' hook,
    /// its file already there so the run goes on at once).
    fn run_real(steps: &[Step], exec: &Exec, pause: &str) -> (Result<Vec<Outcome>>, Option<String>) {
        let dir = tempfile::tempdir().unwrap();
        run_real_in(camino::Utf8Path::from_path(dir.path()).unwrap(), steps, exec, pause)
    }

    fn run_real_in(
        root: &camino::Utf8Path,
        steps: &[Step],
        exec: &Exec,
        pause: &str,
    ) -> (Result<Vec<Outcome>>, Option<String>) {
        let go_on = root.join("go-on");
        std::fs::write(&go_on, "").unwrap();
        let env: BTreeMap<String, String> = [
            ("RELEASE_PIPELINE_PAUSE_AT".to_owned(), pause.to_owned()),
            ("RELEASE_PIPELINE_PAUSE_FILE".to_owned(), go_on.to_string()),
            ("COSIGN_PRIVATE_KEY".to_owned(), "the key".to_owned()),
            ("COSIGN_PASSWORD".to_owned(), "its password".to_owned()),
        ]
        .into();
        let ws = Workspace::fake(root, crate::config::Config::default(), env, exec);
        let docker = Docker::offline(exec);
        let plan = one_image_plan();
        let outcomes = run_steps(steps, &mut Real::new(&ws, &docker, &plan, &[]));
        (outcomes, std::fs::read_to_string(format!("{go_on}.paused")).ok())
    }

    #[test]
    fn the_real_effects_run_each_steps_command_line_and_retry_a_transient_failure() {
        let (recording, exec) = crate::exec::fake::Recording::exec();
        let d = digest(1);
        recording.answer("inspect r/s:staging", 0, &inspected(&d), "");
        recording.answer("skopeo copy", 1, "", "received unexpected HTTP status: 503 Service Unavailable");
        recording.answer("inspect r/s:1.0.0", 0, &inspected(&d), "");
        recording.answer("inspect r/s:1.0.0", 0, &inspected(&d), "");
        let steps = assemble_promote_verify_tag(&d);
        let (outcomes, paused) = run_real(&steps, &exec, "merge");
        let inspect = |r: &str| format!("docker buildx imagetools inspect {r} --format \"{{{{json .}}}}\"");
        let copy = format!("skopeo copy docker://r/s@{d} docker://r/s:1.0.0");
        assert_eq!(
            recording.ran(),
            [
                format!("docker buildx imagetools create --tag r/s:staging r/s@{d}"),
                inspect("r/s:staging"),
                copy.clone(),
                copy,
                inspect("r/s:1.0.0"),
                inspect("r/s:1.0.0").replace("docker buildx", "docker"),
                "git tag 1.0.0 c0ffee".to_owned(),
            ]
        );
        assert_eq!(recording.slept(), [crate::failure::backoff(2)], "one pause, before the second copy");
        assert_eq!(outcomes.unwrap(), [Outcome::image(d.clone()), Outcome::image(d), Outcome::Done, Outcome::Done]);
        assert_eq!(paused.as_deref(), Some("merge"), "the pause hook ran at the first merge step");
    }

    /// The steps that are their command line, each run once through the runner as planned (the
    /// digests filled in), in order; the ones that are no command run none.
    #[test]
    fn each_command_step_runs_its_command_line_through_the_runner() {
        let (recording, exec) = crate::exec::fake::Recording::exec();
        let dir = tempfile::tempdir().unwrap();
        let root = camino::Utf8Path::from_path(dir.path()).unwrap();
        let archive = root.join("image.tar");
        std::fs::write(&archive, "an OCI archive").unwrap();
        let stage = root.join("stage");
        let d = digest(1);
        recording.answer("imagetools inspect", 0, &inspected(&d), "");
        let known = || DigestRef::Known(d.clone());
        let pinned = |prefix: &str| Arg::Digest { prefix: prefix.to_owned(), digest: known() };
        let version = semver::Version::new(1, 0, 0);
        let steps = vec![
            Step::Push {
                image: 0,
                archive: archive.clone(),
                reference: "r/s:1.0.0".into(),
                when: None,
                argv: lit(&["skopeo", "copy", &format!("oci-archive:{archive}"), "docker://r/s:1.0.0"]),
            },
            Step::Inspect {
                image: 0,
                digest: known(),
                when: None,
                argv: vec![
                    Arg::Lit("docker".into()),
                    Arg::Lit("imagetools".into()),
                    Arg::Lit("inspect".into()),
                    pinned("r/s@"),
                    Arg::Lit("--format".into()),
                    Arg::Lit("{{json .}}".into()),
                ],
            },
            Step::MirrorSignatures {
                image: 0,
                repository: "m/s".into(),
                digest: known(),
                when: None,
                argv: vec![Arg::Lit("cosign".into()), Arg::Lit("copy".into()), pinned("r/s@"), pinned("m/s@")],
            },
            Step::Sign {
                image: 0,
                reference: "r/s:1.0.0".into(),
                when: None,
                argv: vec![Arg::Lit("cosign".into()), Arg::Lit("sign".into()), pinned("r/s@")],
            },
            Step::Skip { what: "w".into(), why: "y".into(), image: Some(0), digest: None, argv: Vec::new() },
            Step::Delete {
                tags: vec!["gone".into()],
                digest: d.clone(),
                reason: "branch gone".into(),
                argv: lit(&["skopeo", "delete", &format!("docker://r/s@{d}")]),
            },
            Step::GitPush { name: "retracted/1.0.0".into(), argv: lit(&["git", "push", "origin", "retracted/1.0.0"]) },
            Step::Yank {
                krate: "k".into(),
                version: version.clone(),
                registry: "local".into(),
                argv: lit(&["cargo", "yank", "--version", "1.0.0", "k"]),
            },
            Step::Publish {
                krate: "k".into(),
                version,
                registry: "local".into(),
                dir: stage.clone(),
                argv: lit(&["cargo", "publish", "-p", "k"]),
            },
        ];
        let (outcomes, paused) = run_real_in(root, &steps, &exec, "publish");
        assert_eq!(outcomes.unwrap().len(), steps.len());
        assert_eq!(
            recording.ran(),
            [
                format!("skopeo copy oci-archive:{archive} docker://r/s:1.0.0"),
                format!("docker imagetools inspect r/s@{d} --format \"{{{{json .}}}}\""),
                format!("cosign copy r/s@{d} m/s@{d}"),
                format!("cosign sign r/s@{d}"),
                format!("skopeo delete docker://r/s@{d}"),
                "git push origin retracted/1.0.0".to_owned(),
                "cargo yank --version 1.0.0 k".to_owned(),
                "cargo publish -p k".to_owned(),
            ]
        );
        assert!(!archive.exists(), "a pushed archive is removed");
        // A crate is published from its staged copy; git runs in the workspace.
        assert_eq!(recording.dir_of("cargo publish").as_deref(), Some(stage.as_std_path()));
        assert_eq!(recording.dir_of("git push").as_deref(), Some(root.as_std_path()));
        assert_eq!(paused.as_deref(), Some("publish"));
    }

    #[test]
    fn a_refused_write_stops_the_real_run_at_that_step() {
        let (recording, exec) = crate::exec::fake::Recording::exec();
        let d = digest(1);
        recording.answer("inspect r/s:staging", 0, &inspected(&d), "");
        recording.answer("skopeo copy", 1, "", "writing manifest: unauthorized: 401 Unauthorized");
        let steps = assemble_promote_verify_tag(&d);
        let (outcomes, paused) = run_real(&steps, &exec, "publish");
        let error = format!("{:#}", outcomes.unwrap_err());
        assert!(error.contains("tagging r/s:1.0.0") && error.contains("401"), "{error}");
        assert_eq!(recording.ran().len(), 3, "nothing after the refused copy: {:?}", recording.ran());
        assert!(recording.slept().is_empty(), "a refusal is not retried");
        assert_eq!(paused, None, "no step of the `publish` pause point ran");
    }

    #[test]
    fn an_assembled_tag_holding_something_else_is_never_tagged() {
        let (recording, exec) = crate::exec::fake::Recording::exec();
        recording.answer("inspect r/s:staging", 0, &inspected(&digest(7)), "");
        let steps = assemble_promote_verify_tag(&digest(1));
        let (outcomes, _) = run_real(&steps, &exec, "merge");
        let error = format!("{:#}", outcomes.unwrap_err());
        assert!(error.contains("not the parts' manifests"), "{error}");
        assert_eq!(recording.ran().len(), 2, "{:?}", recording.ran());
    }

    /// A release of 1.2.3 whose first image is pushed: what the summary is read against.
    fn one_image_plan() -> ReleasePlan {
        let version = semver::Version::new(1, 2, 3);
        let input = release_pipeline_plan::plan::PlanInput {
            config: crate::config::Config {
                image: "127.0.0.1:5000/acme/service".into(),
                release_repository: "acme/service".into(),
                ..Default::default()
            },
            service: crate::services::Service::named("service"),
            unchanged: None,
            shared_prefixes: Vec::new(),
            version: crate::version::VersionInfo {
                pep440: crate::version::pep440(&version),
                semver: version.clone(),
                tag: Some("1.2.3".into()),
                distance: 0,
                commit: Some("c0ffee".repeat(6) + "abcd"),
                dirty: false,
                shallow: false,
            },
            branch: Some("main".into()),
            head_tags: vec![("1.2.3".into(), version.clone())],
            releases: vec![version],
            retracted: Vec::new(),
            repository: Some("127.0.0.1:5000/acme/service".into()),
            force_local: false,
            run: false,
            changed_files: Vec::new(),
        };
        release_pipeline_plan::plan::release(&input, None).unwrap()
    }

    fn lit(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    /// A signed release of one image, as `plan::steps` lays it out: re-read, build, sign, re-read
    /// accepting exactly what was built, tag, verify.
    fn signed_release() -> Vec<Step> {
        let build = StepId(1);
        let by_digest = |prefix: &str, of: DigestRef| Arg::Digest { prefix: prefix.to_owned(), digest: of };
        vec![
            Step::Recheck {
                image: 0,
                reference: "r/s:1.0.0".into(),
                accept: Accept::SignedByKey,
                when: None,
                argv: lit(&["inspect", "r/s:1.0.0"]),
            },
            Step::Build {
                image: 0,
                context: "docker".into(),
                platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
                tags: Vec::new(),
                build_args: BTreeMap::new(),
                labels: BTreeMap::new(),
                push: true,
                staging: false,
                metadata_file: "m.json".into(),
                archive: None,
                epoch: 0,
                note: None,
                when: Some(When::Ran(StepId(0))),
                argv: lit(&["buildx", "build"]),
            },
            Step::Inspect {
                image: 0,
                digest: DigestRef::of(build),
                when: Some(When::Ran(build)),
                argv: vec![by_digest("r/s@", DigestRef::of(build))],
            },
            Step::Attest {
                image: 0,
                reference: "r/s:1.0.0".into(),
                manifest: Some("linux/arm64".into()),
                predicate_type: "cyclonedx".into(),
                predicate: "sbom.json".into(),
                when: Some(When::Ran(build)),
                argv: vec![
                    Arg::Lit("cosign".into()),
                    by_digest("r/s@", DigestRef::Of { step: StepId(2), platform: Some("linux/arm64".into()) }),
                ],
            },
            Step::Sign {
                image: 0,
                reference: "r/s:1.0.0".into(),
                when: Some(When::Ran(build)),
                argv: vec![Arg::Lit("cosign".into()), by_digest("r/s@", DigestRef::of(build))],
            },
            Step::Recheck {
                image: 0,
                reference: "r/s:1.0.0".into(),
                accept: Accept::Exactly(DigestRef::of(build)),
                when: Some(When::Ran(build)),
                argv: lit(&["inspect", "r/s:1.0.0"]),
            },
            Step::Promote {
                image: 0,
                reference: "r/s:1.0.0".into(),
                digest: DigestRef::of(build),
                when: Some(When::Ran(StepId(5))),
                argv: vec![Arg::Lit("copy".into()), by_digest("r/s@", DigestRef::of(build))],
            },
            Step::Verify {
                image: 0,
                reference: "r/s:1.0.0".into(),
                digest: DigestRef::of(StepId(6)),
                platforms: Vec::new(),
                when: Some(When::Digest(StepId(6))),
                argv: Vec::new(),
            },
            Step::Summary { argv: Vec::new() },
        ]
    }

    fn index(n: u8) -> Outcome {
        Outcome::Image {
            digest: digest(n),
            manifests: [("linux/amd64".into(), digest(n + 1)), ("linux/arm64".into(), digest(n + 2))].into(),
        }
    }

    #[test]
    fn each_step_gets_the_digests_the_steps_before_it_made() {
        let steps = signed_release();
        let script = vec![
            ("build", Ok(Outcome::image(digest(1)))),
            ("inspect", Ok(index(1))),
            ("promote", Ok(Outcome::image(digest(1)))),
        ];
        let mut fake = Recorder { script, ..Default::default() };
        let outcomes = run_steps(&steps, &mut fake).unwrap();
        let (d1, arm) = (digest(1), digest(3));
        assert_eq!(
            fake.ran,
            [
                "pause build".to_owned(),
                "recheck inspect r/s:1.0.0".into(),
                "build buildx build".into(),
                format!("inspect r/s@{d1}"),
                "pause sign".into(),
                format!("attest cosign r/s@{arm}"),
                format!("sign cosign r/s@{d1}"),
                "pause merge".into(),
                "recheck inspect r/s:1.0.0".into(),
                format!("promote copy r/s@{d1}"),
                format!("verify {d1}"),
                "summary".into(),
            ]
        );
        assert_eq!(outcomes.len(), steps.len());
        let record = Record { steps: &steps, outcomes: &outcomes };
        assert_eq!(record.digest_of(StepId(7)), None, "verify leaves no digest of its own");
        assert_eq!(record.digest_of(StepId(1)), Some(&d1));
    }

    #[test]
    fn a_recheck_that_finds_the_image_there_stands_for_the_build() {
        let steps = signed_release();
        let mut fake =
            Recorder { script: vec![("recheck", Ok(Outcome::Found { digest: digest(9) }))], ..Default::default() };
        let outcomes = run_steps(&steps, &mut fake).unwrap();
        // Nothing is built, signed or tagged; what was found is verified.
        assert_eq!(
            fake.ran,
            [
                "pause build",
                "recheck inspect r/s:1.0.0",
                "pause sign",
                "pause merge",
                &format!("verify {}", digest(9)),
                "summary"
            ]
        );
        assert_eq!(outcomes[1], Outcome::Skipped { because: StepId(0) });
        assert_eq!(outcomes[6], Outcome::Skipped { because: StepId(5) });
        assert_eq!(outcomes[5], Outcome::Skipped { because: StepId(1) });
        let record = Record { steps: &steps, outcomes: &outcomes };
        assert_eq!(record.digest_of(StepId(6)), Some(&digest(9)), "the tag step stands for the found image");
        let summary = summary::image_outcomes(&one_image_plan(), &record);
        assert_eq!(summary[0].digest.as_deref(), Some(digest(9).as_str()));
        assert_eq!(summary[0].note, "already released; verified 1 tag(s)");
    }

    #[test]
    fn a_recheck_that_finds_a_newer_build_leaves_the_image_alone() {
        let steps = signed_release();
        let mut fake =
            Recorder { script: vec![("recheck", Ok(Outcome::Leave { why: "newer".into() }))], ..Default::default() };
        let outcomes = run_steps(&steps, &mut fake).unwrap();
        assert_eq!(fake.ran, ["pause build", "recheck inspect r/s:1.0.0", "pause sign", "pause merge", "summary"]);
        assert!(matches!(outcomes[7], Outcome::Skipped { .. }), "nothing to verify: {:?}", outcomes[7]);
        let record = Record { steps: &steps, outcomes: &outcomes };
        let summary = summary::image_outcomes(&one_image_plan(), &record);
        assert_eq!(summary[0].digest, None);
        assert_eq!(summary[0].note, "skipped: another run pushed a newer build meanwhile");
    }

    #[test]
    fn a_failed_step_stops_the_run() {
        let steps = signed_release();
        let mut fake = Recorder {
            script: vec![
                ("build", Ok(Outcome::image(digest(1)))),
                ("inspect", Ok(index(1))),
                ("sign", Err("cosign: refused".into())),
            ],
            ..Default::default()
        };
        let error = run_steps(&steps, &mut fake).unwrap_err();
        assert_eq!(error.to_string(), "cosign: refused");
        assert_eq!(fake.ran.last().map(String::as_str), Some(format!("sign cosign r/s@{}", digest(1)).as_str()));
        assert!(!fake.ran.iter().any(|r| r.starts_with("promote") || r.starts_with("summary")), "{:?}", fake.ran);
    }

    #[test]
    fn a_reference_to_a_step_that_left_no_digest_is_an_error_not_a_guess() {
        let mut steps = signed_release();
        // A promote with no condition, after a build that was passed over.
        if let Step::Promote { when, .. } = &mut steps[6] {
            *when = None;
        }
        let mut fake =
            Recorder { script: vec![("recheck", Ok(Outcome::Leave { why: "newer".into() }))], ..Default::default() };
        let error = run_steps(&steps, &mut fake).unwrap_err();
        assert_eq!(error.to_string(), "step 2 left no digest");
    }

    #[test]
    fn each_pause_point_is_passed_once_before_its_first_step() {
        let mut steps = signed_release();
        steps.insert(
            0,
            Step::Package {
                version: semver::Version::new(1, 0, 0),
                package: "p".into(),
                bin: "b".into(),
                targets: Vec::new(),
                dist: "dist".into(),
                format: dist::Format::TarGz,
                epoch: 0,
                argv: Vec::new(),
            },
        );
        // The references move with the steps.
        let steps: Vec<Step> =
            steps.into_iter().enumerate().map(|(n, s)| if n == 0 { s } else { s.offset(0, 1) }).collect();
        let mut fake = Recorder {
            script: vec![("build", Ok(Outcome::image(digest(1)))), ("inspect", Ok(index(1)))],
            ..Default::default()
        };
        run_steps(&steps, &mut fake).unwrap();
        assert_eq!(fake.paused, ["dist", "build", "sign", "merge"]);
        assert_eq!(fake.ran[..2], ["pause dist", "package"]);
    }
}
