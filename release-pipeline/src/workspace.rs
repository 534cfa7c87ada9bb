//! The one value every command works on: the workspace's root, its repository (opened once),
//! its configuration and the environment, read once in `main` and handed to the command.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::{config::Config, error, repo::Repo};

pub(crate) struct Workspace {
    pub(crate) root: Utf8PathBuf,
    /// `None` outside git (only `version` with RELEASE_VERSION and `dist` work there).
    pub(crate) repo: Option<Repo>,
    pub(crate) config: Config,
    /// The environment, read once: credentials, CI variables, overrides.
    pub(crate) env: BTreeMap<String, String>,
}

impl Workspace {
    /// The workspace of the current directory.
    pub(crate) fn current() -> Result<Workspace> {
        Workspace::open(None)
    }

    /// The workspace at `path` (or the current directory's): the repository that holds it and
    /// the configuration of its work tree.
    pub(crate) fn open(path: Option<&Utf8Path>) -> Result<Workspace> {
        let start = match path {
            Some(p) => p.to_owned(),
            None => Utf8PathBuf::try_from(std::env::current_dir().context("reading the current directory")?)
                .context("the current directory is not UTF-8")?,
        };
        let repo = Repo::discover(&start)?;
        let root = match &repo {
            Some(r) => r.root(),
            None => start.ancestors().find(|d| d.join("Cargo.toml").exists()).unwrap_or(&start).to_owned(),
        };
        let config = Config::load(&root)?;
        let env =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
        Ok(Workspace { root, repo, config, env })
    }

    pub(crate) fn repo(&self) -> Result<&Repo> {
        self.repo.as_ref().ok_or_else(|| {
            error::error_with_help(
                format!("{} is not in a git repository", self.root),
                "releases are made from a git checkout",
            )
        })
    }

    /// The image repository to push to: `--repository` (`flag`), RELEASE_REPOSITORY or `image`;
    /// `None` in local mode.
    pub(crate) fn image_repository(&self, flag: Option<String>) -> Option<String> {
        flag.filter(|r| !r.is_empty())
            .or_else(|| self.var("RELEASE_REPOSITORY").map(str::to_owned))
            .or_else(|| Some(self.config.image.clone()).filter(|i| !i.is_empty()))
    }

    /// The environment variable `name`, when set and not empty.
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}
