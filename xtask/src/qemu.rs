//! `cargo xtask qemu`: make sure the kernel runs ARM binaries (binfmt_misc handlers for qemu), so
//! buildx can build and run the ARM platforms. The counterpart of the seed's
//! `docker run --rm --privileged multiarch/qemu-user-static:register --reset`.
use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use xshell::{cmd, Shell};

use crate::{config::Config, flags, ui, version};

/// Overrides `/proc/sys/fs/binfmt_misc` (for tests).
pub(crate) const BINFMT_DIR_VAR: &str = "RELEASE_BINFMT_DIR";

pub(crate) fn binfmt_dir() -> Utf8PathBuf {
    std::env::var(BINFMT_DIR_VAR).unwrap_or_else(|_| "/proc/sys/fs/binfmt_misc".to_owned()).into()
}

/// The platform this machine runs natively.
pub(crate) fn host_platform() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        "arm" => "linux/arm/v7",
        "riscv64" => "linux/riscv64",
        "s390x" => "linux/s390x",
        "powerpc64" => "linux/ppc64le",
        _ => "linux/unknown",
    }
}

/// The binfmt handler a foreign platform needs, with the name `--install` takes.
fn handler(platform: &str) -> Option<(&'static str, &'static str)> {
    match platform {
        "linux/arm/v7" | "linux/arm/v6" | "linux/arm" => Some(("qemu-arm", "arm")),
        "linux/arm64" | "linux/arm64/v8" => Some(("qemu-aarch64", "arm64")),
        "linux/riscv64" => Some(("qemu-riscv64", "riscv64")),
        "linux/ppc64le" => Some(("qemu-ppc64le", "ppc64le")),
        "linux/s390x" => Some(("qemu-s390x", "s390x")),
        _ => None,
    }
}

/// Whether a handler is registered and enabled (the first line of its file is `enabled`).
pub(crate) fn handler_enabled(name: &str) -> bool {
    std::fs::read_to_string(binfmt_dir().join(name)).is_ok_and(|t| t.lines().next() == Some("enabled"))
}

/// Handlers the platforms need that this host does not run natively: (handler, install name).
pub(crate) fn needed_handlers<'a>(
    platforms: impl IntoIterator<Item = &'a String>,
) -> Vec<(&'static str, &'static str)> {
    let host = host_platform();
    let mut out: Vec<_> = platforms
        .into_iter()
        .filter(|p| p.as_str() != host && !(host == "linux/arm64" && p.starts_with("linux/arm/")))
        .filter_map(|p| handler(p))
        .collect();
    out.sort();
    out.dedup();
    out
}

pub(crate) fn run(_cmd: flags::Qemu) -> Result<()> {
    let (_repo, _root, config) = version::open(None)?;
    ensure(&config)?;
    Ok(())
}

/// Registers what is missing: with the host's `update-binfmts` when qemu-user-static is
/// installed, else with the configured image (`docker run --privileged`).
pub(crate) fn ensure(config: &Config) -> Result<()> {
    let platforms: Vec<String> = config.context.iter().flat_map(|c| c.platforms.clone()).collect();
    let needed = needed_handlers(&platforms);
    if needed.is_empty() {
        ui::info("qemu: every configured platform runs natively");
        return Ok(());
    }
    let dir = binfmt_dir();
    if !dir.join("status").exists() {
        return Err(ui::error_with_help(
            format!("binfmt_misc is not mounted at {dir}, so foreign binaries cannot run"),
            format!("mount it: `sudo mount -t binfmt_misc binfmt_misc {dir}` (scripts/onboard.sh does it)"),
        ));
    }
    let missing: Vec<_> = needed.iter().filter(|(name, _)| !handler_enabled(name)).collect();
    if missing.is_empty() {
        let names: Vec<&str> = needed.iter().map(|(n, _)| *n).collect();
        ui::info(format_args!("qemu: {} registered and enabled", names.join(", ")));
        return Ok(());
    }
    let sh = Shell::new()?;
    let host_can = which::which("update-binfmts").is_ok()
        && missing.iter().all(|(name, _)| std::path::Path::new(&format!("/usr/share/binfmts/{name}")).exists());
    if host_can {
        for (name, _) in &missing {
            // update-binfmts only warns when the handler is already enabled.
            let _ = ui::exec_output(cmd!(sh, "update-binfmts --enable {name}"))?;
        }
    } else {
        let install: Vec<&str> = missing.iter().map(|(_, i)| *i).collect();
        let install = install.join(",");
        let image = &config.qemu_image;
        if which::which("docker").is_err() {
            return Err(ui::error_with_help(
                "qemu handlers are missing and neither update-binfmts (qemu-user-static) nor docker is installed to register them",
                "install qemu-user-static and binfmt-support (scripts/onboard.sh does it)",
            ));
        }
        let out = ui::exec_output(cmd!(sh, "docker run --privileged --rm {image} --install {install}"))?;
        if !out.status.success() {
            return Err(ui::command_failed(&format!("registering qemu handlers with {image}"), &out)).context(ui::Help(
                "install qemu-user-static and binfmt-support (`apt-get install qemu-user-static binfmt-support`), or run `docker run --privileged --rm tonistiigi/binfmt --install arm,arm64` where images can be pulled".to_owned(),
            ));
        }
    }
    let still: Vec<&str> = missing.iter().filter(|(n, _)| !handler_enabled(n)).map(|(n, _)| *n).collect();
    if !still.is_empty() {
        return Err(ui::error_with_help(
            format!("registering {} was refused (they are still missing from {dir})", still.join(", ")),
            "run as root (binfmt_misc needs privileges), or `sudo update-binfmts --enable qemu-arm` and `qemu-aarch64`",
        ));
    }
    ui::info(format_args!("qemu: registered {}", missing.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")));
    Ok(())
}
