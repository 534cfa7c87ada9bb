//! What must not outlive the run, whatever way it ends: files holding secrets (the temporary
//! docker config with the registry login) are removed on a normal end, on an error (their guard
//! drops) and on SIGINT, SIGTERM, SIGHUP (a closed terminal or ssh session) or SIGQUIT (the
//! handler here removes them, then exits 128 + the signal's number). What a SIGKILL leaves
//! behind, the next run that logs in removes (`remove_stale`).
use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Mutex, Once},
};

/// How every secret directory's name starts: `release-pipeline-{what}-{owner}-{attempt}`.
const PREFIX: &str = "release-pipeline-";

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// A directory removed when this guard drops or the process is interrupted.
pub(crate) struct SecretDir {
    path: PathBuf,
}

impl SecretDir {
    /// Creates a fresh private directory (mode 0700) under the temporary directory, named after
    /// this process (`Owner`), and removes those of runs that are gone.
    pub(crate) fn create(what: &str) -> std::io::Result<SecretDir> {
        install_handler();
        let base = std::env::temp_dir();
        let owner = Owner::this_process();
        let named = owner.as_ref().map_or_else(|| std::process::id().to_string(), Owner::to_string);
        for attempt in 0..100u32 {
            let path = base.join(format!("{PREFIX}{what}-{named}-{attempt}"));
            let mut builder = std::fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => {
                    PATHS.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
                    if let Some(owner) = &owner {
                        remove_stale(&base, &path, owner);
                    }
                    return Ok(SecretDir { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free temporary directory name"))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        PATHS.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &self.path);
    }
}

/// The process that made a secret directory, as its name records it: `{pid}_{start}_{ns}`, its
/// start time (clock ticks after boot, field 22 of `/proc/<pid>/stat`: a pid reused by another
/// process does not pass for it) and its pid namespace (a container sharing `/tmp` has its own
/// pids: its directories are left to it). Without `/proc` nothing is recorded or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    pid: u32,
    start: u64,
    namespace: u64,
}

impl Owner {
    fn this_process() -> Option<Owner> {
        let pid = std::process::id();
        Some(Owner { pid, start: start_time(pid)?, namespace: pid_namespace()? })
    }

    /// Whether the secret directory named `name` belongs to a run of this pid namespace that is
    /// gone. A name of the older form, `{pid}` alone, is gone when no process has that pid.
    fn is_gone(&self, name: &str) -> bool {
        let Some((rest, attempt)) = name.strip_prefix(PREFIX).and_then(|n| n.rsplit_once('-')) else { return false };
        let Some((_what, owner)) = rest.rsplit_once('-') else { return false };
        if attempt.parse::<u32>().is_err() {
            return false;
        }
        let numbers: Option<Vec<u64>> = owner.split('_').map(|n| n.parse().ok()).collect();
        match numbers.as_deref() {
            Some(&[pid, start, namespace]) if namespace == self.namespace => {
                u32::try_from(pid).map_or(true, |pid| start_time(pid) != Some(start))
            }
            Some(&[pid]) => u32::try_from(pid).map_or(true, |pid| start_time(pid).is_none()),
            _ => false,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}_{}", self.pid, self.start, self.namespace)
    }
}

/// A process's start time (clock ticks after boot), `None` when there is no such process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields from the third on follow the command name, which is in parentheses and may hold
    // spaces and parentheses itself: the start time is the 20th of them.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// This process's pid namespace: the inode `/proc/self/ns/pid` names (`pid:[4026531836]`).
fn pid_namespace() -> Option<u64> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    link.to_str()?.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

/// Removes the secret directories under `base` that runs now gone left behind (a SIGKILL or a
/// power cut runs no guard and no handler): named as `create` names them, directories (not
/// links), of this user (the one `own`, just made, belongs to).
fn remove_stale(base: &Path, own: &Path, owner: &Owner) {
    let (Ok(mine), Ok(entries)) = (std::fs::metadata(own), std::fs::read_dir(base)) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if path != own && meta.is_dir() && meta.uid() == mine.uid() && owner.is_gone(&name) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// On SIGINT, SIGTERM, SIGHUP or SIGQUIT: remove every registered directory, then exit as the
/// signal would.
fn install_handler() {
    HANDLER.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT]) else { return };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                for path in PATHS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
                    let _ = std::fs::remove_dir_all(path);
                }
                eprintln!("\ninterrupted: the temporary registry login was removed; a rerun resumes");
                std::process::exit(128 + signal);
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_stale_when_its_run_is_gone() {
        let me = Owner::this_process().expect("Linux has /proc");
        let name = |owner: &str| format!("{PREFIX}docker-config-{owner}-0");
        assert!(!me.is_gone(&name(&me.to_string())), "this run is not gone");
        // A pid no process has (the kernel's limit is below 2^22).
        let dead = Owner { pid: 4_194_400, ..me.clone() };
        assert!(me.is_gone(&name(&dead.to_string())));
        assert!(me.is_gone(&name("4194400")), "the older name, the pid alone");
        // This pid reused by another process: another start time.
        let reused = Owner { start: me.start + 1, ..me.clone() };
        assert!(me.is_gone(&name(&reused.to_string())));
        // Another pid namespace's run (a container sharing /tmp): not for this run to judge.
        let elsewhere = Owner { namespace: me.namespace + 1, ..dead };
        assert!(!me.is_gone(&name(&elsewhere.to_string())));
        for other in ["release-pipeline-x", "release-pipeline-docker-config-1_2-x", "other-docker-config-4194400-0"] {
            assert!(!me.is_gone(other), "{other}");
        }
    }
}
