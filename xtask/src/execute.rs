//! Carries a `ReleasePlan` out: preflight → dist → distcopy → qemu → build and push each context
//! → move tags → verify → summary. Decides nothing of its own: what to tag and push is in the
//! plan, and what the registry already holds is turned into actions by `plan::reconcile`.
use std::{collections::BTreeMap, fmt::Write as _, time::Instant};

use anyhow::{bail, Context, Result};
use camino::Utf8Path;

use crate::{
    dist::{self, DistRequest, Format},
    distcopy,
    docker::{self, Docker},
    pipeline::Options,
    plan::{self, BuildAction, ImageActions, ImagePlan, Kind, Observed, PlanInput, ReleasePlan},
    publish, qemu, repo::Repo, ui,
};

/// What happened to one image, for the summary.
struct Outcome {
    digest: Option<String>,
    pushed_tags: Vec<String>,
    note: String,
}

pub(crate) fn execute(plan: &ReleasePlan, input: &PlanInput, root: &Utf8Path, opts: &Options) -> Result<()> {
    let started = Instant::now();
    if plan.kind == Kind::Skip {
        ui::info(format_args!("nothing to do: {}", plan.reason));
        return Ok(());
    }
    let config = &input.config;
    let commit = plan.commit.clone().context("a release needs a commit: this repository has none")?;

    // Preflight: tools, login, and every registry read, before anything is built.
    let step = ui::step("preflight: docker, buildx, registry");
    let mut docker = Docker::connect()?;
    let env = crate::pipeline::env_map();
    if plan.pushes() {
        login(&mut docker, plan, config, &env)?;
    }
    let repo = Repo::discover(root)?;
    let observed = observe(&docker, plan, repo.as_ref())?;
    let actions = plan::reconcile(plan, &observed)?;
    let publish_actions = publish::preflight(plan, input, root, &env)?;
    step.done();

    for (image, action) in plan.images.iter().zip(&actions) {
        match &action.build {
            BuildAction::AlreadyThere { .. } => ui::info(format_args!(
                "{}:{} was already released from this commit: resuming (only what is missing is pushed)",
                image.repository,
                image.primary_tag()
            )),
            BuildAction::Skip { why } => ui::warn(why),
            BuildAction::Build => {}
        }
        for (_, why) in &action.kept {
            ui::warn(why);
        }
    }

    let to_build: Vec<(&ImagePlan, &ImageActions)> =
        plan.images.iter().zip(&actions).filter(|(_, a)| a.build == BuildAction::Build).collect();
    let epoch = dist::source_date_epoch(repo.as_ref(), Some(&commit))?;
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    if !to_build.is_empty() {
        let platforms: Vec<String> = to_build.iter().flat_map(|(i, _)| i.platforms.clone()).collect();
        let targets: Vec<String> = config
            .targets
            .iter()
            .filter(|t| platforms.contains(&t.platform))
            .map(|t| t.target.clone())
            .collect();
        let step = ui::step(format!("dist: build and package {} {} for {}", dist::CRATE, plan.version.semver, targets.join(", ")));
        dist::dist(&DistRequest { root, config, version: &plan.version.semver, commit: &commit, epoch, targets, format: Format::TarGz })?;
        step.done();

        let step = ui::step("distcopy: fill each context's pkg/");
        distcopy::distcopy(root, config, &root.join("dist"), &[], Some(&plan.version.semver))?;
        step.done();

        if !qemu::needed_handlers(&platforms).is_empty() {
            let step = ui::step("qemu: handlers for foreign platforms");
            qemu::ensure(config)?;
            step.done();
        }

        let containerd = docker.has_containerd_store();
        for (image, _) in &to_build {
            let step = ui::step(format!(
                "build {}/ for {} → {}:{}{}",
                image.context,
                image.platforms.join(","),
                image.repository,
                image.primary_tag(),
                if image.push { " (push)" } else { " (local engine)" }
            ));
            let digest = build(&docker, plan, image, root, epoch, opts, containerd)?;
            digests.insert(image.context.clone(), digest);
            step.done();
        }
    } else {
        ui::info("nothing to build: every image is already there or newer");
    }

    // Moving tags last, and only once every context's immutable tag is in.
    let mut outcomes = Vec::new();
    for (image, action) in plan.images.iter().zip(&actions) {
        let digest = match &action.build {
            BuildAction::Build => digests.get(&image.context).cloned(),
            BuildAction::AlreadyThere { digest } => Some(digest.clone()),
            BuildAction::Skip { .. } => None,
        };
        let mut pushed = Vec::new();
        if image.push && digest.is_some() {
            pushed.push(image.primary_tag().to_owned());
        }
        outcomes.push(Outcome { digest, pushed_tags: pushed, note: String::new() });
    }
    let moves: Vec<_> = plan
        .images
        .iter()
        .zip(&actions)
        .zip(&mut outcomes)
        .filter(|((image, action), o)| image.push && !action.move_tags.is_empty() && o.digest.is_some())
        .collect();
    if !moves.is_empty() {
        let step = ui::step("move tags: point the moving tags at the pushed images");
        for ((image, action), outcome) in moves {
            let digest = outcome.digest.clone().expect("filtered above");
            for tag in &action.move_tags {
                copy_tag(&docker, &image.repository, &digest, tag)?;
                outcome.pushed_tags.push(tag.clone());
            }
        }
        step.done();
    }

    if plan.pushes() {
        let step = ui::step("verify: every pushed tag, its platforms and digest");
        for (image, outcome) in plan.images.iter().zip(&mut outcomes) {
            let Some(digest) = &outcome.digest else { continue };
            for tag in &outcome.pushed_tags {
                verify(&docker, image, tag, digest)?;
            }
            outcome.note = format!("verified {} tag(s)", outcome.pushed_tags.len());
        }
        step.done();
    }

    if !publish_actions.is_empty() {
        let step = ui::step("publish: crates to the cargo registry");
        publish::publish(plan, input, root, &publish_actions)?;
        step.done();
    }

    for ((image, action), outcome) in plan.images.iter().zip(&actions).zip(&mut outcomes) {
        if let BuildAction::Skip { .. } = action.build {
            outcome.note = "skipped: the registry holds a newer build".to_owned();
        } else if let BuildAction::AlreadyThere { .. } = action.build {
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

fn login(docker: &mut Docker, plan: &ReleasePlan, config: &crate::config::Config, env: &BTreeMap<String, String>) -> Result<()> {
    let user = env.get(&config.registry_user_env).filter(|v| !v.is_empty());
    let password = env.get(&config.registry_password_env).filter(|v| !v.is_empty());
    let mut hosts: Vec<&str> = plan.images.iter().filter(|i| i.push).map(|i| docker::registry_host(&i.repository)).collect();
    hosts.dedup();
    match (user, password) {
        (Some(user), Some(password)) => {
            for host in hosts {
                docker.login(host, user, password)?;
            }
        }
        (None, None) => ui::info(format_args!(
            "no {} / {} in the environment: using your existing docker login",
            config.registry_user_env, config.registry_password_env
        )),
        _ => {
            return Err(ui::error_with_help(
                format!("only one of {} and {} is set", config.registry_user_env, config.registry_password_env),
                "set both, or neither to use your existing docker login",
            ))
        }
    }
    Ok(())
}

/// Reads what the registry holds for every pushed image's tags.
fn observe(docker: &Docker, plan: &ReleasePlan, repo: Option<&Repo>) -> Result<Vec<Observed>> {
    let ours = plan.commit.as_deref().and_then(|c| git2::Oid::from_str(c).ok());
    let mut observed = Vec::new();
    for image in &plan.images {
        let mut seen = Observed::default();
        if image.push {
            seen.primary = docker.inspect(&format!("{}:{}", image.repository, image.primary_tag()))?;
            for tag in &image.moving_tags {
                seen.moving.insert(tag.clone(), docker.inspect(&format!("{}:{tag}", image.repository))?);
            }
            if let (Some(remote), Some(ours), Some(repo)) = (&seen.primary, ours, repo) {
                if let Some(theirs) = remote.revision.as_deref().and_then(|r| git2::Oid::from_str(r).ok()) {
                    // A commit we do not have (a rewritten branch) is not newer: overwrite.
                    seen.primary_is_newer = theirs != ours && repo.contains(theirs, ours).unwrap_or(false);
                }
            }
        }
        observed.push(seen);
    }
    Ok(observed)
}

/// Checks that `pkg/` holds exactly this version for each platform before docker sees it.
fn check_pkg(root: &Utf8Path, image: &ImagePlan, version: &str) -> Result<()> {
    for platform in &image.platforms {
        let dir = root.join(&image.context).join("pkg").join(platform);
        let packages: Vec<_> = dir
            .read_dir_utf8()
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path().to_owned()).filter(|p| p.as_str().ends_with(".tar.gz")).collect())
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

fn build(docker: &Docker, plan: &ReleasePlan, image: &ImagePlan, root: &Utf8Path, epoch: i64, opts: &Options, containerd: bool) -> Result<String> {
    check_pkg(root, image, &plan.version.semver)?;
    let mut platforms = image.platforms.clone();
    if !image.push && !containerd {
        // Without the containerd image store the engine holds one platform per tag.
        let host = qemu::host_platform();
        if !platforms.iter().any(|p| p == host) {
            bail!("the local engine cannot hold {} images without the containerd image store (enable it in /etc/docker/daemon.json)", platforms.join(","));
        }
        ui::warn(format_args!("the engine has no containerd image store: loading {host} only, not {}", platforms.join(",")));
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
    let out = ui::exec_output(docker.cmd(&argv).env("SOURCE_DATE_EPOCH", epoch.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("building {}/ for {}", image.context, platforms.join(","));
        if image.push && (stderr.contains("connection refused") || stderr.contains("401") || stderr.contains("failed to push")) {
            return Err(docker::registry_error(docker::registry_host(&image.repository), &stderr))
                .context(format!("{what}: the push failed; the moving tags were not touched, so a rerun resumes"));
        }
        return Err(ui::command_failed(&what, &out));
    }
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).context("reading buildx's metadata file")?)?;
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

/// Points `repository:tag` at `repository@digest`, keeping the digest: a multi-platform index
/// and a single-platform manifest alike are copied as they are (`imagetools create` would wrap
/// a single manifest in a new index with a new digest).
fn copy_tag(docker: &Docker, repository: &str, digest: &str, tag: &str) -> Result<()> {
    let host = docker::registry_host(repository);
    let mut args = vec!["copy".to_owned(), "--all".to_owned(), "--preserve-digests".to_owned()];
    if let Some(authfile) = docker.authfile() {
        args.extend(["--authfile".to_owned(), authfile.to_string()]);
    } else {
        let default = docker::user_docker_config_dir().join("config.json");
        if default.exists() {
            args.extend(["--authfile".to_owned(), default.to_string()]);
        }
    }
    if docker::is_loopback_registry(host) {
        args.extend(["--src-tls-verify=false".to_owned(), "--dest-tls-verify=false".to_owned()]);
    }
    args.push(format!("docker://{repository}@{digest}"));
    args.push(format!("docker://{repository}:{tag}"));
    if which::which("skopeo").is_err() {
        return Err(ui::error_with_help("skopeo is not installed; it moves tags without changing digests", "apt-get install skopeo (scripts/onboard.sh does it)"));
    }
    ui::exec(docker.tool("skopeo", &args), &format!("pointing {repository}:{tag} at {digest}"))?;
    Ok(())
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
    let _ = writeln!(text, "\n{} {} {} ({})", ui::paint("summary:", "1"), plan.kind.as_str(), plan.version.semver, plan.reason);
    for (image, o) in plan.images.iter().zip(outcomes) {
        let tags = if o.pushed_tags.is_empty() { image.tags.join(", ") } else { o.pushed_tags.join(", ") };
        let digest = o.digest.as_deref().map(|d| &d[..d.len().min(19)]).unwrap_or("-");
        let _ = writeln!(text, "  {}/ {} [{}]\n    tags: {tags}\n    digest: {digest}  {}", image.context, image.repository, image.platforms.join(", "), o.note);
        let _ = writeln!(md, "| `{}` | {} | {tags} | `{}` | {} |", image.repository, image.platforms.join(", "), o.digest.as_deref().unwrap_or("-"), o.note);
    }
    for p in published {
        let _ = writeln!(text, "  crate {} {}: {}", p.krate, p.version, p.describe());
        let _ = writeln!(md, "| crate `{}` | | {} | | {} |", p.krate, p.version, p.describe());
    }
    let _ = writeln!(text, "  total {:.1}s", started.elapsed().as_secs_f64());
    eprint!("{text}");
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") {
        let body = format!("### {} {}\n\n{}\n\n{md}\nTotal {:.1}s\n", plan.kind.as_str(), plan.version.semver, plan.reason, started.elapsed().as_secs_f64());
        let _ = std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| std::io::Write::write_all(&mut f, body.as_bytes()));
    }
}

/// `--run`: start the host-platform image on 127.0.0.1:PORT, wait for /health, show /version.
fn run_local(docker: &Docker, plan: &ReleasePlan, port: u16) -> Result<()> {
    let image = plan.images.iter().find(|i| i.platforms.iter().any(|p| p == qemu::host_platform())).context("no image is built for this machine's platform")?;
    if image.push {
        bail!("--run starts the image from the local engine: add --local");
    }
    let reference = format!("{}:{}", image.repository, image.primary_tag());
    let name = format!("{}-{}", crate::dist::CRATE, image.primary_tag());
    let _ = ui::exec_output(docker.cmd(&["rm", "--force", &name]))?;
    let publish = format!("127.0.0.1:{port}:8080");
    ui::exec(docker.cmd(&["run", "--detach", "--rm", "--name", &name, "--publish", &publish, &reference]), &format!("starting {reference}"))?;
    let url = format!("http://127.0.0.1:{port}");
    let sh = &docker.sh;
    let health = format!("{url}/health");
    let mut healthy = false;
    for _ in 0..50 {
        if xshell::cmd!(sh, "curl --silent --fail --max-time 1 {health}").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
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
    ui::info(format_args!("{reference} is running at {url} (GET /health, GET /version); stop it with: docker stop {name}"));
    Ok(())
}
