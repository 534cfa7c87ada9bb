//! `cargo xtask qemu`: make sure the kernel runs ARM binaries (binfmt_misc handlers for qemu), so
//! buildx can build and run the ARM platforms. The counterpart of the seed's
//! `docker run --rm --privileged multiarch/qemu-user-static:register --reset`.
use anyhow::{Context, Result};
use camino::Utf8PathBuf;
use xshell::{cmd, Shell};

use crate::{config::Config, error, exec, flags, platform::Platform, ui};

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

/// The binfmt handlers this tool knows: the platforms each serves, its name, and the name
/// `--install` takes.
const HANDLERS: &[(&[&str], &str, &str)] = &[
    (&["linux/arm/v7", "linux/arm/v6", "linux/arm"], "qemu-arm", "arm"),
    (&["linux/arm64", "linux/arm64/v8"], "qemu-aarch64", "arm64"),
    (&["linux/riscv64"], "qemu-riscv64", "riscv64"),
    (&["linux/ppc64le"], "qemu-ppc64le", "ppc64le"),
    (&["linux/s390x"], "qemu-s390x", "s390x"),
];

/// The binfmt handler a foreign platform needs, with the name `--install` takes.
fn handler(platform: &str) -> Option<(&'static str, &'static str)> {
    HANDLERS.iter().find(|(platforms, _, _)| platforms.contains(&platform)).map(|(_, name, install)| (*name, *install))
}

/// Whether a handler is registered and enabled (the first line of its file is `enabled`).
pub(crate) fn handler_enabled(name: &str) -> bool {
    std::fs::read_to_string(binfmt_dir().join(name)).is_ok_and(|t| t.lines().next() == Some("enabled"))
}

/// Handlers the platforms need that `host` does not run natively: (handler, install name).
pub(crate) fn needed_handlers<'a>(
    platforms: impl IntoIterator<Item = &'a Platform>,
    host: &str,
) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<_> = platforms
        .into_iter()
        .filter(|p| p.as_str() != host && !(host == "linux/arm64" && p.starts_with("linux/arm/")))
        .filter_map(|p| handler(p))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What the host says about its qemu handlers, read once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HostQemu {
    /// Whether binfmt_misc is mounted.
    pub(crate) mounted: bool,
    /// Handlers registered and enabled.
    pub(crate) enabled: Vec<String>,
    /// The handlers the host's `update-binfmts` can register (qemu-user-static installs their
    /// formats); none without `update-binfmts`.
    pub(crate) update_binfmts: Vec<String>,
}

impl HostQemu {
    pub(crate) fn read() -> HostQemu {
        let known: Vec<&str> = HANDLERS.iter().map(|(_, name, _)| *name).collect();
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
        }
    }
}

/// A registration to run: the handlers it registers and its command line.
pub(crate) type Registration = (Vec<String>, Vec<String>);

/// The registrations the platforms need on this host (none when every handler is there): with
/// the host's `update-binfmts` when qemu-user-static is installed, else with `image`
/// (`docker run --privileged`). Pure: the plan's steps and `cargo xtask qemu` both use it.
pub(crate) fn registrations<'a>(
    host: &HostQemu,
    host_platform: &str,
    platforms: impl IntoIterator<Item = &'a Platform>,
    image: &str,
) -> Result<Vec<Registration>, String> {
    let needed = needed_handlers(platforms, host_platform);
    let missing: Vec<_> = needed.iter().filter(|(name, _)| !host.enabled.iter().any(|e| e == name)).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = missing.iter().map(|(n, _)| (*n).to_owned()).collect();
    if !host.mounted {
        return Err(format!(
            "binfmt_misc is not mounted at {}, so {} cannot run foreign binaries (mount it: `sudo mount -t binfmt_misc binfmt_misc {0}`; scripts/onboard.sh does it)",
            binfmt_dir(),
            names.join(", ")
        ));
    }
    if missing.iter().all(|(name, _)| host.update_binfmts.iter().any(|u| u == name)) {
        return Ok(names
            .into_iter()
            .map(|n| (vec![n.clone()], vec!["update-binfmts".to_owned(), "--enable".to_owned(), n]))
            .collect());
    }
    let install: Vec<&str> = missing.iter().map(|(_, i)| *i).collect();
    let argv = ["docker", "run", "--privileged", "--rm", image, "--install", &install.join(",")];
    Ok(vec![(names, argv.iter().map(|w| (*w).to_owned()).collect())])
}

pub(crate) fn run(_cmd: flags::Qemu, config: &Config) -> Result<()> {
    let platforms: Vec<Platform> = config.context.iter().flat_map(|c| c.platforms.clone()).collect();
    let registrations = registrations(&HostQemu::read(), host_platform(), &platforms, &config.qemu_image)
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
        register(handlers, argv)?;
    }
    Ok(())
}

/// Runs one registration and checks that its handlers are enabled afterwards.
pub(crate) fn register(handlers: &[String], argv: &[String]) -> Result<()> {
    let sh = Shell::new()?;
    let (program, args) = argv.split_first().context("an empty registration")?;
    if program == "docker" && which::which("docker").is_err() {
        return Err(error::error_with_help(
            "qemu handlers are missing and neither update-binfmts (qemu-user-static) nor docker is installed to register them",
            "install qemu-user-static and binfmt-support (scripts/onboard.sh does it)",
        ));
    }
    let out = exec::exec_output(cmd!(sh, "{program} {args...}"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// update-binfmts registers what it has formats for: the handlers missing here, whatever
    /// else the host lacks; otherwise the image registers them all at once.
    #[test]
    fn registrations_use_update_binfmts_for_the_missing_handlers() {
        let platforms: Vec<Platform> = ["linux/amd64", "linux/arm64", "linux/arm/v7"].map(Platform::from).to_vec();
        let host = |update: &[&str]| HostQemu {
            mounted: true,
            enabled: vec![],
            update_binfmts: update.iter().map(|n| (*n).to_owned()).collect(),
        };
        let argv = |regs: Vec<Registration>| regs.into_iter().map(|(_, argv)| argv.join(" ")).collect::<Vec<_>>();
        let both = registrations(&host(&["qemu-arm", "qemu-aarch64"]), "linux/amd64", &platforms, "img").unwrap();
        assert_eq!(argv(both), ["update-binfmts --enable qemu-aarch64", "update-binfmts --enable qemu-arm"]);
        let one = registrations(&host(&["qemu-arm"]), "linux/amd64", &platforms, "img").unwrap();
        assert_eq!(argv(one), ["docker run --privileged --rm img --install arm64,arm"]);
        let native = registrations(&host(&[]), "linux/arm64", &[Platform::from("linux/arm/v7")], "img").unwrap();
        assert!(native.is_empty(), "an arm64 host runs arm/v7 itself");
        let unmounted = HostQemu { mounted: false, ..host(&[]) };
        assert!(registrations(&unmounted, "linux/amd64", &platforms, "img").unwrap_err().contains("not mounted"));
    }
}
