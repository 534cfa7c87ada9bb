//! `scripts/onboard.sh` and the README's first command as a
//! developer who is not root but has passwordless sudo (the usual laptop): the script gives the
//! user the docker group and access to the running daemon, ends with `doctor` all ✓, and a
//! second run changes nothing. The test makes the user itself (so it runs as root, as CI does).
mod common;
use common::{stack::*, *};
use std::{path::Path, process::Command};

const USER: &str = "rp-onboard";

struct TestUser {
    home: std::path::PathBuf,
}

impl TestUser {
    /// A fresh user with passwordless sudo, this machine's Rust toolchain (hard links: no copy)
    /// and the test tools the script would otherwise build from source (ktra; cargo-mutants comes
    /// with cargo's own `bin/`).
    fn create() -> TestUser {
        assert!(rustix_is_root(), "this test creates a user: it runs as root (CI does)");
        // A run killed before its cleanup may have left the user, and the socket's ACL entry for
        // its uid (which the new user would inherit): remove both.
        let _ = Command::new("setfacl").args(["-x", &format!("u:{USER}"), "/var/run/docker.sock"]).output();
        let _ = Command::new("userdel").args(["-r", "-f", USER]).output();
        assert_ok(&Command::new("useradd").args(["-m", "-s", "/bin/bash", USER]).output().unwrap());
        std::fs::write(format!("/etc/sudoers.d/{USER}"), format!("{USER} ALL=(ALL) NOPASSWD:ALL\n")).unwrap();
        let home = Path::new("/home").join(USER);
        let rustup =
            std::env::var("RUSTUP_HOME").map(std::path::PathBuf::from).unwrap_or_else(|_| dirs_home().join(".rustup"));
        let cargo =
            std::env::var("CARGO_HOME").map(std::path::PathBuf::from).unwrap_or_else(|_| dirs_home().join(".cargo"));
        let toolchain =
            String::from_utf8(Command::new("rustup").args(["show", "active-toolchain"]).output().unwrap().stdout)
                .unwrap();
        let toolchain = toolchain.split_whitespace().next().expect("an active toolchain").to_owned();
        sh(&format!(
            "set -e; mkdir -p {h}/.rustup/toolchains {h}/.cargo {h}/.cache/release-pipeline/ktra/bin
             cp -al {r}/toolchains/{toolchain} {h}/.rustup/toolchains/
             printf 'version = \"12\"\\ndefault_toolchain = \"{toolchain}\"\\nprofile = \"default\"\\n' > {h}/.rustup/settings.toml
             cp -al {c}/bin {h}/.cargo/bin
             cp {ktra} {h}/.cache/release-pipeline/ktra/bin/ktra
             find {h} -type d -exec chown {USER}: {{}} +
             chown {USER}: {h}/.rustup/settings.toml {h}/.cache/release-pipeline/ktra/bin/ktra",
            h = home.display(),
            r = rustup.display(),
            c = cargo.display(),
            ktra = ktra_binary().display(),
        ));
        TestUser { home }
    }

    /// `script` run by the user in `dir`, with a login's plain environment.
    fn run(&self, dir: &Path, script: &str) -> std::process::Output {
        Command::new("runuser")
            .args(["-u", USER, "--", "env", "-i"])
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("USER={USER}"))
            .arg(format!(
                "PATH={}/.cargo/bin:{}/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                self.home.display(),
                self.home.display()
            ))
            .args(["NO_COLOR=1", "CARGO_TERM_COLOR=never", "bash", "-c", script])
            .current_dir(dir)
            .output()
            .unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("setfacl").args(["-x", &format!("u:{USER}"), "/var/run/docker.sock"]).output();
        let _ = Command::new("userdel").args(["-r", "-f", USER]).output();
        let _ = std::fs::remove_file(format!("/etc/sudoers.d/{USER}"));
    }
}

fn rustix_is_root() -> bool {
    String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0"
}

fn dirs_home() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var("HOME").unwrap())
}

#[track_caller]
fn sh(script: &str) {
    assert_ok(&Command::new("bash").arg("-c").arg(script).output().unwrap());
}

#[test]
fn onboarding_as_a_user_with_sudo() {
    require_docker();
    let user = TestUser::create();
    let ws = scratch_workspace();
    let checkout = user.home.join("ws");
    sh(&format!("git clone -q {} {c} && chown -R {USER}: {c}", ws.path().display(), c = checkout.display()));
    let denied = user.run(&checkout, "docker info");
    assert!(
        !denied.status.success() && stderr(&denied).contains("permission denied"),
        "the user starts without docker access: {}",
        stderr(&denied)
    );

    let first = user.run(&checkout, "bash scripts/onboard.sh");
    assert_ok(&first);
    let text = stdout(&first);
    assert!(text.contains("added rp-onboard to the docker group") && text.contains("newgrp docker"), "{text}");
    assert!(text.contains("everything the next release needs is in place") && !text.contains('✗'), "{text}");
    assert!(!text.contains("started dockerd"), "a second daemon beside the running one: {text}");
    let groups = String::from_utf8(Command::new("id").args(["-nG", USER]).output().unwrap().stdout).unwrap();
    assert!(groups.split_whitespace().any(|g| g == "docker"), "{groups}");

    let second = user.run(&checkout, "ONBOARD_SKIP_DOCTOR=1 bash scripts/onboard.sh");
    assert_ok(&second);
    assert!(stdout(&second).contains("nothing to change"), "{}", stdout(&second));

    // The README's first command, in the same session.
    let port = free_port();
    let out = user.run(&checkout, &format!("cargo xtask dev-release --local --run --port {port}"));
    let _ = Command::new("docker").args(["stop", "service-main"]).output();
    assert_ok(&out);
    let answer: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().last().unwrap_or("")).unwrap_or_else(|_| panic!("{}", stdout(&out)));
    assert_eq!(answer["name"], "service");
}

/// `--release-only` sets up what `cargo xtask ci` needs and none of the test tools: with no ktra
/// where the full mode would build it (2.5 minutes), it neither builds nor mentions it.
#[test]
fn the_release_only_mode_leaves_the_test_tools_out() {
    let no_ktra = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new("bash")
            .arg(workspace_root().join("scripts/onboard.sh"))
            .args(args)
            .env("ONBOARD_SKIP_DOCTOR", "1")
            .env("KTRA_ROOT", no_ktra.path())
            .output()
            .unwrap()
    };
    let out = run(&["--release-only"]);
    assert_ok(&out);
    let said = stdout(&out);
    assert!(said.contains("nothing to change, everything was in place (release only)"), "{said}");
    for test_tool in ["test tools", "ktra", "cargo-mutants", "actionlint", "setuptools_scm"] {
        assert!(!said.contains(test_tool), "{test_tool}:\n{said}");
    }
    assert!(!no_ktra.path().join("bin/ktra").exists());
    let out = run(&["--what"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
}

/// GitHub's runners have Docker CE, not Debian's `docker.io`: the package query says "not
/// installed" while the engine works. The script uses that engine as it is: it installs no Docker
/// (before, it installed `docker.io` over it), restarts nothing, and leaves the daemon's
/// configuration alone, since the engine already has the containerd image store. `dpkg`,
/// `apt-get`, `systemctl`, `pkill` and the daemon's configuration directory are stand-ins that
/// record what they are asked: the real engine is never touched.
#[test]
fn a_docker_from_elsewhere_is_used_as_it_is() {
    require_docker();
    let info = Command::new("docker").args(["info", "--format", "{{json .DriverStatus}}"]).output().unwrap();
    assert!(stdout(&info).contains("io.containerd.snapshotter"), "the engine here has the containerd store");
    let fakes = tempfile::tempdir().unwrap();
    let calls = fakes.path().join("calls");
    let fake = |name: &str, body: &str| {
        let path = fakes.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\necho \"{name} $*\" >> {}\n{body}\n", calls.display())).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&path).unwrap().permissions(), 0o755);
        assert_ok(&Command::new("chmod").arg("755").arg(&path).output().unwrap());
    };
    fake("dpkg", "echo \"dpkg-query: package '$2' is not installed\" >&2; exit 1");
    for recorded in ["apt-get", "apt-cache", "systemctl", "pkill", "dockerd", "containerd", "usermod", "setfacl"] {
        fake(recorded, "exit 0");
    }
    let etc = tempfile::tempdir().unwrap();
    let daemon_json = "{\"log-level\": \"warn\"}\n";
    std::fs::write(etc.path().join("daemon.json"), daemon_json).unwrap();
    let path = format!("{}:{}", fakes.path().display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg(workspace_root().join("scripts/onboard.sh"))
        .env("PATH", path)
        .env("ONBOARD_SKIP_DOCTOR", "1")
        .env("ONBOARD_DOCKER_ETC", etc.path())
        .output()
        .unwrap();
    assert_ok(&out);
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(calls.contains("dpkg -s"), "the stand-in dpkg was asked: {calls}");
    let engines = ["docker.io", "docker-buildx", "docker-ce", "docker-ce-cli", "containerd", "containerd.io"];
    for call in calls.lines().filter(|c| c.starts_with("apt-get ")) {
        let engine = call.split_whitespace().find(|w| engines.contains(&w.trim_end_matches("/trixie")));
        assert_eq!(engine, None, "a second Docker installed: {call}\n{}", stdout(&out));
    }
    for untouched in ["systemctl", "pkill", "dockerd", "containerd"] {
        assert!(!calls.lines().any(|c| c.starts_with(untouched)), "{untouched} called:\n{calls}");
    }
    assert_eq!(std::fs::read_to_string(etc.path().join("daemon.json")).unwrap(), daemon_json, "daemon.json rewritten");
    assert!(stdout(&out).contains("ok docker (Docker version"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("started dockerd"), "{}", stdout(&out));
}
