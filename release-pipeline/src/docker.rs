//! The Docker side: the CLI, the daemon, buildx, logins and registry reads, through `xshell`.
//! Knows how to run things, never what to run: the command lines come from the plan's steps
//! (`plan/steps.rs`), and `execute.rs` follows them.
use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use serde::Deserialize;
use std::sync::Mutex;
use xshell::cmd;

use crate::{
    checks, error,
    exec::Exec,
    failure::{self, Failure},
    ui,
};
use release_pipeline_plan::{
    plan::{registry::HeldTag, steps, RemoteImage},
    platform::Platform,
    reference::{Digest, ImageRef},
};

/// A docker CLI for this run. With credentials from the environment it has its own temporary
/// `DOCKER_CONFIG` (removed on drop), so no password is left on disk; the user's buildx
/// builders, plugins and contexts stay reachable.
pub(crate) struct Docker {
    /// How its commands run (the workspace's).
    pub(crate) exec: Exec,
    envs: Vec<(String, String)>,
    /// The config.json holding this run's login, for skopeo's `--authfile`.
    authfile: Option<Utf8PathBuf>,
    _temp: Option<crate::interrupt::SecretDir>,
    containerd_store: bool,
    /// The labels this run has read, by manifest digest: a manifest's config never changes, so
    /// a second read of the registry (`prune --apply`'s fresh one) reads only the manifests.
    labels: Labels,
}

/// The image label naming the branch of a dev build.
pub(crate) use release_pipeline_plan::plan::steps::BRANCH_LABEL;

impl Docker {
    /// Checks the CLI, the daemon and buildx (`checks.rs`); each missing piece is one clear error.
    pub(crate) fn connect(exec: &Exec) -> Result<Docker> {
        checks::docker_cli().map_err(checks::Problem::into_error)?;
        let mut docker = Docker {
            exec: exec.clone(),
            envs: Vec::new(),
            authfile: None,
            _temp: None,
            containerd_store: false,
            labels: Labels::default(),
        };
        let info = docker.exec.output(docker.cmd(&checks::DOCKER_INFO))?;
        docker.containerd_store = checks::docker_daemon(&info).map_err(checks::Problem::into_error)?;
        let version = docker.exec.output(docker.cmd(&["buildx", "version"]))?;
        checks::buildx(&version).map_err(checks::Problem::into_error)?;
        Ok(docker)
    }

    /// A CLI whose commands only `exec` sees (a test's recording runner): nothing is checked.
    #[cfg(test)]
    pub(crate) fn offline(exec: &Exec) -> Docker {
        Docker {
            exec: exec.clone(),
            envs: Vec::new(),
            authfile: None,
            _temp: None,
            containerd_store: true,
            labels: Labels::default(),
        }
    }

    /// Whether buildx knows the builder `name` (an unknown one is refused before `dist`).
    pub(crate) fn check_builder(&self, name: &str) -> Result<(), String> {
        // buildx refuses a docker context as a builder ("use `docker --context=…`"): say how to
        // reach that engine instead.
        let is_context =
            self.exec.silent(self.cmd(&["context", "inspect", name])).is_ok_and(|out| out.status.success());
        let current = self
            .exec
            .silent(self.cmd(&["context", "show"]))
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default();
        match self.exec.output(self.cmd(&["buildx", "inspect", name])) {
            Ok(_) if is_context && name != current => Err(format!(
                "--builder {name}: `{name}` is a docker context, and buildx's docker driver builds only on the engine of the current context: run with DOCKER_CONTEXT={name} instead (a part on another engine: DOCKER_CONTEXT={name} cargo xtask release --part TARGET)"
            )),
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "--builder {name}: buildx does not know that builder ({}); `docker buildx ls` lists the builders",
                String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("no message")
            )),
            Err(e) => Err(format!("--builder {name}: {e:#}")),
        }
    }

    /// `docker ARGS…` with this run's environment.
    pub(crate) fn cmd(&self, args: &[&str]) -> xshell::Cmd<'_> {
        let mut c = cmd!(self.exec.sh, "docker {args...}");
        for (k, v) in &self.envs {
            c = c.env(k, v);
        }
        c
    }

    /// This run's environment for the tools it starts (its private DOCKER_CONFIG, if any).
    pub(crate) fn envs(&self) -> &[(String, String)] {
        &self.envs
    }

    /// Any program (skopeo) with this run's environment.
    pub(crate) fn tool(&self, program: &str, args: &[String]) -> xshell::Cmd<'_> {
        let mut c = cmd!(self.exec.sh, "{program} {args...}");
        for (k, v) in &self.envs {
            c = c.env(k, v);
        }
        c
    }

    /// Whether the engine stores images in containerd (which holds multi-platform images).
    pub(crate) fn has_containerd_store(&self) -> bool {
        self.containerd_store
    }

    /// A temporary DOCKER_CONFIG with the user's settings but no credentials, for this run's
    /// logins.
    fn private_config(&mut self) -> Result<()> {
        // The login lands here: readable by this user only, removed however the run ends.
        let temp =
            crate::interrupt::SecretDir::create("docker-config").context("creating a temporary DOCKER_CONFIG")?;
        let dir = Utf8PathBuf::try_from(temp.path().to_path_buf())?;
        let user_dir = user_docker_config_dir();
        // Keep the user's settings but no credential store: this login must land in the temp dir.
        let mut config: serde_json::Value = std::fs::read_to_string(user_dir.join("config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        if let Some(obj) = config.as_object_mut() {
            for key in ["auths", "credsStore", "credHelpers"] {
                obj.remove(key);
            }
        }
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config)?)?;
        std::fs::set_permissions(dir.join("config.json"), std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        for shared in ["contexts", "cli-plugins"] {
            if user_dir.join(shared).exists() {
                std::os::unix::fs::symlink(user_dir.join(shared), dir.join(shared))
                    .with_context(|| format!("linking the user's docker {shared}"))?;
            }
        }
        self.envs.push(("DOCKER_CONFIG".to_owned(), dir.to_string()));
        // buildx keeps its builders under DOCKER_CONFIG; point it at the user's.
        let buildx = std::env::var("BUILDX_CONFIG").unwrap_or_else(|_| user_dir.join("buildx").to_string());
        self.envs.push(("BUILDX_CONFIG".to_owned(), buildx));
        self.authfile = Some(dir.join("config.json"));
        self._temp = Some(temp);
        Ok(())
    }

    /// Logs in to `host` with a password given on stdin, into a temporary DOCKER_CONFIG.
    pub(crate) fn login(&mut self, host: &str, user: &str, password: &str) -> Result<()> {
        ui::add_secret(password);
        if self._temp.is_none() {
            self.private_config()?;
        }
        let out = self.exec.retrying(&format!("logging in to {host}"), || {
            self.cmd(&["login", host, "--username", user, "--password-stdin"]).stdin(password)
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if failure::classify(&stderr) == Failure::Refused {
                return Err(error::error_with_help(
                    format!(
                        "the registry {host} refused the login of user {user}: {}",
                        ui::mask(stderr.trim().lines().last().unwrap_or(""))
                    ),
                    "check the registry credentials in the environment",
                ));
            }
            return Err(registry_error(host, &stderr).context(format!("logging in to {host}")));
        }
        Ok(())
    }

    /// The docker config skopeo reads logins from: this run's, or the user's.
    pub(crate) fn authfile(&self) -> Option<Utf8PathBuf> {
        self.authfile.clone().or_else(|| Some(user_docker_config_dir().join("config.json")).filter(|f| f.exists()))
    }

    /// Runs a step's command line (`docker …` or `skopeo …`) with this run's environment.
    pub(crate) fn argv(&self, argv: &[String]) -> xshell::Cmd<'_> {
        let (program, args) = argv.split_first().expect("a command line has a program");
        self.tool(program, args)
    }

    /// Points `repository:to` at `digest`, as it is (skopeo, digest kept).
    pub(crate) fn copy_digest(&self, repository: &str, digest: &Digest, to: &str) -> Result<()> {
        let argv = steps::copy_digest_argv(self.authfile().as_deref(), repository, digest.as_str(), to);
        self.copy(repository, &argv, &format!("pointing {repository}:{to} at {digest}"))
    }

    /// Runs a copy's command line (`argv`: skopeo), retried like every registry write.
    pub(crate) fn copy(&self, repository: &str, argv: &[String], what: &str) -> Result<()> {
        let out = self.exec.retrying(what, || self.argv(argv))?;
        if !out.status.success() {
            return Err(tool_error(registry_host(repository), what, &out));
        }
        Ok(())
    }

    /// Every tag of `repository` (none when the repository does not exist yet).
    pub(crate) fn list_tags(&self, repository: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct TagList {
            #[serde(rename = "Tags", default)]
            tags: Vec<String>,
        }
        let host = registry_host(repository);
        let mut argv = vec!["skopeo".to_owned(), "list-tags".to_owned()];
        argv.extend(steps::skopeo_options(self.authfile().as_deref(), repository, &["--tls-verify"]));
        argv.push(format!("docker://{repository}"));
        let what = format!("listing the tags of {repository}");
        let out = self.exec.retrying(&what, || self.argv(&argv))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if failure::classify(&stderr) == Failure::NotFound {
                return Ok(Vec::new());
            }
            return Err(registry_error(host, &stderr)).context(what);
        }
        let list: TagList = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("parsing skopeo's tag list of {repository}"))?;
        Ok(list.tags)
    }

    /// The tags of `repository` that `read` picks, each with its digest and manifests, and with
    /// `TagRead::Labels` its labels: one or two `skopeo inspect --raw` per tag (a third of an
    /// `imagetools inspect`'s cost; a config read once per manifest), [`READERS`] at a time, in
    /// the listing's order.
    pub(crate) fn held_tags(&self, repository: &str, read: impl Fn(&str) -> Option<TagRead>) -> Result<Vec<HeldTag>> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let names: Vec<(String, TagRead)> =
            self.list_tags(repository)?.into_iter().filter_map(|t| read(&t).map(|r| (t, r))).collect();
        let results: Mutex<Vec<Option<Result<Option<HeldTag>>>>> = Mutex::new(names.iter().map(|_| None).collect());
        let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
        let labels = &self.labels;
        let (authfile, envs) = (self.authfile(), self.envs.as_slice());
        let authfile = authfile.as_deref();
        let store = |i: usize, tag| results.lock().expect("no reader panics")[i] = Some(tag);
        // A shell per reader: a `Shell` is not shared between threads.
        let execs = (0..READERS.min(names.len())).map(|_| self.exec.clone());
        std::thread::scope(|scope| {
            for exec in execs {
                let (names, next, failed, store) = (&names, &next, &failed, &store);
                scope.spawn(move || {
                    let reader = TagReader { exec: &exec, envs, authfile, labels };
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((name, read)) = names.get(i) else { break };
                        let tag = reader.held_tag(repository, name, *read);
                        failed.fetch_or(tag.is_err(), Ordering::Relaxed);
                        store(i, tag);
                    }
                });
            }
        });
        let mut held = Vec::new();
        for tag in results.into_inner().expect("no reader panics").into_iter().flatten() {
            // A tag deleted between the list and the read is simply not held.
            held.extend(tag?);
        }
        Ok(held)
    }

    /// One tag of `repository` with its digest, manifests and labels; `None` when it is not there.
    pub(crate) fn held_tag(&self, repository: &str, name: &str) -> Result<Option<HeldTag>> {
        let authfile = self.authfile();
        let reader =
            TagReader { exec: &self.exec, envs: &self.envs, authfile: authfile.as_deref(), labels: &self.labels };
        reader.held_tag(repository, name, TagRead::Labels)
    }

    /// The image at `reference`, or `None` when the tag does not exist. One registry read:
    /// `{{json .}}` holds both the manifest and the image config(s).
    pub(crate) fn inspect(&self, reference: &str) -> Result<Option<RemoteImage>> {
        self.inspect_with(&steps::inspect_argv(reference), reference)
    }

    /// [`Docker::inspect`] with a step's own command line (`argv`, an `inspect_argv` of
    /// `reference`): what the plan shows is what runs.
    pub(crate) fn inspect_with(&self, argv: &[String], reference: &str) -> Result<Option<RemoteImage>> {
        let out = self.exec.retrying(&format!("reading {reference}"), || self.argv(argv))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if failure::classify(&stderr) == Failure::NotFound {
                return Ok(None);
            }
            return Err(registry_error(registry_host(reference), &stderr).context(format!("reading {reference}")));
        }
        let what = || format!("parsing what the registry says of {reference}");
        let inspected: Inspected = serde_json::from_slice(&out.stdout).with_context(what)?;
        Ok(Some(inspected.into_remote().map_err(anyhow::Error::msg).with_context(what)?))
    }
}

/// How many registry reads [`Docker::held_tags`] runs at once: each is a process that mostly
/// waits on the registry.
pub(crate) const READERS: usize = 8;

/// What [`Docker::held_tags`] reads of a tag: its digest and manifests, or its labels too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagRead {
    Digests,
    Labels,
}

/// The labels read so far, by the digest of the manifest whose config holds them.
type Labels = Mutex<std::collections::BTreeMap<Digest, std::collections::BTreeMap<String, String>>>;

/// One reader thread's tools: its own shell (a `Shell` is not shared between threads), this
/// run's environment and login, and the labels all readers have read.
struct TagReader<'a> {
    exec: &'a Exec,
    envs: &'a [(String, String)],
    authfile: Option<&'a camino::Utf8Path>,
    labels: &'a Labels,
}

impl TagReader<'_> {
    fn held_tag(&self, repository: &str, name: &str, read: TagRead) -> Result<Option<HeldTag>> {
        let Some(raw) = self.raw(repository, &ImageRef::tag(repository, name).transport(), false)? else {
            return Ok(None);
        };
        // The digest of a manifest is that of its bytes as the registry holds them.
        let digest = Digest::of(&raw);
        let manifest: RawManifest =
            serde_json::from_slice(&raw).with_context(|| format!("parsing the manifest of {repository}:{name}"))?;
        let manifests: Vec<Digest> = manifest
            .manifests
            .into_iter()
            .flatten()
            .filter(|m| m.platform.as_ref().is_none_or(|p| p.os != "unknown"))
            .map(|m| m.digest)
            .collect();
        let mut held = HeldTag { name: name.to_owned(), digest, branch: None, created: None, manifests };
        if read == TagRead::Labels {
            // The config of the manifest itself, or of an index's first platform.
            let source = held.manifests.first().unwrap_or(&held.digest).clone();
            let known = self.labels.lock().expect("no reader panics").get(&source).cloned();
            let labels = match known {
                Some(labels) => labels,
                None => {
                    let Some(config) = self.raw(repository, &format!("docker://{repository}@{source}"), true)? else {
                        return Ok(None);
                    };
                    let config: ImageConfig = serde_json::from_slice(&config)
                        .with_context(|| format!("parsing the image config of {repository}:{name}"))?;
                    self.labels.lock().expect("no reader panics").insert(source, config.config.labels.clone());
                    config.config.labels
                }
            };
            held.branch = labels.get(BRANCH_LABEL).cloned();
            held.created = labels.get("org.opencontainers.image.created").cloned();
        }
        Ok(Some(held))
    }

    /// `skopeo inspect --raw [--config] TRANSPORT`: the manifest (or config) as the registry holds
    /// it, or `None` when it is not there.
    fn raw(&self, repository: &str, transport: &str, config: bool) -> Result<Option<Vec<u8>>> {
        let mut argv = vec!["inspect".to_owned(), "--raw".to_owned()];
        if config {
            argv.push("--config".to_owned());
        }
        argv.extend(steps::skopeo_options(self.authfile, repository, &["--tls-verify"]));
        argv.push(transport.to_owned());
        let argv = &argv;
        let make = || {
            let mut c = cmd!(self.exec.sh, "skopeo {argv...}");
            for (k, v) in self.envs {
                c = c.env(k, v);
            }
            c
        };
        let what = format!("reading {transport}");
        let out = self.exec.retrying(&what, make)?;
        if out.status.success() {
            return Ok(Some(out.stdout));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if failure::classify(&stderr) == Failure::NotFound {
            return Ok(None);
        }
        Err(registry_error(registry_host(repository), &stderr).context(what))
    }
}

/// A manifest as stored: an index lists its manifests (a single manifest has none).
#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    manifests: Option<Vec<ManifestEntry>>,
}

/// What `imagetools inspect --format '{{json .}}'` prints (the part read here).
#[derive(Deserialize)]
struct Inspected {
    manifest: Manifest,
    #[serde(default)]
    image: Option<ImageConfigs>,
}

impl Inspected {
    /// The image, or the platform it names that is not one.
    fn into_remote(self) -> Result<RemoteImage, String> {
        let manifest = self.manifest;
        // One config for a single manifest, a map platform → config for an index.
        let configs: Vec<ImageConfig> = match self.image {
            Some(ImageConfigs::One(config)) => vec![config],
            Some(ImageConfigs::Many(map)) => map
                .into_values()
                .filter_map(|c| match c {
                    MaybeConfig::Config(config) => Some(config),
                    MaybeConfig::Other(_) => None,
                })
                .collect(),
            None => Vec::new(),
        };
        let label = |name: &str| configs.iter().find_map(|c| c.config.labels.get(name).cloned());
        // An attestation's entry (`unknown/unknown`) is no platform of the image.
        let platforms = match &manifest.manifests {
            Some(list) => list
                .iter()
                .filter_map(|m| m.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(OciPlatform::platform)
                .collect::<Result<_, _>>()?,
            None => configs.iter().map(|c| c.platform.platform()).collect::<Result<_, _>>()?,
        };
        let manifests = manifest
            .manifests
            .iter()
            .flatten()
            .filter_map(|m| Some((m.platform.as_ref().filter(|p| p.os != "unknown")?, &m.digest)))
            .map(|(p, digest)| Ok((p.platform()?, digest.clone())))
            .collect::<Result<_, String>>()?;
        Ok(RemoteImage {
            digest: manifest.digest,
            platforms,
            manifests,
            revision: label(steps::REVISION_LABEL),
            version: label(steps::VERSION_LABEL),
            context: label(steps::CONTEXT_LABEL),
            entries: manifest.manifests.as_ref().map_or(0, Vec::len),
            branch: label(BRANCH_LABEL),
            created: label("org.opencontainers.image.created"),
            source: label("org.opencontainers.image.source"),
        })
    }
}

/// The image config(s) of what a reference names.
#[derive(Deserialize)]
#[serde(untagged)]
enum ImageConfigs {
    /// A single-platform manifest: its config.
    One(ImageConfig),
    /// An index: platform → config.
    Many(std::collections::BTreeMap<String, MaybeConfig>),
}

/// An index entry's config, or something else (an attestation's) that is not read.
#[derive(Deserialize)]
#[serde(untagged)]
enum MaybeConfig {
    Config(ImageConfig),
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct ImageConfig {
    #[serde(flatten)]
    platform: OciPlatform,
    #[serde(default)]
    config: ContainerConfig,
}

#[derive(Deserialize, Default)]
struct ContainerConfig {
    #[serde(rename = "Labels", default, deserialize_with = "null_as_empty")]
    labels: std::collections::BTreeMap<String, String>,
}

/// `null` labels (an image without any) read as none.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Manifest {
    digest: Digest,
    manifests: Option<Vec<ManifestEntry>>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    digest: Digest,
    platform: Option<OciPlatform>,
}

/// A platform as an OCI index or image config spells it.
#[derive(Deserialize)]
struct OciPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl OciPlatform {
    /// `os/arch[/variant]`, or why it is no platform.
    fn platform(&self) -> Result<Platform, String> {
        let variant = self.variant.as_deref().filter(|v| !v.is_empty()).map(|v| format!("/{v}")).unwrap_or_default();
        Platform::parse(&format!("{}/{}{variant}", self.os, self.architecture))
    }
}

/// `DOCKER_CONFIG`, or `~/.docker`.
pub(crate) fn user_docker_config_dir() -> Utf8PathBuf {
    match std::env::var("DOCKER_CONFIG") {
        Ok(d) if !d.is_empty() => d.into(),
        _ => Utf8PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned())).join(".docker"),
    }
}

pub(crate) use release_pipeline_plan::reference::registry_host;

/// One clear error from a registry tool's stderr.
pub(crate) fn registry_error(host: &str, stderr: &str) -> anyhow::Error {
    let last = ui::mask(stderr.trim().lines().last().unwrap_or(""));
    match failure::classify(stderr) {
        Failure::Unreachable => error::error_with_help(
            format!("the registry {host} is unreachable: {last}"),
            "check that the registry is running and the image repository is right",
        ),
        Failure::Refused => error::error_with_help(
            format!("the registry {host} refused access: {last}"),
            format!("log in (`docker login {host}`) or set the registry credentials in the environment"),
        ),
        Failure::Transient => error::error_with_help(
            format!("the registry {host} failed {} times in a row: {last}", failure::ATTEMPTS),
            "the registry or the network is having trouble; run the same command again (a rerun resumes)",
        ),
        Failure::NotFound | Failure::Other => anyhow::anyhow!("{last}"),
    }
}

/// One clear error from a registry tool's failed run: the registry's trouble when `failure`
/// recognises it, else the command's own output.
pub(crate) fn tool_error(host: &str, what: &str, out: &std::process::Output) -> anyhow::Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if failure::classify(&stderr) != Failure::Other {
        return registry_error(host, &stderr).context(what.to_owned());
    }
    error::command_failed(what, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use release_pipeline_plan::reference::is_loopback_registry;

    fn remote(json: &str) -> RemoteImage {
        serde_json::from_str::<Inspected>(&with_digests(json)).unwrap().into_remote().unwrap()
    }

    /// `sha256:<n>` as a whole digest: `<n>` repeated to 64 hex digits.
    fn with_digests(json: &str) -> String {
        json.split("\"sha256:")
            .enumerate()
            .map(|(i, part)| match (i, part.split_once('"')) {
                (0, _) | (_, None) => part.to_owned(),
                (_, Some((hex, rest))) => format!("\"{}\"{rest}", digest(hex)),
            })
            .collect()
    }

    fn digest(hex: &str) -> Digest {
        Digest::parse(&format!("sha256:{}", hex.repeat(64 / hex.len()))).unwrap()
    }

    /// Both shapes `imagetools inspect --format '{{json .}}'` prints: a single-platform
    /// manifest with its one config, and an index with a config per platform (an attestation's
    /// entry, and labels that are `null`, read as nothing).
    #[test]
    fn what_imagetools_prints() {
        let single = remote(
            r#"{"name":"r/s:rpi-1.0.0","manifest":{"schemaVersion":2,"digest":"sha256:aa","config":{"digest":"sha256:c"},"layers":[]},
               "image":{"architecture":"arm","variant":"v7","os":"linux","config":{"Labels":{"org.opencontainers.image.revision":"abc"}}}}"#,
        );
        assert_eq!(
            single,
            RemoteImage {
                digest: digest("aa"),
                platforms: vec!["linux/arm/v7".into()],
                manifests: Default::default(),
                revision: Some("abc".into()),
                version: None,
                branch: None,
                created: None,
                source: None,
                context: None,
                entries: 0,
            }
        );
        let index = remote(
            r#"{"manifest":{"digest":"sha256:bb","manifests":[
                 {"digest":"sha256:1","platform":{"architecture":"amd64","os":"linux"}},
                 {"digest":"sha256:2","platform":{"architecture":"arm64","os":"linux"}},
                 {"digest":"sha256:3","platform":{"architecture":"unknown","os":"unknown"}}]},
               "image":{"linux/amd64":{"architecture":"amd64","os":"linux","config":{"Labels":{"org.release-pipeline.branch":"feature/x"}}},
                        "linux/arm64":{"architecture":"arm64","os":"linux","config":{"Labels":null}},
                        "unknown/unknown":{}}}"#,
        );
        assert_eq!(index.digest, digest("bb"));
        assert_eq!(index.platforms, ["linux/amd64", "linux/arm64"]);
        let manifests: Vec<(&str, Digest)> = index.manifests.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
        assert_eq!(manifests, [("linux/amd64", digest("1")), ("linux/arm64", digest("2"))]);
        assert_eq!((index.revision, index.branch.as_deref()), (None, Some("feature/x")));
        // What is no digest or no platform is an error naming it, never a value.
        let bad_digest = r#"{"manifest":{"digest":"sha256:abc"}}"#;
        let err = serde_json::from_str::<Inspected>(bad_digest).err().unwrap().to_string();
        assert!(err.starts_with("`sha256:abc` is not a digest"), "{err}");
        let bad_platform = r#"{"manifest":{"digest":"sha256:cc","manifests":[{"digest":"sha256:1","platform":{"architecture":"arm-64","os":"linux"}}]}}"#;
        let inspected = serde_json::from_str::<Inspected>(&with_digests(bad_platform)).unwrap();
        assert_eq!(
            inspected.into_remote().unwrap_err(),
            "`linux/arm-64` is not a platform like linux/amd64 or linux/arm/v7"
        );
    }

    #[test]
    fn hosts() {
        assert_eq!(registry_host("127.0.0.1:5000/acme/service"), "127.0.0.1:5000");
        assert_eq!(registry_host("ghcr.io/acme/service"), "ghcr.io");
        assert_eq!(registry_host("acme/service"), "docker.io");
        assert_eq!(registry_host("localhost/x"), "localhost");
        for local in
            ["127.0.0.1:5000", "127.1.2.3", "localhost", "localhost:5000", "LOCALHOST:1", "[::1]:5000", "[::1]"]
        {
            assert!(is_loopback_registry(local), "{local}");
        }
        for remote in [
            "ghcr.io",
            "localhost.example.com",
            "localhost.example.com:5000",
            "127.attacker.example",
            "127.0.0.1.nip.io",
            "localhostx",
            "[::2]:5000",
            "[::1]x",
            "127.0.0.1:x",
            "10.0.0.1:5000",
        ] {
            assert!(!is_loopback_registry(remote), "{remote}");
        }
    }
}
