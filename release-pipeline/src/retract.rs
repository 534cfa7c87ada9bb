//! `cargo xtask retract VERSION --reason TEXT [--push]`: an annotated tag
//! `retracted/<version tag>` records the retraction with its reason, so every later run (CI
//! included) knows it: moving tags skip that version (`reconcile`, the next release), its crates
//! are yanked from the cargo registry, and a release of it stops in the preflight.
use anstream::{print, println};
use anyhow::{Context, Result};
use semver::Version;

use crate::{config::SignPolicy, cosign, dist, error, execute, flags, preflight, publish, ui, workspace::Workspace};
use release_pipeline_plan::plan::{sign, step::Step, steps};

/// `git tag --annotate`; where git knows no identity (a CI runner), the tag is made by
/// `release-pipeline` rather than failing.
fn git_tag_argv(identity: bool, reason: &str, name: &str, commit: &str) -> Vec<String> {
    let mut argv = vec!["git".to_owned()];
    if !identity {
        argv.extend(
            ["-c", "user.name=release-pipeline", "-c", "user.email=release-pipeline@localhost"].map(str::to_owned),
        );
    }
    argv.extend(["tag", "--annotate", "--message", reason, name, commit].map(str::to_owned));
    argv
}

/// Whether `git tag` would know who tags (git's answer: its configuration and environment).
fn git_knows_identity(ws: &Workspace) -> Result<bool> {
    let exec = &ws.exec;
    Ok(exec.silent(xshell::cmd!(exec.sh, "git var GIT_COMMITTER_IDENT"))?.status.success())
}

pub(crate) fn run(cmd: flags::Retract, ws: &Workspace) -> Result<()> {
    // A version is one service's: its prefix names the tag, its crates are yanked.
    let mut views = ws.services(cmd.service.as_slice())?;
    if views.len() > 1 {
        let names: Vec<&str> = views.iter().map(|v| v.service().name.as_str()).collect();
        return Err(error::error_with_help(
            format!("the workspace has several services ({}), each with its own versions", names.join(", ")),
            "name the one whose version this is with --service NAME",
        ));
    }
    retract(&cmd, &views.remove(0))
}

fn retract(cmd: &flags::Retract, ws: &Workspace) -> Result<()> {
    let repo = ws.repo()?;
    let wanted = Version::parse(cmd.version.trim_start_matches('v'))
        .with_context(|| format!("`{}` is not a SemVer version", cmd.version))?;
    let tags = crate::version::version_tags(repo, &ws.config.version_tag_prefix)?;
    let Some(tag) = tags.iter().find(|t| t.version == wanted) else {
        return Err(error::error_with_help(
            format!("no version tag says {wanted}, so there is no release to retract"),
            "name a released version (`git tag --list` shows the version tags)",
        ));
    };
    let reason = cmd.reason.trim();
    if reason.is_empty() {
        return Err(error::error_with_help("the reason is empty", "say why in a sentence: it stays in the tag"));
    }
    let name = format!("retracted/{}", tag.name);
    let commit = repo.peel_listed(tag.target, tag.peeled).context("the version tag names no commit")?.to_string();
    let mut plan: Vec<Step> = Vec::new();
    match repo.retractions()?.into_iter().find(|(t, _)| *t == tag.name) {
        Some((_, why)) => plan.push(Step::Skip {
            what: format!("the tag {name}"),
            why: format!("{} is retracted already ({why})", tag.name),
            image: None,
            digest: None,
            argv: Vec::new(),
        }),
        None => plan.push(Step::GitTag {
            argv: git_tag_argv(git_knows_identity(ws)?, reason, &name, &commit),
            name: name.clone(),
            commit,
            message: reason.to_owned(),
        }),
    }
    if cmd.push {
        let remote = ws.config.git_remote.as_str();
        plan.push(Step::GitPush {
            argv: ["git", "push", remote, &format!("refs/tags/{name}")].map(str::to_owned).to_vec(),
            name: name.clone(),
        });
    }
    let registry = &ws.config.cargo_registry;
    if !ws.config.publish.is_empty() && !registry.is_empty() {
        for krate in &ws.config.publish {
            plan.push(Step::Yank {
                argv: steps::yank_argv(registry, krate, &wanted),
                krate: krate.clone(),
                version: wanted.clone(),
                registry: registry.clone(),
            });
        }
    }
    // With signing on, each of the version's images gets a signed retraction attestation: a
    // deployer's `verify` refuses it without the git tag.
    let signing = &ws.config.signing;
    let plans_attestation = signing.sign != SignPolicy::None && ws.image_repository(None).is_some();
    let predicate = crate::dist::DistLayout::new(&ws.root).retraction(&ws.service().bin, &wanted);
    let mut docker = None;
    if plans_attestation {
        let repository = preflight::repository(ws, None)?;
        let session = preflight::registry_session(ws, &repository)?;
        for (i, context) in ws.config.context.iter().enumerate() {
            let tag = format!("{}{}", context.image_tag_prefix, release_pipeline_plan::tags::version_tag(&wanted));
            let reference = release_pipeline_plan::reference::ImageRef::tag(&repository, &tag).to_string();
            match session.inspect(&reference)? {
                Some(held) => {
                    plan.push(sign::retraction_step(signing, i, &repository, held.digest.as_str(), &predicate))
                }
                None => plan.push(Step::Skip {
                    what: format!("attest the retraction on {reference}"),
                    why: "the registry does not hold it".to_owned(),
                    image: None,
                    digest: None,
                    argv: Vec::new(),
                }),
            }
        }
        docker = Some(session);
    }
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&plan).context("serializing the steps")?);
    } else {
        print!("{}", ui::mask(&release_pipeline_plan::plan::step::render(&plan)));
    }
    if cmd.dry_run || cmd.json {
        return Ok(());
    }
    if plan.iter().any(|s| matches!(s, Step::Yank { .. })) {
        publish::check_token(&ws.config, ws.env())?;
    }
    // The git tag is the retraction; the attestation is extra evidence for deployers. Without the
    // signing key here (an emergency retraction away from CI) it is left out, with a warning.
    let can_attest = plan.iter().any(|s| matches!(s, Step::Attest { .. }))
        && match cosign::check(&ws.exec, signing, ws.env(), &ws.root) {
            Ok(_) => true,
            Err(problem) => {
                ui::warn(format_args!(
                    "the retraction is not attested on the images ({}: {}); run retract again where the key is to attest it",
                    problem.detail, problem.fix
                ));
                false
            }
        };
    if can_attest {
        let retraction = sign::Retraction { version: wanted.to_string(), reason: reason.to_owned() };
        dist::write_atomic(&predicate, &serde_json::to_vec_pretty(&retraction).context("serializing the retraction")?)?;
    }
    for step in plan.iter().filter(|s| !matches!(s, Step::Skip { .. })) {
        match (step, &docker) {
            (Step::Attest { .. }, _) if !can_attest => {}
            (Step::Attest { reference, .. }, Some(docker)) => {
                let host = release_pipeline_plan::reference::registry_host(reference);
                cosign::run(
                    docker,
                    signing,
                    ws.env(),
                    &step.command_line(),
                    &format!("attesting the retraction on {reference}"),
                    Some(host),
                )?;
            }
            _ => execute::run_command_step(ws, step)?,
        }
    }
    ui::info(format_args!(
        "{} is retracted: `cargo xtask reconcile --apply` moves the moving tags off it{}",
        tag.name,
        if cmd.push { "" } else { "; push the tag (`--push`) so CI knows it too" }
    ));
    Ok(())
}
