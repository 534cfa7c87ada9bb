//! The checks `doctor` prints and the preflight enforces, each written once: the docker CLI, the
//! daemon, buildx, skopeo, the qemu handlers and the registry credentials. A failed check is a
//! [`Problem`]: what is wrong and what fixes it; `doctor` shows it as ✗, a run as `error:`/`help:`.
pub(crate) use release_pipeline_plan::credentials::*;

use crate::{config::Config, error, qemu};

/// Oldest buildx with `--provenance` and `--metadata-file` as used here.
pub(crate) const MIN_BUILDX: (u64, u64) = (0, 10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) detail: String,
    pub(crate) fix: String,
}

impl Problem {
    pub(crate) fn new(detail: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem { detail: detail.into(), fix: fix.into() }
    }

    pub(crate) fn into_error(self) -> anyhow::Error {
        error::error_with_help(self.detail, self.fix)
    }
}

/// A tool on PATH, or the problem `missing` with its fix.
fn on_path(tool: &str, missing: &str, fix: &str) -> Result<(), Problem> {
    which::which(tool).map(drop).map_err(|_| Problem::new(missing, fix))
}

pub(crate) fn docker_cli() -> Result<(), Problem> {
    on_path(
        "docker",
        "the docker CLI is not on PATH",
        "install Docker with buildx (scripts/onboard.sh does it on Debian and Ubuntu)",
    )
}

/// The docker arguments whose output [`docker_daemon`] reads.
pub(crate) const DOCKER_INFO: [&str; 3] = ["info", "--format", "{{json .DriverStatus}}"];

/// `docker` [`DOCKER_INFO`], run by the caller: one call answers "is the daemon there" and "does
/// it keep images in containerd" (the answer when it is).
pub(crate) fn docker_daemon(info: &std::process::Output) -> Result<bool, Problem> {
    if !info.status.success() {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".to_owned());
        let stderr = String::from_utf8_lossy(&info.stderr);
        return Err(Problem::new(
            format!("the Docker daemon is not reachable at {host}: {}", stderr.trim().lines().last().unwrap_or("")),
            "start it (scripts/onboard.sh starts one), or point DOCKER_HOST at a running engine",
        ));
    }
    Ok(String::from_utf8_lossy(&info.stdout).contains("io.containerd.snapshotter"))
}

/// `docker buildx version`, run by the caller: the version when it is recent enough.
pub(crate) fn buildx(version: &std::process::Output) -> Result<(u64, u64), Problem> {
    if !version.status.success() {
        return Err(Problem::new(
            "docker buildx is not installed",
            "install the buildx plugin (Debian: docker-buildx; scripts/onboard.sh does it)",
        ));
    }
    let text = String::from_utf8_lossy(&version.stdout);
    match parse_buildx_version(&text) {
        Some(v) if v >= MIN_BUILDX => Ok(v),
        _ => Err(Problem::new(
            format!(
                "docker buildx is too old or unknown ({}); {}.{} or newer is needed",
                text.trim(),
                MIN_BUILDX.0,
                MIN_BUILDX.1
            ),
            "upgrade the buildx plugin (sudo apt-get install docker-buildx; scripts/onboard.sh installs a recent one)",
        )),
    }
}

pub(crate) fn parse_buildx_version(text: &str) -> Option<(u64, u64)> {
    let word = text.split_whitespace().find(|w| w.trim_start_matches('v').starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = word.trim_start_matches('v').split(['.', '+', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

pub(crate) fn skopeo() -> Result<(), Problem> {
    on_path(
        "skopeo",
        "skopeo is not installed; it moves tags without changing digests",
        "sudo apt-get install skopeo (scripts/onboard.sh does it)",
    )
}

/// Each qemu handler the platforms need, with whether it is registered and enabled.
pub(crate) fn qemu_handlers<'a>(
    platforms: impl IntoIterator<Item = &'a release_pipeline_plan::platform::Platform>,
) -> Vec<(&'static str, Result<(), Problem>)> {
    let dir = qemu::binfmt_dir();
    // The same read of the host the preflight's steps are made from.
    let host = qemu::read_host();
    qemu::needed_handlers(platforms, qemu::host_platform())
        .into_iter()
        .map(|(handler, _)| {
            let state = if !host.mounted {
                Err(Problem::new(
                    format!("binfmt_misc is not mounted at {dir}"),
                    format!("sudo mount -t binfmt_misc binfmt_misc {dir} && cargo xtask qemu"),
                ))
            } else if host.enabled.iter().any(|e| e == handler) {
                Ok(())
            } else {
                Err(Problem::new("not registered", "cargo xtask qemu"))
            };
            (handler, state)
        })
        .collect()
}

/// The problem of a half-set pair of credentials: `missing` is the one that is not set.
pub(crate) fn only_one_credential(config: &Config, missing: &str) -> Problem {
    Problem::new(
        format!(
            "only one of {} and {} is set ({missing} is not)",
            config.registry_user_env, config.registry_password_env
        ),
        "set both, or neither to use your existing docker login",
    )
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
    fn credentials_from_the_environment() {
        let config = Config::default();
        let env = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let both = env(&[("REGISTRY_USER", "u"), ("REGISTRY_PASSWORD", "p")]);
        assert_eq!(credentials(&config, &both), Credentials::Both { user: "u", password: "p" });
        let empty = env(&[("REGISTRY_USER", ""), ("REGISTRY_PASSWORD", "")]);
        assert_eq!(credentials(&config, &empty), Credentials::Neither, "empty counts as unset");
        let user = env(&[("REGISTRY_USER", "u")]);
        assert_eq!(credentials(&config, &user), Credentials::OnlyOne { missing: "REGISTRY_PASSWORD" });
        let password = env(&[("REGISTRY_PASSWORD", "p")]);
        assert_eq!(credentials(&config, &password), Credentials::OnlyOne { missing: "REGISTRY_USER" });
    }
}
