//! Errors as cargo prints them: `error:`, the causes, then `help:` with what to do about it;
//! every problem of a preflight at once; the usage error with the nearest command.
use std::process::ExitCode;

use anstream::{eprintln, println};

use crate::ui::{mask, paint};

pub(crate) use release_pipeline_plan::error::*;

/// The error for a failed command: what we were doing, then its (masked) stderr.
pub(crate) fn command_failed(what: &str, out: &std::process::Output) -> anyhow::Error {
    let stderr = mask(String::from_utf8_lossy(&out.stderr).trim());
    let stderr = if stderr.is_empty() { mask(String::from_utf8_lossy(&out.stdout).trim()) } else { stderr };
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    anyhow::anyhow!("{what} failed ({}):\n{}", out.status, tail.join("\n"))
}

pub(crate) fn report_error(err: &anyhow::Error) -> ExitCode {
    let mut chain = err.chain().filter(|e| e.downcast_ref::<Help>().is_none());
    let first = chain.next().map(|e| mask(&e.to_string())).unwrap_or_default();
    eprintln!("{} {first}", paint("error:", "1;31"));
    let causes: Vec<String> = chain.map(|e| mask(&e.to_string())).collect();
    if !causes.is_empty() {
        eprintln!("\nCaused by:");
        for cause in causes {
            for line in cause.lines() {
                eprintln!("  {line}");
            }
        }
    }
    for help in err.chain().filter_map(|e| e.downcast_ref::<Help>()) {
        eprintln!("{} {}", paint("help:", "1;36"), mask(&help.0));
    }
    ExitCode::FAILURE
}

pub(crate) const COMMANDS: &[&str] = &[
    "version",
    "dist",
    "distcopy",
    "release",
    "dev-release",
    "ci",
    "qemu",
    "doctor",
    "publish",
    "rebuild",
    "reconcile",
    "prune",
    "retract",
    "verify",
    "merge",
];

pub(crate) fn usage_error(err: xflags::Error) -> ExitCode {
    if err.is_help() {
        println!("{err}");
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err}");
    // xflags names the unknown word; suggest the nearest command for a typo.
    let first_arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if let Some(word) = first_arg.filter(|w| !COMMANDS.contains(&w.as_str())) {
        let nearest = COMMANDS.iter().min_by_key(|c| strsim::levenshtein(c, &word));
        if let Some(c) = nearest.filter(|c| strsim::levenshtein(c, &word) <= 3) {
            eprintln!("help: a command with a similar name exists: `{c}`");
        }
    }
    eprintln!("help: run `cargo xtask --help` for the commands");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`COMMANDS`] (for "did you mean") names exactly the commands `flags.rs` declares.
    #[test]
    fn commands_are_the_declared_ones() {
        let declared: Vec<&str> = include_str!("flags.rs")
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd ")?.split_whitespace().next())
            .filter(|c| *c != "xtask")
            .collect();
        let mut listed = COMMANDS.to_vec();
        listed.sort();
        let mut declared_sorted = declared.clone();
        declared_sorted.sort();
        assert_eq!(listed, declared_sorted);
        for command in declared {
            let help = crate::flags::Xtask::from_vec(vec![command.into(), "--help".into()]);
            assert!(help.is_err_and(|e| e.is_help()), "{command} is a command");
        }
        let unknown = crate::flags::Xtask::from_vec(vec!["relase".into(), "--help".into()]);
        assert!(unknown.is_err_and(|e| !e.is_help()), "an unknown command is not");
    }
}
