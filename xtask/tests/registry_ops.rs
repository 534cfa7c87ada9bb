//! The registry over time, on the real stack: `reconcile` puts moving tags back, `retract`
//! takes a release out of them (and yanks its crate), `prune` deletes the dev tags of gone
//! branches and nothing a release needs.
mod common;
use common::{stack::*, *};
use std::process::Command;

/// A registry, a cargo registry and a scratch workspace that publishes there when `publish`.
fn setup(password: &str, publish: bool) -> StackEnv {
    let reg = Registry::start("ci", password);
    let crates = CargoRegistry::start();
    let ws = if publish { publishing_workspace() } else { scratch_workspace() };
    StackEnv { reg, crates, ws }
}

impl StackEnv {
    fn release(&self, version: &str) {
        self.ws.commit(&format!("work for {version}"));
        self.ws.tag(version);
        assert_ok(&self.run(&["release"]));
    }
}

/// An image someone else pushed at a higher version (no git tag of it here) is no release of
/// ours: the next release and `reconcile` leave `latest` on our highest release, naming it.
#[test]
fn a_foreign_image_at_a_higher_version_gets_no_moving_tag() {
    let env = setup("ops-pass-4", false);
    let reg = &env.reg;
    env.release("1.2.0");
    reg.retag("1.2.0", "9.9.9");
    reg.retag("rpi-1.2.0", "rpi-9.9.9");
    env.ws.commit("work for 1.3.0");
    env.ws.tag("1.3.0");
    let out = env.run(&["release"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("9.9.9 has no git tag in this repository: it is not a release of ours"),
        "{}",
        stderr(&out)
    );
    let (d130, rpi130) = (reg.digest("1.3.0"), reg.digest("rpi-1.3.0"));
    for tag in ["latest", "1"] {
        assert_eq!(reg.digest(tag), d130, "{tag}");
        assert_eq!(reg.digest(&format!("rpi-{tag}")), rpi130, "rpi-{tag}");
    }
    let out = env.run(&["reconcile", "--apply"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("9.9.9 has no git tag"), "{}", stderr(&out));
    assert_eq!(reg.digest("latest"), d130);
    assert_eq!(reg.digest("rpi-latest"), rpi130);
}

/// A retraction made while a release of that version runs wins: the release, paused right
/// before its moving tags, is retracted (its yank finds nothing to yank: the crate is not
/// published yet, and the retraction stands); resumed, it moves no tag onto it and publishes no
/// crate of it.
#[test]
fn a_retraction_made_while_its_release_runs_wins() {
    let env = setup("ops-pass-5", true);
    let reg = &env.reg;
    env.release("2.0.0");
    let d200 = reg.digest("2.0.0");
    env.ws.commit("work for 2.1.0");
    env.ws.tag("2.1.0");
    let mut cmd = xtask_cmd(env.ws.path());
    cmd.env("CARGO_TARGET_DIR", shared_target_dir())
        .env("RELEASE_REPOSITORY", reg.repository())
        .env("REGISTRY_USER", &reg.user)
        .env("REGISTRY_PASSWORD", &reg.password)
        .arg("release");
    for (k, v) in env.crates.cargo_env(&env.crates.token) {
        cmd.env(k, v);
    }
    let paused = Paused::start(cmd, "move-tags");
    let out = env.run(&["retract", "2.1.0", "--reason", "loses data"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("nothing to yank"), "{}", stderr(&out));
    assert_ok(&env.run(&["reconcile", "--apply"]));
    let (status, _, stderr) = paused.resume();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("2.1.0 was retracted while this run was going"), "{stderr}");
    for tag in ["latest", "2"] {
        assert_eq!(reg.digest(tag), d200, "{tag} stays on 2.0.0");
    }
    assert_eq!(env.crates.versions("service"), ["2.0.0"], "2.1.0 is never published");
    // The retraction stands: a rerun of the release is refused.
    assert_fails_with(&env.run(&["release", "--dry-run"]), "2.1.0 was retracted (loses data)");
}

#[test]
fn reconcile_retract_and_the_next_release() {
    let env = setup("ops-pass-1", true);
    let reg = &env.reg;
    env.release("1.2.0");
    env.release("1.3.0");
    let (d120, d130) = (reg.digest("1.2.0"), reg.digest("1.3.0"));
    assert_eq!(reg.digest("latest"), d130);

    // Moved back by hand: reconcile shows the change, --apply makes it, a rerun has nothing to do.
    reg.retag("1.2.0", "latest");
    let before = reg.snapshot();
    let out = env.run(&["reconcile"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("point-tag") && stdout(&out).contains(":latest"), "{}", stdout(&out));
    assert_eq!(reg.snapshot(), before, "without --apply nothing changes");
    assert_ok(&env.run(&["reconcile", "--apply"]));
    assert_eq!(reg.digest("latest"), d130);
    let out = env.run(&["reconcile", "--json"]);
    assert_ok(&out);
    let steps: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(steps.as_array().unwrap().iter().all(|s| s["kind"] != "point-tag"), "{steps}");
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));

    // Retract 1.3.0: a tag records it, the crate is yanked, reconcile moves 1 and latest back.
    let out = env.run(&["retract", "1.3.0", "--reason", "corrupts the cache"]);
    assert_ok(&out);
    let message = env.ws.git(&["tag", "--list", "--format=%(contents)", "retracted/1.3.0"]);
    assert_eq!(message.trim(), "corrupts the cache");
    assert_eq!(env.crates.yanked("service"), ["1.3.0"]);
    // Run again (as after a failed push or yank): the tag is there already, the rest runs again.
    let out = env.run(&["retract", "1.3.0", "--reason", "corrupts the cache"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("1.3.0 is retracted already (corrupts the cache)"), "{}", stdout(&out));
    assert_ok(&env.run(&["reconcile", "--apply"]));
    for (prefix, release) in [("", d120.clone()), ("rpi-", reg.digest("rpi-1.2.0"))] {
        assert_eq!(reg.digest(&format!("{prefix}latest")), release, "{prefix}latest");
        assert_eq!(reg.digest(&format!("{prefix}1")), release, "{prefix}1");
    }
    // 1.3 has no other release to point at: it stays, and reconcile says so.
    assert_eq!(reg.digest("1.3"), d130);
    let out = env.run(&["reconcile"]);
    assert!(stdout(&out).contains("1.3: no release it covers is left"), "{}", stdout(&out));

    // A retracted version is never released again.
    env.ws.git(&["checkout", "-q", "1.3.0"]);
    assert_fails_with(&env.run(&["release", "--dry-run"]), "1.3.0 was retracted (corrupts the cache)");
    env.ws.git(&["checkout", "-q", "-"]);

    // The next release moves latest forward again.
    env.release("1.3.1");
    let d131 = reg.digest("1.3.1");
    for tag in ["latest", "1", "1.3"] {
        assert_eq!(reg.digest(tag), d131, "{tag}");
    }
}

/// A branch pushed to the remote with its own commit (one amd64 image: its dev release is quick).
fn push_branch(ws: &TestRepo, branch: &str) {
    ws.git(&["checkout", "-q", "-b", branch, "main"]);
    let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
    let one_context = manifest.replace(
        "[workspace.metadata.release-pipeline]\n",
        "[workspace.metadata.release-pipeline]\ncontext = [{ dir = \"docker\", platforms = [\"linux/amd64\"] }]\n",
    );
    ws.write("Cargo.toml", &one_context);
    ws.git(&["commit", "-q", "-am", &format!("branch {branch}")]);
    ws.git(&["push", "-q", "origin", branch]);
}

#[test]
fn prune_deletes_the_dev_tags_of_gone_branches_only() {
    let mut env = setup("ops-pass-2", false);
    let origin = tempfile::tempdir().unwrap();
    let ws = &env.ws;
    ws.git(&["branch", "-M", "main"]);
    Command::new("git").args(["init", "-q", "--bare"]).arg(origin.path()).output().unwrap();
    ws.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
    ws.git(&["push", "-q", "origin", "main"]);
    ws.tag("1.0.0");
    assert_ok(&env.run(&["release"]));
    for branch in ["a", "b", "c"] {
        push_branch(&env.ws, branch);
        assert_ok(&env.run(&["dev-release"]));
    }
    env.ws.git(&["checkout", "-q", "main"]);
    env.ws.git(&["push", "-q", "origin", "--delete", "a", "c"]);
    let before = env.reg.tags();
    assert!(["a", "b", "c", "latest"].iter().all(|t| before.contains(&t.to_string())), "{before:?}");

    // Without --apply: every tag with its reason, nothing deleted.
    let out = env.run(&["prune"]);
    assert_ok(&out);
    let said = stdout(&out);
    assert!(said.contains(":a  (branch a is gone from the remote)"), "{said}");
    assert!(said.contains(":b  (branch b exists on the remote)"), "{said}");
    assert!(said.contains(":latest  (a moving tag)") && said.contains(":1.0.0  (a version tag)"), "{said}");
    assert_eq!(env.reg.tags(), before);

    // A registry that does not allow deletes: one clear error naming the setting.
    env.reg.restart_with(false);
    let out = env.run(&["prune", "--apply"]);
    assert_fails_with(&out, "deletes are not enabled");
    assert_fails_with(&out, "delete: enabled: true");
    env.reg.restart_with(true);

    assert_ok(&env.run(&["prune", "--apply"]));
    let after = env.reg.tags();
    let gone: Vec<&String> = before.iter().filter(|t| !after.contains(t)).collect();
    assert_eq!(gone, ["a", "c"]);
    let out = env.run(&["prune", "--json"]);
    assert_ok(&out);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["steps"], serde_json::json!([]), "a second prune has nothing to delete");

    // After the registry's garbage collection the release is whole: every blob is there, and it
    // runs on every platform.
    env.reg.garbage_collect();
    let copy = tempfile::tempdir().unwrap();
    let creds = format!("{}:{}", env.reg.user, env.reg.password);
    for tag in ["1.0.0", "rpi-1.0.0", "b"] {
        let out = Command::new("skopeo")
            .args(["copy", "--all", "--src-tls-verify=false", "--src-creds", &creds])
            .arg(format!("docker://{}:{tag}", env.reg.repository()))
            .arg(format!("oci:{}:{tag}", copy.path().display()))
            .output()
            .unwrap();
        assert_ok(&out);
    }
    let client = DockerClient::login(&env.reg);
    for platform in ["linux/amd64", "linux/arm64", "linux/arm/v7"] {
        let answer = client.run_version(&format!("{}:1.0.0", env.reg.repository()), platform);
        assert_eq!(answer["version"], "1.0.0", "{platform}");
    }

    // A retraction pushed from another clone counts for reconcile before this one fetches it.
    let other = tempfile::tempdir().unwrap();
    let commit = env.ws.git(&["rev-parse", "1.0.0^{commit}"]);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=Other", "-c", "user.email=other@example.com"])
            .args(args)
            .current_dir(other.path())
            .output()
            .unwrap();
        assert_ok(&out);
    };
    git(&["clone", "-q", origin.path().to_str().unwrap(), "."]);
    git(&["tag", "-a", "retracted/1.0.0", "-m", "remote says no", commit.trim()]);
    git(&["push", "-q", "origin", "retracted/1.0.0"]);
    let out = env.run(&["reconcile"]);
    assert_ok(&out);
    assert!(stdout(&out).contains(":latest: no release it covers is left"), "{}", stdout(&out));
}

const BRANCH: &str = "org.release-pipeline.branch";
const CREATED: &str = "org.opencontainers.image.created";

/// A registry of the test's own, a scratch workspace whose git remote `origin` (a bare
/// repository) has `main`, and `cargo xtask` run against them. The images are small ones pushed
/// with skopeo (`Registry::push_image`): prune reads labels and digests, not what was built.
struct PruneEnv {
    reg: Registry,
    ws: TestRepo,
    _origin: tempfile::TempDir,
}

impl PruneEnv {
    fn new(password: &str) -> PruneEnv {
        let reg = Registry::start("ci", password);
        let ws = scratch_workspace();
        let origin = tempfile::tempdir().unwrap();
        git_in(origin.path(), &["init", "-q", "--bare"]);
        ws.git(&["remote", "add", "origin", origin.path().to_str().unwrap()]);
        ws.git(&["push", "-q", "origin", "main"]);
        PruneEnv { reg, ws, _origin: origin }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.reg.xtask(self.ws.path(), args)
    }

    /// A dev build of `branch` as `tag` (the same branch and arch: the same digest).
    fn dev_image(&self, tag: &str, branch: &str, arch: &str) -> String {
        self.reg.push_image(tag, arch, &[(BRANCH, branch), (CREATED, "2026-01-01T00:00:00Z")])
    }

    /// Pushes `branch` (at main's commit) to the remote, or deletes it there.
    fn remote_branch(&self, branch: &str, there: bool) {
        let refspec = if there { format!("main:refs/heads/{branch}") } else { format!(":refs/heads/{branch}") };
        self.ws.git(&["push", "-q", "origin", &refspec]);
    }
}

/// Branch `a` deleted on the remote, `prune --apply` paused after deciding to delete
/// `a` and `rpi-a`; meanwhile `a` is pushed again (and dev-released: the same commit, so the
/// same digests). Resumed, prune reads the remote's branches again before each delete and keeps
/// both tags.
#[test]
fn prune_keeps_a_branch_that_came_back() {
    let env = PruneEnv::new("ops-pass-13");
    env.remote_branch("a", true);
    let (a, rpi_a) = (env.dev_image("a", "a", "amd64"), env.dev_image("rpi-a", "a", "arm"));
    env.remote_branch("a", false);
    let paused = Paused::start(env.cmd(&["prune", "--apply"]), "prune");
    env.remote_branch("a", true);
    let (status, out, err) = paused.resume();
    assert!(status.success(), "{err}");
    assert!(out.contains(":a  (branch a is gone from the remote)"), "it had decided to delete a: {out}");
    assert_eq!(env.reg.tags(), ["a", "rpi-a"]);
    assert_eq!((env.reg.digest("a"), env.reg.digest("rpi-a")), (a, rpi_a));
    assert!(err.contains("left alone: a: branch a exists on the remote"), "{err}");
    assert!(err.contains("left alone: rpi-a: branch a exists on the remote"), "{err}");

    // Gone for good: the next prune deletes both.
    env.remote_branch("a", false);
    assert_ok(&env.cmd(&["prune", "--apply"]).output().unwrap());
    assert_eq!(env.reg.tags(), Vec::<String>::new());
}

/// Two tags prune deletes on one digest are one delete, and two prunes that overlap
/// (one paused after deciding while the other deletes everything) both succeed.
#[test]
fn overlapping_prunes_delete_each_digest_once() {
    let env = PruneEnv::new("ops-pass-14");
    let push = || {
        let a = env.dev_image("a", "a", "amd64");
        env.dev_image("a-twin", "a", "amd64");
        env.dev_image("c", "c", "amd64");
        env.dev_image("main", "main", "amd64");
        assert_eq!(env.reg.digest("a-twin"), a);
    };
    push();
    let out = env.cmd(&["prune", "--apply"]).output().unwrap();
    assert_ok(&out);
    let said = stdout(&out);
    assert_eq!(said.matches("$ skopeo delete").count(), 2, "one delete for a and a-twin, one for c: {said}");
    assert!(said.contains("delete a, a-twin: ") || said.contains("delete a-twin, a: "), "{said}");
    assert_eq!(env.reg.tags(), ["main"]);

    push();
    let paused = Paused::start(env.cmd(&["prune", "--apply"]), "prune");
    assert_ok(&env.cmd(&["prune", "--apply"]).output().unwrap());
    assert_eq!(env.reg.tags(), ["main"]);
    let (status, _, err) = paused.resume();
    assert!(status.success(), "{err}");
    assert!(err.contains("was deleted meanwhile (another prune?): done"), "{err}");
    assert_eq!(env.reg.tags(), ["main"]);
}

/// A registry that pages its tag list (`Link: <…>; rel="next"`, here 2 tags a page
/// through a proxy) is read whole.
#[test]
fn tags_are_read_across_pages() {
    let env = PruneEnv::new("ops-pass-16");
    let names = ["a", "b", "c", "d", "e"];
    for (i, tag) in names.iter().enumerate() {
        env.reg.push_image(tag, "amd64", &[(BRANCH, "main"), (CREATED, &format!("2026-01-0{}T00:00:00Z", i + 1))]);
    }
    let proxy = FaultProxy::start_paging(env.reg.port, Vec::new(), Some(2));
    let out = env.cmd(&["prune"]).env("RELEASE_REPOSITORY", format!("{}/acme/service", proxy.host())).output().unwrap();
    assert_ok(&out);
    for tag in names {
        assert!(stdout(&out).contains(&format!("/acme/service:{tag}  (branch main exists")), "{tag}: {}", stdout(&out));
    }
    let lists: Vec<String> =
        proxy.forwarded.lock().unwrap().iter().filter(|r| r.contains("/tags/list")).cloned().collect();
    assert!(lists.iter().filter(|r| r.contains("last=")).count() >= 2, "three pages, two followed by Link: {lists:?}");
}

/// A part of `feature-x` refuses the staging tag a part of `feature/x` pushed at the
/// same commit (one dev tag, so one staging tag), before anything is built; its own branch's
/// part there (a rerun) is no problem.
#[test]
fn a_part_refuses_a_staging_tag_another_branch_holds() {
    let env = PruneEnv::new("ops-pass-15");
    env.ws.git(&["checkout", "-q", "-b", "feature-x"]);
    let commit = env.ws.git(&["rev-parse", "HEAD"]);
    let staging = format!("staging-{}-feature-x-linux-amd64", &commit[..12]);
    env.dev_image(&staging, "feature/x", "amd64");
    let part = ["dev-release", "--part", "x86_64-unknown-linux-musl", "--dry-run"];
    let out = env.cmd(&part).output().unwrap();
    assert_fails_with(
        &out,
        &format!("{staging} holds a part of branch feature/x, and branch feature-x has the same staging tag"),
    );
    env.dev_image(&staging, "feature-x", "amd64");
    assert_ok(&env.cmd(&part).output().unwrap());
}

/// A staging tag is not a dev tag: its branch gone from the remote, it stays until
/// `--keep-days` says it is older than that (the README's promise).
#[test]
fn staging_tags_wait_for_keep_days() {
    let env = PruneEnv::new("ops-pass-15b");
    env.dev_image("staging-0123456789ab-gone-linux-amd64", "gone", "amd64");
    let out = env.cmd(&["prune", "--apply"]).output().unwrap();
    assert_ok(&out);
    assert!(stdout(&out).contains("(a staging tag: a merge may still need it"), "{}", stdout(&out));
    assert_eq!(env.reg.tags(), ["staging-0123456789ab-gone-linux-amd64"]);
    assert_ok(&env.cmd(&["prune", "--apply", "--keep-days", "1"]).output().unwrap());
    assert_eq!(env.reg.tags(), Vec::<String>::new());
}
