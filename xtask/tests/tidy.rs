//! Keeps the tree honest: each invariant ARCHITECTURE.md states about the code's shape is checked
//! here (the behavioural ones by the tests it names).
mod common;
use common::{stderr, stdout, workspace_root, xtask_cmd};
use std::path::PathBuf;

fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![workspace_root().join("release-pipeline/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path: PathBuf = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let name =
                    path.strip_prefix(workspace_root().join("release-pipeline/src")).unwrap().display().to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The code of a file without its test module (`#[cfg(test)]`, `#[cfg(all(test, unix))]`…):
/// tests may spell anything.
fn non_test(text: &str) -> &str {
    let mut end = text.len();
    for (at, _) in text.match_indices("\nmod tests {") {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let attribute = &text[line_start..at];
        if attribute.starts_with("#[cfg(") && attribute.contains("test") {
            end = end.min(line_start);
        }
    }
    &text[..end]
}

#[test]
fn main_only_dispatches() {
    let lib = std::fs::read_to_string(workspace_root().join("release-pipeline/src/lib.rs")).unwrap();
    let fns: Vec<&str> = lib.lines().filter(|l| l.trim_start().starts_with("fn ") || l.contains(" fn ")).collect();
    assert_eq!(fns, ["pub fn main() -> ExitCode {"], "the library's lib.rs only dispatches");
    // The xtask binary is the thin caller another workspace copies (README: adopting), and sends
    // `bench`, this repository's own command, to its own module: when the first argument is
    // `bench`, `bench::main()`; for anything else, `release_pipeline::main()`. Nothing more.
    let main = std::fs::read_to_string(workspace_root().join("xtask/src/main.rs")).unwrap();
    let code: Vec<&str> = main.lines().filter(|l| !l.trim_start().starts_with("//") && !l.is_empty()).collect();
    assert_eq!(
        code,
        [
            "mod bench;",
            "fn main() -> std::process::ExitCode {",
            "    match std::env::args_os().nth(1) {",
            "        Some(command) if command == \"bench\" => bench::main(),",
            "        _ => release_pipeline::main(),",
            "    }",
            "}",
        ],
        "xtask's main.rs sends `bench` to bench.rs and everything else to the library, nothing else"
    );
}

/// The pipeline serves any workspace: no crate, binary or directory name of this one is written
/// in its code, but for the contract's default contexts (`config.rs`).
#[test]
fn no_service_name_in_the_pipeline() {
    for (name, text) in sources().iter().filter(|(n, _)| n != "config.rs" && !n.ends_with("tests.rs")) {
        for needle in ["\"service\"", "bin/service", "service/", "\"service-", "\"rpi-docker"] {
            assert!(!non_test(text).contains(needle), "{name} writes a name of this workspace's: {needle}");
        }
    }
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
        let text = non_test(&text);
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
        for needle in [
            "\"401",
            "\"403",
            "\"500",
            "\"connection refused",
            "\": not found",
            "Unauthorized",
            "i/o timeout",
            "failed to select a version",
            "no matching package",
        ] {
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

/// The module a source file belongs to: `plan/steps.rs` is part of `plan`.
fn module_of(file: &str) -> &str {
    file.split('/').next().unwrap().trim_end_matches(".rs")
}

/// The crate modules a file's code names: `crate::x` paths and the names in `use crate::{…}`.
fn crate_modules_used(text: &str) -> std::collections::BTreeSet<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut used = std::collections::BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: after `{` or a `,` at depth one.
            let (mut depth, mut expect_name) = (1, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => expect_name = true,
                    c if expect_name && depth == 1 && !c.is_whitespace() => {
                        used.insert(ident(&group[i..]));
                        expect_name = false;
                    }
                    _ => {}
                }
            }
        } else {
            used.insert(ident(rest));
        }
    }
    used.retain(|m| !m.is_empty());
    used
}

/// ARCHITECTURE.md: no module uses one that uses it back, directly or through others.
#[test]
fn no_import_cycles() {
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for (name, text) in sources() {
        let module = module_of(&name).to_owned();
        let used = crate_modules_used(non_test(&text));
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(used.into_iter().filter(|m| *m != module));
    }
    assert!(graph["execute"].contains("plan") && graph["plan"].contains("tags"), "the parser sees imports: {graph:?}");
    // Depth-first search from each module; a path that comes back to a module is a cycle.
    fn visit(
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        module: &str,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|m| m == module) {
            panic!("import cycle: {} -> {module}", path[at..].join(" -> "));
        }
        if done.contains(module) {
            return;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            visit(graph, next, path, done);
        }
        path.pop();
        done.insert(module.to_owned());
    }
    let mut done = Default::default();
    for module in graph.keys() {
        visit(&graph, module, &mut Vec::new(), &mut done);
    }
}

/// `--help` lists every command flags.rs declares.
#[test]
fn help_lists_every_command() {
    let flags = std::fs::read_to_string(workspace_root().join("release-pipeline/src/flags.rs")).unwrap();
    let commands: Vec<&str> = flags
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cmd ")?.split_whitespace().next())
        .filter(|c| *c != "xtask")
        .collect();
    assert!(commands.len() >= 10 && commands.contains(&"dev-release"), "{commands:?}");
    let out = xtask_cmd(&workspace_root()).arg("--help").output().unwrap();
    let help = stdout(&out) + &stderr(&out);
    for command in commands {
        assert!(help.contains(&format!("xtask {command}\n")), "--help does not list {command}:\n{help}");
    }
}

/// External commands run through one module: only `exec.rs` starts them (commands are built with
/// `xshell::cmd!` anywhere).
#[test]
fn commands_run_only_through_exec() {
    for (name, text) in sources().iter().filter(|(n, _)| n != "exec.rs") {
        for needle in [".run()", ".read()", ".output()", ".read_stderr()", ".spawn()"] {
            assert!(!non_test(text).contains(needle), "{name} runs a command itself ({needle}); use exec.rs");
        }
    }
}
