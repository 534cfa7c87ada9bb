//! The release pipeline as a library: a workspace's `xtask` binary calls [`main`], which parses
//! the command line, opens the workspace and dispatches; an xtask with commands of its own hands
//! one of them the rest of its arguments with [`run`]; the installed `release-pipeline` binary
//! (`init`) is [`tool`]. Nothing else lives here.
//!
//! An existing xtask that keeps its own commands and runs the pipeline as `cargo xtask release …`:
//!
//! ```
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     let mut args = std::env::args_os().skip(1);
//!     match args.next() {
//!         // `cargo xtask release dev-release --local`: the pipeline's own command line.
//!         Some(command) if command == "release" => release_pipeline::run(args),
//!         Some(command) if command == "lint" => ExitCode::SUCCESS, // one of your own commands
//!         _ => {
//!             eprintln!("usage: cargo xtask release <pipeline command> | lint");
//!             ExitCode::from(2)
//!         }
//!     }
//! }
//! # // What `cargo xtask release --help` does: prints the pipeline's commands.
//! # let _ = release_pipeline::run(["--help"]);
//! ```
mod attest;
mod attestations;
mod checks;
mod config;
mod cosign;
mod dist;
mod distcopy;
mod docker;
mod doctor;
mod error;
mod exec;
mod execute;
mod failure;
mod flags;
mod gather;
mod init;
mod interrupt;
mod local_run;
mod notes;
mod pipeline;
mod preflight;
mod prune;
mod publish;
mod qemu;
mod rebuild;
mod reconcile;
mod releases;
mod repo;
mod retract;
mod services;
mod summary;
mod ui;
mod verify;
mod version;
mod workspace;

use std::{ffi::OsString, process::ExitCode};

use workspace::Workspace;

/// `cargo xtask …`: the whole command line, run in the current directory's workspace.
pub fn main() -> ExitCode {
    run(std::env::args_os().skip(1))
}

/// The pipeline's command line without the program's name (`["dev-release", "--local"]`), run in
/// the current directory's workspace: what an xtask with commands of its own calls from one of
/// them (the example above). Errors are printed; the exit code says how it went.
pub fn run<I>(args: I) -> ExitCode
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let flags = match flags::Xtask::from_vec(args.clone()) {
        Ok(flags) => flags,
        Err(err) => return error::usage_error(err, &args),
    };
    ui::init(flags.quiet, flags.verbose);
    // Built once: every command of this run goes through it.
    let exec = match exec::Exec::processes() {
        Ok(exec) => exec,
        Err(err) => return error::report_error(&err),
    };
    let ws = || Workspace::current(&exec);
    let result = match flags.subcommand {
        flags::XtaskCmd::Version(cmd) => version::run(cmd, &exec),
        flags::XtaskCmd::Notes(cmd) => ws().and_then(|ws| notes::run(cmd, &ws)),
        flags::XtaskCmd::Dist(cmd) => ws().and_then(|ws| dist::run(cmd, &ws)),
        flags::XtaskCmd::Distcopy(cmd) => ws().and_then(|ws| distcopy::run(cmd, &ws)),
        flags::XtaskCmd::Release(cmd) => ws().and_then(|ws| pipeline::run_release(cmd, &ws)),
        flags::XtaskCmd::DevRelease(cmd) => ws().and_then(|ws| pipeline::run_dev_release(cmd, &ws)),
        flags::XtaskCmd::Ci(cmd) => ws().and_then(|ws| pipeline::run_ci(cmd, &ws)),
        flags::XtaskCmd::Qemu(cmd) => ws().and_then(|ws| qemu::run(cmd, &ws)),
        flags::XtaskCmd::Doctor(cmd) => doctor::run(cmd, &exec),
        flags::XtaskCmd::Publish(cmd) => ws().and_then(|ws| publish::run(cmd, &ws)),
        flags::XtaskCmd::Reconcile(cmd) => ws().and_then(|ws| reconcile::run(cmd, &ws)),
        flags::XtaskCmd::Prune(cmd) => ws().and_then(|ws| prune::run(cmd, &ws)),
        flags::XtaskCmd::Retract(cmd) => ws().and_then(|ws| retract::run(cmd, &ws)),
        flags::XtaskCmd::Verify(cmd) => ws().and_then(|ws| verify::run(cmd, &ws)),
        flags::XtaskCmd::Merge(cmd) => ws().and_then(|ws| pipeline::run_merge(cmd, &ws)),
        flags::XtaskCmd::Rebuild(cmd) => ws().and_then(|ws| rebuild::run(cmd, &ws)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report_error(&err),
    }
}

/// The installed `release-pipeline` binary (`cargo install release-pipeline`): `init`.
pub fn tool() -> ExitCode {
    let flags = match flags::tool::ReleasePipeline::from_env() {
        Ok(flags) => flags,
        Err(err) => return error::tool_usage_error(err),
    };
    let result = exec::Exec::processes().and_then(|exec| match flags.subcommand {
        flags::tool::ReleasePipelineCmd::Init(cmd) => init::run(cmd, &exec),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => error::report_error(&err),
    }
}
