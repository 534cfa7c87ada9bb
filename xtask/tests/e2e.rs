//! End to end on the real stack: a real engine, buildx, qemu, and a real password-protected
//! registry, no fake in the loop (the fake docker tests are in `executor_argv.rs`).
mod common;
use common::{stack::*, *};
use std::process::Output;

fn release_cmd(ws: &TestRepo, reg: &Registry, password: &str, args: &[&str]) -> Output {
    xtask_cmd(ws.path())
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("RELEASE_REPOSITORY", reg.repository())
        .env("REGISTRY_USER", &reg.user)
        .env("REGISTRY_PASSWORD", password)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dev_release_release_rerun_and_race() {
    let reg = Registry::start("ci", "e2e-pass-1");
    let client = DockerClient::login(&reg);
    let ws = scratch_workspace();
    let c1 = ws.head();
    ws.git(&["checkout", "-q", "-b", "feature/e2e#1"]);
    let version = ws.version("semver");

    // 1. A dev release pushes the branch tags; every platform reports the computed version.
    let out = release_cmd(&ws, &reg, &reg.password, &["dev-release"]);
    assert_ok(&out);
    assert!(!stderr(&out).contains(&reg.password) && !stdout(&out).contains(&reg.password), "the password leaked");
    assert_eq!(reg.tags(), ["feature-e2e-1", "rpi-feature-e2e-1"]);
    for platform in ["linux/amd64", "linux/arm/v7", "linux/arm64"] {
        let answer = client.run_version(&format!("{}:feature-e2e-1", reg.repository()), platform);
        assert_eq!(answer["version"], version.as_str(), "{platform}");
        assert_eq!(answer["commit"], c1.as_str(), "{platform}");
    }
    let answer = client.run_version(&format!("{}:rpi-feature-e2e-1", reg.repository()), "linux/arm/v7");
    assert_eq!(answer["version"], version.as_str());

    // 2. A release: version tags, moving tags at the same digests.
    ws.tag("v1.2.3");
    let out = release_cmd(&ws, &reg, &reg.password, &["release"]);
    assert_ok(&out);
    for prefix in ["", "rpi-"] {
        let own = reg.digest(&format!("{prefix}1.2.3"));
        for moving in ["1.2", "1", "latest"] {
            assert_eq!(reg.digest(&format!("{prefix}{moving}")), own, "{prefix}{moving}");
        }
    }
    assert_eq!(client.run_version(&format!("{}:1.2.3", reg.repository()), "linux/amd64")["version"], "1.2.3");
    assert_eq!(client.run_version(&format!("{}:rpi-latest", reg.repository()), "linux/arm/v7")["version"], "1.2.3");

    // 3. Again: nothing changes, and it says so. Then a moved tag is refused.
    let before = reg.snapshot();
    let out = release_cmd(&ws, &reg, &reg.password, &["release"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("already released"), "{}", stderr(&out));
    assert_eq!(reg.snapshot(), before);
    let c2 = ws.commit("after the release");
    ws.git(&["tag", "-f", "v1.2.3", &c2]);
    let out = release_cmd(&ws, &reg, &reg.password, &["release"]);
    assert_fails_with(&out, "already exists");
    assert_fails_with(&out, "releases are immutable");
    assert_eq!(reg.snapshot(), before, "a refused release pushes nothing");
    ws.git(&["tag", "-f", "v1.2.3", &c1]);

    // 4. A new commit on the branch: a dev release leaves the release tags alone.
    let out = release_cmd(&ws, &reg, &reg.password, &["dev-release"]);
    assert_ok(&out);
    for tag in ["1.2.3", "latest", "rpi-latest"] {
        assert_eq!(reg.digest(tag), before.iter().find(|(t, _)| t == tag).unwrap().1, "{tag}");
    }
    let newer = reg.digest("feature-e2e-1");
    assert_eq!(
        client.run_version(&format!("{}:feature-e2e-1", reg.repository()), "linux/amd64")["commit"],
        c2.as_str()
    );
    // The race: an older build finishing last does not overwrite the newer one.
    ws.git(&["checkout", "-q", "--detach", &c1]);
    let out = release_cmd(&ws, &reg, &reg.password, &["dev-release", "--branch", "feature/e2e#1"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("holds a newer build"), "{}", stderr(&out));
    assert_eq!(reg.digest("feature-e2e-1"), newer);
}

/// A dry run makes the preflight a run makes, the login into the private docker config included,
/// so a protected registry is read; it prints every step with its command line, no secret in any.
#[test]
fn a_dry_run_reads_the_protected_registry_and_prints_the_steps() {
    let reg = Registry::start("ci", "dry-pass-7");
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/dry"]);
    let out = release_cmd(&ws, &reg, &reg.password, &["dev-release", "--dry-run", "--json"]);
    assert_ok(&out);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[..3], ["login", "package", "fill-pkg"], "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "build").count(), 2, "{kinds:?}");
    let build = steps.iter().find(|s| s["kind"] == "build").unwrap();
    let argv: Vec<&str> = build["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(argv[..3], ["docker", "buildx", "build"]);
    assert!(argv.iter().any(|a| a.starts_with("type=oci,dest=") && a.ends_with(",rewrite-timestamp=true")), "{argv:?}");
    // The archive the build writes is pushed as it is by the step after it.
    let push = &steps[steps.iter().position(|s| s == build).unwrap() + 1];
    assert_eq!(push["kind"], "push", "{push}");
    assert_eq!(push["reference"], format!("{}:feature-dry", reg.repository()), "{push}");
    for step in steps {
        assert!(!step["argv"].to_string().contains(&reg.password), "{step}");
    }
    assert!(!stdout(&out).contains(&reg.password) && !stderr(&out).contains(&reg.password), "the password leaked");
    assert!(reg.tags().is_empty(), "a dry run writes nothing");
    // The same dry run with a wrong password: the plan and steps are printed, the refusal said.
    let out = release_cmd(&ws, &reg, "wrong-pass", &["dev-release", "--dry-run"]);
    assert_fails_with(&out, "refused the login");
    assert!(
        stdout(&out).contains("plan:    dev-release") && stdout(&out).contains("$ docker buildx build"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn wrong_password_is_refused_and_pushes_nothing() {
    let reg = Registry::start("ci", "right-pass-2");
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/x"]);
    let out = release_cmd(&ws, &reg, "wrong-pass-2", &["dev-release"]);
    assert_fails_with(&out, "refused the login");
    assert!(!stderr(&out).contains("wrong-pass-2") && !stdout(&out).contains("wrong-pass-2"));
    assert!(!stderr(&out).contains("retrying"), "a 401 is not retried:\n{}", stderr(&out));
    assert!(reg.tags().is_empty());
}

#[test]
fn a_stopped_registry_is_a_clear_error() {
    let mut reg = Registry::start("ci", "pass-3");
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/x"]);
    reg.stop();
    let out = release_cmd(&ws, &reg, &reg.password, &["dev-release"]);
    assert_fails_with(&out, "unreachable");
    reg.restart();
    assert!(reg.tags().is_empty(), "the registry holds what it held before");
}

#[test]
fn a_daemon_that_is_not_there() {
    let ws = scratch_workspace();
    let out = xtask_cmd(ws.path())
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{}", free_port()))
        .args(["dev-release", "--local"])
        .output()
        .unwrap();
    assert_fails_with(&out, "the Docker daemon is not reachable");
    assert_fails_with(&out, "help:");
}

#[test]
fn no_docker_cli() {
    let ws = scratch_workspace();
    let empty = tempfile::tempdir().unwrap();
    let out = xtask_cmd(ws.path()).env("PATH", empty.path()).args(["dev-release", "--local"]).output().unwrap();
    assert_fails_with(&out, "the docker CLI is not on PATH");
}

#[test]
fn local_mode_builds_into_the_engine_and_runs() {
    require_docker();
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/local-e2e"]);
    let port = free_port().to_string();
    let out = ws.xtask_shared(&["dev-release", "--local", "--run", "--port", &port]);
    assert_ok(&out);
    let answer: serde_json::Value = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    assert_eq!(answer["version"], ws.version("semver").as_str());
    let _ = std::process::Command::new("docker").args(["stop", "service-feature-local-e2e"]).output();
    assert!(stderr(&out).contains("docker stop service-feature-local-e2e"));
}

/// `--run` replaces only a container an earlier `--run` started, never another one that happens
/// to have the same name.
#[test]
fn run_leaves_a_foreign_container_alone() {
    require_docker();
    let mut build = std::process::Command::new("docker");
    build
        .args(["build", "--quiet", "-t", "rp-foreign:test", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = build.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"FROM scratch\nCMD [\"none\"]\n").unwrap();
    assert!(child.wait().unwrap().success());
    let name = "service-feature-foreign";
    let _ = std::process::Command::new("docker").args(["rm", "--force", name]).output();
    assert_ok(
        &std::process::Command::new("docker").args(["create", "--name", name, "rp-foreign:test"]).output().unwrap(),
    );

    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/foreign"]);
    let port = free_port().to_string();
    let out = ws.xtask_shared(&["dev-release", "--local", "--run", "--port", &port]);
    assert_fails_with(&out, "was not started by `--run`: leaving it alone");
    let still = std::process::Command::new("docker")
        .args(["container", "inspect", "--format", "{{.Config.Image}}", name])
        .output()
        .unwrap();
    assert_eq!(stdout(&still).trim(), "rp-foreign:test");
    let _ = std::process::Command::new("docker").args(["rm", "--force", name]).output();
}
