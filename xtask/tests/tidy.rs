//! Keeps the tree honest: each invariant ARCHITECTURE.md states about the code's shape is checked
//! here (the behavioural ones by the tests it names).
mod common;
use common::workspace_root;
use std::path::PathBuf;

fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![workspace_root().join("xtask/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path: PathBuf = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let name = path.strip_prefix(workspace_root().join("xtask/src")).unwrap().display().to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its `#[cfg(test)]` module (tests may spell anything).
fn non_test(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests").next().unwrap()
}

#[test]
fn main_only_dispatches() {
    let main = std::fs::read_to_string(workspace_root().join("xtask/src/main.rs")).unwrap();
    let fns: Vec<&str> = main.lines().filter(|l| l.trim_start().starts_with("fn ") || l.contains(" fn ")).collect();
    assert_eq!(fns, ["fn main() -> ExitCode {"], "main.rs only dispatches");
}

#[test]
fn the_planner_is_pure() {
    for (name, text) in sources().iter().filter(|(n, _)| n.starts_with("plan/")) {
        for forbidden in ["std::fs", "std::process", "std::net", "std::env", "xshell", "cmd!(", "Command"] {
            assert!(!non_test(text).contains(forbidden), "plan/ is pure, but {name} uses {forbidden}");
        }
    }
}

#[test]
fn every_external_command_goes_through_xshell() {
    for (name, text) in sources() {
        assert!(
            !text.contains("std::process::Command") && !text.contains("Command::new"),
            "{name} runs a command outside xshell"
        );
    }
}

/// A tool's failure is read in `failure.rs` only: no other module looks for status codes or
/// registry messages in a tool's output.
#[test]
fn failures_are_classified_in_one_place() {
    for (name, text) in sources().iter().filter(|(n, _)| n != "failure.rs") {
        for needle in
            ["\"401", "\"403", "\"500", "\"connection refused", "\": not found", "Unauthorized", "i/o timeout"]
        {
            assert!(
                !non_test(text).contains(needle),
                "{name} reads a tool's failure itself ({needle}); use failure::classify"
            );
        }
    }
}

#[test]
fn the_codemap_names_every_module() {
    let architecture = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    for (name, _) in sources() {
        let module = name.split('/').next().unwrap();
        let module = if module.ends_with(".rs") { module.to_owned() } else { format!("{module}/") };
        assert!(architecture.contains(&format!("`{module}`")), "ARCHITECTURE.md's codemap does not name {module}");
    }
}
