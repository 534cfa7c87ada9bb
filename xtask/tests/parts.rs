//! A release spread over two Docker engines: a second engine of the test's own (its own socket,
//! data root, containerd namespace and bridge), registered as a docker context. The x86_64 part
//! runs on the default engine, the ARM parts on the second, each in its own process and clone;
//! `merge` puts the release together by digest. What goes wrong stops the merge before any tag
//! a user pulls is written.
mod common;
use common::{stack::*, *};
use std::{
    path::{Path, PathBuf},
    process::{Child, Output, Stdio},
};

/// A clone of `ws` at its current commit and branch: one machine's checkout.
fn clone_of(ws: &TestRepo) -> TestRepo {
    let dir = tempfile::tempdir().unwrap();
    git_in(dir.path(), &["clone", "-q", ws.path().to_str().unwrap(), "."]);
    TestRepo { dir }
}

/// `cargo xtask ARGS` in `dir` against the registry, on the engine `context` names (None: the
/// default one), started now: the parts run side by side.
fn start(dir: &Path, reg: &Registry, context: Option<&str>, args: &[&str]) -> Child {
    let mut cmd = xtask_cmd(dir);
    cmd.env("CARGO_TARGET_DIR", shared_target_dir())
        .env("RELEASE_REPOSITORY", reg.repository())
        .env("REGISTRY_USER", &reg.user)
        .env("REGISTRY_PASSWORD", &reg.password)
        .env_remove("DOCKER_CONTEXT")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(context) = context {
        cmd.env("DOCKER_CONTEXT", context);
    }
    cmd.spawn().unwrap()
}

fn run(dir: &Path, reg: &Registry, args: &[&str]) -> Output {
    start(dir, reg, None, args).wait_with_output().unwrap()
}

const TARGETS: [(&str, &str); 3] = [
    ("x86_64-unknown-linux-musl", "linux/amd64"),
    ("aarch64-unknown-linux-gnu", "linux/arm64"),
    ("armv7-unknown-linux-gnueabihf", "linux/arm/v7"),
];

/// Runs the parts for `targets` side by side, each in its own clone of `ws`, the ARM ones on the
/// second engine; returns their result files.
fn parts(ws: &TestRepo, reg: &Registry, node2: &SecondEngine, command: &str, targets: &[&str]) -> Vec<PathBuf> {
    let clones: Vec<TestRepo> = targets.iter().map(|_| clone_of(ws)).collect();
    let children: Vec<Child> = targets
        .iter()
        .zip(&clones)
        .map(|(target, clone)| {
            let context = (!target.starts_with("x86_64")).then_some(node2.context.as_str());
            start(clone.path(), reg, context, &[command, "--part", target])
        })
        .collect();
    let mut files = Vec::new();
    for ((target, clone), child) in targets.iter().zip(&clones).zip(children) {
        let out = child.wait_with_output().unwrap();
        assert_ok(&out);
        let file = clone.path().join(format!("dist/part-{target}.json"));
        // Kept past the clone: copied next to the merge's checkout.
        let kept = ws.path().join(format!("part-{command}-{target}.json"));
        std::fs::copy(&file, &kept).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        schema::assert_valid("part", &read(&kept));
        files.push(kept);
    }
    files
}

fn read(file: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn digest_of(part: &serde_json::Value, context: &str) -> String {
    let images = part["images"].as_array().unwrap();
    images.iter().find(|i| i["context"] == context).unwrap()["digest"].as_str().unwrap().to_owned()
}

#[test]
fn a_release_in_three_parts_on_two_engines_is_merged_by_digest() {
    let reg = Registry::start("ci", "parts-pass-2");
    let client = DockerClient::login(&reg);
    let node2 = SecondEngine::start();
    let ws = scratch_workspace();
    ws.tag("v1.2.3");
    let repo = reg.repository();

    // `--builder` with the other engine's context: buildx's docker driver cannot reach it that
    // way; the run says how it can, before anything is built.
    let out = run(ws.path(), &reg, &["release", "--part", "aarch64-unknown-linux-gnu", "--builder", &node2.context]);
    assert_fails_with(&out, &format!("is a docker context, and buildx's docker driver builds only on the engine of the current context: run with DOCKER_CONTEXT={}", node2.context));
    assert!(reg.tags().is_empty());

    let targets: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    let files = parts(&ws, &reg, &node2, "release", &targets);
    // A part writes no tag a user pulls: only staging tags.
    assert!(reg.tags().iter().all(|t| t.starts_with("staging-")), "{:?}", reg.tags());
    assert!(node2.build_cache_records() > 0, "the ARM parts ran on the second engine");

    let mut args = vec!["merge"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = run(ws.path(), &reg, &args);
    assert_ok(&out);

    // The index holds exactly the three platforms, each the manifest its part reported.
    let out = client.cmd(&["buildx", "imagetools", "inspect", "--raw", &format!("{repo}:1.2.3")]).output().unwrap();
    assert_ok(&out);
    let index: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 3, "{index}");
    for ((_, platform), file) in TARGETS.iter().zip(&files) {
        let part = read(file);
        let listed = manifests
            .iter()
            .find(|m| {
                let p = &m["platform"];
                let variant = p["variant"].as_str().map(|v| format!("/{v}")).unwrap_or_default();
                format!("{}/{}{variant}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap()) == *platform
            })
            .unwrap_or_else(|| panic!("no {platform} in {index}"));
        assert_eq!(listed["digest"].as_str().unwrap(), digest_of(&part, "docker"), "{platform}");
    }
    assert_eq!(reg.digest("rpi-1.2.3"), digest_of(&read(&files[2]), "rpi-docker"));
    for moving in ["1.2", "1", "latest"] {
        assert_eq!(reg.digest(moving), reg.digest("1.2.3"), "{moving}");
    }
    for (_, platform) in TARGETS {
        let answer = client.run_version(&format!("{repo}:1.2.3"), platform);
        assert_eq!(answer["version"], "1.2.3", "{platform}");
    }

    // Again: nothing changes.
    let before = reg.snapshot();
    let out = run(ws.path(), &reg, &args);
    assert_ok(&out);
    assert_eq!(reg.snapshot(), before);

    // A dev release whose merge lacks a part, then has one built from another commit: it stops
    // with the reason, and no branch tag is written.
    ws.git(&["checkout", "-q", "-b", "feature/parts"]);
    ws.commit("a change on the branch");
    let dev = parts(&ws, &reg, &node2, "dev-release", &targets[..2]);
    let dev_args = |files: &[PathBuf]| -> Vec<String> {
        std::iter::once("merge".to_owned()).chain(files.iter().map(|f| f.display().to_string())).collect()
    };
    let out = run(ws.path(), &reg, &dev_args(&dev).iter().map(String::as_str).collect::<Vec<_>>());
    assert_fails_with(&out, "no part built linux/arm/v7 of docker/");
    assert_fails_with(&out, "nothing was built or pushed");
    let later = clone_of(&ws);
    later.commit("a later commit");
    let out = start(later.path(), &reg, None, &["dev-release", "--part", targets[0]]).wait_with_output().unwrap();
    assert_ok(&out);
    let other = ws.path().join("part-other-commit.json");
    std::fs::copy(later.path().join(format!("dist/part-{}.json", targets[0])), &other).unwrap();
    let mut mixed = vec![other.clone()];
    mixed.extend(dev[1..].iter().cloned());
    let out = run(ws.path(), &reg, &dev_args(&mixed).iter().map(String::as_str).collect::<Vec<_>>());
    assert_fails_with(&out, &format!("the part for {} was built from commit {}", targets[0], later.head()));
    let only_staging_added = |what: &str| {
        let tags = reg.tags();
        assert!(!tags.iter().any(|t| t.ends_with("feature-parts")), "{what}: no branch tag: {tags:?}");
        assert!(
            tags.iter().all(|t| t.starts_with("staging-") || before.iter().any(|(b, _)| b == t)),
            "{what}: only staging tags were added: {tags:?}"
        );
    };
    only_staging_added("a part of another commit");

    // A part's JSON is a claim; the merge reads each image back and checks its content. Each
    // edited result below is refused before any tag a user pulls is written.
    let mut honest = dev.clone();
    honest.extend(parts(&ws, &reg, &node2, "dev-release", &targets[2..]));
    let later_amd64 = digest_of(&read(&other), "docker");
    let amd64 = digest_of(&read(&honest[0]), "docker");
    let edited = |name: &str, which: usize, edit: &dyn Fn(&mut serde_json::Value)| -> Vec<String> {
        let mut part = read(&honest[which]);
        edit(&mut part);
        let file = ws.path().join(format!("part-edited-{name}.json"));
        std::fs::write(&file, serde_json::to_string(&part).unwrap()).unwrap();
        let mut files = honest.clone();
        files[which] = file;
        dev_args(&files)
    };
    let set_digest = |context: &'static str, digest: String| {
        move |part: &mut serde_json::Value| {
            let images = part["images"].as_array_mut().unwrap();
            images.iter_mut().find(|i| i["context"] == context).unwrap()["digest"] = digest.clone().into();
        }
    };
    let commit = ws.head();
    let attacks: Vec<(&str, Vec<String>, String)> = vec![
        (
            "another commit's digest",
            edited("commit", 0, &set_digest("docker", later_amd64)),
            format!("was built from commit {}, not this checkout's {commit}", later.head()),
        ),
        (
            "another platform's digest",
            edited("platform", 1, &set_digest("docker", amd64.clone())),
            "is a linux/amd64 image, not linux/arm64".to_owned(),
        ),
        (
            "another platform's digest in a one-platform context",
            edited("one-platform", 2, &set_digest("rpi-docker", amd64)),
            "is a linux/amd64 image, not linux/arm/v7".to_owned(),
        ),
        (
            "a duplicated platform",
            edited("twice", 1, &|part| part["platform"] = "linux/amd64".into()),
            "2 parts built linux/amd64 of docker/".to_owned(),
        ),
        (
            "a branch that is not the checkout's",
            edited("branch", 0, &|part| part["branch"] = "main".into()),
            "a dev-release of main (this merge is a dev-release of feature/parts)".to_owned(),
        ),
    ];
    for (what, args, reason) in &attacks {
        let out = run(ws.path(), &reg, &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_fails_with(&out, reason);
        assert_fails_with(&out, "nothing was built or pushed");
        only_staging_added(what);
    }
    // The honest parts merge.
    let out = run(ws.path(), &reg, &dev_args(&honest).iter().map(String::as_str).collect::<Vec<_>>());
    assert_ok(&out);
    assert_eq!(reg.digest("rpi-feature-parts"), digest_of(&read(&honest[2]), "rpi-docker"));
    let index = reg.digest("feature-parts");
    assert!(!index.is_empty(), "the branch tag is written");
}
