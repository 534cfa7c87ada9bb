//! The `ReleasePlan`: every decision of a release, made from plain data (git facts, the CI
//! environment, the configuration). This module is pure: it spawns no process, reads no file
//! and touches no network, so each rule is tested as a one-line table case. The executor
//! (`execute.rs`) carries a plan out and decides nothing.
use std::collections::BTreeMap;

use anyhow::{bail, Result};
use semver::Version;
use serde::Serialize;

use crate::{
    ci::{CiContext, CiEvent, CiRef},
    config::{Config, SignPolicy},
    credentials, error,
    platform::Platform,
    reference::{Digest, ImageRepository},
    service::Service,
    tags,
    version::{parse_tag, TagKind, VersionInfo},
};

pub mod facts;
pub mod mirror;
pub mod moving;
pub mod outcome;
pub mod parts;
pub mod rebuild;
pub mod registry;
pub mod release_notes;
pub mod retract;
pub mod sign;
pub mod step;
pub mod steps;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Release,
    DevRelease,
    BuildOnly,
    Skip,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Kind {
    /// The name `--json` uses too (`release`, `dev-release`, `build-only`, `skip`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Release => "release",
            Kind::DevRelease => "dev-release",
            Kind::BuildOnly => "build-only",
            Kind::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanVersion {
    #[serde(serialize_with = "crate::version::serialize_display")]
    pub semver: Version,
    pub pep440: Option<String>,
}

fn display_all<S: serde::Serializer>(versions: &[Version], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(versions.iter().map(|v| v.to_string()))
}

pub use crate::commit::CommitId;

/// One image context's build: its one immutable tag (the version or the branch tag) and the
/// moving tags that follow it. `--json` writes them as `tags` (every tag, the immutable one
/// first) and `moving_tags`, as it always has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "ImageJson")]
pub struct ImagePlan {
    /// The context's directory (`docker`, `rpi-docker`).
    pub context: String,
    pub repository: String,
    pub platforms: Vec<Platform>,
    /// The immutable tag, bare (`1.2.3`, `rpi-feature-x`): what identifies this build.
    pub tag: String,
    /// The tags that move (`1.2`, `1`, `latest`, …); pushed last.
    pub moving_tags: Vec<String>,
    /// The context's `image-tag-prefix`, which every tag of this image starts with.
    pub tag_prefix: String,
    pub push: bool,
}

impl ImagePlan {
    /// The tag that identifies this build: the version tag or the branch tag.
    pub fn primary_tag(&self) -> &str {
        &self.tag
    }

    /// The same image (context, platforms, tags) in another repository: a mirror's.
    pub fn in_repository(&self, repository: &str) -> ImagePlan {
        ImagePlan { repository: repository.to_owned(), ..self.clone() }
    }

    /// Every tag, the immutable one first.
    pub fn tags(&self) -> Vec<&str> {
        std::iter::once(self.tag.as_str()).chain(self.moving_tags.iter().map(String::as_str)).collect()
    }
}

/// How `--json` writes an [`ImagePlan`].
#[derive(Serialize)]
struct ImageJson {
    context: String,
    repository: String,
    platforms: Vec<Platform>,
    tags: Vec<String>,
    moving_tags: Vec<String>,
    tag_prefix: String,
    push: bool,
}

impl From<ImagePlan> for ImageJson {
    fn from(i: ImagePlan) -> ImageJson {
        ImageJson {
            tags: i.tags().into_iter().map(str::to_owned).collect(),
            context: i.context,
            repository: i.repository,
            platforms: i.platforms,
            moving_tags: i.moving_tags,
            tag_prefix: i.tag_prefix,
            push: i.push,
        }
    }
}

/// A registry repository that gets each pushed image of the plan at the digest the image's own
/// repository holds, with the same tags, logged into with its own credentials (`mirrors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mirror {
    pub repository: String,
    /// The names of the variables holding its login.
    pub user_env: String,
    pub password_env: String,
}

impl Mirror {
    /// The image as this mirror holds it: the same context, platforms and tags.
    pub fn image(&self, image: &ImagePlan) -> ImagePlan {
        image.in_repository(&self.repository)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishPlan {
    #[serde(rename = "crate")]
    pub krate: String,
    #[serde(serialize_with = "crate::version::serialize_display")]
    pub version: Version,
    pub registry: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleasePlan {
    pub kind: Kind,
    /// Why this plan, in a sentence a person reads.
    pub reason: String,
    pub version: PlanVersion,
    pub commit: Option<CommitId>,
    pub branch: Option<String>,
    /// The git tag being released.
    pub tag: Option<String>,
    /// Local mode: images go to the local engine only.
    pub local: bool,
    /// Whether every pushed image is signed and attested (`signing.sign`).
    pub signed: bool,
    pub images: Vec<ImagePlan>,
    /// The registries that get every pushed image at the same digests (none in local mode).
    pub mirrors: Vec<Mirror>,
    pub publish: Vec<PublishPlan>,
    /// Retracted versions: no moving tag is pointed at them (`cargo xtask retract`).
    #[serde(serialize_with = "display_all")]
    pub retracted: Vec<Version>,
    /// Why `publish` is empty on a plan that would publish, if it is.
    pub publish_skipped: Option<String>,
    /// What stops this plan before anything is built or pushed, every problem at once. A
    /// `--dry-run` prints them and fails too.
    pub problems: Vec<String>,
    /// The service this plan releases (`services` in `--json`, written by the pipeline).
    #[serde(skip)]
    pub service: Service,
    /// Why this service is left out of the run (`dev-release = "changed"` with nothing changed,
    /// a release tag of another service), if it is.
    #[serde(skip)]
    pub skipped: Option<String>,
}

impl ReleasePlan {
    pub fn pushes(&self) -> bool {
        self.images.iter().any(|i| i.push)
    }
}

/// Everything the planner reads, gathered beforehand (`pipeline::gather`).
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// The configuration as the service sees it (`Config::for_service`).
    pub config: Config,
    pub service: Service,
    /// `dev-release = "changed"` and nothing it is built from changed since its base version
    /// tag: why it is skipped.
    pub unchanged: Option<String>,
    /// The tag prefixes of other services' contexts that push to the same repository: a dev tag
    /// never takes one of their tags either.
    pub shared_prefixes: Vec<String>,
    pub version: VersionInfo,
    /// The checked-out branch, or the one given with `--branch`.
    pub branch: Option<String>,
    /// Version tags (name, version) pointing at HEAD, highest first.
    pub head_tags: Vec<(String, Version)>,
    /// Every version tag's version in the repository.
    pub releases: Vec<Version>,
    /// Retracted versions (`retracted/<version tag>` tags), each with its reason: never released
    /// again, and no moving tag points at them.
    pub retracted: Vec<(Version, String)>,
    /// `--repository`, `RELEASE_REPOSITORY` or `image`; `None`: local mode.
    pub repository: Option<String>,
    /// `--local`: build into the local engine even with an image configured.
    pub force_local: bool,
    /// `--run`: start the built image from the local engine afterwards.
    pub run: bool,
    /// Tracked files with uncommitted changes (what makes the tree dirty).
    pub changed_files: Vec<String>,
}

impl PlanInput {
    fn local(&self) -> bool {
        self.force_local || self.repository.is_none()
    }

    fn plan(&self, kind: Kind, reason: String, tag: Option<String>, images: Vec<ImagePlan>) -> ReleasePlan {
        ReleasePlan {
            kind,
            reason,
            version: PlanVersion { semver: self.version.semver.clone(), pep440: self.version.pep440.clone() },
            commit: self.version.commit.as_deref().and_then(|c| CommitId::parse(c).ok()),
            branch: self.branch.clone(),
            tag,
            local: self.local(),
            signed: !self.local()
                && match self.config.signing.sign {
                    SignPolicy::All => matches!(kind, Kind::Release | Kind::DevRelease),
                    SignPolicy::Releases => kind == Kind::Release,
                    SignPolicy::None => false,
                },
            mirrors: match self.local() {
                true => Vec::new(),
                false => self
                    .config
                    .mirrors
                    .iter()
                    .map(|m| Mirror {
                        repository: m.image.clone(),
                        user_env: m.user_env.clone(),
                        password_env: m.password_env.clone(),
                    })
                    .collect(),
            },
            images,
            publish: Vec::new(),
            retracted: self.retracted.iter().map(|(v, _)| v.clone()).collect(),
            publish_skipped: None,
            problems: Vec::new(),
            service: self.service.clone(),
            skipped: None,
        }
    }

    /// One image per context; `tags_of(prefix)` gives (the immutable tag, the moving tags).
    fn images(&self, tags_of: impl Fn(&str) -> (String, Vec<String>)) -> Vec<ImagePlan> {
        let repository = match (&self.repository, self.local()) {
            (Some(repository), false) => repository.clone(),
            // Local mode: the images are named after the service.
            _ => self.service.name.clone(),
        };
        self.config
            .context
            .iter()
            .map(|c| {
                let (tag, moving) = tags_of(&c.image_tag_prefix);
                ImagePlan {
                    context: c.dir.clone(),
                    repository: repository.clone(),
                    platforms: c.platforms.clone(),
                    tag,
                    moving_tags: moving,
                    tag_prefix: c.image_tag_prefix.clone(),
                    push: !self.local(),
                }
            })
            .collect()
    }

    fn publish(&self, plan: &mut ReleasePlan) {
        if plan.local || self.config.publish.is_empty() {
            return;
        }
        plan.publish = self
            .config
            .publish
            .iter()
            .map(|krate| PublishPlan {
                krate: krate.clone(),
                version: plan.version.semver.clone(),
                registry: self.config.cargo_registry.clone(),
            })
            .collect();
    }
}

/// A person's (or CI's) dev release of `branch` (default: the checked-out branch).
pub fn dev_release(input: &PlanInput, branch: Option<&str>) -> Result<ReleasePlan> {
    let Some(branch) = branch.or(input.branch.as_deref()) else {
        return Err(error::error_with_help(
            "HEAD is detached, so there is no branch to name the dev images after",
            "pass the branch with `--branch NAME`",
        ));
    };
    if !tags::is_valid_branch(branch) {
        bail!("`{branch}` is not a valid branch name (as `git check-ref-format --branch` says)");
    }
    if let Some(why) = &input.unchanged {
        let mut plan = skip(input, why.clone());
        plan.branch = Some(branch.to_owned());
        plan.skipped = Some(why.clone());
        return Ok(plan);
    }
    let prefixes: Vec<&str> = input
        .config
        .context
        .iter()
        .map(|c| c.image_tag_prefix.as_str())
        .chain(input.shared_prefixes.iter().map(String::as_str))
        .collect();
    let images =
        input.images(|prefix| (tags::dev_tag(branch, prefix, &prefixes, &input.config.version_tag_prefix), Vec::new()));
    let reason = if input.local() {
        format!(
            "dev release of branch {branch} into the local Docker engine ({})",
            if input.force_local { "--local" } else { "local mode: no image repository configured" }
        )
    } else {
        format!("dev release of branch {branch}: images tagged with the branch name, never a version or latest")
    };
    let mut plan = input.plan(Kind::DevRelease, reason, None, images);
    plan.branch = Some(branch.to_owned());
    if input.version.is_release() {
        // HEAD is exactly a release: only that tag's release publishes this version.
        plan.publish_skipped = Some(format!(
            "HEAD is exactly on {}, so the version is the release {}: only the release publishes it",
            input.version.tag.as_deref().unwrap_or("a version tag"),
            input.version.semver
        ));
    } else {
        input.publish(&mut plan);
    }
    Ok(with_problems(input, plan))
}

/// A release of the version tag `tag` (default: the highest version tag at HEAD).
pub fn release(input: &PlanInput, tag: Option<&str>) -> Result<ReleasePlan> {
    let version = &input.version;
    let (tag_name, tag_version) = match tag {
        Some(name) => match parse_tag(name, &input.config.version_tag_prefix) {
            TagKind::Version(v) => (name.to_owned(), v),
            _ => bail!("`{name}` is not a version tag (SemVer, optionally `v`-prefixed)"),
        },
        None => match input.head_tags.first() {
            Some((name, v)) => (name.clone(), v.clone()),
            None => {
                let where_ = match &version.tag {
                    Some(t) => format!("it is {} commit(s) past {t}", version.distance),
                    None => "the repository has no version tag".to_owned(),
                };
                return Err(error::error_with_help(
                    format!("HEAD is not on a version tag ({where_}), so there is nothing to release"),
                    "tag the commit (`git tag 1.2.3`), or make a dev release with `cargo xtask dev-release`",
                ));
            }
        },
    };
    if !input.head_tags.iter().any(|(n, _)| n == &tag_name) {
        bail!(
            "the tag {tag_name} is not on HEAD ({}): a release builds exactly the tagged commit",
            short(version.commit.as_deref())
        );
    }
    if version.dirty {
        return Err(error::error_with_help(
            format!("the work tree has uncommitted changes, so HEAD is not exactly the release {tag_name}"),
            "commit or stash the changes (`git stash`) and run the release again",
        ));
    }
    if version.semver != tag_version || version.distance != 0 {
        let base = version.tag.as_deref().unwrap_or("?");
        bail!(
            "the tag {tag_name} says {tag_version}, but the version at HEAD is {} because the commit already contains {base}: releases never go backwards",
            version.semver
        );
    }
    if !tag_version.build.is_empty() {
        return Err(error::error_with_help(
            format!(
                "{tag_name} has build metadata (`+{}`), which an image tag cannot hold (`+` is not allowed there)",
                tag_version.build
            ),
            "tag the release without `+…`",
        ));
    }
    if let Some((_, reason)) = input.retracted.iter().find(|(v, _)| *v == tag_version) {
        return Err(error::error_with_help(
            format!("{tag_name} was retracted ({reason}), so it is never released again"),
            "release the fix as a new version (`git tag` the next patch)",
        ));
    }
    let releases: Vec<Version> =
        input.releases.iter().filter(|v| !input.retracted.iter().any(|(r, _)| r == *v)).cloned().collect();
    let (own, moving) = tags::release_tags(&tag_version, &releases);
    let images =
        input.images(|prefix| (format!("{prefix}{own}"), moving.iter().map(|m| format!("{prefix}{m}")).collect()));
    let reason = if moving.is_empty() && !tag_version.pre.is_empty() {
        format!("release of {tag_name}: a pre-release gets only its own tag")
    } else if !moving.iter().any(|m| m == "latest") {
        format!("release of {tag_name}: a higher release exists, so `latest` stays where it is")
    } else {
        format!("release of {tag_name}")
    };
    let reason = if input.local() { format!("{reason}, into the local Docker engine") } else { reason };
    let mut plan = input.plan(Kind::Release, reason, Some(tag_name), images);
    input.publish(&mut plan);
    Ok(with_problems(input, plan))
}

/// The release of every service with a version tag at HEAD (under its own prefix); the others
/// are skipped, saying why. One service releases exactly as [`release`] does.
pub fn release_services(inputs: &[PlanInput]) -> Result<Vec<ReleasePlan>> {
    if let [only] = inputs {
        return Ok(vec![release(only, None)?]);
    }
    if inputs.iter().all(|i| i.head_tags.is_empty()) {
        let prefixes: Vec<String> =
            inputs.iter().map(|i| format!("{} (`{}X.Y.Z`)", i.service.name, i.config.version_tag_prefix)).collect();
        return Err(error::error_with_help(
            format!("HEAD has no version tag of any service ({}), so there is nothing to release", prefixes.join(", ")),
            "tag the commit with a service's version tag, or make a dev release with `cargo xtask dev-release`",
        ));
    }
    inputs
        .iter()
        .map(|input| {
            if input.head_tags.is_empty() {
                let why = format!(
                    "HEAD has no version tag `{}X.Y.Z`, so {} is not released",
                    input.config.version_tag_prefix, input.service.name
                );
                let mut plan = skip(input, why.clone());
                plan.skipped = Some(why);
                Ok(plan)
            } else {
                release(input, None)
            }
        })
        .collect()
}

/// Several services' plans, as `--json` shows them: the kind and tag of the first service that
/// is not skipped, the version of the first service, and every service's images, crates and
/// problems.
pub fn combine(plans: &[ReleasePlan]) -> ReleasePlan {
    let first = plans.iter().find(|p| p.kind != Kind::Skip).or(plans.first()).expect("a plan per service");
    let mut combined = first.clone();
    if plans.len() == 1 {
        return combined;
    }
    combined.version = plans[0].version.clone();
    combined.images = plans.iter().flat_map(|p| p.images.clone()).collect();
    combined.publish = plans.iter().flat_map(|p| p.publish.clone()).collect();
    combined.problems = plans
        .iter()
        .flat_map(|p| p.problems.iter().map(move |problem| format!("{}: {problem}", p.service.name)))
        .collect();
    combined.reason = plans.iter().map(|p| format!("{}: {}", p.service.name, p.reason)).collect::<Vec<_>>().join("; ");
    combined
}

/// Where every context of every service pushes, as (repository, tag prefix, service): two
/// services with one repository and one prefix would overwrite each other's tags. The first
/// such pair, as a sentence.
pub fn repository_conflict<'a>(targets: &[(&'a str, &'a str, &'a str)]) -> Option<String> {
    targets.iter().enumerate().find_map(|(i, (repository, prefix, service))| {
        targets[..i].iter().find(|(r, p, _)| (r, p) == (repository, prefix)).map(|(_, _, other)| {
            format!(
                "services {other} and {service} both push to {repository} with the image-tag-prefix `{prefix}`: one would overwrite the other's tags"
            )
        })
    })
}

/// One service in `--json`'s `services`.
#[derive(Debug, Serialize)]
pub struct ServiceJson<'a> {
    pub name: &'a str,
    pub version: &'a PlanVersion,
    /// Its version tag at HEAD being released, or null.
    pub tag: Option<&'a str>,
    pub images: &'a [ImagePlan],
    pub publish: &'a [PublishPlan],
    /// Why it is left out of this run, or null.
    pub skipped: Option<&'a str>,
}

impl ReleasePlan {
    pub fn service_json(&self) -> ServiceJson<'_> {
        ServiceJson {
            name: &self.service.name,
            version: &self.version,
            tag: self.tag.as_deref(),
            images: &self.images,
            publish: &self.publish,
            skipped: self.skipped.as_deref().or((self.kind == Kind::Skip).then_some(self.reason.as_str())),
        }
    }
}

/// Every problem the plain data shows, so that the run stops before building anything.
fn with_problems(input: &PlanInput, mut plan: ReleasePlan) -> ReleasePlan {
    let mut problems = Vec::new();
    if let (true, false, Some(repository)) = (input.run, plan.local, &input.repository) {
        problems.push(format!(
            "--run starts the image from the local Docker engine, but this plan pushes to {repository}: add --local"
        ));
    }
    if let (false, false, Some(repository)) = (plan.local, plan.kind == Kind::Skip, &input.repository) {
        if let Err(why) = ImageRepository::parse(repository) {
            problems.push(why);
        }
    }
    let writes = plan.pushes() || !plan.publish.is_empty();
    if writes && input.version.dirty {
        let files = match input.changed_files.as_slice() {
            [] => String::new(),
            files if files.len() <= 10 => format!(": {}", files.join(", ")),
            files => format!(": {} and {} more", files[..10].join(", "), files.len() - 10),
        };
        problems.push(format!(
            "the work tree has uncommitted changes{files}; a build pushed or published from it would hold code no commit has (commit or stash them; --local builds a dirty tree)"
        ));
    }
    plan.problems = problems;
    plan
}

/// What CI does for the event in `ci`.
pub fn ci(input: &PlanInput, ci: &CiContext) -> Result<ReleasePlan> {
    let allowed = !input.config.release_repository.is_empty()
        && ci.repository.as_deref() == Some(input.config.release_repository.as_str());
    let not_allowed_reason = || {
        if input.config.release_repository.is_empty() {
            "release-repository is not configured, so CI never pushes".to_owned()
        } else {
            format!(
                "this is {}, not {}: only the central repository's CI pushes",
                ci.repository.as_deref().unwrap_or("an unknown repository"),
                input.config.release_repository
            )
        }
    };
    match (&ci.event, &ci.git_ref) {
        (CiEvent::PullRequest { source_branch }, _) => {
            let plan = dev_release(input, Some(source_branch))?;
            Ok(build_only(input, plan, format!("{}: a pull request builds but never pushes", ci.describe())))
        }
        (event, _) if !event.may_push() => {
            let branch = match &ci.git_ref {
                CiRef::Branch(b) => b.clone(),
                CiRef::Tag(t) => t.clone(),
            };
            let plan = dev_release(input, Some(&branch))?;
            Ok(build_only(
                input,
                plan,
                format!("{}: only a push, a manual or a scheduled run pushes; this one builds only", ci.describe()),
            ))
        }
        (_, CiRef::Tag(name)) => match parse_tag(name, &input.config.version_tag_prefix) {
            TagKind::Version(_) => {
                let plan = release(input, Some(name))?;
                if allowed {
                    Ok(plan)
                } else {
                    Ok(build_only(input, plan, format!("{}: {}", ci.describe(), not_allowed_reason())))
                }
            }
            _ => Ok(skip(input, format!("{}: {name} is not a version tag, so nothing is released", ci.describe()))),
        },
        (_, CiRef::Branch(name)) => {
            if input.config.no_release_branches.iter().any(|b| b == name) {
                return Ok(skip(input, format!(
                    "{}: pushes to {name} release nothing (a version tag pushed on the same commit does the release, so the two never race)",
                    ci.describe()
                )));
            }
            let plan = dev_release(input, Some(name))?;
            if allowed {
                Ok(plan)
            } else {
                Ok(build_only(input, plan, format!("{}: {}", ci.describe(), not_allowed_reason())))
            }
        }
    }
}

fn build_only(input: &PlanInput, mut plan: ReleasePlan, reason: String) -> ReleasePlan {
    if plan.skipped.is_some() {
        return plan;
    }
    plan.kind = Kind::BuildOnly;
    plan.reason = reason;
    for image in &mut plan.images {
        image.push = false;
    }
    plan.publish.clear();
    plan.publish_skipped = None;
    with_problems(input, plan)
}

fn skip(input: &PlanInput, reason: String) -> ReleasePlan {
    input.plan(Kind::Skip, reason, None, Vec::new())
}

/// CI must push with credentials from the environment: missing ones are an error naming them.
pub fn check_ci_credentials(plan: &ReleasePlan, config: &Config, env: &BTreeMap<String, String>) -> Result<()> {
    if !plan.pushes() {
        return Ok(());
    }
    let missing: Vec<&str> = match credentials::credentials(config, env) {
        credentials::Credentials::Both { .. } => Vec::new(),
        credentials::Credentials::OnlyOne { missing } => vec![missing],
        credentials::Credentials::Neither => vec![&config.registry_user_env, &config.registry_password_env],
    };
    if !missing.is_empty() {
        return Err(error::error_with_help(
            format!(
                "this plan pushes, but {} {} not set",
                missing.join(" and "),
                if missing.len() == 1 { "is" } else { "are" }
            ),
            "give the CI job the registry credentials as secret environment variables",
        ));
    }
    Ok(())
}

/// A commit as people read it: its first 12 hex digits.
pub fn short(commit: Option<&str>) -> String {
    commit.map(|c| c[..c.len().min(12)].to_owned()).unwrap_or_else(|| "no commit".to_owned())
}

/// [`short`] of a typed commit.
pub fn short_id(commit: Option<CommitId>) -> String {
    short(commit.map(|c| c.to_string()).as_deref())
}

/// The plan for a person: version, each image with its platforms and tags, push or not and why.
pub fn render(plan: &ReleasePlan) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let kind = plan.kind.as_str();
    let _ = writeln!(
        out,
        "plan:    {kind} of {}{}",
        plan.version.semver,
        plan.version.pep440.as_ref().map(|p| format!(" (PEP 440: {p})")).unwrap_or_default()
    );
    let _ = writeln!(out, "why:     {}", plan.reason);
    let _ = writeln!(
        out,
        "commit:  {}{}",
        short_id(plan.commit),
        plan.branch.as_ref().map(|b| format!(" on branch {b}")).unwrap_or_default()
    );
    if let Some(tag) = &plan.tag {
        let _ = writeln!(out, "tag:     {tag}");
    }
    for image in &plan.images {
        let _ = writeln!(out, "image:   {}/ → {} [{}]", image.context, image.repository, image.platforms.join(", "));
        let _ = writeln!(
            out,
            "         tags {}{}",
            image.tag,
            if image.moving_tags.is_empty() {
                String::new()
            } else {
                format!("; then moving {}", image.moving_tags.join(", "))
            }
        );
        let _ = writeln!(
            out,
            "         {}",
            if image.push {
                "push: yes"
            } else if plan.local {
                "push: no (local engine only)"
            } else {
                "push: no"
            }
        );
    }
    if plan.signed {
        let _ = writeln!(out, "sign:    every pushed image, with an SBOM and provenance (cosign)");
    }
    for p in &plan.publish {
        let _ = writeln!(out, "publish: {} {} to cargo registry `{}`", p.krate, p.version, p.registry);
    }
    if let Some(why) = &plan.publish_skipped {
        let _ = writeln!(out, "publish: none: {why}");
    }
    for problem in &plan.problems {
        let _ = writeln!(out, "problem: {problem}");
    }
    out
}

/// How the commit of the image the registry holds relates to this run's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lineage {
    /// The same commit.
    Same,
    /// Theirs is an ancestor of ours: an older build.
    Older,
    /// Theirs contains ours: a newer build.
    Newer,
    /// Neither contains the other (a rewritten branch).
    Diverged,
    /// This checkout does not have their commit, even after fetching it.
    Unknown,
}

/// An image in a registry, as `imagetools inspect` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImage {
    pub digest: Digest,
    pub platforms: Vec<Platform>,
    /// An index's platform manifests: platform → digest (none for a single manifest).
    pub manifests: BTreeMap<Platform, Digest>,
    /// The `org.opencontainers.image.revision` label.
    pub revision: Option<String>,
    /// The `org.opencontainers.image.version` label.
    pub version: Option<String>,
    /// The context the image was built from ([`steps::CONTEXT_LABEL`]).
    pub context: Option<String>,
    /// How many entries an index lists, whatever their platform (none for a single manifest).
    pub entries: usize,
    /// The branch a dev build was made from ([`steps::BRANCH_LABEL`]).
    pub branch: Option<String>,
    /// The `org.opencontainers.image.created` label (the commit's time, RFC 3339).
    pub created: Option<String>,
    /// The `org.opencontainers.image.source` label (the repository's web address in CI).
    pub source: Option<String>,
}

/// What the registry holds at one image's primary tag (version or branch tag), read right
/// before the decision that depends on it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub primary: Option<RemoteImage>,
    /// How `primary`'s commit relates to ours; `None` when it records no commit.
    pub lineage: Option<Lineage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildAction {
    Build,
    /// A rerun: the version tag is there, from this very commit.
    AlreadyThere {
        digest: crate::reference::Digest,
    },
    /// The branch tag holds a newer build, or one this run cannot place: left alone.
    Skip {
        why: String,
    },
}

/// `dev-release = "changed"` skips a service with nothing changed since its base tag, unless its
/// branch's tag holds a build of another commit (a change dev-released, then reverted): that tag
/// is stale, and the dev release (`plan`, planned as if changed) puts it right. Why, or `None`.
pub fn stale_dev_tag(plan: &ReleasePlan, image: &ImagePlan, held: Option<&RemoteImage>) -> Option<String> {
    let held = held?;
    let ours = plan.commit.map(|c| c.to_string());
    if held.revision.is_some() && held.revision == ours {
        return None;
    }
    Some(format!(
        "{}:{} holds a build of another commit ({}) though nothing changed since the base tag: dev-releasing it again",
        image.repository,
        image.primary_tag(),
        short(held.revision.as_deref())
    ))
}

/// Why `held` is not an image of `image`'s context, or `None`: its platforms must be the
/// context's, and its context label (when it has one: images from before the label have not) the
/// context's directory. Another context's image of the same commit and version (the
/// `rpi-docker/` image, or the arm/v7 manifest of the `docker/` index, all signed alike) is not.
pub fn not_this_image(image: &ImagePlan, held: &RemoteImage) -> Option<String> {
    not_of_context(&image.context, &image.platforms, held)
}

/// [`not_this_image`], for the context `dir` building `platforms`.
pub fn not_of_context(dir: &str, platforms: &[Platform], held: &RemoteImage) -> Option<String> {
    let mut want: Vec<&str> = platforms.iter().map(Platform::as_str).collect();
    let mut got: Vec<&str> = held.platforms.iter().map(Platform::as_str).collect();
    want.sort_unstable();
    got.sort_unstable();
    if got != want {
        return Some(format!("it holds {}, not the {} of {dir}/", got.join(", "), want.join(", ")));
    }
    match &held.context {
        Some(context) if context != dir => Some(format!("it was built from {context}/, not {dir}/")),
        _ => None,
    }
}

/// Decides, from what the registry holds at an image's primary tag, whether to build it. A
/// release version held by another commit is a problem (the `Err`), reported with the others
/// before anything is built.
pub fn reconcile(plan: &ReleasePlan, image: &ImagePlan, seen: &Observed) -> Result<BuildAction, String> {
    let Some(remote) = seen.primary.as_ref().filter(|_| image.push) else { return Ok(BuildAction::Build) };
    let tag = image.primary_tag();
    let theirs = short(remote.revision.as_deref());
    let ours = short_id(plan.commit);
    if let (Kind::DevRelease, Some(theirs), Some(ours)) = (plan.kind, &remote.branch, &plan.branch) {
        if theirs != ours {
            return Err(format!(
                "{}:{tag} holds a build of branch {theirs}, and branch {ours} has the same dev tag: neither takes the other's tag (rename one of the branches)",
                image.repository
            ));
        }
    }
    match (plan.kind, seen.lineage) {
        // This commit's build of this very version, not a pre-release or a dev build of it (whose
        // commit is the same): what a rerun resumes after.
        (Kind::Release, Some(Lineage::Same)) => {
            let built_as = remote.version.as_deref().and_then(|v| Version::parse(v).ok());
            if let Some(why) = not_this_image(image, remote) {
                return Err(format!(
                    "{}:{tag} holds a build of this commit, but {why}: delete the tag and run the release again",
                    image.repository
                ));
            }
            match (&remote.branch, built_as) {
                (None, Some(v)) if v.cmp_precedence(&plan.version.semver).is_eq() => {
                    Ok(BuildAction::AlreadyThere { digest: remote.digest.clone() })
                }
                (branch, _) => Err(format!(
                    "{}:{tag} holds a build of this commit, but {}, not release {}: delete the tag and run the release again",
                    image.repository,
                    match (branch, &remote.version) {
                        (Some(branch), _) => format!("a dev build of branch {branch}"),
                        (None, Some(version)) => format!("built as {version}"),
                        (None, None) => "recording no version".to_owned(),
                    },
                    plan.version.semver
                )),
            }
        }
        (Kind::Release, _) => Err(format!(
            "{}:{tag} already exists, built from {theirs} (this release is {ours}): releases are immutable",
            image.repository
        )),
        (Kind::DevRelease, Some(Lineage::Newer)) => Ok(BuildAction::Skip {
            why: format!(
                "{}:{tag} holds a newer build (commit {theirs}, which contains {ours}); not overwriting it with an older one",
                image.repository
            ),
        }),
        (Kind::DevRelease, Some(Lineage::Unknown)) => Ok(BuildAction::Skip {
            why: format!(
                "{}:{tag} holds a build of commit {theirs}, which this checkout does not have even after fetching it, so it may be newer: left alone (fetch that commit, or delete the tag, and rerun)",
                image.repository
            ),
        }),
        _ => Ok(BuildAction::Build),
    }
}

#[cfg(test)]
mod tests;
