//! A fake `docker` on PATH records argv and stdin: the exact commands we run, and that the
//! password goes through stdin only. In addition to the real stack tests (e2e.rs).
mod common;
use common::{stack::*, *};

const REPO: &str = "127.0.0.1:5999/acme/service";

fn fake_docker_stops_at(stop: &str) -> FakeDocker {
    FakeDocker::new(&format!(
        r#"  "info --format {{{{json .DriverStatus}}}}") echo '[["driver-type","io.containerd.snapshotter.v1"]]' ;;
  "buildx version") echo "github.com/docker/buildx 0.13.1 abc" ;;
  "login "*) echo "Login Succeeded" ;;
  "buildx inspect nope") echo "ERROR: no builder \"nope\" found" >&2; exit 1 ;;
  "buildx inspect "*) echo "Name: $3" ;;
  "buildx imagetools inspect "*) {stop} ;;
  "buildx build "*) echo "fake: build stops here" >&2; exit 1 ;;
  *) echo "fake docker: unexpected $*" >&2; exit 3 ;;"#
    ))
}

#[test]
fn login_takes_the_password_on_stdin_only() {
    let fake =
        fake_docker_stops_at(r#"echo "ERROR: dial tcp 127.0.0.1:5999: connect: connection refused" >&2; exit 1"#);
    let ws = minimal_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/x"]);
    let out = xtask_cmd(ws.path())
        .env("PATH", fake.path_env())
        .env("RELEASE_REPOSITORY", REPO)
        .env("REGISTRY_USER", "ci")
        .env("REGISTRY_PASSWORD", "hunter2-secret")
        .args(["dev-release"])
        .output()
        .unwrap();
    assert_fails_with(&out, "the registry 127.0.0.1:5999 is unreachable");
    let calls = fake.calls();
    assert_eq!(
        calls[..4],
        [
            "info --format {{json .DriverStatus}}",
            "buildx version",
            "login 127.0.0.1:5999 --username ci --password-stdin",
            &format!("buildx imagetools inspect {REPO}:feature-x --format {{{{json .}}}}"),
        ]
    );
    assert_eq!(fake.stdin(), "hunter2-secret");
    assert!(calls.iter().all(|c| !c.contains("hunter2")), "{calls:?}");
    assert!(!stderr(&out).contains("hunter2") && !stdout(&out).contains("hunter2"));
}

#[test]
fn build_command_line() {
    let fake = fake_docker_stops_at(r#"echo "ERROR: $4: not found" >&2; exit 1"#);
    let ws = scratch_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/argv"]);
    let out = xtask_cmd(ws.path())
        .env("PATH", fake.path_env())
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("RELEASE_REPOSITORY", REPO)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("REGISTRY_USER")
        .env_remove("REGISTRY_PASSWORD")
        .args(["dev-release", "--builder", "remote-builder"])
        .output()
        .unwrap();
    assert_fails_with(&out, "fake: build stops here");
    let build = fake.calls().into_iter().find(|c| c.starts_with("buildx build")).expect("a build was run");
    let version = ws.version("semver");
    let expected = format!(
        "buildx build --builder remote-builder --platform linux/amd64,linux/arm64,linux/arm/v7 --provenance=false \
         --build-arg CREATED=2023-11-14T22:13:20Z --build-arg REVISION={} --build-arg SOURCE= \
         --build-arg SOURCE_DATE_EPOCH=1700000000 --build-arg VERSION={version} \
         --label org.opencontainers.image.revision={} --label org.opencontainers.image.version={version} \
         --label org.release-pipeline.branch=feature/argv --label org.release-pipeline.context=docker \
         --metadata-file ",
        ws.head(),
        ws.head()
    );
    assert!(build.starts_with(&expected), "\n got: {build}\nwant: {expected}…");
    assert!(
        build.ends_with(&format!("/image-docker.oci.tar,rewrite-timestamp=true {}/docker", ws.path().display())),
        "the image goes to an OCI archive with its timestamps rewritten, pushed after: {build}"
    );
    assert!(!fake.calls().iter().any(|c| c.starts_with("login")), "no credentials: the user's own login is used");
}

#[test]
fn missing_or_old_buildx() {
    for (answer, expected) in [
        (r#"echo "docker: 'buildx' is not a docker command." >&2; exit 1"#, "docker buildx is not installed"),
        (r#"echo "github.com/docker/buildx v0.8.2 6224def""#, "docker buildx is too old"),
    ] {
        let fake = FakeDocker::new(&format!(
            "  \"info --format {{{{json .DriverStatus}}}}\") echo '[]' ;;\n  \"buildx version\") {answer} ;;\n  *) exit 3 ;;"
        ));
        let ws = minimal_workspace();
        let out = xtask_cmd(ws.path()).env("PATH", fake.path_env()).args(["dev-release", "--local"]).output().unwrap();
        assert_fails_with(&out, expected);
        assert_fails_with(&out, "help: ");
    }
}

/// `--run` without `--local` is refused before anything runs
/// (before, images were pushed and the crate published, then the run failed).
#[test]
fn run_without_local_is_refused_before_anything_runs() {
    let fake = fake_docker_stops_at("exit 1");
    let ws = minimal_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/x"]);
    for args in [&["dev-release", "--run"][..], &["dev-release", "--run", "--dry-run"][..]] {
        let out = xtask_cmd(ws.path())
            .env("PATH", fake.path_env())
            .env("RELEASE_REPOSITORY", REPO)
            .args(args)
            .output()
            .unwrap();
        assert_fails_with(&out, "add --local");
        assert_fails_with(&out, "nothing was built or pushed");
    }
    assert_eq!(fake.calls(), Vec::<String>::new(), "docker was never called");
}

/// An unknown `--builder` and an invalid image are caught before `dist`, all in one report.
#[test]
fn unknown_builder_and_bad_image_are_refused_early() {
    let fake = fake_docker_stops_at(r#"echo "ERROR: $4: not found" >&2; exit 1"#);
    let ws = minimal_workspace();
    ws.git(&["checkout", "-q", "-b", "feature/x"]);
    let out = xtask_cmd(ws.path())
        .env("PATH", fake.path_env())
        .env("RELEASE_REPOSITORY", REPO)
        .env_remove("REGISTRY_USER")
        .env_remove("REGISTRY_PASSWORD")
        .args(["dev-release", "--builder", "nope"])
        .output()
        .unwrap();
    assert_fails_with(&out, "--builder nope: buildx does not know that builder");
    assert!(!fake.calls().iter().any(|c| c.starts_with("buildx build")), "{:?}", fake.calls());
    // A dry run reports it too, after printing the plan.
    let dry = xtask_cmd(ws.path())
        .env("PATH", fake.path_env())
        .env("RELEASE_REPOSITORY", REPO)
        .args(["dev-release", "--builder", "nope", "--dry-run"])
        .output()
        .unwrap();
    assert_fails_with(&dry, "--builder nope: buildx does not know that builder");
    assert!(stdout(&dry).contains("plan:    dev-release"), "{}", stdout(&dry));
    assert!(!stderr(&out).contains("==> dist"), "{}", stderr(&out));

    let out = xtask_cmd(ws.path())
        .env("PATH", fake.path_env())
        .env("RELEASE_REPOSITORY", "127.0.0.1:5999/Acme/Service:v1")
        .args(["dev-release", "--dry-run"])
        .output()
        .unwrap();
    assert_fails_with(&out, "must be lowercase");
}
