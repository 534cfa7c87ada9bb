//! `cargo xtask qemu`: the host path for real, the image path with a fake docker.
mod common;
use common::{stack::*, *};

/// Needs what `.ci/run` sets up: an x86_64 host (so both ARM platforms are foreign) with
/// binfmt_misc mounted and qemu-user-static installed. Each need is checked, not assumed.
#[test]
fn host_handlers_are_registered() {
    assert_eq!(std::env::consts::ARCH, "x86_64", "this test needs an x86_64 host, where arm and arm64 are foreign");
    let binfmt = std::path::Path::new("/proc/sys/fs/binfmt_misc");
    assert!(binfmt.join("status").exists(), "binfmt_misc must be mounted (scripts/onboard.sh does it)");
    let repo = TestRepo::new();
    let out = repo.xtask(&["qemu"]);
    assert_ok(&out);
    for handler in ["qemu-arm", "qemu-aarch64"] {
        let state = std::fs::read_to_string(binfmt.join(handler)).unwrap_or_default();
        assert_eq!(state.lines().next(), Some("enabled"), "{handler} is enabled after `cargo xtask qemu`");
    }
    let said = stderr(&out);
    assert!(
        said.contains("qemu-aarch64, qemu-arm registered and enabled") || said.contains("qemu: registered"),
        "{said}"
    );
}

#[test]
fn binfmt_misc_not_mounted() {
    let repo = TestRepo::new();
    let binfmt = tempfile::tempdir().unwrap();
    let out = xtask_cmd(repo.path()).env("RELEASE_BINFMT_DIR", binfmt.path()).args(["qemu"]).output().unwrap();
    assert_fails_with(&out, "binfmt_misc is not mounted");
    assert_fails_with(&out, "mount -t binfmt_misc");
}

/// No update-binfmts on PATH: registered with the configured image, as users do elsewhere.
fn run_with_image(registers: bool) -> (FakeDocker, std::process::Output, tempfile::TempDir) {
    let binfmt = tempfile::tempdir().unwrap();
    std::fs::write(binfmt.path().join("status"), "enabled\n").unwrap();
    let register = if registers {
        format!("printf 'enabled\\ninterpreter /usr/bin/qemu-arm\\n' > {0}/qemu-arm; printf 'enabled\\n' > {0}/qemu-aarch64", binfmt.path().display())
    } else {
        "echo 'fake: operation not permitted' >&2; exit 1".to_owned()
    };
    let fake = FakeDocker::new(&format!("  \"run --privileged --rm \"*) {register} ;;\n  *) exit 3 ;;"));
    let repo = TestRepo::new();
    let out = xtask_cmd(repo.path())
        .env("RELEASE_BINFMT_DIR", binfmt.path())
        .env("PATH", fake.path())
        .args(["qemu"])
        .output()
        .unwrap();
    (fake, out, binfmt)
}

#[test]
fn registers_with_the_image_when_the_host_cannot() {
    let (fake, out, _binfmt) = run_with_image(true);
    assert_ok(&out);
    assert_eq!(fake.calls(), ["run --privileged --rm tonistiigi/binfmt --install arm64,arm"]);
    assert!(stderr(&out).contains("registered qemu-aarch64, qemu-arm"), "{}", stderr(&out));
}

#[test]
fn refused_registration_names_the_fix() {
    let (_fake, out, _binfmt) = run_with_image(false);
    assert_fails_with(&out, "registering qemu handlers with tonistiigi/binfmt failed");
    assert_fails_with(&out, "qemu-user-static");
}
