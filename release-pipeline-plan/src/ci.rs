//! Reading a CI system's environment (GitHub Actions, GitLab CI, Travis CI): plain variables, no
//! API calls. Pure: it takes the environment as a map. `plan::ci` decides what to do with it.
use std::collections::BTreeMap;

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiRef {
    Branch(String),
    Tag(String),
}

/// Why the job runs. Only a push, a manual run and a scheduled run may push images; every other
/// event, known (pull requests and their reviews, merge queues) or not, builds only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiEvent {
    Push,
    /// A pull or merge request, built from `source_branch`.
    PullRequest {
        source_branch: String,
    },
    /// A manually started run (`workflow_dispatch`, a web pipeline): treated as a push of its ref.
    Manual,
    /// A scheduled run: treated as a push of its ref.
    Scheduled,
    /// Any other event, named as the CI system names it: build only.
    Other(String),
}

impl CiEvent {
    /// Whether this event may push images and publish crates.
    pub fn may_push(&self) -> bool {
        matches!(self, CiEvent::Push | CiEvent::Manual | CiEvent::Scheduled)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiContext {
    pub system: &'static str,
    pub event: CiEvent,
    pub git_ref: CiRef,
    /// `owner/name` of the repository the job runs in.
    pub repository: Option<String>,
}

impl CiContext {
    pub fn describe(&self) -> String {
        let what = match (&self.event, &self.git_ref) {
            (CiEvent::PullRequest { source_branch }, _) => format!("pull request from {source_branch}"),
            (event, CiRef::Tag(t)) => format!("{} of tag {t}", event_word(event)),
            (event, CiRef::Branch(b)) => format!("{} to branch {b}", event_word(event)),
        };
        format!("{} {what}", self.system)
    }
}

fn event_word(event: &CiEvent) -> String {
    match event {
        CiEvent::Push => "push".to_owned(),
        CiEvent::Manual => "manual run".to_owned(),
        CiEvent::Scheduled => "scheduled run".to_owned(),
        CiEvent::Other(e) => format!("{e} event"),
        CiEvent::PullRequest { .. } => "pull request".to_owned(),
    }
}

/// The CI context, or `None` outside any CI system this tool knows.
pub fn detect(env: &BTreeMap<String, String>) -> Result<Option<CiContext>> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    let require = |k: &str, system: &str| -> Result<String> {
        match get(k) {
            Some(v) => Ok(v),
            None => bail!("{system} is detected, but {k} is not set"),
        }
    };
    if get("GITHUB_ACTIONS").as_deref() == Some("true") {
        let system = "GitHub Actions";
        let event_name = require("GITHUB_EVENT_NAME", system)?;
        let repository = get("GITHUB_REPOSITORY");
        let name = require("GITHUB_REF_NAME", system)?;
        let git_ref = match get("GITHUB_REF_TYPE").as_deref() {
            Some("tag") => CiRef::Tag(name.clone()),
            _ => CiRef::Branch(name.clone()),
        };
        let event = match event_name.as_str() {
            "push" => CiEvent::Push,
            "pull_request" | "pull_request_target" => {
                CiEvent::PullRequest { source_branch: require("GITHUB_HEAD_REF", system)? }
            }
            // GitHub sets GITHUB_HEAD_REF for the two above only.
            "pull_request_review" | "pull_request_review_comment" => {
                CiEvent::PullRequest { source_branch: get("GITHUB_HEAD_REF").unwrap_or_else(|| name.clone()) }
            }
            "workflow_dispatch" => CiEvent::Manual,
            "schedule" => CiEvent::Scheduled,
            other => CiEvent::Other(other.to_owned()),
        };
        return Ok(Some(CiContext { system, event, git_ref, repository }));
    }
    if get("GITLAB_CI").as_deref() == Some("true") {
        let system = "GitLab CI";
        let repository = get("CI_PROJECT_PATH");
        let source = get("CI_PIPELINE_SOURCE").unwrap_or_else(|| "push".to_owned());
        if source == "external_pull_request_event" {
            let source_branch = require("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME", system)?;
            let git_ref = CiRef::Branch(source_branch.clone());
            return Ok(Some(CiContext { system, event: CiEvent::PullRequest { source_branch }, git_ref, repository }));
        }
        if source == "merge_request_event" || get("CI_MERGE_REQUEST_IID").is_some() {
            let source_branch = require("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", system)?;
            let git_ref = CiRef::Branch(source_branch.clone());
            return Ok(Some(CiContext { system, event: CiEvent::PullRequest { source_branch }, git_ref, repository }));
        }
        let git_ref = match (get("CI_COMMIT_TAG"), get("CI_COMMIT_BRANCH")) {
            (Some(tag), _) => CiRef::Tag(tag),
            (None, Some(branch)) => CiRef::Branch(branch),
            (None, None) => CiRef::Branch(require("CI_COMMIT_REF_NAME", system)?),
        };
        let event = match source.as_str() {
            "push" => CiEvent::Push,
            "web" => CiEvent::Manual,
            "schedule" => CiEvent::Scheduled,
            other => CiEvent::Other(other.to_owned()),
        };
        return Ok(Some(CiContext { system, event, git_ref, repository }));
    }
    if get("TRAVIS").as_deref() == Some("true") {
        let system = "Travis CI";
        let repository = get("TRAVIS_REPO_SLUG");
        if get("TRAVIS_PULL_REQUEST").is_some_and(|p| p != "false") {
            let source_branch = require("TRAVIS_PULL_REQUEST_BRANCH", system)?;
            let git_ref = CiRef::Branch(source_branch.clone());
            return Ok(Some(CiContext { system, event: CiEvent::PullRequest { source_branch }, git_ref, repository }));
        }
        let git_ref = match get("TRAVIS_TAG") {
            Some(tag) => CiRef::Tag(tag),
            None => CiRef::Branch(require("TRAVIS_BRANCH", system)?),
        };
        let event = match get("TRAVIS_EVENT_TYPE").as_deref().unwrap_or("push") {
            "push" => CiEvent::Push,
            "api" => CiEvent::Manual,
            "cron" => CiEvent::Scheduled,
            other => CiEvent::Other(other.to_owned()),
        };
        return Ok(Some(CiContext { system, event, git_ref, repository }));
    }
    Ok(None)
}

/// The repository's web address, from GitHub Actions' variables (an image's `SOURCE`).
pub fn source_url(env: &BTreeMap<String, String>) -> Option<String> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
    Some(format!("{}/{}", get("GITHUB_SERVER_URL")?, get("GITHUB_REPOSITORY")?))
}

/// The repository's web address for a provenance: GitHub's or GitLab's, from the CI variables.
pub fn repository_url(env: &BTreeMap<String, String>) -> Option<String> {
    source_url(env).or_else(|| env.get("CI_PROJECT_URL").filter(|v| !v.is_empty()).cloned())
}

/// A git remote's URL without the user and password it may carry (`https://user:token@host/…`,
/// as CI checkouts write it), its query and fragment: what may be published. A URL (`scheme://…`,
/// as git tells them) is read by a URL parser; one it refuses is `None`, to be left out
/// (`https://ci:TOKEN/abc@host/…`: a password holding `/`; a non-ASCII host, as idna's back end
/// here is ASCII only). scp-like addresses (`git@host:path`) carry no password, and a local
/// path no credential: both stay as they are.
pub fn without_credentials(remote: &str) -> Option<String> {
    if !remote.contains("://") {
        return Some(remote.to_owned());
    }
    let mut url = url::Url::parse(remote).ok()?;
    // These fail only on a URL without a host (`file:///srv/git`), which has no credentials.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

/// The CI run's web address (a provenance's builder): GitHub Actions' run or GitLab's job.
pub fn run_url(env: &BTreeMap<String, String>) -> Option<String> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
    if let Some(job) = get("CI_JOB_URL") {
        return Some(job.clone());
    }
    Some(format!("{}/actions/runs/{}", source_url(env)?, get("GITHUB_RUN_ID")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn credentials_never_reach_a_published_url() {
        #[track_caller]
        fn check(remote: &str, published: Option<&str>) {
            assert_eq!(without_credentials(remote).as_deref(), published, "{remote}");
        }
        check(
            "https://gitlab-ci-token:glcbt-SECRET@gitlab.example/acme/service.git",
            Some("https://gitlab.example/acme/service.git"),
        );
        check("https://x-access-token:ghs_SECRET@github.com", Some("https://github.com/"));
        check("https://github.com/acme/a@b.git", Some("https://github.com/acme/a@b.git"));
        check("ssh://git@github.com:22/acme/service.git", Some("ssh://github.com:22/acme/service.git"));
        check("https://host.example/x.git?private_token=SECRET#SECRET", Some("https://host.example/x.git"));
        check("file:///srv/git/service.git", Some("file:///srv/git/service.git"));
        check("git@github.com:acme/service.git", Some("git@github.com:acme/service.git"));
        check("/srv/git/service.git", Some("/srv/git/service.git"));
        // A password holding `/` (or `\\`) is no path; a URL the parser refuses
        // is left out, not cut by hand.
        check("https://ci:TOKEN/abc@host.example/acme/x.git", None);
        check("https://ci:TOKEN\\abc@host.example/acme/x.git", None);
        check("https://ci:TOKEN@hôst.example/acme/x.git", None);
        let gitlab = env(&[("CI_PROJECT_URL", "https://gitlab.example/acme/service")]);
        assert_eq!(repository_url(&gitlab).as_deref(), Some("https://gitlab.example/acme/service"));
    }

    #[test]
    fn run_url_from_either_ci() {
        let github = env(&[
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/service"),
            ("GITHUB_RUN_ID", "42"),
        ]);
        assert_eq!(run_url(&github).as_deref(), Some("https://github.com/acme/service/actions/runs/42"));
        let gitlab = env(&[("CI_JOB_URL", "https://gitlab.example/acme/service/-/jobs/7")]);
        assert_eq!(run_url(&gitlab).as_deref(), Some("https://gitlab.example/acme/service/-/jobs/7"));
        assert_eq!(run_url(&env(&[("GITHUB_RUN_ID", "42")])), None);
    }

    #[test]
    fn source_url_needs_both_variables() {
        let both = env(&[("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "acme/service")]);
        assert_eq!(source_url(&both).as_deref(), Some("https://github.com/acme/service"));
        assert_eq!(source_url(&env(&[("GITHUB_REPOSITORY", "acme/service")])), None);
        let empty = env(&[("GITHUB_SERVER_URL", ""), ("GITHUB_REPOSITORY", "acme/service")]);
        assert_eq!(source_url(&empty), None, "empty counts as unset");
    }

    /// A GitLab merge request is recognised by its pipeline source or by its IID alone.
    #[test]
    fn gitlab_merge_requests_either_way() {
        let base =
            [("GITLAB_CI", "true"), ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/mr"), ("CI_COMMIT_BRANCH", "x")];
        for extra in [("CI_PIPELINE_SOURCE", "merge_request_event"), ("CI_MERGE_REQUEST_IID", "7")] {
            let mut vars = base.to_vec();
            vars.push(extra);
            let ctx = detect(&env(&vars)).unwrap().unwrap();
            assert_eq!(ctx.event, CiEvent::PullRequest { source_branch: "feature/mr".into() }, "{extra:?}");
        }
    }
}
