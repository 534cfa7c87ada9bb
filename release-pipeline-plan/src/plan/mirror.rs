//! The steps that bring a pushed image to each mirror (`mirrors`): the digest its own repository
//! holds, copied (never rebuilt), its signatures and attestations before its tag, then its moving
//! tags by the rules of the image's own (`move-tags` on the mirror's repository), and a check of
//! the mirror's tag. Planned after every step on the image's own repository, so a mirror that
//! fails leaves that repository complete, and its rerun finds only the mirror to do. Pure.
use super::{
    facts::Facts,
    step::{inspect_argv, Arg, DigestRef, Step, StepId, Steps, When},
    BuildAction, ImagePlan, ReleasePlan,
};
use crate::reference::{self, ImageRef};

/// The steps towards every mirror of the plan for the pushed images in `done`: each image (by
/// its index) with the digest its own repository holds once its condition is met. Per mirror, as
/// on the image's own repository: every image's tag first, then the moving tags (a release
/// counts once all its contexts are in), then a check of each tag. The steps are numbered from
/// `first` on; what stops them is in the problems.
pub fn steps(plan: &ReleasePlan, facts: &Facts, done: &[(usize, DigestRef, Option<When>)], first: StepId) -> Steps {
    let mut out = Steps::default();
    for (m, mirror) in plan.mirrors.iter().enumerate() {
        let mut there = Vec::new();
        for (i, digest, when) in done {
            let image = &plan.images[*i];
            let copy = mirror.image(image);
            let reference = ImageRef::tag(&copy.repository, copy.primary_tag()).to_string();
            let held = facts.mirrors.get(*i).and_then(|held| held.get(m)).cloned().unwrap_or(BuildAction::Build);
            let after = match (held, digest) {
                (BuildAction::Skip { why }, _) => {
                    out.steps.push(skip(*i, format!("mirror to {reference}"), why));
                    continue;
                }
                (BuildAction::AlreadyThere { digest: held }, DigestRef::Known(ours)) if &held == ours => {
                    let why = "the mirror holds it already (a rerun)".to_owned();
                    out.steps.push(skip(*i, format!("mirror {held} to {reference}"), why));
                    *when
                }
                (BuildAction::AlreadyThere { digest: held }, DigestRef::Known(ours)) => {
                    out.problems.push(format!(
                        "{reference} holds {held}, but {}:{} holds {ours}: a mirror's tag is never written over with another image (delete the mirror's tag, or the image's, and run again)",
                        image.repository,
                        image.primary_tag()
                    ));
                    continue;
                }
                // Not there yet, an older build of this branch, or one of this commit while the
                // image is built again now: the copy's fresh read decides (only the same digest
                // or what may be written over passes).
                _ => {
                    if plan.signed {
                        out.steps.push(Step::MirrorSignatures {
                            image: *i,
                            repository: mirror.repository.clone(),
                            digest: digest.clone(),
                            when: *when,
                            argv: signatures_argv(&image.repository, &mirror.repository, digest),
                        });
                    }
                    let id = StepId(first.0 + out.steps.len());
                    out.steps.push(Step::Mirror {
                        image: *i,
                        repository: mirror.repository.clone(),
                        argv: copy_argv(facts, &image.repository, digest, &copy),
                        reference: reference.clone(),
                        digest: digest.clone(),
                        when: *when,
                    });
                    Some(When::Digest(id))
                }
            };
            there.push((*i, copy, reference, digest, after));
        }
        for (i, copy, _, _, after) in there.iter().filter(|(_, copy, ..)| !copy.moving_tags.is_empty()) {
            out.steps.push(Step::MoveTags {
                image: *i,
                repository: copy.repository.clone(),
                tags: copy.moving_tags.clone(),
                when: *after,
                argv: Vec::new(),
            });
        }
        for (i, copy, reference, digest, after) in there {
            out.steps.push(Step::Verify {
                image: i,
                argv: inspect_argv(&reference),
                reference,
                digest: digest.clone(),
                platforms: copy.platforms,
                when: after,
            });
        }
    }
    out
}

/// A mirror's step passed over (no digest: the summary's digest is the image's own).
fn skip(i: usize, what: String, why: String) -> Step {
    Step::Skip { what, why, image: Some(i), digest: None, argv: Vec::new() }
}

/// `cosign copy` of the signatures and attestations only (`--only`): of the digest and,
/// recursively, of its platform manifests, to the mirror's repository.
fn signatures_argv(from: &str, to: &str, digest: &DigestRef) -> Vec<Arg> {
    let mut argv = Arg::lits(["cosign", "copy", "--only=sig,att"].map(str::to_owned).to_vec());
    if [from, to].iter().any(|r| reference::is_loopback_registry(reference::registry_host(r))) {
        argv.push(Arg::Lit("--allow-http-registry".to_owned()));
    }
    argv.push(Arg::Digest { prefix: format!("{from}@"), digest: digest.clone() });
    argv.push(Arg::Lit(to.to_owned()));
    argv
}

/// `skopeo copy` of `from@digest` to the mirror's primary tag, keeping the digest (an index with
/// every platform manifest).
fn copy_argv(facts: &Facts, from: &str, digest: &DigestRef, copy: &ImagePlan) -> Vec<Arg> {
    let mut argv = Arg::lits(["skopeo", "copy", "--all", "--preserve-digests"].map(str::to_owned).to_vec());
    if let Some(authfile) = &facts.authfile {
        argv.extend(Arg::lits(vec!["--authfile".to_owned(), authfile.to_string()]));
    }
    for (repository, flag) in [(from, "--src-tls-verify=false"), (copy.repository.as_str(), "--dest-tls-verify=false")]
    {
        if reference::is_loopback_registry(reference::registry_host(repository)) {
            argv.push(Arg::Lit(flag.to_owned()));
        }
    }
    argv.push(Arg::Digest { prefix: format!("docker://{from}@"), digest: digest.clone() });
    argv.push(Arg::Lit(ImageRef::tag(&copy.repository, copy.primary_tag()).transport()));
    argv
}
