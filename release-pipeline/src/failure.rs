//! The one place that reads a registry tool's failure (docker, buildx, skopeo, and cargo reading
//! a cargo registry): what kind of failure it is, and whether running the tool again can help.
use std::time::Duration;

/// What a failed registry call means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The tag or manifest does not exist.
    NotFound,
    /// Nothing listens there, or the name does not resolve: retrying the same second won't help.
    Unreachable,
    /// 401/403: wrong or missing credentials. Never retried.
    Refused,
    /// A 5xx, a reset or closed connection, a timeout: the next attempt may well succeed.
    Transient,
    /// Anything else (an invalid reference, a build error): never retried.
    Other,
}

/// Whether a registry refused a delete because deletes are turned off (distribution answers
/// 405 `UNSUPPORTED`).
pub(crate) fn deletes_disabled(stderr: &str) -> bool {
    ["405 Method Not Allowed", "UNSUPPORTED", "The operation is unsupported", "status 405"]
        .iter()
        .any(|n| stderr.contains(n))
}

/// Whether `cargo yank` failed only because the version is yanked already (a rerun).
pub(crate) fn cargo_already_yanked(stderr: &str) -> bool {
    ["already been marked as yanked", "is already yanked"].iter().any(|n| stderr.contains(n))
}

/// Whether `cargo yank` found no such version to yank (the registry's 404): a retraction made
/// before its release published anything.
pub(crate) fn cargo_nothing_to_yank(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    lower.contains("404") || lower.contains("not found") || lower.contains("does not exist")
}

/// Whether cosign could not open a private key because the password is wrong.
pub(crate) fn cosign_wrong_password(stderr: &str) -> bool {
    stderr.contains("decryption failed")
}

/// Why `cosign verify` or `cosign verify-attestation` refused an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CosignRefusal {
    /// No signature (or attestation) at all for the digest.
    Unsigned,
    /// Signatures there, none made by the key given.
    OtherKey,
    /// Attestations there, none of the type asked for.
    NoSuchAttestation,
    Other,
}

pub(crate) fn cosign_refusal(stderr: &str) -> CosignRefusal {
    if stderr.contains("no signatures found") {
        CosignRefusal::Unsigned
    } else if stderr.contains("no matching signatures") || stderr.contains("no matching attestations") {
        CosignRefusal::OtherKey
    } else if stderr.contains("none of the attestations matched the predicate type") {
        CosignRefusal::NoSuchAttestation
    } else {
        CosignRefusal::Other
    }
}

/// Whether cargo's stderr says the cargo registry does not have the crate version asked for.
/// cargo prints hints after the error, so the whole text is read.
pub(crate) fn cargo_version_missing(stderr: &str) -> bool {
    ["failed to select a version", "no matching package named"].iter().any(|n| stderr.contains(n))
}

/// Classifies a tool's stderr by its last lines (a build's log above them is not the error).
/// Order matters: a refused login that also mentions a timeout is still a refusal.
pub(crate) fn classify(stderr: &str) -> Failure {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    let stderr = lines[lines.len().saturating_sub(5)..].join("\n");
    let has = |needles: &[&str]| needles.iter().any(|n| stderr.contains(n));
    if has(&[
        "401 Unauthorized",
        "403 Forbidden",
        "authorization failed",
        "no basic auth credentials",
        "unauthorized:",
        "denied:",
        "status: 401",
        "status: 403",
        "status 401",
        "status 403",
        "invalid token",
    ]) {
        Failure::Refused
    } else if has(&[
        ": not found",
        "manifest unknown",
        "MANIFEST_UNKNOWN",
        "NAME_UNKNOWN",
        "name not known to registry",
        // skopeo delete's words for a 404 on the manifest.
        "Image may not exist",
    ]) {
        Failure::NotFound
    } else if has(&["connection refused", "no such host", "name resolution"]) {
        Failure::Unreachable
    } else if has(&[
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
        "status: 500",
        "status: 502",
        "status: 503",
        "status: 504",
        "connection reset",
        "broken pipe",
        "unexpected EOF",
        ": EOF",
        "i/o timeout",
        "TLS handshake timeout",
        "context deadline exceeded",
        "server closed",
        "Client.Timeout",
        "connection timed out",
        "timeout awaiting response headers",
        "GOAWAY",
        "INTERNAL_ERROR",
        "429 Too Many Requests",
        "status: 429",
        "toomanyrequests",
    ]) {
        Failure::Transient
    } else {
        Failure::Other
    }
}

/// How many times a registry call is made before its failure is reported.
pub(crate) const ATTEMPTS: u32 = 4;

/// The pause before attempt `n` (2, 3, …): 1 s, 2 s, 4 s. `RELEASE_PIPELINE_RETRY_MS` sets the
/// first pause (tests use a short one).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let first = std::env::var("RELEASE_PIPELINE_RETRY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000u64);
    Duration::from_millis(first << (attempt - 2).min(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What cosign 2.5 prints for each refusal (seen on this machine kind).
    #[test]
    fn cosign_refusals() {
        let cases = [
            ("Error: no signatures found\nerror during command execution: no signatures found", CosignRefusal::Unsigned),
            (
                "Error: no matching signatures: invalid signature when validating ASN.1 encoded signature",
                CosignRefusal::OtherKey,
            ),
            (
                "Error: none of the attestations matched the predicate type: slsaprovenance1, found: https://cyclonedx.org/bom",
                CosignRefusal::NoSuchAttestation,
            ),
            ("Error: GET http://127.0.0.1:1/v2/: connection refused", CosignRefusal::Other),
        ];
        for (stderr, refusal) in cases {
            assert_eq!(cosign_refusal(stderr), refusal, "{stderr}");
        }
        assert!(cosign_wrong_password("Error: decrypt: encrypted: decryption failed"));
        assert!(!cosign_wrong_password("Error: reading key: no such file"));
    }

    /// cargo's hints come after its error, many lines of them: the whole text is read.
    #[test]
    fn a_missing_crate_version_with_hints_after_it() {
        let stderr = "    Updating `local` index\nerror: failed to select a version for the requirement `service = \"=0.1.0-dev.3\"`\ncandidate versions found which didn't match: 0.1.0-dev.2\nlocation searched: `local` index\nrequired by package `probe v0.0.0`\nif you are looking for the prerelease package it needs to be specified explicitly\n    service = { version = \"0.1.0-dev.2\" }\n";
        assert!(cargo_version_missing(stderr));
        assert!(cargo_version_missing("error: no matching package named `service` found\n"));
        assert!(!cargo_version_missing("error: failed to download from `http://127.0.0.1:1/`\n"));
        assert!(cargo_already_yanked("Caused by:\n  the remote server responded with an error: the specified crate, service v1.3.0, has already been marked as yanked\n"));
        assert!(!cargo_already_yanked("error: failed to yank from the registry\n"));
    }

    #[test]
    fn failures_are_classified() {
        let cases = [
            ("ERROR: 127.0.0.1:5000/acme/service:9.9.9: not found", Failure::NotFound),
            (
                "time=\"2026-12-07T00:26:46Z\" level=fatal msg=\"Unable to delete 127.0.0.1:47391/wtb/s@sha256:9c34. Image may not exist or is not stored with a v2 Schema in a v2 registry\"",
                Failure::NotFound,
            ),
            ("dial tcp 127.0.0.1:5000: connect: connection refused", Failure::Unreachable),
            ("login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized", Failure::Refused),
            ("ERROR: failed to push x: 401 Unauthorized", Failure::Refused),
            ("authorization failed: no basic auth credentials", Failure::Refused),
            ("the remote server responded with an error (status 403 Forbidden): invalid token", Failure::Refused),
            (
                "unexpected status from HEAD request to http://h/v2/a/manifests/t: 500 Internal Server Error",
                Failure::Transient,
            ),
            ("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer", Failure::Transient),
            ("Head \"http://127.0.0.1:5000/v2/\": EOF", Failure::Transient),
            ("net/http: TLS handshake timeout", Failure::Transient),
            ("dial tcp 10.0.0.1:443: i/o timeout", Failure::Transient),
            ("503 Service Unavailable", Failure::Transient),
            ("toomanyrequests: You have reached your pull rate limit", Failure::Transient),
            ("http2: server sent GOAWAY and closed the connection", Failure::Transient),
            ("dial tcp 10.0.0.1:443: connect: connection timed out", Failure::Transient),
            ("invalid reference format: repository name must be lowercase", Failure::Other),
            ("ERROR: failed to solve: process \"/bin/sh\" did not complete", Failure::Other),
        ];
        for (stderr, want) in cases {
            assert_eq!(classify(stderr), want, "{stderr}");
        }
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(2) * 2, backoff(3));
        assert_eq!(backoff(3) * 2, backoff(4));
    }
}
