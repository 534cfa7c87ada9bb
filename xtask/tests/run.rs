//! `--run` for a service that is not the pipeline's HTTP one: its port, readiness check and
//! arguments come from `[[service]] run`, and a service that does not come up is stopped, never
//! left running (it was, before).
mod common;
use common::{stack::*, *};
use std::process::Command;

/// A service that serves no HTTP: with `--listen PORT` it accepts TCP connections and holds
/// them open (as a Redis-protocol server does), otherwise it only stays up.
const MAIN: &str = r#"fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--listen") {
        let port: u16 = args[2].parse().unwrap();
        let listener = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(600));
}
"#;

fn workspace() -> TestRepo {
    let ws = TestRepo::new();
    ws.write("kvd/Cargo.toml", "[package]\nname = \"kvd\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n");
    ws.write("kvd/src/main.rs", MAIN);
    ws.write(
        "kvd/docker/Dockerfile",
        "FROM scratch\nARG TARGETPLATFORM\nADD pkg/${TARGETPLATFORM}/*.tar.gz /opt/kvd/\nENTRYPOINT [\"/opt/kvd/bin/kvd\"]\n",
    );
    ws.write(".gitignore", "target/\ndist/\npkg/\n");
    configure(&ws, None);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    assert_ok(&Command::new(cargo).args(["generate-lockfile", "--offline"]).current_dir(ws.path()).output().unwrap());
    ws.git(&["add", "-A"]);
    ws.git(&["commit", "-q", "-m", "a TCP service"]);
    ws.git(&["checkout", "-q", "-b", &format!("run-{}", std::process::id())]);
    ws
}

/// The manifest with `run` (or none: the HTTP default).
fn configure(ws: &TestRepo, run: Option<&str>) {
    let run = run.map(|r| format!("run = {r}\n")).unwrap_or_default();
    ws.write(
        "Cargo.toml",
        &format!(
            "[workspace]\nmembers = [\"kvd\"]\nresolver = \"2\"\n\n[workspace.metadata.release-pipeline]\n\
             targets = [{{ target = \"x86_64-unknown-linux-musl\", platform = \"linux/amd64\" }}]\n\
             [[workspace.metadata.release-pipeline.service]]\npackage = \"kvd\"\n{run}\
             [[workspace.metadata.release-pipeline.context]]\ndir = \"kvd/docker\"\nplatforms = [\"linux/amd64\"]\n"
        ),
    );
}

/// The containers `--run` started for `kvd`, running or not.
fn containers() -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "--all", "--filter", "label=org.release-pipeline.run", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .filter(|n| n.starts_with("kvd-run-") && n.ends_with(&std::process::id().to_string()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn run_checks_each_service_as_configured_and_stops_one_that_does_not_come_up() {
    require_docker();
    let ws = workspace();
    let target = shared_target_dir().join("run");
    let run = |config: Option<&str>| {
        configure(&ws, config);
        ws.git(&["commit", "-q", "--allow-empty", "-am", "run settings"]);
        let port = free_port().to_string();
        let out = xtask_cmd(ws.path())
            .env("CARGO_TARGET_DIR", &target)
            .args(["dev-release", "--local", "--run", "--port", &port])
            .output()
            .unwrap();
        (out, port)
    };

    // The default, GET /health: this service never answers it. Stopped, not left running.
    let (out, _) = run(None);
    assert_fails_with(&out, "did not answer GET http://127.0.0.1:");
    assert_fails_with(&out, "stopped it");
    assert_eq!(containers(), Vec::<String>::new(), "the failed --run left its container");

    // `tcp` with nothing listening: Docker's proxy takes the connection and drops it at once.
    let (out, _) = run(Some(r#"{ port = 6379, ready = "tcp" }"#));
    assert_fails_with(&out, "did not take a connection on 127.0.0.1:");
    assert_eq!(containers(), Vec::<String>::new(), "the failed --run left its container");

    // Its port and arguments from the configuration: it listens on 6379, published on `--port`.
    let (out, port) = run(Some(r#"{ port = 6379, ready = "tcp", args = ["--listen", "6379"] }"#));
    assert_ok(&out);
    assert!(stderr(&out).contains(&format!("is running at 127.0.0.1:{port} (ready: tcp)")), "{}", stderr(&out));
    let running = containers();
    assert_eq!(running.len(), 1, "{running:?}");
    let inspect = Command::new("docker").args(["inspect", "--format", "{{json .Args}}", &running[0]]).output().unwrap();
    assert_eq!(stdout(&inspect).trim(), r#"["--listen","6379"]"#);

    // `up:2`: still running after 2 s (a later --run replaces the earlier one).
    let (out, _) = run(Some(r#"{ ready = "up:2" }"#));
    assert_ok(&out);
    assert!(stderr(&out).contains("(ready: up:2)"), "{}", stderr(&out));
    for name in containers() {
        let _ = Command::new("docker").args(["rm", "--force", &name]).output();
    }
    let _ = Command::new("docker").args(["image", "rm", &format!("kvd:run-{}", std::process::id())]).output();
}
