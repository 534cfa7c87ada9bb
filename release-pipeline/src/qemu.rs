//! `cargo xtask qemu`: make sure the kernel runs ARM binaries (binfmt_misc handlers for qemu), so
//! buildx can build and run the ARM platforms. The counterpart of the seed's
//! `docker run --rm --privileged multiarch/qemu-user-static:register --reset`.
use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use xshell::cmd;

pub(crate) use release_pipeline_plan::qemu::*;

use crate::{error, flags, ui, workspace::Workspace};

/// Overrides `/proc/sys/fs/binfmt_misc` (for tests).
pub(crate) const BINFMT_DIR_VAR: &str = "RELEASE_BINFMT_DIR";

pub(crate) fn binfmt_dir() -> Utf8PathBuf {
    std::env::var(BINFMT_DIR_VAR).unwrap_or_else(|_| "/proc/sys/fs/binfmt_misc".to_owned()).into()
}

/// Whether a handler is registered and enabled (the first line of its file is `enabled`).
pub(crate) fn handler_enabled(name: &str) -> bool {
    std::fs::read_to_string(binfmt_dir().join(name)).is_ok_and(|t| t.lines().next() == Some("enabled"))
}

/// What the host says about its qemu handlers, read once.
pub(crate) fn read_host() -> HostQemu {
    let known = handler_names();
    HostQemu {
        mounted: binfmt_dir().join("status").exists(),
        enabled: known.iter().filter(|n| handler_enabled(n)).map(|n| (*n).to_owned()).collect(),
        update_binfmts: match which::which("update-binfmts") {
            Ok(_) => known
                .iter()
                .filter(|n| std::path::Path::new(&format!("/usr/share/binfmts/{n}")).exists())
                .map(|n| (*n).to_owned())
                .collect(),
            Err(_) => Vec::new(),
        },
        binfmt_dir: binfmt_dir().to_string(),
    }
}

pub(crate) fn run(_cmd: flags::Qemu, ws: &Workspace) -> Result<()> {
    let config = &ws.config;
    let platforms: Vec<release_pipeline_plan::platform::Platform> =
        config.context.iter().flat_map(|c| c.platforms.clone()).collect();
    let registrations = registrations(&read_host(), host_platform(), &platforms, &config.qemu_image)
        .map_err(|why| error::error_with_help(why, "run scripts/onboard.sh, which mounts and registers them"))?;
    if registrations.is_empty() {
        let needed: Vec<&str> = needed_handlers(&platforms, host_platform()).iter().map(|(n, _)| *n).collect();
        if needed.is_empty() {
            ui::info("qemu: every configured platform runs natively");
        } else {
            ui::info(format_args!("qemu: {} registered and enabled", needed.join(", ")));
        }
    }
    for (handlers, argv) in &registrations {
        register(&ws.exec, handlers, argv)?;
    }
    Ok(())
}

/// Runs one registration and checks that its handlers are enabled afterwards.
pub(crate) fn register(exec: &crate::exec::Exec, handlers: &[String], argv: &[String]) -> Result<()> {
    let (program, args) = argv.split_first().context("an empty registration")?;
    if program == "docker" && which::which("docker").is_err() {
        return Err(error::error_with_help(
            "qemu handlers are missing and neither update-binfmts (qemu-user-static) nor docker is installed to register them",
            "install qemu-user-static and binfmt-support (scripts/onboard.sh does it)",
        ));
    }
    let out = exec.output(cmd!(exec.sh, "{program} {args...}"))?;
    // update-binfmts only warns when the handler is already enabled: the check below decides.
    if program == "docker" && !out.status.success() {
        let image = args.get(3).map(String::as_str).unwrap_or("the image");
        return Err(error::command_failed(&format!("registering qemu handlers with {image}"), &out)).context(error::Help(
            "install qemu-user-static and binfmt-support (`apt-get install qemu-user-static binfmt-support`), or run `docker run --privileged --rm tonistiigi/binfmt --install arm,arm64` where images can be pulled".to_owned(),
        ));
    }
    let still: Vec<&str> = handlers.iter().filter(|n| !handler_enabled(n)).map(String::as_str).collect();
    if !still.is_empty() {
        return Err(error::error_with_help(
            format!("registering {} was refused (they are still missing from {})", still.join(", "), binfmt_dir()),
            "run as root (binfmt_misc needs privileges), or `sudo update-binfmts --enable qemu-arm` and `qemu-aarch64`",
        ));
    }
    ui::info(format_args!("qemu: registered {}", handlers.join(", ")));
    Ok(())
}
