//! What a person reads: errors as cargo prints them (`error:` then `help:`), warnings, and the
//! quiet/verbose switches. Every other module prints through here.
use std::{
    fmt,
    process::ExitCode,
    sync::{
        atomic::{AtomicU8, Ordering},
        Mutex,
    },
    time::Instant,
};

use anstream::{eprint, eprintln, println};
use anyhow::{Context, Result};

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

/// An error that tells the user what to do about it. Attach with [`with_help`] or create with
/// [`error_with_help`]; `report_error` prints it as `help: …` after the error chain.
#[derive(Debug)]
pub(crate) struct Help(pub(crate) String);

impl fmt::Display for Help {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Help {}

/// `error: {msg}` followed by `help: {help}`.
pub(crate) fn error_with_help(msg: impl fmt::Display, help: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Help(help.into())).context(msg.to_string())
}

/// `error: {headline}:` with one `  - problem` line each, then `help: {help}`: every problem at
/// once.
pub(crate) fn problems_error(
    headline: impl fmt::Display,
    problems: &[String],
    help: impl Into<String>,
) -> anyhow::Error {
    error_with_help(format!("{headline}:\n  - {}", problems.join("\n  - ")), help)
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

/// Runs an external command: shows its command line (never a secret: secrets go on stdin or in
/// the environment), captures its output, and on failure fails with `what` and the command's
/// stderr. With `--verbose` the output is shown too. Returns stdout.
pub(crate) fn exec(cmd: xshell::Cmd<'_>, what: &str) -> Result<String> {
    let out = exec_output(cmd)?;
    if !out.status.success() {
        return Err(command_failed(what, &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// [`exec`] without the status check: for commands whose failure the caller reads.
pub(crate) fn exec_output(cmd: xshell::Cmd<'_>) -> Result<std::process::Output> {
    if !quiet() {
        eprintln!("$ {}", mask(&cmd.to_string()));
    }
    let ticker = Ticker::start();
    let out = cmd.quiet().ignore_status().output().context("starting the command");
    drop(ticker);
    let out = out?;
    if verbose() {
        eprint!("{}", mask(&String::from_utf8_lossy(&out.stdout)));
        eprint!("{}", mask(&String::from_utf8_lossy(&out.stderr)));
    }
    Ok(out)
}

/// On a terminal, a live line with the elapsed time while a command runs (a build, a push);
/// nothing when stderr is not a terminal or under `--quiet`.
struct Ticker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start() -> Ticker {
        use std::io::IsTerminal;
        if quiet() || !std::io::stderr().is_terminal() {
            return Ticker { stop: None, thread: None };
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            // Quiet for the first second: most commands are done by then.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_millis(250))
            {
                let secs = started.elapsed().as_secs_f64();
                if secs >= 1.0 {
                    eprint!("\r    … running, {secs:.0}s ");
                }
            }
            if started.elapsed().as_secs_f64() >= 1.0 {
                eprint!("\r\x1b[2K");
            }
        });
        Ticker { stop: Some(tx), thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The error for a failed command: what we were doing, then its (masked) stderr.
pub(crate) fn command_failed(what: &str, out: &std::process::Output) -> anyhow::Error {
    let stderr = mask(String::from_utf8_lossy(&out.stderr).trim());
    let stderr = if stderr.is_empty() { mask(String::from_utf8_lossy(&out.stdout).trim()) } else { stderr };
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    anyhow::anyhow!("{what} failed ({}):\n{}", out.status, tail.join("\n"))
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

pub(crate) fn report_error(err: &anyhow::Error) -> ExitCode {
    let mut chain = err.chain().filter(|e| e.downcast_ref::<Help>().is_none());
    let first = chain.next().map(|e| mask(&e.to_string())).unwrap_or_default();
    eprintln!("{} {first}", paint("error:", "1;31"));
    let causes: Vec<String> = chain.map(|e| mask(&e.to_string())).collect();
    if !causes.is_empty() {
        eprintln!("\nCaused by:");
        for cause in causes {
            for line in cause.lines() {
                eprintln!("  {line}");
            }
        }
    }
    for help in err.chain().filter_map(|e| e.downcast_ref::<Help>()) {
        eprintln!("{} {}", paint("help:", "1;36"), mask(&help.0));
    }
    ExitCode::FAILURE
}

pub(crate) const COMMANDS: &[&str] =
    &["version", "dist", "distcopy", "release", "dev-release", "ci", "qemu", "doctor", "publish", "bench"];

pub(crate) fn usage_error(err: xflags::Error) -> ExitCode {
    if err.is_help() {
        println!("{err}");
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err}");
    // xflags names the unknown word; suggest the nearest command for a typo.
    let first_arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if let Some(word) = first_arg.filter(|w| !COMMANDS.contains(&w.as_str())) {
        let nearest = COMMANDS.iter().min_by_key(|c| strsim::levenshtein(c, &word));
        if let Some(c) = nearest.filter(|c| strsim::levenshtein(c, &word) <= 3) {
            eprintln!("help: a command with a similar name exists: `{c}`");
        }
    }
    eprintln!("help: run `cargo xtask --help` for the commands");
    ExitCode::from(2)
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
