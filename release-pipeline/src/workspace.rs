//! The one value every command works on: the workspace's root, its repository (opened once),
//! its configuration, the environment (read once, when a command first asks for it) and how
//! commands run (`exec.rs`, built once in `lib.rs`), handed to the command.
use std::{cell::OnceCell, collections::BTreeMap, rc::Rc};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::{
    config::Config,
    error,
    exec::Exec,
    repo::Repo,
    services::{self, Service},
};

#[derive(Clone)]
pub(crate) struct Workspace {
    pub(crate) root: Utf8PathBuf,
    /// `None` outside git (only `version` with RELEASE_VERSION and `dist` work there).
    pub(crate) repo: Option<Rc<Repo>>,
    /// The configuration; in a service's view (`services`), as that service sees it.
    pub(crate) config: Config,
    /// The environment, read once when first asked for ([`Workspace::env`]; `version` never
    /// asks), and shared by every view: credentials, CI variables, overrides.
    pub(crate) env: Rc<OnceCell<BTreeMap<String, String>>>,
    /// The service this view is of (`services`); `None` for the whole workspace.
    pub(crate) service: Option<Service>,
    /// Variables that are secrets whatever this configuration says: `rebuild` builds an old
    /// tag's configuration, whose build scripts get none of today's secrets either.
    pub(crate) also_secret: Rc<Vec<String>>,
    /// How every external command runs; its shell is in `root`.
    pub(crate) exec: Exec,
}

impl Workspace {
    /// The workspace of the current directory.
    pub(crate) fn current(exec: &Exec) -> Result<Workspace> {
        Workspace::open(None, exec)
    }

    /// The workspace at `path` (or the current directory's): the repository that holds it and
    /// the configuration of its work tree.
    pub(crate) fn open(path: Option<&Utf8Path>, exec: &Exec) -> Result<Workspace> {
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
        let config = crate::config::load(&root)?;
        Ok(Workspace {
            repo: repo.map(Rc::new),
            config,
            env: Rc::default(),
            service: None,
            also_secret: Rc::default(),
            exec: exec.in_dir(&root),
            root,
        })
    }

    /// A workspace at `root` that nothing was read for: the unit tests' (with a recording
    /// `exec`), with this configuration and environment.
    #[cfg(test)]
    pub(crate) fn fake(root: &Utf8Path, config: Config, env: BTreeMap<String, String>, exec: &Exec) -> Workspace {
        Workspace {
            root: root.to_owned(),
            repo: None,
            config,
            env: Rc::new(OnceCell::from(env)),
            service: None,
            also_secret: Rc::default(),
            exec: exec.in_dir(root),
        }
    }

    /// One view per service `names` selects (every service when it names none), each with the
    /// configuration as its service sees it.
    pub(crate) fn services(&self, names: &[String]) -> Result<Vec<Workspace>> {
        services::select(self.all_services()?, names, |view| view.service().name.as_str())
    }

    /// One view per service of the workspace. The services are resolved against the packages
    /// (`cargo metadata`) here, and only here.
    pub(crate) fn all_services(&self) -> Result<Vec<Workspace>> {
        let metadata = services::metadata(&self.exec, &self.root)?;
        let all = services::resolve(&self.root, &self.config, &metadata)?;
        let only_one = all.len() == 1;
        Ok(all
            .into_iter()
            .map(|service| Workspace {
                config: self.config.for_service(&service.table, only_one),
                service: Some(service),
                ..self.clone()
            })
            .collect())
    }

    /// The service of a view made by [`Workspace::services`].
    pub(crate) fn service(&self) -> &Service {
        self.service.as_ref().expect("a service's view (Workspace::services)")
    }

    pub(crate) fn repo(&self) -> Result<&Repo> {
        self.repo.as_deref().ok_or_else(|| {
            error::error_with_help(
                format!("{} is not in a git repository", self.root),
                "releases are made from a git checkout",
            )
        })
    }

    /// The image repository to push to: `--repository` (`flag`), else a service's own `image`,
    /// else RELEASE_REPOSITORY or the top-level `image`; `None` in local mode.
    pub(crate) fn image_repository(&self, flag: Option<String>) -> Option<String> {
        let own = self.service.as_ref().and_then(|s| s.table.image.clone()).filter(|i| !i.is_empty());
        flag.filter(|r| !r.is_empty())
            .or(own)
            .or_else(|| self.var("RELEASE_REPOSITORY").map(str::to_owned))
            .or_else(|| Some(self.config.image.clone()).filter(|i| !i.is_empty()))
    }

    /// The environment (the variables whose name and value are UTF-8).
    pub(crate) fn env(&self) -> &BTreeMap<String, String> {
        self.env.get_or_init(|| {
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
        })
    }

    /// The environment variable `name`, when set and not empty.
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.env().get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}
