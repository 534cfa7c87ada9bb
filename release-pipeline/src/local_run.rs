//! `--run`: start the image the run loaded into the local engine on 127.0.0.1:PORT, wait for
//! `/health`, show `/version`.
use anstream::println;
use anyhow::{bail, Result};

use crate::{docker::Docker, error, exec, ui};
use release_pipeline_plan::plan::steps::RUN_LABEL;

/// Runs the run step's command line, replacing only a container an earlier `--run` started.
pub(crate) fn run_local(docker: &Docker, reference: &str, container: &str, argv: &[String], port: u16) -> Result<()> {
    let name = container;
    // Replace only a container an earlier `--run` started (it carries our label), never another.
    let label = format!("{{{{index .Config.Labels \"{RUN_LABEL}\"}}}}");
    let existing = exec::exec_output(docker.cmd(&["container", "inspect", "--format", &label, name]))?;
    if existing.status.success() {
        if String::from_utf8_lossy(&existing.stdout).trim() != "1" {
            return Err(error::error_with_help(
                format!("a container named {name} exists and was not started by `--run`: leaving it alone"),
                format!("stop or rename it (`docker rm --force {name}`), or run with another branch"),
            ));
        }
        exec::exec(docker.cmd(&["rm", "--force", name]), &format!("removing the earlier {name}"))?;
    }
    exec::exec(docker.argv(argv), &format!("starting {reference}"))?;
    let url = format!("http://127.0.0.1:{port}");
    let sh = &docker.sh;
    let health = format!("{url}/health");
    let mut healthy = false;
    for _ in 0..50 {
        if exec::silent(xshell::cmd!(sh, "curl --silent --fail --max-time 1 {health}"))
            .is_ok_and(|o| o.status.success())
        {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    if !healthy {
        let logs = exec::exec_output(docker.cmd(&["logs", name]))?;
        bail!("{reference} did not answer {health} within 10 s; its log:\n{}", String::from_utf8_lossy(&logs.stderr));
    }
    let version_url = format!("{url}/version");
    let answer = exec::exec(xshell::cmd!(sh, "curl --silent --fail {version_url}").quiet(), "asking /version")?;
    println!("{}", answer.trim_end());
    ui::info(format_args!(
        "{reference} is running at {url} (GET /health, GET /version); stop it with: docker stop {name}"
    ));
    Ok(())
}
