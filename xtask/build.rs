//! How the `xtask` binary is linked on Linux, for `version`'s start-up (BENCHMARKS.md: it is
//! meant to answer as fast as `git describe`):
//! - Position-dependent (`-no-pie`) on glibc targets not linked statically: a PIE of this size
//!   carries about 30,000 relative relocations that the dynamic loader applies, page by page,
//!   on every start. Address randomization of the binary's own code is what is given up, for a
//!   tool run from a checkout, not a service.
//! - The functions `version` runs laid out first (`link-order.txt`, written by
//!   `cargo xtask bench --link-order`), through lld's `--symbol-ordering-file`. Only where rustc
//!   links with its own lld, as rustup's x86_64 Linux toolchains do from 1.90 unless told
//!   otherwise: GNU ld rejects the option. Names the binary lacks are skipped.
//!
//! Sets `XTASK_LINK_ORDER` (`applied` or why not) for the test that checks the layout.
use std::{path::Path, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link-order.txt");
    for var in ["RUSTC_LINKER", "CARGO_ENCODED_RUSTFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if gnu && !var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    let applied = match own_lld(gnu && var("CARGO_CFG_TARGET_ARCH") == "x86_64") {
        Err(why) => why,
        Ok(()) if !order.exists() => "no link-order.txt".to_owned(),
        Ok(()) => {
            // -Xlinker passes the path whole (no splitting at commas, as -Wl does).
            for arg in ["-Xlinker", "--no-warn-symbol-ordering", "-Xlinker"] {
                println!("cargo:rustc-link-arg-bins={arg}");
            }
            println!("cargo:rustc-link-arg-bins=--symbol-ordering-file={}", order.display());
            "applied".to_owned()
        }
    };
    println!("cargo:rustc-env=XTASK_LINK_ORDER={applied}");
}

/// Whether rustc links this target with its own lld; why not, when it does not or may not.
fn own_lld(x86_64_linux_gnu: bool) -> Result<(), String> {
    if !x86_64_linux_gnu {
        return Err("not x86_64 Linux with glibc".to_owned());
    }
    if std::env::var_os("RUSTC_LINKER").is_some() {
        return Err("a linker is configured (RUSTC_LINKER)".to_owned());
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let chosen = ["linker", "fuse-ld", "link-self-contained", "linker-flavor", "linker-features"];
    if let Some(flag) = flags.split('\x1f').find(|f| chosen.iter().any(|c| f.contains(c))) {
        return Err(format!("the rustflags choose the linker ({flag})"));
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let ask = |arg: &str| {
        let out = Command::new(&rustc).arg(arg).output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let minor = ask("--version").and_then(|v| v.split_whitespace().nth(1)?.split('.').nth(1)?.parse::<u32>().ok());
    if minor.unwrap_or(0) < 90 {
        return Err("rustc before 1.90 links with the system linker".to_owned());
    }
    let sysroot = ask("--print=sysroot").unwrap_or_default();
    let lld = Path::new(&sysroot).join("lib/rustlib/x86_64-unknown-linux-gnu/bin/gcc-ld/ld.lld");
    if !lld.exists() {
        return Err(format!("this rustc ships no lld ({} is missing)", lld.display()));
    }
    Ok(())
}
