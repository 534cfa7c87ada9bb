//! `cargo xtask version` on real git repositories: one test per rule and edge case.
mod common;
use common::*;

#[track_caller]
fn check(repo: &TestRepo, semver: &str, pep440: &str) {
    assert_eq!(repo.version("semver"), semver, "semver");
    assert_eq!(repo.version("pep440"), pep440, "pep440");
}

fn json(repo: &TestRepo) -> serde_json::Value {
    serde_json::from_str(&repo.version("json")).unwrap()
}

#[test]
fn exact_tag_is_the_release_version() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3");
    check(&repo, "1.2.3", "1.2.3");
    let j = json(&repo);
    assert_eq!(j["tag"], "1.2.3");
    assert_eq!(j["distance"], 0);
    assert_eq!(j["dirty"], false);
    assert_eq!(j["shallow"], false);
    assert_eq!(j["commit"], repo.head());
}

#[test]
fn annotated_and_v_prefixed_tags() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.annotated_tag("v2.0.0");
    check(&repo, "2.0.0", "2.0.0");
    repo.commits(3);
    check(&repo, "2.0.1-dev.3", "2.0.1.dev3");
    assert_eq!(json(&repo)["tag"], "v2.0.0");
}

#[test]
fn commits_past_a_release_make_the_next_patch_dev() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3");
    repo.commits(5);
    check(&repo, "1.2.4-dev.5", "1.2.4.dev5");
    assert_eq!(json(&repo)["distance"], 5);
}

#[test]
fn pre_release_tags_bump_their_last_number() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.3.0-rc.1");
    check(&repo, "1.3.0-rc.1", "1.3.0rc1");
    repo.commits(2);
    check(&repo, "1.3.0-rc.2.dev.2", "1.3.0rc2.dev2");

    let alpha = TestRepo::new();
    alpha.commit("a");
    alpha.tag("1.0.0-alpha");
    check(&alpha, "1.0.0-alpha", "1.0.0a0");
    alpha.commits(2);
    check(&alpha, "1.0.0-alpha.1.dev.2", "1.0.0a1.dev2");
}

#[test]
fn build_metadata_is_kept_in_semver_only_for_dev() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3+build7");
    check(&repo, "1.2.3+build7", "1.2.3+build7");
    repo.commits(1);
    check(&repo, "1.2.4-dev.1+build7", "1.2.4.dev1+build7");
}

#[test]
fn no_pep440_form_is_an_error_for_that_format_only() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.0.0-foo.1");
    assert_eq!(repo.version("semver"), "1.0.0-foo.1");
    let out = repo.xtask(&["version", "--format", "pep440"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("has no PEP 440 form"), "{}", stderr(&out));
    assert_eq!(json(&repo)["pep440"], serde_json::Value::Null);
}

#[test]
fn two_tags_on_one_commit_take_the_highest() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3");
    repo.annotated_tag("1.3.0");
    check(&repo, "1.3.0", "1.3.0");
}

#[test]
fn other_tags_are_ignored_with_a_warning_for_near_misses() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3");
    repo.commit("b");
    // (The last four are near misses too.)
    let near = ["9.0.0-x/y", "9.0.1-ünï", "9.0.2-", "v9.0.3+b/c"];
    for tag in ["1.2", "1.2.9rc1", "build42", "deploy-2024", "xtask-v0.1.0", "v1.2.3.4"].iter().chain(&near) {
        repo.tag(tag);
    }
    check(&repo, "1.2.4-dev.1", "1.2.4.dev1");
    let err = stderr(&repo.xtask(&["version"]));
    assert!(err.contains("tag `1.2` looks like a version but is not SemVer"), "{err}");
    for tag in ["v1.2.3.4"].iter().chain(&near) {
        assert!(err.contains(&format!("tag `{tag}` looks like a version")), "{tag}: {err}");
    }
    assert!(!err.contains("build42"), "{err}");
}

#[test]
fn version_tag_prefix_from_the_configuration() {
    let repo = TestRepo::new();
    repo.write("Cargo.toml", "[workspace.metadata.release-pipeline]\nversion-tag-prefix = \"mypkg-v\"\n");
    repo.git(&["add", "Cargo.toml"]);
    repo.commit("a");
    repo.tag("mypkg-v1.4.0");
    repo.tag("9.9.9"); // not ours: no prefix
    repo.commits(2);
    check(&repo, "1.4.1-dev.2", "1.4.1.dev2");
}

#[test]
fn tags_on_unmerged_branches_do_not_count() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.0.0");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.commit("b");
    repo.tag("5.0.0");
    repo.git(&["checkout", "-q", "main"]);
    repo.commits(2);
    check(&repo, "1.0.1-dev.2", "1.0.1.dev2");
}

#[test]
fn highest_reachable_tag_wins_over_nearest_after_a_hotfix_merge() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.9.0");
    repo.git(&["checkout", "-q", "-b", "hotfix"]);
    repo.commit("fix");
    repo.tag("1.9.1");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("big");
    repo.tag("2.0.0");
    repo.commit("more");
    repo.git(&["merge", "-q", "--no-edit", "hotfix"]);
    // Reachable: 2.0.0 (2 commits + merge + the fix commit past it: 'more', 'fix', merge).
    check(&repo, "2.0.1-dev.3", "2.0.1.dev3");
    assert_eq!(json(&repo)["tag"], "2.0.0");
}

#[test]
fn tag_on_a_merge_commit() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.commit("s");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("m");
    repo.git(&["merge", "-q", "--no-edit", "side"]);
    repo.tag("3.1.0");
    check(&repo, "3.1.0", "3.1.0");
    repo.commits(1);
    check(&repo, "3.1.1-dev.1", "3.1.1.dev1");
}

#[test]
fn dirty_staged_untracked_and_touched() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3");
    repo.write("untracked.txt", "x");
    check(&repo, "1.2.3", "1.2.3");
    // Touched but equal content.
    repo.write("a.txt", "a");
    check(&repo, "1.2.3", "1.2.3");
    repo.write("a.txt", "changed");
    check(&repo, "1.2.4-dev.0", "1.2.4.dev0");
    assert_eq!(json(&repo)["dirty"], true);
    repo.git(&["checkout", "-q", "a.txt"]);
    repo.write("new.txt", "staged");
    repo.git(&["add", "new.txt"]);
    check(&repo, "1.2.4-dev.0", "1.2.4.dev0");
}

/// Past the tag the version does not depend on the work tree (`version` does not read it
/// then), but `--format json` still reports it.
#[test]
fn a_dirty_tree_past_the_tag_keeps_the_dev_version_and_json_reports_it() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3");
    repo.commits(2);
    repo.write("a.txt", "changed");
    check(&repo, "1.2.4-dev.2", "1.2.4.dev2");
    let j = json(&repo);
    assert_eq!((j["dirty"].as_bool(), j["distance"].as_u64()), (Some(true), Some(2)));
    repo.git(&["checkout", "-q", "a.txt"]);
    assert_eq!(json(&repo)["dirty"], false);
}

#[test]
fn no_commits_and_no_tags() {
    let repo = TestRepo::new();
    check(&repo, "0.1.0-dev.0", "0.1.dev0");
    repo.commits(3);
    check(&repo, "0.1.0-dev.3", "0.1.dev3");
    assert_eq!(json(&repo)["tag"], serde_json::Value::Null);
}

#[test]
fn detached_head_and_branches_make_no_difference() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.0.0");
    repo.commits(2);
    repo.git(&["checkout", "-q", "-b", "feature/x"]);
    check(&repo, "1.0.1-dev.2", "1.0.1.dev2");
    let head = repo.head();
    repo.git(&["checkout", "-q", "--detach", &head]);
    check(&repo, "1.0.1-dev.2", "1.0.1.dev2");
}

#[test]
fn linked_worktree() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.0.0");
    repo.commits(1);
    let wt = tempfile::tempdir().unwrap();
    let wt_path = wt.path().join("wt");
    repo.git(&["worktree", "add", "-q", wt_path.to_str().unwrap(), "HEAD"]);
    let out = xtask_in(&wt_path, &["version"]);
    assert_eq!(stdout(&out).trim(), "1.0.1-dev.1", "{}", stderr(&out));
}

/// With `2.0.0` on main and hotfix `1.9.1` merged, a shallow
/// clone sees only `1.9.1` and would answer `1.9.2-dev.N`. A dev version in a shallow clone is
/// an error; HEAD exactly on a version tag proceeds.
#[test]
fn shallow_clone_cannot_prove_a_dev_version() {
    let origin = TestRepo::new();
    origin.commit("base");
    origin.git(&["checkout", "-q", "-b", "hotfix"]);
    origin.commit("fix");
    origin.tag("1.9.1");
    origin.git(&["checkout", "-q", "main"]);
    origin.commits(3);
    origin.tag("2.0.0");
    origin.commits(3);
    origin.git(&["merge", "-q", "--no-edit", "hotfix"]);
    origin.commit("after");
    assert_eq!(origin.version("semver"), "2.0.1-dev.6");
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git_in(clone.path(), &["clone", "-q", "--depth", "3", &url, "c"]);
    let out = xtask_in(&clone.path().join("c"), &["version"]);
    assert!(!out.status.success(), "a shallow clone answered {}", stdout(&out));
    assert!(
        stderr(&out).contains("shallow clone") && stderr(&out).contains("git fetch --unshallow --tags"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    // HEAD exactly on a version tag: the version is the tag's, shallow or not.
    origin.tag("2.1.0");
    let clone = tempfile::tempdir().unwrap();
    git_in(clone.path(), &["clone", "-q", "--depth", "1", "--branch", "2.1.0", &url, "c"]);
    let out = xtask_in(&clone.path().join("c"), &["version", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    assert_eq!(j["semver"], "2.1.0");
    assert_eq!(j["shallow"], true);
}

#[test]
fn shallow_clone_with_the_tag_outside_the_depth_is_an_error() {
    let origin = TestRepo::new();
    origin.commit("a");
    origin.tag("1.0.0");
    origin.commits(5);
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", origin.path().display());
    git_in(clone.path(), &["clone", "-q", "--depth", "2", &url, "c"]);
    let out = xtask_in(&clone.path().join("c"), &["version"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("shallow clone"), "{err}");
    assert!(err.contains("git fetch --unshallow --tags"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn fifteen_hundred_commits_past_a_tag() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("4.5.6");
    repo.many_commits(1500);
    check(&repo, "4.5.7-dev.1500", "4.5.7.dev1500");
}

#[test]
fn outside_git_uses_the_override_or_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = xtask_in(dir.path(), &["version"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not in a git repository"), "{}", stderr(&out));
    assert!(stderr(&out).contains("RELEASE_VERSION"), "{}", stderr(&out));

    let out = xtask_cmd(dir.path()).env("RELEASE_VERSION", "1.2.3").args(["version"]).output().unwrap();
    assert_eq!(stdout(&out).trim(), "1.2.3");
    let out = xtask_cmd(dir.path()).env("RELEASE_VERSION", "1.2").args(["version"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not a SemVer version"), "{}", stderr(&out));
}

#[test]
fn repo_flag_reads_another_repository() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("7.0.0");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = xtask_in(elsewhere.path(), &["version", "--repo", repo.path().to_str().unwrap()]);
    assert_eq!(stdout(&out).trim(), "7.0.0", "{}", stderr(&out));
}

#[test]
fn bad_format_is_an_error() {
    let repo = TestRepo::new();
    let out = repo.xtask(&["version", "--format", "yaml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown --format `yaml`"));
}

/// The PEP 440 form is exactly what setuptools_scm (guess-next-dev, no-local-version) prints
/// wherever our deliberate differences do not apply.
#[test]
fn pep440_matches_setuptools_scm() {
    let conf = tempfile::tempdir().unwrap();
    let pyproject = conf.path().join("pyproject.toml");
    std::fs::write(
        &pyproject,
        "[project]\nname = \"x\"\ndynamic = [\"version\"]\n[tool.setuptools_scm]\nversion_scheme = \"guess-next-dev\"\nlocal_scheme = \"no-local-version\"\n",
    )
    .unwrap();
    let scm = |repo: &TestRepo| -> String {
        let out = std::process::Command::new("python3")
            .args(["-W", "ignore", "-m", "setuptools_scm", "-c"])
            .arg(&pyproject)
            .arg("--root")
            .arg(repo.path())
            .output()
            .expect("python3 must be installed (scripts/onboard.sh)");
        assert!(out.status.success(), "setuptools_scm must be installed (.ci/run installs it): {}", stderr(&out));
        stdout(&out).lines().last().unwrap_or("").to_owned()
    };
    let repo = TestRepo::new();
    repo.commits(2);
    assert_eq!(repo.version("pep440"), scm(&repo), "no tag");
    let cases: &[(&str, usize)] = &[
        ("1.2.3", 0),
        ("1.2.4", 5),
        ("v2.0.0", 1),
        ("2.1.0-rc.1", 0),
        ("2.1.0-rc.2", 2),
        ("3.0.0-alpha", 3),
        ("3.0.0-beta.2", 1),
    ];
    for (tag, distance) in cases {
        repo.commit(tag);
        repo.tag(tag);
        repo.commits(*distance);
        assert_eq!(repo.version("pep440"), scm(&repo), "tag {tag} + {distance}");
    }
    repo.write("a.txt", "dirty");
    assert_eq!(repo.version("pep440"), scm(&repo), "dirty");
    // A tag's local part stays on the dev versions after it.
    let repo = TestRepo::new();
    repo.commit("a");
    repo.tag("1.2.3+build7");
    repo.commits(2);
    assert_eq!(repo.version("pep440"), "1.2.4.dev2+build7");
    assert_eq!(repo.version("pep440"), scm(&repo), "tag 1.2.3+build7 + 2");
}

#[test]
fn repo_that_does_not_exist_is_an_error() {
    let repo = TestRepo::new();
    repo.commit("a");
    let missing = repo.path().join("no/such/dir");
    let out = xtask_cmd(repo.path())
        .env("RELEASE_VERSION", "9.9.9")
        .args(["version", "--repo", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_fails_with(&out, "no such directory");
    assert!(stdout(&out).is_empty(), "not RELEASE_VERSION: {}", stdout(&out));
}

#[test]
fn packed_annotated_tags_with_and_without_peeled_lines_and_loose_overrides() {
    let repo = TestRepo::new();
    repo.commit("a");
    repo.annotated_tag("1.0.0");
    repo.commit("b");
    repo.annotated_tag("1.1.0");
    repo.tag("0.9.0");
    repo.commits(2);
    repo.git(&["pack-refs", "--all"]);
    let packed = std::fs::read_to_string(repo.path().join(".git/packed-refs")).unwrap();
    assert!(packed.lines().any(|l| l.starts_with('^')), "peeled lines:\n{packed}");
    check(&repo, "1.1.1-dev.2", "1.1.1.dev2");

    // The same refs without the peeled lines (as an older git writes them): the tags are read.
    let bare: String =
        packed.lines().filter(|l| !l.starts_with('^') && !l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    std::fs::write(repo.path().join(".git/packed-refs"), bare).unwrap();
    check(&repo, "1.1.1-dev.2", "1.1.1.dev2");

    // A loose ref overrides the packed one (and its peeled line): 1.1.0 moved to a side branch.
    std::fs::write(repo.path().join(".git/packed-refs"), &packed).unwrap();
    repo.git(&["checkout", "-q", "-b", "side", "HEAD~3"]);
    repo.commit("side");
    repo.git(&["tag", "-f", "-a", "-m", "moved", "1.1.0"]);
    repo.git(&["checkout", "-q", "main"]);
    assert!(repo.path().join(".git/refs/tags/1.1.0").exists());
    check(&repo, "1.0.1-dev.3", "1.0.1.dev3");
}
