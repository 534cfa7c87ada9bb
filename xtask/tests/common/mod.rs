//! Test helpers: real git repositories in temp dirs, and the real xtask binary run on them.
#![allow(dead_code)]
pub mod schema;
pub mod stack;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

pub const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

/// `git` with a fixed identity and no user or system configuration.
pub fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .stdin(Stdio::null());
    cmd
}

#[track_caller]
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("running git");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

impl TestRepo {
    pub fn new() -> TestRepo {
        let dir = tempfile::tempdir().unwrap();
        git_in(dir.path(), &["init", "-q", "-b", "main"]);
        TestRepo { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        git_in(self.path(), args)
    }

    pub fn write(&self, file: &str, text: &str) {
        let path = self.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A commit that adds `<msg>.txt` (so branches merge without conflicts); returns its id.
    pub fn commit(&self, msg: &str) -> String {
        let file: String = msg.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let file = format!("{file}.txt");
        self.write(&file, msg);
        self.git(&["add", &file]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.head()
    }

    pub fn commits(&self, n: usize) {
        for i in 0..n {
            self.commit(&format!("c{i}"));
        }
    }

    /// `n` empty commits on the current branch, fast (git fast-import).
    pub fn many_commits(&self, n: usize) {
        let branch = self.git(&["symbolic-ref", "HEAD"]);
        let mut stream = String::new();
        for i in 0..n {
            stream.push_str(&format!(
                "commit {branch}\ncommitter Test <test@example.com> {} +0000\ndata <<EOT\nbulk {i}\nEOT\n",
                1_700_000_000 + i
            ));
            if i == 0 {
                stream.push_str(&format!("from {}\n", self.head()));
            }
            stream.push_str(&format!("M 644 inline bulk.txt\ndata <<EOT\n{i}\nEOT\n\n"));
        }
        let mut child = git_cmd(self.path()).args(["fast-import", "--quiet"]).stdin(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(stream.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        self.git(&["reset", "-q", "--hard"]);
    }

    pub fn tag(&self, name: &str) {
        self.git(&["tag", name]);
    }

    pub fn annotated_tag(&self, name: &str) {
        self.git(&["tag", "-a", name, "-m", name]);
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        xtask_in(self.path(), args)
    }

    /// `cargo xtask version` (last line of stdout), asserting success.
    #[track_caller]
    pub fn version(&self, format: &str) -> String {
        let out = self.xtask(&["version", "--format", format]);
        assert!(out.status.success(), "version failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().last().unwrap_or("").to_owned()
    }
}

pub fn xtask_in(dir: &Path, args: &[&str]) -> Output {
    xtask_cmd(dir).args(args).output().expect("running xtask")
}

pub fn xtask_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new(XTASK);
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("RELEASE_VERSION")
        .env_remove("RELEASE_REPOSITORY")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for var in CI_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Variables a CI system sets; removed so tests run the same inside CI and out.
pub const CI_VARS: &[&str] = &[
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_REF",
    "GITHUB_REF_NAME",
    "GITHUB_REF_TYPE",
    "GITHUB_EVENT_NAME",
    "GITHUB_REPOSITORY",
    "GITHUB_HEAD_REF",
    "GITHUB_STEP_SUMMARY",
    "GITLAB_CI",
    "CI_COMMIT_TAG",
    "CI_COMMIT_BRANCH",
    "CI_PIPELINE_SOURCE",
    "CI_PROJECT_PATH",
    "CI_MERGE_REQUEST_IID",
    "TRAVIS",
    "TRAVIS_BRANCH",
    "TRAVIS_TAG",
    "TRAVIS_EVENT_TYPE",
    "TRAVIS_REPO_SLUG",
    "TRAVIS_PULL_REQUEST",
    "TRAVIS_PULL_REQUEST_SLUG",
];

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The workspace this test suite belongs to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A copy of this workspace's files (tracked and untracked-not-ignored, as they are on disk)
/// committed into a fresh repository: the real project, on a history the test controls.
pub fn scratch_workspace() -> TestRepo {
    let root = workspace_root();
    let files = git_in(&root, &["ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
    let repo = TestRepo::new();
    for file in files.split('\0').filter(|f| !f.is_empty()) {
        let src = root.join(file);
        if !src.is_file() {
            continue; // deleted in the work tree
        }
        let dst = repo.path().join(file);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dst).unwrap();
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "scratch copy of the workspace"]);
    repo
}

/// A fresh repository holding a workspace with one binary package, `service` (never built):
/// what the planner needs to plan a run that a test stops before any build.
pub fn minimal_workspace() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("Cargo.toml", "[workspace]\nmembers = [\"service\"]\n");
    write_service_package(&repo);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "a workspace with one service"]);
    repo
}

/// What a run's preflight checks besides the packages: the default contexts, each with a
/// Dockerfile that adds `pkg/${TARGETPLATFORM}`, and this repository's cross linkers.
pub fn write_contexts_and_linkers(repo: &TestRepo) {
    for context in ["docker", "rpi-docker"] {
        repo.write(
            &format!("{context}/Dockerfile"),
            "FROM scratch\nARG TARGETPLATFORM\nADD pkg/${TARGETPLATFORM}/*.tar.gz /\n",
        );
    }
    let linkers = std::fs::read_to_string(workspace_root().join(".cargo/config.toml")).unwrap();
    repo.write(".cargo/config.toml", &linkers);
}

/// The binary package `service/` (a workspace's `members` must name it).
pub fn write_service_package(repo: &TestRepo) {
    repo.write("service/Cargo.toml", "[package]\nname = \"service\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    repo.write("service/src/main.rs", "fn main() {}\n");
}

/// A scratch workspace whose configuration publishes `service` to the cargo registry `local`.
pub fn publishing_workspace() -> TestRepo {
    let ws = scratch_workspace();
    let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap().replace(
        "[workspace.metadata.release-pipeline]\n",
        "[workspace.metadata.release-pipeline]\npublish = [\"service\"]\ncargo-registry = \"local\"\n",
    );
    ws.write("Cargo.toml", &manifest);
    ws.git(&["commit", "-q", "-am", "publish to the local cargo registry"]);
    ws
}

/// One target directory for every scratch workspace, so the service is built once, not per test.
pub fn shared_target_dir() -> PathBuf {
    let base =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    base.join("scratch")
}

impl TestRepo {
    /// `cargo xtask ARGS` in this repository, with the shared target dir.
    pub fn xtask_shared(&self, args: &[&str]) -> Output {
        xtask_cmd(self.path()).env("CARGO_TARGET_DIR", shared_target_dir()).args(args).output().unwrap()
    }
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(out.status.success(), "failed ({}):\nstdout:\n{}\nstderr:\n{}", out.status, stdout(out), stderr(out));
}

#[track_caller]
pub fn assert_fails_with(out: &Output, needle: &str) {
    assert!(!out.status.success(), "succeeded, expected failure with {needle:?}:\n{}", stderr(out));
    assert!(stderr(out).contains(needle), "stderr lacks {needle:?}:\n{}", stderr(out));
}

/// Every file under `dir` whose bytes contain one of `needles`.
pub fn files_containing(dir: &std::path::Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                if path.file_name() != Some(std::ffi::OsStr::new("target")) {
                    stack.push(path);
                }
            } else if let Ok(bytes) = std::fs::read(&path) {
                if needles.iter().any(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes())) {
                    hits.push(path.display().to_string());
                }
            }
        }
    }
    hits
}

/// A run stopped at a named step by the pause hook (`RELEASE_PIPELINE_PAUSE_AT`), its output in
/// files.
pub struct Paused {
    pub child: std::process::Child,
    file: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Paused {
    /// Starts `cmd` and waits until it has paused at `step`.
    pub fn start(mut cmd: std::process::Command, step: &str) -> Paused {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("go");
        cmd.env("RELEASE_PIPELINE_PAUSE_AT", step)
            .env("RELEASE_PIPELINE_PAUSE_FILE", &file)
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        let paused = file.with_extension("paused");
        while !paused.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the run ended ({status}) before pausing at {step}:\n{}",
                    std::fs::read_to_string(dir.path().join("stderr")).unwrap()
                );
            }
            assert!(std::time::Instant::now() < deadline, "no pause at {step}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Paused { child, file, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the run go on and waits for its end: (status, stdout, stderr).
    pub fn resume(mut self) -> (std::process::ExitStatus, String, String) {
        std::fs::write(&self.file, "go").unwrap();
        self.finish()
    }

    pub fn finish(&mut self) -> (std::process::ExitStatus, String, String) {
        let status = self.child.wait().unwrap();
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap();
        (status, read("stdout"), read("stderr"))
    }
}
