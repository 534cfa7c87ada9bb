//! `rebuild` on the real stack: a signed release of both contexts (three platforms) is rebuilt
//! from its tag in a fresh clone, by a machine set up otherwise (another time zone, umask,
//! locale and `CARGO_HOME`), and every digest is equal: each package's SHA-256 with the signed
//! provenance's, the index and every platform manifest with the registry's. Then the version
//! tag is replaced with an image built from a one-line change of the service, and
//! `rebuild --check` fails, naming the platform and the file that differs.
mod common;
use common::{stack::*, *};
use std::process::{Command, Output, Stdio};

/// `cmd` run by a shell with another umask.
fn with_umask(cmd: &Command, umask: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(format!("umask {umask} && exec \"$0\" \"$@\"")).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        sh.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.stdin(Stdio::null());
    sh
}

/// Another `CARGO_HOME` at another path that shares the crates already downloaded (so nothing
/// is fetched), as a second machine's would be.
fn other_cargo_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let mine = std::env::var("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    for shared in ["registry", "git", "config.toml"] {
        if mine.join(shared).exists() {
            std::os::unix::fs::symlink(mine.join(shared), home.path().join(shared)).unwrap();
        }
    }
    home
}

struct Env {
    reg: Registry,
    keys: Keys,
    ws: TestRepo,
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.reg.xtask(self.ws.path(), args);
        cmd.env("COSIGN_PRIVATE_KEY", &self.keys.private)
            .env("COSIGN_PASSWORD", &self.keys.password)
            .env("SOURCE_DATE_EPOCH", "1700000000");
        cmd
    }

    fn rebuild(&self, args: &[&str], cargo_home: &std::path::Path) -> Output {
        let mut cmd = self.cmd(args);
        cmd.env("TZ", "Asia/Tokyo").env("LC_ALL", "C.UTF-8").env("CARGO_HOME", cargo_home);
        cmd.env_remove("COSIGN_PRIVATE_KEY").env_remove("COSIGN_PASSWORD");
        with_umask(&cmd, "077").output().unwrap()
    }
}

#[test]
fn a_release_is_rebuilt_bit_for_bit_and_a_replaced_image_is_caught() {
    require_docker();
    let keys = Keys::generate("rebuild");
    keys.forget_file();
    let ws = scratch_workspace();
    let manifest = std::fs::read_to_string(ws.path().join("Cargo.toml")).unwrap().replace(
        "[workspace.metadata.release-pipeline]\n",
        "[workspace.metadata.release-pipeline]\nsigning = { sign = \"releases\", public-key = \"cosign.pub\" }\n",
    );
    ws.write("Cargo.toml", &manifest);
    std::fs::copy(keys.public(), ws.path().join("cosign.pub")).unwrap();
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "sign releases"]);
    let env = Env { reg: Registry::start("ci", "rebuild-pass-3"), keys, ws };
    env.ws.tag("3.1.0");
    assert_ok(&env.cmd(&["release"]).output().unwrap());

    let cargo_home = other_cargo_home();
    let out = env.rebuild(&["rebuild", "3.1.0", "--check", "--json"], cargo_home.path());
    assert_ok(&out);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let artifacts: Vec<&str> = rows.iter().map(|r| r["artifact"].as_str().unwrap()).collect();
    let repo = env.reg.repository();
    for expected in [
        format!("{repo}:3.1.0"),
        format!("{repo}:3.1.0 linux/amd64"),
        format!("{repo}:3.1.0 linux/arm64"),
        format!("{repo}:3.1.0 linux/arm/v7"),
        format!("{repo}:rpi-3.1.0"),
        "service-3.1.0-x86_64-unknown-linux-musl.tar.gz".to_owned(),
        "service-3.1.0-aarch64-unknown-linux-gnu.tar.gz".to_owned(),
        "service-3.1.0-armv7-unknown-linux-gnueabihf.tar.gz".to_owned(),
    ] {
        assert!(artifacts.contains(&expected.as_str()), "{expected} was not compared: {artifacts:?}");
    }
    for row in &rows {
        assert_eq!(row["equal"], true, "{row}");
        assert_eq!(row["published"], row["rebuilt"], "{row}");
    }
    assert_eq!(rows[0]["published"].as_str().unwrap().len(), 64, "a package's SHA-256: {}", rows[0]);
    // `verify --rebuild`: the signature and provenance checks, then the same proof.
    let out = env.rebuild(&["verify", &format!("{repo}:3.1.0"), "--rebuild"], cargo_home.path());
    assert_ok(&out);
    assert!(stdout(&out).contains("verified "), "{}", stdout(&out));
    assert!(stderr(&out).contains("rebuilt bit for bit"), "{}", stderr(&out));
    // The rebuild pushed nothing and left no clone behind.
    let tags = env.reg.tags();
    assert!(tags.iter().all(|t| !t.contains("rebuild")), "{tags:?}");

    // A one-line change of the service, built as a dev release and put at the version tag by
    // hand: `rebuild --check` names the platform and the file.
    env.ws.git(&["checkout", "-q", "-b", "tamper"]);
    let main = std::fs::read_to_string(env.ws.path().join("service/src/main.rs")).unwrap();
    env.ws.write("service/src/main.rs", &format!("{main}\n// one line more\npub static TAMPERED: &str = \"yes\";\n"));
    env.ws.git(&["commit", "-q", "-am", "a one-line change"]);
    assert_ok(&env.cmd(&["dev-release"]).output().unwrap());
    env.reg.retag("tamper", "3.1.0");
    env.ws.git(&["checkout", "-q", "3.1.0"]);
    let out = env.rebuild(&["rebuild", "3.1.0", "--check"], cargo_home.path());
    assert!(!out.status.success(), "a replaced image passed:\n{}", stdout(&out));
    let table = stdout(&out);
    let err = stderr(&out).lines().find(|l| l.starts_with("error: ")).unwrap_or_default().to_owned();
    assert!(
        err.contains(&format!("{repo}:3.1.0 linux/amd64 (opt/service/bin/service: ")),
        "the platform and the file are named:\n{err}"
    );
    assert!(table.contains("opt/service/bin/service: published"), "the table says it too:\n{table}");
    assert!(table.contains("NO"), "{table}");
    assert!(!err.contains(&format!("{repo}:rpi-3.1.0")), "the untouched image is equal:\n{err}");
}
