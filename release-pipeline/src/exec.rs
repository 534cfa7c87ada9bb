//! Every external command runs through here (`xshell`): its command line shown (secrets
//! masked), its output captured, a live elapsed time on a terminal.
use std::time::Instant;

use anstream::{eprint, eprintln};
use anyhow::{Context, Result};

use crate::{
    error::command_failed,
    ui::{mask, quiet, verbose},
};

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

/// A command whose output goes straight to the terminal (a cargo build's progress): its command
/// line shown, its failure an error naming `what`.
pub(crate) fn stream(cmd: xshell::Cmd<'_>, what: &str) -> Result<()> {
    if !quiet() {
        eprintln!("$ {}", mask(&cmd.to_string()));
    }
    cmd.quiet().run().with_context(|| format!("{what} failed"))
}

/// A command run silently, its output captured, its status left to the caller: for checks
/// whose report is the only output (`doctor`, a health probe).
pub(crate) fn silent(cmd: xshell::Cmd<'_>) -> Result<std::process::Output> {
    cmd.quiet().ignore_status().output().context("starting the command")
}
