//! `(git state, CI env, config) → plan`, one line per case, each checked whole (`expect!`),
//! and every case's rendered plan and steps in one snapshot per test (`snapshots/`).
use std::cell::RefCell;

use expect_test::{expect, expect_file, Expect};

use super::*;
use super::{
    facts::{CrateAction, Facts, PublishState},
    step::Step,
};
use crate::{ci, qemu::HostQemu};

thread_local! {
    /// The rendered plans and steps of the cases the running test checked.
    static SNAPSHOT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Collects every case a test checks; on drop, compares them with `snapshots/<name>.txt`
/// (`UPDATE_EXPECT=1` rewrites it).
struct Snapshot(&'static str);

fn snapshot(name: &'static str) -> Snapshot {
    SNAPSHOT.with(|s| *s.borrow_mut() = Some(String::new()));
    Snapshot(name)
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let text = SNAPSHOT.with(|s| s.borrow_mut().take()).unwrap_or_default();
        if !std::thread::panicking() {
            expect_file![format!("snapshots/{}.txt", self.0)].assert_eq(&text);
        }
    }
}

/// The facts of a fixed host for the steps: amd64 with qemu-arm registered but not
/// qemu-aarch64, credentials in the environment, nothing in the registries yet.
fn facts(plan: &ReleasePlan) -> Facts {
    Facts {
        root: "/work".into(),
        targets: Config::default().targets,
        scratch_dir: "/work/target/release-pipeline/run-1".into(),
        cargo_home: Some("/home/u/.cargo".into()),
        host_platform: "linux/amd64".into(),
        containerd_store: true,
        qemu: HostQemu {
            mounted: true,
            enabled: vec!["qemu-arm".into()],
            update_binfmts: vec!["qemu-arm".into(), "qemu-aarch64".into()],
            binfmt_dir: "/proc/sys/fs/binfmt_misc".into(),
        },
        qemu_image: "tonistiigi/binfmt".into(),
        epoch: 1_700_000_000,
        source_url: Some("https://github.com/acme/service".into()),
        provenance_repository: "https://github.com/acme/service".into(),
        run_url: Some("https://github.com/acme/service/actions/runs/7".into()),
        login_user: Some("ci".into()),
        authfile: Some("/tmp/docker-config/config.json".into()),
        builder: None,
        run_port: None,
        actions: plan.images.iter().map(|_| BuildAction::Build).collect(),
        mirror_users: plan.mirrors.iter().map(|_| Some("mirror-ci".into())).collect(),
        mirrors: plan.images.iter().map(|_| plan.mirrors.iter().map(|_| BuildAction::Build).collect()).collect(),
        crates: plan
            .publish
            .iter()
            .map(|p| CrateAction {
                krate: p.krate.clone(),
                version: p.version.clone(),
                registry: p.registry.clone(),
                state: PublishState::Publish,
            })
            .collect(),
        signing: crate::config::SigningConfig::default(),
        signed: plan.images.iter().map(|_| false).collect(),
        sums_unsigned: false,
        part: None,
        merge: None,
        notes: None,
    }
}

/// Adds a case's rendered plan and steps to the running test's snapshot.
fn record(case: &str, plan: &Result<ReleasePlan>) {
    let text = match plan {
        Ok(plan) => {
            let steps = steps::steps(plan, &facts(plan));
            let problems: String = steps.problems.iter().map(|p| format!("step problem: {p}\n")).collect();
            format!("{}{}{problems}", render(plan), super::step::render(&steps.steps))
        }
        Err(e) => format!("error: {e:#}\n"),
    };
    SNAPSHOT.with(|s| {
        if let Some(buf) = s.borrow_mut().as_mut() {
            buf.push_str(&format!("## {case}\n{text}\n"));
        }
    });
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

/// Git facts for a test: HEAD on `tag`, or `distance` commits past it.
#[derive(Clone)]
struct Git {
    input: PlanInput,
}

fn config() -> Config {
    Config {
        image: "127.0.0.1:5000/acme/service".into(),
        release_repository: "acme/service".into(),
        ..Config::default()
    }
}

fn on_tag(tag: &str) -> Git {
    let version = v(tag.trim_start_matches('v'));
    Git {
        input: PlanInput {
            config: config(),
            service: Service::named("service"),
            unchanged: None,
            shared_prefixes: Vec::new(),
            version: VersionInfo {
                pep440: crate::version::pep440(&version),
                semver: version.clone(),
                tag: Some(tag.into()),
                distance: 0,
                commit: Some("c0ffee".repeat(6) + "abcd"),
                dirty: false,
                shallow: false,
            },
            branch: Some("feature/x".into()),
            head_tags: vec![(tag.into(), version.clone())],
            releases: vec![version],
            retracted: Vec::new(),
            repository: Some("127.0.0.1:5000/acme/service".into()),
            force_local: false,
            run: false,
            changed_files: Vec::new(),
        },
    }
}

fn past(tag: &str, distance: u64) -> Git {
    let mut g = on_tag(tag);
    let dev = crate::version::dev_version(&g.input.version.semver, distance);
    g.input.version.pep440 = crate::version::pep440(&dev);
    g.input.version.semver = dev;
    g.input.version.distance = distance;
    g.input.head_tags.clear();
    g
}

impl Git {
    fn releases(mut self, others: &[&str]) -> Git {
        self.input.releases.extend(others.iter().map(|s| v(s)));
        self
    }
    fn branch(mut self, b: Option<&str>) -> Git {
        self.input.branch = b.map(str::to_owned);
        self
    }
    fn dirty(mut self) -> Git {
        self.input.version.dirty = true;
        self
    }
    fn image(mut self, image: &str) -> Git {
        self.input.repository = Some(image.to_owned()).filter(|i| !i.is_empty());
        self
    }
    fn release_repository(mut self, r: &str) -> Git {
        self.input.config.release_repository = r.into();
        self
    }
    fn publish(mut self) -> Git {
        self.input.config.publish = vec!["service".into()];
        self.input.config.cargo_registry = "local".into();
        self
    }
}

/// `kind push|no-push context:tag,tag …` (moving tags marked with `*`), or the error.
fn summary(plan: &Result<ReleasePlan>) -> String {
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return format!("error: {}", e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")),
    };
    let kind = serde_json::to_value(plan.kind).unwrap().as_str().unwrap().to_owned();
    let mut out = kind;
    if plan.kind != Kind::Skip {
        out.push_str(if plan.pushes() { " push" } else { " no-push" });
    }
    for image in &plan.images {
        let tags: Vec<String> = image
            .tags()
            .iter()
            .map(|t| if image.moving_tags.iter().any(|m| m == t) { format!("*{t}") } else { t.to_string() })
            .collect();
        out.push_str(&format!(" {}:{}", image.context, tags.join(",")));
    }
    for p in &plan.publish {
        out.push_str(&format!(" publish:{}@{}", p.krate, p.version));
    }
    for p in &plan.problems {
        out.push_str(&format!(" problem: {p}"));
    }
    out
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[track_caller]
fn check_ci(git: Git, vars: &[(&str, &str)], expected: Expect) {
    let ctx = ci::detect(&env(vars)).unwrap().expect("a CI context");
    let plan = ci(&git.input, &ctx);
    expected.assert_eq(&summary(&plan));
    record(&format!("ci: {}", ctx.describe()), &plan);
}

/// The event builds every image and pushes nothing, publishes nothing.
#[track_caller]
fn check_ci_builds_only(git: Git, vars: &[(&str, &str)]) {
    let ctx = ci::detect(&env(vars)).unwrap().expect("a CI context");
    let plan = ci(&git.input, &ctx).unwrap();
    assert_eq!((plan.kind, plan.pushes(), plan.publish.len(), plan.images.len()), (Kind::BuildOnly, false, 0, 2));
}

#[track_caller]
fn check_ci_reason(git: Git, vars: &[(&str, &str)], reason: &str) {
    let ctx = ci::detect(&env(vars)).unwrap().unwrap();
    let plan = ci(&git.input, &ctx).unwrap();
    assert!(plan.reason.contains(reason), "{:?} lacks {reason:?}", plan.reason);
}

#[track_caller]
fn check_dev(git: Git, branch: Option<&str>, expected: Expect) {
    let plan = dev_release(&git.input, branch);
    expected.assert_eq(&summary(&plan));
    record(&format!("dev-release {}", branch.or(git.input.branch.as_deref()).unwrap_or("(detached)")), &plan);
}

#[track_caller]
fn check_release(git: Git, expected: Expect) {
    let plan = release(&git.input, None);
    expected.assert_eq(&summary(&plan));
    record(&format!("release at {}", git.input.version.semver), &plan);
}

const GH_TAG: &[(&str, &str)] = &[
    ("GITHUB_ACTIONS", "true"),
    ("GITHUB_EVENT_NAME", "push"),
    ("GITHUB_REF_TYPE", "tag"),
    ("GITHUB_REF_NAME", "1.2.3"),
    ("GITHUB_REPOSITORY", "acme/service"),
];

fn gh(event: &str, ref_type: &str, name: &str, repo: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_ACTIONS", "true".into()),
        ("GITHUB_EVENT_NAME", event.into()),
        ("GITHUB_REF_TYPE", ref_type.into()),
        ("GITHUB_REF_NAME", name.into()),
        ("GITHUB_REPOSITORY", repo.into()),
        ("GITHUB_HEAD_REF", "feature/pr".into()),
    ]
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A kind reads the same in text (the summary, messages) as in `--json`.
#[test]
fn each_kind_has_one_name() {
    for kind in [Kind::Release, Kind::DevRelease, Kind::BuildOnly, Kind::Skip] {
        let json = serde_json::to_value(kind).unwrap();
        assert_eq!(Some(kind.to_string().as_str()), json.as_str());
        assert_eq!(kind.to_string(), kind.as_str());
    }
}

#[test]
fn triggers_github() {
    let _snapshot = snapshot("triggers_github");
    check_ci(
        on_tag("1.2.3"),
        GH_TAG,
        expect![["release push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest"]],
    );
    check_ci(on_tag("1.2.3"), &as_refs(&gh("push", "tag", "deploy-2024", "acme/service")), expect![["skip"]]);
    check_ci_reason(on_tag("1.2.3"), &as_refs(&gh("push", "tag", "deploy-2024", "acme/service")), "not a version tag");
    check_ci(past("1.2.3", 5), &as_refs(&gh("push", "branch", "master", "acme/service")), expect![["skip"]]);
    check_ci(past("1.2.3", 5), &as_refs(&gh("push", "branch", "main", "acme/service")), expect![["skip"]]);
    check_ci_reason(past("1.2.3", 5), &as_refs(&gh("push", "branch", "main", "acme/service")), "never race");
    check_ci(
        past("1.2.3", 5),
        &as_refs(&gh("push", "branch", "feature/add-doodad", "acme/service")),
        expect![["dev-release push docker:feature-add-doodad rpi-docker:rpi-feature-add-doodad"]],
    );
    check_ci(
        past("1.2.3", 5),
        &as_refs(&gh("pull_request", "branch", "42/merge", "acme/service")),
        expect![["build-only no-push docker:feature-pr rpi-docker:rpi-feature-pr"]],
    );
    check_ci(
        past("1.2.3", 5),
        &as_refs(&gh("push", "branch", "feature/x", "fork/service")),
        expect!["build-only no-push docker:feature-x rpi-docker:rpi-feature-x"],
    );
    check_ci_reason(
        past("1.2.3", 5),
        &as_refs(&gh("push", "branch", "feature/x", "fork/service")),
        "only the central repository's CI pushes",
    );
    check_ci(
        on_tag("1.2.3"),
        &as_refs(&gh("push", "tag", "1.2.3", "fork/service")),
        expect!["build-only no-push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest"],
    );
    check_ci(
        past("1.2.3", 5),
        &as_refs(&gh("workflow_dispatch", "branch", "feature/x", "acme/service")),
        expect!["dev-release push docker:feature-x rpi-docker:rpi-feature-x"],
    );
    check_ci(
        on_tag("1.2.3"),
        &as_refs(&gh("workflow_dispatch", "tag", "1.2.3", "acme/service")),
        expect!["release push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest"],
    );
    check_ci(
        past("1.2.3", 5).release_repository(""),
        &as_refs(&gh("push", "branch", "feature/x", "acme/service")),
        expect!["build-only no-push docker:feature-x rpi-docker:rpi-feature-x"],
    );
}

/// Only a push, a manual or a scheduled run pushes.
#[test]
fn events_tied_to_pull_requests_never_push() {
    let _snapshot = snapshot("events_tied_to_pull_requests_never_push");
    for event in [
        "pull_request",
        "pull_request_target",
        "pull_request_review",
        "pull_request_review_comment",
        "merge_group",
        "issue_comment",
        "release",
        "some_future_event",
    ] {
        check_ci_builds_only(past("1.2.3", 5), &as_refs(&gh(event, "branch", "feature/x", "acme/service")));
        check_ci_builds_only(on_tag("1.2.3"), &as_refs(&gh(event, "tag", "1.2.3", "acme/service")));
    }
    let mut review = gh("pull_request_review", "branch", "42/merge", "acme/service");
    review.retain(|(k, _)| *k != "GITHUB_HEAD_REF");
    check_ci(
        past("1.2.3", 5),
        &as_refs(&review),
        expect!["build-only no-push docker:42-merge rpi-docker:rpi-42-merge"],
    );
    check_ci(
        past("1.2.3", 5),
        &as_refs(&gh("schedule", "branch", "develop", "acme/service")),
        expect!["dev-release push docker:develop rpi-docker:rpi-develop"],
    );
    let gl = |source: &'static str| {
        vec![
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_PATH", "acme/service"),
            ("CI_PIPELINE_SOURCE", source),
            ("CI_COMMIT_BRANCH", "feat"),
            ("CI_EXTERNAL_PULL_REQUEST_SOURCE_BRANCH_NAME", "ext/pr"),
        ]
    };
    check_ci(
        past("1.2.3", 1),
        &gl("external_pull_request_event"),
        expect!["build-only no-push docker:ext-pr rpi-docker:rpi-ext-pr"],
    );
    for source in ["api", "trigger", "pipeline", "chat", "parent_pipeline", "merge_request_event_x"] {
        check_ci_builds_only(past("1.2.3", 1), &gl(source));
    }
    check_ci(past("1.2.3", 1), &gl("schedule"), expect!["dev-release push docker:feat rpi-docker:rpi-feat"]);
}

#[test]
fn triggers_gitlab_and_travis() {
    let _snapshot = snapshot("triggers_gitlab_and_travis");
    let gl = |extra: &[(&'static str, &'static str)]| {
        let mut v = vec![("GITLAB_CI", "true"), ("CI_PROJECT_PATH", "acme/service")];
        v.extend_from_slice(extra);
        v
    };
    check_ci(
        on_tag("1.2.3"),
        &gl(&[("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_TAG", "1.2.3")]),
        expect!["release push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest"],
    );
    check_ci(
        past("1.2.3", 1),
        &gl(&[("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_BRANCH", "master")]),
        expect![["skip"]],
    );
    check_ci(
        past("1.2.3", 1),
        &gl(&[("CI_PIPELINE_SOURCE", "push"), ("CI_COMMIT_BRANCH", "feat")]),
        expect!["dev-release push docker:feat rpi-docker:rpi-feat"],
    );
    check_ci(
        past("1.2.3", 1),
        &gl(&[("CI_PIPELINE_SOURCE", "web"), ("CI_COMMIT_BRANCH", "feat")]),
        expect!["dev-release push docker:feat rpi-docker:rpi-feat"],
    );
    check_ci(
        past("1.2.3", 1),
        &gl(&[
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_IID", "3"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "mr/x"),
        ]),
        expect!["build-only no-push docker:mr-x rpi-docker:rpi-mr-x"],
    );
    let tr = |extra: &[(&'static str, &'static str)]| {
        let mut v = vec![
            ("TRAVIS", "true"),
            ("TRAVIS_REPO_SLUG", "acme/service"),
            ("TRAVIS_EVENT_TYPE", "push"),
            ("TRAVIS_PULL_REQUEST", "false"),
        ];
        v.extend_from_slice(extra);
        v
    };
    check_ci(
        on_tag("v1.2.3"),
        &tr(&[("TRAVIS_TAG", "v1.2.3"), ("TRAVIS_BRANCH", "v1.2.3")]),
        expect!["release push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest"],
    );
    check_ci(
        past("1.2.3", 1),
        &tr(&[("TRAVIS_BRANCH", "develop")]),
        expect!["dev-release push docker:develop rpi-docker:rpi-develop"],
    );
    check_ci(past("1.2.3", 1), &tr(&[("TRAVIS_BRANCH", "master")]), expect![["skip"]]);
    let mut pr = tr(&[("TRAVIS_BRANCH", "master"), ("TRAVIS_PULL_REQUEST_BRANCH", "fix/y")]);
    pr.retain(|(k, _)| *k != "TRAVIS_PULL_REQUEST");
    pr.push(("TRAVIS_PULL_REQUEST", "7"));
    check_ci(past("1.2.3", 1), &pr, expect!["build-only no-push docker:fix-y rpi-docker:rpi-fix-y"]);
}

#[test]
fn outside_ci_there_is_no_context() {
    assert_eq!(ci::detect(&env(&[("HOME", "/root")])).unwrap(), None);
    assert!(ci::detect(&env(&[("GITHUB_ACTIONS", "true")])).is_err(), "a half-set environment is an error");
}

/// The seed's bug: a push to master and a tag push on the same commit must not both publish.
#[test]
fn master_push_and_tag_push_on_one_commit_release_once() {
    let git = on_tag("1.2.3");
    let master = summary(&ci(
        &git.input,
        &ci::detect(&env(&as_refs(&gh("push", "branch", "master", "acme/service")))).unwrap().unwrap(),
    ));
    let tag = summary(&ci(&git.input, &ci::detect(&env(GH_TAG)).unwrap().unwrap()));
    assert_eq!(master, "skip");
    assert!(tag.starts_with("release push"));
}

/// A retracted version is never released again, and no moving tag is given to it.
#[test]
fn retracted_versions() {
    let mut retracted = on_tag("1.3.0");
    retracted.input.retracted = vec![(v("1.3.0"), "corrupts the cache".into())];
    let err = format!("{:#}", release(&retracted.input, None).unwrap_err());
    assert!(err.contains("1.3.0 was retracted (corrupts the cache)"), "{err}");
    // 1.4.0 retracted: 1.3.1 is the highest release left, so it takes `latest` and `1`.
    let mut after = on_tag("1.3.1").releases(&["1.4.0", "1.3.0"]);
    after.input.retracted = vec![(v("1.4.0"), "bad".into())];
    assert_eq!(
        summary(&release(&after.input, None)),
        "release push docker:1.3.1,*1.3,*1,*latest rpi-docker:rpi-1.3.1,*rpi-1.3,*rpi-1,*rpi-latest"
    );
    let plan = release(&after.input, None).unwrap();
    assert_eq!(serde_json::to_value(&plan).unwrap()["retracted"], serde_json::json!(["1.4.0"]));
}

/// A patch of an old line with every moving tag taken by higher releases: its own tag only, and
/// the reason says why (not that it is a pre-release).
#[test]
fn an_old_patch_with_no_moving_tag() {
    let plan = release(&on_tag("1.2.3").releases(&["1.2.4"]).input, None).unwrap();
    assert_eq!(plan.images[0].tags(), ["1.2.3"]);
    assert_eq!(plan.reason, "release of 1.2.3: a higher release exists, so `latest` stays where it is");
}

/// A dirty tree names ten changed files at most, then how many more.
#[test]
fn many_changed_files_are_counted() {
    let mut dirty = past("1.2.3", 5).dirty();
    dirty.input.changed_files = (1..=12).map(|n| format!("f{n:02}.rs")).collect();
    let plan = dev_release(&dirty.input, Some("f")).unwrap();
    assert!(
        plan.problems[0]
            .contains(": f01.rs, f02.rs, f03.rs, f04.rs, f05.rs, f06.rs, f07.rs, f08.rs, f09.rs, f10.rs and 2 more;"),
        "{:?}",
        plan.problems
    );
    dirty.input.changed_files.truncate(10);
    let plan = dev_release(&dirty.input, Some("f")).unwrap();
    assert!(plan.problems[0].contains(", f10.rs; a build pushed"), "{:?}", plan.problems);
}

/// The JSON writes the commit whole, as git names it.
#[test]
fn the_commit_is_written_whole() {
    let plan = release(&on_tag("1.2.3").input, None).unwrap();
    assert_eq!(serde_json::to_value(&plan).unwrap()["commit"], "c0ffee".repeat(6) + "abcd");
}

/// The version at HEAD must be the tag's exactly: a distance past it is refused even when the
/// numbers agree (input git never gives, checked all the same).
#[test]
fn a_release_needs_distance_zero() {
    let mut moved = on_tag("1.2.3");
    moved.input.version.distance = 2;
    let err = format!("{:#}", release(&moved.input, None).unwrap_err());
    assert!(err.contains("releases never go backwards"), "{err}");
}

#[test]
fn release_rules() {
    let _snapshot = snapshot("release_rules");
    check_release(
        on_tag("1.2.3"),
        expect!["release push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest"],
    );
    check_release(
        on_tag("1.9.1").releases(&["2.0.0", "1.9.0"]),
        expect![["release push docker:1.9.1,*1.9,*1 rpi-docker:rpi-1.9.1,*rpi-1.9,*rpi-1"]],
    );
    check_release(
        on_tag("1.9.1").releases(&["2.0.0", "1.10.0"]),
        expect!["release push docker:1.9.1,*1.9 rpi-docker:rpi-1.9.1,*rpi-1.9"],
    );
    check_release(
        on_tag("0.4.0"),
        expect!["release push docker:0.4.0,*0.4,*latest rpi-docker:rpi-0.4.0,*rpi-0.4,*rpi-latest"],
    );
    check_release(on_tag("1.3.0-rc.1"), expect![["release push docker:1.3.0-rc.1 rpi-docker:rpi-1.3.0-rc.1"]]);
    check_release(
        on_tag("v3.0.0"),
        expect!["release push docker:3.0.0,*3.0,*3,*latest rpi-docker:rpi-3.0.0,*rpi-3.0,*rpi-3,*rpi-latest"],
    );
    check_release(past("1.2.3", 2), expect!["error: HEAD is not on a version tag (it is 2 commit(s) past 1.2.3), so there is nothing to release: tag the commit (`git tag 1.2.3`), or make a dev release with `cargo xtask dev-release`"]);
    check_release(on_tag("1.2.3").dirty(), expect!["error: the work tree has uncommitted changes, so HEAD is not exactly the release 1.2.3: commit or stash the changes (`git stash`) and run the release again"]);
    check_release(on_tag("1.2.3+build7"), expect!["error: 1.2.3+build7 has build metadata (`+build7`), which an image tag cannot hold (`+` is not allowed there): tag the release without `+…`"]);
    check_release(
        on_tag("1.2.3").image(""),
        expect!["release no-push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest"],
    );
    // A tag 1.9.1 on a commit that already contains 2.0.0: HEAD's version is 2.0.1-dev.1.
    let mut g = past("2.0.0", 1);
    g.input.head_tags = vec![("1.9.1".into(), v("1.9.1"))];
    let got = summary(&release(&g.input, Some("1.9.1")));
    assert!(got.contains("1.9.1") && got.contains("2.0.0") && got.contains("2.0.1-dev.1"), "{got}");
    // A tag that is not on HEAD.
    assert!(summary(&release(&on_tag("1.2.3").input, Some("1.2.4"))).starts_with("error: the tag 1.2.4 is not on HEAD"));
}

#[test]
fn dev_release_branch_names() {
    let _snapshot = snapshot("dev_release_branch_names");
    check_dev(
        past("1.2.3", 5),
        Some("feature/a#1"),
        expect![["dev-release push docker:feature-a-1 rpi-docker:rpi-feature-a-1"]],
    );
    check_dev(
        past("1.2.3", 5),
        Some("Feature/UPPER"),
        expect!["dev-release push docker:Feature-UPPER rpi-docker:rpi-Feature-UPPER"],
    );
    check_dev(past("1.2.3", 5), Some("#lead"), expect![["dev-release push docker:lead rpi-docker:rpi-lead"]]);
    check_dev(
        past("1.2.3", 5),
        Some("latest"),
        expect![["dev-release push docker:branch-latest rpi-docker:rpi-branch-latest"]],
    );
    check_dev(past("1.2.3", 5), Some("1.2"), expect![["dev-release push docker:branch-1.2 rpi-docker:rpi-branch-1.2"]]);
    check_dev(
        past("1.2.3", 5),
        Some("v3.0.0"),
        expect!["dev-release push docker:branch-v3.0.0 rpi-docker:rpi-branch-v3.0.0"],
    );
    check_dev(
        past("1.2.3", 5),
        Some("rpi-latest"),
        expect![["dev-release push docker:branch-rpi-latest rpi-docker:rpi-branch-rpi-latest"]],
    );
    check_dev(past("1.2.3", 5), Some("ünïcødé/ß"), expect![["dev-release push docker:n-c-d- rpi-docker:rpi-n-c-d-"]]);
    check_dev(past("1.2.3", 5), Some("main"), expect![["dev-release push docker:main rpi-docker:rpi-main"]]);
    check_dev(
        past("1.2.3", 5),
        Some("-lead"),
        expect!["error: `-lead` is not a valid branch name (as `git check-ref-format --branch` says)"],
    );
    check_dev(
        past("1.2.3", 5),
        Some("..dots"),
        expect!["error: `..dots` is not a valid branch name (as `git check-ref-format --branch` says)"],
    );
    check_dev(
        past("1.2.3", 5),
        Some("a b"),
        expect!["error: `a b` is not a valid branch name (as `git check-ref-format --branch` says)"],
    );
    check_dev(past("1.2.3", 5).branch(None), None, expect!["error: HEAD is detached, so there is no branch to name the dev images after: pass the branch with `--branch NAME`"]);
    check_dev(
        past("1.2.3", 5).branch(Some("feature/y")),
        None,
        expect!["dev-release push docker:feature-y rpi-docker:rpi-feature-y"],
    );
    check_dev(past("1.2.3", 5).image(""), Some("x"), expect![["dev-release no-push docker:x rpi-docker:rpi-x"]]);
    let long = "x".repeat(300);
    let plan = dev_release(&past("1.2.3", 5).input, Some(&long)).unwrap();
    assert!(plan.images.iter().all(|i| i.tags()[0].len() == 128), "{plan:?}");
    let symbols = dev_release(&past("1.2.3", 5).input, Some("#+#")).unwrap();
    assert!(symbols.images[0].tags()[0].starts_with("branch-") && symbols.images[0].tags()[0].len() == 15);
}

#[test]
fn local_mode_names_images_after_the_crate() {
    let plan = dev_release(&past("1.2.3", 5).image("").input, Some("feature/x")).unwrap();
    assert!(plan.local);
    assert_eq!(plan.images[0].repository, "service");
    let mut forced = past("1.2.3", 5);
    forced.input.force_local = true;
    let plan = dev_release(&forced.input, Some("feature/x")).unwrap();
    assert!(plan.local && !plan.pushes());
}

#[test]
fn publish_rules() {
    let _snapshot = snapshot("publish_rules");
    check_dev(
        past("1.2.3", 5).publish(),
        Some("f"),
        expect![["dev-release push docker:f rpi-docker:rpi-f publish:service@1.2.4-dev.5"]],
    );
    check_release(on_tag("1.2.3").publish(), expect![["release push docker:1.2.3,*1.2,*1,*latest rpi-docker:rpi-1.2.3,*rpi-1.2,*rpi-1,*rpi-latest publish:service@1.2.3"]]);
    // A dev release on the exact tag never publishes the release version.
    let plan = dev_release(&on_tag("1.2.3").publish().input, Some("f")).unwrap();
    assert!(plan.publish.is_empty());
    assert!(plan.publish_skipped.unwrap().contains("only the release publishes it"));
    check_ci(
        past("1.2.3", 1).publish(),
        &as_refs(&gh("pull_request", "branch", "x", "acme/service")),
        expect![["build-only no-push docker:feature-pr rpi-docker:rpi-feature-pr"]],
    );
    check_dev(
        past("1.2.3", 5).publish().image(""),
        Some("f"),
        expect![["dev-release no-push docker:f rpi-docker:rpi-f"]],
    );
}

/// No dev-release plan ever holds `latest`, a version tag or a moving tag.
#[test]
fn dev_plans_never_hold_release_tags() {
    for branch in ["latest", "1.2.3", "v1.2.3", "1", "1.2", "rpi-latest", "rpi-1.2.3", "master", "1.2.3-rc.1"] {
        let plan = dev_release(&past("1.2.3", 5).input, Some(branch)).unwrap();
        for image in &plan.images {
            assert!(image.moving_tags.is_empty());
            for tag in image.tags() {
                let bare = tag.strip_prefix("rpi-").unwrap_or(tag);
                assert_ne!(bare, "latest");
                assert!(matches!(parse_tag(bare, ""), TagKind::Other), "{branch} → {tag}");
                assert!(!tag.starts_with("rpi-rpi-"), "{branch} → {tag}");
                assert!(image.context != "docker" || !tag.starts_with("rpi-"), "{branch} → {tag}");
            }
        }
    }
}

#[test]
fn credentials_are_required_on_a_pushing_ci_path() {
    let plan = dev_release(&past("1.2.3", 5).input, Some("f")).unwrap();
    let err = check_ci_credentials(&plan, &config(), &env(&[("REGISTRY_USER", "u")])).unwrap_err();
    assert!(format!("{err:#}").contains("REGISTRY_PASSWORD is not set"), "{err:#}");
    assert!(check_ci_credentials(&plan, &config(), &env(&[("REGISTRY_USER", "u"), ("REGISTRY_PASSWORD", "p")])).is_ok());
}

#[test]
fn rendering_names_everything() {
    let text = render(&release(&on_tag("1.2.3").input, None).unwrap());
    for needle in [
        "release of 1.2.3",
        "docker/ → 127.0.0.1:5000/acme/service [linux/amd64, linux/arm64, linux/arm/v7]",
        "tags 1.2.3; then moving 1.2, 1, latest",
        "push: yes",
    ] {
        assert!(text.contains(needle), "{text}");
    }
}

/// Refused before anything is built: every problem at once, in the plan (so `--dry-run` shows
/// them too).
#[test]
fn problems_are_found_in_the_plan() {
    let _snapshot = snapshot("problems_are_found_in_the_plan");
    let mut run = past("1.2.3", 5);
    run.input.run = true;
    check_dev(
        run.clone(),
        Some("f"),
        expect!["dev-release push docker:f rpi-docker:rpi-f problem: --run starts the image from the local Docker engine, but this plan pushes to 127.0.0.1:5000/acme/service: add --local"],
    );
    let mut local_run = run.clone();
    local_run.input.force_local = true;
    let local = dev_release(&local_run.input, Some("f")).unwrap();
    assert!(local.problems.is_empty(), "--run --local is fine");
    // The container is named after the service and the tag, and labelled as `--run`'s.
    let mut with_port = facts(&local);
    with_port.run_port = Some(8080);
    let steps = steps::steps(&local, &with_port).steps;
    let Some(Step::Run { container, argv, .. }) = steps.last() else { panic!("no run step: {steps:?}") };
    assert_eq!(container, "service-f");
    assert_eq!(
        argv[..9].join(" "),
        format!("docker run --detach --rm --name service-f --label {}=1 --publish", steps::RUN_LABEL)
    );

    let mut dirty = past("1.2.3", 5).dirty();
    dirty.input.changed_files = vec!["service/src/main.rs".into()];
    check_dev(dirty.clone(), Some("f"), expect!["dev-release push docker:f rpi-docker:rpi-f problem: the work tree has uncommitted changes: service/src/main.rs; a build pushed or published from it would hold code no commit has (commit or stash them; --local builds a dirty tree)"]);
    let mut dirty_local = dirty.clone();
    dirty_local.input.force_local = true;
    assert!(dev_release(&dirty_local.input, Some("f")).unwrap().problems.is_empty(), "--local builds a dirty tree");
    check_dev(dirty.clone().image(""), Some("f"), expect![["dev-release no-push docker:f rpi-docker:rpi-f"]]);
    // A pull request builds a dirty tree (it pushes nothing).
    let plan = ci(
        &dirty.input,
        &ci::detect(&env(&as_refs(&gh("pull_request", "branch", "x", "acme/service")))).unwrap().unwrap(),
    )
    .unwrap();
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);

    for (image, why) in [
        ("127.0.0.1:5000/Acme/Service", "must be lowercase"),
        ("127.0.0.1:5000/acme/service:1.0", "holds a tag"),
        ("ghcr.io/acme/service@sha256:0123", "holds a digest"),
    ] {
        let plan = dev_release(&past("1.2.3", 5).image(image).input, Some("f"));
        let expected =
            format!("dev-release push docker:f rpi-docker:rpi-f problem: the image repository `{image}` {why}");
        assert!(summary(&plan).starts_with(&expected), "{}", summary(&plan));
        record(&format!("dev-release f to {image}"), &plan);
    }
    // Two problems, both reported.
    let mut both = dirty.image("ACME/x");
    both.input.run = true;
    assert_eq!(dev_release(&both.input, Some("f")).unwrap().problems.len(), 3);
}

fn remote(commit: &str) -> RemoteImage {
    RemoteImage {
        digest: crate::reference::Digest::for_test(0xee),
        platforms: vec![],
        manifests: Default::default(),
        revision: Some(commit.into()),
        version: None,
        branch: Some("f".into()),
        created: None,
        source: None,
        context: None,
        entries: 0,
    }
}

/// What the registry holds at the primary tag → build, resume, skip or refuse.
#[test]
fn reconcile_decides_from_the_registry() {
    let release = release(&on_tag("1.2.3").input, None).unwrap();
    let dev = dev_release(&past("1.2.3", 5).input, Some("f")).unwrap();
    let ours = release.commit.unwrap().to_string();
    let seen = |lineage: Option<Lineage>, commit: &str| Observed { primary: Some(remote(commit)), lineage };
    let image = &release.images[0];
    assert_eq!(reconcile(&release, image, &Observed::default()), Ok(BuildAction::Build));
    let released = |version: Option<&str>, branch: Option<&str>| {
        let mut seen = seen(Some(Lineage::Same), &ours);
        let primary = seen.primary.as_mut().unwrap();
        (primary.version, primary.branch) = (version.map(str::to_owned), branch.map(str::to_owned));
        primary.platforms = image.platforms.clone();
        primary.context = Some(image.context.clone());
        seen
    };
    assert_eq!(
        reconcile(&release, image, &released(Some("1.2.3"), None)),
        Ok(BuildAction::AlreadyThere { digest: crate::reference::Digest::for_test(0xee) })
    );
    // The same commit's pre-release, dev build or an image that says nothing: not this release.
    for (version, branch, says) in [
        (Some("1.2.3-rc.1"), None, "built as 1.2.3-rc.1"),
        (Some("1.2.3"), Some("f"), "a dev build of branch f"),
        (None, None, "recording no version"),
    ] {
        let err = reconcile(&release, image, &released(version, branch)).unwrap_err();
        assert!(err.contains(&format!("holds a build of this commit, but {says}, not release 1.2.3")), "{err}");
    }
    // Another context's image of this very release (signed alike), or one platform of it.
    let mut swapped = released(Some("1.2.3"), None);
    swapped.primary.as_mut().unwrap().context = Some("rpi-docker".into());
    let err = reconcile(&release, image, &swapped).unwrap_err();
    assert!(err.contains("but it was built from rpi-docker/, not docker/"), "{err}");
    let mut stripped = released(Some("1.2.3"), None);
    stripped.primary.as_mut().unwrap().platforms = vec!["linux/arm/v7".into()];
    let err = reconcile(&release, image, &stripped).unwrap_err();
    assert!(
        err.contains("but it holds linux/arm/v7, not the linux/amd64, linux/arm/v7, linux/arm64 of docker/"),
        "{err}"
    );
    for lineage in [Some(Lineage::Older), Some(Lineage::Newer), Some(Lineage::Diverged), Some(Lineage::Unknown), None] {
        let err = reconcile(&release, image, &seen(lineage, "0123456789abcdef")).unwrap_err();
        assert!(
            err.contains("already exists, built from 0123456789ab") && err.contains("releases are immutable"),
            "{err}"
        );
    }
    let image = &dev.images[1];
    assert_eq!(reconcile(&dev, image, &Observed::default()), Ok(BuildAction::Build));
    for lineage in [Some(Lineage::Same), Some(Lineage::Older), Some(Lineage::Diverged), None] {
        assert_eq!(reconcile(&dev, image, &seen(lineage, "0123456789abcdef")), Ok(BuildAction::Build), "{lineage:?}");
    }
    let skip = |lineage| match reconcile(&dev, image, &seen(Some(lineage), "0123456789abcdef")) {
        Ok(BuildAction::Skip { why }) => why,
        other => panic!("{other:?}"),
    };
    assert!(skip(Lineage::Newer).contains("holds a newer build"));
    assert!(skip(Lineage::Unknown).contains("does not have even after fetching it"));
    // Two branch names with one dev tag: neither takes the other's.
    let mut other_branch = seen(Some(Lineage::Older), "0123456789abcdef");
    other_branch.primary.as_mut().unwrap().branch = Some("f#".into());
    let err = reconcile(&dev, image, &other_branch).unwrap_err();
    assert!(err.contains("holds a build of branch f#, and branch f has the same dev tag"), "{err}");
    // Local images never look at the registry.
    let local = dev_release(&past("1.2.3", 5).image("").input, Some("f")).unwrap();
    assert_eq!(reconcile(&local, &local.images[0], &seen(Some(Lineage::Newer), "x")), Ok(BuildAction::Build));
}

fn signing(policy: crate::config::SignPolicy) -> Git {
    let mut git = on_tag("1.2.3");
    git.input.config.signing.sign = policy;
    git
}

/// The step kinds of a plan, one word each, with the image or platform a signing step is for.
fn kinds(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Attest { image, manifest, predicate_type, .. } => {
                format!("attest:{image}:{}:{predicate_type}", manifest.as_ref().map(|p| p.as_str()).unwrap_or("image"))
            }
            Step::Sign { image, .. } => format!("sign:{image}"),
            Step::Provenance { image, .. } => format!("provenance:{image}"),
            Step::Sbom { target, .. } => format!("sbom:{}", target.as_str().split('-').next().unwrap_or_default()),
            other => other.kind().to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `signing.sign`: which plans sign, and where their steps go (after the build, before any
/// moving tag names the image); a rerun signs only what the registry does not hold signed.
#[test]
fn signing_steps() {
    use crate::config::SignPolicy;
    let _s = snapshot("signing_steps");
    let release_plan = release(&signing(SignPolicy::Releases).input, None).unwrap();
    assert!(release_plan.signed);
    record("sign = releases, on a version tag", &Ok(release_plan.clone()));
    let steps = steps::steps(&release_plan, &facts(&release_plan)).steps;
    expect!["login package sbom:x86_64 sbom:aarch64 sbom:armv7 fill-pkg register-qemu recheck check-pkg build push recheck check-pkg build push inspect provenance:0 attest:0:image:slsaprovenance1 attest:0:image:cyclonedx attest:0:image:cyclonedx attest:0:image:cyclonedx attest:0:linux/amd64:slsaprovenance1 attest:0:linux/amd64:cyclonedx attest:0:linux/arm64:slsaprovenance1 attest:0:linux/arm64:cyclonedx attest:0:linux/arm/v7:slsaprovenance1 attest:0:linux/arm/v7:cyclonedx sign:0 provenance:1 attest:1:image:slsaprovenance1 attest:1:image:cyclonedx sign:1 recheck promote recheck promote sign-blob move-tags move-tags verify verify summary"]
        .assert_eq(&kinds(&steps));
    // Neither the key nor its password is in any command line: the key goes by reference.
    let sign = steps.iter().find(|s| s.kind() == "sign").unwrap();
    assert_eq!(
        sign.command_line().join(" "),
        "cosign sign --yes --key env://COSIGN_PRIVATE_KEY --tlog-upload=false --allow-http-registry --recursive 127.0.0.1:5000/acme/service@<digest of step 10>"
    );

    for (policy, signs_dev) in [(SignPolicy::Releases, false), (SignPolicy::All, true), (SignPolicy::None, false)] {
        let mut git = signing(policy);
        git.input.version.distance = 3;
        git.input.head_tags.clear();
        let dev = dev_release(&git.input, Some("f")).unwrap();
        assert_eq!(dev.signed, signs_dev, "{policy:?}");
        let signed_steps = steps::steps(&dev, &facts(&dev)).steps.iter().filter(|s| s.kind() == "sign").count();
        assert_eq!(signed_steps, if signs_dev { 2 } else { 0 }, "{policy:?}");
    }
    assert!(!release(&signing(SignPolicy::None).input, None).unwrap().signed);
    let local = release(&signing(SignPolicy::All).image("").input, None).unwrap();
    assert!(!local.signed, "local images are not pushed, so not signed");

    // A rerun: both images there from this commit; the first signed, the second not (a run
    // stopped before signing it): the second's packages are made again and it alone is signed.
    let mut rerun = facts(&release_plan);
    rerun.actions = vec![BuildAction::AlreadyThere { digest: crate::reference::Digest::for_test(0xaa) }; 2];
    rerun.signed = vec![true, false];
    let steps = steps::steps(&release_plan, &rerun);
    expect!["login package sbom:armv7 skip skip skip provenance:1 attest:1:image:slsaprovenance1 attest:1:image:cyclonedx sign:1 sign-blob move-tags move-tags verify verify summary"].assert_eq(&kinds(&steps.steps));
    record_steps("rerun with the second image unsigned", &release_plan, &rerun);
    rerun.signed = vec![true, true];
    let steps = steps::steps(&release_plan, &rerun);
    assert!(!steps.steps.iter().any(|s| matches!(s.kind(), "sign" | "attest" | "package" | "sign-blob")));
    // A stopped run left `dist/SHA256SUMS` unsigned: the rerun signs it, and nothing else.
    rerun.sums_unsigned = true;
    let steps = steps::steps(&release_plan, &rerun);
    let signing: Vec<&str> = steps.steps.iter().map(|s| s.kind()).filter(|k| k.starts_with("sign")).collect();
    assert_eq!(signing, ["sign-blob"]);
}

fn record_steps(case: &str, plan: &ReleasePlan, facts: &Facts) {
    let text = super::step::render(&steps::steps(plan, facts).steps);
    SNAPSHOT.with(|s| {
        if let Some(buf) = s.borrow_mut().as_mut() {
            buf.push_str(&format!("## {case}\n{text}\n"));
        }
    });
}

/// A release plan on the version tag `tag`, for the tests of other modules of `plan/`.
pub(super) fn release_plan(tag: &str) -> ReleasePlan {
    release(&on_tag(tag).input, None).unwrap()
}

/// `--part TARGET` and `merge`: a part builds its platform of each context under a staging tag
/// and writes its result, nothing else; a merge assembles each image from the parts, then the
/// usual tail.
#[test]
fn parts_and_merge_steps() {
    let _s = snapshot("parts_and_merge_steps");
    let plan = release_plan("1.2.3");
    let mut part = facts(&plan);
    part.part = Some("armv7-unknown-linux-gnueabihf".into());
    let steps = steps::steps(&plan, &part);
    assert!(steps.problems.is_empty(), "{:?}", steps.problems);
    expect!["login package fill-pkg check-pkg build push check-pkg build push write-part summary"]
        .assert_eq(&kinds(&steps.steps));
    for step in &steps.steps {
        if let Step::Build { tags, platforms, staging, .. } = step {
            assert!(*staging);
            assert_eq!(platforms, &["linux/arm/v7"]);
            assert!(tags[0].contains(":staging-c0ffeec0ffee-") && tags[0].ends_with("-linux-arm-v7"), "{tags:?}");
        }
    }
    record_steps("--part armv7-unknown-linux-gnueabihf", &plan, &part);
    part.part = Some("x86_64-unknown-linux-musl".into());
    let steps = steps::steps(&plan, &part);
    expect!["login package fill-pkg check-pkg build push write-part summary"].assert_eq(&kinds(&steps.steps));

    let mut merge = facts(&plan);
    let digest = crate::reference::Digest::for_test;
    merge.merge = Some(steps::Merge {
        sources: vec![
            vec![
                ("linux/amd64".into(), digest(1)),
                ("linux/arm64".into(), digest(2)),
                ("linux/arm/v7".into(), digest(3)),
            ],
            vec![("linux/arm/v7".into(), digest(3))],
        ],
        packages: Vec::new(),
    });
    let steps = steps::steps(&plan, &merge);
    // Each image under a staging tag first (an index; the one-platform image as it is), read
    // back and checked; then its primary tag, by digest. No user-visible tag before.
    expect!["login assemble recheck promote assemble recheck promote move-tags move-tags verify verify summary"]
        .assert_eq(&kinds(&steps.steps));
    match &steps.steps[1..4] {
        [Step::Assemble { reference, argv, .. }, Step::Recheck { .. }, Step::Promote { reference: primary, argv: promote, .. }] =>
        {
            assert!(reference.contains(":staging-c0ffeec0ffee-1.2.3-merge"), "{reference}");
            assert_eq!(&argv[..6], ["docker", "buildx", "imagetools", "create", "--tag", reference.as_str()]);
            assert!(primary.ends_with(":1.2.3"), "{primary}");
            assert!(
                promote.iter().any(|a| a.to_string().ends_with("acme/service@<digest of step 2>")),
                "by digest: {promote:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A plan that signs tags each image only once it is signed.
    let mut signed = plan.clone();
    signed.signed = true;
    let steps = steps::steps(&signed, &merge);
    let kinds = kinds(&steps.steps);
    let (promote, sign) = (kinds.find("promote").unwrap(), kinds.rfind("sign").unwrap());
    assert!(sign < promote, "{kinds}");
    record_steps("merge", &plan, &merge);
}

/// Two services, `alpha` (prefix `alpha-`) and `beta` (prefix `beta-`): each planned from its
/// own input, combined for `--json`.
fn service_input(name: &str, git: Git) -> PlanInput {
    let mut input = git.input;
    input.service = Service::named(name);
    input.config.version_tag_prefix = format!("{name}-");
    input.repository = Some(format!("127.0.0.1:5000/acme/{name}"));
    input.head_tags = input.head_tags.into_iter().map(|(t, v)| (format!("{name}-{t}"), v)).collect();
    input
}

#[test]
fn several_services() {
    // A tag of alpha's at HEAD releases alpha; beta has none and is skipped, saying why.
    let alpha = service_input("alpha", on_tag("v1.2.0"));
    let beta = service_input("beta", past("v0.3.0", 4));
    let plans = release_services(&[alpha.clone(), beta.clone()]).unwrap();
    assert_eq!((plans[0].kind, plans[0].tag.as_deref()), (Kind::Release, Some("alpha-v1.2.0")));
    assert_eq!(plans[1].kind, Kind::Skip);
    assert_eq!(plans[1].skipped.as_deref(), Some("HEAD has no version tag `beta-X.Y.Z`, so beta is not released"));
    let combined = combine(&plans);
    assert_eq!(combined.kind, Kind::Release);
    assert_eq!(combined.images.len(), 2, "beta's skip plan has no images: alpha's two contexts");
    assert!(combined.images.iter().all(|i| i.repository == "127.0.0.1:5000/acme/alpha"));
    // Neither has a tag: the error names both prefixes.
    let err = release_services(&[service_input("alpha", past("v1.2.0", 1)), beta.clone()]).unwrap_err();
    assert!(format!("{err:#}").contains("alpha (`alpha-X.Y.Z`), beta (`beta-X.Y.Z`)"), "{err:#}");
    // Two tags on one commit: both release; the top-level version is the first service's.
    let both = release_services(&[alpha.clone(), service_input("beta", on_tag("v0.4.0"))]).unwrap();
    assert!(both.iter().all(|p| p.kind == Kind::Release));
    // A release skips nothing: `--json` gives its `skipped` as null, not its reason.
    assert!(
        both.iter().all(|p| p.service_json().skipped.is_none()),
        "{:?}",
        both.iter().map(ReleasePlan::service_json).collect::<Vec<_>>()
    );
    let combined = combine(&both);
    assert_eq!(combined.version.semver, v("1.2.0"));
    assert_eq!(combined.images.len(), 4);
    assert!(combined.problems.is_empty(), "{:?}", combined.problems);
    // One repository and one tag prefix for two services: a problem naming both; another
    // prefix, or another repository, none.
    let alpha_repository = "127.0.0.1:5000/acme/alpha";
    let conflict = repository_conflict(&[(alpha_repository, "", "alpha"), (alpha_repository, "", "beta")]);
    assert!(conflict.is_some_and(|c| c.contains("services alpha and beta both push to 127.0.0.1:5000/acme/alpha")));
    assert_eq!(repository_conflict(&[(alpha_repository, "", "alpha"), (alpha_repository, "beta-", "beta")]), None);
    assert_eq!(repository_conflict(&[(alpha_repository, "", "alpha"), ("127.0.0.1:5000/acme/beta", "", "beta")]), None);
    // `dev-release = "changed"` with nothing changed: skipped with the reason gathered.
    let mut unchanged = service_input("beta", past("v0.3.0", 4));
    unchanged.unchanged = Some("nothing beta is built from changed since beta-v0.3.0".into());
    let plan = dev_release(&unchanged, None).unwrap();
    assert_eq!((plan.kind, plan.images.len()), (Kind::Skip, 0));
    assert_eq!(plan.service_json().skipped, Some("nothing beta is built from changed since beta-v0.3.0"));
    // One service is planned exactly as before.
    assert_eq!(release_services(std::slice::from_ref(&alpha)).unwrap(), vec![release(&alpha, None).unwrap()]);
}

/// `stale_dev_tag` (`dev-release = "changed"` with nothing changed): the branch's tag is current
/// when it holds a build of this very commit, stale when it holds one of another commit or of
/// none it names, and nothing is stale where nothing is held.
#[test]
fn a_dev_tag_is_stale_when_it_holds_another_commit() {
    let mut plan = release_plan("1.2.3");
    let image = plan.images[0].clone();
    let ours = plan.commit.expect("a commit").to_string();
    let held = |revision: Option<&str>| RemoteImage {
        digest: crate::reference::Digest::for_test(1),
        platforms: image.platforms.clone(),
        manifests: Default::default(),
        revision: revision.map(str::to_owned),
        version: None,
        context: None,
        entries: 0,
        branch: None,
        created: None,
        source: None,
    };
    let other = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(stale_dev_tag(&plan, &image, None), None);
    assert_eq!(stale_dev_tag(&plan, &image, Some(&held(Some(&ours)))), None);
    let why = stale_dev_tag(&plan, &image, Some(&held(Some(other)))).expect("another commit's build is stale");
    assert!(why.contains(&format!("{}:{}", image.repository, image.primary_tag())), "{why}");
    assert!(why.contains("holds a build of another commit (0123456"), "{why}");
    assert!(stale_dev_tag(&plan, &image, Some(&held(None))).is_some(), "a build naming no commit is stale");
    // A plan without a commit (no git history) matches no build, not even one naming none.
    plan.commit = None;
    assert!(stale_dev_tag(&plan, &image, Some(&held(None))).is_some());
    assert!(stale_dev_tag(&plan, &image, Some(&held(Some(&ours)))).is_some());
}

/// Every release and dev release writes its notes (`write-notes`, after packaging, before the
/// builds); a signed image carries them as an attestation before its signature; an image pushed
/// unsigned does not, and the steps say why. A plan without notes (a part) has neither.
#[test]
fn release_notes_steps() {
    use crate::{
        config::SignPolicy,
        notes::{CommitFacts, ReleaseNotes},
    };
    let release_plan = release(&signing(SignPolicy::Releases).input, None).unwrap();
    let commits = [CommitFacts {
        id: crate::commit::CommitId::parse(&"ab".repeat(20)).unwrap(),
        subject: "feat: a /metrics route".into(),
        body: String::new(),
        parents: 1,
    }];
    let mut with_notes = facts(&release_plan);
    with_notes.notes =
        Some(ReleaseNotes::new(None, release_plan.version.semver.clone(), Some("v1.2.2".into()), &commits));
    let steps = steps::steps(&release_plan, &with_notes).steps;
    expect!["login package sbom:x86_64 sbom:aarch64 sbom:armv7 fill-pkg register-qemu write-notes recheck check-pkg build push recheck check-pkg build push inspect provenance:0 attest:0:image:slsaprovenance1 attest:0:image:cyclonedx attest:0:image:cyclonedx attest:0:image:cyclonedx attest:0:linux/amd64:slsaprovenance1 attest:0:linux/amd64:cyclonedx attest:0:linux/arm64:slsaprovenance1 attest:0:linux/arm64:cyclonedx attest:0:linux/arm/v7:slsaprovenance1 attest:0:linux/arm/v7:cyclonedx attest:0:image:https://release-pipeline.dev/release-notes/v1 sign:0 provenance:1 attest:1:image:slsaprovenance1 attest:1:image:cyclonedx attest:1:image:https://release-pipeline.dev/release-notes/v1 sign:1 recheck promote recheck promote sign-blob move-tags move-tags verify verify summary"]
        .assert_eq(&kinds(&steps));
    let shown = step::render(&steps);
    let notes_lines: Vec<&str> = shown.lines().filter(|l| l.contains("notes")).collect();
    expect![[r#"
        [
            "step  8: write-notes   write the notes of 1.2.3 to /work/dist/RELEASE_NOTES.md: 1 commit(s) since v1.2.2",
            "          $ cargo xtask notes 1.2.3",
            "step 29: attest        attest https://release-pipeline.dev/release-notes/v1 on 127.0.0.1:5000/acme/service:1.2.3 (if step 11 ran)",
            "          $ cosign attest --yes --key env://COSIGN_PRIVATE_KEY '--tlog-upload=false' --allow-http-registry --type https://release-pipeline.dev/release-notes/v1 --predicate /work/dist/service-1.2.3.notes.json '127.0.0.1:5000/acme/service@<digest of step 11>'",
            "step 34: attest        attest https://release-pipeline.dev/release-notes/v1 on 127.0.0.1:5000/acme/service:rpi-1.2.3 (if step 15 ran)",
            "          $ cosign attest --yes --key env://COSIGN_PRIVATE_KEY '--tlog-upload=false' --allow-http-registry --type https://release-pipeline.dev/release-notes/v1 --predicate /work/dist/service-1.2.3.notes.json '127.0.0.1:5000/acme/service@<digest of step 15>'",
        ]
    "#]]
    .assert_debug_eq(&notes_lines);

    // Not signed: the notes are written, and each pushed image's step says why it has none.
    let unsigned = release(&signing(SignPolicy::None).input, None).unwrap();
    let mut facts_unsigned = facts(&unsigned);
    facts_unsigned.notes = with_notes.notes.clone();
    let steps = steps::steps(&unsigned, &facts_unsigned).steps;
    let shown: Vec<String> = steps
        .iter()
        .filter(|s| matches!(s, Step::WriteNotes { .. } | Step::Skip { .. }))
        .map(|s| s.kind().to_owned())
        .collect();
    assert_eq!(shown, ["write-notes", "skip", "skip"]);
    assert!(step::render(&steps)
        .contains("skip attach the release notes to 127.0.0.1:5000/acme/service:1.2.3: signing is off"));

    // A dev release's step names the command that prints the same notes; a plan without notes
    // (a part, whose merge writes them) has no notes step.
    let mut git = signing(SignPolicy::None);
    git.input.version.distance = 3;
    git.input.head_tags.clear();
    let dev = dev_release(&git.input, Some("f")).unwrap();
    let mut dev_facts = facts(&dev);
    dev_facts.notes = with_notes.notes.clone();
    let steps = steps::steps(&dev, &dev_facts).steps;
    let write = steps.iter().find(|s| s.kind() == "write-notes").unwrap();
    assert_eq!(write.command_line(), ["cargo", "xtask", "notes"]);
    assert!(!steps::steps(&dev, &facts(&dev)).steps.iter().any(|s| s.kind() == "write-notes"));
}

fn mirrored(git: &mut Git) {
    git.input.config.mirrors = vec![crate::config::MirrorConfig {
        image: "127.0.0.1:6000/public/service".into(),
        user_env: "MIRROR_USER".into(),
        password_env: "MIRROR_PASSWORD".into(),
    }];
}

/// `mirrors`: each pushed image reaches every mirror at the digest its own repository holds,
/// after every step on that repository: the signatures first, then the tag (a copy by digest),
/// the moving tags and a check; a login of the mirror's own. A rerun that finds the mirror
/// holding that digest copies nothing; one holding another image is a problem, never written
/// over; a newer build of the branch there is left alone.
#[test]
fn mirror_steps() {
    use crate::config::SignPolicy;
    let _s = snapshot("mirror_steps");
    let mut git = signing(SignPolicy::Releases);
    mirrored(&mut git);
    let plan = release(&git.input, None).unwrap();
    assert_eq!(plan.mirrors.len(), 1);
    let steps = steps::steps(&plan, &facts(&plan));
    assert_eq!(steps.problems, Vec::<String>::new());
    let all = kinds(&steps.steps);
    let (own, mirror) = all.split_once("verify verify ").unwrap();
    assert!(own.starts_with("login login "), "a login per registry: {own}");
    expect!["mirror-signatures mirror mirror-signatures mirror move-tags move-tags verify verify summary"]
        .assert_eq(mirror);
    record_steps("a signed release with one mirror", &plan, &facts(&plan));

    // A rerun: the image's own repository holds both images signed; the mirror holds the first.
    let there = crate::reference::Digest::for_test(0xaa);
    let mut rerun = facts(&plan);
    rerun.actions = vec![BuildAction::AlreadyThere { digest: there.clone() }; 2];
    rerun.signed = vec![true, true];
    rerun.mirrors = vec![vec![BuildAction::AlreadyThere { digest: there.clone() }], vec![BuildAction::Build]];
    let steps = steps::steps(&plan, &rerun);
    expect!["login login skip skip skip skip move-tags move-tags verify verify skip mirror-signatures mirror move-tags move-tags verify verify summary"]
        .assert_eq(&kinds(&steps.steps));
    record_steps("a rerun after the mirror failed half-way", &plan, &rerun);

    // The mirror holds another image at the version tag: nothing is written over.
    rerun.mirrors[1] = vec![BuildAction::AlreadyThere { digest: crate::reference::Digest::for_test(0xbb) }];
    let problems = steps::steps(&plan, &rerun).problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("127.0.0.1:6000/public/service:rpi-1.2.3 holds"), "{problems:?}");

    // A newer build of the branch on the mirror: left alone, nothing else done there.
    let mut dev_git = past("1.2.3", 2);
    mirrored(&mut dev_git);
    let dev = dev_release(&dev_git.input, Some("feature/x")).unwrap();
    let mut newer = facts(&dev);
    newer.mirrors = vec![vec![BuildAction::Skip { why: "holds a newer build".into() }]; 2];
    let kinds_dev = kinds(&steps::steps(&dev, &newer).steps);
    assert!(kinds_dev.ends_with("verify verify skip skip summary"), "{kinds_dev}");

    // Without credentials in the environment, no login step (the user's own docker login).
    let mut no_login = facts(&plan);
    no_login.mirror_users = vec![None];
    let logins = steps::steps(&plan, &no_login).steps.iter().filter(|s| s.kind() == "login").count();
    assert_eq!(logins, 1);
    // Local mode has no mirrors.
    let mut local = git.clone();
    local.input.force_local = true;
    assert!(release(&local.input, None).unwrap().mirrors.is_empty());
}

/// Without the containerd image store the local engine holds one platform per tag: a local
/// build is of the host's platform only (its `pkg/` check alike), a context that does not build
/// the host's platform cannot be loaded, and a pushed build is not affected.
#[test]
fn an_engine_without_the_containerd_store() {
    let local = release(&on_tag("1.2.3").image("").input, None).unwrap();
    let mut no_store = facts(&local);
    no_store.containerd_store = false;
    let planned = steps::steps(&local, &no_store);
    let platforms_of = |kind: &str| -> Vec<String> {
        planned
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Build { platforms, .. } | Step::CheckPkg { platforms, .. } if s.kind() == kind => {
                    Some(platforms.join(","))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(platforms_of("build"), ["linux/amd64"], "docker/ for the host only; rpi-docker/ refused");
    assert_eq!(platforms_of("check-pkg"), ["linux/amd64"]);
    let Some(Step::Build { note, .. }) = planned.steps.iter().find(|s| s.kind() == "build") else { panic!() };
    assert!(note.as_deref().is_some_and(|n| n.contains("loading linux/amd64 only")), "{note:?}");
    assert!(
        planned
            .problems
            .iter()
            .any(|p| p.contains("cannot hold linux/arm/v7 images without the containerd image store")),
        "{:?}",
        planned.problems
    );
    // With the store, every platform; pushed, the engine's store does not matter.
    let with_store = steps::steps(&local, &facts(&local));
    assert!(with_store.problems.is_empty(), "{:?}", with_store.problems);
    let pushed = release(&on_tag("1.2.3").input, None).unwrap();
    let mut pushed_facts = facts(&pushed);
    pushed_facts.containerd_store = false;
    let pushed_steps = steps::steps(&pushed, &pushed_facts);
    assert!(pushed_steps.problems.is_empty(), "{:?}", pushed_steps.problems);
    let builds: Vec<String> = pushed_steps
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Build { platforms, note, .. } => Some(format!("{} {note:?}", platforms.join(","))),
            _ => None,
        })
        .collect();
    assert_eq!(builds, ["linux/amd64,linux/arm64,linux/arm/v7 None", "linux/arm/v7 None"]);
}

/// An image a newer build holds (`Skip`) has no digest of this run's: nothing of it is signed,
/// tagged or verified.
#[test]
fn an_image_left_to_a_newer_build_is_not_signed() {
    let plan = release(&signing(crate::config::SignPolicy::Releases).input, None).unwrap();
    let mut facts = facts(&plan);
    facts.actions[0] = BuildAction::Skip { why: "a newer build".into() };
    let steps = steps::steps(&plan, &facts).steps;
    let signed: Vec<usize> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Sign { image, .. } => Some(*image),
            _ => None,
        })
        .collect();
    assert_eq!(signed, [1]);
    assert!(!steps.iter().any(|s| matches!(s, Step::Verify { image: 0, .. } | Step::Promote { image: 0, .. })));
    // Nor are its packages made again for a provenance: only rpi-docker/'s platform's.
    expect!["login package sbom:armv7 fill-pkg skip recheck check-pkg build push provenance:1 attest:1:image:slsaprovenance1 attest:1:image:cyclonedx sign:1 recheck promote sign-blob move-tags verify summary"]
        .assert_eq(&kinds(&steps));
}

/// `rebuild`'s steps: the packages and every image built again into its archive, nothing pushed,
/// tagged or signed.
#[test]
fn rebuild_builds_everything_and_pushes_nothing() {
    let plan = release(&signing(crate::config::SignPolicy::Releases).input, None).unwrap();
    let planned = steps::rebuild_steps(&plan, &facts(&plan));
    assert!(planned.problems.is_empty(), "{:?}", planned.problems);
    expect!["package fill-pkg register-qemu build build"].assert_eq(&kinds(&planned.steps));
    for step in &planned.steps {
        // Built as a pushed build is (into its OCI archive, the bytes the release pushed); no
        // step above pushes the archive.
        if let Step::Build { archive, argv, .. } = step {
            assert!(archive.is_some(), "{step:?}");
            assert!(argv.iter().any(|a| a.starts_with("type=oci,dest=")), "{argv:?}");
        }
    }
}
