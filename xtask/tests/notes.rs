//! Release notes (`cargo xtask notes`, `dist/RELEASE_NOTES.md`) on real git repositories: the
//! commits between two releases and none before, per service, grouped by Conventional Commits
//! type; and what a real release writes is what `notes` prints for it afterwards.
mod common;
use common::{stack::require_docker, *};

/// `cargo xtask notes ARGS`, asserting success: its stdout.
#[track_caller]
fn notes(repo: &TestRepo, args: &[&str]) -> String {
    let mut all = vec!["notes"];
    all.extend_from_slice(args);
    let out = repo.xtask(&all);
    assert_ok(&out);
    stdout(&out)
}

/// The short ids a text names, in the order it names them.
fn short(id: &str) -> String {
    id[..12].to_owned()
}

#[test]
fn notes_between_two_releases_list_exactly_the_commits_between_them() {
    let repo = minimal_workspace();
    let before = repo.commit("feat: the first feature");
    repo.tag("v1.0.0");
    let fix = repo.commit("fix: a crash on an empty body");
    // A branch merged with a merge commit: its commit counts, the merge does not.
    repo.git(&["checkout", "-q", "-b", "feature/x"]);
    let feature = repo.commit("feat(api)!: drop the v1 routes");
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&["merge", "-q", "--no-ff", "-m", "Merge branch 'feature/x'", "feature/x"]);
    let merge = repo.head();
    let untyped = repo.commit("update the readme");
    repo.tag("v1.1.0");
    let after = repo.commit("docs: after the release");

    let text = notes(&repo, &["1.1.0"]);
    let expected = format!(
        "## 1.1.0\n\n3 commit(s) since v1.0.0.\n\n### Breaking changes\n\n- **api:** drop the v1 routes ({})\n\n### Fixes\n\n- a crash on an empty body ({})\n\n### Other\n\n- update the readme ({})\n",
        short(&feature),
        short(&fix),
        short(&untyped)
    );
    assert_eq!(text, expected);
    for absent in [&before, &merge, &after] {
        assert!(!text.contains(&short(absent)), "{absent} is not between the releases:\n{text}");
    }
    // The first release: every commit before it; `v` or not, the version names it.
    let first = notes(&repo, &["v1.0.0"]);
    assert!(first.starts_with("## 1.0.0\n\n2 commit(s) since the first commit"), "{first}");
    assert!(first.contains(&short(&before)) && !first.contains(&short(&fix)), "{first}");
    // No version: the checkout, as a dev release writes it (since v1.1.0).
    let head = notes(&repo, &[]);
    assert!(head.starts_with("## 1.1.1-dev.1\n\n1 commit(s) since v1.1.0."), "{head}");
    assert!(head.contains(&format!("- docs: after the release ({})", short(&after))), "{head}");

    // JSON: the same notes, typed, as docs/schemas/notes.schema.json says.
    let json: serde_json::Value = serde_json::from_str(&notes(&repo, &["1.1.0", "--format", "json"])).unwrap();
    schema::assert_valid("notes", &json);
    assert_eq!((json["since"].as_str(), json["commits"].as_u64()), (Some("v1.0.0"), Some(3)));
    assert_eq!(json["sections"][0]["entries"][0]["commit"], feature.as_str());
    assert_eq!(json["sections"][2]["group"], "other");
    assert_eq!(json["sections"][2]["entries"][0]["type"], serde_json::Value::Null);

    // A shallow clone cannot know the commits since the previous release: an error, not notes
    // that leave commits out.
    let clone = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    git_in(clone.path(), &["clone", "-q", "--depth", "2", "--no-single-branch", &url, "c"]);
    let out = xtask_in(&clone.path().join("c"), &["notes", "1.1.0"]);
    assert_fails_with(&out, "this is a shallow clone");
    assert!(stderr(&out).contains("git fetch --unshallow --tags"), "{}", stderr(&out));

    let out = repo.xtask(&["notes", "9.9.9"]);
    assert_fails_with(&out, "no version tag of 9.9.9");
    let out = repo.xtask(&["notes", "--format", "html"]);
    assert_fails_with(&out, "unknown --format `html`");
}

/// Two services in one repository, each with its own version tag prefix: a service's notes end
/// at its own previous release (never at the other's) and list only the commits that change what
/// it is built from.
#[test]
fn two_services_notes_do_not_mix() {
    let repo = TestRepo::new();
    let mut config = String::from(
        "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"2\"\n\n[workspace.metadata.release-pipeline]\n",
    );
    for name in ["alpha", "beta"] {
        repo.write(
            &format!("{name}/Cargo.toml"),
            &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        );
        repo.write(&format!("{name}/src/main.rs"), "fn main() {}\n");
        config.push_str(&format!(
            "\n[[workspace.metadata.release-pipeline.service]]\npackage = \"{name}\"\nversion-tag-prefix = \"{name}-v\"\n\n[[workspace.metadata.release-pipeline.context]]\ndir = \"{name}/docker\"\nservice = \"{name}\"\nplatforms = [\"linux/amd64\"]\n"
        ));
    }
    repo.write("Cargo.toml", &config);
    repo.git(&["add", "-A"]);
    repo.commit("chore: two services");
    repo.tag("alpha-v1.0.0");
    repo.tag("beta-v1.0.0");
    let change = |name: &str, subject: &str| {
        repo.write(&format!("{name}/src/main.rs"), &format!("fn main() {{ /* {subject} */ }}\n"));
        repo.git(&["commit", "-q", "-am", subject]);
        repo.head()
    };
    let alpha_fix = change("alpha", "fix(alpha): one");
    let beta_feat = change("beta", "feat(beta): two");
    repo.tag("beta-v1.1.0");
    let alpha_feat = change("alpha", "feat(alpha): three");
    repo.tag("alpha-v1.1.0");

    let alpha = notes(&repo, &["1.1.0", "--service", "alpha"]);
    assert!(alpha.starts_with("## alpha 1.1.0\n\n2 commit(s) since alpha-v1.0.0."), "{alpha}");
    assert!(alpha.contains(&short(&alpha_fix)) && alpha.contains(&short(&alpha_feat)), "{alpha}");
    assert!(!alpha.contains(&short(&beta_feat)) && !alpha.contains("beta"), "{alpha}");
    let beta = notes(&repo, &["1.1.0", "--service", "beta"]);
    assert!(beta.starts_with("## beta 1.1.0\n\n1 commit(s) since beta-v1.0.0."), "{beta}");
    assert!(beta.contains(&short(&beta_feat)) && !beta.contains(&short(&alpha_fix)), "{beta}");
    let out = repo.xtask(&["notes", "1.1.0"]);
    assert_fails_with(&out, "name one with --service NAME");
}

/// `--dry-run --json` shows the notes step with the notes it writes (the schema's `write-notes`).
#[test]
fn the_notes_are_a_step_of_the_plan() {
    require_docker();
    let repo = minimal_workspace();
    write_contexts_and_linkers(&repo);
    repo.git(&["add", "-A"]);
    repo.commit("feat: a route");
    repo.tag("1.0.0");
    let out = repo.xtask(&["release", "--dry-run", "--json"]);
    assert_ok(&out);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    schema::assert_valid("plan", &plan);
    let step =
        plan["steps"].as_array().unwrap().iter().find(|s| s["kind"] == "write-notes").expect("a write-notes step");
    assert_eq!(step["notes"]["commits"], 2);
    assert_eq!(step["argv"], serde_json::json!(["cargo", "xtask", "notes", "1.0.0"]));
    assert!(step["path"].as_str().unwrap().ends_with("/dist/RELEASE_NOTES.md"), "{step}");
    let text = stdout(&repo.xtask(&["release", "--dry-run"]));
    assert!(text.contains("write the notes of 1.0.0 to "), "{text}");
}

/// A real local release writes `dist/RELEASE_NOTES.md`; later, with newer commits and a newer
/// release tagged, `notes` of that version prints exactly what the release wrote.
#[test]
fn notes_of_an_old_version_are_what_its_release_wrote() {
    require_docker();
    let ws = scratch_workspace();
    ws.commit("feat: a route for the notes test");
    ws.commit("fix: the route's status");
    ws.tag("1.2.3");
    let out = ws.xtask_shared(&["release", "--local"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("notes: "), "the summary names the notes:\n{}", stderr(&out));
    let written = std::fs::read_to_string(ws.path().join("dist/RELEASE_NOTES.md")).unwrap();
    assert!(written.starts_with("## 1.2.3\n\n3 commit(s) since the first commit"), "{written}");
    let json = std::fs::read_to_string(ws.path().join("dist/service-1.2.3.notes.json")).unwrap();
    schema::assert_valid("notes", &serde_json::from_str(&json).unwrap());
    ws.commit("feat: after 1.2.3");
    ws.tag("1.3.0");
    ws.commit("docs: after 1.3.0");
    assert_eq!(notes(&ws, &["1.2.3"]), written);
}
