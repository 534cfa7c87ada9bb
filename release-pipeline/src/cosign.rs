//! cosign, key-based and offline (no transparency log): the signing setup check `doctor` and the
//! preflight share, and the runs of the plan's signing steps. The private key reaches cosign by
//! environment reference (`--key env://VAR`) and its password as `COSIGN_PASSWORD` in cosign's
//! own environment: neither is ever in a command line or a file.
use std::collections::BTreeMap;

use anyhow::Result;
use camino::Utf8Path;
use xshell::cmd;

use crate::{checks::Problem, config::SigningConfig, docker::Docker, exec::Exec, failure, ui};

/// The key's and the password's values, when both are set (both are added to the secrets the
/// output is masked for).
fn key_and_password<'a>(
    signing: &SigningConfig,
    env: &'a BTreeMap<String, String>,
) -> Result<(&'a str, &'a str), Problem> {
    let get = |name: &str| env.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let key = get(&signing.key_env).ok_or_else(|| {
        Problem::new(
            format!("{} is not set: signing needs the private key", signing.key_env),
            format!(
                "export the contents of the key `cosign generate-key-pair` wrote (cosign.key) in {}",
                signing.key_env
            ),
        )
    })?;
    let password = get(&signing.password_env).ok_or_else(|| {
        Problem::new(
            format!("{} is not set: signing needs the private key's password", signing.password_env),
            format!("export the password of the key in {} as {}", signing.key_env, signing.password_env),
        )
    })?;
    for line in key.lines() {
        ui::add_secret(line);
    }
    ui::add_secret(key);
    ui::add_secret(password);
    Ok((key, password))
}

/// The signing setup, checked before anything is built: cosign on PATH, the key and its password
/// in the environment, the password opening the key, and the key being the one whose public half
/// is committed (what `verify` checks against). The detail, for `doctor`, when all is well.
pub(crate) fn check(
    exec: &Exec,
    signing: &SigningConfig,
    env: &BTreeMap<String, String>,
    root: &Utf8Path,
) -> Result<String, Problem> {
    which::which("cosign").map_err(|_| {
        Problem::new(
            "cosign is not on PATH: signing needs it",
            "install it (scripts/onboard.sh does: on Debian 12 `apt-get install cosign/trixie`)",
        )
    })?;
    let (key, password) = key_and_password(signing, env)?;
    let public_path = root.join(&signing.public_key);
    let committed = std::fs::read_to_string(&public_path).map_err(|e| {
        Problem::new(
            format!("the public key {public_path} (`signing.public-key`) cannot be read: {e}"),
            "commit the cosign.pub `cosign generate-key-pair` wrote, or point `signing.public-key` at it",
        )
    })?;
    let key_ref = format!("env://{}", signing.key_env);
    let out = exec
        .silent(
            cmd!(exec.sh, "cosign public-key --key {key_ref}")
                .env(&signing.key_env, key)
                .env("COSIGN_PASSWORD", password),
        )
        .map_err(|e| Problem::new(format!("running cosign: {e:#}"), "check the cosign installation"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let detail = if failure::cosign_wrong_password(&stderr) {
            format!("the password in {} does not open the key in {}", signing.password_env, signing.key_env)
        } else {
            format!(
                "cosign cannot read the key in {}: {}",
                signing.key_env,
                ui::mask(stderr.trim().lines().last().unwrap_or("no message"))
            )
        };
        return Err(Problem::new(
            detail,
            format!(
                "set {} and {} to a cosign key pair's private key and its password",
                signing.key_env, signing.password_env
            ),
        ));
    }
    let derived = String::from_utf8_lossy(&out.stdout);
    if !same_pem(&derived, &committed) {
        return Err(Problem::new(
            format!(
                "the key in {} is not the one whose public key is committed as {}",
                signing.key_env, signing.public_key
            ),
            format!(
                "use the key pair's private half, or commit its public half (`cosign public-key --key env://{}`) as {}",
                signing.key_env, signing.public_key
            ),
        ));
    }
    Ok(format!("cosign, the key in {} and the committed {} match", signing.key_env, signing.public_key))
}

/// Two PEM documents with the same content (line breaks and surrounding space aside).
fn same_pem(a: &str, b: &str) -> bool {
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    !a.trim().is_empty() && squeeze(a) == squeeze(b)
}

/// Runs a signing step's cosign command line with the registry login of the run's docker CLI
/// (cosign reads the same docker config) and the key's password in cosign's environment.
pub(crate) fn run(
    docker: &Docker,
    signing: &SigningConfig,
    env: &BTreeMap<String, String>,
    argv: &[String],
    what: &str,
    host: Option<&str>,
) -> Result<()> {
    let (key, password) = key_and_password(signing, env).map_err(Problem::into_error)?;
    let (program, args) = argv.split_first().ok_or_else(|| anyhow::anyhow!("{what}: no command line"))?;
    let exec = &docker.exec;
    let out = exec.retrying(what, || {
        let mut cmd = cmd!(exec.sh, "{program} {args...}").env(&signing.key_env, key).env("COSIGN_PASSWORD", password);
        for (k, v) in docker.envs() {
            cmd = cmd.env(k, v);
        }
        cmd
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(match host {
        Some(host) => crate::docker::tool_error(host, what, &out),
        None => crate::error::command_failed(what, &out),
    })
}

/// What `verify` checks on a digest: its signature, or its attestations of one predicate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check<'a> {
    Signature,
    Attestation(&'a str),
}

impl std::fmt::Display for Check<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Signature => f.write_str("signature"),
            Check::Attestation(kind) => write!(f, "{kind} attestation"),
        }
    }
}

/// `cosign verify` (or `verify-attestation --type T`) of `pinned` against the public key `key`,
/// offline: its stdout (the verified payloads, one per line), or why cosign refused.
pub(crate) fn verify(
    docker: &Docker,
    key: &Utf8Path,
    pinned: &str,
    check: Check<'_>,
) -> Result<Result<String, failure::CosignRefusal>> {
    let mut args: Vec<String> = match check {
        Check::Signature => vec!["verify".to_owned()],
        Check::Attestation(kind) => vec!["verify-attestation".to_owned(), "--type".to_owned(), kind.to_owned()],
    };
    args.extend(["--key".to_owned(), key.to_string(), "--insecure-ignore-tlog".to_owned()]);
    if release_pipeline_plan::reference::is_loopback_registry(release_pipeline_plan::reference::registry_host(pinned)) {
        args.push("--allow-http-registry".to_owned());
    }
    args.push(pinned.to_owned());
    let mut cmd = cmd!(docker.exec.sh, "cosign {args...}");
    for (k, v) in docker.envs() {
        cmd = cmd.env(k, v);
    }
    let out = docker.exec.output(cmd)?;
    if out.status.success() {
        return Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    match failure::cosign_refusal(&String::from_utf8_lossy(&out.stderr)) {
        failure::CosignRefusal::Other => {
            Err(crate::error::command_failed(&format!("checking the {check} of {pinned}"), &out))
        }
        refusal => Ok(Err(refusal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_comparison_ignores_line_breaks_only() {
        let a = "-----BEGIN PUBLIC KEY-----\nAAA\nBBB\n-----END PUBLIC KEY-----\n";
        assert!(same_pem(a, "-----BEGIN PUBLIC KEY-----\r\nAAABBB\n-----END PUBLIC KEY-----"));
        assert!(!same_pem(a, "-----BEGIN PUBLIC KEY-----\nAAA\nBBC\n-----END PUBLIC KEY-----\n"));
        assert!(!same_pem("", ""), "no output is no key");
    }

    #[test]
    fn a_missing_key_or_password_names_the_variable() {
        let signing = SigningConfig::default();
        let mut env = BTreeMap::new();
        let problem = key_and_password(&signing, &env).unwrap_err();
        assert!(problem.detail.starts_with("COSIGN_PRIVATE_KEY is not set"), "{problem:?}");
        env.insert("COSIGN_PRIVATE_KEY".to_owned(), "k".to_owned());
        env.insert("COSIGN_PASSWORD".to_owned(), String::new());
        let problem = key_and_password(&signing, &env).unwrap_err();
        assert!(problem.detail.starts_with("COSIGN_PASSWORD is not set"), "{problem:?}");
        env.insert("COSIGN_PASSWORD".to_owned(), "p".to_owned());
        assert_eq!(key_and_password(&signing, &env).unwrap(), ("k", "p"));
    }
}
