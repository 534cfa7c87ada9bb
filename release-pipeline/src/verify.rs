//! `cargo xtask verify IMAGE_REF [--key FILE]`: what a deployer runs before trusting an image.
//! Checks, in order, and stops at the first that fails with its reason: the signature against
//! the committed public key (or `--key`); that a provenance and an SBOM attestation exist and name
//! this very digest; that the provenance's commit is in this repository's history and, for a
//! version tag, is the commit that version's git tag points at; and that the image's platforms are
//! those the configuration gives its context.
use anstream::println;
use anyhow::{Context, Result};
use camino::Utf8PathBuf;

use crate::{
    attest::Provenance,
    attestations::{attestations, cosign_verify, statements_naming, Statement},
    cosign,
    docker::Docker,
    error, flags, preflight,
    workspace::Workspace,
};
use release_pipeline_plan::{
    notes::{ReleaseNotes, FIRST_LINES, NOTES_TYPE},
    plan::{
        sign::{Retraction, PROVENANCE_TYPE, RETRACTION_TYPE, SBOM_TYPE},
        Kind,
    },
    platform::Platform,
    reference::{Digest, Selector, UserRef},
};

pub(crate) fn run(cmd: flags::Verify, ws: &Workspace) -> Result<()> {
    let image = UserRef::parse(&cmd.image_ref).map_err(anyhow::Error::msg)?;
    // The service whose image it is: its prefix and contexts read the provenance.
    let views = ws.all_services()?;
    let repository = image.repository.to_string();
    // A service's image, or one of its mirrors (which hold the same images).
    let holds = |v: &&Workspace| {
        v.image_repository(None).as_deref() == Some(repository.as_str())
            || v.config.mirrors.iter().any(|m| m.image == repository)
    };
    let view = match views.iter().find(holds) {
        Some(view) => view,
        None if views.len() == 1 => &views[0],
        None => {
            return Err(error::error_with_help(
                format!("{repository} is the image of none of the services"),
                "verify an image of a service's `image` (or of RELEASE_REPOSITORY)",
            ))
        }
    };
    verify(cmd, view, image)
}

fn verify(cmd: flags::Verify, ws: &Workspace, image: UserRef) -> Result<()> {
    let key = match cmd.key {
        Some(key) => Utf8PathBuf::try_from(key).context("--key is not a UTF-8 path")?,
        None => ws.root.join(&ws.config.signing.public_key),
    };
    if !key.is_file() {
        return Err(error::error_with_help(
            format!("no public key at {key}"),
            "pass the key to check against with --key, or commit it as `signing.public-key` says",
        ));
    }
    let repository = image.repository.to_string();
    let docker = preflight::registry_session(ws, &repository)?;
    let remote = docker
        .inspect(&image.to_string())?
        .ok_or_else(|| error::error_with_help(format!("{image} does not exist"), "check the reference"))?;
    let digest = remote.digest.clone();
    let pinned = format!("{repository}@{digest}");
    let mut checked = vec![format!("{image} is {digest}")];

    cosign_verify(&docker, &key, &pinned, cosign::Check::Signature)?;
    checked.push(format!("signed by the key {key}"));
    // A retraction attested on the image counts even where the git tag recording it is missing.
    if let Some(retraction) = retraction(&docker, &key, &pinned, &digest)? {
        return Err(anyhow::anyhow!(
            "{image} is release {}, which was retracted: {} (a signed retraction is attested on {digest})",
            retraction.version,
            retraction.reason
        ));
    }
    checked.push("no retraction is attested on it".to_owned());

    let provenances: Vec<Statement<Provenance>> = attestations(&docker, &key, &pinned, &digest, PROVENANCE_TYPE)?;
    let sboms: Vec<Statement<serde::de::IgnoredAny>> = attestations(&docker, &key, &pinned, &digest, SBOM_TYPE)?;
    checked.push(format!("{} provenance and {} SBOM attestation(s) name this digest", provenances.len(), sboms.len()));
    // Every provenance on this digest names one commit (a digest two contexts share carries
    // both contexts' provenances); the one read is that of the context the tag belongs to.
    let commits: std::collections::BTreeSet<&str> =
        provenances.iter().map(|p| p.predicate.build_definition.external_parameters.commit.as_str()).collect();
    if commits.len() > 1 {
        return Err(anyhow::anyhow!(
            "the provenances of {pinned} name different commits: {}",
            commits.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let tag = match &image.selector {
        Selector::Tag(tag) => Some(tag.as_str()),
        Selector::Digest(_) => None,
    };
    let tag_context = tag.and_then(|tag| context_of_tag(ws, tag));
    let provenance = match tag_context {
        Some(context) => provenances
            .iter()
            .map(|p| &p.predicate)
            .find(|p| p.build_definition.external_parameters.context == context.dir)
            .ok_or_else(|| anyhow::anyhow!("{image} is a tag of {}/, but no provenance of {pinned} is", context.dir))?,
        None => &provenances[0].predicate,
    };
    let parameters = &provenance.build_definition.external_parameters;

    let commit = crate::repo::oid(parameters.commit);
    let repo = ws
        .repo
        .as_deref()
        .context("verify checks the provenance's commit against this repository: run it in a clone")?;
    if !repo.has_commit(commit) {
        return Err(error::error_with_help(
            format!("the provenance names commit {commit}, which is not in this repository's history"),
            "fetch the repository's history (a shallow or outdated clone lacks it); if it still lacks it, the image was not built from this repository",
        ));
    }
    checked.push(format!("its commit {commit} is in this repository's history"));
    // A release's retractions, here and on the git remote, read once: the retraction check and
    // the moving-tag rule below both decide with them.
    let released = Some(&parameters.version).filter(|_| parameters.kind == Kind::Release);
    let retracted = match released {
        Some(_) => crate::gather::retracted_here_and_remote(ws)?,
        None => Vec::new(),
    };

    if let (Some(tag), Some(context)) = (tag, tag_context) {
        let bare = &tag[context.image_tag_prefix.len()..];
        if let Some(version) = release_pipeline_plan::tags::as_version_tag(bare) {
            if released != Some(&version) {
                return Err(anyhow::anyhow!(
                    "{tag} is the tag of release {version}, but the provenance is of a {} of {}",
                    parameters.kind,
                    parameters.version
                ));
            }
            let prefix = &ws.config.version_tag_prefix;
            let git_tag = crate::version::version_tags(repo, prefix)?
                .into_iter()
                .find(|t| t.version == version)
                .ok_or_else(|| {
                    error::error_with_help(
                        format!("{tag} is a version tag, but this repository has no git tag of version {version}"),
                        "fetch the tags (`git fetch --tags`)",
                    )
                })?;
            let tagged = repo
                .peel_listed(git_tag.target, git_tag.peeled)
                .with_context(|| format!("the git tag {} names no commit this clone has", git_tag.name))?;
            if tagged != commit {
                return Err(anyhow::anyhow!(
                    "the provenance names commit {commit} but tag {version} is commit {tagged}"
                ));
            }
            checked.push(format!("release {version}, the commit of the git tag {}", git_tag.name));
        }
        if release_pipeline_plan::tags::is_moving_tag(bare) {
            let covered = released
                .is_some_and(|v| release_pipeline_plan::tags::moving_tag_home(bare, std::slice::from_ref(v)).is_some());
            if !covered {
                return Err(anyhow::anyhow!(
                    "{tag} is a moving tag, but it holds a {} of {}, which {bare} does not cover",
                    parameters.kind,
                    parameters.version
                ));
            }
            checked.push(format!("release {}, which {bare} covers", parameters.version));
            // And it is the highest release the tag covers that is ours, complete, signed and
            // not retracted: a moving tag left behind on an older one is refused.
            let home = moving_tag_home(ws, &docker, &repository, context, bare, retracted.clone())?;
            match home {
                Some((home, home_digest)) if home_digest == digest => {
                    checked.push(format!("{home} is the highest release of ours that {bare} covers"))
                }
                Some((home, _)) => {
                    return Err(anyhow::anyhow!(
                        "{tag} holds {}, but the highest release of ours it covers is {home}",
                        parameters.version
                    ))
                }
                None => return Err(anyhow::anyhow!("{tag} holds {}, which is no release of ours", parameters.version)),
            }
        }
    }

    // A retracted release is refused whatever names it (a tag, a moving tag, a digest): here or
    // on the git remote.
    if let Some(version) = released {
        let same = |v: &semver::Version| v.cmp_precedence(version).is_eq();
        if let Some((_, why)) = crate::gather::retracted(ws)?.into_iter().find(|(v, _)| same(v)) {
            return Err(anyhow::anyhow!("{image} is release {version}, which was retracted: {why}"));
        }
        if retracted.iter().any(same) {
            return Err(anyhow::anyhow!("{image} is release {version}, which the git remote's tags say was retracted"));
        }
        checked.push(format!("release {version} is not retracted"));
    }

    let context =
        tag_context.or_else(|| ws.config.context.iter().find(|c| c.dir == parameters.context)).ok_or_else(|| {
            anyhow::anyhow!(
                "the provenance names the context `{}`, which the configuration does not have",
                parameters.context
            )
        })?;
    let mut want: Vec<Platform> = context.platforms.clone();
    want.sort();
    let mut got = remote.platforms.clone();
    got.sort();
    // A platform manifest of a multi-platform index, pinned by digest, is one of the platforms;
    // a tag holds them all (a version tag stripped to one platform is refused).
    let pinned_by_digest = matches!(image.selector, Selector::Digest(_));
    let one_of_the_index = pinned_by_digest && remote.manifests.is_empty() && got.len() == 1 && want.len() > 1;
    if !(got == want || one_of_the_index && want.contains(&got[0])) {
        return Err(anyhow::anyhow!(
            "{image} has platforms {}, but the context {} builds {}",
            got.join(", "),
            context.dir,
            want.join(", ")
        ));
    }
    checked.push(format!("platforms {} are those of the context {}/", got.join(", "), context.dir));

    // The notes a release attached (images from before notes have none: said, not refused).
    let notes = release_notes(&docker, &key, &pinned, &digest)?;
    for line in &checked {
        println!("✓ {line}");
    }
    match notes {
        Some(notes) => {
            println!("✓ release notes attested, {} commit(s); their first lines:", notes.commits);
            for line in notes.first_lines(FIRST_LINES) {
                println!("    {line}");
            }
        }
        None => println!("- no release notes are attested on {digest}"),
    }
    println!("verified {image}");
    if cmd.rebuild {
        // The signature and provenance hold; now the bytes: the release rebuilt from its tag.
        let Some(version) = released else {
            return Err(error::error_with_help(
                format!(
                    "{image} is a {} of {}: only a release is rebuilt from its version tag",
                    parameters.kind, parameters.version
                ),
                "verify a release's image with --rebuild",
            ));
        };
        let rebuild = flags::Rebuild {
            version: version.to_string(),
            check: true,
            json: false,
            service: vec![ws.service().name.clone()],
            repository: Some(repository.clone()),
            key: Some(key.clone().into()),
        };
        // The rebuild reads the version tag again: it must still hold the image verified here.
        let rows = crate::rebuild::rows(&rebuild, ws)?;
        if !rows.iter().any(|r| r.published.as_deref() == Some(digest.as_str())) {
            return Err(anyhow::anyhow!(
                "{image} is {digest}, but the tags of release {version} no longer hold it: the rebuild compared something else"
            ));
        }
        crate::rebuild::report(&rebuild, &rows)?;
    }
    Ok(())
}

/// Where the moving tag `bare` of `context` belongs now (`plan::moving`): its release and the
/// digest its version tag held when the rule checked it.
fn moving_tag_home(
    ws: &Workspace,
    docker: &Docker,
    repository: &str,
    context: &crate::config::ContextConfig,
    bare: &str,
    retracted: Vec<semver::Version>,
) -> Result<Option<(semver::Version, Digest)>> {
    let prefixes: Vec<&str> = ws.config.context.iter().map(|c| c.image_tag_prefix.as_str()).collect();
    let listed = docker.list_tags(repository)?;
    let names: Vec<&str> = listed.iter().map(String::as_str).collect();
    let released =
        release_pipeline_plan::plan::registry::releases(&names, &context.image_tag_prefix, &prefixes, &retracted);
    let versions: Vec<semver::Version> = released.keys().cloned().collect();
    let mut qualifier =
        crate::releases::Qualifier::new(ws, docker, repository, crate::releases::contexts_of(&ws.config), retracted)?;
    let Some(home) = qualifier.home(bare, &versions)?.0.cloned() else { return Ok(None) };
    let digest = qualifier
        .digest_of(&home, &context.image_tag_prefix)
        .with_context(|| format!("{repository}'s release {home} has no {}/ image", context.dir))?
        .clone();
    Ok(Some((home, digest)))
}

/// The context a tag belongs to: the one with the longest image-tag-prefix the tag starts with.
fn context_of_tag<'a>(ws: &'a Workspace, tag: &str) -> Option<&'a crate::config::ContextConfig> {
    ws.config.context.iter().filter(|c| tag.starts_with(&c.image_tag_prefix)).max_by_key(|c| c.image_tag_prefix.len())
}

/// The retraction attested on `pinned` (`retract` with signing on), verified with `key`.
fn retraction(docker: &Docker, key: &Utf8PathBuf, pinned: &str, digest: &Digest) -> Result<Option<Retraction>> {
    attested(docker, key, pinned, digest, RETRACTION_TYPE)
}

/// The release notes attested on `pinned` (signed with `key`) naming `digest`, if any.
fn release_notes(docker: &Docker, key: &Utf8PathBuf, pinned: &str, digest: &Digest) -> Result<Option<ReleaseNotes>> {
    attested(docker, key, pinned, digest, NOTES_TYPE)
}

/// The predicate of the first verified attestation of `predicate_type` on `pinned` naming
/// `digest`; `None` when there is none.
fn attested<P: serde::de::DeserializeOwned>(
    docker: &Docker,
    key: &Utf8PathBuf,
    pinned: &str,
    digest: &Digest,
    predicate_type: &str,
) -> Result<Option<P>> {
    match cosign::verify(docker, key, pinned, cosign::Check::Attestation(predicate_type))? {
        Ok(out) => Ok(statements_naming::<P>(&out, digest, predicate_type)?
            .into_iter()
            .next()
            .map(|statement| statement.predicate)),
        Err(_) => Ok(None),
    }
}
