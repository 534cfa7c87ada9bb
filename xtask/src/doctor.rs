//! `cargo xtask doctor`: one line per thing the next release needs, ✓ or ✗, and for each ✗ the
//! command that fixes it. Reads only: it never installs or starts anything.
use anstream::println;
use anyhow::Result;
use serde::Serialize;
use xshell::{cmd, Shell};

use crate::{config::Config, docker, flags, qemu, repo::Repo, ui, version};

#[derive(Debug, Serialize)]
pub(crate) struct Check {
    check: String,
    ok: bool,
    detail: String,
    /// The command that fixes it, for a failed check.
    fix: Option<String>,
}

fn pass(check: &str, detail: impl Into<String>) -> Check {
    Check { check: check.to_owned(), ok: true, detail: detail.into(), fix: None }
}

fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { check: check.to_owned(), ok: false, detail: detail.into(), fix: Some(fix.into()) }
}

pub(crate) fn run(cmd: flags::Doctor) -> Result<()> {
    let checks = checks()?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            let mark = if c.ok { ui::paint("✓", "32") } else { ui::paint("✗", "31") };
            println!("{mark} {}: {}", c.check, c.detail);
            if let Some(fix) = &c.fix {
                println!("    fix: {fix}");
            }
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(ui::error_with_help(
            format!("{failed} of {} checks failed: the next release would not go through", checks.len()),
            "run the fix of each ✗ (scripts/onboard.sh does them all on Debian and Ubuntu)",
        ));
    }
    if !cmd.json {
        println!("everything the next release needs is in place");
    }
    Ok(())
}

fn checks() -> Result<Vec<Check>> {
    let sh = Shell::new()?;
    let mut out = Vec::new();
    let found = |tool: &str| which::which(tool).is_ok();

    out.push(if found("git") {
        pass("git", "installed")
    } else {
        fail("git", "not on PATH", "sudo apt-get install git")
    });

    let (repo, root, config) = match version::open(None) {
        Ok((repo, root, config)) => {
            out.push(pass("configuration", format!("[{}] in {root}/Cargo.toml is valid", crate::config::TABLE)));
            (repo, root, config)
        }
        Err(e) => {
            out.push(fail(
                "configuration",
                format!("{e:#}"),
                "fix the key named above in Cargo.toml (README: Configuration)",
            ));
            let cwd = camino::Utf8PathBuf::try_from(std::env::current_dir()?)?;
            (Repo::discover(&cwd)?, cwd, Config::default())
        }
    };
    out.push(match &repo {
        None => fail("history", format!("{root} is not a git checkout"), "git clone the repository"),
        Some(r) if r.is_shallow() => {
            fail("history", "shallow clone: versions need full history and tags", "git fetch --unshallow --tags")
        }
        Some(_) => pass("history", "full history and tags"),
    });

    let installed = if found("rustup") {
        cmd!(sh, "rustup target list --installed").quiet().ignore_stderr().read().unwrap_or_default()
    } else {
        String::new()
    };
    for t in &config.targets {
        let target = &t.target;
        out.push(if installed.lines().any(|l| l.trim() == target) {
            pass(&format!("rust target {target}"), "installed")
        } else {
            fail(&format!("rust target {target}"), "not installed", format!("rustup target add {target}"))
        });
        let linker = linker_for(&root, target);
        out.push(if found(&linker) {
            pass(&format!("linker for {target}"), format!("{linker} found"))
        } else {
            let pkg = match target.as_str() {
                t if t.starts_with("aarch64") => "gcc-aarch64-linux-gnu",
                t if t.starts_with("armv7") => "gcc-arm-linux-gnueabihf",
                _ => "gcc",
            };
            fail(
                &format!("linker for {target}"),
                format!("{linker} not on PATH"),
                format!("sudo apt-get install {pkg}"),
            )
        });
    }

    let has_docker = found("docker");
    out.push(if has_docker {
        pass("docker CLI", "installed")
    } else {
        fail("docker CLI", "not on PATH", "scripts/onboard.sh (Debian: docker.io from trixie, see README)")
    });
    let format = "{{.Server.Version}}";
    let daemon = has_docker && cmd!(sh, "docker version --format {format}").quiet().ignore_stderr().read().is_ok();
    out.push(if daemon {
        pass("docker daemon", "reachable")
    } else {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".to_owned());
        fail(
            "docker daemon",
            format!("not reachable at {host}"),
            "start dockerd (scripts/onboard.sh starts it) or fix DOCKER_HOST",
        )
    });
    let buildx = if has_docker { cmd!(sh, "docker buildx version").quiet().ignore_stderr().read().ok() } else { None };
    out.push(match buildx.as_deref().and_then(docker::parse_buildx_version) {
        Some(v) if v >= (0, 10) => pass("buildx", format!("{}.{}", v.0, v.1)),
        Some(v) => {
            fail("buildx", format!("{}.{} is too old (0.10 or newer)", v.0, v.1), "sudo apt-get install docker-buildx")
        }
        None => fail("buildx", "missing", "sudo apt-get install docker-buildx"),
    });

    let platforms: Vec<String> = config.context.iter().flat_map(|c| c.platforms.clone()).collect();
    let dir = qemu::binfmt_dir();
    for (handler, _) in qemu::needed_handlers(&platforms) {
        out.push(if !dir.join("status").exists() {
            fail(
                &format!("qemu {handler}"),
                format!("binfmt_misc is not mounted at {dir}"),
                format!("sudo mount -t binfmt_misc binfmt_misc {dir} && cargo xtask qemu"),
            )
        } else if qemu::handler_enabled(handler) {
            pass(&format!("qemu {handler}"), "registered and enabled")
        } else {
            fail(&format!("qemu {handler}"), "not registered", "cargo xtask qemu")
        });
    }
    out.push(if found("skopeo") {
        pass("skopeo", "installed (moves tags keeping digests)")
    } else {
        fail("skopeo", "not on PATH", "sudo apt-get install skopeo")
    });

    let image =
        std::env::var("RELEASE_REPOSITORY").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| config.image.clone());
    out.push(if image.is_empty() {
        pass("registry login", "no image configured: local mode needs no registry")
    } else {
        let host = docker::registry_host(&image);
        let env_creds = std::env::var(&config.registry_user_env).is_ok_and(|v| !v.is_empty())
            && std::env::var(&config.registry_password_env).is_ok_and(|v| !v.is_empty());
        let docker_config =
            std::fs::read_to_string(docker::user_docker_config_dir().join("config.json")).unwrap_or_default();
        let config_json: serde_json::Value = serde_json::from_str(&docker_config).unwrap_or_default();
        let logged_in = config_json.pointer(&format!("/auths/{}", host.replace('/', "~1"))).is_some()
            || config_json.pointer(&format!("/credHelpers/{}", host.replace('/', "~1"))).is_some();
        if env_creds {
            pass(
                "registry login",
                format!("credentials for {host} in {} / {}", config.registry_user_env, config.registry_password_env),
            )
        } else if logged_in {
            pass("registry login", format!("logged in to {host}"))
        } else {
            fail("registry login", format!("not logged in to {host}"), format!("docker login {host}"))
        }
    });
    Ok(out)
}

/// The linker cargo uses for `target`: `[target.T] linker` in .cargo/config.toml, else `cc`.
fn linker_for(root: &camino::Utf8Path, target: &str) -> String {
    let text = std::fs::read_to_string(root.join(".cargo/config.toml")).unwrap_or_default();
    let doc: toml_edit::DocumentMut = text.parse().unwrap_or_default();
    doc.get("target")
        .and_then(|t| t.get(target))
        .and_then(|t| t.get("linker"))
        .and_then(|l| l.as_str())
        .unwrap_or("cc")
        .to_owned()
}
