//! The checks `doctor` prints and the preflight enforces, each written once: the docker CLI, the
//! daemon, buildx, skopeo, the qemu handlers, the registry credentials, each target's linker and
//! each context's directory and Dockerfile. A failed check is a
//! [`Problem`]: what is wrong and what fixes it; `doctor` shows it as ✗, a run as `error:`/`help:`.
pub(crate) use release_pipeline_plan::credentials::*;

use crate::{error, qemu};

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

/// The problem of a half-set pair of credentials (`user_env`, `password_env`: the image's or a
/// mirror's): `missing` is the one that is not set. The preflight, `doctor` and the commands
/// that log in on their own all say it so.
pub(crate) fn only_one_credential(user_env: &str, password_env: &str, missing: &str) -> Problem {
    Problem::new(
        format!("only one of {user_env} and {password_env} is set ({missing} is not)"),
        "set both, or neither to use your existing docker login",
    )
}

/// The linker cargo uses for `target`: `CARGO_TARGET_<TRIPLE>_LINKER`, else `[target.T] linker`
/// in the workspace's `.cargo/config.toml`, else `cc`.
pub(crate) fn linker_for(root: &camino::Utf8Path, target: &str) -> String {
    let var = format!("CARGO_TARGET_{}_LINKER", target.to_uppercase().replace(['-', '.'], "_"));
    if let Some(linker) = std::env::var(var).ok().filter(|l| !l.is_empty()) {
        return linker;
    }
    let text = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap_or_default();
    let doc: toml_edit::DocumentMut = text.parse().unwrap_or_default();
    doc.get("target")
        .and_then(|t| t.get(target))
        .and_then(|t| t.get("linker"))
        .and_then(|l| l.as_str())
        .unwrap_or("cc")
        .to_owned()
}

/// An architecture as both a target triple and a compiler's `-dumpmachine` name it: `armv7` and
/// `arm` are one, `arm64` is `aarch64`, `i686` is `x86`.
fn arch_family(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        a if a.starts_with("arm") || a.starts_with("thumb") => "arm",
        "i386" | "i486" | "i586" | "i686" => "x86",
        a if a.starts_with("riscv64") => "riscv64",
        a => a,
    }
}

/// Whether a compiler whose `-dumpmachine` says `machine` links for `target`'s architecture.
pub(crate) fn links_for(target: &str, machine: &str) -> bool {
    let arch = |triple: &str| arch_family(triple.trim().split('-').next().unwrap_or("")).to_owned();
    !machine.trim().is_empty() && arch(target) == arch(machine)
}

/// The Debian compiler that links for `target` (package, command), for a fix: the host's `cc`
/// for the host's architecture, else a cross gcc.
fn cross_gcc(target: &str) -> (String, String) {
    let arch = arch_family(target.split('-').next().unwrap_or(""));
    if arch == arch_family(std::env::consts::ARCH) {
        return ("gcc".to_owned(), "cc".to_owned());
    }
    let gnu = match arch {
        "aarch64" => "aarch64-linux-gnu",
        "arm" => "arm-linux-gnueabihf",
        "x86" => "i686-linux-gnu",
        "x86_64" => "x86-64-linux-gnu",
        other => return (format!("gcc for {other}"), format!("<{other} gcc>")),
    };
    (format!("gcc-{gnu}"), format!("{}-gcc", gnu.replace("x86-64", "x86_64")))
}

/// `target`'s linker, asked which machine it links for (`-dumpmachine` on the output of
/// `linker -dumpmachine`, run by the caller): the host's `cc` for an ARM target is refused.
pub(crate) fn linker(
    target: &str,
    linker: &str,
    dumpmachine: Option<&std::process::Output>,
) -> Result<String, Problem> {
    let (package, command) = cross_gcc(target);
    let fix =
        format!("sudo apt-get install {package}, and in .cargo/config.toml: [target.{target}] linker = \"{command}\"");
    let Some(out) = dumpmachine.filter(|o| o.status.success()) else {
        return Err(Problem::new(format!("{linker} is not on PATH or does not answer -dumpmachine"), fix));
    };
    let machine = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if links_for(target, &machine) {
        Ok(format!("{linker} links for {machine}"))
    } else {
        Err(Problem::new(format!("{linker} links for {machine}, not for {target}"), fix))
    }
}

/// Whether a Dockerfile installs the packages `distcopy` puts in its context's `pkg/`.
pub(crate) fn uses_pkg(dockerfile: &str) -> bool {
    dockerfile.contains("pkg/${TARGETPLATFORM}") || dockerfile.contains("pkg/$TARGETPLATFORM")
}

/// A context directory (relative to `root`), its `Dockerfile`, and the Dockerfile's use of
/// `pkg/${TARGETPLATFORM}`.
pub(crate) fn context(root: &camino::Utf8Path, dir: &str) -> Result<String, Problem> {
    let path = root.join(dir);
    if !path.is_dir() {
        return Err(Problem::new(
            format!("context `{dir}`: the directory {path} does not exist"),
            format!("create {dir}/ with a Dockerfile that adds pkg/${{TARGETPLATFORM}}/*.tar.gz, or fix `context.dir`"),
        ));
    }
    let dockerfile = path.join("Dockerfile");
    let text = match std::fs::read_to_string(&dockerfile) {
        Ok(text) => text,
        Err(e) => {
            return Err(Problem::new(
                format!("context `{dir}`: cannot read {dockerfile}: {e}"),
                format!("write {dir}/Dockerfile: FROM scratch, ADD pkg/${{TARGETPLATFORM}}/*.tar.gz, ENTRYPOINT"),
            ))
        }
    };
    if !uses_pkg(&text) {
        return Err(Problem::new(
            format!("context `{dir}`: {dockerfile} does not use pkg/${{TARGETPLATFORM}}, where the packages are"),
            "install the package from pkg/${TARGETPLATFORM}/ (ADD pkg/${TARGETPLATFORM}/*.tar.gz /opt/<bin>/)",
        ));
    }
    Ok(format!("{dir}/Dockerfile uses pkg/${{TARGETPLATFORM}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's x86 `cc` is no linker for an ARM target; a cross gcc is.
    #[test]
    fn linkers_are_checked_by_the_machine_they_link_for() {
        assert!(links_for("x86_64-unknown-linux-musl", "x86_64-linux-gnu"));
        assert!(links_for("aarch64-unknown-linux-gnu", "aarch64-linux-gnu"));
        assert!(links_for("armv7-unknown-linux-gnueabihf", "arm-linux-gnueabihf\n"));
        assert!(links_for("i686-unknown-linux-gnu", "i686-linux-gnu"));
        assert!(!links_for("aarch64-unknown-linux-gnu", "x86_64-linux-gnu"), "the host cc: a false pass before");
        assert!(!links_for("armv7-unknown-linux-gnueabihf", "aarch64-linux-gnu"));
        assert!(!links_for("x86_64-unknown-linux-musl", ""));
        let ok = |stdout: &str| std::process::Output {
            status: std::process::ExitStatus::default(),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
        };
        let target = "aarch64-unknown-linux-gnu";
        let problem = linker(target, "cc", Some(&ok("x86_64-linux-gnu\n"))).unwrap_err();
        assert_eq!(problem.detail, "cc links for x86_64-linux-gnu, not for aarch64-unknown-linux-gnu");
        if cfg!(target_arch = "x86_64") {
            // The fixes name the host's own compiler or a cross one, so they depend on the host.
            assert!(problem.fix.contains("gcc-aarch64-linux-gnu") && problem.fix.contains("aarch64-linux-gnu-gcc"));
            let arm = cross_gcc("armv7-unknown-linux-gnueabihf");
            assert_eq!(arm, ("gcc-arm-linux-gnueabihf".to_owned(), "arm-linux-gnueabihf-gcc".to_owned()));
            assert_eq!(cross_gcc("x86_64-unknown-linux-musl"), ("gcc".to_owned(), "cc".to_owned()));
        }
        assert!(linker(target, "gone-gcc", None).unwrap_err().detail.contains("is not on PATH"));
        let cross = linker(target, "aarch64-linux-gnu-gcc", Some(&ok("aarch64-linux-gnu\n")));
        assert_eq!(cross.unwrap(), "aarch64-linux-gnu-gcc links for aarch64-linux-gnu");
    }

    #[test]
    fn contexts_need_a_dockerfile_that_uses_pkg() {
        let dir = tempfile::tempdir().unwrap();
        let root = camino::Utf8Path::from_path(dir.path()).unwrap();
        let err = context(root, "docker").unwrap_err();
        assert!(err.detail.contains("context `docker`: the directory") && err.detail.ends_with("does not exist"));
        std::fs::create_dir(root.join("docker")).unwrap();
        assert!(context(root, "docker").unwrap_err().detail.contains("cannot read"));
        std::fs::write(root.join("docker/Dockerfile"), "FROM scratch\nCOPY app /app\n").unwrap();
        assert!(context(root, "docker").unwrap_err().detail.contains("does not use pkg/${TARGETPLATFORM}"));
        std::fs::write(
            root.join("docker/Dockerfile"),
            "FROM scratch\nARG TARGETPLATFORM\nADD pkg/${TARGETPLATFORM}/*.tar.gz /opt/app/\n",
        )
        .unwrap();
        assert_eq!(context(root, "docker").unwrap(), "docker/Dockerfile uses pkg/${TARGETPLATFORM}");
        assert!(uses_pkg("ADD pkg/$TARGETPLATFORM/*.tar.gz /"));
    }

    #[test]
    fn buildx_versions() {
        assert_eq!(parse_buildx_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3"), Some((0, 13)));
        assert_eq!(parse_buildx_version("github.com/docker/buildx v0.9.1 ed00243"), Some((0, 9)));
        assert_eq!(parse_buildx_version("nonsense"), None);
    }

    #[test]
    fn credentials_from_the_environment() {
        let config = crate::config::Config::default();
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
