//! qemu for foreign platforms, as the plan decides it: which binfmt handlers the platforms need
//! on a host, and how to register them (`qemu.rs` of the library reads the host and registers).
use crate::platform::Platform;

/// The platform this machine runs natively.
pub fn host_platform() -> &'static str {
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

/// The names of the handlers this tool knows.
pub fn handler_names() -> Vec<&'static str> {
    HANDLERS.iter().map(|(_, name, _)| *name).collect()
}

/// Handlers the platforms need that `host` does not run natively: (handler, install name).
pub fn needed_handlers<'a>(
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
pub struct HostQemu {
    /// Whether binfmt_misc is mounted.
    pub mounted: bool,
    /// Handlers registered and enabled.
    pub enabled: Vec<String>,
    /// The handlers the host's `update-binfmts` can register (qemu-user-static installs their
    /// formats); none without `update-binfmts`.
    pub update_binfmts: Vec<String>,
    /// Where binfmt_misc is (or would be) mounted.
    pub binfmt_dir: String,
}

/// A registration to run: the handlers it registers and its command line.
pub type Registration = (Vec<String>, Vec<String>);

/// The registrations the platforms need on this host (none when every handler is there): with
/// the host's `update-binfmts` when qemu-user-static is installed, else with `image`
/// (`docker run --privileged`). Pure: the plan's steps and `cargo xtask qemu` both use it.
pub fn registrations<'a>(
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
            host.binfmt_dir,
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
            binfmt_dir: "/proc/sys/fs/binfmt_misc".into(),
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
