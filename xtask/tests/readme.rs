//! Every command in the README runs, so the README cannot go stale: each line of a ```sh block
//! runs for real (in a scratch copy of this workspace, local mode), and each inline
//! `cargo xtask <command>` names a command that exists.
mod common;
use common::{
    stack::{self, require_docker},
    *,
};

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).unwrap()
}

/// The lines of ```sh blocks, comments dropped, split at `&&`.
fn block_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && !l.is_empty() && !l.starts_with('#') => out.extend(l.split(" && ").map(str::to_owned)),
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
        // scripts/onboard.sh is what .ci/run runs first; `cargo test` is this very run.
        if words[0] == "scripts/onboard.sh" || words[..2] == ["cargo", "test"] {
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
