//! `cargo xtask doctor`: one line per thing the next release needs, ✓ or ✗, and for each ✗ the
//! command that fixes it. Reads only: it never installs or starts anything.
use anstream::println;
use anyhow::Result;
use serde::Serialize;
use xshell::cmd;

use crate::{checks, config::Config, cosign, docker, error, exec::Exec, flags, repo::Repo, ui, version};

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

/// A line from one of the shared checks (`checks.rs`).
fn from(check: &str, result: Result<String, checks::Problem>) -> Check {
    match result {
        Ok(detail) => pass(check, detail),
        Err(problem) => fail(check, problem.detail, problem.fix),
    }
}

pub(crate) fn run(cmd: flags::Doctor, exec: &Exec) -> Result<()> {
    let checks = checks(exec)?;
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
        return Err(error::error_with_help(
            format!("{failed} of {} checks failed: the next release would not go through", checks.len()),
            "run the fix of each ✗ (scripts/onboard.sh does them all on Debian and Ubuntu)",
        ));
    }
    if !cmd.json {
        println!("everything the next release needs is in place");
    }
    Ok(())
}

fn checks(exec: &Exec) -> Result<Vec<Check>> {
    let sh = &exec.sh;
    let mut out = Vec::new();
    let found = |tool: &str| which::which(tool).is_ok();

    out.push(if found("git") {
        pass("git", "installed")
    } else {
        fail("git", "not on PATH", "sudo apt-get install git")
    });

    let (repo, root, config) = match version::open(None, exec) {
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
            (Repo::discover(&cwd)?.map(std::rc::Rc::new), cwd, Config::default())
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
        exec.silent(cmd!(sh, "rustup target list --installed"))
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default()
    } else {
        String::new()
    };
    for t in &config.targets {
        let target = &t.target;
        out.push(if installed.lines().any(|l| *target == *l.trim()) {
            pass(&format!("rust target {target}"), "installed")
        } else {
            fail(&format!("rust target {target}"), "not installed", format!("rustup target add {target}"))
        });
        let linker = checks::linker_for(&root, target.as_str());
        let answer = if found(&linker) { exec.silent(cmd!(sh, "{linker} -dumpmachine")).ok() } else { None };
        out.push(from(&format!("linker for {target}"), checks::linker(target.as_str(), &linker, answer.as_ref())));
    }
    out.push(from(
        "services",
        crate::services::metadata(exec, &root)
            .and_then(|metadata| crate::services::resolve(&root, &config, &metadata))
            .map(|services| {
                services
                    .iter()
                    .map(|s| format!("{} (binary {} of package {})", s.name, s.bin, s.package))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .map_err(|e| {
                checks::Problem::new(
                    format!("{e:#}"),
                    "fix the [[service]] tables or the packages named above (README: \"Several services\")",
                )
            }),
    ));
    for context in &config.context {
        out.push(from(&format!("context {}", context.dir), checks::context(&root, &context.dir)));
    }

    let cli = checks::docker_cli();
    out.push(from("docker CLI", cli.clone().map(|()| "installed".to_owned())));
    if let Err(no_cli) = cli {
        out.push(from("docker daemon", Err(no_cli.clone())));
        out.push(from("buildx", Err(no_cli)));
    } else {
        let info_args = checks::DOCKER_INFO;
        // Read quietly: doctor's report is its only output.
        let info = exec.silent(cmd!(sh, "docker {info_args...}"))?;
        out.push(from("docker daemon", checks::docker_daemon(&info).map(|_| "reachable".to_owned())));
        let version = exec.silent(cmd!(sh, "docker buildx version"))?;
        out.push(from("buildx", checks::buildx(&version).map(|v| format!("{}.{}", v.0, v.1))));
    }

    let platforms: Vec<release_pipeline_plan::platform::Platform> =
        config.context.iter().flat_map(|c| c.platforms.clone()).collect();
    for (handler, state) in checks::qemu_handlers(&platforms) {
        out.push(from(&format!("qemu {handler}"), state.map(|()| "registered and enabled".to_owned())));
    }
    out.push(from("skopeo", checks::skopeo().map(|()| "installed (moves tags keeping digests)".to_owned())));
    if config.signing.sign != crate::config::SignPolicy::None {
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        out.push(from("signing", cosign::check(exec, &config.signing, &env, &root)));
    }

    let image =
        std::env::var("RELEASE_REPOSITORY").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| config.image.clone());
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let docker_config =
        std::fs::read_to_string(docker::user_docker_config_dir().join("config.json")).unwrap_or_default();
    let config_json: serde_json::Value = serde_json::from_str(&docker_config).unwrap_or_default();
    // The image's registry and each mirror's, each with its own variables.
    let login = |check: &str, image: &str, user_env: &str, password_env: &str| {
        let host = docker::registry_host(image);
        let logged_in = config_json.pointer(&format!("/auths/{}", host.replace('/', "~1"))).is_some()
            || config_json.pointer(&format!("/credHelpers/{}", host.replace('/', "~1"))).is_some();
        match checks::credentials_in(user_env, password_env, &env) {
            checks::Credentials::Both { .. } => {
                pass(check, format!("credentials for {host} in {user_env} / {password_env}"))
            }
            checks::Credentials::OnlyOne { missing } => {
                from(check, Err(checks::only_one_credential(user_env, password_env, missing)))
            }
            checks::Credentials::Neither if logged_in => pass(check, format!("logged in to {host}")),
            checks::Credentials::Neither => {
                fail(check, format!("not logged in to {host}"), format!("docker login {host}"))
            }
        }
    };
    out.push(if image.is_empty() {
        pass("registry login", "no image configured: local mode needs no registry")
    } else {
        login("registry login", &image, &config.registry_user_env, &config.registry_password_env)
    });
    for mirror in &config.mirrors {
        out.push(login(
            &format!("mirror login {}", mirror.image),
            &mirror.image,
            &mirror.user_env,
            &mirror.password_env,
        ));
    }
    Ok(out)
}
