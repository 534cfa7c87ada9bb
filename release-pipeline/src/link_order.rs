//! The order in which the linker lays out the xtask binary's functions: `xtask/link-order.txt`,
//! which `xtask/build.rs` hands to the linker (lld's `--symbol-ordering-file`).
//!
//! Why: the unoptimized dev binary holds about 6 MB of code, and `version` runs some 2,300
//! functions spread over nearly all of it. The kernel maps code on first touch, 64 KiB at a
//! time, each a page fault of several µs on this machine kind; listed first, those functions
//! take a few hundred KiB and a fraction of the faults (BENCHMARKS.md).
//!
//! `cargo xtask bench --link-order` writes the file from callgrind runs of `version` on the
//! bench's repository shapes. Symbol names carry hashes of the compiler and of each crate's
//! version and features, so a new toolchain or dependency leaves some names unmatched (the
//! linker skips them); `cargo xtask bench` reports how many still match.
use std::collections::BTreeSet;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{cmd, Shell};

use crate::exec::exec;

/// The file, relative to the workspace root.
pub(crate) const FILE: &str = "xtask/link-order.txt";

/// The runs of `version` profiled: each repository with each argument list.
const RUNS: &[&[&str]] = &[&[], &["--format", "json"], &["--format", "pep440"]];

/// The functions of `binary` that `version` runs in each of `repos`, by symbol name.
pub(crate) fn profile(
    sh: &Shell,
    binary: &Utf8Path,
    repos: &[Utf8PathBuf],
    work: &Utf8Path,
) -> Result<BTreeSet<String>> {
    exec(cmd!(sh, "valgrind --version"), "the link order is made with valgrind's callgrind: install valgrind")?;
    let defined = code_symbols(sh, binary)?;
    let out = work.join("callgrind.out");
    let mut ran = BTreeSet::new();
    for repo in repos {
        for &args in RUNS {
            let profiling = cmd!(sh, "valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no --callgrind-out-file={out} {binary} version --repo {repo} {args...}");
            exec(profiling, &format!("profiling `version` in {repo}"))?;
            let profile = std::fs::read_to_string(&out).with_context(|| format!("reading {out}"))?;
            ran.extend(functions_run(&profile).filter(|f| defined.contains(*f)).map(str::to_owned));
        }
    }
    Ok(ran)
}

/// The functions a callgrind profile (written with `--compress-strings=no`) gives a cost to:
/// every function that ran.
fn functions_run(profile: &str) -> impl Iterator<Item = &str> {
    profile.lines().filter_map(|line| line.strip_prefix("fn="))
}

/// The names of the functions `binary` defines, as `nm` lists them.
fn code_symbols(sh: &Shell, binary: &Utf8Path) -> Result<BTreeSet<String>> {
    let listing = exec(cmd!(sh, "nm --defined-only {binary}"), "listing the binary's symbols (nm, from binutils)")?;
    Ok(listing
        .lines()
        .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            [_, "t" | "T" | "w" | "W", name] => Some(name.to_owned()),
            _ => None,
        })
        .collect())
}

/// Writes the order file: one symbol a line, sorted (the order within the group matters little:
/// what counts is that the group is contiguous).
pub(crate) fn write(root: &Utf8Path, functions: &BTreeSet<String>) -> Result<Utf8PathBuf> {
    let path = root.join(FILE);
    let mut text = String::from(
        "# Functions `cargo xtask version` runs, laid out first by the linker (xtask/build.rs).\n# Made by `cargo xtask bench --link-order`; do not edit.\n",
    );
    for function in functions {
        text.push_str(function);
        text.push('\n');
    }
    std::fs::write(&path, text).with_context(|| format!("writing {path}"))?;
    Ok(path)
}

/// How many of the order file's functions `binary` defines, and how many it lists; `None`
/// without the file.
pub(crate) fn coverage(sh: &Shell, root: &Utf8Path, binary: &Utf8Path) -> Result<Option<(usize, usize)>> {
    let Ok(text) = std::fs::read_to_string(root.join(FILE)) else { return Ok(None) };
    let defined = code_symbols(sh, binary)?;
    let listed: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    Ok(Some((listed.iter().filter(|f| defined.contains(**f)).count(), listed.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_lists_each_function_that_ran() {
        let profile = "version: 1\ncmd: xtask version\nfl=src/version.rs\nfn=_ZN16release_pipeline7version3run17h0123456789abcdefE\n16 3\ncfn=git_repository_open\ncalls=1 0\n16 40\nfn=git_repository_open\n0 7\n";
        let ran: Vec<&str> = functions_run(profile).collect();
        assert_eq!(ran, ["_ZN16release_pipeline7version3run17h0123456789abcdefE", "git_repository_open"]);
    }
}
