//! `cargo xtask retract VERSION --reason TEXT [--push]`: an annotated tag
//! `retracted/<version tag>` records the retraction with its reason, so every later run (CI
//! included) knows it: moving tags skip that version (`reconcile`, the next release), its crates
//! are yanked from the cargo registry, and a release of it stops in the preflight.
use anstream::{print, println};
use anyhow::{bail, Context, Result};
use semver::Version;

use crate::{config::SignPolicy, cosign, dist, error, execute, flags, preflight, publish, ui, workspace::Workspace};
use release_pipeline_plan::plan::{retract, sign, step::Step};

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
    let commit = repo.peel_listed(tag.target, tag.peeled).context("the version tag names no commit")?.to_string();
    let already = repo.retractions()?.into_iter().find(|(t, _)| *t == tag.name).map(|(_, why)| why);
    // With signing on, each of the version's images gets a signed retraction attestation: a
    // deployer's `verify` refuses it without the git tag. What the registry holds, and whether
    // the key is here, are read before anything is shown.
    let signing = &ws.config.signing;
    let predicate = crate::dist::DistLayout::new(&ws.root).retraction(&ws.service().bin, &wanted);
    let (mut images, mut docker, mut cannot_attest) = (Vec::new(), None, None);
    if signing.sign != SignPolicy::None && ws.image_repository(None).is_some() {
        let repository = preflight::repository(ws, None)?;
        let session = preflight::registry_session(ws, &repository)?;
        for (image, context) in ws.config.context.iter().enumerate() {
            let tag = format!("{}{}", context.image_tag_prefix, release_pipeline_plan::tags::version_tag(&wanted));
            let reference = release_pipeline_plan::reference::ImageRef::tag(&repository, &tag).to_string();
            let digest = session.inspect(&reference)?.map(|held| held.digest);
            images.push(retract::HeldRelease { image, repository: repository.clone(), tag, digest });
        }
        cannot_attest = cosign::check(&ws.exec, signing, ws.env(), &ws.root)
            .err()
            .map(|problem| format!("it cannot be signed here ({}: {})", problem.detail, problem.fix));
        if let Some(why) = &cannot_attest {
            ui::warn(format_args!("the retraction is not attested on the images: {why}"));
        }
        docker = Some(session);
    }
    let registry = &ws.config.cargo_registry;
    let plan = retract::steps(&retract::Retraction {
        tag: &tag.name,
        version: &wanted,
        commit: &commit,
        reason,
        already: already.as_deref(),
        identity: git_knows_identity(ws)?,
        push: cmd.push.then_some(ws.config.git_remote.as_str()),
        crates: &ws.config.publish,
        cargo_registry: (!registry.is_empty()).then_some(registry.as_str()),
        signing,
        images,
        cannot_attest,
        predicate: &predicate,
    });
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
    if plan.iter().any(|s| matches!(s, Step::Attest { .. })) {
        let retraction = sign::Retraction { version: wanted.to_string(), reason: reason.to_owned() };
        dist::write_atomic(&predicate, &serde_json::to_vec_pretty(&retraction).context("serializing the retraction")?)?;
    }
    // One call per step, as planned.
    for step in &plan {
        match (step, &docker) {
            (Step::Skip { what, why, .. }, _) => ui::info(format_args!("skipped {what}: {why}")),
            (Step::Attest { reference, .. }, Some(docker)) => {
                let host = release_pipeline_plan::reference::registry_host(reference);
                let what = format!("attesting the retraction on {reference}");
                cosign::run(docker, signing, ws.env(), &step.command_line(), &what, Some(host))?;
            }
            (Step::Attest { reference, .. }, None) => bail!("no registry session to attest on {reference}"),
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
