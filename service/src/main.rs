//! `service`: parses the command line and serves (see lib.rs).
use std::net::SocketAddr;

use service::{serve, NAME, VERSION};

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
