//! What must not outlive the run, whatever way it ends: files holding secrets (the temporary
//! docker config with the registry login) are removed on a normal end, on an error (their guard
//! drops) and on SIGINT, SIGTERM, SIGHUP (a closed terminal or ssh session) or SIGQUIT (the
//! handler here removes them, then exits 128 + the signal's number).
use std::{
    path::{Path, PathBuf},
    sync::{Mutex, Once},
};

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// A directory removed when this guard drops or the process is interrupted.
pub(crate) struct SecretDir {
    path: PathBuf,
}

impl SecretDir {
    /// Creates a fresh private directory (mode 0700) under the temporary directory.
    pub(crate) fn create(what: &str) -> std::io::Result<SecretDir> {
        install_handler();
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = base.join(format!("release-pipeline-{what}-{}-{attempt}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => {
                    PATHS.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
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
