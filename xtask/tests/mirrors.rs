//! Mirrors on the real stack: two registries of the test's own, each with its own user and
//! password. A signed release and a dev release land on both at the same digests, signatures
//! and attestations included (`verify` of the mirror's image passes with the mirror's login
//! alone); a mirror that dies mid-run fails the run after the image's own registry is complete,
//! and the rerun completes only the mirror; a mirror whose login fails stops the preflight before
//! anything is built. No password of either registry is printed.
mod common;
use common::{stack::*, *};
use std::process::{Command, Output};

/// A scratch workspace that signs releases with `keys` and mirrors every image to `mirror`.
fn mirrored_workspace(keys: &Keys, mirror: &Registry) -> TestRepo {
    let ws = scratch_workspace();
    let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap().replace(
        "[workspace.metadata.release-pipeline]\n",
        &format!(
            "[workspace.metadata.release-pipeline]\nsigning = {{ sign = \"releases\", public-key = \"cosign.pub\" }}\nmirrors = [{{ image = \"{}\", user-env = \"MIRROR_USER\", password-env = \"MIRROR_PASSWORD\" }}]\n",
            mirror.repository()
        ),
    );
    ws.write("Cargo.toml", &manifest);
    std::fs::copy(keys.public(), ws.path().join("cosign.pub")).unwrap();
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "sign releases and mirror them"]);
    ws
}

struct Env {
    primary: Registry,
    mirror: Registry,
    keys: Keys,
    ws: TestRepo,
}

impl Env {
    fn new(label: &str) -> Env {
        require_docker();
        let primary = Registry::start("ci", &format!("{label}-primary-pass"));
        let mirror = Registry::start("mirror-ci", &format!("{label}-mirror-pass"));
        let keys = Keys::generate(label);
        keys.forget_file();
        let ws = mirrored_workspace(&keys, &mirror);
        Env { primary, mirror, keys, ws }
    }

    /// `cargo xtask ARGS` with both registries' credentials (the mirror's password given).
    fn cmd(&self, mirror_password: &str, args: &[&str]) -> Command {
        let mut cmd = self.primary.xtask(self.ws.path(), args);
        cmd.env("MIRROR_USER", &self.mirror.user)
            .env("MIRROR_PASSWORD", mirror_password)
            .env("COSIGN_PRIVATE_KEY", &self.keys.private)
            .env("COSIGN_PASSWORD", &self.keys.password);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.checked(self.cmd(&self.mirror.password, args).output().unwrap(), args)
    }

    /// Fails the test when `out` shows a secret.
    fn checked(&self, out: Output, args: &[&str]) -> Output {
        let printed = stdout(&out) + &stderr(&out);
        for secret in [&self.primary.password, &self.mirror.password, &self.keys.password] {
            assert!(!printed.contains(secret.as_str()), "`{}` printed a secret:\n{printed}", args.join(" "));
        }
        assert!(!printed.contains(self.keys.body_line()), "`{}` printed the key", args.join(" "));
        out
    }

    /// The image tags (not cosign's) of a registry with their digests.
    fn image_tags(reg: &Registry) -> Vec<(String, String)> {
        reg.snapshot().into_iter().filter(|(t, _)| !t.starts_with("sha256-") && !t.starts_with("staging-")).collect()
    }
}

/// A release, its mirror stopped at the mirror's first step: the run fails naming the mirror,
/// with the image's own registry complete; the rerun rebuilds nothing and brings the mirror to
/// the same digests, signatures included, and `verify` passes on the mirror with its own login
/// only. Then a dev release lands on both.
#[test]
fn a_release_reaches_the_mirror_at_the_same_digests_even_after_the_mirror_died() {
    let mut env = Env::new("mirror-e2e");
    env.ws.tag("1.4.0");
    let paused = Paused::start(env.cmd(&env.mirror.password, &["release"]), "mirror");
    env.mirror.stop();
    let (status, out, err) = paused.resume();
    assert!(!status.success(), "the release passed with its mirror down:\n{err}");
    assert!(err.contains(&env.mirror.repository()), "the failure names the mirror:\n{err}");
    for secret in [&env.primary.password, &env.mirror.password] {
        assert!(!(out.clone() + &err).contains(secret.as_str()), "a password was printed");
    }
    let own = Env::image_tags(&env.primary);
    let names: Vec<&str> = own.iter().map(|(t, _)| t.as_str()).collect();
    for tag in ["1.4.0", "1.4", "1", "latest", "rpi-1.4.0", "rpi-latest"] {
        assert!(names.contains(&tag), "the image's own registry is complete before the mirror: {names:?}");
    }

    env.mirror.restart();
    assert!(Env::image_tags(&env.mirror).is_empty(), "the stopped mirror got nothing");
    let rerun = env.run(&["release"]);
    assert_ok(&rerun);
    let err = stderr(&rerun);
    assert!(!err.contains("dist: build and package"), "the rerun built the packages again:\n{err}");
    assert!(err.contains("already released from this commit"), "{err}");
    assert_eq!(Env::image_tags(&env.mirror), own, "the mirror holds every tag at the same digest");
    let signatures = env.mirror.tags().into_iter().filter(|t| t.ends_with(".sig")).count();
    assert!(signatures >= 4, "the signatures (the indexes' and each platform manifest's) were copied");

    // `verify` of the mirror's image: with the mirror's login only.
    let mirrored = format!("{}:1.4.0", env.mirror.repository());
    let mut verify = env.cmd(&env.mirror.password, &["verify", &mirrored]);
    verify.env_remove("REGISTRY_USER").env_remove("REGISTRY_PASSWORD");
    let out = env.checked(verify.output().unwrap(), &["verify"]);
    assert_ok(&out);
    // A second rerun has nothing left to copy.
    let again = env.run(&["release", "--dry-run"]);
    assert_ok(&again);
    assert!(stdout(&again).contains("the mirror holds it already"), "{}", stdout(&again));

    // A dev release (not signed: `sign = "releases"`) lands on both at the same digest.
    env.ws.git(&["checkout", "-q", "-b", "feature/mirror"]);
    env.ws.commit("work on a branch");
    assert_ok(&env.run(&["dev-release"]));
    let tag = env.primary.tags().into_iter().find(|t| t.starts_with("feature-mirror")).expect("a dev tag");
    assert_eq!(env.mirror.digest(&tag), env.primary.digest(&tag), "{tag} on both at the same digest");
}

/// A mirror whose login is refused stops the preflight, naming the mirror: `--dry-run` exits
/// non-zero, and a real run builds and pushes nothing anywhere.
#[test]
fn a_mirror_whose_login_fails_stops_the_preflight() {
    let env = Env::new("mirror-login");
    env.ws.tag("2.0.0");
    for args in [&["release", "--dry-run"][..], &["release"][..]] {
        let out = env.checked(env.cmd("wrong-password", args).output().unwrap(), args);
        assert!(!out.status.success(), "{args:?} passed with a wrong mirror password");
        let err = stderr(&out);
        assert!(err.contains(&format!("mirror {}", env.mirror.repository())), "{args:?}: {err}");
        assert!(!err.contains("dist: build and package"), "{args:?} built:\n{err}");
    }
    assert!(env.primary.tags().is_empty(), "nothing was pushed to the image's own registry");
    assert!(env.mirror.tags().is_empty());
}
