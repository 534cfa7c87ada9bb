//! `retract`'s steps, decided from what the library read (pure): the annotated git tag
//! `retracted/<version tag>` (or a skip when it is there already), its push, a yank of each
//! published crate, and with signing on a signed retraction attestation on each context's image
//! at that version (a skip for an image the registry does not hold, or for all of them when the
//! key is not here). `--dry-run` shows exactly what the run then does.
use camino::Utf8Path;
use semver::Version;

use super::{sign, step::Step, steps};
use crate::{
    config::SigningConfig,
    reference::{Digest, ImageRef},
};

/// What `retract` read before deciding.
#[derive(Debug, Clone)]
pub struct Retraction<'a> {
    /// The version tag (`1.2.3`, `v1.2.3`, `rpi-1.2.3`…) and the version it names.
    pub tag: &'a str,
    pub version: &'a Version,
    /// The commit the tag names.
    pub commit: &'a str,
    pub reason: &'a str,
    /// The reason of a retraction already made, if there is one.
    pub already: Option<&'a str>,
    /// Whether git knows who tags (`git var GIT_COMMITTER_IDENT`); if not, the tag is made by
    /// `release-pipeline`.
    pub identity: bool,
    /// The git remote to push the tag to (`--push`).
    pub push: Option<&'a str>,
    /// The crates published with each release, and the cargo registry they are in (`None`: no
    /// registry configured, so nothing to yank).
    pub crates: &'a [String],
    pub cargo_registry: Option<&'a str>,
    pub signing: &'a SigningConfig,
    /// With signing on, each context's image at the version tag, as read; none with signing off.
    pub images: Vec<HeldRelease>,
    /// Why nothing can be attested here (the key or its password missing), if so.
    pub cannot_attest: Option<String>,
    /// The retraction's predicate (`dist/`), written before the first attestation.
    pub predicate: &'a Utf8Path,
}

/// A context's image at the retracted version, as the registry holds it.
#[derive(Debug, Clone)]
pub struct HeldRelease {
    /// The context's index in the configuration.
    pub image: usize,
    pub repository: String,
    /// Its version tag (with the context's prefix).
    pub tag: String,
    /// The digest there (`None`: the registry does not hold it).
    pub digest: Option<Digest>,
}

/// The name of the tag that records a retraction of `tag`.
pub fn retraction_tag(tag: &str) -> String {
    format!("retracted/{tag}")
}

pub fn steps(r: &Retraction<'_>) -> Vec<Step> {
    let name = retraction_tag(r.tag);
    let mut out = Vec::new();
    match r.already {
        Some(why) => out.push(skip(format!("the tag {name}"), format!("{} is retracted already ({why})", r.tag))),
        None => out.push(Step::GitTag {
            argv: git_tag_argv(r.identity, r.reason, &name, r.commit),
            name: name.clone(),
            commit: r.commit.to_owned(),
            message: r.reason.to_owned(),
        }),
    }
    if let Some(remote) = r.push {
        out.push(Step::GitPush {
            argv: ["git", "push", remote, &format!("refs/tags/{name}")].map(str::to_owned).to_vec(),
            name: name.clone(),
        });
    }
    if let Some(registry) = r.cargo_registry {
        for krate in r.crates {
            out.push(Step::Yank {
                argv: steps::yank_argv(registry, krate, r.version),
                krate: krate.clone(),
                version: r.version.clone(),
                registry: registry.to_owned(),
            });
        }
    }
    for held in &r.images {
        let what = format!("attest the retraction on {}", ImageRef::tag(&held.repository, &held.tag));
        match (&held.digest, &r.cannot_attest) {
            (None, _) => out.push(skip(what, "the registry does not hold it".to_owned())),
            // The git tag is the retraction; the attestation is extra evidence for deployers.
            (Some(_), Some(why)) => {
                out.push(skip(what, format!("{why}; run retract again where the key is to attest it")))
            }
            (Some(digest), None) => {
                out.push(sign::retraction_step(r.signing, held.image, &held.repository, digest.as_str(), r.predicate))
            }
        }
    }
    out
}

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

fn skip(what: String, why: String) -> Step {
    Step::Skip { what, why, image: None, digest: None, argv: Vec::new() }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::plan::step::render;

    fn held(image: usize, tag: &str, digest: Option<u8>) -> HeldRelease {
        HeldRelease { image, repository: "r/s".into(), tag: tag.into(), digest: digest.map(Digest::for_test) }
    }

    fn retraction<'a>(version: &'a Version, signing: &'a SigningConfig, crates: &'a [String]) -> Retraction<'a> {
        Retraction {
            tag: "v1.2.3",
            version,
            commit: "c0ffee",
            reason: "broken",
            already: None,
            identity: true,
            push: None,
            crates,
            cargo_registry: None,
            signing,
            images: Vec::new(),
            cannot_attest: None,
            predicate: Utf8Path::new("dist/retraction.json"),
        }
    }

    /// Each read decides a line: the tag or why not, the push, one yank per crate, one
    /// attestation per image the registry holds, or why not.
    #[test]
    fn what_was_read_decides_each_step() {
        let (version, signing, crates) = (Version::new(1, 2, 3), SigningConfig::default(), vec!["k".to_owned()]);
        let plain = retraction(&version, &signing, &crates);
        let kinds = |r: &Retraction| steps(r).iter().map(|s| s.kind()).collect::<Vec<_>>().join(" ");
        assert_eq!(kinds(&plain), "git-tag", "no registry: nothing to yank; signing off: nothing to attest");
        let everything = Retraction {
            push: Some("origin"),
            cargo_registry: Some("local"),
            images: vec![held(0, "1.2.3", Some(1)), held(1, "rpi-1.2.3", None)],
            ..plain.clone()
        };
        expect![[r#"
            step  1: git-tag       tag c0ffee as retracted/v1.2.3: broken
                      $ git tag --annotate --message broken retracted/v1.2.3 c0ffee
            step  2: git-push      push the tag retracted/v1.2.3
                      $ git push origin refs/tags/retracted/v1.2.3
            step  3: yank          yank k 1.2.3 from `local`
                      $ cargo yank --version 1.2.3 --registry local k
            step  4: attest        attest https://release-pipeline.dev/retraction/v1 on r/s@sha256:0101010101010101010101010101010101010101010101010101010101010101
                      $ cosign attest --yes --key env://COSIGN_PRIVATE_KEY '--tlog-upload=false' --type https://release-pipeline.dev/retraction/v1 --predicate dist/retraction.json r/s@sha256:0101010101010101010101010101010101010101010101010101010101010101
            step  5: skip          skip attest the retraction on r/s:rpi-1.2.3: the registry does not hold it
        "#]]
        .assert_eq(&render(&steps(&everything)));
        let again = Retraction { already: Some("broken"), identity: false, ..everything.clone() };
        let first = &steps(&again)[0];
        assert_eq!(
            (first.kind(), first.command_line().is_empty()),
            ("skip", true),
            "a retraction is made once: {first:?}"
        );
        let no_key = Retraction { cannot_attest: Some("the key is not here".into()), ..everything };
        let last = steps(&no_key).iter().map(|s| s.kind()).collect::<Vec<_>>();
        assert_eq!(last, ["git-tag", "git-push", "yank", "skip", "skip"], "the key away: the tag still goes");
    }

    /// Where git knows no identity (a CI runner), the tag is still made, by `release-pipeline`.
    #[test]
    fn a_runner_without_a_git_identity_still_tags() {
        let (version, signing) = (Version::new(1, 2, 3), SigningConfig::default());
        let r = Retraction { identity: false, ..retraction(&version, &signing, &[]) };
        let argv = steps(&r)[0].command_line().join(" ");
        assert!(
            argv.starts_with("git -c user.name=release-pipeline -c user.email=release-pipeline@localhost tag"),
            "{argv}"
        );
    }
}
