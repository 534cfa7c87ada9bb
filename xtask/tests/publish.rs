//! Publishing to a real cargo registry (ktra): releases and dev versions, and what cargo
//! installs from them.
mod common;
use common::{stack::*, *};
use std::process::Command;

fn setup() -> StackEnv {
    let reg = Registry::start("ci", "pub-pass");
    let crates = CargoRegistry::start();
    StackEnv { reg, crates, ws: publishing_workspace() }
}

impl StackEnv {
    fn install(&self, version: Option<&str>) -> String {
        let root = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("cargo");
        cmd.args(["install", "--quiet", "service", "--registry", "local", "--root"])
            .arg(root.path())
            .env("CARGO_TARGET_DIR", shared_target_dir().join("install"));
        if let Some(v) = version {
            cmd.args(["--version", v]);
        }
        for (k, v) in self.crates.cargo_env(&self.crates.token) {
            cmd.env(k, v);
        }
        assert_ok(&cmd.output().unwrap());
        stdout(&Command::new(root.path().join("bin/service")).arg("--version").output().unwrap()).trim().to_owned()
    }
}

#[test]
fn releases_and_dev_versions_in_a_cargo_registry() {
    let env = setup();
    let ws = &env.ws;
    let tagged = ws.head();
    ws.tag("1.2.3");
    assert_ok(&env.run(&["release"]));
    ws.git(&["checkout", "-q", "-b", "feature/p"]);
    ws.commit("dev work");
    assert_eq!(ws.version("semver"), "1.2.4-dev.1");
    let out = env.run(&["dev-release"]);
    assert_ok(&out);
    assert_eq!(env.crates.versions("service"), ["1.2.3", "1.2.4-dev.1"]);
    assert!(ws.git(&["status", "--porcelain"]).is_empty(), "publishing leaves the checkout clean");

    // cargo skips the dev version unless asked for it by name.
    assert_eq!(env.install(None), "service 1.2.3");
    assert_eq!(env.install(Some("=1.2.4-dev.1")), "service 1.2.4-dev.1");

    // A dev release on the tagged commit publishes nothing.
    ws.git(&["checkout", "-q", "-b", "feature/on-tag", &tagged]);
    let out = env.run(&["dev-release"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("only the release publishes it"), "{}", stdout(&out));
    assert_eq!(env.crates.versions("service"), ["1.2.3", "1.2.4-dev.1"]);

    // Another branch at the same distance computes the same dev version: skipped, with a warning.
    ws.git(&["checkout", "-q", "-b", "feature/q", &tagged]);
    ws.commit("other work");
    assert_eq!(ws.version("semver"), "1.2.4-dev.1");
    let out = env.run(&["dev-release"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("another branch at the same distance published it"), "{}", stderr(&out));
    assert!(stderr(&out).contains("skipped: `local` already has 1.2.4-dev.1"), "{}", stderr(&out));

    // A wrong token: a clear error, and the token never printed.
    ws.commit("more");
    let out = env.run_with_token("wrong-token-value", &["publish"]);
    assert_fails_with(&out, "refused the token");
    assert!(!stderr(&out).contains("wrong-token-value") && !stdout(&out).contains("wrong-token-value"));
}

#[test]
fn a_release_from_another_commit_is_refused_before_any_image_is_pushed() {
    let env = setup();
    env.ws.tag("1.2.3");
    assert_ok(&env.run(&["publish"]));
    assert_eq!(env.crates.versions("service"), ["1.2.3"]);
    // The same version from another commit, to a registry with no images yet.
    let c2 = env.ws.commit("rewritten");
    env.ws.git(&["tag", "-f", "1.2.3", &c2]);
    let out = env.run(&["release"]);
    assert_fails_with(&out, "service 1.2.3 is already in the cargo registry `local`");
    assert!(env.reg.tags().is_empty(), "no image was pushed");
}

#[test]
fn missing_token_names_the_variable() {
    let env = setup();
    env.ws.tag("1.2.3");
    // A dry run makes the preflight a run makes: it prints the plan and names the variable too.
    let out = env.run_with_token("", &["release", "--dry-run"]);
    assert_fails_with(&out, "CARGO_REGISTRIES_LOCAL_TOKEN is not set");
    assert!(stdout(&out).contains("plan:    release of 1.2.3"), "{}", stdout(&out));
    let out = env.run_with_token("", &["release"]);
    assert_fails_with(&out, "CARGO_REGISTRIES_LOCAL_TOKEN is not set");
    assert!(env.reg.tags().is_empty());
}

/// Only what git tracks reaches a crate. A key listed in
/// `.git/info/exclude` (and an untracked file) beside the sources stays out.
#[test]
fn only_tracked_files_are_published() {
    let env = setup();
    let ws = &env.ws;
    ws.git(&["checkout", "-q", "-b", "feature/tracked"]);
    std::fs::write(ws.path().join(".git/info/exclude"), "service/api-key.txt\n").unwrap();
    ws.write("service/api-key.txt", "API-KEY-5f3a9c");
    ws.write("service/notes-untracked.txt", "not committed");
    let version = ws.version("semver");
    let out = env.run(&["publish"]);
    assert_ok(&out);
    assert!(!stdout(&out).contains(&env.crates.token) && !stderr(&out).contains(&env.crates.token), "the token leaked");
    let hits = files_containing(ws.path(), &[&env.crates.token]);
    assert!(hits.is_empty(), "the cargo token is on disk in {hits:?}");
    let staged = shared_target_dir().join("release-pipeline");
    assert!(files_containing(&staged, &[&env.crates.token]).is_empty(), "the token is in the staging area");
    let files = env.crates.crate_files("service", &version);
    assert!(files.iter().any(|f| f.ends_with("/src/main.rs")), "{files:?}");
    assert!(!files.iter().any(|f| f.contains("api-key") || f.contains("notes-untracked")), "{files:?}");

    // A tracked link to an untracked file would publish that file's content: refused.
    ws.write(".env.local", "TOKEN=do-not-publish");
    std::fs::write(ws.path().join(".git/info/exclude"), "service/api-key.txt\n.env.local\n").unwrap();
    std::os::unix::fs::symlink("../.env.local", ws.path().join("service/conf")).unwrap();
    ws.git(&["add", "service/conf"]);
    ws.git(&["commit", "-q", "-m", "a link to an untracked file"]);
    let out = env.run(&["publish"]);
    assert_fails_with(&out, "which git does not track: refusing to publish its content");
}

/// A dev release from a dirty tree pushes no image and publishes no crate, and says
/// which files are changed.
#[test]
fn a_dirty_tree_pushes_and_publishes_nothing() {
    let env = setup();
    let ws = &env.ws;
    ws.git(&["checkout", "-q", "-b", "feature/dirty"]);
    let main = std::fs::read_to_string(ws.path().join("service/src/main.rs")).unwrap();
    ws.write("service/src/main.rs", &format!("{main}\n// an uncommitted edit\n"));
    for args in [&["dev-release"][..], &["publish"][..]] {
        let out = env.run(args);
        assert_fails_with(&out, "uncommitted changes");
        assert_fails_with(&out, "service/src/main.rs");
    }
    assert!(env.reg.tags().is_empty(), "{:?}", env.reg.tags());
    assert!(env.crates.versions("service").is_empty());
}
