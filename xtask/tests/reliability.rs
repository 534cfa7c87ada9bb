//! The promises under faults, races, interruptions and odd input (real engine and registries).
mod common;
use common::{stack::*, *};
use std::process::Output;

fn release_via(ws: &TestRepo, repository: &str, reg: &Registry, args: &[&str]) -> Output {
    xtask_cmd(ws.path())
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("RELEASE_REPOSITORY", repository)
        .env("REGISTRY_USER", &reg.user)
        .env("REGISTRY_PASSWORD", &reg.password)
        .env("RELEASE_PIPELINE_RETRY_MS", "200")
        .args(args)
        .output()
        .unwrap()
}

/// One 500 or closed connection (the registry hiccup that failed CI one run in three)
/// does not fail a release; every registry call (reads, the push of a build's archive, skopeo's
/// copies) is retried,
/// and the registry ends up holding exactly the release. (A 500 on the login's first request
/// makes dockerd answer 401, which is never retried: a refused login stays one clear error.)
#[test]
fn transient_registry_errors_are_retried() {
    use FaultKind::*;
    let reg = Registry::start("ci", "flaky-pass-13");
    let proxy = FaultProxy::start(
        reg.port,
        vec![
            Fault { method: "HEAD", path: "/manifests/", kind: Status500 },
            Fault { method: "GET", path: "/manifests/", kind: Close },
            Fault { method: "PUT", path: "/manifests/", kind: Status500 },
        ],
    );
    let repository = format!("{}/acme/service", proxy.host());
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/flaky"]);
    let out = release_via(&ws, &repository, &reg, &["--verbose", "dev-release"]);
    assert_ok(&out);
    assert!(proxy.pending().is_empty(), "every planned fault was met: {:?}", proxy.pending());
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
    assert_eq!(reg.tags(), ["feature-flaky", "rpi-feature-flaky"]);

    // A release: the push of the image's archive meets three faults in a row (each attempt stops
    // at its first manifest) and goes through on the last attempt the retry policy allows.
    ws.tag("3.0.0");
    proxy.add(vec![
        Fault { method: "PUT", path: "/manifests/", kind: Status500 },
        Fault { method: "PUT", path: "/manifests/", kind: Close },
        Fault { method: "PUT", path: "/manifests/", kind: Status500 },
    ]);
    let out = release_via(&ws, &repository, &reg, &["release"]);
    assert_ok(&out);
    assert!(proxy.pending().is_empty(), "{:?}", proxy.pending());
    for prefix in ["", "rpi-"] {
        let own = reg.digest(&format!("{prefix}3.0.0"));
        for moving in ["3.0", "3", "latest"] {
            assert_eq!(reg.digest(&format!("{prefix}{moving}")), own, "{prefix}{moving}");
        }
    }
}

fn release_cmd(ws: &std::path::Path, reg: &Registry, args: &[&str]) -> std::process::Command {
    reg.xtask(ws, args)
}

/// A clone of `ws` in a directory of its own: another CI job's checkout of the same repository.
fn clone_of(ws: &TestRepo) -> TestRepo {
    let repo = TestRepo { dir: tempfile::tempdir().unwrap() };
    git_in(repo.path(), &["clone", "-q", ws.path().to_str().unwrap(), "."]);
    repo
}

/// Release 2.0.1 paused just before moving tags, release 2.1.0 run to the end, then
/// 2.0.1 resumed: `latest`, `2` (and the ARM context's) stay on 2.1.0; `2.0` goes to 2.0.1.
#[test]
fn latest_never_moves_backwards_when_releases_overlap() {
    let reg = Registry::start("ci", "race-pass-1");
    let ws = scratch_workspace();
    ws.tag("2.0.0");
    assert_ok(&release_cmd(ws.path(), &reg, &["release"]).output().unwrap());
    ws.commit("fix for 2.0.1");
    ws.tag("2.0.1");
    // The two checkouts share a remote, as CI jobs do: a release's tag is pushed before CI
    // releases it, and that is where the paused run learns that 2.1.0 is a release of ours.
    let origin = tempfile::tempdir().unwrap();
    git_in(origin.path(), &["init", "-q", "--bare"]);
    ws.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
    ws.git(&["push", "-q", "origin", "HEAD:refs/heads/main", "--tags"]);
    let paused = Paused::start(release_cmd(ws.path(), &reg, &["release"]), "move-tags");

    let other = clone_of(&ws);
    other.git(&["remote", "set-url", "origin", origin.path().to_str().unwrap()]);
    other.commit("feature for 2.1.0");
    other.tag("2.1.0");
    other.git(&["push", "-q", "origin", "HEAD:refs/heads/main", "refs/tags/2.1.0"]);
    let out = release_cmd(other.path(), &reg, &["release"]).output().unwrap();
    assert_ok(&out);

    let (status, _, err) = paused.resume();
    assert!(status.success(), "{err}");
    for prefix in ["", "rpi-"] {
        let newest = reg.digest(&format!("{prefix}2.1.0"));
        for moving in ["latest", "2", "2.1"] {
            assert_eq!(reg.digest(&format!("{prefix}{moving}")), newest, "{prefix}{moving}");
        }
        assert_eq!(reg.digest(&format!("{prefix}2.0")), reg.digest(&format!("{prefix}2.0.1")), "{prefix}2.0");
    }
    assert!(err.contains("never move backwards"), "{err}");

    // A moving tag left on a lower release (by hand here; a run stopped mid-copy does the same)
    // is put right by the next run that carries it, even one that is not its release.
    reg.retag("2.0.1", "latest");
    let out = release_cmd(ws.path(), &reg, &["release"]).output().unwrap();
    assert_ok(&out);
    assert!(stderr(&out).contains("putting it right"), "{}", stderr(&out));
    assert_eq!(reg.digest("latest"), reg.digest("2.1.0"));
}

/// A dev build paused during `dist` while its child commit is released meanwhile does
/// not overwrite the branch tag; nor does a checkout that does not have the newer commit (and
/// cannot fetch it): it leaves the tag and says why.
#[test]
fn an_older_dev_build_never_overwrites_a_newer_one() {
    let reg = Registry::start("ci", "race-pass-2");
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/race"]);
    let stale = clone_of(&ws);
    let paused = Paused::start(release_cmd(ws.path(), &reg, &["dev-release"]), "dist");

    let other = clone_of(&ws);
    let newer = other.commit("the child commit");
    assert_ok(&release_cmd(other.path(), &reg, &["dev-release"]).output().unwrap());
    let newer_digest = reg.digest("feature-race");
    let rpi_digest = reg.digest("rpi-feature-race");

    // A checkout whose origin does not have the newer commit yet.
    let out = release_cmd(stale.path(), &reg, &["dev-release"]).output().unwrap();
    assert_ok(&out);
    assert!(stderr(&out).contains(&newer[..12]) && stderr(&out).contains("does not have"), "{}", stderr(&out));
    assert_eq!(reg.digest("feature-race"), newer_digest);

    // The paused run, once its checkout has the newer commit: it is the older build.
    ws.git(&["fetch", "-q", other.path().to_str().unwrap(), "feature/race:refs/remotes/other/feature/race"]);
    let (status, _, err) = paused.resume();
    assert!(status.success(), "{err}");
    assert!(err.contains("holds a newer build"), "{err}");
    assert_eq!(reg.digest("feature-race"), newer_digest);
    assert_eq!(reg.digest("rpi-feature-race"), rpi_digest);
}

/// A release whose `rpi-1.9.1` push failed for good resumes from a fresh checkout: it
/// builds only what the missing image needs and fills only that context's pkg/.
#[test]
fn a_half_finished_release_resumes_from_a_fresh_checkout() {
    use FaultKind::*;
    let reg = Registry::start("ci", "resume-pass-3");
    // Every push of rpi-1.9.1 fails (containerd itself tries each PUT several times).
    let fault = Fault { method: "PUT", path: "/manifests/rpi-1.9.1", kind: Status500 };
    let proxy = FaultProxy::start(reg.port, vec![fault; 64]);
    let repository = format!("{}/acme/service", proxy.host());
    let ws = scratch_workspace();
    ws.tag("1.9.1");
    let out = release_via(&ws, &repository, &reg, &["release"]);
    assert_fails_with(&out, "failed 4 times in a row");
    assert!(proxy.clear() > 0, "the faults outlasted the retries");
    let amd = reg.digest("1.9.1");
    assert!(!reg.tags().iter().any(|t| t.starts_with("rpi-")), "{:?}", reg.tags());
    assert!(!reg.tags().contains(&"latest".to_owned()), "no moving tag before every context is in");

    let fresh = clone_of(&ws);
    let out = release_via(&fresh, &repository, &reg, &["release"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("resuming"), "{}", stderr(&out));
    assert!(stderr(&out).contains("for armv7-unknown-linux-gnueabihf\n"), "{}", stderr(&out));
    assert_eq!(reg.digest("1.9.1"), amd, "the finished context is left as it was");
    for (moving, own) in [
        ("rpi-1.9", "rpi-1.9.1"),
        ("rpi-1", "rpi-1.9.1"),
        ("rpi-latest", "rpi-1.9.1"),
        ("latest", "1.9.1"),
        ("1", "1.9.1"),
    ] {
        assert_eq!(reg.digest(moving), reg.digest(own), "{moving}");
    }
    assert!(fresh.path().join("rpi-docker/pkg").is_dir());
    assert!(!fresh.path().join("docker/pkg").exists(), "only the context it builds is filled");
}

/// SIGINT or SIGTERM in the middle of a release leaves no registry password on disk:
/// not under the run's TMPDIR, not in the checkout, not in the docker config.
#[test]
fn an_interrupted_run_leaves_no_password_on_disk() {
    let reg = Registry::start("ci", &password_made_now("sig"));
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/signals"]);
    let b64 = docker_auth(&reg);
    for (signal, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let tmp = tempfile::tempdir().unwrap();
        let docker_config = tempfile::tempdir().unwrap();
        let mut cmd = release_cmd(ws.path(), &reg, &["dev-release"]);
        cmd.env("TMPDIR", tmp.path()).env("DOCKER_CONFIG", docker_config.path());
        let mut paused = Paused::start(cmd, "build");
        assert!(
            !files_containing(tmp.path(), &[&b64]).is_empty(),
            "the login is in the temporary config while the run is going"
        );
        let kill = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &paused.pid().to_string()])
            .output()
            .unwrap();
        assert_ok(&kill);
        let (status, out, err) = paused.finish();
        assert_eq!(status.code(), Some(code), "SIG{signal}: {err}");
        for place in [tmp.path(), ws.path(), docker_config.path()] {
            let hits = files_containing(place, &[&reg.password, &b64]);
            assert!(hits.is_empty(), "SIG{signal}: the password is on disk in {hits:?}");
        }
        assert!(!out.contains(&reg.password) && !err.contains(&reg.password));
    }
}

/// A password made at run time: the scratch copy of the workspace holds this file's text, so a
/// password written here would be found on disk.
fn password_made_now(what: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{what}-{}-{nanos}", std::process::id())
}

/// What docker writes in a config.json for `reg`'s login: base64 of `user:password`.
fn docker_auth(reg: &Registry) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{}:{}' | base64 -w0", reg.user, reg.password))
        .output()
        .unwrap();
    stdout(&out)
}

/// A SIGKILLed run (no guard, no handler runs) leaves its login in TMPDIR; the
/// next run that logs in, a dry run included, removes it: no file under TMPDIR holds the
/// password.
#[test]
fn a_killed_runs_login_is_removed_by_the_next_run() {
    let reg = Registry::start("ci", &password_made_now("kill"));
    let repository = format!("{}/wt-a/service", reg.host());
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/killed"]);
    let b64 = docker_auth(&reg);
    let (tmp, docker_config) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let run = |args: &[&str]| {
        let mut cmd = release_cmd(ws.path(), &reg, args);
        cmd.env("RELEASE_REPOSITORY", &repository).env("TMPDIR", tmp.path()).env("DOCKER_CONFIG", docker_config.path());
        cmd
    };
    let mut paused = Paused::start(run(&["dev-release"]), "dist");
    let kill = std::process::Command::new("kill").args(["-KILL", &paused.pid().to_string()]).output().unwrap();
    assert_ok(&kill);
    let (status, _, _) = paused.finish();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("release-pipeline-"))
        .collect();
    assert_eq!(left.len(), 1, "the killed run's login directory: {left:?}");
    assert!(!files_containing(tmp.path(), &[&b64]).is_empty(), "the login is in it");

    let out = run(&["dev-release", "--dry-run"]).output().unwrap();
    assert_ok(&out);
    assert!(!tmp.path().join(&left[0]).exists(), "{} is still there", left[0]);
    let hits = files_containing(tmp.path(), &[&reg.password, &b64]);
    assert!(hits.is_empty(), "the password is on disk in {hits:?}");
}

/// Two branch names that make one dev tag (`feature/x`, `feature-x`): the second is refused
/// before it builds, naming both, and the first's build stays.
#[test]
fn branches_sharing_a_dev_tag_never_take_each_others() {
    let reg = Registry::start("ci", "branch-pass-7");
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/x"]);
    assert_ok(&release_cmd(ws.path(), &reg, &["dev-release"]).output().unwrap());
    let first = reg.snapshot();
    ws.git(&["checkout", "-q", "-b", "feature-x"]);
    ws.commit("on the other branch");
    let out = release_cmd(ws.path(), &reg, &["dev-release"]).output().unwrap();
    assert_fails_with(&out, "holds a build of branch feature/x, and branch feature-x has the same dev tag");
    assert_eq!(reg.snapshot(), first);
}
