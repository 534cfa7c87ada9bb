//! Which releases the registry lists may carry a moving tag (`plan::moving`): the evidence of a
//! candidate (its git tag's commit, retractions, each context's version tag and revision label,
//! its signature) is read when the rule first asks for it, once per version.
use std::collections::BTreeMap;

use anyhow::Result;
use camino::Utf8PathBuf;
use semver::Version;

use crate::{config::SignPolicy, cosign, docker::Docker, workspace::Workspace};
use release_pipeline_plan::{
    plan::moving::{self, Evidence},
    reference::{Digest, ImageRef},
    tags,
};

/// The reads behind `plan::moving::disqualified` for one image repository.
pub(crate) struct Qualifier<'a> {
    docker: &'a Docker,
    repository: String,
    /// Every context pushing to the repository: its tag prefix, directory and platforms.
    contexts: Vec<Context>,
    /// Each version's git tag's commit.
    git_commits: BTreeMap<Version, String>,
    /// Where a version without a git tag here is looked up once: the git remote's tags (another
    /// checkout may have released it and pushed its tag since this one was fetched).
    remote: Option<RemoteTags<'a>>,
    retracted: Vec<Version>,
    /// The public key a moving tag's release must be signed with, when signing is on.
    public_key: Option<Utf8PathBuf>,
    decided: BTreeMap<Version, Option<String>>,
    /// Per version checked: each context prefix's digest, as checked. Moving tags are copied
    /// from these digests, never from a tag read again (which could have changed since).
    digests: BTreeMap<Version, BTreeMap<String, Digest>>,
}

/// A version as git tags and the registry's version tags name it: without build metadata.
fn bare(version: &Version) -> Version {
    Version { build: semver::BuildMetadata::EMPTY, ..version.clone() }
}

/// A context a release must be complete in.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub(crate) prefix: String,
    pub(crate) dir: String,
    pub(crate) platforms: Vec<release_pipeline_plan::platform::Platform>,
}

/// The git remote's version tags, read when first needed.
struct RemoteTags<'a> {
    repo: &'a crate::repo::Repo,
    exec: &'a crate::exec::Exec,
    remote: String,
    prefix: String,
    read: Option<BTreeMap<Version, String>>,
}

impl RemoteTags<'_> {
    fn commit_of(&mut self, version: &Version) -> Result<Option<String>> {
        if self.read.is_none() {
            let what = format!("reading the version tags of the git remote `{}`", self.remote);
            let listed = self.repo.remote_tags(self.exec, &self.remote, &what)?;
            self.read = Some(
                listed
                    .into_iter()
                    .filter_map(|(name, commit)| match crate::version::parse_tag(&name, &self.prefix) {
                        crate::version::TagKind::Version(v) if v.build.is_empty() => Some((v, commit.to_string())),
                        _ => None,
                    })
                    .collect(),
            );
        }
        Ok(self.read.as_ref().and_then(|read| read.get(version).cloned()))
    }
}

impl<'a> Qualifier<'a> {
    /// The workspace's: its version tags, signing setup, and `retracted` (read right before).
    /// `contexts` are every context pushing to `repository`.
    pub(crate) fn new(
        ws: &'a Workspace,
        docker: &'a Docker,
        repository: &str,
        contexts: Vec<Context>,
        retracted: Vec<Version>,
    ) -> Result<Qualifier<'a>> {
        let mut git_commits = BTreeMap::new();
        if let Some(repo) = ws.repo.as_deref() {
            // A tag with build metadata names no release (`plan::release` refuses it): never
            // let it stand for its version's commit.
            for tag in crate::version::version_tags(repo, &ws.config.version_tag_prefix)?
                .into_iter()
                .filter(|t| t.version.build.is_empty())
            {
                if let Some(commit) = repo.peel_listed(tag.target, tag.peeled) {
                    git_commits.insert(bare(&tag.version), commit.to_string());
                }
            }
        }
        let public_key =
            (ws.config.signing.sign != SignPolicy::None).then(|| ws.root.join(&ws.config.signing.public_key));
        let mut qualifier = Qualifier::of(docker, repository, contexts, git_commits, retracted, public_key);
        qualifier.remote =
            ws.repo.as_deref().filter(|repo| repo.has_remote(&ws.config.git_remote)).map(|repo| RemoteTags {
                repo,
                exec: &ws.exec,
                remote: ws.config.git_remote.clone(),
                prefix: ws.config.version_tag_prefix.clone(),
                read: None,
            });
        Ok(qualifier)
    }

    /// From its parts: what git says of each version, the retractions and the signing key.
    pub(crate) fn of(
        docker: &'a Docker,
        repository: &str,
        contexts: Vec<Context>,
        git_commits: BTreeMap<Version, String>,
        retracted: Vec<Version>,
        public_key: Option<Utf8PathBuf>,
    ) -> Qualifier<'a> {
        Qualifier {
            docker,
            repository: repository.to_owned(),
            contexts,
            git_commits,
            remote: None,
            retracted,
            public_key,
            decided: BTreeMap::new(),
            digests: BTreeMap::new(),
        }
    }

    /// The retracted versions it was made with.
    pub(crate) fn retracted(&self) -> &[Version] {
        &self.retracted
    }

    /// The versions found not to qualify so far.
    pub(crate) fn disqualified(&self) -> impl Iterator<Item = Version> + '_ {
        self.decided.iter().filter(|(_, why)| why.is_some()).map(|(v, _)| v.clone())
    }

    /// The digest `prefix`'s version tag of `version` held when it was checked.
    pub(crate) fn digest_of(&self, version: &Version, prefix: &str) -> Option<&Digest> {
        self.digests.get(&bare(version))?.get(prefix)
    }

    /// Forgets what was read and decided of `version`: its next `check` reads the registry again
    /// (a version tag found holding another digest than the one checked).
    pub(crate) fn forget(&mut self, version: &Version) {
        let version = bare(version);
        self.decided.remove(&version);
        self.digests.remove(&version);
    }

    /// Why `version` may not carry a moving tag, or `None` when it may (read once, then kept).
    pub(crate) fn check(&mut self, version: &Version) -> Result<Option<String>> {
        let version = &bare(version);
        if let Some(decided) = self.decided.get(version) {
            return Ok(decided.clone());
        }
        if !self.git_commits.contains_key(version) {
            if let Some(commit) = self.remote.as_mut().map(|r| r.commit_of(version)).transpose()?.flatten() {
                self.git_commits.insert(version.clone(), commit);
            }
        }
        let evidence = self.evidence(version)?;
        let decided = moving::disqualified(version, &evidence);
        self.decided.insert(version.clone(), decided.clone());
        Ok(decided)
    }

    /// The home of `moving` among `released`, with the higher releases passed over and why.
    pub(crate) fn home<'v>(
        &mut self,
        moving: &str,
        released: &'v [Version],
    ) -> Result<(Option<&'v Version>, Vec<String>)> {
        moving::home(moving, released, |v| self.check(v))
    }

    fn evidence(&mut self, version: &Version) -> Result<Evidence> {
        let git_commit = self.git_commits.get(version).cloned();
        let retracted = self.retracted.iter().any(|r| bare(r) == *version);
        // Git decides first: a version without a git tag, or retracted, needs no registry read
        // (a registry full of versions that are not ours costs nothing).
        if git_commit.is_none() || retracted {
            return Ok(Evidence { git_commit, retracted, contexts: Vec::new(), signed: None });
        }
        let mut contexts = Vec::new();
        let mut digests = Vec::new();
        let mut by_prefix = BTreeMap::new();
        for context in &self.contexts {
            let tag = format!("{}{}", context.prefix, tags::version_tag(version));
            let held = self.docker.inspect(&ImageRef::tag(&self.repository, &tag).to_string())?;
            if let Some(held) = &held {
                digests.push(held.digest.clone());
                by_prefix.insert(context.prefix.clone(), held.digest.clone());
            }
            contexts.push(moving::ContextEvidence {
                tag,
                dir: context.dir.clone(),
                platforms: context.platforms.clone(),
                held,
            });
        }
        self.digests.insert(version.clone(), by_prefix);
        // Every context's image verifies, or the release is not signed (a missing one is not).
        let signed = match &self.public_key {
            Some(key) => {
                let mut all = digests.len() == self.contexts.len();
                for digest in &digests {
                    if !all {
                        break;
                    }
                    let pinned = format!("{}@{digest}", self.repository);
                    all = cosign::verify(self.docker, key, &pinned, cosign::Check::Signature)?.is_ok();
                }
                Some(all)
            }
            None => None,
        };
        Ok(Evidence { git_commit, retracted, contexts, signed })
    }
}

/// The contexts of a configuration, as the rule needs them.
pub(crate) fn contexts_of(config: &crate::config::Config) -> Vec<Context> {
    config
        .context
        .iter()
        .map(|c| Context { prefix: c.image_tag_prefix.clone(), dir: c.dir.clone(), platforms: c.platforms.clone() })
        .collect()
}
