//! The service this pipeline releases: `GET /health` and `GET /version`, nothing else.
//!
//! The version and commit are injected at build time by `cargo xtask dist` through the
//! `SERVICE_VERSION` and `SERVICE_COMMIT` environment variables, so no release edits a file.
//! (A library as well as a binary, so the crate can be a dependency: the pipeline asks cargo
//! which commit a published version came from, and cargo resolves only crates with a library.)
use std::{net::SocketAddr, sync::Arc, time::Instant};

use signal_hook::{
    consts::{SIGINT, SIGTERM},
    iterator::Signals,
};
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
/// Serves until SIGTERM or SIGINT.
pub fn serve(listen: SocketAddr) -> Result<(), String> {
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

pub fn version_json() -> String {
    serde_json::json!({ "name": NAME, "version": VERSION, "commit": COMMIT }).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_json_names_the_build() {
        let v: serde_json::Value = serde_json::from_str(&super::version_json()).unwrap();
        assert_eq!(v["name"], "service");
        assert_eq!(v["version"], super::VERSION);
        assert_eq!(v["commit"], super::COMMIT);
    }
}
