//! The crates as an adopter gets them: both published to a real cargo registry (ktra), then a
//! one-package repository adopts the library from there by version, exactly as the crate's own
//! README says, and makes a dev release with it.
mod common;
use common::{stack::*, *};
use std::{path::Path, process::Command};

/// The first block of `lang` that holds `marker` in the section `heading` of the README at
/// `path`, without its fence line and indent.
fn readme_block(path: &Path, heading: &str, lang: &str, marker: &str) -> String {
    let readme = std::fs::read_to_string(path).unwrap();
    let section = readme.split(heading).nth(1).unwrap_or_else(|| panic!("{} has no {heading}", path.display()));
    let section = section.split("\n## ").next().unwrap();
    let block = section
        .split("```")
        .skip(1)
        .step_by(2)
        .find(|b| b.starts_with(lang) && b.contains(marker))
        .unwrap_or_else(|| panic!("{heading} has no ```{lang} block with {marker}"));
    // The fence line, then the block; the README indents blocks inside a list.
    let body = &block[lang.len()..];
    let body = body.split_once('\n').map_or("", |(_, rest)| rest);
    let indent = body.len() - body.trim_start_matches(' ').len();
    body.lines().map(|l| l.get(indent..).unwrap_or("").to_owned() + "\n").collect::<String>().trim_end().to_owned()
        + "\n"
}

#[test]
fn the_published_crates_are_adopted_by_version() {
    require_docker();
    let crates = CargoRegistry::start();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let with_registry = |cmd: &mut Command| {
        for (k, v) in crates.cargo_env(&crates.token) {
            cmd.env(k, v);
        }
    };

    // Both crates as `cargo package` makes them, published in order (the plan crate first: the
    // library needs it). The one edit: the library's dependency on the plan crate names the test
    // registry, as a dependency between two crates of one alternative registry must (on
    // crates.io, where both go, the packaged manifest is right as it is).
    let packaged = shared_target_dir().join("published-crates");
    let out = Command::new(&cargo)
        .args(["package", "--no-verify", "--allow-dirty", "--quiet"])
        .args(["-p", "release-pipeline-plan", "-p", "release-pipeline"])
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", &packaged)
        .output()
        .unwrap();
    assert_ok(&out);
    let unpacked = tempfile::tempdir().unwrap();
    for krate in ["release-pipeline-plan", "release-pipeline"] {
        let file = packaged.join(format!("package/{krate}-0.1.0.crate"));
        assert_ok(&Command::new("tar").arg("xzf").arg(&file).arg("-C").arg(unpacked.path()).output().unwrap());
        let dir = unpacked.path().join(format!("{krate}-0.1.0"));
        // A `.crate` dates every file 2006: cargo would take an earlier unpacking's build in the
        // shared target directory (same name, version and relative paths) for this one's.
        assert_ok(&Command::new("find").arg(&dir).args(["-type", "f", "-exec", "touch", "{}", "+"]).output().unwrap());
        for made_by_cargo in ["Cargo.toml.orig", ".cargo_vcs_info.json"] {
            std::fs::remove_file(dir.join(made_by_cargo)).unwrap();
        }
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let dependency = "[dependencies.release-pipeline-plan]\nversion = \"0.1.0\"\n";
        assert_eq!(manifest.contains(dependency), krate == "release-pipeline", "{manifest}");
        let manifest = manifest.replace(dependency, &format!("{dependency}registry = \"local\"\n"));
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        let mut publish = Command::new(&cargo);
        publish
            .args(["publish", "--registry", "local", "--no-verify", "--allow-dirty", "--quiet"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &packaged);
        with_registry(&mut publish);
        assert_ok(&publish.output().unwrap());
    }
    assert_eq!(crates.versions("release-pipeline"), ["0.1.0"]);
    // Each crate's own unit tests, from the `.crate` alone (the library's plan crate from the
    // registry): nothing they read lies outside the package.
    for krate in ["release-pipeline-plan", "release-pipeline"] {
        let mut test = Command::new(&cargo);
        test.args(["test", "--lib", "--quiet"])
            .current_dir(unpacked.path().join(format!("{krate}-0.1.0")))
            .env("CARGO_TARGET_DIR", packaged.join("crate-tests"));
        with_registry(&mut test);
        let out = test.output().unwrap();
        assert_ok(&out);
        assert!(stdout(&out).contains("test result: ok."), "{krate}: {}", stdout(&out));
    }
    let files = crates.crate_files("release-pipeline", "0.1.0");
    for file in ["LICENSE", "README.md", "docs/schemas/examples/manifest.json"] {
        assert!(files.contains(&format!("release-pipeline-0.1.0/{file}")), "{file} is not in the crate: {files:?}");
    }

    // A repository with one package becomes a workspace with the xtask, as the crate README says.
    let readme = workspace_root().join("release-pipeline/README.md");
    let adopting = "## Adopting it";
    let ws = TestRepo::new();
    ws.write(
        "Cargo.toml",
        "[package]\nname = \"brewbot\"\nversion = \"0.4.1\"\nedition = \"2021\"\nlicense = \"MIT OR Apache-2.0\"\npublish = false\n\n\
         [workspace]\nmembers = [\".\", \"xtask\"]\n\n\
         [workspace.metadata.release-pipeline]\ntargets = [{ target = \"x86_64-unknown-linux-musl\", platform = \"linux/amd64\" }]\n\
         [[workspace.metadata.release-pipeline.context]]\ndir = \"docker\"\nplatforms = [\"linux/amd64\"]\n",
    );
    let xtask_manifest = readme_block(&readme, adopting, "toml", "# xtask/Cargo.toml");
    assert!(xtask_manifest.contains("release-pipeline = \"0.1\"\n"), "{xtask_manifest}");
    // By version, from the test registry instead of crates.io.
    ws.write(
        "xtask/Cargo.toml",
        &xtask_manifest
            .replace("release-pipeline = \"0.1\"", "release-pipeline = { version = \"0.1\", registry = \"local\" }"),
    );
    ws.write("xtask/src/main.rs", &readme_block(&readme, adopting, "rust", "release_pipeline::main()"));
    ws.write(".cargo/config.toml", &readme_block(&readme, adopting, "toml", "# .cargo/config.toml"));
    ws.write(".gitignore", "target/\ndist/\npkg/\n");
    // The service prints its version with the README's three lines.
    let lines = readme_block(&readme, "## The version in the binary", "rust", "SERVICE_VERSION");
    let indented: String = lines.lines().map(|l| format!("    {l}\n")).collect();
    ws.write("src/main.rs", &format!("fn main() {{\n{indented}    println!(\"serving\");\n}}\n"));
    ws.write(
        "docker/Dockerfile",
        "FROM scratch\nARG TARGETPLATFORM\nADD pkg/${TARGETPLATFORM}/*.tar.gz /opt/brewbot/\nENTRYPOINT [\"/opt/brewbot/bin/brewbot\"]\n",
    );
    ws.write("LICENSE-MIT", "MIT terms");
    ws.write("LICENSE-APACHE", "Apache terms");
    // Its lockfile, resolved once and committed (`dist` builds `--locked`).
    let mut lock = Command::new(&cargo);
    lock.arg("generate-lockfile").current_dir(ws.path());
    with_registry(&mut lock);
    assert_ok(&lock.output().unwrap());
    let locked = std::fs::read_to_string(ws.path().join("Cargo.lock")).unwrap();
    let entry = locked.split("[[package]]").find(|p| p.contains("name = \"release-pipeline\"")).unwrap();
    assert!(entry.contains("version = \"0.1.0\"") && entry.contains("source = \"registry+"), "not by version:{entry}");
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "adopt the release pipeline"]);
    ws.tag("v0.7.0");
    ws.commit("one more");

    let target = shared_target_dir().join("adopted-by-version");
    let cargo_xtask = |args: &[&str]| {
        let mut cmd = Command::new(&cargo);
        cmd.arg("xtask").args(args).current_dir(ws.path()).env("CARGO_TARGET_DIR", &target).env("NO_COLOR", "1");
        with_registry(&mut cmd);
        cmd.output().unwrap()
    };
    let version = cargo_xtask(&["version"]);
    assert_ok(&version);
    assert_eq!(stdout(&version).trim(), "0.7.1-dev.1");

    let dist = cargo_xtask(&["dist"]);
    assert_ok(&dist);
    assert!(!stderr(&dist).contains("does not contain its version"), "{}", stderr(&dist));
    let package = ws.path().join("dist/brewbot-0.7.1-dev.1-x86_64-unknown-linux-musl.tar.gz");
    let listing = stdout(&Command::new("tar").arg("tzf").arg(&package).output().unwrap());
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(names, ["LICENSE-APACHE", "LICENSE-MIT", "bin/", "bin/brewbot", "manifest.json"]);

    let branch = format!("adopt-by-version-{}", std::process::id());
    ws.git(&["checkout", "-q", "-b", &branch]);
    assert_ok(&cargo_xtask(&["dev-release", "--local"]));
    let image = format!("brewbot:{branch}");
    let run = Command::new("docker")
        .args(["run", "--rm", "--platform", "linux/amd64", &image, "--version"])
        .output()
        .unwrap();
    let _ = Command::new("docker").args(["image", "rm", &image]).output();
    assert_ok(&run);
    assert_eq!(stdout(&run).trim(), format!("0.7.1-dev.1 ({})", ws.head()));
    let status = ws.git(&["status", "--porcelain"]);
    assert!(status.is_empty(), "the commands changed the checkout:\n{status}");
}
