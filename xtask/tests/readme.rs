//! Every command in the README and in TESTING.md runs, so neither can go stale: each line of a
//! README ```sh block runs for real (in a scratch copy of this workspace, local mode), and each
//! inline `cargo xtask <command>` names a command that exists; TESTING.md's mutation command runs
//! on one small function and its inline commands are run, listed or found in `.ci/run`.
mod common;
use common::{
    stack::{self, require_docker},
    *,
};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).unwrap()
}

/// The commands of ```sh blocks, comments dropped, lines ending in `\` joined, split at `&&`.
fn block_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && !l.is_empty() && !l.starts_with('#') => {
                if let Some(start) = l.strip_suffix('\\') {
                    pending.push_str(start);
                    continue;
                }
                let command = std::mem::take(&mut pending) + l;
                out.extend(command.split(" && ").map(str::to_owned));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_block_command_runs() {
    require_docker();
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "readme"]);
    ws.tag("1.2.3"); // so `release --dry-run` has a release to plan
    let commands = block_commands(&readme());
    assert!(commands.len() >= 10, "{commands:?}");
    let mut ran = 0;
    for command in &commands {
        let words: Vec<String> = shell_words::split(command).unwrap_or_else(|e| panic!("{command}: {e}"));
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        // scripts/onboard.sh is what .ci/run runs first; `cargo test` is this very run; the
        // install and `release-pipeline init` commands are run by `init.rs`, on a repository to adopt.
        if words[0] == "scripts/onboard.sh"
            || words[0] == "release-pipeline"
            || words[..2] == ["cargo", "test"]
            || words[..2] == ["cargo", "install"]
        {
            continue;
        }
        let env: Vec<(&str, &str)> = words.iter().map_while(|w| w.split_once('=')).collect();
        let rest = &words[env.len()..];
        assert_eq!(rest[..2], ["cargo", "xtask"], "a README command that no test runs: {command}");
        let mut cmd = xtask_cmd(ws.path());
        cmd.env("CARGO_TARGET_DIR", shared_target_dir()).args(&rest[2..]).envs(env.iter().copied());
        let port_taken = std::net::TcpListener::bind("127.0.0.1:8080").is_err();
        if rest.contains(&"--run") && port_taken {
            cmd.args(["--port", &stack::free_port().to_string()]);
        }
        let out = cmd.output().unwrap();
        assert_ok(&out);
        ran += 1;
    }
    let _ = std::process::Command::new("docker").args(["stop", "service-readme"]).output();
    assert!(ran >= 10);
}

#[test]
fn every_inline_command_exists() {
    let text = readme();
    let mut checked = 0;
    for span in text.split('`').skip(1).step_by(2) {
        let Some(rest) = span.strip_prefix("cargo xtask ") else { continue };
        let Some(command) = rest.split_whitespace().next().filter(|c| !c.starts_with('…') && !c.starts_with('-'))
        else {
            continue;
        };
        let out = xtask_in(&workspace_root(), &[command, "--help"]);
        assert_ok(&out);
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
}

fn testing() -> String {
    std::fs::read_to_string(workspace_root().join("TESTING.md")).unwrap()
}

/// A command split as a shell does: its leading `NAME=value` assignments, then its words.
fn env_and_words(command: &str) -> (Vec<(String, String)>, Vec<String>) {
    let words = shell_words::split(command).unwrap_or_else(|e| panic!("{command}: {e}"));
    let env: Vec<(String, String)> = words
        .iter()
        .map_while(|w| w.split_once('=').filter(|(name, _)| name.chars().all(|c| c.is_ascii_uppercase() || c == '_')))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let words = words[env.len()..].to_vec();
    (env, words)
}

/// TESTING.md's inline commands: `cargo test` with a selection lists the tests it selects (at
/// least ten: the selection is not empty); `cargo mutants` is the block below, run by
/// `the_mutation_command_kills_a_small_functions_mutants`; the others are what `.ci/run` runs,
/// and it runs them as written (`cargo test --workspace` is this very run).
#[test]
fn every_inline_testing_command_runs() {
    let ci = std::fs::read_to_string(workspace_root().join(".ci/run")).unwrap();
    let text = testing();
    let mut checked = 0;
    for span in text.split('`').skip(1).step_by(2) {
        let (env, words) = env_and_words(span);
        let is_command = matches!(words.first().map(String::as_str), Some("cargo" | "scripts/onboard.sh"));
        if !is_command || words.len() < 2 && words[0] == "cargo" {
            continue;
        }
        checked += 1;
        let command = words.join(" ");
        if command == "cargo mutants" {
            assert!(block_commands(&text).iter().any(|c| c.contains("cargo mutants ")), "{text}");
        } else if ci.contains(&command) {
            // `.ci/run` runs it, and a failure fails CI.
        } else if words[1] == "test" {
            let out = std::process::Command::new("cargo")
                .args(&words[1..])
                .args(["--", "--list", "--format", "terse"])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .current_dir(workspace_root())
                .output()
                .unwrap();
            assert_ok(&out);
            let tests = stdout(&out).lines().filter(|l| l.ends_with(": test")).count();
            assert!(tests >= 10, "`{span}` selects {tests} tests:\n{}", stdout(&out));
        } else {
            panic!("TESTING.md's `{span}`: no test runs it");
        }
    }
    assert!(checked >= 5, "{checked}");
}

/// TESTING.md's mutation command (`.cargo/mutants.toml` holds what it mutates and leaves out):
/// `cargo install` of it is what `scripts/onboard.sh` runs; the configuration lists the decision
/// files' mutants and none of an excluded function, each exclusion still names a function and is
/// in TESTING.md with its reason; and the command, run on one small decision function
/// (`CiEvent::may_push`, 2 mutants), tests its mutants against the library's unit tests and
/// catches every one. In a scratch copy, with the scratch builds' target directory (the
/// dependencies are built already): about two minutes on 2 cores, most of it building the
/// library's unit tests once per mutant and once unmutated.
#[test]
fn the_mutation_command_kills_a_small_functions_mutants() {
    let text = testing();
    let commands = block_commands(&text);
    let install = commands.iter().find(|c| c.contains("cargo install")).expect("TESTING.md installs cargo-mutants");
    let onboard = std::fs::read_to_string(workspace_root().join("scripts/onboard.sh")).unwrap();
    assert!(onboard.contains(install.as_str()), "scripts/onboard.sh does not run `{install}`");
    let mutate = commands.iter().find(|c| c.contains("cargo mutants ")).expect("TESTING.md's mutation command");
    let (env, words) = env_and_words(mutate);
    let ws = scratch_workspace();
    let run = |extra: &[&str]| {
        std::process::Command::new(&words[0])
            .args(&words[1..])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .current_dir(ws.path())
            .output()
            .unwrap()
    };

    // What the configuration mutates and leaves out, listed (no build).
    let out = run(&["--list"]);
    assert_ok(&out);
    let listed = stdout(&out);
    for file in ["plan/mod.rs", "plan/steps.rs", "ci.rs", "tags.rs", "version.rs", "config.rs"] {
        assert!(listed.contains(&format!("release-pipeline-plan/src/{file}:")), "{file} is not mutated:\n{listed}");
    }
    assert!(listed.lines().count() >= 300 && !listed.contains("Config::load"), "{listed}");
    let config_path = ws.path().join(".cargo/mutants.toml");
    let config: toml_edit::DocumentMut = std::fs::read_to_string(&config_path).unwrap().parse().unwrap();
    let excluded: Vec<String> =
        config["exclude_re"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    let mut without = config.clone();
    without.remove("exclude_re");
    let unexcluded = ws.path().join("unexcluded.toml");
    std::fs::write(&unexcluded, without.to_string()).unwrap();
    for pattern in &excluded {
        assert!(text.contains(&format!("`{pattern}`")), "TESTING.md does not give the reason for `{pattern}`");
        let out = run(&["--list", "--config", unexcluded.to_str().unwrap(), "--re", pattern]);
        assert_ok(&out);
        let matched = stdout(&out);
        let excluded = matched.lines().filter(|m| !m.trim().is_empty() && !listed.lines().any(|l| l == *m)).count();
        assert!(excluded > 0, "`{pattern}` in .cargo/mutants.toml excludes nothing:\n{matched}");
    }

    // One small function for real. cargo-mutants 27.1 lets struct-field deletions through `--re`
    // and `-f` (its issue 632: `version_views` has one), so every other examined file is left
    // out by glob (`-e`), which they obey.
    let small = "release-pipeline-plan/src/ci.rs";
    let globs: Vec<&str> = config["examine_globs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(globs.contains(&small), "{globs:?}");
    let mut narrow = vec!["--re", "CiEvent::may_push"];
    for glob in globs.iter().filter(|g| **g != small) {
        narrow.extend(["-e", glob]);
    }
    let started = std::time::Instant::now();
    let out = run(&narrow);
    let outcomes: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path().join("mutants.out/outcomes.json"))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out))),
    )
    .unwrap();
    let summaries: Vec<&str> = outcomes["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["scenario"].get("Mutant").is_some())
        .map(|o| o["summary"].as_str().unwrap())
        .collect();
    assert_eq!(summaries.len(), 2, "the mutants of CiEvent::may_push: {}", stdout(&out));
    assert!(summaries.iter().all(|s| *s == "CaughtMutant"), "{summaries:?}: {}", stdout(&out));
    assert_ok(&out);
    eprintln!("{} mutants tested and caught in {:.0?}", summaries.len(), started.elapsed());
}

/// The first ```toml block of `text` after `marker`, its release-pipeline table parsed.
fn config_block(text: &str, marker: &str) -> toml_edit::DocumentMut {
    let after = text.split(marker).nth(1).unwrap_or_else(|| panic!("no {marker}"));
    let block = after.split("```toml\n").nth(1).and_then(|b| b.split("```").next()).expect("a toml block");
    block.parse().expect("the block parses")
}

/// README's configuration and the contract (`docs/config.md`) say the same of each key they
/// both comment on (they once described `git-remote` differently).
#[test]
fn the_readme_and_the_contract_describe_each_key_alike() {
    let readme = config_block(&readme(), "## Configuration");
    let contract = config_block(
        &std::fs::read_to_string(workspace_root().join("docs/config.md")).unwrap(),
        "# Release configuration",
    );
    let table =
        |doc: &toml_edit::DocumentMut| doc["workspace"]["metadata"]["release-pipeline"].as_table().unwrap().clone();
    let (readme, contract) = (table(&readme), table(&contract));
    let comment = |t: &toml_edit::Table, key: &str| -> String {
        let decor =
            t.key(key).map(|k| k.leaf_decor().prefix().and_then(|p| p.as_str()).unwrap_or("").trim().to_owned());
        decor.unwrap_or_default()
    };
    let mut compared = 0;
    for (key, _) in readme.iter() {
        let (ours, theirs) = (comment(&readme, key), comment(&contract, key));
        if !ours.is_empty() && !theirs.is_empty() {
            assert_eq!(ours, theirs, "README and docs/config.md describe `{key}` differently");
            compared += 1;
        }
    }
    assert!(compared >= 5, "{compared}");
}

/// The three lines that print the version are the same in this README and in the library
/// crate's (whose unit test checks them against the code's).
#[test]
fn both_readmes_show_the_same_version_lines() {
    let lines = |text: &str| -> String {
        let section = text.split("## The version in the binary").nth(1).expect("the section");
        section.split("```rust\n").nth(1).and_then(|b| b.split("```").next()).expect("a rust block").to_owned()
    };
    let library = std::fs::read_to_string(workspace_root().join("release-pipeline/README.md")).unwrap();
    assert_eq!(lines(&readme()), lines(&library));
    assert!(lines(&library).contains("option_env!(\"SERVICE_VERSION\")"));
}
