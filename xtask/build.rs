//! How the `xtask` binary is linked on Linux, for `version`'s start-up (BENCHMARKS.md: it is
//! meant to answer as fast as `git describe`):
//! - Position-dependent (`-no-pie`): a PIE of this size carries about 30,000 relative
//!   relocations that the dynamic loader applies, page by page, on every start. Address
//!   randomization of the binary's own code is what is given up, for a tool run from a
//!   checkout, not a service.
//! - The functions `version` runs laid out first (`link-order.txt`, written by
//!   `cargo xtask bench --link-order`), through lld's `--symbol-ordering-file`: lld is the
//!   linker rustc uses for x86_64 Linux since 1.90. Names the binary lacks are skipped.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link-order.txt");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    let lld = var("CARGO_CFG_TARGET_ARCH") == "x86_64" && var("CARGO_CFG_TARGET_ENV") == "gnu" && rustc_minor() >= 90;
    if lld && order.exists() {
        // -Xlinker passes the path whole (no splitting at commas, as -Wl does).
        for arg in ["-Xlinker", "--no-warn-symbol-ordering", "-Xlinker"] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
        println!("cargo:rustc-link-arg-bins=--symbol-ordering-file={}", order.display());
    }
}

/// The minor version of the rustc building this (`rustc 1.95.0 (…)` → 95); 0 when unknown.
fn rustc_minor() -> u32 {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(rustc).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    out.ok().and_then(|v| v.split_whitespace().nth(1)?.split('.').nth(1)?.parse().ok()).unwrap_or(0)
}
