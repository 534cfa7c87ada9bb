//! The release pipeline as a library: a workspace's `xtask` binary calls [`main`], which parses
//! the command line, opens the workspace and dispatches. Nothing else lives here.
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
mod interrupt;
mod local_run;
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

use std::process::ExitCode;

use workspace::Workspace;

/// `cargo xtask …`: the whole command line, run in the current directory's workspace.
pub fn main() -> ExitCode {
    let flags = match flags::Xtask::from_env() {
        Ok(flags) => flags,
        Err(err) => return error::usage_error(err),
    };
    ui::init(flags.quiet, flags.verbose);
    let ws = Workspace::current;
    let result = match flags.subcommand {
        flags::XtaskCmd::Version(cmd) => version::run(cmd),
        flags::XtaskCmd::Dist(cmd) => ws().and_then(|ws| dist::run(cmd, &ws)),
        flags::XtaskCmd::Distcopy(cmd) => ws().and_then(|ws| distcopy::run(cmd, &ws)),
        flags::XtaskCmd::Release(cmd) => ws().and_then(|ws| pipeline::run_release(cmd, &ws)),
        flags::XtaskCmd::DevRelease(cmd) => ws().and_then(|ws| pipeline::run_dev_release(cmd, &ws)),
        flags::XtaskCmd::Ci(cmd) => ws().and_then(|ws| pipeline::run_ci(cmd, &ws)),
        flags::XtaskCmd::Qemu(cmd) => ws().and_then(|ws| qemu::run(cmd, &ws.config)),
        flags::XtaskCmd::Doctor(cmd) => doctor::run(cmd),
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
