//! `cargo xtask dist` on a scratch copy of this workspace: real cross builds, real packages.
mod common;
use common::*;
use std::{path::Path, process::Command};

fn sha256sum_check(dir: &Path) {
    let out = Command::new("sha256sum").args(["-c", "SHA256SUMS"]).current_dir(dir).output().unwrap();
    assert_ok(&out);
}

fn unpack(package: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("tar").arg("xzf").arg(package).arg("-C").arg(dir.path()).output().unwrap();
    assert_ok(&out);
    dir
}

/// `file`'s description of a binary: the machine and whether it is statically linked.
fn describe(binary: &Path) -> String {
    let out = Command::new("file").arg("-b").arg(binary).output().expect("`file` is installed by scripts/onboard.sh");
    stdout(&out)
}

#[test]
fn dist_builds_static_packages_for_every_target_reproducibly() {
    let ws = scratch_workspace();
    ws.tag("1.2.3");
    ws.commit("one more");
    let version = ws.version("semver");
    assert_eq!(version, "1.2.4-dev.1");
    assert_ok(&ws.xtask_shared(&["dist"]));
    let dist = ws.path().join("dist");
    sha256sum_check(&dist);
    let sums1 = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums1.lines().count(), 3, "{sums1}");

    let expected = [
        ("x86_64-unknown-linux-musl", "linux/amd64", "x86-64"),
        ("aarch64-unknown-linux-gnu", "linux/arm64", "ARM aarch64"),
        ("armv7-unknown-linux-gnueabihf", "linux/arm/v7", "ARM, EABI5"),
    ];
    for (target, platform, machine) in expected {
        let package = dist.join(format!("service-{version}-{target}.tar.gz"));
        let listing = stdout(&Command::new("tar").arg("tzvf").arg(&package).output().unwrap());
        let names: Vec<&str> = listing.lines().map(|l| l.split_whitespace().last().unwrap()).collect();
        assert_eq!(names, ["LICENSE", "README.md", "bin/", "bin/service", "manifest.json"], "{listing}");
        assert!(listing.lines().all(|l| l.contains(" 0/0 ")), "owner is 0/0: {listing}");
        let dir = unpack(&package);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["name"], "service");
        assert_eq!(manifest["version"], version);
        assert_eq!(manifest["target"], target);
        assert_eq!(manifest["platform"], platform);
        assert_eq!(manifest["commit"], ws.head());
        let binary = dir.path().join("bin/service");
        let sha = stdout(&Command::new("sha256sum").arg(&binary).output().unwrap());
        assert_eq!(manifest["sha256"].as_str().unwrap(), sha.split_whitespace().next().unwrap());
        let description = describe(&binary);
        assert!(description.contains(machine), "{target}: {description}");
        assert!(
            description.contains("statically linked") || description.contains("static-pie linked"),
            "{target}: {description}"
        );
        // It runs (ARM under qemu) and reports the injected version.
        let out = Command::new(&binary).arg("--version").output().unwrap();
        assert_eq!(stdout(&out).trim(), format!("service {version}"), "{target}");
    }

    // Reproducible: a second run gives the same bytes.
    assert_ok(&ws.xtask_shared(&["dist"]));
    assert_eq!(std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap(), sums1);

    // Zip packages, for downloads.
    assert_ok(&ws.xtask_shared(&["dist", "--format", "zip", "--target", "x86_64-unknown-linux-musl"]));
    assert!(dist.join(format!("service-{version}-x86_64-unknown-linux-musl.zip")).is_file());
    sha256sum_check(&dist);

    // A new version removes the packages of the old one.
    ws.commit("two more");
    assert_ok(&ws.xtask_shared(&["dist", "--target", "x86_64-unknown-linux-musl"]));
    let names: Vec<String> =
        std::fs::read_dir(&dist).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| n == "SHA256SUMS" || n.contains("1.2.4-dev.2")), "{names:?}");
    sha256sum_check(&dist);
}

#[test]
fn dist_refuses_an_unknown_target_or_format() {
    let ws = scratch_workspace();
    assert_fails_with(
        &ws.xtask_shared(&["dist", "--target", "mips-unknown-linux-gnu"]),
        "is not in the configuration's `targets`",
    );
    assert_fails_with(&ws.xtask_shared(&["dist", "--format", "rar"]), "unknown --format `rar`");
}

/// A binary that does not read `SERVICE_VERSION` would report another version than its package
/// says: `dist` warns, naming it and the three lines that fix it; with them, no warning.
#[test]
fn dist_warns_when_a_binary_lacks_its_version() {
    let ws = minimal_workspace();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    assert_ok(&Command::new(cargo).args(["generate-lockfile", "--offline"]).current_dir(ws.path()).output().unwrap());
    ws.git(&["add", "Cargo.lock"]);
    ws.git(&["commit", "-q", "-m", "lock"]);
    ws.tag("0.4.1");
    ws.commit("past the tag");
    let target = shared_target_dir().join("version-warning");
    let dist = || {
        xtask_cmd(ws.path())
            .env("CARGO_TARGET_DIR", &target)
            .args(["dist", "--target", "x86_64-unknown-linux-musl"])
            .output()
            .unwrap()
    };
    let out = dist();
    assert_ok(&out);
    let warning = "service for x86_64-unknown-linux-musl does not contain its version 0.4.2-dev.1";
    assert!(stderr(&out).contains(warning), "{}", stderr(&out));
    assert!(stderr(&out).contains("option_env!(\"SERVICE_VERSION\")"), "{}", stderr(&out));
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme.split("## The version in the binary").nth(1).expect("the README section");
    let lines = section.split("```rust\n").nth(1).and_then(|b| b.split("```").next()).expect("a rust block");
    let indented: String = lines.lines().map(|l| format!("    {l}\n")).collect();
    ws.write("service/src/main.rs", &format!("fn main() {{\n{indented}}}\n"));
    ws.git(&["commit", "-q", "-am", "print the version"]);
    let out = dist();
    assert_ok(&out);
    assert!(!stderr(&out).contains("does not contain its version"), "{}", stderr(&out));
    let package = ws.path().join("dist/service-0.4.2-dev.2-x86_64-unknown-linux-musl.tar.gz");
    let dir = unpack(&package);
    let printed = Command::new(dir.path().join("bin/service")).arg("--version").output().unwrap();
    assert_eq!(stdout(&printed).trim(), format!("0.4.2-dev.2 ({})", ws.head()));
}
