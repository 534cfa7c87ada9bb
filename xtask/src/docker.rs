//! The Docker side: the CLI, the daemon, buildx, logins and registry reads, through `xshell`.
//! Knows how to run things, never what to run: `execute.rs` follows the plan.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::ui;

/// Oldest buildx with `--provenance` and `--metadata-file` as used here.
const MIN_BUILDX: (u64, u64) = (0, 10);

/// A docker CLI for this run. With credentials from the environment it has its own temporary
/// `DOCKER_CONFIG` (removed on drop), so no password is left on disk; the user's buildx
/// builders, plugins and contexts stay reachable.
pub(crate) struct Docker {
    pub(crate) sh: Shell,
    envs: Vec<(String, String)>,
    /// The config.json holding this run's login, for skopeo's `--authfile`.
    authfile: Option<Utf8PathBuf>,
    _temp: Option<xshell::TempDir>,
    containerd_store: bool,
}

/// An image in a registry, as `imagetools inspect` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteImage {
    pub(crate) digest: String,
    pub(crate) platforms: Vec<String>,
    /// The `org.opencontainers.image.revision` label.
    pub(crate) revision: Option<String>,
    /// The `org.opencontainers.image.version` label.
    pub(crate) version: Option<String>,
}

impl Docker {
    /// Checks the CLI, the daemon and buildx; each missing piece is one clear error.
    pub(crate) fn connect() -> Result<Docker> {
        let sh = Shell::new()?;
        if which::which("docker").is_err() {
            return Err(ui::error_with_help(
                "the docker CLI is not on PATH",
                "install Docker with buildx (scripts/onboard.sh does it on Debian and Ubuntu)",
            ));
        }
        let mut docker = Docker { sh, envs: Vec::new(), authfile: None, _temp: None, containerd_store: false };
        // One call answers both "is the daemon there" and "does it use the containerd store".
        let out = ui::exec_output(docker.cmd(&["info", "--format", "{{json .DriverStatus}}"]))?;
        if !out.status.success() {
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".to_owned());
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(ui::error_with_help(
                format!("the Docker daemon is not reachable at {host}: {}", stderr.trim().lines().last().unwrap_or("")),
                "start it (scripts/onboard.sh starts one), or point DOCKER_HOST at a running engine",
            ));
        }
        docker.containerd_store = String::from_utf8_lossy(&out.stdout).contains("io.containerd.snapshotter");
        let out = ui::exec_output(docker.cmd(&["buildx", "version"]))?;
        if !out.status.success() {
            return Err(ui::error_with_help(
                "docker buildx is not installed",
                "install the buildx plugin (Debian: docker-buildx; scripts/onboard.sh does it)",
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        match parse_buildx_version(&text) {
            Some(v) if v >= MIN_BUILDX => {}
            _ => {
                return Err(ui::error_with_help(
                    format!("docker buildx is too old or unknown ({}); {}.{} or newer is needed", text.trim(), MIN_BUILDX.0, MIN_BUILDX.1),
                    "upgrade the buildx plugin (scripts/onboard.sh installs a recent one)",
                ))
            }
        }
        Ok(docker)
    }

    /// `docker ARGS…` with this run's environment.
    pub(crate) fn cmd(&self, args: &[&str]) -> xshell::Cmd<'_> {
        let mut c = cmd!(self.sh, "docker {args...}");
        for (k, v) in &self.envs {
            c = c.env(k, v);
        }
        c
    }

    /// Any other program (skopeo) with this run's environment.
    pub(crate) fn tool(&self, program: &str, args: &[String]) -> xshell::Cmd<'_> {
        let mut c = cmd!(self.sh, "{program} {args...}");
        for (k, v) in &self.envs {
            c = c.env(k, v);
        }
        c
    }

    pub(crate) fn authfile(&self) -> Option<&Utf8Path> {
        self.authfile.as_deref()
    }

    /// Whether the engine stores images in containerd (which holds multi-platform images).
    pub(crate) fn has_containerd_store(&self) -> bool {
        self.containerd_store
    }

    /// Logs in to `host` with a password given on stdin, into a temporary DOCKER_CONFIG.
    pub(crate) fn login(&mut self, host: &str, user: &str, password: &str) -> Result<()> {
        ui::add_secret(password);
        let temp = self.sh.create_temp_dir().context("creating a temporary DOCKER_CONFIG")?;
        let dir = Utf8PathBuf::try_from(temp.path().to_path_buf())?;
        // The login lands here: readable by this user only.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
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
        let out = ui::exec_output(self.cmd(&["login", host, "--username", user, "--password-stdin"]).stdin(password))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("401") || stderr.contains("unauthorized") || stderr.contains("Unauthorized") {
                return Err(ui::error_with_help(
                    format!("the registry {host} refused the login of user {user} (401 Unauthorized)"),
                    "check the registry credentials in the environment",
                ));
            }
            return Err(registry_error(host, &stderr).context(format!("logging in to {host}")));
        }
        Ok(())
    }

    /// The image at `reference`, or `None` when the tag does not exist. One registry read:
    /// `{{json .}}` holds both the manifest and the image config(s).
    pub(crate) fn inspect(&self, reference: &str) -> Result<Option<RemoteImage>> {
        let out = ui::exec_output(self.cmd(&["buildx", "imagetools", "inspect", reference, "--format", "{{json .}}"]))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains(": not found") {
                return Ok(None);
            }
            return Err(registry_error(registry_host(reference), &stderr).context(format!("reading {reference}")));
        }
        let inspected: Inspected = serde_json::from_slice(&out.stdout).with_context(|| format!("parsing what the registry says of {reference}"))?;
        let (manifest, image) = (inspected.manifest, inspected.image);
        // One config for a single manifest, a map platform → config for an index.
        let configs: Vec<&serde_json::Value> = if image.get("config").is_some() || image.get("architecture").is_some() {
            vec![&image]
        } else {
            image.as_object().map(|m| m.values().collect()).unwrap_or_default()
        };
        let label = |name: &str| {
            configs.iter().find_map(|c| c.pointer(&format!("/config/Labels/{}", name.replace('/', "~1"))).and_then(|v| v.as_str()).map(str::to_owned))
        };
        let platforms = match &manifest.manifests {
            Some(list) => list
                .iter()
                .filter_map(|m| m.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(Platform::to_string)
                .collect(),
            None => configs
                .iter()
                .map(|c| {
                    let get = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
                    Platform { os: get("os"), architecture: get("architecture"), variant: c.get("variant").and_then(|v| v.as_str()).map(str::to_owned) }.to_string()
                })
                .collect(),
        };
        Ok(Some(RemoteImage {
            digest: manifest.digest,
            platforms,
            revision: label("org.opencontainers.image.revision"),
            version: label("org.opencontainers.image.version"),
        }))
    }
}

#[derive(Deserialize)]
struct Inspected {
    manifest: Manifest,
    #[serde(default)]
    image: serde_json::Value,
}

#[derive(Deserialize)]
struct Manifest {
    digest: String,
    manifests: Option<Vec<ManifestEntry>>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// `DOCKER_CONFIG`, or `~/.docker`.
pub(crate) fn user_docker_config_dir() -> Utf8PathBuf {
    match std::env::var("DOCKER_CONFIG") {
        Ok(d) if !d.is_empty() => d.into(),
        _ => Utf8PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned())).join(".docker"),
    }
}

/// The registry host of an image reference (`docker.io` when it names none).
pub(crate) fn registry_host(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Registries docker treats as insecure (plain HTTP allowed): loopback ones.
pub(crate) fn is_loopback_registry(host: &str) -> bool {
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}

/// One clear error from a registry tool's stderr.
pub(crate) fn registry_error(host: &str, stderr: &str) -> anyhow::Error {
    let last = ui::mask(stderr.trim().lines().last().unwrap_or(""));
    if stderr.contains("connection refused") || stderr.contains("no such host") || stderr.contains("i/o timeout") {
        ui::error_with_help(format!("the registry {host} is unreachable: {last}"), "check that the registry is running and the image repository is right")
    } else if stderr.contains("401") || stderr.contains("authorization failed") || stderr.contains("no basic auth credentials") {
        ui::error_with_help(
            format!("the registry {host} refused access: {last}"),
            format!("log in (`docker login {host}`) or set the registry credentials in the environment"),
        )
    } else {
        anyhow::anyhow!("{last}")
    }
}

pub(crate) fn parse_buildx_version(text: &str) -> Option<(u64, u64)> {
    let word = text.split_whitespace().find(|w| w.trim_start_matches('v').starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = word.trim_start_matches('v').split(['.', '+', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// `KEY=VALUE` pairs as `--build-arg` arguments.
pub(crate) fn build_args(args: &BTreeMap<&str, String>) -> Vec<String> {
    args.iter().flat_map(|(k, v)| ["--build-arg".to_owned(), format!("{k}={v}")]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_versions() {
        assert_eq!(parse_buildx_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3"), Some((0, 13)));
        assert_eq!(parse_buildx_version("github.com/docker/buildx v0.9.1 ed00243"), Some((0, 9)));
        assert_eq!(parse_buildx_version("nonsense"), None);
    }

    #[test]
    fn hosts() {
        assert_eq!(registry_host("127.0.0.1:5000/acme/service"), "127.0.0.1:5000");
        assert_eq!(registry_host("ghcr.io/acme/service"), "ghcr.io");
        assert_eq!(registry_host("acme/service"), "docker.io");
        assert_eq!(registry_host("localhost/x"), "localhost");
        assert!(is_loopback_registry("127.0.0.1:5000") && !is_loopback_registry("ghcr.io"));
    }
}
