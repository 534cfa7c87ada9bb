//! `cargo xtask`: parses the command line and dispatches. Nothing else lives here.
mod bench;
mod checks;
mod ci;
mod config;
mod dist;
mod distcopy;
mod docker;
mod doctor;
mod execute;
mod failure;
mod flags;
mod interrupt;
mod pipeline;
mod plan;
mod publish;
mod qemu;
mod reference;
mod repo;
mod tags;
mod ui;
mod version;

use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = match flags::Xtask::from_env() {
        Ok(flags) => flags,
        Err(err) => return ui::usage_error(err),
    };
    ui::init(flags.quiet, flags.verbose);
    let result = match flags.subcommand {
        flags::XtaskCmd::Version(cmd) => version::run(cmd),
        flags::XtaskCmd::Dist(cmd) => dist::run(cmd),
        flags::XtaskCmd::Distcopy(cmd) => distcopy::run(cmd),
        flags::XtaskCmd::Release(cmd) => pipeline::run_release(cmd),
        flags::XtaskCmd::DevRelease(cmd) => pipeline::run_dev_release(cmd),
        flags::XtaskCmd::Ci(cmd) => pipeline::run_ci(cmd),
        flags::XtaskCmd::Qemu(cmd) => qemu::run(cmd),
        flags::XtaskCmd::Doctor(cmd) => doctor::run(cmd),
        flags::XtaskCmd::Bench(cmd) => bench::run(cmd),
        flags::XtaskCmd::Publish(cmd) => publish::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => ui::report_error(&err),
    }
}
