//! What a person reads: errors as cargo prints them (`error:` then `help:`), warnings, and the
//! quiet/verbose switches. Every other module prints through here.
use std::{
    fmt,
    process::ExitCode,
    sync::atomic::{AtomicU8, Ordering},
};

static LEVEL: AtomicU8 = AtomicU8::new(1);

pub(crate) fn init(quiet: bool, verbose: bool) {
    LEVEL.store(if quiet { 0 } else if verbose { 2 } else { 1 }, Ordering::Relaxed);
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
    eprintln!("warning: {msg}");
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

pub(crate) fn report_error(err: &anyhow::Error) -> ExitCode {
    let mut chain = err.chain().filter(|e| e.downcast_ref::<Help>().is_none());
    let first = chain.next().map(|e| e.to_string()).unwrap_or_default();
    eprintln!("error: {first}");
    let causes: Vec<String> = chain.map(|e| e.to_string()).collect();
    if !causes.is_empty() {
        eprintln!("\nCaused by:");
        for cause in causes {
            eprintln!("  {cause}");
        }
    }
    for help in err.chain().filter_map(|e| e.downcast_ref::<Help>()) {
        eprintln!("help: {help}");
    }
    ExitCode::FAILURE
}

pub(crate) const COMMANDS: &[&str] = &["version", "dist", "distcopy", "release", "dev-release", "ci", "qemu", "doctor", "publish", "bench"];

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
