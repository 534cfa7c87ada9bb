//! Any workspace: two binary crates not called `service` (`alpha`, `beta`), each with its own
//! context, version tag prefix and image; and a workspace outside this repository adopting the
//! pipeline as a library, exactly as the README shows.
mod common;
use common::{stack::*, *};
use std::path::Path;

/// A binary that prints the version `dist` built it with.
fn binary_crate(ws: &TestRepo, name: &str) {
    ws.write(
        &format!("{name}/Cargo.toml"),
        &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n"),
    );
    ws.write(
        &format!("{name}/src/main.rs"),
        "fn main() {\n    println!(\"{}\", option_env!(\"SERVICE_VERSION\").unwrap_or(\"unknown\"));\n}\n",
    );
    ws.write(
        &format!("{name}/docker/Dockerfile"),
        &format!(
            "FROM scratch\nARG TARGETPLATFORM\nADD pkg/${{TARGETPLATFORM}}/*.tar.gz /opt/{name}/\nENTRYPOINT [\"/opt/{name}/bin/{name}\"]\n"
        ),
    );
}

/// The `[[service]]` and `[[context]]` tables of `alpha` and `beta`; `images` gives each its own
/// image repository under that registry host.
fn two_services_config(images: Option<&str>) -> String {
    let mut config = String::from(
        "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"2\"\n\n[workspace.metadata.release-pipeline]\ntargets = [{ target = \"x86_64-unknown-linux-musl\", platform = \"linux/amd64\" }]\n",
    );
    for (name, policy) in [("alpha", "always"), ("beta", "changed")] {
        config.push_str(&format!(
            "\n[[workspace.metadata.release-pipeline.service]]\npackage = \"{name}\"\nversion-tag-prefix = \"{name}-\"\ndev-release = \"{policy}\"\n"
        ));
        if let Some(host) = images {
            config.push_str(&format!("image = \"{host}/acme/{name}\"\n"));
        }
    }
    for name in ["alpha", "beta"] {
        config.push_str(&format!(
            "\n[[workspace.metadata.release-pipeline.context]]\ndir = \"{name}/docker\"\nservice = \"{name}\"\nplatforms = [\"linux/amd64\"]\n"
        ));
    }
    config
}

/// A committed workspace with the services `alpha` and `beta` (lockfile included).
fn two_services(images: Option<&str>) -> TestRepo {
    let ws = TestRepo::new();
    ws.write("Cargo.toml", &two_services_config(images));
    ws.write(".gitignore", "target/\ndist/\npkg/\n");
    binary_crate(&ws, "alpha");
    binary_crate(&ws, "beta");
    lock(ws.path());
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "two services"]);
    ws
}

/// Writes the workspace's `Cargo.lock`: its own packages added, every locked version kept.
fn lock(dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out =
        std::process::Command::new(cargo).args(["update", "--workspace", "--quiet"]).current_dir(dir).output().unwrap();
    assert_ok(&out);
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_ok(out);
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn service<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("{plan}"))
}

#[test]
fn a_tag_releases_its_service_only_and_dev_releases_skip_the_unchanged() {
    let ws = two_services(None);
    ws.tag("alpha-v1.2.0");
    ws.tag("beta-v0.3.0");
    ws.commit("after both releases");
    ws.write("alpha/src/lib.rs", "// alpha only\n");
    ws.git(&["add", "-A"]);
    ws.commit("alpha changes");

    // Each service has its own version; `version` without --service names them.
    assert_eq!(stdout(&ws.xtask(&["version", "--service", "alpha"])).trim(), "1.2.1-dev.2");
    assert_eq!(stdout(&ws.xtask(&["version", "--service", "beta"])).trim(), "0.3.1-dev.2");
    let out = ws.xtask(&["version"]);
    assert_fails_with(&out, "several services (alpha, beta)");
    assert_fails_with(&out, "--service NAME");
    assert_fails_with(&ws.xtask(&["version", "--service", "gamma"]), "its services are alpha, beta");
    let both = json(&ws.xtask(&["version", "--format", "json", "--service", "alpha", "--service", "beta"]));
    assert_eq!((both[0]["name"].as_str(), both[1]["semver"].as_str()), (Some("alpha"), Some("0.3.1-dev.2")));

    // A dev release: beta (`changed`) has not changed since beta-v0.3.0, and the plan says so.
    let plan = json(&ws.xtask(&["dev-release", "--local", "--json"]));
    assert_eq!(service(&plan, "alpha")["skipped"], serde_json::Value::Null);
    assert_eq!(service(&plan, "alpha")["images"][0]["repository"], "alpha", "local images are named after the service");
    let why = service(&plan, "beta")["skipped"].as_str().unwrap().to_owned();
    assert!(why.contains("changed since beta-v0.3.0"), "{why}");
    assert_eq!(plan["version"]["semver"], "1.2.1-dev.2");
    let built: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "package")
        .map(|s| s["bin"].as_str().unwrap())
        .collect();
    assert_eq!(built, ["alpha"]);
    // The workspace's manifest is part of every build: a change there builds beta too.
    let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap();
    ws.write("Cargo.toml", &format!("{manifest}\n[profile.release]\nlto = true\n"));
    ws.git(&["commit", "-q", "-am", "a release profile"]);
    let plan = json(&ws.xtask(&["dev-release", "--local", "--json"]));
    assert_eq!(service(&plan, "beta")["skipped"], serde_json::Value::Null, "{plan}");
    ws.write("Cargo.toml", &manifest);
    ws.git(&["commit", "-q", "-am", "back"]);
    // Once beta's sources change, it is built too.
    ws.write(
        "beta/src/main.rs",
        "fn main() { println!(\"{}\", option_env!(\"SERVICE_VERSION\").unwrap_or(\"?\")); }\n",
    );
    ws.git(&["add", "-A"]);
    ws.commit("beta changes");
    let plan = json(&ws.xtask(&["dev-release", "--local", "--json"]));
    assert_eq!(service(&plan, "beta")["skipped"], serde_json::Value::Null);
    // `--run` starts one service's image.
    assert_fails_with(&ws.xtask(&["dev-release", "--local", "--run", "--dry-run"]), "add --service NAME");

    // A tag of one service releases that one only; two tags on one commit release both.
    ws.tag("alpha-v1.3.0");
    let plan = json(&ws.xtask(&["release", "--local", "--dry-run", "--json"]));
    assert_eq!(plan["kind"], "release");
    assert_eq!(service(&plan, "alpha")["tag"], "alpha-v1.3.0");
    assert_eq!(service(&plan, "alpha")["images"][0]["tags"], serde_json::json!(["1.3.0", "1.3", "1", "latest"]));
    assert!(service(&plan, "beta")["skipped"].as_str().unwrap().contains("beta-X.Y.Z"), "{plan}");
    assert_eq!(plan["images"].as_array().unwrap().len(), 1);
    ws.tag("beta-v0.4.0");
    let plan = json(&ws.xtask(&["release", "--local", "--dry-run", "--json"]));
    assert_eq!(service(&plan, "beta")["tag"], "beta-v0.4.0");
    assert_eq!(service(&plan, "beta")["version"]["semver"], "0.4.0");
    assert_eq!(plan["images"].as_array().unwrap().len(), 2);
    let plan = json(&ws.xtask(&["release", "--local", "--dry-run", "--json", "--service", "beta"]));
    assert_eq!(plan["services"].as_array().unwrap().len(), 1);
    assert_eq!(plan["version"]["semver"], "0.4.0");

    // CI: a tag push of a service's tag releases that service; another tag is skipped.
    let ci = |tag: &str| {
        let out = xtask_cmd(ws.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_REF_TYPE", "tag")
            .env("GITHUB_REF_NAME", tag)
            .env("GITHUB_REF", format!("refs/tags/{tag}"))
            .env("GITHUB_REPOSITORY", "acme/other")
            .args(["ci", "--dry-run", "--json"])
            .output()
            .unwrap();
        json(&out)
    };
    let plan = ci("beta-v0.4.0");
    assert_eq!(plan["kind"], "build-only", "not the release repository: builds only");
    let why = service(&plan, "alpha")["skipped"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains("beta-v0.4.0 is not a version tag"), "{plan}");
    assert!(service(&plan, "alpha")["images"].as_array().unwrap().is_empty());
    assert_eq!(service(&plan, "beta")["version"]["semver"], "0.4.0");
    assert_eq!(ci("nightly")["kind"], "skip");
}

#[test]
fn every_command_takes_service() {
    let ws = two_services(None);
    ws.tag("alpha-v1.0.0");
    ws.tag("beta-v2.0.0");
    let shared = |args: &[&str]| ws.xtask_shared(args);
    assert_ok(&shared(&["dist", "--service", "beta"]));
    let dist: Vec<String> = files_under(&ws.path().join("dist"));
    assert_eq!(dist, ["SHA256SUMS", "beta-2.0.0-x86_64-unknown-linux-musl.tar.gz"]);
    assert_ok(&shared(&["dist"]));
    assert_eq!(files_under(&ws.path().join("dist")).len(), 3, "both services' packages and the sums");
    assert_ok(&shared(&["distcopy", "--service", "alpha"]));
    assert_eq!(
        files_under(&ws.path().join("alpha/docker/pkg")),
        ["linux/amd64/alpha-1.0.0-x86_64-unknown-linux-musl.tar.gz"]
    );
    assert!(!ws.path().join("beta/docker/pkg").exists());
    assert_ok(&shared(&["distcopy"]));
    assert_eq!(
        files_under(&ws.path().join("beta/docker/pkg")),
        ["linux/amd64/beta-2.0.0-x86_64-unknown-linux-musl.tar.gz"]
    );
    let out = shared(&["distcopy", "elsewhere/pkg"]);
    assert_fails_with(&out, "several services");
    // A retraction names one service's version tag.
    let retract = |args: &[&str]| shared(&[&["retract", "--reason", "broken", "--dry-run"][..], args].concat());
    assert_fails_with(&retract(&["1.0.0"]), "several services (alpha, beta)");
    let out = retract(&["1.0.0", "--service", "alpha"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("retracted/alpha-v1.0.0"), "{}", stdout(&out));
    assert_fails_with(&retract(&["2.0.0", "--service", "alpha"]), "no version tag says 2.0.0");
    let out = shared(&["distcopy", "--service", "alpha", "beta/docker/pkg"]);
    assert_fails_with(&out, "is a context of the service beta, which this run does not select");
    for command in
        [&["release", "--dry-run", "--local"][..], &["dev-release", "--dry-run", "--local"], &["publish", "--dry-run"]]
    {
        let mut args = command.to_vec();
        args.extend(["--service", "beta"]);
        let out = shared(&args);
        assert_ok(&out);
        assert!(!stdout(&out).contains("alpha"), "{command:?} --service beta: {}", stdout(&out));
        args.pop();
        args.push("gamma");
        assert_fails_with(&shared(&args), "--service gamma: the workspace has no such service");
    }
    let out = xtask_cmd(ws.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_REF_TYPE", "branch")
        .env("GITHUB_REF_NAME", "feature-x")
        .env("GITHUB_REF", "refs/heads/feature-x")
        .args(["ci", "--dry-run", "--json", "--service", "alpha"])
        .output()
        .unwrap();
    let plan = json(&out);
    assert_eq!(plan["services"].as_array().unwrap().len(), 1);
    assert_eq!(plan["services"][0]["name"], "alpha");
}

/// Two services pushing to the one top-level image, told apart by their contexts' tag prefixes:
/// a dev tag of one never takes a tag of the other's, and one prefix for both stops every run.
#[test]
fn services_sharing_a_repository() {
    let shared = two_services_config(None).replace(
        "[workspace.metadata.release-pipeline]\n",
        "[workspace.metadata.release-pipeline]\nimage = \"127.0.0.1:9/acme/app\"\n",
    );
    let prefixed = shared.replace("service = \"beta\"\n", "service = \"beta\"\nimage-tag-prefix = \"beta-\"\n");
    let ws = two_services(None);
    ws.write("Cargo.toml", &prefixed);
    ws.git(&["commit", "-q", "-am", "one image for both"]);
    ws.git(&["checkout", "-q", "-b", "beta-latest"]);
    // No registry listens there: the plan is printed, then the unreachable registry stops it.
    let out = ws.xtask(&["dev-release", "--dry-run", "--json", "--service", "alpha"]);
    let plan: serde_json::Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_eq!(plan["images"][0]["tags"][0], "branch-beta-latest", "beta's `latest` is not alpha's dev tag");
    // One prefix for both: the configuration refuses it; and where only RELEASE_REPOSITORY puts
    // both in one repository, every run stops, whichever services it selects.
    ws.write("Cargo.toml", &shared);
    assert_fails_with(&ws.xtask(&["dev-release", "--dry-run"]), "push to the same image repository");
    ws.write("Cargo.toml", &two_services_config(None));
    ws.git(&["commit", "-q", "-am", "no image"]);
    let out = xtask_cmd(ws.path())
        .env("RELEASE_REPOSITORY", "127.0.0.1:9/acme/app")
        .args(["dev-release", "--dry-run", "--service", "alpha"])
        .output()
        .unwrap();
    assert_fails_with(&out, "services alpha and beta both push to 127.0.0.1:9/acme/app with the image-tag-prefix ``");
}

#[test]
fn bad_service_configuration_names_the_key() {
    let ws = two_services(None);
    let config = two_services_config(None);
    let cases = [
        (
            config.replace("package = \"beta\"", "package = \"gamma\"\nname = \"beta\""),
            "`service.package` of service `beta`: the workspace has no package `gamma`",
        ),
        (config.replace("service = \"beta\"", "service = \"delta\""), "`service = \"delta\"` names no service"),
        (
            config.replace("package = \"beta\"", "package = \"beta\"\nname = \"alpha\""),
            "`service.name`: two services are named `alpha`",
        ),
        (config.replace("service = \"beta\"\n", ""), "context `beta/docker` has no `service` key"),
    ];
    for (manifest, expected) in cases {
        ws.write("Cargo.toml", &manifest);
        assert_fails_with(&ws.xtask(&["dist"]), expected);
    }
    // A package with two binaries and no `bin`, then one with none.
    ws.write("Cargo.toml", &config);
    ws.write("beta/src/bin/tool.rs", "fn main() {}\n");
    assert_fails_with(&ws.xtask(&["dist"]), "`service.bin` of service `beta`: package `beta` has several binaries");
    std::fs::remove_dir_all(ws.path().join("beta/src")).unwrap();
    ws.write("beta/src/lib.rs", "\n");
    assert_fails_with(&ws.xtask(&["dist"]), "package `beta` has no binary target");
}

#[test]
fn a_release_of_one_service_on_the_real_registry() {
    require_docker();
    let reg = Registry::start("svc", "services-pass-1");
    let client = DockerClient::login(&reg);
    let ws = two_services(Some(&reg.host()));
    ws.tag("alpha-v1.0.0");
    let out = xtask_cmd(ws.path())
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("REGISTRY_USER", &reg.user)
        .env("REGISTRY_PASSWORD", &reg.password)
        // Replaces the top-level image only: a service's own `image` stays where it is.
        .env("RELEASE_REPOSITORY", format!("{}/acme/elsewhere", reg.host()))
        .args(["release"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(reg.tags_of("acme/alpha"), ["1", "1.0", "1.0.0", "latest"]);
    assert!(reg.tags_of("acme/beta").is_empty(), "beta has no tag at HEAD: untouched");
    assert!(reg.tags_of("acme/elsewhere").is_empty());
    let image = format!("{}/acme/alpha:1.0.0", reg.host());
    let run = client.cmd(&["run", "--rm", "--platform", "linux/amd64", &image]).output().unwrap();
    assert_ok(&run);
    assert_eq!(stdout(&run).trim(), "1.0.0");
}

/// `dev-release = "changed"`: a change dev-released, then reverted. Nothing differs from the
/// base tag any more, but the branch's tag holds the reverted build: the service is dev-released
/// again rather than skipped, so the tag holds the branch's head.
#[test]
fn a_reverted_change_leaves_no_stale_dev_tag() {
    require_docker();
    let reg = Registry::start("svc", "services-pass-2");
    let client = DockerClient::login(&reg);
    let ws = two_services(Some(&reg.host()));
    ws.tag("beta-v0.3.0");
    ws.git(&["checkout", "-q", "-b", "feature/x"]);
    let dev_release = || {
        xtask_cmd(ws.path())
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("REGISTRY_USER", &reg.user)
            .env("REGISTRY_PASSWORD", &reg.password)
            .args(["dev-release", "--service", "beta"])
            .output()
            .unwrap()
    };
    let image = format!("{}/acme/beta:feature-x", reg.host());
    let version_in_image = || {
        let run =
            client.cmd(&["run", "--rm", "--pull", "always", "--platform", "linux/amd64", &image]).output().unwrap();
        assert_ok(&run);
        stdout(&run).trim().to_owned()
    };
    ws.write("beta/src/extra.txt", "a change\n");
    ws.git(&["add", "-A"]);
    ws.commit("a change to beta");
    assert_ok(&dev_release());
    assert_eq!(version_in_image(), "0.3.1-dev.1");

    ws.git(&["revert", "--no-edit", "HEAD"]);
    let out = dev_release();
    assert_ok(&out);
    assert!(!stdout(&out).contains("skipped"), "{}", stdout(&out));
    assert!(stderr(&out).contains("holds a build of another commit"), "{}", stderr(&out));
    assert_eq!(version_in_image(), "0.3.1-dev.2", "the branch's tag holds its head");
    // Now the tag is the head's own build: nothing changed, nothing stale, skipped.
    let out = dev_release();
    assert_ok(&out);
    assert!(stdout(&out).contains("skipped"), "{}", stdout(&out));
}

/// Another workspace, outside this repository, with a binary crate of its own name, adopts the
/// pipeline by path exactly as the README says.
#[test]
fn another_workspace_adopts_the_library() {
    require_docker();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme.split("## Adopting the pipeline in another workspace").nth(1).expect("the README section");
    let blocks: Vec<&str> = section.split("```").skip(1).step_by(2).collect();
    let block = |lang: &str| {
        blocks
            .iter()
            .find(|b| b.starts_with(lang))
            .map(|b| b[lang.len()..].trim_start_matches('\n'))
            .unwrap_or_else(|| panic!("the README's adoption section has no ```{lang} block"))
    };
    let ws = TestRepo::new();
    let library = workspace_root().join("release-pipeline");
    ws.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"xtask\", \"brewbot\"]\nresolver = \"2\"\n\n[workspace.metadata.release-pipeline]\ntargets = [{ target = \"x86_64-unknown-linux-musl\", platform = \"linux/amd64\" }]\n[[workspace.metadata.release-pipeline.context]]\ndir = \"brewbot/docker\"\nplatforms = [\"linux/amd64\"]\n",
    );
    // The README's three files, with the path to this checkout's library.
    ws.write(
        "xtask/Cargo.toml",
        &block("toml\n# xtask/Cargo.toml").replace(
            "path = \"../release-pipeline/release-pipeline\"",
            &format!("path = {:?}", library.display().to_string()),
        ),
    );
    ws.write("xtask/src/main.rs", block("rust"));
    ws.write(".cargo/config.toml", block("toml\n# .cargo/config.toml"));
    ws.write(".gitignore", "target/\ndist/\npkg/\n");
    binary_crate(&ws, "brewbot");
    // This repository's lockfile pins the library's dependencies to versions already fetched.
    std::fs::copy(workspace_root().join("Cargo.lock"), ws.path().join("Cargo.lock")).unwrap();
    lock(ws.path());
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "adopt the release pipeline"]);
    ws.tag("v0.7.0");
    ws.commit("one more");

    let target = shared_target_dir().join("adopted");
    let cargo_xtask = |args: &[&str]| {
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .arg("xtask")
            .args(args)
            .current_dir(ws.path())
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap()
    };
    let version = cargo_xtask(&["version"]);
    assert_ok(&version);
    assert_eq!(stdout(&version).trim(), "0.7.1-dev.1");
    assert_ok(&cargo_xtask(&["dist"]));
    assert!(ws.path().join("dist/brewbot-0.7.1-dev.1-x86_64-unknown-linux-musl.tar.gz").is_file());
    ws.git(&["checkout", "-q", "-b", "adopt"]);
    assert_ok(&cargo_xtask(&["dev-release", "--local"]));
    let run = std::process::Command::new("docker")
        .args(["run", "--rm", "--platform", "linux/amd64", "brewbot:adopt"])
        .output()
        .unwrap();
    assert_ok(&run);
    assert_eq!(stdout(&run).trim(), "0.7.1-dev.1");
    assert!(ws.git(&["status", "--porcelain"]).trim().is_empty(), "the run left the checkout clean");
}

/// Files under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
