//! `--dry-run --json` end to end on real git repositories.
mod common;
use common::*;

const CONFIG: &str = r#"[workspace]
members = ["service"]

[workspace.metadata.release-pipeline]
image = "127.0.0.1:5000/acme/service"
release-repository = "acme/service"
"#;

/// A workspace whose run would go through: the default contexts with their Dockerfiles and this
/// repository's cross linkers (the preflight checks both).
fn repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("Cargo.toml", CONFIG);
    write_service_package(&repo);
    write_contexts_and_linkers(&repo);
    repo.git(&["add", "-A"]);
    repo.commit("a");
    repo
}

/// The plan a dry run prints. No registry listens at the configured address, so a plan that
/// pushes has its preflight reads fail: the plan is printed all the same, the run fails, and
/// those reads are its only problems.
fn json_of(out: &std::process::Output) -> serde_json::Value {
    let plan: serde_json::Value =
        serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)));
    // Every `--json` these tests read is what docs/schemas/plan.schema.json says.
    schema::assert_valid("plan", &plan);
    let problems = plan["problems"].as_array().unwrap();
    if out.status.success() {
        assert!(problems.is_empty(), "{problems:?}");
    } else {
        assert!(!problems.is_empty() && plan["images"][0]["push"] == true, "{}", stderr(out));
        for problem in problems {
            let problem = problem.as_str().unwrap();
            assert!(problem.contains("is unreachable") || problem.starts_with("could not read"), "{problem}");
        }
        assert!(stderr(out).contains("cannot go ahead"), "{}", stderr(out));
    }
    plan
}

#[test]
fn dev_release_plan_json() {
    let repo = repo();
    repo.tag("1.2.3");
    repo.git(&["checkout", "-q", "-b", "feature/add-doodad"]);
    repo.commits(5);
    let plan = json_of(&repo.xtask(&["dev-release", "--dry-run", "--json"]));
    assert_eq!(plan["kind"], "dev-release");
    assert_eq!(plan["version"]["semver"], "1.2.4-dev.5");
    assert_eq!(plan["version"]["pep440"], "1.2.4.dev5");
    assert_eq!(plan["commit"], repo.head());
    assert_eq!(plan["branch"], "feature/add-doodad");
    let images = plan["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["context"], "docker");
    assert_eq!(images[0]["repository"], "127.0.0.1:5000/acme/service");
    assert_eq!(images[0]["platforms"], serde_json::json!(["linux/amd64", "linux/arm64", "linux/arm/v7"]));
    assert_eq!(images[0]["tags"], serde_json::json!(["feature-add-doodad"]));
    assert_eq!(images[0]["moving_tags"], serde_json::json!([]));
    assert_eq!(images[0]["push"], true);
    assert_eq!(images[1]["context"], "rpi-docker");
    assert_eq!(images[1]["tags"], serde_json::json!(["rpi-feature-add-doodad"]));
    assert_eq!(images[1]["platforms"], serde_json::json!(["linux/arm/v7"]));
    assert!(plan["reason"].as_str().unwrap().contains("feature/add-doodad"));
}

#[test]
fn release_of_the_tag_at_head() {
    let repo = repo();
    repo.tag("1.2.3");
    let plan = json_of(&repo.xtask(&["release", "--dry-run", "--json"]));
    assert_eq!(plan["kind"], "release");
    assert_eq!(plan["version"]["semver"], "1.2.3");
    assert_eq!(plan["images"][0]["tags"], serde_json::json!(["1.2.3", "1.2", "1", "latest"]));
    assert_eq!(plan["images"][0]["moving_tags"], serde_json::json!(["1.2", "1", "latest"]));
    assert_eq!(plan["images"][1]["tags"], serde_json::json!(["rpi-1.2.3", "rpi-1.2", "rpi-1", "rpi-latest"]));
    let text = stdout(&repo.xtask(&["release", "--dry-run"]));
    assert!(text.contains("release of 1.2.3") && text.contains("push: yes"), "{text}");
}

#[test]
fn old_line_patch_release_keeps_latest() {
    let repo = repo();
    repo.tag("1.9.0");
    let base = repo.head();
    repo.commit("new major");
    repo.tag("2.0.0");
    repo.git(&["checkout", "-q", "-b", "support/1.9", &base]);
    repo.commit("fix");
    repo.tag("1.9.1");
    let plan = json_of(&repo.xtask(&["release", "--dry-run", "--json"]));
    assert_eq!(plan["images"][0]["tags"], serde_json::json!(["1.9.1", "1.9", "1"]));
}

#[test]
fn a_tag_below_a_contained_release_is_refused() {
    let repo = repo();
    repo.tag("2.0.0");
    repo.commit("later");
    repo.tag("1.9.1");
    let out = repo.xtask(&["release", "--dry-run"]);
    assert_fails_with(&out, "1.9.1");
    assert_fails_with(&out, "2.0.0");
}

#[test]
fn release_needs_a_clean_tagged_head() {
    let repo = repo();
    repo.tag("1.2.3");
    repo.commit("past");
    assert_fails_with(&repo.xtask(&["release", "--dry-run"]), "HEAD is not on a version tag");
    repo.tag("1.2.4");
    repo.write("a.txt", "dirty");
    assert_fails_with(&repo.xtask(&["release", "--dry-run"]), "uncommitted changes");
}

#[test]
fn detached_head_needs_the_branch_flag() {
    let repo = repo();
    let head = repo.head();
    repo.git(&["checkout", "-q", "--detach", &head]);
    assert_fails_with(&repo.xtask(&["dev-release", "--dry-run"]), "--branch NAME");
    let plan = json_of(&repo.xtask(&["dev-release", "--json", "--branch", "feature/x"]));
    assert_eq!(plan["images"][0]["tags"], serde_json::json!(["feature-x"]));
    assert_fails_with(&repo.xtask(&["dev-release", "--dry-run", "--branch", "-lead"]), "not a valid branch name");
}

#[test]
fn repository_override_and_local_mode() {
    let repo = repo();
    let plan = json_of(&repo.xtask(&["dev-release", "--json", "--repository", "localhost:5001/me/svc"]));
    assert_eq!(plan["images"][0]["repository"], "localhost:5001/me/svc");
    let out = xtask_cmd(repo.path())
        .env("RELEASE_REPOSITORY", "localhost:5002/x")
        .args(["dev-release", "--json"])
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["images"][0]["repository"], "localhost:5002/x");
    let plan = json_of(&repo.xtask(&["dev-release", "--json", "--local"]));
    assert_eq!(plan["images"][0]["repository"], "service");
    assert_eq!(plan["images"][0]["push"], false);
    assert_eq!(plan["local"], true);
}

fn github(repo: &TestRepo, event: &str, ref_type: &str, name: &str, with_credentials: bool) -> std::process::Output {
    let mut cmd = xtask_cmd(repo.path());
    cmd.args(["ci", "--dry-run", "--json"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event)
        .env("GITHUB_REF_TYPE", ref_type)
        .env("GITHUB_REF_NAME", name)
        .env("GITHUB_REPOSITORY", "acme/service")
        .env("GITHUB_HEAD_REF", "feature/pr");
    if with_credentials {
        cmd.env("REGISTRY_USER", "ci").env("REGISTRY_PASSWORD", "s3cret");
    } else {
        cmd.env_remove("REGISTRY_USER").env_remove("REGISTRY_PASSWORD");
    }
    cmd.output().unwrap()
}

#[test]
fn ci_decides_from_the_environment() {
    let repo = repo();
    repo.tag("1.2.3");
    assert_eq!(json_of(&github(&repo, "push", "tag", "1.2.3", true))["kind"], "release");
    assert_eq!(json_of(&github(&repo, "push", "branch", "master", true))["kind"], "skip");
    assert_eq!(json_of(&github(&repo, "push", "branch", "feature/x", true))["kind"], "dev-release");
    assert_eq!(json_of(&github(&repo, "pull_request", "branch", "1/merge", false))["kind"], "build-only");
    let out = github(&repo, "push", "branch", "feature/x", false);
    assert_fails_with(&out, "REGISTRY_USER and REGISTRY_PASSWORD are not set");
    // With the credentials the dry run logs in (the registry is not there): the password
    // appears nowhere.
    let out = github(&repo, "push", "branch", "feature/x", true);
    assert!(stderr(&out).contains("127.0.0.1:5000"), "it tried the registry: {}", stderr(&out));
    assert!(!stderr(&out).contains("s3cret") && !stdout(&out).contains("s3cret"), "{}", stderr(&out));
    // Outside CI.
    assert_fails_with(&repo.xtask(&["ci", "--dry-run"]), "not running in CI");
}

/// Only a loopback registry is spoken to over plain HTTP: a host that merely starts with
/// `localhost` gets TLS like any other. Both are unreachable here, so each dry run fails, yet
/// prints its steps (a plan that signs: its primary tags are `skopeo copy`s by digest).
#[test]
fn tls_is_turned_off_for_loopback_registries_only() {
    let repo = repo();
    let signed = CONFIG.replace(
        "[workspace.metadata.release-pipeline]\n",
        "[workspace.metadata.release-pipeline]\nsigning = { sign = \"releases\" }\n",
    );
    assert_ne!(signed, CONFIG);
    repo.write("Cargo.toml", &signed);
    repo.git(&["commit", "-qam", "sign"]);
    repo.tag("1.2.3");
    let steps_for = |image: &str| {
        let out = xtask_cmd(repo.path())
            .env("RELEASE_REPOSITORY", image)
            .env_remove("REGISTRY_USER")
            .env_remove("REGISTRY_PASSWORD")
            .args(["release", "--dry-run", "--json"])
            .output()
            .unwrap();
        let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        schema::assert_valid("plan", &plan);
        let steps = plan["steps"].as_array().unwrap().clone();
        let promotes: Vec<_> = steps.iter().filter(|s| s["kind"] == "promote").collect();
        assert!(promotes.len() == 2 && promotes.iter().all(|s| s["argv"][1] == "copy"), "{steps:?}");
        steps.iter().map(|s| s["argv"].to_string()).collect::<Vec<_>>().join("\n")
    };
    let remote = steps_for("localhost.example.com:5000/acme/service");
    assert!(!remote.contains("tls-verify=false"), "{remote}");
    let local = steps_for("127.0.0.1:5000/acme/service");
    assert!(local.contains("--src-tls-verify=false") && local.contains("--dest-tls-verify=false"), "{local}");
}

#[test]
fn two_version_tags_on_head_release_the_highest() {
    let repo = repo();
    repo.tag("1.3.0");
    repo.tag("1.2.9");
    let plan = json_of(&repo.xtask(&["release", "--json"]));
    assert_eq!(plan["tag"], "1.3.0");
    assert_eq!(plan["images"][0]["tags"][0], "1.3.0");
}

/// Two contexts pushing to one repository with one prefix.
#[test]
fn two_contexts_with_one_prefix_are_refused() {
    let repo = repo();
    repo.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"service\"]\n[workspace.metadata.release-pipeline]\nimage = \"127.0.0.1:5000/acme/service\"\n\
         [[workspace.metadata.release-pipeline.context]]\ndir = \"docker\"\nplatforms = [\"linux/amd64\"]\n\
         [[workspace.metadata.release-pipeline.context]]\ndir = \"docker-slim\"\nplatforms = [\"linux/amd64\"]\n",
    );
    repo.git(&["commit", "-q", "-am", "two contexts"]);
    let out = repo.xtask(&["dev-release", "--dry-run"]);
    assert_fails_with(
        &out,
        "contexts `docker` and `docker-slim` push to the same image repository with the same image-tag-prefix",
    );
}

/// `publish` in local mode says why nothing is published (not that `publish` is empty).
#[test]
fn publish_in_local_mode_says_why() {
    let repo = TestRepo::new();
    repo.write("Cargo.toml", "[workspace]\nmembers = [\"service\"]\n[workspace.metadata.release-pipeline]\npublish = [\"service\"]\ncargo-registry = \"local\"\n");
    write_service_package(&repo);
    repo.git(&["add", "-A"]);
    repo.commit("a");
    repo.git(&["checkout", "-q", "-b", "feature/x"]);
    let out = repo.xtask(&["publish"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("local mode, which never publishes"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("`publish` is empty"), "{}", stderr(&out));
}

/// No configuration value becomes an option of git. `git-remote =
/// "--upload-pack=touch FILE"` would have `git ls-remote` run `touch FILE`: it is refused by
/// the configuration check, naming the key, before any command runs.
#[test]
fn a_configuration_value_never_becomes_an_option() {
    let repo = repo();
    let marker = repo.path().join("ran");
    let option = format!("git-remote = \"--upload-pack=touch {}\"\n", marker.display());
    repo.write("Cargo.toml", &CONFIG.replace("release-repository", &format!("{option}release-repository")));
    repo.git(&["commit", "-q", "-am", "a remote that is an option"]);
    for args in [&["prune"][..], &["doctor"], &["dev-release", "--dry-run"]] {
        let out = repo.xtask(args);
        // (`doctor` prints its checks, the configuration's among them, on stdout.)
        let said = stdout(&out) + &stderr(&out);
        assert!(!marker.exists(), "{args:?} ran the option's command:\n{said}");
        assert!(!out.status.success(), "{args:?} succeeded:\n{said}");
        assert!(said.contains("`git-remote`: `--upload-pack=touch") && said.contains("starts with `-`"), "{said}");
    }
}
