//! The read-only preflight a run and a dry run both make, before anything is built: the tools
//! the steps need, the login into the run's private docker config, what the registry holds at
//! each image's primary tag, what the cargo registry holds, and the host's facts. Every problem
//! is collected, none stops the reading, so a dry run against an unreachable registry still
//! shows the steps it can know and says which reads failed.
use anyhow::Result;

use crate::{checks, cosign, docker::Docker, error, publish, qemu, repo::Repo, ui, workspace::Workspace};
use release_pipeline_plan::{
    ci,
    plan::{self, steps::Facts, BuildAction, ImagePlan, Kind, Lineage, Observed, ReleasePlan},
    reference::ImageRef,
};

/// What the preflight leaves a run: the docker CLI (with the login, if any), the facts the steps
/// are made from, and every problem it found.
pub(crate) struct Preflight {
    pub(crate) docker: Option<Docker>,
    pub(crate) facts: Facts,
    pub(crate) problems: Vec<String>,
}

/// What the run needs that is not in the plan: `--builder`, and `--run`'s port.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    pub(crate) builder: Option<String>,
    pub(crate) run_port: Option<u16>,
    /// Whether a commit the registry names but this checkout lacks may be fetched from
    /// `git-remote` (not in a dry run, which writes nothing, `.git` included).
    pub(crate) may_fetch: bool,
    /// `--part TARGET`.
    pub(crate) part: Option<String>,
    /// `merge`: what the parts pushed.
    pub(crate) merge: Option<plan::steps::Merge>,
}

pub(crate) fn preflight(ws: &Workspace, plan: &ReleasePlan, options: &RunOptions) -> Result<Preflight> {
    let config = &ws.config;
    let mut problems = Vec::new();
    let mut docker = match Docker::connect(&ws.exec) {
        Ok(docker) => Some(docker),
        Err(e) => {
            problems.push(format!("{e:#}"));
            None
        }
    };
    if let (Some(builder), Some(docker)) = (&options.builder, &docker) {
        problems.extend(docker.check_builder(builder).err());
    }
    // What the build will need on disk, checked as `doctor` checks it (`checks.rs`); a merge
    // builds nothing.
    if options.merge.is_none() {
        problems.extend(build_problems(ws, plan, options.part.as_deref()));
    }
    if plan.images.iter().any(|i| i.push && !i.moving_tags.is_empty()) {
        if let Err(p) = checks::skopeo() {
            problems.push(format!("{} ({})", p.detail, p.fix));
        }
    }
    let login_user = match checks::credentials(config, ws.env()) {
        checks::Credentials::Both { user, password } if plan.pushes() => {
            ui::add_secret(password);
            Some((user.to_owned(), password.to_owned()))
        }
        checks::Credentials::OnlyOne { missing } if plan.pushes() => {
            let problem =
                checks::only_one_credential(&config.registry_user_env, &config.registry_password_env, missing);
            problems.push(format!("{}: {}", problem.detail, problem.fix));
            None
        }
        checks::Credentials::Neither if plan.pushes() => {
            ui::info(format_args!(
                "no {} / {} in the environment: using your existing docker login",
                config.registry_user_env, config.registry_password_env
            ));
            None
        }
        _ => None,
    };
    // The logins first: the reads below go through them (a protected registry is read too).
    let mut unreadable = Vec::new();
    if let (Some(docker), Some((user, password))) = (docker.as_mut(), &login_user) {
        for step in plan::steps::logins(plan, Some(user)) {
            if let plan::step::Step::Login { host, .. } = &step {
                if let Err(e) = docker.login(host, user, password) {
                    problems.push(format!("{e:#}"));
                    unreadable.push(host.clone());
                }
            }
        }
    }
    let mirror_users = mirror_logins(ws, plan, docker.as_mut(), login_user.is_some(), &mut problems, &mut unreadable);
    let repo = ws.repo.as_deref();
    let mut actions = Vec::new();
    for image in &plan.images {
        let host = release_pipeline_plan::reference::registry_host(&image.repository);
        let action = match &docker {
            _ if !image.push => Ok(BuildAction::Build),
            Some(docker) if !unreadable.iter().any(|h| h == host) => {
                observe(docker, plan, image, repo, options.may_fetch.then_some(config.git_remote.as_str())).and_then(
                    |seen| plan::reconcile(plan, image, &seen).map_err(|problem| anyhow::anyhow!("{problem}")),
                )
            }
            _ => Err(anyhow::anyhow!("could not read {}:{}", image.repository, image.primary_tag())),
        };
        actions.push(action.unwrap_or_else(|e| {
            problems.push(format!(
                "{e:#} (the steps below assume the registry does not hold {}:{})",
                image.repository,
                image.primary_tag()
            ));
            BuildAction::Build
        }));
    }
    let fetch_from = options.may_fetch.then_some(config.git_remote.as_str());
    let mirrors = plan
        .images
        .iter()
        .map(|image| {
            plan.mirrors
                .iter()
                .map(|mirror| {
                    let copy = mirror.image(image);
                    let host = release_pipeline_plan::reference::registry_host(&copy.repository);
                    let read = match &docker {
                        _ if !image.push => return BuildAction::Build,
                        Some(docker) if !unreadable.iter().any(|h| h == host) => {
                            observe(docker, plan, &copy, repo, fetch_from)
                                .and_then(|seen| plan::reconcile(plan, &copy, &seen).map_err(anyhow::Error::msg))
                        }
                        _ => Err(anyhow::anyhow!("could not read {}:{}", copy.repository, copy.primary_tag())),
                    };
                    read.unwrap_or_else(|e| {
                        problems.push(format!("mirror {}: {e:#}", copy.repository));
                        BuildAction::Build
                    })
                })
                .collect()
        })
        .collect();
    if let Some(merge) = &options.merge {
        problems.extend(merge_sources(docker.as_ref(), plan, merge, &unreadable));
    }
    if let (Some(target), Some(docker)) = (&options.part, &docker) {
        problems.extend(staging_problems(docker, plan, &config.targets, target, &unreadable));
    }
    let signed = if plan.signed { signing(ws, plan, docker.as_ref(), &actions, &mut problems) } else { Vec::new() };
    let crates = publish::preflight(ws, plan).unwrap_or_else(|e| {
        problems.push(format!("{e:#}"));
        Vec::new()
    });
    let notes = crate::notes::of_plan(ws, plan, options.part.is_some()).unwrap_or_else(|e| {
        problems.push(format!("reading the release notes: {e:#}"));
        None
    });
    let commit = plan.commit.map(|c| c.to_string());
    let epoch = crate::dist::source_date_epoch(repo, commit.as_deref()).unwrap_or_else(|e| {
        problems.push(format!("{e:#}"));
        0
    });
    // One per process: runs sharing a target dir never read each other's files.
    let scratch_dir =
        crate::dist::target_dir(&ws.root).join("release-pipeline").join(format!("run-{}", std::process::id()));
    let facts = Facts {
        source_url: ci::source_url(ws.env()),
        provenance_repository: provenance_repository(ws),
        run_url: ci::run_url(ws.env()),
        login_user: login_user.map(|(user, _)| user),
        builder: options.builder.clone(),
        run_port: options.run_port,
        actions,
        mirror_users,
        mirrors,
        crates,
        signed,
        sums_unsigned: {
            let dist = crate::dist::DistLayout::new(&ws.root);
            plan.signed && dist.sums().is_file() && !dist.sums_signature().is_file()
        },
        part: options.part.clone(),
        merge: options.merge.clone(),
        notes,
        ..host_facts(ws, docker.as_ref(), scratch_dir, epoch)
    };
    for (image, action) in plan.images.iter().zip(&facts.actions) {
        if let BuildAction::AlreadyThere { .. } = action {
            ui::info(format_args!(
                "{}:{} was already released from this commit: resuming (only what is missing is built and pushed)",
                image.repository,
                image.primary_tag()
            ));
        }
    }
    Ok(Preflight { docker, facts, problems })
}

/// Each context the plan builds (its directory, its Dockerfile, the Dockerfile's use of
/// `pkg/${TARGETPLATFORM}`) and the linker of each target it builds (asked `-dumpmachine`).
fn build_problems(ws: &Workspace, plan: &ReleasePlan, part: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut contexts: Vec<&str> = plan.images.iter().map(|i| i.context.as_str()).collect();
    contexts.dedup();
    for dir in contexts {
        problems.extend(checks::context(&ws.root, dir).err().map(|p| format!("{} ({})", p.detail, p.fix)));
    }
    let exec = &ws.exec;
    for target in ws.config.targets.iter().map(|t| t.target.as_str()).filter(|t| part.is_none_or(|p| p == *t)) {
        let linker = checks::linker_for(&ws.root, target);
        let answer =
            which::which(&linker).ok().and_then(|_| exec.silent(xshell::cmd!(exec.sh, "{linker} -dumpmachine")).ok());
        problems.extend(
            checks::linker(target, &linker, answer.as_ref()).err().map(|p| format!("{} ({})", p.detail, p.fix)),
        );
    }
    problems
}

/// `merge`'s read of every part's manifest and config, checked against the plan
/// (`parts::check_source`) before anything is written: a part's JSON is only a claim.
fn merge_sources(
    docker: Option<&Docker>,
    plan: &ReleasePlan,
    merge: &plan::steps::Merge,
    unreadable: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (image, sources) in plan.images.iter().zip(&merge.sources) {
        let host = release_pipeline_plan::reference::registry_host(&image.repository);
        let Some(docker) = docker.filter(|_| !unreadable.iter().any(|h| h == host)) else {
            problems.push(format!("could not read the parts' images of {}/ to check them", image.context));
            continue;
        };
        for (platform, digest) in sources {
            match docker.inspect(&format!("{}@{}", image.repository, digest.as_str())) {
                Ok(held) => problems.extend(plan::parts::check_source(plan, image, platform, digest, held.as_ref())),
                Err(e) => problems.push(format!("{e:#}")),
            }
        }
    }
    problems
}

/// Each mirror's login with its own credentials (`user-env`, `password-env`), into the run's
/// private docker config, before anything is read. A login that fails is a problem naming the
/// mirror, and its host counts as unreadable. Returns each mirror's user, if it logged in.
fn mirror_logins(
    ws: &Workspace,
    plan: &ReleasePlan,
    mut docker: Option<&mut Docker>,
    image_logs_in: bool,
    problems: &mut Vec<String>,
    unreadable: &mut Vec<String>,
) -> Vec<Option<String>> {
    let mut users = Vec::new();
    let mut passwords = Vec::new();
    for mirror in &plan.mirrors {
        let (user, password) = match checks::credentials_in(&mirror.user_env, &mirror.password_env, ws.env()) {
            _ if !plan.pushes() => (None, None),
            checks::Credentials::Both { user, password } => {
                ui::add_secret(password);
                (Some(user.to_owned()), Some(password))
            }
            checks::Credentials::OnlyOne { missing } => {
                let problem = checks::only_one_credential(&mirror.user_env, &mirror.password_env, missing);
                problems.push(format!("mirror {}: {}: {}", mirror.repository, problem.detail, problem.fix));
                (None, None)
            }
            checks::Credentials::Neither => {
                ui::info(format_args!(
                    "no {} / {} in the environment: mirror {} uses your existing docker login",
                    mirror.user_env, mirror.password_env, mirror.repository
                ));
                (None, None)
            }
        };
        users.push(user);
        passwords.push(password);
    }
    // A login from the environment makes the run's private docker config, which holds only the
    // environment's logins: a registry left to the user's own docker login would be read without
    // any. So it is all from the environment, or none.
    let from_env = image_logs_in || users.iter().any(Option::is_some);
    if from_env && plan.pushes() {
        let config = &ws.config;
        if !image_logs_in {
            problems.push(format!(
                "a mirror logs in from the environment but the image's registry does not ({} / {} are not set): this run's private docker config holds only the environment's logins; set them too",
                config.registry_user_env, config.registry_password_env
            ));
        }
        for (mirror, user) in plan.mirrors.iter().zip(&users).filter(|(_, user)| user.is_none()) {
            let vars = (checks::credentials_in(&mirror.user_env, &mirror.password_env, ws.env()), user);
            if let (checks::Credentials::Neither, None) = vars {
                problems.push(format!(
                    "mirror {}: {} / {} are not set, but another registry logs in from the environment: this run's private docker config holds only the environment's logins; set them too",
                    mirror.repository, mirror.user_env, mirror.password_env
                ));
            }
        }
    }
    for (m, step) in plan::steps::mirror_logins(plan, &users) {
        let (plan::step::Step::Login { host, user, .. }, Some(docker), Some(password)) =
            (&step, docker.as_deref_mut(), passwords[m])
        else {
            continue;
        };
        if let Err(e) = docker.login(host, user, password) {
            problems.push(format!("mirror {}: {e:#}", plan.mirrors[m].repository));
            unreadable.push(host.clone());
        }
    }
    users
}

/// A part's staging tags, read before anything is built: one a part of another branch pushed is
/// a problem (`parts::staging_taken`). An unknown target is the steps' problem, not this one's.
fn staging_problems(
    docker: &Docker,
    plan: &ReleasePlan,
    targets: &[crate::config::TargetConfig],
    target: &str,
    unreadable: &[String],
) -> Vec<String> {
    let (Ok(crate::config::TargetConfig { platform, .. }), Some(commit)) =
        (plan::parts::part_platform(plan, targets, target), plan.commit)
    else {
        return Vec::new();
    };
    let commit = commit.to_string();
    let mut problems = Vec::new();
    for (_, image) in plan::parts::part_images(plan, platform) {
        if !image.push
            || unreadable.iter().any(|h| h == release_pipeline_plan::reference::registry_host(&image.repository))
        {
            continue;
        }
        let tag = release_pipeline_plan::tags::staging_tag(&commit, image.primary_tag(), platform.as_str());
        match docker.inspect(&ImageRef::tag(&image.repository, &tag).to_string()) {
            Ok(held) => problems.extend(plan::parts::staging_taken(plan, &image.repository, &tag, held.as_ref()).err()),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    problems
}

/// A signing plan's preflight: the signing setup (`cosign::check`), and per image a rerun found
/// already pushed whether its digest verifies with the committed public key (the signature is
/// made last, after every attestation: a verified signature means a finished signing).
fn signing(
    ws: &Workspace,
    plan: &ReleasePlan,
    docker: Option<&Docker>,
    actions: &[BuildAction],
    problems: &mut Vec<String>,
) -> Vec<bool> {
    if let Err(problem) = cosign::check(&ws.exec, &ws.config.signing, ws.env(), &ws.root) {
        problems.push(format!("{}: {}", problem.detail, problem.fix));
    }
    let public_key = ws.root.join(&ws.config.signing.public_key);
    let mut signed = Vec::new();
    for (image, action) in plan.images.iter().zip(actions) {
        let (BuildAction::AlreadyThere { digest }, Some(docker)) = (action, docker) else {
            signed.push(false);
            continue;
        };
        let pinned = format!("{}@{digest}", image.repository);
        let verified = match cosign::verify(docker, &public_key, &pinned, cosign::Check::Signature) {
            Ok(verified) => verified.is_ok(),
            Err(e) => {
                problems.push(format!("{e:#}"));
                false
            }
        };
        // A run that signs tags only after signing: an unsigned image at our tag was put there
        // by something else, whatever its labels say. It is never signed or resumed.
        if !verified {
            problems.push(format!(
                "{}:{} holds {digest}, which no signature of the configured key covers: this pipeline signs an image before it tags it, so something else pushed this one (its labels prove nothing); delete the tag and run the release again",
                image.repository,
                image.primary_tag()
            ));
        }
        signed.push(verified);
    }
    signed
}

/// The image repository a registry command works on: `--repository`, RELEASE_REPOSITORY or
/// `image`; local mode has none.
pub(crate) fn repository(ws: &Workspace, flag: Option<String>) -> Result<String> {
    let repository = ws.image_repository(flag).ok_or_else(|| {
        error::error_with_help(
            "no image repository is configured, so there is no registry to work on",
            "set `image` in the configuration, RELEASE_REPOSITORY, or pass --repository",
        )
    })?;
    release_pipeline_plan::reference::ImageRepository::parse(&repository).map_err(anyhow::Error::msg)?;
    Ok(repository)
}

/// The repositories a registry command (`reconcile`, `prune`) works on: `--repository` alone, or
/// the image (`image`, RELEASE_REPOSITORY) and each of its mirrors, which hold the same tags.
pub(crate) fn repositories(ws: &Workspace, flag: Option<String>) -> Result<Vec<String>> {
    let mirrors = match flag {
        Some(_) => Vec::new(),
        None => ws.config.mirrors.iter().map(|m| m.image.clone()).collect(),
    };
    Ok(std::iter::once(repository(ws, flag)?).chain(mirrors).collect())
}

/// What the plan reads of this workspace, this host and its engine (`docker`), with this scratch
/// directory and build time: the rest left empty (nothing read of the registry, the CI or the
/// user's flags), for the preflight and `rebuild` to fill in what each knows.
pub(crate) fn host_facts(
    ws: &Workspace,
    docker: Option<&Docker>,
    scratch_dir: camino::Utf8PathBuf,
    epoch: i64,
) -> Facts {
    Facts {
        root: ws.root.clone(),
        targets: ws.config.targets.clone(),
        scratch_dir,
        cargo_home: crate::dist::cargo_home(),
        host_platform: qemu::host_platform().into(),
        containerd_store: docker.is_some_and(Docker::has_containerd_store),
        qemu: qemu::read_host(),
        qemu_image: ws.config.qemu_image.clone(),
        epoch,
        source_url: None,
        provenance_repository: String::new(),
        run_url: None,
        login_user: None,
        authfile: docker.and_then(Docker::authfile),
        builder: None,
        run_port: None,
        actions: Vec::new(),
        mirror_users: Vec::new(),
        mirrors: Vec::new(),
        crates: Vec::new(),
        signing: ws.config.signing.clone(),
        signed: Vec::new(),
        sums_unsigned: false,
        part: None,
        merge: None,
        notes: None,
    }
}

/// The docker CLI logged in to the registry of `repository` with the environment's credentials
/// for that registry (a mirror's own variables on a mirror's host, `checks::login_vars_for`), into
/// a private docker config, or with the user's own login when there are none.
pub(crate) fn registry_session(ws: &Workspace, repository: &str) -> Result<Docker> {
    let mut docker = Docker::connect(&ws.exec)?;
    let (user_env, password_env) = checks::login_vars_for(&ws.config, repository);
    match checks::credentials_in(user_env, password_env, ws.env()) {
        checks::Credentials::Both { user, password } => {
            docker.login(release_pipeline_plan::reference::registry_host(repository), user, password)?;
        }
        checks::Credentials::OnlyOne { missing } => {
            return Err(checks::only_one_credential(user_env, password_env, missing).into_error())
        }
        checks::Credentials::Neither => {}
    }
    Ok(docker)
}

/// Reads what the registry holds at the image's primary tag, and how its commit relates to ours.
/// A commit this checkout lacks is fetched from `remote` (when given) once before it counts as
/// unknown.
pub(crate) fn observe(
    docker: &Docker,
    plan: &ReleasePlan,
    image: &ImagePlan,
    repo: Option<&Repo>,
    remote: Option<&str>,
) -> Result<Observed> {
    if !image.push || plan.kind == Kind::Skip {
        return Ok(Observed::default());
    }
    let primary = docker.inspect(&ImageRef::tag(&image.repository, image.primary_tag()).to_string())?;
    let ours = plan.commit.map(crate::repo::oid);
    let theirs = primary.as_ref().and_then(|r| r.revision.as_deref()).and_then(|r| git2::Oid::from_str(r).ok());
    let lineage = match (theirs, ours, repo) {
        (Some(theirs), Some(ours), _) if theirs == ours => Some(Lineage::Same),
        (Some(theirs), Some(ours), Some(repo)) => {
            if let (false, Some(remote)) = (repo.has_commit(theirs), remote) {
                repo.fetch_commit(&docker.exec, remote, theirs);
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

/// The repository's address as a provenance publishes it: the CI's, else the git remote's, never
/// with a credential a CI checkout's remote URL may carry; else the checkout's path.
fn provenance_repository(ws: &Workspace) -> String {
    ci::repository_url(ws.env())
        .or_else(|| ws.repo.as_deref().and_then(|r| r.remote_url(&ws.config.git_remote)))
        .and_then(|url| {
            let published = ci::without_credentials(&url);
            if published.is_none() {
                // Not the URL itself: it may hold a credential.
                ui::warn(format_args!(
                    "the repository's URL (git remote `{}` or the CI's) is not one a URL parser reads: left out of the provenance",
                    ws.config.git_remote
                ));
            }
            published
        })
        .unwrap_or_else(|| format!("file://{}", ws.root))
}
