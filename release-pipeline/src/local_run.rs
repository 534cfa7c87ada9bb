//! `--run`: start the image the run loaded into the local engine on 127.0.0.1:PORT, wait until
//! the service is up as its `run.ready` says (default: `GET /health`), show `/version` when it
//! serves HTTP. A container that does not come up is stopped: `--run` leaves nothing failed
//! running.
use std::{
    io::Read,
    net::{Ipv4Addr, SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use anstream::println;
use anyhow::{bail, Result};

use crate::{docker::Docker, error, ui};
use release_pipeline_plan::{config::Readiness, plan::steps::RUN_LABEL};

/// How long an HTTP or TCP check waits for the service to come up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the run step's command line, replacing only a container an earlier `--run` started.
pub(crate) fn run_local(
    docker: &Docker,
    reference: &str,
    container: &str,
    argv: &[String],
    port: u16,
    ready: &Readiness,
) -> Result<()> {
    let name = container;
    // Replace only a container an earlier `--run` started (it carries our label), never another.
    let label = format!("{{{{index .Config.Labels \"{RUN_LABEL}\"}}}}");
    let existing = docker.exec.output(docker.cmd(&["container", "inspect", "--format", &label, name]))?;
    if existing.status.success() {
        if String::from_utf8_lossy(&existing.stdout).trim() != "1" {
            return Err(error::error_with_help(
                format!("a container named {name} exists and was not started by `--run`: leaving it alone"),
                format!("stop or rename it (`docker rm --force {name}`), or run with another branch"),
            ));
        }
        docker.exec.exec(docker.cmd(&["rm", "--force", name]), &format!("removing the earlier {name}"))?;
    }
    docker.exec.exec(docker.argv(argv), &format!("starting {reference}"))?;
    // From here on the container is this run's: one that does not come up is stopped.
    if let Err(err) = wait_until_ready(docker, name, port, ready) {
        let logs = docker.exec.output(docker.cmd(&["logs", name])).map(|o| o.stderr).unwrap_or_default();
        let stopped = docker.exec.exec(docker.cmd(&["rm", "--force", name]), &format!("stopping {name}"));
        let stopped = if stopped.is_ok() { "stopped it" } else { "could not stop it" };
        bail!("{reference} {err}; {stopped}. Its log:\n{}", String::from_utf8_lossy(&logs));
    }
    let url = format!("http://127.0.0.1:{port}");
    if let Readiness::Http { path } = ready {
        let exec = &docker.exec;
        let version_url = format!("{url}/version");
        match exec.silent(xshell::cmd!(exec.sh, "curl --silent --fail {version_url}")) {
            Ok(out) if out.status.success() => println!("{}", String::from_utf8_lossy(&out.stdout).trim_end()),
            _ => ui::info(format_args!("{reference} answers GET {path} but not GET /version")),
        }
    }
    ui::info(format_args!(
        "{reference} is running at 127.0.0.1:{port} (ready: {ready}); stop it with: docker stop {name}"
    ));
    Ok(())
}

/// Waits until the service is up; the error says how it was not (completing "REFERENCE …").
fn wait_until_ready(docker: &Docker, name: &str, port: u16, ready: &Readiness) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    match ready {
        Readiness::Up { seconds } => {
            std::thread::sleep(Duration::from_secs(u64::from(*seconds)));
            if !running(docker, name) {
                bail!("did not stay up {seconds} s");
            }
            Ok(())
        }
        Readiness::Http { path } => {
            let url = format!("http://127.0.0.1:{port}{path}");
            let exec = &docker.exec;
            while Instant::now() < deadline {
                if exec
                    .silent(xshell::cmd!(exec.sh, "curl --silent --fail --max-time 1 {url}"))
                    .is_ok_and(|o| o.status.success())
                {
                    return Ok(());
                }
                if !running(docker, name) {
                    bail!("exited before it answered GET {path}");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            bail!("did not answer GET {url} within {} s", START_TIMEOUT.as_secs())
        }
        Readiness::Tcp => {
            while Instant::now() < deadline {
                if takes_a_connection(port) {
                    return Ok(());
                }
                if !running(docker, name) {
                    bail!("exited before its port took a connection");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            bail!("did not take a connection on 127.0.0.1:{port} within {} s", START_TIMEOUT.as_secs())
        }
    }
}

/// Whether a connection to the published port stays open. Docker's proxy accepts on the host's
/// side before anything listens in the container, then closes at once: that is no service.
fn takes_a_connection(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else { return false };
    if stream.set_read_timeout(Some(Duration::from_millis(300))).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => false, // closed: nothing behind the proxy
        Ok(_) => true,  // a greeting
        Err(e) => matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

/// Whether the container is still running.
fn running(docker: &Docker, name: &str) -> bool {
    docker
        .exec
        .silent(docker.cmd(&["container", "inspect", "--format", "{{.State.Running}}", name]))
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true")
}
