//! The release notes' steps: every release and dev release writes its notes
//! (`dist/RELEASE_NOTES.md`, and their JSON beside), and a signed image carries them as an
//! attestation on its digest (`cosign attest --type` `notes::NOTES_TYPE`, before the signature, like
//! every attestation: a signed digest has them all). An image that is not signed does not carry
//! them: an unsigned attachment proves nothing (anyone who may push may replace it), `verify`
//! reads only signed ones, and the registries this pipeline supports store cosign's attestations
//! by tag (`sha256-<digest>.att`) rather than OCI 1.1 referrers; the step says so (`skip`).
use camino::Utf8PathBuf;

use super::{facts::Facts, step::Step, Kind, ReleasePlan};
use crate::dist::DistLayout;

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
        predicate: predicate(plan, facts)?,
        notes: notes.clone(),
        argv,
    })
}

/// Where the notes' JSON goes, when this run has notes: the predicate of their attestation on
/// each signed image (`sign::image_steps` makes it, before the signature).
pub fn predicate(plan: &ReleasePlan, facts: &Facts) -> Option<Utf8PathBuf> {
    facts.notes.as_ref()?;
    Some(DistLayout::new(&facts.root).notes_predicate(&plan.service.bin, &plan.version.semver))
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
