//! `xtask/build.rs` hands `xtask/link-order.txt` to the linker: the functions `version` runs
//! sit together at the front of the binary's code, so that its start touches few code pages
//! (BENCHMARKS.md).
#![cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
mod common;
use std::collections::{BTreeSet, HashSet};

/// The binary's functions: (address, name), from `nm`.
fn functions(binary: &str) -> Vec<(u64, String)> {
    let out = std::process::Command::new("nm")
        .args(["--defined-only", binary])
        .output()
        .expect("nm (binutils) must be installed");
    assert!(out.status.success(), "nm failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            [address, "t" | "T" | "w" | "W", name] => Some((u64::from_str_radix(address, 16).ok()?, name.to_owned())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_functions_version_runs_are_laid_out_first() {
    // `xtask/build.rs` says whether it handed the order to the linker, or why not.
    let applied = env!("XTASK_LINK_ORDER");
    if applied != "applied" {
        // Only a toolchain that links with its own lld takes the order; CI's does.
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI's build did not apply the link order: {applied}");
        eprintln!("the link order is not applied here: {applied}");
        return;
    }
    let order = std::fs::read_to_string(common::workspace_root().join("xtask/link-order.txt")).unwrap();
    let listed: BTreeSet<&str> = order.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    let all = functions(env!("CARGO_BIN_EXE_xtask"));
    let (hot, cold): (Vec<_>, Vec<_>) = all.iter().partition(|(_, name)| listed.contains(name.as_str()));
    // Names carry hashes of the toolchain and of each crate's version and features (a test build
    // unifies the dev-dependencies' features), so not all need match: a stale file is the bench's
    // warning, not a failure. libgit2's C functions always do, which is enough to see the layout.
    assert!(hot.len() >= 200, "only {} of the {} listed functions are in the binary", hot.len(), listed.len());
    let hot_addresses: HashSet<u64> = hot.iter().map(|(a, _)| *a).collect();
    let (first, last) = (hot.iter().map(|f| f.0).min().unwrap(), hot.iter().map(|f| f.0).max().unwrap());
    // Nothing else between them, but for functions the linker folded into a listed one.
    let between: Vec<&str> = cold
        .iter()
        .filter(|(a, _)| (first..=last).contains(a) && !hot_addresses.contains(a))
        .map(|(_, n)| n.as_str())
        .collect();
    assert!(
        between.is_empty(),
        "{} other functions lie among the listed ones, e.g. {:?}",
        between.len(),
        &between[..between.len().min(3)]
    );
    let code_start = all.iter().map(|f| f.0).min().unwrap();
    assert!(
        first - code_start < 64 * 1024,
        "the listed functions start {} KiB into the code",
        (first - code_start) / 1024
    );
}
