//! The release notes' steps: every release and dev release writes its notes
//! (`dist/RELEASE_NOTES.md`, and their JSON beside), and a signed image carries them as an
//! attestation on its digest (`cosign attest --type` [`NOTES_TYPE`], before the signature, like
//! every attestation: a signed digest has them all). An image that is not signed does not carry
//! them: an unsigned attachment proves nothing (anyone who may push may replace it), `verify`
//! reads only signed ones, and the registries this pipeline supports store cosign's attestations
//! by tag (`sha256-<digest>.att`) rather than OCI 1.1 referrers; the step says so (`skip`).
use super::{
    facts::Facts,
    sign,
    step::{Arg, DigestRef, Step, When},
    ImagePlan, Kind, ReleasePlan,
};
use crate::{dist::DistLayout, notes::NOTES_TYPE};

/// The step writing the notes the preflight read, if this run has any (a release or a dev
/// release; a part leaves them to its merge).
pub fn write_step(plan: &ReleasePlan, facts: &Facts) -> Option<Step> {
    let notes = facts.notes.as_ref()?;
    let dist = DistLayout::new(&facts.root);
    let mut argv: Vec<String> = ["cargo", "xtask", "notes"].map(str::to_owned).to_vec();
    if plan.kind == Kind::Release {
        argv.push(plan.version.semver.to_string());
    }
    if let Some(service) = &notes.service {
        argv.extend(["--service".to_owned(), service.clone()]);
    }
    Some(Step::WriteNotes {
        path: dist.release_notes(notes.service.as_deref()),
        predicate: dist.notes_predicate(&plan.service.bin, &plan.version.semver),
        notes: notes.clone(),
        argv,
    })
}

/// The notes' attestation on an image being signed (`digest`, once `when` holds).
pub fn attest_step(
    plan: &ReleasePlan,
    facts: &Facts,
    i: usize,
    image: &ImagePlan,
    digest: &DigestRef,
    when: Option<When>,
    reference: &str,
) -> Option<Step> {
    facts.notes.as_ref()?;
    let predicate = DistLayout::new(&facts.root).notes_predicate(&plan.service.bin, &plan.version.semver);
    let mut argv = sign::cosign_argv("attest", &facts.signing, Some(&image.repository));
    argv.extend(["--type".to_owned(), NOTES_TYPE.to_owned(), "--predicate".to_owned(), predicate.to_string()]);
    let mut argv = Arg::lits(argv);
    argv.push(Arg::Digest { prefix: format!("{}@", image.repository), digest: digest.clone() });
    Some(Step::Attest {
        image: i,
        reference: reference.to_owned(),
        manifest: None,
        predicate_type: NOTES_TYPE.to_owned(),
        predicate,
        when,
        argv,
    })
}

/// For each pushed image of a plan that does not sign: why its notes stay in `dist/` only.
pub fn unsigned_skips(plan: &ReleasePlan, facts: &Facts) -> Vec<Step> {
    if plan.signed || facts.notes.is_none() {
        return Vec::new();
    }
    plan.images
        .iter()
        .enumerate()
        .filter(|(_, image)| image.push)
        .map(|(i, image)| Step::Skip {
            what: format!("attach the release notes to {}:{}", image.repository, image.primary_tag()),
            why: "signing is off (`signing.sign`): an unsigned attachment proves nothing, so the notes stay in dist/"
                .to_owned(),
            image: Some(i),
            digest: None,
            argv: Vec::new(),
        })
        .collect()
}
