//! `cargo xtask doctor` reports each missing piece, made missing without touching the machine.
mod common;
use common::*;

fn doctor(repo: &TestRepo, env: &[(&str, &str)]) -> (std::process::Output, Vec<serde_json::Value>) {
    let mut cmd = xtask_cmd(repo.path());
    cmd.args(["doctor", "--json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let checks: Vec<serde_json::Value> =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    (out, checks)
}

#[track_caller]
fn failed(checks: &[serde_json::Value], name: &str) -> serde_json::Value {
    let c = checks.iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("no check {name}: {checks:?}"));
    assert_eq!(c["ok"], false, "{c}");
    assert!(c["fix"].as_str().is_some_and(|f| !f.is_empty()), "a ✗ names its fix: {c}");
    c.clone()
}

#[test]
fn all_in_place_on_a_set_up_machine() {
    let ws = scratch_workspace();
    let out = ws.xtask(&["doctor"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("✓ docker daemon: reachable"), "{}", stdout(&out));
    assert!(!stdout(&out).contains('✗'));
}

#[test]
fn missing_tools() {
    let ws = scratch_workspace();
    let empty = tempfile::tempdir().unwrap();
    let (out, checks) = doctor(&ws, &[("PATH", empty.path().to_str().unwrap())]);
    assert!(!out.status.success());
    failed(&checks, "git");
    failed(&checks, "docker CLI");
    assert_eq!(
        failed(&checks, "rust target aarch64-unknown-linux-gnu")["fix"],
        "rustup target add aarch64-unknown-linux-gnu"
    );
    let fix = failed(&checks, "linker for armv7-unknown-linux-gnueabihf")["fix"].as_str().unwrap().to_owned();
    assert!(fix.starts_with("sudo apt-get install gcc-arm-linux-gnueabihf"), "{fix}");
    failed(&checks, "skopeo");
}

#[test]
fn daemon_down_qemu_missing_and_shallow() {
    let ws = scratch_workspace();
    ws.commits(3);
    let clone = tempfile::tempdir().unwrap();
    git_in(clone.path(), &["clone", "-q", "--depth", "1", &format!("file://{}", ws.path().display()), "c"]);
    let shallow = TestRepo { dir: clone };
    let binfmt = tempfile::tempdir().unwrap();
    std::fs::write(binfmt.path().join("status"), "enabled\n").unwrap();
    let nowhere = format!("tcp://127.0.0.1:{}", common::stack::free_port());
    let (out, checks) = xtask_cmd(&shallow.path().join("c"))
        .args(["doctor", "--json"])
        .env("DOCKER_HOST", &nowhere)
        .env("RELEASE_BINFMT_DIR", binfmt.path())
        .output()
        .map(|o| {
            let c = serde_json::from_str(&stdout(&o)).unwrap();
            (o, c)
        })
        .unwrap();
    let checks: Vec<serde_json::Value> = checks;
    assert!(!out.status.success());
    assert!(failed(&checks, "docker daemon")["detail"].as_str().unwrap().contains(&nowhere));
    assert_eq!(failed(&checks, "qemu qemu-arm")["fix"], "cargo xtask qemu");
    failed(&checks, "qemu qemu-aarch64");
    assert_eq!(failed(&checks, "history")["fix"], "git fetch --unshallow --tags");
    assert!(stderr(&out).contains("checks failed"));
}

#[test]
fn bad_configuration_and_missing_login() {
    let repo = TestRepo::new();
    repo.write("Cargo.toml", "[workspace.metadata.release-pipeline]\nimag = 'x'\n");
    repo.commit("a");
    let (_, checks) = doctor(&repo, &[]);
    assert!(failed(&checks, "configuration")["detail"].as_str().unwrap().contains("unknown key `imag`"));

    let repo = TestRepo::new();
    repo.write("Cargo.toml", "[workspace.metadata.release-pipeline]\nimage = '127.0.0.1:5998/acme/service'\n");
    repo.commit("a");
    let empty_config = tempfile::tempdir().unwrap();
    let (_, checks) = doctor(
        &repo,
        &[("DOCKER_CONFIG", empty_config.path().to_str().unwrap()), ("REGISTRY_USER", ""), ("REGISTRY_PASSWORD", "")],
    );
    assert_eq!(failed(&checks, "registry login")["fix"], "docker login 127.0.0.1:5998");
    let (_, checks) = doctor(&repo, &[("REGISTRY_USER", "u"), ("REGISTRY_PASSWORD", "p")]);
    assert!(checks.iter().any(|c| c["check"] == "registry login" && c["ok"] == true));
}

/// Colour is decided per stream: `doctor > file` with stderr on a terminal writes plain text,
/// and a terminal on stdout gets colour.
#[test]
fn colour_is_decided_per_stream() {
    let ws = scratch_workspace();
    let script = r#"
import json, os, pty, subprocess, sys
xtask, cwd = sys.argv[1], sys.argv[2]
env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CLICOLOR_FORCE")}
master, slave = pty.openpty()
to_file = subprocess.run([xtask, "doctor"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=slave).stdout.decode()
subprocess.run([xtask, "doctor"], cwd=cwd, env=env, stdout=slave, stderr=subprocess.DEVNULL)
os.close(slave)
on_terminal = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    on_terminal += chunk
print(json.dumps({"file": to_file, "terminal": on_terminal.decode(errors="replace")}))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, XTASK, ws.path().to_str().unwrap()])
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_ok(&out);
    let seen: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let (file, terminal) = (seen["file"].as_str().unwrap(), seen["terminal"].as_str().unwrap());
    assert!(file.contains("✓ docker CLI") && !file.contains('\x1b'), "escape codes in a file: {file:?}");
    assert!(terminal.contains("\x1b[32m✓"), "no colour on a terminal: {terminal:?}");
}

/// What the run will need on disk and in its linkers, seen before anything is built: the host's
/// `cc` as aarch64's linker (a false ✓ before: it was only looked up on PATH), a context
/// directory that does not exist and a Dockerfile that ignores `pkg/` (the run failed after the
/// whole cargo build, leaving `<dir>/pkg/` behind). `doctor` and the dry run say the same.
#[test]
fn a_host_linker_and_a_missing_context_are_seen_before_the_build() {
    let ws = scratch_workspace();
    let config = std::fs::read_to_string(ws.path().join(".cargo/config.toml")).unwrap();
    ws.write(".cargo/config.toml", &config.replace("linker = \"aarch64-linux-gnu-gcc\"", "linker = \"cc\""));
    std::fs::remove_dir_all(ws.path().join("rpi-docker")).unwrap();
    ws.write("docker/Dockerfile", "FROM scratch\nCOPY service /service\n");
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "a host linker, no rpi-docker/, a Dockerfile without pkg/"]);
    ws.git(&["checkout", "-q", "-b", "feature/broken"]);
    let (out, checks) = doctor(&ws, &[]);
    assert!(!out.status.success());
    let linker = failed(&checks, "linker for aarch64-unknown-linux-gnu");
    assert_eq!(linker["detail"], "cc links for x86_64-linux-gnu, not for aarch64-unknown-linux-gnu");
    let pass = |name: &str| checks.iter().find(|c| c["check"] == name).map(|c| c["ok"] == true);
    assert_eq!(pass("linker for armv7-unknown-linux-gnueabihf"), Some(true), "{checks:?}");
    assert_eq!(pass("services"), Some(true), "{checks:?}");
    let missing = failed(&checks, "context rpi-docker");
    assert!(missing["detail"].as_str().unwrap().ends_with("rpi-docker does not exist"), "{missing}");
    let no_pkg = failed(&checks, "context docker");
    assert!(no_pkg["detail"].as_str().unwrap().contains("does not use pkg/${TARGETPLATFORM}"), "{no_pkg}");

    for args in [&["dev-release", "--local", "--dry-run"][..], &["dev-release", "--local"][..]] {
        let out = ws.xtask_shared(args);
        assert_fails_with(&out, "context `rpi-docker`: the directory");
        assert_fails_with(&out, "context `docker`:");
        assert_fails_with(&out, "cc links for x86_64-linux-gnu, not for aarch64-unknown-linux-gnu");
        assert_fails_with(&out, "nothing was built or pushed");
        assert!(!ws.path().join("dist").exists(), "{args:?} built something");
        assert!(!ws.path().join("docker/pkg").exists() && !ws.path().join("rpi-docker").exists());
    }
}
