//! The service this pipeline releases: `GET /health` and `GET /version`, nothing else.
//!
//! The version and commit are injected at build time by `cargo xtask dist` through the
//! `SERVICE_VERSION` and `SERVICE_COMMIT` environment variables, so no release edits a file.
use std::{net::SocketAddr, sync::Arc, time::Instant};

use signal_hook::{consts::{SIGINT, SIGTERM}, iterator::Signals};
use tiny_http::{Header, Method, Request, Response, Server};

pub const NAME: &str = env!("CARGO_PKG_NAME");
/// What `cargo xtask version` computed, or the manifest's version for a plain `cargo run`.
pub const VERSION: &str = match option_env!("SERVICE_VERSION") {
    Some(v) => v,
    None => env!("CARGO_PKG_VERSION"),
};
pub const COMMIT: &str = match option_env!("SERVICE_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
const USAGE: &str = "\
Usage: service [--listen ADDR] [--version] [--help]

  --listen ADDR   address to listen on (env SERVICE_LISTEN, default 0.0.0.0:8080)
  --version       print the version and exit

Endpoints: GET /health, GET /version";

enum Args {
    Serve { listen: SocketAddr },
    Version,
    Help,
}

fn parse_args() -> Result<Args, String> {
    use lexopt::prelude::*;
    let mut listen = std::env::var("SERVICE_LISTEN").unwrap_or_else(|_| DEFAULT_LISTEN.to_owned());
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("version") | Short('V') => return Ok(Args::Version),
            Long("help") | Short('h') => return Ok(Args::Help),
            Long("listen") | Short('l') => {
                listen = parser.value().and_then(|v| v.string()).map_err(|e| e.to_string())?
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let listen = listen.parse().map_err(|e| format!("invalid listen address {listen:?}: {e}"))?;
    Ok(Args::Serve { listen })
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("error: {msg}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    match args {
        Args::Version => println!("{NAME} {VERSION}"),
        Args::Help => println!("{USAGE}"),
        Args::Serve { listen } => {
            if let Err(msg) = serve(listen) {
                eprintln!("error: {msg}");
                std::process::exit(1);
            }
        }
    }
}

fn serve(listen: SocketAddr) -> Result<(), String> {
    let server = Arc::new(Server::http(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?);
    // Stop on SIGTERM/SIGINT: `docker stop` must not have to wait for its kill timeout.
    let mut signals = Signals::new([SIGTERM, SIGINT]).map_err(|e| format!("cannot handle signals: {e}"))?;
    let unblock = Arc::clone(&server);
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            eprintln!("{NAME}: signal {sig}, shutting down");
            unblock.unblock();
        }
    });
    eprintln!("{NAME} {VERSION} ({COMMIT}) listening on {listen}");
    for request in server.incoming_requests() {
        handle(request);
    }
    eprintln!("{NAME}: stopped");
    Ok(())
}

fn handle(request: Request) {
    let started = Instant::now();
    let (status, body) = match (request.method(), request.url()) {
        (Method::Get | Method::Head, "/health") => (200, r#"{"status":"ok"}"#.to_owned()),
        (Method::Get | Method::Head, "/version") => (200, version_json()),
        (Method::Get | Method::Head, _) => (404, r#"{"error":"not found"}"#.to_owned()),
        _ => (405, r#"{"error":"method not allowed"}"#.to_owned()),
    };
    let line = format!("{} {} {status}", request.method(), request.url());
    let content_type = Header::from_bytes("Content-Type", "application/json").expect("static header");
    let response = Response::from_string(body).with_status_code(status).with_header(content_type);
    let result = request.respond(response);
    // One line per request, on stderr (the container log).
    match result {
        Ok(()) => eprintln!("{line} {}us", started.elapsed().as_micros()),
        Err(e) => eprintln!("{line} (client gone: {e})"),
    }
}

fn version_json() -> String {
    serde_json::json!({ "name": NAME, "version": VERSION, "commit": COMMIT }).to_string()
}
