//! `release-pipeline init` on a repository shaped unlike this one: one package (no workspace)
//! named `kv` with two binaries, `server` and `client`, no HTTP. The binary is installed as the
//! README installs it; the adopted repository's `cargo xtask` is built as an adopter builds it.
//! The CI files init writes are run step by step here, with the environment their CI system gives
//! a tag push, against a test registry.
mod common;
use common::{stack::*, *};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
};

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The adopters' target directory: the installed binary and every adopted xtask share their
/// dependencies' builds there (one lockfile's versions, one profile: init's, this workspace's).
fn adopter_target() -> PathBuf {
    shared_target_dir().join("adopted")
}

/// The README's install command, run once per test binary into a directory of the tests'
/// (`--root`), in the dev profile (`--debug`: the adopted xtask's builds reuse its dependencies).
fn release_pipeline() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = adopter_target().join("installed");
        let out = Command::new(cargo())
            .args(["install", "--locked", "--path", "release-pipeline", "--debug", "--quiet", "--root"])
            .arg(&root)
            .current_dir(workspace_root())
            .env("CARGO_TARGET_DIR", adopter_target())
            .output()
            .unwrap();
        assert_ok(&out);
        root.join("bin/release-pipeline")
    })
}

/// `release-pipeline init --path <this checkout's crate> ARGS` in `dir`, with no terminal.
fn init(dir: &Path, args: &[&str]) -> Output {
    Command::new(release_pipeline())
        .arg("init")
        .arg("--path")
        .arg(workspace_root().join("release-pipeline"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

const KV_MANIFEST: &str =
    "[package]\nname = \"kv\"   # a Redis-protocol store\nversion = \"0.4.1\"\nedition = \"2021\"\n\n[dependencies]\n";

/// The one-package repository, committed. Its Cargo.lock starts as this workspace's (cargo
/// prunes what `kv` does not use): the xtask's dependencies then resolve to versions already
/// fetched and built, with no index to read.
fn kv_repo() -> TestRepo {
    let repo = TestRepo::new();
    repo.write("Cargo.toml", KV_MANIFEST);
    repo.write(
        "src/bin/server.rs",
        "fn main() {\n    println!(\"{}\", option_env!(\"SERVICE_VERSION\").unwrap_or(\"unknown\"));\n}\n",
    );
    repo.write("src/bin/client.rs", "fn main() {}\n");
    repo.write(".gitignore", "/target\n");
    std::fs::copy(workspace_root().join("Cargo.lock"), repo.path().join("Cargo.lock")).unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "kv"]);
    repo
}

/// Every file of the work tree (not `.git/`, not `target/`), with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let path = e.path();
            let name = e.file_name();
            if path.is_dir() {
                if name != ".git" && name != "target" {
                    stack.push(path);
                }
            } else {
                out.insert(path.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Held while an adopted repository's `cargo xtask` builds and runs: every adopted xtask is
/// built to the one `debug/xtask` of the adopters' target directory.
static ONE_XTASK_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `cargo xtask ARGS` in the adopted repository, as its user runs it.
fn cargo_xtask(dir: &Path, args: &[&str]) -> Output {
    let _one = ONE_XTASK_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new(cargo());
    cmd.arg("xtask").args(args).current_dir(dir).env("CARGO_TARGET_DIR", adopter_target()).stdin(Stdio::null());
    for var in CI_VARS {
        cmd.env_remove(var);
    }
    cmd.env_remove("RELEASE_REPOSITORY").output().unwrap()
}

/// The README's `release-pipeline` commands (section "Adopting with `release-pipeline init`"),
/// each with `--path` pointed at this checkout.
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme.split("## Adopting with `release-pipeline init`").nth(1).expect("the README's init section");
    let section = section.split("\n## ").next().unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && !l.is_empty() && !l.starts_with('#') => commands.push(shell_words::split(l).unwrap()),
            _ => {}
        }
    }
    commands
}

/// The README's commands, run as written on the one-package repository (its install command is
/// how every test here gets the binary); then a second init changes nothing, byte for byte.
#[test]
fn the_readme_commands_adopt_and_a_second_run_changes_nothing() {
    let repo = kv_repo();
    let commands = readme_commands();
    assert!(commands.len() >= 3, "{commands:?}");
    for words in &commands {
        match words[0].as_str() {
            "cargo" => assert_eq!(
                words.join(" "),
                "cargo install --locked --path release-pipeline",
                "what release_pipeline() runs"
            ),
            "release-pipeline" => {
                let mut args: Vec<&str> = words[2..].iter().map(String::as_str).collect();
                let path = workspace_root().join("release-pipeline");
                if let Some(at) = args.iter().position(|a| *a == "--path") {
                    args.drain(at..at + 2); // `init` gives this checkout's
                }
                assert_eq!(words[1], "init");
                let before = tree(repo.path());
                let out = Command::new(release_pipeline())
                    .arg("init")
                    .args(&args)
                    .arg("--path")
                    .arg(&path)
                    .current_dir(repo.path())
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                assert_ok(&out);
                if args.contains(&"--dry-run") {
                    assert_eq!(tree(repo.path()), before, "{words:?} wrote something");
                } else {
                    // The version contract, with the lines to add, is in what init says.
                    let said = stdout(&out);
                    assert!(said.contains("SERVICE_VERSION") && said.contains("option_env!"), "{said}");
                }
            }
            other => panic!("a README command no test runs: {other}"),
        }
    }
    let after = tree(repo.path());
    assert!(after.contains_key("xtask/Cargo.toml") && after.contains_key("docker/Dockerfile"), "{:?}", after.keys());
    let out = init(repo.path(), &["--bin", "server"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
    assert_eq!(tree(repo.path()), after, "the second run changed a file");

    // The workflow it wrote passes actionlint (shellcheck included, when installed).
    let lint =
        Command::new("actionlint").arg(".github/workflows/release-pipeline.yml").current_dir(repo.path()).output();
    let lint = lint.expect("actionlint is installed (scripts/onboard.sh)");
    assert_ok(&lint);

    // The cross linkers it wrote are this workspace's own, target for target.
    let targets = |text: &[u8]| {
        let doc: toml_edit::DocumentMut = String::from_utf8(text.to_vec()).unwrap().parse().unwrap();
        doc["target"]
            .as_table()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_string().trim().to_owned()))
            .collect::<Vec<_>>()
    };
    let ours = std::fs::read(workspace_root().join(".cargo/config.toml")).unwrap();
    assert_eq!(targets(&after[".cargo/config.toml"]), targets(&ours));
}

/// The dev-profile settings init writes are declared once: the template is this workspace's
/// `[profile.dev.package.*]` tables, value for value.
#[test]
fn the_profile_init_writes_is_this_workspaces() {
    let tables = |path: &str| {
        let doc: toml_edit::DocumentMut =
            std::fs::read_to_string(workspace_root().join(path)).unwrap().parse().unwrap();
        doc["profile"]["dev"]["package"]
            .as_table()
            .unwrap()
            .iter()
            .map(|(name, t)| {
                let settings: Vec<(String, String)> = t
                    .as_table()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.as_value().unwrap().clone().decorated("", "").to_string()))
                    .collect();
                (name.to_owned(), settings)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(tables("release-pipeline-plan/templates/profile.toml"), tables("Cargo.toml"));
}

#[test]
fn dry_run_writes_nothing_and_several_binaries_need_bin() {
    let repo = kv_repo();
    let before = tree(repo.path());
    let out = init(repo.path(), &["--bin", "server", "--dry-run"]);
    assert_ok(&out);
    let text = stdout(&out);
    for expected in [
        "edit Cargo.toml",
        "  + members = [\".\", \"xtask\"]",
        "create xtask/Cargo.toml",
        "create xtask/src/main.rs",
        "create .cargo/config.toml",
        "edit .gitignore",
        "create docker/Dockerfile",
        "  + ENTRYPOINT [\"/usr/local/bin/server\"]",
        "create .github/workflows/release-pipeline.yml",
        " update --workspace --manifest-path",
    ] {
        assert!(text.contains(expected), "--dry-run does not show {expected:?}:\n{text}");
    }
    assert_eq!(tree(repo.path()), before, "--dry-run wrote something");
    let help = Command::new(release_pipeline()).arg("--help").output().unwrap();
    assert_ok(&help);
    assert!(stdout(&help).contains("release-pipeline init\n") && stdout(&help).contains("--separate-lockfile"));

    // Two binaries and no --bin: an error naming both, no question asked, nothing written.
    let out = init(repo.path(), &[]);
    assert_fails_with(&out, "several binaries: client (package kv), server (package kv)");
    assert_fails_with(&out, "--bin NAME");
    assert_fails_with(&init(repo.path(), &["--bin", "sever"]), "--bin sever: the workspace has no such binary");
    assert_eq!(tree(repo.path()), before);
}

/// A file init did not write is never overwritten: every conflict is named, nothing is written.
#[test]
fn an_existing_file_of_other_content_is_refused() {
    let repo = kv_repo();
    repo.write("docker/Dockerfile", "FROM debian:12\nCOPY target/release/server /\n");
    repo.write(".cargo/config.toml", "[alias]\nxtask = \"run -p tools --\"\n");
    let before = tree(repo.path());
    let out = init(repo.path(), &["--bin", "server"]);
    assert_fails_with(&out, "init changed nothing");
    assert_fails_with(&out, "docker/Dockerfile exists, with other content");
    assert_fails_with(&out, ".cargo/config.toml has an alias `xtask` other than `run --package xtask --`");
    assert_eq!(tree(repo.path()), before);
}

/// The crate documentation's example is an xtask of its own: its `release` command hands the
/// rest of its arguments to `release_pipeline::run`, its other commands stay its own.
#[test]
fn an_xtask_of_its_own_runs_the_pipeline_from_one_of_its_commands() {
    let repo = kv_repo();
    assert_ok(&init(repo.path(), &["--bin", "server", "--ci", "none"]));
    let lib = std::fs::read_to_string(workspace_root().join("release-pipeline/src/lib.rs")).unwrap();
    let docs: Vec<&str> =
        lib.lines().filter_map(|l| l.strip_prefix("//!")).map(|l| l.strip_prefix(' ').unwrap_or(l)).collect();
    let docs = docs.join("\n");
    let example = docs.split("```").nth(1).expect("the crate docs' example");
    let example: String = example
        .lines()
        .skip(1)
        .filter(|l| !l.trim_start().starts_with("# ") && l.trim() != "#")
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(example.contains("release_pipeline::run(args)"), "{example}");
    repo.write("xtask/src/main.rs", &example);
    // Its own package name: the adopters' target directory holds one `debug/xtask`, the
    // one-line xtask's of the other tests.
    for file in ["xtask/Cargo.toml", ".cargo/config.toml"] {
        let text = std::fs::read_to_string(repo.path().join(file)).unwrap();
        let renamed =
            text.replace("name = \"xtask\"", "name = \"own-xtask\"").replace("--package xtask", "--package own-xtask");
        assert_ne!(text, renamed, "{file}");
        repo.write(file, &renamed);
    }
    let out =
        Command::new(cargo()).args(["update", "--workspace", "--quiet"]).current_dir(repo.path()).output().unwrap();
    assert_ok(&out);
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "an xtask of our own"]);
    repo.tag("v1.0.0");
    let out = cargo_xtask(repo.path(), &["release", "version"]);
    assert_ok(&out);
    assert_eq!(stdout(&out).trim(), "1.0.0");
    assert_ok(&cargo_xtask(repo.path(), &["lint"]));
    let out = cargo_xtask(repo.path(), &["release", "verison"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("a command with a similar name exists: `version`"), "{}", stderr(&out));
}

/// init writes at the top of the repository and its workspace, or nowhere: run in a member's
/// directory (which has a Cargo.toml of its own), it names the top and writes nothing.
#[test]
fn init_runs_at_the_top_only() {
    let repo = kv_repo();
    repo.write("Cargo.toml", &format!("{KV_MANIFEST}\n[workspace]\nmembers = [\".\", \"proto\"]\n"));
    repo.write("proto/Cargo.toml", "[package]\nname = \"proto\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    repo.write("proto/src/lib.rs", "");
    let before = tree(repo.path());
    let out = init(&repo.path().join("proto"), &["--bin", "server"]);
    assert_fails_with(&out, "is not the top of the repository and its workspace");
    assert_eq!(tree(repo.path()), before);
}

/// `--separate-lockfile`: the xtask is a workspace of its own; the repository's Cargo.lock is not
/// touched, and `cargo xtask version` still prints the tag's version.
#[test]
fn a_separate_lockfile_leaves_the_shipped_lockfile_alone() {
    let repo = kv_repo();
    let out =
        Command::new(cargo()).args(["update", "--workspace", "--quiet"]).current_dir(repo.path()).output().unwrap();
    assert_ok(&out);
    repo.git(&["commit", "-q", "-am", "kv's own lockfile"]);
    let shipped = std::fs::read(repo.path().join("Cargo.lock")).unwrap();
    // The xtask's lockfile starts as this workspace's, as kv's did (no index to read).
    std::fs::create_dir_all(repo.path().join("xtask")).unwrap();
    std::fs::copy(workspace_root().join("Cargo.lock"), repo.path().join("xtask/Cargo.lock")).unwrap();
    let out = init(repo.path(), &["--bin", "server", "--separate-lockfile", "--ci", "none"]);
    assert_ok(&out);
    assert_eq!(
        std::fs::read(repo.path().join("Cargo.lock")).unwrap(),
        shipped,
        "the shipped binaries' lockfile changed"
    );
    let xtask_lock = std::fs::read_to_string(repo.path().join("xtask/Cargo.lock")).unwrap();
    assert!(xtask_lock.contains("name = \"release-pipeline\"") && !xtask_lock.contains("name = \"kv\""));
    let config = std::fs::read_to_string(repo.path().join(".cargo/config.toml")).unwrap();
    assert!(config.contains("xtask = \"run --manifest-path xtask/Cargo.toml --\""), "{config}");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "adopt the release pipeline, its own lockfile"]);
    repo.tag("v0.5.0");
    let out = cargo_xtask(repo.path(), &["version"]);
    assert_ok(&out);
    assert_eq!(stdout(&out).trim(), "0.5.0");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "the build left the checkout as committed");
    let out = init(repo.path(), &["--bin", "server", "--separate-lockfile", "--ci", "none"]);
    assert!(stdout(&out).contains("nothing to change"), "{}", stdout(&out));
}

/// A CI file's commands, run in order in `dir` with `env` (and a registry's credentials as the
/// CI system's secrets): what a tag push runs there, on this machine.
fn run_ci_commands(dir: &Path, commands: &[String], env: &[(String, String)]) {
    let _one = ONE_XTASK_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for command in commands {
        let out = Command::new("bash")
            .args(["-eo", "pipefail", "-c", command])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", adopter_target())
            .env_remove("RELEASE_REPOSITORY")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ok(&out);
    }
}

/// The whole adoption on the real stack: init, commit, tag; `version`, `dist`,
/// `dev-release --local` (the image runs and prints its version); then the GitHub workflow init
/// wrote, run step by step as a tag push runs it, releases to a test registry; and the GitLab
/// template (a second init, `--ci gitlab`, adds it and nothing else) releases the next tag.
#[test]
fn a_one_package_repository_adopts_the_pipeline() {
    require_docker();
    let reg = Registry::start("kv", "init-pass-1");
    let client = DockerClient::login(&reg);
    let image = format!("{}/acme/kv", reg.host());
    let repo = kv_repo();
    let flags = ["--bin", "server", "--image", &image, "--release-repository", "acme/kv"];
    release_pipeline(); // installed before the clock starts
    let started = std::time::Instant::now();
    assert_ok(&init(repo.path(), &flags));
    eprintln!("init took {:.1?}", started.elapsed());
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "adopt the release pipeline"]);
    repo.tag("v0.4.2");

    let out = cargo_xtask(repo.path(), &["version"]);
    assert_ok(&out);
    assert_eq!(stdout(&out).trim(), "0.4.2", "the tag's version, exactly");
    assert_ok(&cargo_xtask(repo.path(), &["dist"]));
    for target in ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"] {
        let package = format!("dist/server-0.4.2-{target}.tar.gz");
        assert!(repo.path().join(&package).is_file(), "{package}");
    }
    repo.git(&["checkout", "-q", "-b", "adopt"]);
    let out = cargo_xtask(repo.path(), &["dev-release", "--local"]);
    assert_ok(&out);
    // `--local` names the image after the service.
    let run =
        Command::new("docker").args(["run", "--rm", "--platform", "linux/amd64", "server:adopt"]).output().unwrap();
    assert_ok(&run);
    assert_eq!(stdout(&run).trim(), "0.4.2", "the binary in the image is the tagged build");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "the runs left the checkout as committed");
    repo.git(&["checkout", "-q", "main"]);

    // The GitHub workflow, as a tag push runs it: each `uses:` stands for a tool this machine has.
    let workflow: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo.path().join(".github/workflows/release-pipeline.yml")).unwrap(),
    )
    .unwrap();
    let steps = workflow["jobs"]["release"]["steps"].as_sequence().unwrap();
    let mut commands = Vec::new();
    let mut step_env = Vec::new();
    for step in steps {
        if let Some(action) = step["uses"].as_str() {
            let (tool, args): (&str, &[&str]) = match action.split('@').next().unwrap() {
                "actions/checkout" | "Swatinem/rust-cache" => ("git", &["--version"]),
                "docker/setup-qemu-action" => ("cargo", &["xtask", "qemu"]),
                "docker/setup-buildx-action" => ("docker", &["buildx", "version"]),
                "sigstore/cosign-installer" => ("cosign", &["version"]),
                other => panic!("a setup action the test does not stand in for: {other}"),
            };
            let _one = ONE_XTASK_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            let out = Command::new(tool)
                .args(args)
                .current_dir(repo.path())
                .env("CARGO_TARGET_DIR", adopter_target())
                .output()
                .unwrap();
            assert_ok(&out);
            continue;
        }
        commands.push(step["run"].as_str().unwrap().to_owned());
        if let Some(env) = step["env"].as_mapping() {
            for (name, value) in env {
                let secret = value.as_str().unwrap().trim_start_matches("${{ secrets.").trim_end_matches(" }}");
                let value = match secret {
                    "REGISTRY_USER" => reg.user.clone(),
                    "REGISTRY_PASSWORD" => reg.password.clone(),
                    _ => String::new(), // no signing key: signing is off
                };
                step_env.push((name.as_str().unwrap().to_owned(), value));
            }
        }
    }
    let summary = tempfile::NamedTempFile::new().unwrap();
    let head = repo.head();
    let mut env: Vec<(String, String)> = [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_REF", "refs/tags/v0.4.2"),
        ("GITHUB_REF_NAME", "v0.4.2"),
        ("GITHUB_REF_TYPE", "tag"),
        ("GITHUB_REPOSITORY", "acme/kv"),
        ("GITHUB_SHA", &head),
        ("RUNNER_OS", "Linux"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.push(("GITHUB_WORKSPACE".to_owned(), repo.path().display().to_string()));
    env.push(("GITHUB_STEP_SUMMARY".to_owned(), summary.path().display().to_string()));
    env.extend(step_env);
    run_ci_commands(repo.path(), &commands, &env);
    assert_eq!(reg.tags_of("acme/kv"), ["0.4", "0.4.2", "latest"]);
    let printed = |platform: &str, reference: &str| {
        let run = client.cmd(&["run", "--rm", "--pull", "always", "--platform", platform, reference]).output().unwrap();
        assert_ok(&run);
        stdout(&run).trim().to_owned()
    };
    assert_eq!(printed("linux/arm64", &format!("{image}:0.4.2")), "0.4.2", "the arm64 image, under qemu");

    // GitLab: a second init adds its template and nothing else; the next tag is released by it.
    let out = init(repo.path(), &[&flags[..], &["--ci", "gitlab"]].concat());
    assert_ok(&out);
    let text = stdout(&out);
    let written: Vec<&str> = text.lines().filter(|l| l.starts_with("  created") || l.starts_with("  edited")).collect();
    assert_eq!(written, ["  created .gitlab-ci.yml"], "{text}");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "GitLab CI"]);
    repo.tag("v0.4.3");
    let gitlab: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(repo.path().join(".gitlab-ci.yml")).unwrap()).unwrap();
    let job = &gitlab["release"];
    let mut commands = Vec::new();
    for key in ["before_script", "script"] {
        commands.extend(job[key].as_sequence().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()));
    }
    let mut env: Vec<(String, String)> = Vec::new();
    for (name, value) in job["variables"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        // The `docker:dind` service stands for this machine's engine.
        if !name.starts_with("DOCKER_") {
            env.push((name.to_owned(), value.as_str().unwrap().to_owned()));
        }
    }
    let head = repo.head();
    for (k, v) in [
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_TAG", "v0.4.3"),
        ("CI_COMMIT_REF_NAME", "v0.4.3"),
        ("CI_COMMIT_SHA", &head),
        ("CI_PROJECT_PATH", "acme/kv"),
        ("REGISTRY_USER", &reg.user),
        ("REGISTRY_PASSWORD", &reg.password),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    run_ci_commands(repo.path(), &commands, &env);
    assert_eq!(reg.tags_of("acme/kv"), ["0.4", "0.4.2", "0.4.3", "latest"]);
    assert_eq!(printed("linux/amd64", &format!("{image}:latest")), "0.4.3", "latest moved to the GitLab release");
}
