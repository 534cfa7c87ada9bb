//! What a person reads on the terminal: messages, warnings, steps with their durations (GitHub
//! Actions groups), colour decided per stream, the quiet/verbose switches, and the secrets masked
//! out of everything relayed. Errors are in `error.rs`, external commands in `exec.rs`.
use std::{
    fmt,
    sync::{
        atomic::{AtomicU8, Ordering},
        Mutex,
    },
    time::Instant,
};

use anstream::eprintln;

static LEVEL: AtomicU8 = AtomicU8::new(1);

pub(crate) fn init(quiet: bool, verbose: bool) {
    LEVEL.store(
        if quiet {
            0
        } else if verbose {
            2
        } else {
            1
        },
        Ordering::Relaxed,
    );
}

pub(crate) fn quiet() -> bool {
    LEVEL.load(Ordering::Relaxed) == 0
}

pub(crate) fn verbose() -> bool {
    LEVEL.load(Ordering::Relaxed) == 2
}

/// A message for a person on stderr, unless `--quiet`.
pub(crate) fn info(msg: impl fmt::Display) {
    if !quiet() {
        eprintln!("{msg}");
    }
}

pub(crate) fn warn(msg: impl fmt::Display) {
    eprintln!("{} {}", paint("warning:", "1;33"), mask(&msg.to_string()));
}

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Registers a secret: [`mask`] replaces it in every text this tool relays (a registry's error
/// may echo a wrong token, and cargo prints it).
pub(crate) fn add_secret(secret: &str) {
    if !secret.is_empty() {
        SECRETS.lock().unwrap_or_else(|e| e.into_inner()).push(secret.to_owned());
    }
}

pub(crate) fn mask(text: &str) -> String {
    let mut text = text.to_owned();
    for secret in SECRETS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

/// A pipeline step: announced when it starts, timed when it ends; in GitHub Actions, a group.
pub(crate) struct Step {
    name: String,
    started: Instant,
}

pub(crate) fn step(name: impl Into<String>) -> Step {
    let name = name.into();
    if !quiet() {
        if github_actions() {
            eprintln!("::group::{name}");
        } else {
            eprintln!("{} {name}", paint("==>", "1;34"));
        }
    }
    Step { name, started: Instant::now() }
}

impl Step {
    pub(crate) fn done(self) {
        if !quiet() {
            let secs = self.started.elapsed().as_secs_f64();
            if github_actions() {
                eprintln!("::endgroup::");
            }
            eprintln!("    {} {} in {secs:.1}s", paint("done:", "32"), self.name);
        }
    }
}

pub(crate) fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// `text` in ANSI colour `code`. The print macros here (`anstream`'s) keep or strip the colour for
/// each stream on its own: a terminal gets it, a pipe or a file (`doctor > file`) and `NO_COLOR`
/// do not.
pub(crate) fn paint(text: &str, code: &str) -> String {
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_masked_too() {
        add_secret("q7");
        add_secret("");
        assert_eq!(mask("user q7 said q7"), "user *** said ***");
        assert_eq!(mask("nothing here"), "nothing here", "an empty secret masks nothing");
    }
}
