//! The service as a process: its routes, one log line per request, and a prompt, clean stop on
//! SIGTERM and SIGINT (so `docker stop` never waits for its kill timeout).
use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn start() -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_service"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Ready when it answers a whole request (a bare connect and close raced with the first
    // request and made the server reset it, one run in thirty).
    let deadline = Instant::now() + Duration::from_secs(5);
    while try_get(port, "/health").is_err() {
        assert!(Instant::now() < deadline, "the service did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

fn try_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// A minimal HTTP/1.0 GET: (status line, body).
fn get(port: u16, path: &str) -> (String, String) {
    let response = try_get(port, path).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn stop(mut child: Child, signal: &str) -> String {
    let started = Instant::now();
    assert!(Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap().success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "not stopped 2 s after SIG{signal}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    log
}

#[test]
fn routes_logs_and_sigterm() {
    let (child, port) = start();
    let (status, body) = get(port, "/health");
    assert!(status.contains(" 200"), "{status}");
    assert!(body.contains("ok"));
    let (status, body) = get(port, "/version");
    assert!(status.contains(" 200"), "{status}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["name"], "service");
    assert_eq!(v["version"], service::VERSION);
    let (status, _) = get(port, "/nope");
    assert!(status.contains(" 404"), "{status}");
    let log = stop(child, "TERM");
    assert!(log.contains("GET /health 200"), "{log}");
    assert!(log.contains("GET /version 200"), "{log}");
    assert!(log.contains("GET /nope 404"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn sigint_stops_it_too() {
    let (child, _port) = start();
    stop(child, "INT");
}

#[test]
fn version_flag_and_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_service")).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("service {}", service::VERSION));
    let out = Command::new(env!("CARGO_BIN_EXE_service")).args(["--listen", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid listen address"));
}
