//! `[workspace.metadata.release-pipeline]`: the release configuration. Every key has a default
//! (see `../shared/docs/config.md` and the README); an unknown key is an error that names it and
//! the nearest known key.
use anyhow::{bail, Context, Result};
use camino::Utf8Path;
use serde::{Deserialize, Serialize};

use crate::{
    error,
    platform::{Platform, TargetTriple},
};

/// What every staging tag starts with (a part's push, a signed build before its tag): the
/// pipeline's own, so no context's `image-tag-prefix` may start with it (`tags` uses it).
pub const STAGING_PREFIX: &str = "staging-";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Config {
    pub version_tag_prefix: String,
    pub targets: Vec<TargetConfig>,
    pub image: String,
    pub no_release_branches: Vec<String>,
    pub release_repository: String,
    pub registry_user_env: String,
    pub registry_password_env: String,
    /// More registries that get every pushed image at the same digests, each with its own login.
    pub mirrors: Vec<MirrorConfig>,
    pub qemu_image: String,
    pub publish: Vec<String>,
    pub cargo_registry: String,
    /// The git remote this checkout fetches from (an image's unknown commit is fetched there).
    pub git_remote: String,
    pub context: Vec<ContextConfig>,
    pub signing: SigningConfig,
    /// `[[service]]`: the released binaries; none: the workspace's one binary package.
    pub service: Vec<ServiceConfig>,
}

/// One `[[service]]` table: a released binary and what differs from the top-level keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServiceConfig {
    /// Default: the package name.
    pub name: Option<String>,
    pub package: String,
    /// Default: the package's only binary.
    pub bin: Option<String>,
    /// Default: the top-level `version-tag-prefix`.
    pub version_tag_prefix: Option<String>,
    /// Default: the top-level `image`.
    pub image: Option<String>,
    /// Default: the top-level `publish`.
    pub publish: Option<Vec<String>>,
    /// Default: the top-level `mirrors`.
    pub mirrors: Option<Vec<MirrorConfig>>,
    #[serde(default)]
    pub dev_release: DevReleasePolicy,
    /// How `--run` starts and checks its image; default: [`RunConfig::default`].
    pub run: Option<RunConfig>,
}

/// `run = { port = 6379, ready = "tcp", args = ["--bind", "0.0.0.0"] }` of a `[[service]]`: what
/// `--run` needs to start a service's image and know it is up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct RunConfig {
    /// The port the service listens on in the container (`--port` picks the host's side).
    pub port: u16,
    pub ready: Readiness,
    /// The service's own arguments, after the image reference in `docker run` (so never one of
    /// docker's options: the one place a value may start with `-`).
    pub args: Vec<String>,
}

impl Default for RunConfig {
    /// The pipeline's HTTP service: port 8080, ready when `GET /health` answers.
    fn default() -> RunConfig {
        RunConfig { port: 8080, ready: Readiness::default(), args: Vec::new() }
    }
}

/// When a started service is up: `"http:/PATH"` (a GET answers 2xx), `"tcp"` (its port takes a
/// connection and keeps it open) or `"up:SECONDS"` (it is still running after that long).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Readiness {
    Http { path: String },
    Tcp,
    Up { seconds: u32 },
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::Http { path: "/health".to_owned() }
    }
}

/// The longest `up:SECONDS` wait.
pub const MAX_UP_SECONDS: u32 = 600;

impl TryFrom<String> for Readiness {
    type Error = String;

    fn try_from(text: String) -> Result<Readiness, String> {
        let path_ok = |p: &str| p.starts_with('/') && p.chars().all(|c| c.is_ascii_graphic());
        match text.split_once(':') {
            None if text == "tcp" => Ok(Readiness::Tcp),
            Some(("http", path)) if path_ok(path) => Ok(Readiness::Http { path: path.to_owned() }),
            Some(("up", seconds)) => match seconds.parse::<u32>() {
                Ok(seconds) if (1..=MAX_UP_SECONDS).contains(&seconds) => Ok(Readiness::Up { seconds }),
                _ => Err(format!("`service.run.ready`: `{text}`: the seconds must be 1 to {MAX_UP_SECONDS}")),
            },
            _ => Err(format!(
                "`service.run.ready`: `{text}` is no readiness check: \"http:/PATH\", \"tcp\" or \"up:SECONDS\""
            )),
        }
    }
}

impl From<Readiness> for String {
    fn from(ready: Readiness) -> String {
        ready.to_string()
    }
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Http { path } => write!(f, "http:{path}"),
            Readiness::Tcp => f.write_str("tcp"),
            Readiness::Up { seconds } => write!(f, "up:{seconds}"),
        }
    }
}

/// One `mirrors` entry: a registry repository that gets every pushed image at the same digest,
/// with the same tags, logged into with its own credentials (the variables' names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MirrorConfig {
    pub image: String,
    pub user_env: String,
    pub password_env: String,
}

impl ServiceConfig {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.package)
    }
}

/// Which dev releases build a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DevReleasePolicy {
    #[default]
    Always,
    /// Only when something it is built from changed since its base version tag.
    Changed,
}

/// `[…signing]`: which runs sign their images, and where the key, its password and the public
/// key that `verify` checks against are.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SigningConfig {
    pub sign: SignPolicy,
    /// The variable holding the private key's contents (cosign's encrypted PEM).
    pub key_env: String,
    pub password_env: String,
    /// The committed public key, relative to the workspace root.
    pub public_key: String,
}

impl Default for SigningConfig {
    fn default() -> SigningConfig {
        SigningConfig {
            sign: SignPolicy::None,
            key_env: "COSIGN_PRIVATE_KEY".to_owned(),
            password_env: "COSIGN_PASSWORD".to_owned(),
            public_key: "cosign.pub".to_owned(),
        }
    }
}

/// Which pushed images are signed and attested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignPolicy {
    /// Releases only (version tags).
    Releases,
    /// Dev releases too.
    All,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TargetConfig {
    pub target: TargetTriple,
    pub platform: Platform,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ContextConfig {
    pub dir: String,
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub image_tag_prefix: String,
    /// The service whose packages it holds; required with several services.
    #[serde(default)]
    pub service: Option<String>,
}

const KEYS: &[&str] = &[
    "version-tag-prefix",
    "targets",
    "image",
    "no-release-branches",
    "release-repository",
    "registry-user-env",
    "registry-password-env",
    "mirrors",
    "qemu-image",
    "publish",
    "cargo-registry",
    "git-remote",
    "context",
    "signing",
    "service",
];
const TARGET_KEYS: &[&str] = &["target", "platform"];
const CONTEXT_KEYS: &[&str] = &["dir", "platforms", "image-tag-prefix", "service"];
const SERVICE_KEYS: &[&str] =
    &["name", "package", "bin", "version-tag-prefix", "image", "publish", "mirrors", "dev-release", "run"];
const RUN_KEYS: &[&str] = &["port", "ready", "args"];
const MIRROR_KEYS: &[&str] = &["image", "user-env", "password-env"];
const SIGNING_KEYS: &[&str] = &["sign", "key-env", "password-env", "public-key"];
pub const TABLE: &str = "workspace.metadata.release-pipeline";

impl Default for Config {
    fn default() -> Config {
        let target = |target: &str, platform: &str| TargetConfig {
            target: TargetTriple::parse(target).unwrap(),
            platform: platform.into(),
        };
        Config {
            version_tag_prefix: String::new(),
            targets: vec![
                target("x86_64-unknown-linux-musl", "linux/amd64"),
                target("aarch64-unknown-linux-gnu", "linux/arm64"),
                target("armv7-unknown-linux-gnueabihf", "linux/arm/v7"),
            ],
            image: String::new(),
            no_release_branches: vec!["master".to_owned(), "main".to_owned()],
            release_repository: String::new(),
            registry_user_env: "REGISTRY_USER".to_owned(),
            registry_password_env: "REGISTRY_PASSWORD".to_owned(),
            mirrors: Vec::new(),
            qemu_image: "tonistiigi/binfmt".to_owned(),
            publish: Vec::new(),
            cargo_registry: String::new(),
            git_remote: "origin".to_owned(),
            context: vec![
                ContextConfig {
                    dir: "docker".to_owned(),
                    platforms: vec!["linux/amd64".into(), "linux/arm64".into(), "linux/arm/v7".into()],
                    image_tag_prefix: String::new(),
                    service: None,
                },
                ContextConfig {
                    dir: "rpi-docker".to_owned(),
                    platforms: vec!["linux/arm/v7".into()],
                    image_tag_prefix: "rpi-".to_owned(),
                    service: None,
                },
            ],
            signing: SigningConfig::default(),
            service: Vec::new(),
        }
    }
}

impl Config {
    /// The table in a workspace manifest's text; no table gives the defaults.
    pub fn parse(manifest: &str) -> Result<Config> {
        let doc: toml_edit::DocumentMut = manifest.parse().context("parsing TOML")?;
        let Some(table) = doc.get("workspace").and_then(|w| w.get("metadata")).and_then(|m| m.get("release-pipeline"))
        else {
            return Ok(Config::default());
        };
        check_keys(table, KEYS, "")?;
        for (key, inner_keys) in
            [("targets", TARGET_KEYS), ("context", CONTEXT_KEYS), ("service", SERVICE_KEYS), ("mirrors", MIRROR_KEYS)]
        {
            match table.get(key) {
                Some(toml_edit::Item::ArrayOfTables(tables)) => {
                    for t in tables {
                        check_table_keys(t.iter().map(|(k, _)| k), inner_keys, key)?;
                        if let Some(run) = t.get("run").filter(|_| key == "service") {
                            let run = run.as_table_like().context("`service.run` must be a table")?;
                            check_table_keys(run.iter().map(|(k, _)| k), RUN_KEYS, "service.run")?;
                        }
                    }
                }
                Some(toml_edit::Item::Value(toml_edit::Value::Array(values))) => {
                    for v in values {
                        if let Some(t) = v.as_inline_table() {
                            check_table_keys(t.iter().map(|(k, _)| k), inner_keys, key)?
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(signing) = table.get("signing") {
            let keys = signing.as_table_like().context("`signing` must be a table")?;
            check_table_keys(keys.iter().map(|(k, _)| k), SIGNING_KEYS, "signing")?;
        }
        // Deserialized from the parsed table itself: no second parse of the text.
        let table = table.clone().into_table().map_err(|_| anyhow::anyhow!("[{TABLE}] must be a table"))?;
        let config: Config = toml_edit::de::from_document(toml_edit::DocumentMut::from(table))
            .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.no_value_is_an_option()?;
        let service_prefixes = self.service.iter().filter_map(|s| s.version_tag_prefix.as_deref());
        let prefixes = std::iter::once(("version-tag-prefix", self.version_tag_prefix.as_str()))
            .chain(service_prefixes.map(|p| ("service.version-tag-prefix", p)));
        for (key, prefix) in prefixes {
            // What follows the prefix is a version (`1.0.0`): the whole must be a tag name git takes.
            if prefix.starts_with('/')
                || gix_validate::reference::name(format!("refs/tags/{prefix}1.0.0").as_str().into()).is_err()
            {
                bail!("`{key}`: `{prefix}` cannot start a git tag name (`{prefix}1.0.0` is no valid tag)");
            }
        }
        if self.targets.is_empty() {
            bail!("`targets` is empty: nothing to build");
        }
        let mut dirs = std::collections::HashSet::new();
        for c in &self.context {
            if c.dir.is_empty() || !dirs.insert(c.dir.as_str()) {
                bail!("context dir `{}` is empty or listed twice", c.dir);
            }
            let inside =
                Utf8Path::new(&c.dir).components().all(|part| matches!(part, camino::Utf8Component::Normal(_)));
            if !inside {
                bail!("context dir `{}` must be a path inside the workspace (relative, without `..` or `.`)", c.dir);
            }
            if c.platforms.is_empty() {
                bail!("context `{}` has no platforms", c.dir);
            }
            for p in &c.platforms {
                if !self.targets.iter().any(|t| &t.platform == p) {
                    let known: Vec<&str> = self.targets.iter().map(|t| t.platform.as_str()).collect();
                    bail!(
                        "context `{}` builds {p}, but no target in `targets` serves it (they serve {})",
                        c.dir,
                        known.join(", ")
                    );
                }
            }
            if !c.image_tag_prefix.chars().all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
                || c.image_tag_prefix.starts_with('.') // `-`: no value starts with it
                || c.image_tag_prefix.starts_with(STAGING_PREFIX) // the pipeline's own
                || c.image_tag_prefix.len() > 64
            {
                bail!("context `{}`: image-tag-prefix `{}` cannot start an image tag", c.dir, c.image_tag_prefix);
            }
        }
        self.validate_services()?;
        // Two contexts pushing to one image repository with the same prefix: the second would
        // overwrite the first's tags in the same run.
        let mut prefixes = std::collections::HashMap::new();
        for c in &self.context {
            let repository = self.repository_key(c);
            if let Some(first) = prefixes.insert((repository, c.image_tag_prefix.as_str()), c.dir.as_str()) {
                bail!(
                    "contexts `{first}` and `{}` push to the same image repository with the same image-tag-prefix `{}`: the second would overwrite the first's tags; give one of them its own prefix",
                    c.dir,
                    c.image_tag_prefix
                );
            }
        }
        let signing = &self.signing;
        for (key, var) in [
            ("registry-user-env", &self.registry_user_env),
            ("registry-password-env", &self.registry_password_env),
            ("signing.key-env", &signing.key_env),
            ("signing.password-env", &signing.password_env),
        ] {
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("`{key}`: `{var}` is not an environment variable name");
            }
        }
        self.validate_mirrors()?;
        if !self.publish.is_empty() && self.cargo_registry.is_empty() {
            bail!(
                "`publish` lists {} but `cargo-registry` is empty: name the registry as cargo's [registries] does",
                self.publish.join(", ")
            );
        }
        if !self.cargo_registry.is_empty()
            && !self.cargo_registry.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            bail!("cargo-registry `{}` is not a registry name", self.cargo_registry);
        }
        if signing.sign != SignPolicy::None && signing.public_key.is_empty() {
            bail!("`signing.public-key` is empty: `verify` needs the committed public key's path");
        }
        Ok(())
    }

    /// No value can become an option of the tools it is handed to (git, docker, skopeo, cosign,
    /// cargo): every string the configuration holds, at any depth, is refused when it starts
    /// with `-`, naming its key. Walked as serde sees the configuration, so no key is forgotten.
    fn no_value_is_an_option(&self) -> Result<()> {
        fn walk(key: &str, value: &serde_json::Value) -> Result<()> {
            match value {
                serde_json::Value::String(text) if text.starts_with('-') => Err(error::error_with_help(
                    format!("`{key}`: `{text}` starts with `-`"),
                    "a value starting with `-` would be read as an option by the tool it is handed to (git, docker, skopeo, cosign, cargo)",
                )),
                serde_json::Value::Array(items) => items.iter().try_for_each(|item| walk(key, item)),
                serde_json::Value::Object(fields) => fields.iter().try_for_each(|(k, v)| {
                    let key = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                    // The service's own arguments follow the image reference in `docker run`.
                    if key == "service.run.args" {
                        return Ok(());
                    }
                    walk(&key, v)
                }),
                _ => Ok(()),
            }
        }
        walk("", &serde_json::to_value(self).context("reading the configuration's values")?)
    }

    /// Every `mirrors` list (the top level's, each service's): a repository each, an
    /// environment variable name for each credential, no mirror twice nor the image itself. And
    /// one login per registry host across the whole configuration (every image, every mirror of
    /// every service, hosts compared as docker keeps their logins: `login_host`): a docker login
    /// is kept per host, so two repositories on one host cannot hold two credentials.
    fn validate_mirrors(&self) -> Result<()> {
        let login_host = crate::reference::login_host;
        let primary = (self.registry_user_env.as_str(), self.registry_password_env.as_str());
        // Host → (user variable, password variable) and the image that first named it.
        let mut logins: std::collections::HashMap<String, ((String, String), String)> =
            std::collections::HashMap::new();
        let mut claim = |image: &str, login: (&str, &str), key: &str| -> Result<()> {
            let host = login_host(image);
            match logins.get(&host) {
                Some((other, by)) if (other.0.as_str(), other.1.as_str()) != login => bail!(
                    "`{key}`: `{image}` is on {host}, which {by} logs into with {} / {} already: one registry host has one login; use the same variables",
                    other.0,
                    other.1
                ),
                Some(_) => Ok(()),
                None => {
                    logins.insert(host, ((login.0.to_owned(), login.1.to_owned()), format!("`{image}`")));
                    Ok(())
                }
            }
        };
        let images = std::iter::once(self.image.as_str())
            .chain(self.service.iter().filter_map(|s| s.image.as_deref()))
            .filter(|i| !i.is_empty());
        for image in images {
            claim(image, primary, "image")?;
        }
        // Each service's view: its image and the mirrors it has (its own, or the top level's).
        let views =
            std::iter::once(("mirrors", self.image.as_str(), &self.mirrors)).chain(self.service.iter().map(|s| {
                let key = if s.mirrors.is_some() { "service.mirrors" } else { "mirrors" };
                (key, s.image.as_deref().unwrap_or(&self.image), s.mirrors.as_ref().unwrap_or(&self.mirrors))
            }));
        for (key, image, mirrors) in views {
            for (i, mirror) in mirrors.iter().enumerate() {
                crate::reference::ImageRepository::parse(&mirror.image)
                    .map_err(|e| anyhow::anyhow!("`{key}`: `{}` is no image repository: {e}", mirror.image))?;
                for var in [&mirror.user_env, &mirror.password_env] {
                    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        bail!("`{key}` ({}): `{var}` is not an environment variable name", mirror.image);
                    }
                }
                // A repository's path is lowercase (`ImageRepository`); its host is compared as
                // docker keys its logins.
                let same = |a: &str, b: &str| login_host(a) == login_host(b) && path_of(a) == path_of(b);
                if same(&mirror.image, image) || mirrors[..i].iter().any(|m| same(&m.image, &mirror.image)) {
                    bail!("`{key}`: `{}` is listed twice (or is the image itself)", mirror.image);
                }
                claim(&mirror.image, (mirror.user_env.as_str(), mirror.password_env.as_str()), key)?;
            }
        }
        Ok(())
    }

    /// The `[[service]]` tables and the contexts' `service` keys, checked without reading the
    /// packages (`services.rs` checks those).
    fn validate_services(&self) -> Result<()> {
        let names: Vec<&str> = self.service.iter().map(ServiceConfig::name).collect();
        for (i, s) in self.service.iter().enumerate() {
            let name = s.name();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)) {
                bail!("`service.name`: `{name}` is not a service name (letters, digits, `-` and `_`)");
            }
            if s.package.is_empty() {
                bail!("`service.package` of service `{name}` is empty");
            }
            if s.run.as_ref().is_some_and(|run| run.port == 0) {
                bail!("`service.run.port` of service `{name}` is 0: the port the service listens on in its container");
            }
            if names[..i].contains(&name) {
                bail!("`service.name`: two services are named `{name}`; give one of them another `name`");
            }
            if let Some(publish) = &s.publish {
                if !publish.is_empty() && self.cargo_registry.is_empty() {
                    bail!("`service.publish` of service `{name}` lists crates but `cargo-registry` is empty");
                }
            }
        }
        // Each service publishes its crates with its own version: one crate, one service.
        let mut publishers: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
        let prefix =
            |s: &ServiceConfig| s.version_tag_prefix.clone().unwrap_or_else(|| self.version_tag_prefix.clone());
        // (One service alone never conflicts: a crate it lists twice it publishes once.)
        for s in &self.service {
            for krate in s.publish.as_ref().unwrap_or(&self.publish) {
                // Services sharing a prefix share their version: one of them publishes it.
                let shares_version =
                    |name: &str| self.service.iter().find(|o| o.name() == name).is_some_and(|o| prefix(o) == prefix(s));
                if let Some(other) = publishers.insert(krate, s.name()).filter(|other| !shares_version(other)) {
                    bail!(
                        "`service.publish`: services `{other}` and `{}` would both publish the crate `{krate}`, each with its own version; list it in one service's `publish` (the top-level `publish` is every service's default)",
                        s.name()
                    );
                }
            }
        }
        for c in &self.context {
            match (&c.service, names.as_slice()) {
                (Some(service), names) if !names.is_empty() && !names.contains(&service.as_str()) => bail!(
                    "context `{}`: `service = \"{service}\"` names no service (the services are {})",
                    c.dir,
                    names.join(", ")
                ),
                (None, names) if names.len() > 1 => bail!(
                    "context `{}` has no `service` key, and there are several services ({}): name the one whose packages it holds{}",
                    c.dir,
                    names.join(", "),
                    if self.context == Config::default().context {
                        " (no [[context]] table is configured, so these are the default contexts: several services need their own)"
                    } else {
                        ""
                    }
                ),
                _ => {}
            }
        }
        Ok(())
    }

    /// The `[[service]]` table a context belongs to (the only one, when there is one).
    pub fn service_of(&self, context: &ContextConfig) -> Option<&ServiceConfig> {
        match (&context.service, self.service.as_slice()) {
            (Some(name), services) => services.iter().find(|s| s.name() == name),
            (None, [only]) => Some(only),
            _ => None,
        }
    }

    /// What decides a context's image repository before the command line is read: its service's
    /// own `image`, else the top-level one, else (local mode) the service's name.
    fn repository_key<'a>(&'a self, context: &'a ContextConfig) -> &'a str {
        let service = self.service_of(context);
        match service.and_then(|s| s.image.as_deref()).filter(|i| !i.is_empty()) {
            Some(image) => image,
            None if !self.image.is_empty() => &self.image,
            None => service.map(ServiceConfig::name).or(context.service.as_deref()).unwrap_or(""),
        }
    }

    /// The configuration as one service sees it: its prefix, image, crates and contexts in place
    /// of the top-level ones. Every command on a service reads this view.
    pub fn for_service(&self, service: &ServiceConfig, only_one: bool) -> Config {
        let mut view = self.clone();
        if let Some(prefix) = &service.version_tag_prefix {
            view.version_tag_prefix = prefix.clone();
        }
        if let Some(image) = &service.image {
            view.image = image.clone();
        }
        if let Some(publish) = &service.publish {
            view.publish = publish.clone();
        }
        if let Some(mirrors) = &service.mirrors {
            view.mirrors = mirrors.clone();
        }
        view.context.retain(|c| c.service.as_deref().map_or(only_one, |s| s == service.name()));
        view.service = vec![service.clone()];
        view
    }

    /// The environment variables among `names` that hold a secret: the registry password, the
    /// signing key and its password (cosign's own `COSIGN_PASSWORD` too), cargo registry tokens.
    /// Nothing but the tool that needs one gets it (a build runs every build script).
    pub fn secret_vars<'a>(&self, names: &'a [String]) -> Vec<&'a str> {
        let named = [
            self.registry_password_env.as_str(),
            self.signing.key_env.as_str(),
            self.signing.password_env.as_str(),
            "COSIGN_PASSWORD",
        ];
        let mirrors = self.mirrors.iter().chain(self.service.iter().flat_map(|s| s.mirrors.iter().flatten()));
        let mirror_passwords: Vec<&str> = mirrors.map(|m| m.password_env.as_str()).collect();
        names
            .iter()
            .map(String::as_str)
            .filter(|n| {
                named.contains(n)
                    || mirror_passwords.contains(n)
                    || (n.starts_with("CARGO_REGISTRIES_") && n.ends_with("_TOKEN"))
            })
            .collect()
    }

    pub fn platform_of(&self, target: &str) -> Option<&Platform> {
        self.targets.iter().find(|t| t.target == target).map(|t| &t.platform)
    }
}

/// A repository's path below its registry host (`acme/service`), lowercase.
fn path_of(repository: &str) -> String {
    let host = crate::reference::registry_host(repository);
    repository.strip_prefix(host).map_or(repository, |p| p.trim_start_matches('/')).to_ascii_lowercase()
}

fn check_keys(item: &toml_edit::Item, known: &[&str], within: &str) -> Result<()> {
    let Some(table) = item.as_table_like() else {
        bail!("[{TABLE}] must be a table");
    };
    check_table_keys(table.iter().map(|(k, _)| k), known, within)
}

fn check_table_keys<'a>(keys: impl Iterator<Item = &'a str>, known: &[&str], within: &str) -> Result<()> {
    for key in keys {
        if !known.contains(&key) {
            let nearest = known.iter().min_by_key(|k| strsim::levenshtein(k, key)).copied().unwrap_or("");
            let place = if within.is_empty() { String::new() } else { format!(" in `{within}`") };
            return Err(error::error_with_help(
                format!("unknown key `{key}`{place}"),
                format!("the nearest known key is `{nearest}`; every key is listed in the README"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration contract (`docs/config.md`, a copy of `../shared/docs/config.md`): every
    /// key this code accepts is there, with this code's default. The contract also lists keys
    /// later issues add; those are the only keys it may have that the code refuses.
    #[test]
    fn the_contract_lists_every_key_with_its_default() {
        let contract = include_str!("../docs/config.md");
        let block = contract.split("```toml\n").nth(1).and_then(|b| b.split("```").next()).expect("a toml block");
        let mut doc: toml_edit::DocumentMut = block.parse().expect("the contract's TOML parses");
        let table = doc["workspace"]["metadata"]["release-pipeline"].as_table_mut().expect("the table");
        for key in KEYS {
            assert!(table.contains_key(key), "docs/config.md does not document `{key}`");
        }
        let later: Vec<String> =
            table.iter().map(|(k, _)| k.to_owned()).filter(|k| !KEYS.contains(&k.as_str())).collect();
        assert!(later.is_empty(), "keys the contract has that this code does not accept yet: {later:?}");
        // The contract's example service shows each default as a placeholder: the defaults are
        // no service table at all.
        let service = table.remove("service").expect("the contract shows a service");
        let service = service.as_array_of_tables().expect("[[service]]").get(0).expect("one service").clone();
        let mut keys: Vec<&str> = service.iter().map(|(k, _)| k).collect();
        keys.sort();
        let mut known = SERVICE_KEYS.to_vec();
        known.sort();
        assert_eq!(keys, known, "docs/config.md's [[service]] keys");
        let contexts = table.get_mut("context").and_then(|c| c.as_array_of_tables_mut()).expect("contexts");
        for context in contexts.iter_mut() {
            assert!(context.get("service").is_none(), "a documented default context has no service");
        }
        let manifest = format!("[workspace.metadata.release-pipeline]\n{table}");
        let documented =
            Config::parse(&manifest.replace("[context]", "[[workspace.metadata.release-pipeline.context]]"))
                .unwrap_or_else(|e| panic!("{e:#}\n{manifest}"));
        assert_eq!(documented, Config::default(), "docs/config.md's defaults are the code's");
    }

    /// `service.run`: typed, each bad value an error naming its key.
    #[test]
    fn run_settings_are_typed_and_checked() {
        let service = |run: &str| {
            Config::parse(&format!("[[workspace.metadata.release-pipeline.service]]\npackage = \"kv\"\nrun = {run}\n"))
        };
        let config = service("{ port = 6379, ready = \"tcp\", args = [\"--bind\", \"0.0.0.0\"] }").unwrap();
        let run = config.service[0].run.clone().unwrap();
        assert_eq!(run, RunConfig { port: 6379, ready: Readiness::Tcp, args: vec!["--bind".into(), "0.0.0.0".into()] });
        let run = service("{ ready = \"up:5\" }").unwrap().service[0].run.clone().unwrap();
        assert_eq!(run, RunConfig { ready: Readiness::Up { seconds: 5 }, ..RunConfig::default() });
        let run = service("{ ready = \"http:/ping?x=1\" }").unwrap().service[0].run.clone().unwrap();
        assert_eq!(run.ready, Readiness::Http { path: "/ping?x=1".into() });
        assert_eq!(run.ready.to_string(), "http:/ping?x=1");
        assert_eq!(RunConfig::default().ready.to_string(), "http:/health");
        for (run, error) in [
            ("{ ready = \"http:health\" }", "`service.run.ready`: `http:health` is no readiness check"),
            ("{ ready = \"http:/a b\" }", "`service.run.ready`: `http:/a b` is no readiness check"),
            ("{ ready = \"udp\" }", "`service.run.ready`: `udp` is no readiness check"),
            ("{ ready = \"up:0\" }", "`service.run.ready`: `up:0`: the seconds must be 1 to 600"),
            ("{ ready = \"up:forever\" }", "the seconds must be 1 to 600"),
            ("{ port = 0 }", "`service.run.port` of service `kv` is 0"),
            ("{ port = 70000 }", "70000"),
            ("{ prot = 1 }", "unknown key `prot` in `service.run`"),
            ("\"tcp\"", "`service.run` must be a table"),
        ] {
            let err = format!("{:#}", service(run).unwrap_err());
            assert!(err.contains(error), "{run}: {err}");
        }
    }

    #[test]
    fn no_table_gives_defaults() {
        assert_eq!(Config::parse("[package]\nname = 'x'\n").unwrap(), Config::default());
    }

    #[test]
    fn keys_are_read() {
        let c = Config::parse(
            r#"
[workspace.metadata.release-pipeline]
image = "127.0.0.1:5000/acme/service"
version-tag-prefix = "release-"
publish = ["service"]
cargo-registry = "local"
[[workspace.metadata.release-pipeline.context]]
dir = "docker"
platforms = ["linux/amd64"]
"#,
        )
        .unwrap();
        assert_eq!(c.image, "127.0.0.1:5000/acme/service");
        assert_eq!(c.version_tag_prefix, "release-");
        assert_eq!(c.context.len(), 1);
        assert_eq!(c.context[0].image_tag_prefix, "");
        assert_eq!(c.targets.len(), 3);
    }

    #[track_caller]
    fn check_err(toml: &str, expected: &str) {
        let err = Config::parse(&format!("[workspace.metadata.release-pipeline]\n{toml}")).unwrap_err();
        let text = format!("{err:#} {}", err.chain().map(|e| e.to_string()).collect::<Vec<_>>().join(" | "));
        assert!(text.contains(expected), "{text:?} does not contain {expected:?}");
    }

    /// Each rule of `validate` on both sides of its line (cargo-mutants' survivors).
    #[test]
    fn validation_edges() {
        let context = |prefix: &str| {
            format!("[[workspace.metadata.release-pipeline.context]]\ndir='d'\nplatforms=['linux/amd64']\nimage-tag-prefix='{prefix}'")
        };
        // `staging-` is the pipeline's own (a part's and a signed build's push, pruned by age).
        for bad in ["rpi/", ".rpi", &"p".repeat(65), "staging-", "staging-x-"] {
            check_err(&context(bad), "cannot start an image tag");
        }
        check_err(&context("-rpi"), "`context.image-tag-prefix`: `-rpi` starts with `-`");
        for good in ["rpi-", "r.p_i-", &"p".repeat(64), ""] {
            let manifest = format!("[workspace.metadata.release-pipeline]\n{}", context(good));
            assert!(Config::parse(&manifest).is_ok(), "{good}");
        }
        check_err("cargo-registry = 'my registry'", "is not a registry name");
        assert!(Config::parse("[workspace.metadata.release-pipeline]\ncargo-registry = 'my-registry_2'").is_ok());
        let config = Config::default();
        assert_eq!(config.platform_of("armv7-unknown-linux-gnueabihf").map(Platform::as_str), Some("linux/arm/v7"));
        assert_eq!(config.platform_of("x86_64-unknown-linux-musl").map(Platform::as_str), Some("linux/amd64"));
        assert_eq!(config.platform_of("riscv64gc-unknown-linux-gnu"), None);
    }

    /// `mirrors`: a repository each, variable names, no mirror twice nor the image itself, one
    /// login per registry host; a service's own list replaces the top level's.
    #[test]
    fn mirrors_are_checked() {
        let mirror =
            |image: &str, user: &str| format!("{{ image = '{image}', user-env = '{user}', password-env = 'P' }}");
        let with = |mirrors: &[String]| format!("image = 'reg.example/acme/s'\nmirrors = [{}]", mirrors.join(", "));
        check_err(&with(&[mirror("not a repository", "U")]), "`mirrors`: `not a repository` is no image repository");
        check_err(&with(&[mirror("m.example/a/s", "U S")]), "`U S` is not an environment variable name");
        check_err(&with(&[mirror("m.example/a/s", "U"), mirror("m.example/a/s", "U")]), "is listed twice");
        check_err(&with(&[mirror("reg.example/acme/s", "REGISTRY_USER")]), "is listed twice (or is the image itself)");
        check_err(&with(&[mirror("reg.example/public/s", "U")]), "one registry host has one login");
        check_err(
            &with(&[mirror("m.example/a/s", "U"), mirror("m.example/b/s", "V")]),
            "one registry host has one login",
        );
        check_err("mirrors = [{ image = 'm.example/a/s', user = 'U', password-env = 'P' }]", "unknown key `user`");
        let ok = format!(
            "[workspace.metadata.release-pipeline]\n{}\n[[workspace.metadata.release-pipeline.service]]\npackage = 'b'\nmirrors = []",
            with(&[mirror("m.example/a/s", "U"), mirror("m.example/b/s", "U")])
        );
        let config = Config::parse(&ok).unwrap();
        assert_eq!(config.mirrors.len(), 2);
        let service = config.service[0].clone();
        assert!(config.for_service(&service, true).mirrors.is_empty(), "a service's own list replaces the top level's");
        assert!(config.secret_vars(&["P".to_owned(), "U".to_owned()]) == ["P"], "a mirror's password is a secret");
        assert_eq!(crate::credentials::login_vars_for(&config, "m.example/b/s"), ("U", "P"));
        assert_eq!(
            crate::credentials::login_vars_for(&config, "reg.example/acme/s"),
            ("REGISTRY_USER", "REGISTRY_PASSWORD")
        );
    }

    /// One registry host has one login across the whole configuration (the red team's cases): a
    /// service whose image is on an inherited mirror's host, a service's own mirror on a host
    /// the top level's list logs into with other variables, the image under another spelling of
    /// its host, Docker Hub under two names.
    #[test]
    fn one_host_one_login_across_every_list() {
        let top = "image = 'reg.example/acme/a'\nmirrors = [{ image = 'm.example/acme/a', user-env = 'M_USER', password-env = 'M_PASSWORD' }]\n";
        let service = "[[workspace.metadata.release-pipeline.service]]\npackage = 'b'\n";
        check_err(&format!("{top}{service}image = 'm.example/acme/b'\n"), "one registry host has one login");
        check_err(
            &format!("{top}{service}image = 'reg.example/acme/b'\nmirrors = [{{ image = 'm.example/acme/b', user-env = 'B_USER', password-env = 'B_PASSWORD' }}]\n"),
            "one registry host has one login",
        );
        check_err(
            "image = 'reg.example/acme/a'\nmirrors = [{ image = 'REG.example/acme/a', user-env = 'REGISTRY_USER', password-env = 'REGISTRY_PASSWORD' }]",
            "is listed twice (or is the image itself)",
        );
        check_err(
            "image = 'acme/a'\nmirrors = [{ image = 'index.docker.io/acme/mirror', user-env = 'M_USER', password-env = 'M_PASSWORD' }]",
            "one registry host has one login",
        );
        // The same variables on one host are one login: accepted.
        let ok = format!("[workspace.metadata.release-pipeline]\n{top}{service}image = 'reg.example/acme/b'\nmirrors = [{{ image = 'm.example/acme/b', user-env = 'M_USER', password-env = 'M_PASSWORD' }}]\n");
        assert!(Config::parse(&ok).is_ok());
    }

    /// Every key set, optional ones included: what `no_value_can_be_an_option` walks.
    const EVERY_KEY: &str = r#"
[workspace.metadata.release-pipeline]
version-tag-prefix = "release-"
targets = [{ target = "x86_64-unknown-linux-musl", platform = "linux/amd64" }]
image = "registry.example/acme/service"
no-release-branches = ["main"]
release-repository = "acme/service"
registry-user-env = "USER_VAR"
registry-password-env = "PASSWORD_VAR"
mirrors = [{ image = "mirror.example/acme/service", user-env = "M_USER", password-env = "M_PASSWORD" }]
qemu-image = "tonistiigi/binfmt"
publish = ["service"]
cargo-registry = "local"
git-remote = "origin"
[[workspace.metadata.release-pipeline.context]]
dir = "docker"
platforms = ["linux/amd64"]
image-tag-prefix = "x-"
service = "service"
[[workspace.metadata.release-pipeline.service]]
name = "service"
package = "service-pkg"
bin = "service"
version-tag-prefix = "service-"
image = "registry.example/acme/other"
publish = ["service"]
mirrors = [{ image = "mirror.example/acme/other", user-env = "M_USER", password-env = "M_PASSWORD" }]
dev-release = "changed"
run = { port = 6379, ready = "tcp", args = ["--bind", "0.0.0.0"] }
[workspace.metadata.release-pipeline.signing]
sign = "releases"
key-env = "KEY"
password-env = "PASSWORD"
public-key = "cosign.pub"
"#;

    /// Every string the configuration holds, at any depth ([[service]] keys
    /// too), is refused when it starts with `-`, naming its key: no value becomes an option of
    /// git, docker, skopeo, cosign or cargo.
    #[test]
    fn no_value_can_be_an_option() {
        let config = Config::parse(EVERY_KEY).unwrap();
        // (JSON pointer, key) of every string, from the configuration as serde sees it.
        fn strings(value: &serde_json::Value, pointer: &str, key: &str, out: &mut Vec<(String, String)>) {
            match value {
                serde_json::Value::String(_) => out.push((pointer.to_owned(), key.to_owned())),
                serde_json::Value::Array(items) => {
                    assert!(!items.is_empty(), "`{key}` is empty in EVERY_KEY: set it");
                    for (i, item) in items.iter().enumerate() {
                        strings(item, &format!("{pointer}/{i}"), key, out);
                    }
                }
                serde_json::Value::Object(fields) => {
                    for (k, v) in fields {
                        let key = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                        strings(v, &format!("{pointer}/{k}"), &key, out);
                    }
                }
                serde_json::Value::Null => panic!("`{key}` is not set in EVERY_KEY: set it"),
                _ => {}
            }
        }
        let value = serde_json::to_value(&config).unwrap();
        let mut found = Vec::new();
        strings(&value, "", "", &mut found);
        // Values of a type that holds no `-…` (an enum, a platform) are refused by their type.
        let typed = [
            "targets.target",
            "targets.platform",
            "context.platforms",
            "service.dev-release",
            "service.run.ready",
            "signing.sign",
        ];
        let mut checked = Vec::new();
        for (pointer, key) in &found {
            let mut bad = value.clone();
            *bad.pointer_mut(pointer).unwrap() = "--upload-pack=touch x".into();
            let parsed: Result<Config, _> = serde_json::from_value(bad);
            if typed.contains(&key.as_str()) {
                assert!(parsed.is_err(), "`{key}` holds `--upload-pack=touch x`");
                continue;
            }
            if key == "service.run.args" {
                // The service's own arguments, after the image reference: `-` is theirs.
                parsed.unwrap().validate().unwrap();
                continue;
            }
            let err = parsed.unwrap().validate().expect_err(key);
            let text = format!("{err:#}");
            assert!(text.contains(&format!("`{key}`: `--upload-pack=touch x` starts with `-`")), "{key}: {text}");
            checked.push(key.as_str());
        }
        checked.sort();
        checked.dedup();
        assert_eq!(
            checked,
            [
                "cargo-registry",
                "context.dir",
                "context.image-tag-prefix",
                "context.service",
                "git-remote",
                "image",
                "mirrors.image",
                "mirrors.password-env",
                "mirrors.user-env",
                "no-release-branches",
                "publish",
                "qemu-image",
                "registry-password-env",
                "registry-user-env",
                "release-repository",
                "service.bin",
                "service.image",
                "service.mirrors.image",
                "service.mirrors.password-env",
                "service.mirrors.user-env",
                "service.name",
                "service.package",
                "service.publish",
                "service.version-tag-prefix",
                "signing.key-env",
                "signing.password-env",
                "signing.public-key",
                "version-tag-prefix",
            ]
        );
    }

    /// A version tag prefix is the start of a git tag name, top level and per
    /// service.
    #[test]
    fn version_tag_prefixes_start_a_tag_name() {
        for bad in [
            "../", "..", "a..b-", "/v", "a//", "a/.b", "x.lock/", "a b", "a~", "a^", "a:", "a?", "a*", "a[", "@{",
            "a\\",
        ] {
            check_err(&format!("version-tag-prefix = '{bad}'"), "`version-tag-prefix`: `");
            let service =
                format!("[[workspace.metadata.release-pipeline.service]]\npackage = 'x'\nversion-tag-prefix = '{bad}'");
            check_err(&service, "`service.version-tag-prefix`: `");
        }
        for good in ["", "v", "release-", "service/", "mypkg-v", "a.b_c/d-"] {
            let parsed =
                Config::parse(&format!("[workspace.metadata.release-pipeline]\nversion-tag-prefix = '{good}'"));
            assert!(parsed.is_ok(), "{good}: {parsed:?}");
        }
    }

    #[test]
    fn signing_is_read_and_checked() {
        let c = Config::parse(
            "[workspace.metadata.release-pipeline.signing]\nsign = 'releases'\nkey-env = 'KEY'\npublic-key = 'keys/cosign.pub'",
        )
        .unwrap();
        assert_eq!(c.signing.sign, SignPolicy::Releases);
        assert_eq!((c.signing.key_env.as_str(), c.signing.password_env.as_str()), ("KEY", "COSIGN_PASSWORD"));
        assert_eq!(c.signing.public_key, "keys/cosign.pub");
        check_err("[workspace.metadata.release-pipeline.signing]\nsign = 'sometimes'", "unknown variant `sometimes`");
        check_err("[workspace.metadata.release-pipeline.signing]\nkey = 'X'", "unknown key `key` in `signing`");
        check_err(
            "[workspace.metadata.release-pipeline.signing]\npassword-env = 'A-B'",
            "not an environment variable name",
        );
        check_err(
            "[workspace.metadata.release-pipeline.signing]\nsign = 'all'\npublic-key = ''",
            "`signing.public-key` is empty",
        );
    }

    #[test]
    fn secrets_are_named_once_for_every_child() {
        let names: Vec<String> = [
            "PATH",
            "REGISTRY_PASSWORD",
            "REGISTRY_USER",
            "COSIGN_PRIVATE_KEY",
            "COSIGN_PASSWORD",
            "CARGO_REGISTRIES_LOCAL_TOKEN",
            "CARGO_REGISTRIES_LOCAL_INDEX",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            Config::default().secret_vars(&names),
            ["REGISTRY_PASSWORD", "COSIGN_PRIVATE_KEY", "COSIGN_PASSWORD", "CARGO_REGISTRIES_LOCAL_TOKEN"]
        );
    }

    #[test]
    fn services_are_read_and_checked() {
        let service = |name: &str, package: &str| {
            format!("[[workspace.metadata.release-pipeline.service]]\nname = '{name}'\npackage = '{package}'\n")
        };
        let context = |dir: &str, service: Option<&str>, prefix: &str| {
            format!(
                "[[workspace.metadata.release-pipeline.context]]\ndir = '{dir}'\nplatforms = ['linux/amd64']\nimage-tag-prefix = '{prefix}'\n{}",
                service.map(|s| format!("service = '{s}'\n")).unwrap_or_default()
            )
        };
        let two = service("alpha", "alpha") + &service("beta", "beta-pkg");
        let parsed = |toml: &str| Config::parse(&format!("[workspace.metadata.release-pipeline]\n{toml}"));
        let c = parsed(&(two.clone() + &context("a", Some("alpha"), "") + &context("b", Some("beta"), ""))).unwrap();
        assert_eq!(c.service.iter().map(ServiceConfig::name).collect::<Vec<_>>(), ["alpha", "beta"]);
        assert_eq!(c.service[1].dev_release, DevReleasePolicy::Always);
        let beta = c.for_service(&c.service[1], false);
        assert_eq!(beta.context.iter().map(|c| c.dir.as_str()).collect::<Vec<_>>(), ["b"]);
        // Local mode: two services' images are named after each, so one prefix is no conflict;
        // with the one top-level image it is.
        let shared = "image = 'r.example/acme/x'\n".to_owned()
            + &two
            + &context("a", Some("alpha"), "")
            + &context("b", Some("beta"), "");
        check_err(&shared, "same image-tag-prefix");
        check_err(&(two.clone() + &context("a", Some("gamma"), "")), "`service = \"gamma\"` names no service");
        check_err(&(two.clone() + &context("a", None, "")), "context `a` has no `service` key");
        check_err(&(service("alpha", "alpha") + &service("alpha", "other")), "two services are named `alpha`");
        let contexts = context("a", Some("alpha"), "") + &context("b", Some("beta"), "");
        // Services sharing a prefix share their version: the same crate from both is one publish.
        let common = "publish = ['common']\ncargo-registry = 'local'\n".to_owned() + &two;
        assert!(parsed(&(common.clone() + &contexts)).is_ok());
        let shared_crate =
            common.replace("package = 'beta-pkg'\n", "package = 'beta-pkg'\nversion-tag-prefix = 'beta-'\n");
        check_err(&shared_crate, "services `alpha` and `beta` would both publish the crate `common`");
        let own = shared_crate.replace("package = 'beta-pkg'\n", "package = 'beta-pkg'\npublish = []\n");
        assert!(parsed(&(own + &contexts)).is_ok());
        check_err("[[workspace.metadata.release-pipeline.service]]\nname = 'x'", "missing field `package`");
        check_err(
            "[[workspace.metadata.release-pipeline.service]]\npackage = 'x'\nbinary = 'y'",
            "unknown key `binary` in `service`",
        );
        check_err(
            "[[workspace.metadata.release-pipeline.service]]\npackage = 'x'\ndev-release = 'sometimes'",
            "unknown variant `sometimes`",
        );
        // One service: contexts without `service` are its own.
        let one = parsed(&(service("alpha", "alpha") + &context("a", None, ""))).unwrap();
        assert_eq!(one.for_service(&one.service[0], true).context.len(), 1);
    }

    /// The manifest of `toml` (the table's keys and sub-tables), as `check_err` reads it.
    fn parsed(toml: &str) -> Result<Config> {
        Config::parse(&format!("[workspace.metadata.release-pipeline]\n{toml}"))
    }

    /// A `[[service]]` table: its name (none: the package's), package and further lines.
    fn service_table(name: Option<&str>, package: &str, rest: &str) -> String {
        let name = name.map(|n| format!("name = '{n}'\n")).unwrap_or_default();
        format!("[[workspace.metadata.release-pipeline.service]]\n{name}package = '{package}'\n{rest}")
    }

    /// A one-platform context pushing with its own prefix, of `service` when given.
    fn context_table(dir: &str, service: Option<&str>) -> String {
        let service = service.map(|s| format!("service = '{s}'\n")).unwrap_or_default();
        format!(
            "[[workspace.metadata.release-pipeline.context]]\ndir = '{dir}'\nplatforms = ['linux/amd64']\nimage-tag-prefix = '{dir}-'\n{service}"
        )
    }

    /// `validate_services`, rule by rule, each on both sides of its line: `Ok(())` where the
    /// configuration is accepted, else a piece of the error.
    #[test]
    fn service_rules() {
        #[track_caller]
        fn check(toml: &str, expected: Result<(), &str>) {
            match (parsed(toml), expected) {
                (Ok(_), Ok(())) => {}
                (Err(_), Err(piece)) => check_err(toml, piece),
                (got, expected) => panic!("{expected:?} expected, got {got:?}\n{toml}"),
            }
        }
        let one = |name: Option<&str>, package: &str| service_table(name, package, "") + &context_table("d", None);
        // A name: letters, digits, `-` and `_`, never empty; the package's when not given.
        for good in ["alpha", "Alpha-2", "a_b", "a-", "_", "9"] {
            check(&one(Some(good), "p"), Ok(()));
        }
        check(&one(None, "pkg_1"), Ok(()));
        for bad in ["", "a b", "a.b", "a/b", "é", "a:b"] {
            check(&one(Some(bad), "p"), Err("is not a service name (letters, digits, `-` and `_`)"));
        }
        check(&one(None, "a.b"), Err("`service.name`: `a.b` is not a service name"));
        // A package, never empty.
        check(&one(Some("alpha"), ""), Err("`service.package` of service `alpha` is empty"));
        // Names are unique, given or taken from the package.
        let two = |a: &str, b: &str| {
            a.to_owned() + b + &context_table("a", Some("alpha")) + &context_table("b", Some("beta"))
        };
        check(&two(&service_table(Some("alpha"), "p", ""), &service_table(Some("beta"), "p", "")), Ok(()));
        check(
            &(service_table(Some("alpha"), "p", "") + &service_table(Some("alpha"), "q", "")),
            Err("two services are named `alpha`"),
        );
        check(
            &(service_table(None, "alpha", "") + &service_table(None, "alpha", "")),
            Err("two services are named `alpha`"),
        );
        check(
            &(service_table(None, "alpha", "") + &service_table(Some("alpha"), "other", "")),
            Err("two services are named `alpha`"),
        );
        // A service's own `publish` needs a cargo registry, unless it lists nothing.
        check(
            &(service_table(Some("alpha"), "p", "publish = ['alpha']\n") + &context_table("d", None)),
            Err("`service.publish` of service `alpha` lists crates but `cargo-registry` is empty"),
        );
        check(&(service_table(Some("alpha"), "p", "publish = []\n") + &context_table("d", None)), Ok(()));
        check(
            &("cargo-registry = 'local'\n".to_owned()
                + &service_table(Some("alpha"), "p", "publish = ['alpha']\n")
                + &context_table("d", None)),
            Ok(()),
        );
        // One crate, one service: two services publish a crate only when they share a version.
        let publishing = |top: &str, alpha: &str, beta: &str| {
            format!("cargo-registry = 'local'\n{top}")
                + &two(&service_table(Some("alpha"), "a", alpha), &service_table(Some("beta"), "b", beta))
        };
        let both = "services `alpha` and `beta` would both publish the crate `common`";
        check(&publishing("", "publish = ['common']\n", "publish = ['common']\n"), Ok(()));
        check(
            &publishing("", "publish = ['common']\n", "publish = ['common']\nversion-tag-prefix = 'b-'\n"),
            Err(both),
        );
        check(
            &publishing("", "publish = ['common']\nversion-tag-prefix = 'a-'\n", "publish = ['common']\n"),
            Err(both),
        );
        check(
            &publishing(
                "",
                "publish = ['common']\nversion-tag-prefix = 'x-'\n",
                "publish = ['common']\nversion-tag-prefix = 'x-'\n",
            ),
            Ok(()),
        );
        check(&publishing("", "publish = ['a']\n", "publish = ['b']\nversion-tag-prefix = 'b-'\n"), Ok(()));
        check(&publishing("publish = ['common']\n", "", "version-tag-prefix = 'b-'\n"), Err(both));
        check(&publishing("publish = ['common']\n", "", "version-tag-prefix = 'b-'\npublish = []\n"), Ok(()));
        // One service may list a crate twice: it publishes it once.
        check(
            &("cargo-registry = 'local'\n".to_owned()
                + &service_table(Some("alpha"), "p", "publish = ['x', 'x']\n")
                + &context_table("d", None)),
            Ok(()),
        );
        // A third service with its own prefix is told apart from both that share one.
        let three = "cargo-registry = 'local'\npublish = ['common']\n".to_owned()
            + &service_table(Some("alpha"), "a", "")
            + &service_table(Some("beta"), "b", "")
            + &service_table(Some("gamma"), "c", "version-tag-prefix = 'g-'\n")
            + &context_table("a", Some("alpha"))
            + &context_table("b", Some("beta"))
            + &context_table("c", Some("gamma"));
        check(&three, Err("services `beta` and `gamma` would both publish the crate `common`"));
        // Two contexts with one prefix need two image repositories: a service's own `image`, else
        // the top-level one, else (local mode) the service's name.
        let same_prefix = |top: &str, alpha: &str, beta: &str| {
            let context = |dir: &str, service: &str| {
                format!("[[workspace.metadata.release-pipeline.context]]\ndir = '{dir}'\nplatforms = ['linux/amd64']\nservice = '{service}'\n")
            };
            top.to_owned()
                + &service_table(Some("alpha"), "a", alpha)
                + &service_table(Some("beta"), "b", beta)
                + &context("a", "alpha")
                + &context("b", "beta")
        };
        let same = "push to the same image repository with the same image-tag-prefix";
        check(&same_prefix("", "", ""), Ok(()));
        check(&same_prefix("image = 'r.example/x'\n", "", ""), Err(same));
        check(&same_prefix("image = 'r.example/x'\n", "image = 'r.example/a'\n", "image = 'r.example/b'\n"), Ok(()));
        check(&same_prefix("image = 'r.example/x'\n", "image = ''\n", "image = ''\n"), Err(same));
        check(&same_prefix("", "image = 'r.example/a'\n", "image = 'r.example/a'\n"), Err(same));
        // A context's `service` names one of the services; with none configured, the workspace's
        // one binary package is the service and `services.rs` checks the name.
        check(&two(&service_table(Some("alpha"), "p", ""), &service_table(Some("beta"), "q", "")), Ok(()));
        check(
            &(service_table(Some("alpha"), "p", "") + &context_table("d", Some("gamma"))),
            Err("context `d`: `service = \"gamma\"` names no service (the services are alpha)"),
        );
        check(&context_table("d", Some("anything")), Ok(()));
        // Without `service`, a context is the one service's; with several, it must say whose.
        check(&(service_table(Some("alpha"), "p", "") + &context_table("d", None)), Ok(()));
        let unnamed = service_table(Some("alpha"), "p", "")
            + &service_table(Some("beta"), "q", "")
            + &context_table("a", Some("alpha"))
            + &context_table("b", None);
        check(&unnamed, Err("context `b` has no `service` key, and there are several services (alpha, beta): name the one whose packages it holds"));
        assert!(!format!("{:#}", parsed(&unnamed).unwrap_err()).contains("default contexts"));
        check(
            &(service_table(Some("alpha"), "p", "") + &service_table(Some("beta"), "q", "")),
            Err("context `docker` has no `service` key, and there are several services (alpha, beta): name the one whose packages it holds (no [[context]] table is configured, so these are the default contexts: several services need their own)"),
        );
    }

    /// `service_of`: a context's service is the one its `service` key names, else the only one.
    #[test]
    fn a_contexts_service() {
        #[track_caller]
        fn check(services: &[&str], named: Option<&str>, expected: Option<&str>) {
            let service = |name: &&str| ServiceConfig {
                name: Some((*name).to_owned()),
                package: format!("{name}-pkg"),
                bin: None,
                version_tag_prefix: None,
                image: None,
                publish: None,
                mirrors: None,
                dev_release: DevReleasePolicy::Always,
                run: None,
            };
            let config = Config { service: services.iter().map(service).collect(), ..Config::default() };
            let context = ContextConfig { service: named.map(str::to_owned), ..config.context[0].clone() };
            let found = config.service_of(&context).map(|s| s.package.as_str());
            assert_eq!(found, expected.map(|name| format!("{name}-pkg")).as_deref());
        }
        check(&["alpha", "beta"], Some("beta"), Some("beta"));
        check(&["alpha", "beta"], Some("alpha"), Some("alpha"));
        check(&["alpha", "beta"], Some("gamma"), None);
        check(&["alpha"], Some("gamma"), None);
        check(&[], Some("alpha"), None);
        check(&["alpha"], None, Some("alpha"));
        check(&["alpha", "beta"], None, None);
        check(&[], None, None);
    }

    #[test]
    fn bad_config_is_named() {
        check_err("imag = 'x'", "unknown key `imag`");
        check_err("imag = 'x'", "nearest known key is `image`");
        check_err(
            "[[workspace.metadata.release-pipeline.context]]\ndir='d'\nplatform=['linux/amd64']",
            "unknown key `platform` in `context`",
        );
        check_err("targets = [{ target = 'x', platfrom = 'linux/amd64' }]", "unknown key `platfrom` in `targets`");
        check_err("image = 3", "invalid type");
        check_err("targets = []", "nothing to build");
        check_err("[[workspace.metadata.release-pipeline.context]]\ndir='d'\nplatforms=['linux/s390x']", "no target");
        check_err("registry-user-env = 'A B'", "not an environment variable name");
        check_err("publish = ['service']", "`cargo-registry` is empty");
        let ctx = |dir: &str, prefix: &str| {
            format!("[[workspace.metadata.release-pipeline.context]]\ndir='{dir}'\nplatforms=['linux/amd64']\nimage-tag-prefix='{prefix}'\n")
        };
        check_err(&(ctx("a", "") + &ctx("b", "")), "push to the same image repository with the same image-tag-prefix");
        check_err(&(ctx("a", "x-") + &ctx("a", "y-")), "listed twice");
        for outside in ["../other-project", "/", "/srv/docker", "a/../../b", ".", "./docker"] {
            check_err(&ctx(outside, ""), "must be a path inside the workspace");
        }
    }
}
