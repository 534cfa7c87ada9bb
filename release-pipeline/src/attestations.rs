//! Signed attestations read back: `cosign verify` and `verify-attestation` against a public
//! key, their DSSE envelopes decoded into typed in-toto statements, and only those statements
//! kept that name the digest asked about. `verify` and `rebuild` both read them here.
use anyhow::{Context, Result};
use base64::Engine;
use camino::Utf8PathBuf;
use serde::Deserialize;

use crate::{attest::Provenance, cosign, docker::Docker, failure::CosignRefusal};
use release_pipeline_plan::{plan::sign::PROVENANCE_TYPE, reference::Digest};

/// A DSSE envelope, as `cosign verify-attestation` prints one per line.
#[derive(Deserialize)]
struct Envelope {
    payload: String,
}

/// The in-toto statement inside an envelope (the part read).
#[derive(Deserialize)]
pub(crate) struct Statement<P> {
    subject: Vec<Subject>,
    pub(crate) predicate: P,
}

#[derive(Deserialize)]
struct Subject {
    digest: std::collections::BTreeMap<String, String>,
}

/// The provenances on `repository@digest` that the key `key` signed and that name that digest
/// (`rebuild` reads the packages' SHA-256 from them).
pub(crate) fn provenances(
    docker: &Docker,
    key: &camino::Utf8Path,
    repository: &str,
    digest: &Digest,
) -> Result<Vec<Provenance>> {
    let pinned = format!("{repository}@{digest}");
    let statements: Vec<Statement<Provenance>> =
        attestations(docker, &key.to_owned(), &pinned, digest, PROVENANCE_TYPE)?;
    Ok(statements.into_iter().map(|s| s.predicate).collect())
}

/// cosign's check of `pinned`: its stdout, or the one reason the image fails.
pub(crate) fn cosign_verify(
    docker: &Docker,
    key: &Utf8PathBuf,
    pinned: &str,
    check: cosign::Check<'_>,
) -> Result<String> {
    cosign::verify(docker, key, pinned, check)?.map_err(|refusal| match (refusal, check) {
        (CosignRefusal::Unsigned, cosign::Check::Signature) => anyhow::anyhow!("not signed: {pinned} has no signature"),
        (CosignRefusal::OtherKey, cosign::Check::Signature) => {
            anyhow::anyhow!("signed by another key: no signature of {pinned} verifies with {key}")
        }
        // The signature was verified with this key just before: what fails is the attestation.
        (_, cosign::Check::Attestation(_)) => {
            anyhow::anyhow!("not attested: no {check} of {pinned} verifies with {key}")
        }
        (_, cosign::Check::Signature) => anyhow::anyhow!("not signed: {pinned} has no signature that verifies"),
    })
}

/// The verified attestations of `predicate_type` on `pinned` whose statement names `digest`; an
/// error when there is none.
pub(crate) fn attestations<P: serde::de::DeserializeOwned>(
    docker: &Docker,
    key: &Utf8PathBuf,
    pinned: &str,
    digest: &Digest,
    predicate_type: &str,
) -> Result<Vec<Statement<P>>> {
    let out = cosign_verify(docker, key, pinned, cosign::Check::Attestation(predicate_type))?;
    statements_naming(&out, digest, predicate_type)
}

/// The statements of `predicate_type` in cosign's verified output `out` that name `digest`; an
/// error when there is none.
pub(crate) fn statements_naming<P: serde::de::DeserializeOwned>(
    out: &str,
    digest: &Digest,
    predicate_type: &str,
) -> Result<Vec<Statement<P>>> {
    let hex = digest.hex();
    let mut named = Vec::new();
    let mut others = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let envelope: Envelope = serde_json::from_str(line).context("parsing cosign's attestation envelope")?;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(envelope.payload.trim())
            .context("decoding an attestation's payload")?;
        let statement: Statement<P> =
            serde_json::from_slice(&payload).with_context(|| format!("parsing the {predicate_type} statement"))?;
        match statement.subject.iter().find_map(|s| s.digest.get("sha256")) {
            Some(sha) if sha == hex => named.push(statement),
            Some(sha) => others.push(format!("sha256:{sha}")),
            None => others.push("no digest".to_owned()),
        }
    }
    if named.is_empty() {
        return Err(anyhow::anyhow!(
            "the {predicate_type} attestation names {}, not {digest}",
            if others.is_empty() { "nothing".to_owned() } else { others.join(", ") }
        ));
    }
    Ok(named)
}
