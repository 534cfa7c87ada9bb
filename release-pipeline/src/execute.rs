//! Runs a plan's steps (`plan/steps.rs`) in order, one arm per step kind. Decides nothing of its
//! own: what to build, tag, push and publish is in the steps. Right before each write it reads
//! the registry again, and the pure rules turn that read into what to write (`plan::reconcile`
//! for a build, `plan::moving` for a moving tag): another run may have written since the
//! preflight.
use std::{collections::BTreeMap, time::Instant};

use anyhow::{bail, Context, Result};
use semver::Version;

use crate::{
    attest, cosign,
    dist::{self, DistRequest, Format},
    distcopy,
    docker::{self, Docker},
    error, exec, failure,
    plan::{self, registry, sign, BuildAction, CrateAction, ImagePlan, PublishState, ReleasePlan, Step},
    preflight::{self, Preflight},
    publish, qemu,
    reference::ImageRef,
    releases::{self, Qualifier},
    summary::{self, Outcome},
    ui,
    workspace::Workspace,
};

/// Test hook: with `RELEASE_PIPELINE_PAUSE_AT=<step>` and `RELEASE_PIPELINE_PAUSE_FILE=<path>`,
/// the run creates `<path>.paused` at the first step of that kind (`dist`, `build`, `sign`: the
/// first signing step, `merge`: the first write of a merge, `move-tags`, `publish`; `prune`:
/// after prune has decided, before its first delete) and waits until `<path>` exists. The race
/// tests pause one run here and let another finish; every decision about what to write comes
/// after this point.
pub(crate) fn pause_point(step: &str) {
    let (Ok(at), Ok(file)) = (std::env::var("RELEASE_PIPELINE_PAUSE_AT"), std::env::var("RELEASE_PIPELINE_PAUSE_FILE"))
    else {
        return;
    };
    if at != step {
        return;
    }
    let _ = std::fs::write(format!("{file}.paused"), step);
    ui::info(format_args!("paused at {step}: waiting for {file}"));
    while !std::path::Path::new(&file).exists() {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The pause point of a step kind, passed once per run.
fn pause_name(step: &Step) -> Option<&'static str> {
    match step {
        Step::Package { .. } => Some("dist"),
        Step::Build { .. } => Some("build"),
        Step::Provenance { .. } | Step::Attest { .. } | Step::Sign { .. } => Some("sign"),
        Step::Assemble { .. } | Step::Promote { .. } => Some("merge"),
        Step::PointTag { .. } => Some("move-tags"),
        Step::Publish { .. } => Some("publish"),
        _ => None,
    }
}

pub(crate) fn execute(ws: &Workspace, plan: &ReleasePlan, preflight: Preflight, steps: &[Step]) -> Result<()> {
    let started = Instant::now();
    let started_on = unix_now();
    let Preflight { docker, facts, .. } = preflight;
    let docker = docker.context("the preflight found no docker")?;
    let commit = plan.commit.context("a release needs a commit: this repository has none")?.to_string();
    let version = plan.version.semver.to_string();
    let mut outcomes: Vec<Outcome> = plan.images.iter().map(|_| Outcome::default()).collect();
    for (outcome, action) in outcomes.iter_mut().zip(&facts.actions) {
        match action {
            BuildAction::AlreadyThere { digest } => {
                outcome.digest = Some(digest.clone());
                outcome.note = "already released; ".to_owned();
            }
            BuildAction::Skip { why } => {
                ui::warn(why);
                outcome.note =
                    "skipped: the registry holds a newer build, or one this checkout cannot place".to_owned();
            }
            BuildAction::Build => {}
        }
    }
    // Per image: whether this run wrote its primary tag (a build or an assemble).
    let mut pushed_here = vec![false; plan.images.len()];
    let mut paused = Vec::new();
    let mut run_after = None;
    let mut crates: Vec<CrateAction> = facts.crates.clone();
    let mut n = 0;
    while n < steps.len() {
        let step = &steps[n];
        if let Some(name) = pause_name(step).filter(|name| !paused.contains(name)) {
            paused.push(name);
            pause_point(name);
        }
        let resumed = |i: usize| matches!(facts.actions.get(i), Some(BuildAction::AlreadyThere { .. }));
        let signs_here = |i: usize| pushed_here[i] || resumed(i);
        match step {
            // Done by the preflight, whose registry reads go through it.
            Step::Login { .. } => {}
            Step::Package { targets, .. } => {
                let progress = ui::step(format!(
                    "dist: build and package {} {version} for {}",
                    plan.service.bin,
                    targets.join(", ")
                ));
                dist::dist(&DistRequest {
                    root: &ws.root,
                    service: &plan.service,
                    config: &ws.config,
                    version: &version,
                    commit: &commit,
                    epoch: facts.epoch,
                    targets: targets.clone(),
                    format: Format::TarGz,
                })?;
                progress.done();
            }
            Step::FillPkg { contexts, platform, .. } => {
                let progress = ui::step(format!("distcopy: fill the pkg/ of {}", contexts.join(", ")));
                let dirs: Vec<&str> = contexts.iter().map(String::as_str).collect();
                let from = ws.root.join("dist");
                distcopy::distcopy_contexts(ws, &from, &dirs, Some(&version), platform.as_ref())?;
                progress.done();
            }
            Step::RegisterQemu { handlers, argv } => {
                let progress = ui::step(format!("qemu: register {}", handlers.join(", ")));
                qemu::register(handlers, argv)?;
                progress.done();
            }
            Step::Build { image: i, context, platforms, push, staging, note, metadata_file, argv, .. } => {
                let image = &plan.images[*i];
                // Read the tag again: another run may have pushed it since the preflight. A part's
                // staging push writes no tag anyone reads, so it has nothing to re-read.
                if !staging && !still_to_write(ws, &docker, plan, *i, &mut outcomes[*i], None)? {
                    n += 1;
                    continue;
                }
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
                check_pkg(ws, &image.context, platforms, &plan.service.bin, &version)?;
                outcomes[*i].digest = Some(build(&docker, image, facts.epoch, metadata_file, argv)?);
                pushed_here[*i] = *push && !staging;
                progress.done();
            }
            Step::Assemble { image: i, reference, sources, argv } => {
                // A staging tag no user pulls, read back at once: its digest, checked, is what is
                // signed and tagged after it (by digest: a later write to the staging tag counts
                // for nothing).
                let progress = ui::step(format!("assemble {reference} from {} part(s)", sources.len()));
                registry_write(&docker, &plan.images[*i], &format!("assembling {reference}"), argv)?;
                outcomes[*i].digest = Some(holds_exactly(&docker, reference, sources)?);
                pushed_here[*i] = true;
                progress.done();
            }
            Step::Promote { image: i, reference, argv } => {
                let Some(digest) = outcomes[*i].digest.clone().filter(|_| pushed_here[*i]) else {
                    n += 1;
                    continue;
                };
                // Read the tag again: another run may have written it since the preflight.
                if !still_to_write(ws, &docker, plan, *i, &mut outcomes[*i], Some(&digest))? {
                    n += 1;
                    continue;
                }
                let progress = ui::step(format!("tag {reference} ({digest})"));
                let argv = sign::with_digest(argv, &digest);
                registry_write(&docker, &plan.images[*i], &format!("tagging {reference}"), &argv)?;
                let written = docker.inspect(reference)?.map(|r| r.digest);
                if written.as_deref() != Some(digest.as_str()) {
                    bail!("{reference} is {written:?} after tagging it, not {digest}");
                }
                progress.done();
            }
            Step::WritePart { target, platform, images, path, .. } => {
                write_part(ws, plan, &outcomes, target, platform, images, path)?;
                ui::info(format_args!("wrote {path}: pass it to `cargo xtask merge`"));
            }
            Step::PointTag { image: i, .. } => {
                // The image's moving tags together: they converge in one loop of reads and writes.
                let mut end = n;
                while matches!(steps.get(end), Some(Step::PointTag { image, .. }) if image == i) {
                    end += 1;
                }
                if outcomes[*i].digest.is_some() {
                    let image = &plan.images[*i];
                    let progress =
                        ui::step(format!("move tags of {}: {}", image.repository, image.moving_tags.join(", ")));
                    // Every context pushing to this repository: a release counts once all are in.
                    let contexts: Vec<releases::Context> = plan
                        .images
                        .iter()
                        .filter(|i| i.repository == image.repository)
                        .map(|i| releases::Context {
                            prefix: i.tag_prefix.clone(),
                            dir: i.context.clone(),
                            platforms: i.platforms.clone(),
                        })
                        .collect();
                    let prefixes: Vec<&str> = contexts.iter().map(|c| c.prefix.as_str()).collect();
                    // Read again now: a retraction made while this run built counts.
                    let retracted = crate::gather::retracted_here_and_remote(ws)?;
                    let mut qualifier = Qualifier::new(ws, &docker, &image.repository, contexts.clone(), retracted)?;
                    let moved = move_tags(&docker, &plan.version.semver, image, &prefixes, &mut qualifier)?;
                    outcomes[*i].moved.extend(moved.at_home);
                    outcomes[*i].kept.extend(moved.kept);
                    progress.done();
                }
                n = end;
                continue;
            }
            Step::Verify { image: i, reference, platforms, .. } => {
                if let Some(digest) = outcomes[*i].digest.clone() {
                    verify(&docker, reference, &digest, platforms)?;
                    let outcome = &mut outcomes[*i];
                    outcome.written.push(plan.images[*i].primary_tag().to_owned());
                    outcome.note.push_str(&format!("verified {} tag(s)", 1 + outcome.moved.len()));
                }
            }
            Step::Publish { .. } => {
                let mut end = n;
                let mut commands = Vec::new();
                while let Some(Step::Publish { krate, argv, .. }) = steps.get(end) {
                    commands.push((krate.clone(), argv.clone()));
                    end += 1;
                }
                // Read again now: a version retracted while this run built is never published.
                if crate::gather::retracted_here_and_remote(ws)?.contains(&plan.version.semver) {
                    return Err(error::error_with_help(
                        format!(
                            "{} was retracted while this run was going: its crates are not published",
                            plan.version.semver
                        ),
                        "a retracted version is never released again: tag a new version",
                    ));
                }
                let progress = ui::step("publish: crates to the cargo registry");
                publish::publish_staged(ws, plan, &commands)?;
                progress.done();
                n = end;
                continue;
            }
            // After the summary: a failed start still leaves the run's record.
            Step::Run { .. } => run_after = Some(step),
            Step::Delete { .. } | Step::GitTag { .. } | Step::GitPush { .. } | Step::Yank { .. } => {
                run_command_step(ws, step)?
            }
            Step::Sbom { target, package, path, argv } => {
                let progress = ui::step(format!("sbom: {target}"));
                write_sbom(&ws.root, package, target, facts.epoch, path, argv)?;
                progress.done();
            }
            Step::Provenance { image: i, path, .. } => {
                let image = &plan.images[*i];
                let input = provenance_input(ws, plan, image, &facts, started_on)?;
                let json = serde_json::to_vec_pretty(&input.provenance()).context("serializing the provenance")?;
                dist::write_atomic(path, &json)?;
            }
            Step::Sign { image: i, argv, .. } => {
                // What this run pushed, or a rerun found pushed and unsigned; not what another
                // run pushed meanwhile (that run signs it).
                if let Some(digest) = outcomes[*i].digest.clone().filter(|_| signs_here(*i)) {
                    let image = &plan.images[*i];
                    let what = format!("signing {}@{digest}", image.repository);
                    let progress = ui::step(what.clone());
                    let host = docker::registry_host(&image.repository);
                    let argv = sign::with_digest(argv, &digest);
                    cosign::run(docker.envs(), &ws.config.signing, ws.env(), &argv, &what, Some(host))?;
                    progress.done();
                }
            }
            Step::Attest { image: i, .. } => {
                // The image's attestations together: those on different digests run side by side.
                let mut end = n;
                while matches!(steps.get(end), Some(Step::Attest { image, .. }) if image == i) {
                    end += 1;
                }
                if let Some(index) = outcomes[*i].digest.clone().filter(|_| signs_here(*i)) {
                    attest_image(&ws.config.signing, ws.env(), &docker, &plan.images[*i], &index, &steps[n..end])?;
                }
                n = end;
                continue;
            }
            Step::SignBlob { file, argv, .. } => {
                let progress = ui::step(format!("sign {file}"));
                cosign::run(docker.envs(), &ws.config.signing, ws.env(), argv, &format!("signing {file}"), None)?;
                progress.done();
            }
            Step::Skip { what, why, .. } => ui::info(format_args!("skipped {what}: {why}")),
        }
        n += 1;
    }
    let _ = std::fs::remove_dir(&facts.scratch_dir);
    for (image, outcome) in plan.images.iter().zip(&mut outcomes) {
        if !image.push && outcome.digest.is_some() {
            outcome.note = if plan.local { "local engine".to_owned() } else { "built, not pushed".to_owned() };
        }
    }
    crates.retain(|c| {
        c.state != PublishState::Publish
            || steps.iter().any(|s| matches!(s, Step::Publish { krate, .. } if *krate == c.krate))
    });
    summary::summary(plan, &outcomes, &crates, started);
    if let Some(Step::Run { reference, container, argv, port, .. }) = run_after {
        crate::local_run::run_local(&docker, reference, container, argv, *port)?;
    }
    Ok(())
}

/// Runs an image's `attest` steps. Each digest's attestations go one after the other (cosign
/// appends each to the digest's one `.att` manifest); the digests' series run side by side.
pub(crate) fn attest_image(
    signing: &crate::config::SigningConfig,
    env: &BTreeMap<String, String>,
    docker: &Docker,
    image: &ImagePlan,
    index: &str,
    attests: &[Step],
) -> Result<()> {
    let manifests = if attests.iter().any(|s| matches!(s, Step::Attest { manifest: Some(_), .. })) {
        let reference = format!("{}@{index}", image.repository);
        docker.inspect(&reference)?.with_context(|| format!("{reference} vanished"))?.manifests
    } else {
        BTreeMap::new()
    };
    let mut series: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for step in attests {
        let Step::Attest { manifest, predicate_type, argv, .. } = step else { continue };
        let digest = match manifest {
            None => index.to_owned(),
            Some(platform) => manifests
                .get(platform.as_str())
                .cloned()
                .with_context(|| format!("{}@{index} has no {platform} manifest to attest", image.repository))?,
        };
        let what = format!("attesting {predicate_type} on {}@{digest}", image.repository);
        let argv = sign::with_digest(argv, &digest);
        series.entry(digest).or_default().push((what, argv));
    }
    let progress = ui::step(format!(
        "attest {}: {} attestation(s) on {} manifest(s)",
        image.repository,
        attests.len(),
        series.len()
    ));
    let host = docker::registry_host(&image.repository);
    let docker_env = docker.envs();
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = series
            .values()
            .map(|calls| {
                scope.spawn(move || {
                    for (what, argv) in calls {
                        cosign::run(docker_env, signing, env, argv, what, Some(host))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("an attesting thread panicked"))))
            .collect()
    });
    results.into_iter().collect::<Result<Vec<()>>>()?;
    progress.done();
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Runs the SBOM step's `cargo metadata` and writes the target's CycloneDX document.
pub(crate) fn write_sbom(
    root: &camino::Utf8Path,
    package: &str,
    target: &str,
    epoch: i64,
    path: &camino::Utf8Path,
    argv: &[String],
) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root);
    let (program, args) = argv.split_first().context("a step without a command line")?;
    let metadata =
        exec::exec(xshell::cmd!(sh, "{program} {args...}"), &format!("reading the dependencies of {target}"))?;
    let bom = attest::sbom(metadata.as_bytes(), package, target, epoch)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    dist::write_atomic(path, &serde_json::to_vec_pretty(&bom).context("serializing the SBOM")?)
}

/// What an image's provenance is made of: the plan, the CI run, `Cargo.lock` and the packages
/// `dist/SHA256SUMS` lists for the image's targets.
fn provenance_input(
    ws: &Workspace,
    plan: &ReleasePlan,
    image: &ImagePlan,
    facts: &plan::Facts,
    started: i64,
) -> Result<attest::ProvenanceInput> {
    // Published in the attestation: never a credential a CI checkout's remote URL may carry.
    let repository = crate::ci::repository_url(ws.env())
        .or_else(|| ws.repo.as_deref().and_then(|r| r.remote_url(&ws.config.git_remote)))
        .and_then(|url| {
            let published = crate::ci::without_credentials(&url);
            if published.is_none() {
                // Not the URL itself: it may hold a credential.
                ui::warn(format_args!(
                    "the repository's URL (git remote `{}` or the CI's) is not one a URL parser reads: left out of the provenance",
                    ws.config.git_remote
                ));
            }
            published
        })
        .unwrap_or_else(|| format!("file://{}", ws.root));
    let git_ref = match (&plan.tag, &plan.branch) {
        (Some(tag), _) => Some(format!("refs/tags/{tag}")),
        (None, Some(branch)) => Some(format!("refs/heads/{branch}")),
        (None, None) => None,
    };
    let lock_path = ws.root.join("Cargo.lock");
    let lockfile = Some(dist::sha256_hex(&std::fs::read(&lock_path).with_context(|| format!("reading {lock_path}"))?));
    let targets = sign::targets_of(&facts.targets, &image.platforms);
    // A merge has the packages its parts built; a run, those in dist/SHA256SUMS.
    let listed: Vec<(String, String)> = match &facts.merge {
        Some(merge) => merge.packages.clone(),
        None => {
            let sums_path = ws.root.join("dist").join(dist::SUMS);
            let sums = std::fs::read_to_string(&sums_path).with_context(|| format!("reading {sums_path}"))?;
            sums.lines()
                .filter_map(|line| line.split_once("  "))
                .map(|(sum, name)| (name.to_owned(), sum.to_owned()))
                .collect()
        }
    };
    let own = format!("{}-{}-", plan.service.bin, plan.version.semver);
    let packages = listed
        .into_iter()
        .filter(|(name, _)| name.starts_with(&own) && targets.iter().any(|t| name.contains(&format!("-{t}."))))
        .collect();
    Ok(attest::ProvenanceInput {
        repository,
        git_ref,
        commit: plan.commit.map(|c| c.to_string()).unwrap_or_default(),
        kind: plan.kind.as_str(),
        version: plan.version.semver.to_string(),
        context: image.context.clone(),
        platforms: image.platforms.clone(),
        lockfile,
        packages,
        builder: crate::ci::run_url(ws.env()).unwrap_or_else(|| "local".to_owned()),
        started,
        finished: unix_now(),
    })
}

/// Runs a step that is its command line and nothing more (`delete`, `git-tag`, `git-push`,
/// `yank`), in the workspace's root. A registry's refusal to delete is one clear error.
pub(crate) fn run_command_step(ws: &Workspace, step: &Step) -> Result<()> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(&ws.root);
    let (program, args) = step.argv().split_first().context("a step without a command line")?;
    let what = format!("the {} step", step.kind());
    let out = exec::exec_output(xshell::cmd!(sh, "{program} {args...}"))?;
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

/// What `move_tags` did: the moving tags now on their release (confirmed by the last read), and
/// the ones left on a higher release, with the reason.
#[derive(Default)]
pub(crate) struct MovedTags {
    pub(crate) at_home: Vec<String>,
    pub(crate) kept: Vec<String>,
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
            if current.as_deref() != Some(target.as_str()) {
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

/// Whether an image's primary tag is still to be written, from a fresh read of the registry
/// (another run may have written it since the preflight); when not, `outcome` says why.
///
/// In a plan that signs, what is found there must be ours by signature: at the tag step
/// (`signed`), exactly the digest this run signed; before a build, a digest the configured key
/// signed (another run of ours). Anything else was written by something else meanwhile, and the
/// run stops rather than report it as released.
fn still_to_write(
    ws: &Workspace,
    docker: &Docker,
    plan: &ReleasePlan,
    i: usize,
    outcome: &mut Outcome,
    signed: Option<&str>,
) -> Result<bool> {
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
        let ours = match signed {
            Some(signed) => digest == signed,
            None => {
                let key = ws.root.join(&ws.config.signing.public_key);
                let pinned = format!("{}@{digest}", image.repository);
                cosign::verify(docker.envs(), &key, &pinned, cosign::Check::Signature)?.is_ok()
            }
        };
        if !ours {
            return Err(error::error_with_help(
                format!(
                    "{reference} was written while this run was going, with {digest}, which {}: left alone, and nothing of this run is tagged",
                    match signed {
                        Some(signed) => format!("is not the {signed} this run signed"),
                        None => "no signature of the configured key covers".to_owned(),
                    }
                ),
                "find out who pushed it; delete the tag and run the release again",
            ));
        }
    }
    match action {
        BuildAction::Build => Ok(true),
        BuildAction::AlreadyThere { digest } => {
            outcome.digest = Some(digest);
            outcome.note = "already released; ".to_owned();
            Ok(false)
        }
        BuildAction::Skip { why } => {
            ui::warn(format_args!("{why} (it was pushed while this run was building)"));
            outcome.note = "skipped: another run pushed a newer build meanwhile".to_owned();
            Ok(false)
        }
    }
}

/// Runs a step's registry write (`docker` or a registry tool such as skopeo), retried like
/// every registry call.
fn registry_write(docker: &Docker, image: &ImagePlan, what: &str, argv: &[String]) -> Result<()> {
    let (program, args) = argv.split_first().context("a registry step without a command line")?;
    let out =
        failure::exec_retrying(
            what,
            || {
                if program == "docker" {
                    docker.argv(argv)
                } else {
                    docker.tool(program, args)
                }
            },
        )?;
    if !out.status.success() {
        return Err(docker::tool_error(docker::registry_host(&image.repository), what, &out));
    }
    Ok(())
}

/// Reads `reference` back: it must hold exactly the parts' manifests (the one manifest itself,
/// with its platform, or an index of them). Returns its digest.
fn holds_exactly(
    docker: &Docker,
    reference: &str,
    sources: &[(crate::platform::Platform, crate::reference::Digest)],
) -> Result<String> {
    let remote = docker.inspect(reference)?.with_context(|| format!("{reference} is missing"))?;
    let held: BTreeMap<String, String> = match sources {
        [_] if remote.manifests.is_empty() => {
            remote.platforms.iter().map(|p| (p.clone(), remote.digest.clone())).collect()
        }
        _ => remote.manifests.clone(),
    };
    let wanted: BTreeMap<String, String> = sources.iter().map(|(p, d)| (p.to_string(), d.to_string())).collect();
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

/// Writes a part's result: what it pushed, for `merge`.
fn write_part(
    ws: &Workspace,
    plan: &ReleasePlan,
    outcomes: &[Outcome],
    target: &str,
    platform: &crate::platform::Platform,
    images: &[usize],
    path: &camino::Utf8Path,
) -> Result<()> {
    let sums_path = ws.root.join("dist").join(dist::SUMS);
    let sums = std::fs::read_to_string(&sums_path).with_context(|| format!("reading {sums_path}"))?;
    let own = dist::package_name(&plan.service.bin, &plan.version.semver.to_string(), target, "tar.gz");
    let (sha256, file) = sums
        .lines()
        .filter_map(|line| line.split_once("  "))
        .find(|(_, name)| *name == own)
        .with_context(|| format!("{sums_path} does not list {own}"))?;
    let commit = plan.commit.context("a part needs a commit")?;
    let mut built = Vec::new();
    for &i in images {
        let image = &plan.images[i];
        let digest =
            outcomes[i].digest.clone().with_context(|| format!("the part built no image of {}/", image.context))?;
        built.push(plan::parts::PartImage {
            context: image.context.clone(),
            repository: image.repository.clone(),
            staging_tag: crate::tags::staging_tag(&commit.to_string(), image.primary_tag(), platform.as_str()),
            digest: crate::reference::Digest::parse(&digest).map_err(anyhow::Error::msg)?,
        });
    }
    let result = plan::parts::PartResult {
        service: Some(plan.service.name.clone()),
        target: target.to_owned(),
        platform: platform.clone(),
        kind: plan.kind.as_str().to_owned(),
        branch: plan.branch.clone(),
        commit,
        version: plan.version.semver.to_string(),
        package: plan::parts::PartPackage { file: file.to_owned(), sha256: sha256.to_owned() },
        images: built,
    };
    dist::write_atomic(path, &serde_json::to_vec_pretty(&result).context("serializing the part's result")?)
}

/// Checks that `pkg/` holds exactly this version for each platform before docker sees it.
fn check_pkg(
    ws: &Workspace,
    context: &str,
    platforms: &[crate::platform::Platform],
    bin: &str,
    version: &str,
) -> Result<()> {
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
        if manifest.version != version {
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

/// Runs a build step's command line; returns the digest buildx reports.
fn build(
    docker: &Docker,
    image: &ImagePlan,
    epoch: i64,
    metadata_file: &camino::Utf8Path,
    argv: &[String],
) -> Result<String> {
    if let Some(dir) = metadata_file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {dir}"))?;
    }
    let _ = std::fs::remove_file(metadata_file);
    let what = format!("building {}/", image.context);
    let out = failure::exec_retrying(&what, || docker.argv(argv).env("SOURCE_DATE_EPOCH", epoch.to_string()))?;
    if !out.status.success() {
        let host = docker::registry_host(&image.repository);
        if image.push {
            return Err(docker::tool_error(host, &what, &out))
                .context("the push failed; the moving tags were not touched, so a rerun resumes");
        }
        return Err(error::command_failed(&what, &out));
    }
    let text =
        std::fs::read(metadata_file).with_context(|| format!("reading buildx's metadata file {metadata_file}"))?;
    let _ = std::fs::remove_file(metadata_file);
    let meta: BuildMetadata = serde_json::from_slice(&text).context("parsing buildx's metadata file")?;
    meta.digest.context("buildx's metadata has no containerimage.digest")
}

fn verify(docker: &Docker, reference: &str, digest: &str, platforms: &[crate::platform::Platform]) -> Result<()> {
    let Some(remote) = docker.inspect(reference)? else { bail!("verify: {reference} is missing after the push") };
    if remote.digest != digest {
        bail!("verify: {reference} is {}, expected {digest}", remote.digest);
    }
    let mut got = remote.platforms.clone();
    got.sort();
    let mut want: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
    want.sort();
    if got != want {
        bail!("verify: {reference} has platforms {}, expected {}", got.join(","), want.join(","));
    }
    Ok(())
}
