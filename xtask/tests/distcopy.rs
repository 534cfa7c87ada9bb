//! `cargo xtask distcopy` with packages made here (no build): layout, stale removal, checks.
mod common;
use common::*;
use std::{path::Path, process::Command};

const PLATFORMS: [(&str, &str); 3] = [
    ("x86_64-unknown-linux-musl", "linux/amd64"),
    ("aarch64-unknown-linux-gnu", "linux/arm64"),
    ("armv7-unknown-linux-gnueabihf", "linux/arm/v7"),
];

/// A workspace with the default configuration, its one binary package `service`, and `dist/`
/// holding packages of `version`.
fn workspace_with_packages(version: &str, platforms: &[(&str, &str)]) -> TestRepo {
    let repo = TestRepo::new();
    repo.write("Cargo.toml", "[workspace]\nmembers = [\"service\"]\n");
    repo.write("service/Cargo.toml", "[package]\nname = \"service\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    repo.write("service/src/main.rs", "fn main() {}\n");
    let commit = repo.commit("a");
    let dist = repo.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    for (target, platform) in platforms {
        let stage = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(stage.path().join("bin")).unwrap();
        let binary = format!("binary for {target}");
        std::fs::write(stage.path().join("bin/service"), &binary).unwrap();
        let sha256 = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&binary));
        let manifest = serde_json::json!({"name": "service", "version": version, "target": target,
            "platform": platform, "commit": commit, "sha256": sha256});
        std::fs::write(stage.path().join("manifest.json"), manifest.to_string()).unwrap();
        let name = format!("service-{version}-{target}.tar.gz");
        let out = Command::new("tar")
            .arg("czf")
            .arg(dist.join(&name))
            .args(["-C"])
            .arg(stage.path())
            .args(["bin", "manifest.json"])
            .output()
            .unwrap();
        assert_ok(&out);
    }
    let out = Command::new("sh").arg("-c").arg("sha256sum *.tar.gz > SHA256SUMS").current_dir(&dist).output().unwrap();
    assert_ok(&out);
    repo
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out)
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string())
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn fills_every_context_by_platform() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    assert_ok(&repo.xtask(&["distcopy"]));
    assert_eq!(
        files_under(&repo.path().join("docker/pkg")),
        [
            "linux/amd64/service-1.2.3-x86_64-unknown-linux-musl.tar.gz",
            "linux/arm/v7/service-1.2.3-armv7-unknown-linux-gnueabihf.tar.gz",
            "linux/arm64/service-1.2.3-aarch64-unknown-linux-gnu.tar.gz",
        ]
    );
    assert_eq!(
        files_under(&repo.path().join("rpi-docker/pkg")),
        ["linux/arm/v7/service-1.2.3-armv7-unknown-linux-gnueabihf.tar.gz"]
    );
}

#[test]
fn explicit_destinations_like_the_seed() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    let out = repo.xtask(&["distcopy", "--from", "dist/", "rpi-docker/pkg/", "elsewhere/pkg"]);
    assert_ok(&out);
    assert_eq!(files_under(&repo.path().join("rpi-docker/pkg")).len(), 1, "a context's pkg/ gets its platforms");
    assert_eq!(files_under(&repo.path().join("elsewhere/pkg")).len(), 3, "any other gets all");
    assert!(!repo.path().join("docker/pkg").exists());
}

#[test]
fn earlier_packages_are_removed() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    assert_ok(&repo.xtask(&["distcopy"]));
    let older = workspace_with_packages("1.0.0", &PLATFORMS);
    std::fs::remove_dir_all(repo.path().join("dist")).unwrap();
    copy_dir(&older.path().join("dist"), &repo.path().join("dist"));
    assert_ok(&repo.xtask(&["distcopy"]));
    let files = files_under(&repo.path().join("docker/pkg"));
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|f| f.contains("1.0.0")), "{files:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// `distcopy` only ever deletes what it wrote.
#[test]
fn a_destination_distcopy_did_not_fill_is_never_replaced() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    // A Go project's pkg/.
    repo.write("goproject/pkg/util/util.go", "package util");
    assert_fails_with(
        &repo.xtask(&["distcopy", "goproject/pkg"]),
        "which distcopy did not write: refusing to replace it",
    );
    assert!(repo.path().join("goproject/pkg/util/util.go").exists());
    // A backups folder: a .tar.gz that is not one of our packages.
    repo.write("backups/db-2024.tar.gz", "a database dump");
    assert_fails_with(&repo.xtask(&["distcopy", "backups"]), "backups/db-2024.tar.gz, which distcopy did not write");
    assert!(repo.path().join("backups/db-2024.tar.gz").exists());
    // A stray file in a context's own pkg/.
    assert_ok(&repo.xtask(&["distcopy"]));
    repo.write("docker/pkg/notes.txt", "mine");
    assert_fails_with(&repo.xtask(&["distcopy"]), "notes.txt, which distcopy did not write");
    assert!(repo.path().join("docker/pkg/notes.txt").exists());
    // One of our packages at another platform's place is not ours either.
    std::fs::remove_file(repo.path().join("docker/pkg/notes.txt")).unwrap();
    std::fs::rename(
        repo.path().join("docker/pkg/linux/amd64/service-1.2.3-x86_64-unknown-linux-musl.tar.gz"),
        repo.path().join("docker/pkg/linux/arm64/moved.tar.gz"),
    )
    .unwrap();
    assert_fails_with(&repo.xtask(&["distcopy"]), "moved.tar.gz, which distcopy did not write");
}

/// A context outside the workspace is refused by the configuration, before anything is read.
#[test]
fn context_dirs_outside_the_workspace_are_refused() {
    let parent = tempfile::tempdir().unwrap();
    let sibling = parent.path().join("other-project/pkg");
    std::fs::create_dir_all(&sibling).unwrap();
    std::fs::write(sibling.join("keep.txt"), "a sibling project's file").unwrap();
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    for dir in ["../other-project", "/"] {
        repo.write("Cargo.toml", &format!("[workspace]\nmembers = [\"service\"]\n[workspace.metadata.release-pipeline]\n[[workspace.metadata.release-pipeline.context]]\ndir = \"{dir}\"\nplatforms = [\"linux/amd64\"]\n"));
        assert_fails_with(&repo.xtask(&["distcopy"]), "must be a path inside the workspace");
    }
    assert!(sibling.join("keep.txt").exists());
    // A symlink that leads outside is caught on disk.
    std::os::unix::fs::symlink(parent.path().join("other-project"), repo.path().join("linked")).unwrap();
    repo.write("Cargo.toml", "[workspace]\nmembers = [\"service\"]\n[workspace.metadata.release-pipeline]\n[[workspace.metadata.release-pipeline.context]]\ndir = \"linked\"\nplatforms = [\"linux/amd64\"]\n");
    assert_fails_with(&repo.xtask(&["distcopy"]), "outside the workspace");
    assert!(sibling.join("keep.txt").exists());
}

#[test]
fn checksum_mismatch_fills_nothing() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    let older = workspace_with_packages("1.0.0", &PLATFORMS);
    copy_dir(&older.path().join("dist"), &repo.path().join("old-dist"));
    assert_ok(&repo.xtask(&["distcopy", "--from", "old-dist", "rpi-docker/pkg"]));
    let package = repo.path().join("dist/service-1.2.3-aarch64-unknown-linux-gnu.tar.gz");
    let mut bytes = std::fs::read(&package).unwrap();
    bytes.push(0);
    std::fs::write(&package, bytes).unwrap();
    assert_fails_with(&repo.xtask(&["distcopy"]), "checksum mismatch");
    assert!(!repo.path().join("docker/pkg").exists());
    // The old pkg/ is untouched: nothing half-filled.
    assert_eq!(
        files_under(&repo.path().join("rpi-docker/pkg")),
        ["linux/arm/v7/service-1.0.0-armv7-unknown-linux-gnueabihf.tar.gz"]
    );
}

#[test]
fn missing_source_or_platform_names_the_fix() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    std::fs::remove_dir_all(repo.path().join("dist")).unwrap();
    let out = repo.xtask(&["distcopy"]);
    assert_fails_with(&out, "no packages");
    assert_fails_with(&out, "cargo xtask dist");

    let repo = workspace_with_packages("1.2.3", &PLATFORMS[..1]);
    let out = repo.xtask(&["distcopy"]);
    assert_fails_with(&out, "no .tar.gz package for linux/arm64");
    assert_fails_with(&out, "cargo xtask dist");
    assert!(!repo.path().join("docker/pkg").exists() && !repo.path().join("rpi-docker/pkg").exists());
}

#[test]
fn destinations_that_would_destroy_something_are_refused() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    // The seed's argument order: the source given as a destination.
    assert_fails_with(&repo.xtask(&["distcopy", "dist/", "docker/pkg/"]), "is (or holds) the source");
    assert!(repo.path().join("dist/SHA256SUMS").exists(), "the source is intact");
    assert!(!repo.path().join("docker/pkg").exists(), "nothing was filled");
    repo.write("src/main.rs", "fn main() {}");
    assert_fails_with(&repo.xtask(&["distcopy", "src"]), "which distcopy did not write: refusing to replace it");
    assert!(repo.path().join("src/main.rs").exists());
}

#[test]
fn two_versions_in_the_source_are_refused() {
    let repo = workspace_with_packages("1.2.3", &PLATFORMS);
    let other = workspace_with_packages("1.2.4", &PLATFORMS[..1]);
    let name = "service-1.2.4-x86_64-unknown-linux-musl.tar.gz";
    std::fs::copy(other.path().join("dist").join(name), repo.path().join("dist").join(name)).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("sha256sum *.tar.gz > SHA256SUMS")
        .current_dir(repo.path().join("dist"))
        .output()
        .unwrap();
    assert_ok(&out);
    assert_fails_with(&repo.xtask(&["distcopy"]), "holds two versions");
}
