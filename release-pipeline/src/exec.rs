//! Every external command runs through here, and only here (the tidy test
//! `only_exec_runs_processes`): [`Exec`] is built once (`lib.rs`) and handed to every command with
//! its workspace; it shows each command line (secrets masked) and a live elapsed time on a
//! terminal (not for a silent check), and hands the command to a [`Runner`]. [`Processes`] runs
//! it, output captured; the unit tests' recording fake answers instead, so the executor runs
//! without Docker.
use std::{
    path::Path,
    process::Output,
    sync::Arc,
    time::{Duration, Instant},
};

use anstream::{eprint, eprintln};
use anyhow::{Context, Result};
use xshell::Shell;

use crate::{
    error::command_failed,
    failure::{self, Failure},
    ui::{self, mask, quiet, verbose},
};

/// What runs a command line: the one seam between the pipeline and the processes it starts.
/// `dir` is where `cmd` runs (the directory of the shell it was built in), for a runner that
/// does not start it.
pub(crate) trait Runner: Send + Sync {
    /// Runs `cmd` to its end, its output captured and its status left to the caller.
    fn output(&self, dir: &Path, cmd: xshell::Cmd<'_>) -> Result<Output>;
    /// Runs `cmd` with its output on the terminal (a cargo build's progress).
    fn stream(&self, dir: &Path, cmd: xshell::Cmd<'_>) -> Result<()>;
    /// Waits before a retry.
    fn sleep(&self, pause: Duration);
}

/// The real processes.
pub(crate) struct Processes;

impl Runner for Processes {
    fn output(&self, _: &Path, cmd: xshell::Cmd<'_>) -> Result<Output> {
        cmd.quiet().ignore_status().output().context("starting the command")
    }

    fn stream(&self, _: &Path, cmd: xshell::Cmd<'_>) -> Result<()> {
        Ok(cmd.quiet().run()?)
    }

    fn sleep(&self, pause: Duration) {
        std::thread::sleep(pause)
    }
}

/// How every command runs: the shell its command lines are made in (`cmd!(exec.sh, …)`) and the
/// runner that runs them. Built once per process (`lib.rs`); a clone shares the runner.
#[derive(Clone)]
pub(crate) struct Exec {
    pub(crate) sh: Shell,
    runner: Arc<dyn Runner>,
}

impl Exec {
    /// Real processes, in the current directory.
    pub(crate) fn processes() -> Result<Exec> {
        Exec::with(Arc::new(Processes))
    }

    /// Commands run by `runner` (a test's fake), in the current directory.
    pub(crate) fn with(runner: Arc<dyn Runner>) -> Result<Exec> {
        Ok(Exec { sh: Shell::new().context("reading the current directory")?, runner })
    }

    /// A copy whose commands run in `dir`.
    pub(crate) fn in_dir(&self, dir: impl AsRef<std::path::Path>) -> Exec {
        let exec = self.clone();
        exec.sh.change_dir(dir);
        exec
    }

    /// Runs an external command: shows its command line (never a secret: secrets go on stdin or
    /// in the environment), captures its output, and on failure fails with `what` and the
    /// command's stderr. With `--verbose` the output is shown too. Returns stdout.
    pub(crate) fn exec(&self, cmd: xshell::Cmd<'_>, what: &str) -> Result<String> {
        let out = self.output(cmd)?;
        if !out.status.success() {
            return Err(command_failed(what, &out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// [`Exec::exec`] without the status check: for commands whose failure the caller reads.
    pub(crate) fn output(&self, cmd: xshell::Cmd<'_>) -> Result<Output> {
        if !quiet() {
            eprintln!("$ {}", mask(&cmd.to_string()));
        }
        let ticker = Ticker::start();
        let out = self.runner.output(&self.sh.current_dir(), cmd);
        drop(ticker);
        let out = out?;
        if verbose() {
            eprint!("{}", mask(&String::from_utf8_lossy(&out.stdout)));
            eprint!("{}", mask(&String::from_utf8_lossy(&out.stderr)));
        }
        Ok(out)
    }

    /// A command whose output goes straight to the terminal (a cargo build's progress): its
    /// command line shown, its failure an error naming `what`.
    pub(crate) fn stream(&self, cmd: xshell::Cmd<'_>, what: &str) -> Result<()> {
        if !quiet() {
            eprintln!("$ {}", mask(&cmd.to_string()));
        }
        self.runner.stream(&self.sh.current_dir(), cmd).with_context(|| format!("{what} failed"))
    }

    /// A command run silently, its output captured, its status left to the caller: for checks
    /// whose report is the only output (`doctor`, a health probe).
    pub(crate) fn silent(&self, cmd: xshell::Cmd<'_>) -> Result<Output> {
        self.runner.output(&self.sh.current_dir(), cmd)
    }

    /// Runs a registry call (a fresh command from `make` each time) until it succeeds, fails for
    /// a reason other than a transient one (`failure::classify`), or has been tried
    /// [`failure::ATTEMPTS`] times. Returns the last attempt's output; the caller reads its status.
    pub(crate) fn retrying<'a>(&self, what: &str, make: impl Fn() -> xshell::Cmd<'a>) -> Result<Output> {
        let mut attempt = 1;
        loop {
            let out = self.output(make())?;
            if out.status.success() || attempt == failure::ATTEMPTS {
                return Ok(out);
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            if failure::classify(&stderr) != Failure::Transient {
                return Ok(out);
            }
            attempt += 1;
            let pause = failure::backoff(attempt);
            ui::warn(format_args!(
                "{what}: transient registry error ({}); retrying in {:.1}s (attempt {attempt} of {})",
                stderr.trim().lines().last().unwrap_or("no message"),
                pause.as_secs_f64(),
                failure::ATTEMPTS
            ));
            self.runner.sleep(pause);
        }
    }
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

/// The unit tests' runner: runs nothing, records each command line and the pauses, and answers
/// from a script.
#[cfg(test)]
pub(crate) mod fake {
    use std::{
        os::unix::process::ExitStatusExt,
        path::{Path, PathBuf},
        process::{ExitStatus, Output},
        sync::{Arc, Mutex},
        time::Duration,
    };

    use anyhow::Result;

    use crate::exec::{Exec, Runner};

    /// What it ran and waited, and the answers not given yet: the first whose needle the
    /// command line contains is given (once); a command nothing answers succeeds with no output.
    #[derive(Default)]
    pub(crate) struct Recording {
        ran: Mutex<Vec<(PathBuf, String)>>,
        slept: Mutex<Vec<Duration>>,
        answers: Mutex<Vec<(String, i32, String, String)>>,
    }

    impl Recording {
        /// A recording runner and an `Exec` that runs through it.
        pub(crate) fn exec() -> (Arc<Recording>, Exec) {
            let recording = Arc::new(Recording::default());
            let exec = Exec::with(recording.clone()).expect("a current directory");
            (recording, exec)
        }

        /// The next command line holding `needle` exits with `code`, printing these.
        pub(crate) fn answer(&self, needle: &str, code: i32, stdout: &str, stderr: &str) {
            self.answers.lock().unwrap().push((needle.to_owned(), code, stdout.to_owned(), stderr.to_owned()));
        }

        /// The command lines, in order.
        pub(crate) fn ran(&self) -> Vec<String> {
            self.ran.lock().unwrap().iter().map(|(_, line)| line.clone()).collect()
        }

        /// Where the command line holding `needle` ran (the first such).
        pub(crate) fn dir_of(&self, needle: &str) -> Option<PathBuf> {
            self.ran.lock().unwrap().iter().find(|(_, line)| line.contains(needle)).map(|(dir, _)| dir.clone())
        }

        pub(crate) fn slept(&self) -> Vec<Duration> {
            self.slept.lock().unwrap().clone()
        }
    }

    impl Runner for Recording {
        fn output(&self, dir: &Path, cmd: xshell::Cmd<'_>) -> Result<Output> {
            let line = cmd.to_string();
            self.ran.lock().unwrap().push((dir.to_owned(), line.clone()));
            let mut answers = self.answers.lock().unwrap();
            let (code, stdout, stderr) = match answers.iter().position(|(needle, ..)| line.contains(needle.as_str())) {
                Some(n) => {
                    let (_, code, stdout, stderr) = answers.remove(n);
                    (code, stdout, stderr)
                }
                None => (0, String::new(), String::new()),
            };
            Ok(Output {
                status: ExitStatus::from_raw(code << 8),
                stdout: stdout.into_bytes(),
                stderr: stderr.into_bytes(),
            })
        }

        fn stream(&self, dir: &Path, cmd: xshell::Cmd<'_>) -> Result<()> {
            let out = self.output(dir, cmd)?;
            anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            Ok(())
        }

        fn sleep(&self, pause: Duration) {
            self.slept.lock().unwrap().push(pause);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{fake::Recording, *};

    const UNAVAILABLE: &str = "Error: reading manifest: received unexpected HTTP status: 503 Service Unavailable";

    fn copy(exec: &Exec) -> Result<Output> {
        exec.retrying("copying", || xshell::cmd!(exec.sh, "skopeo copy a b"))
    }

    #[test]
    fn a_transient_failure_is_tried_again_after_a_longer_pause_each_time() {
        let (recording, exec) = Recording::exec();
        recording.answer("skopeo copy", 1, "", UNAVAILABLE);
        recording.answer("skopeo copy", 1, "", UNAVAILABLE);
        let out = copy(&exec).unwrap();
        assert!(out.status.success());
        assert_eq!(recording.ran(), ["skopeo copy a b"; 3]);
        assert_eq!(recording.slept(), [failure::backoff(2), failure::backoff(3)]);
        assert!(recording.slept()[0] < recording.slept()[1]);
    }

    #[test]
    fn a_refusal_or_a_missing_tag_is_not_tried_again() {
        for stderr in ["unauthorized: 401 Unauthorized", "manifest unknown: not found"] {
            let (recording, exec) = Recording::exec();
            recording.answer("skopeo copy", 1, "", stderr);
            let out = copy(&exec).unwrap();
            assert!(!out.status.success(), "the caller reads the failure");
            assert_eq!(recording.ran().len(), 1, "{stderr}");
            assert!(recording.slept().is_empty());
        }
    }

    #[test]
    fn a_registry_that_stays_down_is_given_up_on_after_the_last_attempt() {
        let (recording, exec) = Recording::exec();
        for _ in 0..failure::ATTEMPTS + 1 {
            recording.answer("skopeo copy", 1, "", UNAVAILABLE);
        }
        let out = copy(&exec).unwrap();
        assert!(!out.status.success());
        assert_eq!(recording.ran().len(), failure::ATTEMPTS as usize);
        assert_eq!(recording.slept().len(), failure::ATTEMPTS as usize - 1);
    }

    #[test]
    fn a_command_runs_in_the_directory_it_is_given() {
        let (recording, exec) = Recording::exec();
        let there = exec.in_dir("/tmp");
        assert_eq!(there.sh.current_dir(), std::path::Path::new("/tmp"));
        assert_ne!(exec.sh.current_dir(), there.sh.current_dir(), "the copy moved, not the original");
        there.exec(xshell::cmd!(there.sh, "git status"), "status").unwrap();
        assert_eq!(recording.ran(), ["git status"]);
        assert_eq!(recording.dir_of("git status").as_deref(), Some(std::path::Path::new("/tmp")));
    }
}
