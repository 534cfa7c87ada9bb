//! Carries a `ReleasePlan` out: preflight → dist → distcopy → qemu → build and push each context
//! → move tags → verify → publish → summary. Decides nothing of its own: what to tag and push is
//! in the plan, and what the registry holds is turned into actions by `plan::reconcile` and
//! `tags::moving_tag_home`, from a read made right before each write (another run may have
//! written in between).
use std::{collections::BTreeMap, fmt::Write as _, time::Instant};

use anstream::{eprint, println};
use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use semver::Version;

use crate::{
    checks,
    dist::{self, DistRequest, Format},
    distcopy,
    docker::{self, Docker},
    failure::{self, Failure},
    pipeline::Options,
    plan::{self, BuildAction, ImagePlan, Kind, Lineage, Observed, PlanInput, ReleasePlan},
    publish, qemu,
    repo::Repo,
    tags, ui,
    version::{parse_tag, TagKind},
};

/// What happened to one image, for the summary.
#[derive(Default)]
struct Outcome {
    digest: Option<String>,
    /// Tags this run wrote (or found already right), each checked by `verify` against the
    /// digest it must hold.
    written: Vec<(String, String)>,
    /// Moving tags, each confirmed on its release by `move_tags`' last read.
    moved: Vec<String>,
    /// Moving tags left where they are, with the reason.
    kept: Vec<String>,
    note: String,
}

/// Test hook: with `RELEASE_PIPELINE_PAUSE_AT=<step>` and `RELEASE_PIPELINE_PAUSE_FILE=<path>`,
/// the run creates `<path>.paused` at the start of that step (`dist`, `build`, `move-tags`,
/// `publish`) and waits until `<path>` exists. The race tests pause one run here and let another
/// finish; every decision about what to write comes after this point.
fn pause_point(step: &str) {
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

pub(crate) fn execute(plan: &ReleasePlan, input: &PlanInput, root: &Utf8Path, opts: &Options) -> Result<()> {
    let started = Instant::now();
    if plan.kind == Kind::Skip {
        ui::info(format_args!("nothing to do: {}", plan.reason));
        return Ok(());
    }
    let config = &input.config;
    let commit = plan.commit.clone().context("a release needs a commit: this repository has none")?;

    // Preflight: tools, login, and every registry read, before anything is built. Every
    // problem found here is reported at once.
    let step = ui::step("preflight: docker, buildx, registry");
    let mut docker = Docker::connect()?;
    let env = crate::pipeline::env_map();
    let mut problems = Vec::new();
    if let Some(builder) = &opts.builder {
        if let Err(why) = docker.check_builder(builder) {
            problems.push(why);
        }
    }
    if plan.images.iter().any(|i| i.push && !i.moving_tags.is_empty()) {
        if let Err(p) = checks::skopeo() {
            problems.push(format!("{} ({})", p.detail, p.fix));
        }
    }
    if plan.pushes() {
        login(&mut docker, plan, config, &env)?;
    }
    let repo = Repo::discover(root)?;
    let mut actions = Vec::new();
    for image in &plan.images {
        let seen = observe(&docker, plan, image, repo.as_ref(), &config.git_remote)?;
        match plan::reconcile(plan, image, &seen) {
            Ok(action) => actions.push(action),
            Err(problem) => problems.push(problem),
        }
    }
    let publish_actions = match publish::preflight(plan, input, root, &env) {
        Ok(actions) => actions,
        Err(e) => {
            problems.push(format!("{e:#}"));
            Vec::new()
        }
    };
    if !problems.is_empty() {
        return Err(ui::problems_error(
            format_args!("the preflight found {} problem(s); nothing was built or pushed", problems.len()),
            &problems,
            "fix them and run again; a version is released once, so tag a new version for new code",
        ));
    }
    step.done();
    announce(plan, &actions);

    let mut outcomes: Vec<Outcome> = plan.images.iter().map(|_| Outcome::default()).collect();
    let to_build: Vec<usize> = (0..plan.images.len()).filter(|&i| actions[i] == BuildAction::Build).collect();
    let epoch = dist::source_date_epoch(repo.as_ref(), Some(&commit))?;
    if !to_build.is_empty() {
        let platforms: Vec<String> = to_build.iter().flat_map(|&i| plan.images[i].platforms.clone()).collect();
        let targets: Vec<String> =
            config.targets.iter().filter(|t| platforms.contains(&t.platform)).map(|t| t.target.clone()).collect();
        pause_point("dist");
        let step = ui::step(format!(
            "dist: build and package {} {} for {}",
            dist::CRATE,
            plan.version.semver,
            targets.join(", ")
        ));
        dist::dist(&DistRequest {
            root,
            config,
            version: &plan.version.semver,
            commit: &commit,
            epoch,
            targets,
            format: Format::TarGz,
        })?;
        step.done();

        let step = ui::step("distcopy: fill the pkg/ of each context to build");
        let dirs: Vec<&str> = to_build.iter().map(|&i| plan.images[i].context.as_str()).collect();
        distcopy::distcopy_contexts(root, config, &root.join("dist"), &dirs, Some(&plan.version.semver))?;
        step.done();

        if !qemu::needed_handlers(&platforms).is_empty() {
            let step = ui::step("qemu: handlers for foreign platforms");
            qemu::ensure(config)?;
            step.done();
        }
    } else {
        ui::info("nothing to build: every image is already there or newer");
    }

    pause_point("build");
    let containerd = docker.has_containerd_store();
    for &i in &to_build {
        let image = &plan.images[i];
        // Read the tag again: another run may have pushed it while this one was building.
        let seen = observe(&docker, plan, image, repo.as_ref(), &config.git_remote)?;
        let action = plan::reconcile(plan, image, &seen).map_err(|problem| {
            ui::error_with_help(
                problem,
                "another run released this version from another commit while this one was building",
            )
        })?;
        match action {
            BuildAction::Build => {}
            other => {
                if let BuildAction::Skip { why } = &other {
                    ui::warn(format_args!("{why} (it was pushed while this run was building)"));
                }
                actions[i] = other;
                continue;
            }
        }
        let step = ui::step(format!(
            "build {}/ for {} → {}:{}{}",
            image.context,
            image.platforms.join(","),
            image.repository,
            image.primary_tag(),
            if image.push { " (push)" } else { " (local engine)" }
        ));
        outcomes[i].digest = Some(build(&docker, plan, image, root, epoch, opts, containerd)?);
        step.done();
    }
    for (i, image) in plan.images.iter().enumerate() {
        if let BuildAction::AlreadyThere { digest } = &actions[i] {
            outcomes[i].digest = Some(digest.clone());
        }
        if let (true, Some(digest)) = (image.push, outcomes[i].digest.clone()) {
            outcomes[i].written.push((image.primary_tag().to_owned(), digest));
        }
    }

    // Moving tags last, and only once every context's immutable tag is in.
    let movers: Vec<usize> = (0..plan.images.len())
        .filter(|&i| plan.images[i].push && !plan.images[i].moving_tags.is_empty() && outcomes[i].digest.is_some())
        .collect();
    if !movers.is_empty() {
        pause_point("move-tags");
        let step = ui::step("move tags: point the moving tags at the highest release the registry holds");
        let ours = Version::parse(&plan.version.semver).context("a release version is SemVer")?;
        for &i in &movers {
            let moved = move_tags(&docker, &ours, &plan.images[i])?;
            outcomes[i].moved.extend(moved.at_home);
            outcomes[i].kept.extend(moved.kept);
        }
        step.done();
    }

    if plan.pushes() {
        let step = ui::step("verify: every written tag, its platforms and digest");
        for (image, outcome) in plan.images.iter().zip(&mut outcomes) {
            for (tag, digest) in &outcome.written {
                verify(&docker, image, tag, digest)?;
            }
            if !outcome.written.is_empty() {
                outcome.note = format!("verified {} tag(s)", outcome.written.len() + outcome.moved.len());
            }
        }
        step.done();
    }

    if !publish_actions.is_empty() {
        pause_point("publish");
        let step = ui::step("publish: crates to the cargo registry");
        publish::publish(plan, input, root, &publish_actions)?;
        step.done();
    }

    for ((image, action), outcome) in plan.images.iter().zip(&actions).zip(&mut outcomes) {
        if let BuildAction::Skip { .. } = action {
            outcome.note = "skipped: the registry holds a newer build, or one this checkout cannot place".to_owned();
        } else if let BuildAction::AlreadyThere { .. } = action {
            outcome.note = format!("already released; {}", outcome.note);
        } else if !image.push {
            outcome.note = if plan.local { "local engine".to_owned() } else { "built, not pushed".to_owned() };
        }
    }
    summary(plan, &outcomes, &publish_actions, started);

    if opts.run {
        run_local(&docker, plan, opts.port.unwrap_or(8080))?;
    }
    Ok(())
}

fn announce(plan: &ReleasePlan, actions: &[BuildAction]) {
    for (image, action) in plan.images.iter().zip(actions) {
        match action {
            BuildAction::AlreadyThere { .. } => ui::info(format_args!(
                "{}:{} was already released from this commit: resuming (only what is missing is built and pushed)",
                image.repository,
                image.primary_tag()
            )),
            BuildAction::Skip { why } => ui::warn(why),
            BuildAction::Build => {}
        }
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
const MOVE_ROUNDS: usize = 5;

/// Points each of the image's moving tags at the highest release the registry holds that the tag
/// covers (the digest its version tag holds), reading the registry right before writing. Then
/// reads again and repeats until a whole round changes nothing: a concurrent release that wrote
/// in between is converged with, so every moving tag ends on the highest release, never on a
/// lower one, whichever run writes last. A tag found on the wrong release is put right even when
/// this run is not its release (a run that was stopped half-way left it so).
pub(crate) fn move_tags(docker: &Docker, ours: &Version, image: &ImagePlan) -> Result<MovedTags> {
    let mut moved = MovedTags::default();
    for round in 0..MOVE_ROUNDS {
        let released = released_versions(docker, image)?;
        let versions: Vec<Version> = released.keys().cloned().collect();
        let mut at_home = Vec::new();
        let mut changed = false;
        // The digest each home release's version tag holds now (two runs of one version agree on
        // it), read once a round.
        let mut homes: BTreeMap<Version, String> = BTreeMap::new();
        for moving in &image.moving_tags {
            let unprefixed = moving.strip_prefix(&image.tag_prefix).unwrap_or(moving);
            let Some(home) = tags::moving_tag_home(unprefixed, &versions) else { continue };
            if home != ours && round == 0 {
                let why = format!(
                    "{}:{moving} stays on {home}, higher than {ours}: moving tags never move backwards",
                    image.repository
                );
                ui::warn(&why);
                moved.kept.push(why);
            }
            let target = match homes.get(home) {
                Some(digest) => digest.clone(),
                None => {
                    let home_tag = format!("{}:{}", image.repository, released[home]);
                    let digest = docker.inspect(&home_tag)?.with_context(|| format!("{home_tag} vanished"))?.digest;
                    homes.insert(home.clone(), digest.clone());
                    digest
                }
            };
            let current = docker.inspect(&format!("{}:{moving}", image.repository))?.map(|r| r.digest);
            if current.as_deref() != Some(target.as_str()) {
                if current.is_some() && (round > 0 || home != ours) {
                    ui::warn(format_args!(
                        "{}:{moving} is not on {home}, the highest release it covers (another run wrote it); putting it right",
                        image.repository
                    ));
                }
                docker.copy_tag(&image.repository, &target, moving)?;
                changed = true;
            }
            at_home.push(moving.clone());
        }
        if !changed {
            moved.at_home = at_home;
            return Ok(moved);
        }
    }
    Err(ui::error_with_help(
        format!(
            "{}'s moving tags kept changing over {MOVE_ROUNDS} rounds: another run keeps writing them",
            image.repository
        ),
        "run the release again once the other run is done; it puts every moving tag on its highest release",
    ))
}

/// The release versions whose version tags (with the image's prefix) the registry holds, each
/// with its tag.
fn released_versions(docker: &Docker, image: &ImagePlan) -> Result<BTreeMap<Version, String>> {
    let mut released = BTreeMap::new();
    for tag in docker.list_tags(&image.repository)? {
        let Some(bare) = tag.strip_prefix(&image.tag_prefix) else { continue };
        if let TagKind::Version(v) = parse_tag(bare, "") {
            if bare == tags::version_tag(&v) {
                released.insert(v, tag);
            }
        }
    }
    Ok(released)
}

fn login(
    docker: &mut Docker,
    plan: &ReleasePlan,
    config: &crate::config::Config,
    env: &BTreeMap<String, String>,
) -> Result<()> {
    let mut hosts: Vec<&str> =
        plan.images.iter().filter(|i| i.push).map(|i| docker::registry_host(&i.repository)).collect();
    hosts.sort();
    hosts.dedup();
    match checks::credentials(config, env) {
        checks::Credentials::Both { user, password } => {
            for host in hosts {
                docker.login(host, user, password)?;
            }
        }
        checks::Credentials::Neither => ui::info(format_args!(
            "no {} / {} in the environment: using your existing docker login",
            config.registry_user_env, config.registry_password_env
        )),
        checks::Credentials::OnlyOne { missing } => {
            return Err(ui::error_with_help(
                format!(
                    "only one of {} and {} is set ({missing} is not)",
                    config.registry_user_env, config.registry_password_env
                ),
                "set both, or neither to use your existing docker login",
            ))
        }
    }
    Ok(())
}

/// Reads what the registry holds at the image's primary tag, and how its commit relates to ours.
/// A commit this checkout lacks is fetched from `remote` once before it counts as unknown.
fn observe(
    docker: &Docker,
    plan: &ReleasePlan,
    image: &ImagePlan,
    repo: Option<&Repo>,
    remote: &str,
) -> Result<Observed> {
    if !image.push {
        return Ok(Observed::default());
    }
    let primary = docker.inspect(&format!("{}:{}", image.repository, image.primary_tag()))?;
    let ours = plan.commit.as_deref().and_then(|c| git2::Oid::from_str(c).ok());
    let theirs = primary.as_ref().and_then(|r| r.revision.as_deref()).and_then(|r| git2::Oid::from_str(r).ok());
    let lineage = match (theirs, ours, repo) {
        (Some(theirs), Some(ours), _) if theirs == ours => Some(Lineage::Same),
        (Some(theirs), Some(ours), Some(repo)) => {
            if !repo.has_commit(theirs) {
                repo.fetch_commit(remote, theirs);
            }
            Some(if !repo.has_commit(theirs) {
                Lineage::Unknown
            } else if repo.contains(theirs, ours)? {
                Lineage::Newer
            } else if repo.contains(ours, theirs)? {
                Lineage::Older
            } else {
                Lineage::Diverged
            })
        }
        _ => None,
    };
    Ok(Observed { primary, lineage })
}

/// Checks that `pkg/` holds exactly this version for each platform before docker sees it.
fn check_pkg(root: &Utf8Path, image: &ImagePlan, version: &str) -> Result<()> {
    for platform in &image.platforms {
        let dir = root.join(&image.context).join("pkg").join(platform);
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
            return Err(ui::error_with_help(
                format!("{dir} holds {} packages, not one", packages.len()),
                "run `cargo xtask dist && cargo xtask distcopy`",
            ));
        };
        let manifest = dist::read_manifest(package)?;
        if manifest.version != version {
            return Err(ui::error_with_help(
                format!("{package} is version {}, but this release is {version} (a stale pkg/)", manifest.version),
                "run `cargo xtask dist && cargo xtask distcopy`",
            ));
        }
    }
    Ok(())
}

fn build(
    docker: &Docker,
    plan: &ReleasePlan,
    image: &ImagePlan,
    root: &Utf8Path,
    epoch: i64,
    opts: &Options,
    containerd: bool,
) -> Result<String> {
    check_pkg(root, image, &plan.version.semver)?;
    let mut platforms = image.platforms.clone();
    if !image.push && !containerd {
        // Without the containerd image store the engine holds one platform per tag.
        let host = qemu::host_platform();
        if !platforms.iter().any(|p| p == host) {
            bail!("the local engine cannot hold {} images without the containerd image store (enable it in /etc/docker/daemon.json)", platforms.join(","));
        }
        ui::warn(format_args!(
            "the engine has no containerd image store: loading {host} only, not {}",
            platforms.join(",")
        ));
        platforms = vec![host.to_owned()];
    }
    let mut args: BTreeMap<&str, String> = BTreeMap::new();
    args.insert("VERSION", plan.version.semver.clone());
    args.insert("REVISION", plan.commit.clone().unwrap_or_default());
    args.insert("CREATED", dist::rfc3339(epoch));
    args.insert("SOURCE", source_url());
    args.insert("SOURCE_DATE_EPOCH", epoch.to_string());
    let meta_dir = docker.sh.create_temp_dir()?;
    let meta = meta_dir.path().join("metadata.json");
    let mut argv: Vec<String> = vec!["buildx".into(), "build".into()];
    if let Some(b) = &opts.builder {
        argv.extend(["--builder".into(), b.clone()]);
    }
    argv.extend(["--platform".into(), platforms.join(",")]);
    // No attestations: they show in registries as a bogus `unknown/unknown` platform.
    argv.push("--provenance=false".into());
    argv.extend(docker::build_args(&args));
    if let (Kind::DevRelease | Kind::BuildOnly, Some(branch)) = (plan.kind, &plan.branch) {
        // Which branch a dev tag holds: two branch names can share a dev tag (`feature/x`,
        // `feature-x`), and one must never take the other's tag.
        argv.extend(["--label".into(), format!("{}={branch}", docker::BRANCH_LABEL)]);
    }
    // A push carries the immutable tag only (moving tags follow once all contexts are in); the
    // local engine gets every tag at once.
    let tags: Vec<&String> = if image.push { vec![&image.tags[0]] } else { image.tags.iter().collect() };
    for tag in tags {
        argv.extend(["--tag".into(), format!("{}:{tag}", image.repository)]);
    }
    argv.extend(["--metadata-file".into(), meta.display().to_string()]);
    argv.push(if image.push { "--push".into() } else { "--load".into() });
    argv.push(root.join(&image.context).to_string());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let what = format!("building {}/ for {}", image.context, platforms.join(","));
    let out = failure::exec_retrying(&what, || docker.cmd(&argv).env("SOURCE_DATE_EPOCH", epoch.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if image.push && failure::classify(&stderr) != Failure::Other {
            return Err(docker::registry_error(docker::registry_host(&image.repository), &stderr))
                .context(format!("{what}: the push failed; the moving tags were not touched, so a rerun resumes"));
        }
        return Err(ui::command_failed(&what, &out));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).context("reading buildx's metadata file")?)?;
    let digest = meta
        .get("containerimage.digest")
        .and_then(|d| d.as_str())
        .context("buildx's metadata has no containerimage.digest")?;
    Ok(digest.to_owned())
}

fn source_url() -> String {
    match (std::env::var("GITHUB_SERVER_URL"), std::env::var("GITHUB_REPOSITORY")) {
        (Ok(server), Ok(repo)) => format!("{server}/{repo}"),
        _ => String::new(),
    }
}

fn verify(docker: &Docker, image: &ImagePlan, tag: &str, digest: &str) -> Result<()> {
    let reference = format!("{}:{tag}", image.repository);
    let Some(remote) = docker.inspect(&reference)? else { bail!("verify: {reference} is missing after the push") };
    if remote.digest != digest {
        bail!("verify: {reference} is {}, expected {digest}", remote.digest);
    }
    let mut got = remote.platforms.clone();
    got.sort();
    let mut want = image.platforms.clone();
    want.sort();
    if got != want {
        bail!("verify: {reference} has platforms {}, expected {}", got.join(","), want.join(","));
    }
    Ok(())
}

fn summary(plan: &ReleasePlan, outcomes: &[Outcome], published: &[publish::PublishAction], started: Instant) {
    let mut text = String::new();
    let mut md = String::from("| image | platforms | tags | digest | result |\n|---|---|---|---|---|\n");
    let _ = writeln!(
        text,
        "\n{} {} {} ({})",
        ui::paint("summary:", "1"),
        plan.kind.as_str(),
        plan.version.semver,
        plan.reason
    );
    for (image, o) in plan.images.iter().zip(outcomes) {
        let written: Vec<&str> =
            o.written.iter().map(|(t, _)| t.as_str()).chain(o.moved.iter().map(String::as_str)).collect();
        let tags = if written.is_empty() { image.tags.join(", ") } else { written.join(", ") };
        let digest = o.digest.as_deref().map(|d| &d[..d.len().min(19)]).unwrap_or("-");
        let _ = writeln!(
            text,
            "  {}/ {} [{}]\n    tags: {tags}\n    digest: {digest}  {}",
            image.context,
            image.repository,
            image.platforms.join(", "),
            o.note
        );
        let _ = writeln!(
            md,
            "| `{}` | {} | {tags} | `{}` | {} |",
            image.repository,
            image.platforms.join(", "),
            o.digest.as_deref().unwrap_or("-"),
            o.note
        );
        for kept in &o.kept {
            let _ = writeln!(text, "    kept: {kept}");
        }
    }
    for p in published {
        let _ = writeln!(text, "  crate {} {}: {}", p.krate, p.version, p.describe());
        let _ = writeln!(md, "| crate `{}` | | {} | | {} |", p.krate, p.version, p.describe());
    }
    let _ = writeln!(text, "  total {:.1}s", started.elapsed().as_secs_f64());
    eprint!("{text}");
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") {
        let body = format!(
            "### {} {}\n\n{}\n\n{md}\nTotal {:.1}s\n",
            plan.kind.as_str(),
            plan.version.semver,
            plan.reason,
            started.elapsed().as_secs_f64()
        );
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, body.as_bytes()));
    }
}

/// The label on the containers `--run` starts: what it may replace on the next `--run`.
const RUN_LABEL: &str = "org.release-pipeline.run";

/// `--run`: start the host-platform image on 127.0.0.1:PORT, wait for /health, show /version.
fn run_local(docker: &Docker, plan: &ReleasePlan, port: u16) -> Result<()> {
    let image = plan
        .images
        .iter()
        .find(|i| i.platforms.iter().any(|p| p == qemu::host_platform()))
        .context("no image is built for this machine's platform")?;
    if image.push {
        bail!("--run starts the image from the local engine: add --local");
    }
    let reference = format!("{}:{}", image.repository, image.primary_tag());
    let name = format!("{}-{}", crate::dist::CRATE, image.primary_tag());
    // Replace only a container an earlier `--run` started (it carries our label), never another.
    let label = format!("{{{{index .Config.Labels \"{RUN_LABEL}\"}}}}");
    let existing = ui::exec_output(docker.cmd(&["container", "inspect", "--format", &label, &name]))?;
    if existing.status.success() {
        if String::from_utf8_lossy(&existing.stdout).trim() != "1" {
            return Err(ui::error_with_help(
                format!("a container named {name} exists and was not started by `--run`: leaving it alone"),
                format!("stop or rename it (`docker rm --force {name}`), or run with another branch"),
            ));
        }
        ui::exec(docker.cmd(&["rm", "--force", &name]), &format!("removing the earlier {name}"))?;
    }
    let publish = format!("127.0.0.1:{port}:8080");
    let label_arg = format!("{RUN_LABEL}=1");
    ui::exec(
        docker.cmd(&[
            "run",
            "--detach",
            "--rm",
            "--name",
            &name,
            "--label",
            &label_arg,
            "--publish",
            &publish,
            &reference,
        ]),
        &format!("starting {reference}"),
    )?;
    let url = format!("http://127.0.0.1:{port}");
    let sh = &docker.sh;
    let health = format!("{url}/health");
    let mut healthy = false;
    for _ in 0..50 {
        if xshell::cmd!(sh, "curl --silent --fail --max-time 1 {health}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok()
        {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    if !healthy {
        let logs = ui::exec_output(docker.cmd(&["logs", &name]))?;
        bail!("{reference} did not answer {health} within 10 s; its log:\n{}", String::from_utf8_lossy(&logs.stderr));
    }
    let version_url = format!("{url}/version");
    let answer = xshell::cmd!(sh, "curl --silent --fail {version_url}").quiet().read().context("asking /version")?;
    println!("{answer}");
    ui::info(format_args!(
        "{reference} is running at {url} (GET /health, GET /version); stop it with: docker stop {name}"
    ));
    Ok(())
}
