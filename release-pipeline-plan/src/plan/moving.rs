//! Where a moving tag (`X.Y`, `X`, `latest`) may land: only on a release that is ours, complete
//! and, when signing is on, signed. A version tag's name in the registry is a claim anyone with
//! push access can make; the evidence here is what the registry holds at it (its labels, every
//! context's tag, its signature) checked against git (the version's tag and retractions).
//! Pure: the reads are made by `releases.rs`, which asks only for the candidates it needs.
use semver::Version;

use super::RemoteImage;
use crate::{platform::Platform, tags};

/// What was read of one release candidate: a version whose tags the registry lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evidence {
    /// The commit the version's git tag names, `None` when this repository has no such tag.
    pub git_commit: Option<String>,
    /// Whether a retraction (`retracted/<tag>`, here or on the git remote) names the version.
    pub retracted: bool,
    /// Each context: its version tag (`rpi-1.2.3`), what it builds, and what the tag holds.
    pub contexts: Vec<ContextEvidence>,
    /// Whether every context's image verifies with the configured public key; `None` when
    /// signing is off.
    pub signed: Option<bool>,
}

/// One context's version tag of a candidate release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEvidence {
    pub tag: String,
    pub dir: String,
    pub platforms: Vec<Platform>,
    /// What the tag holds, as read (its labels are inside its config, so covered by its digest
    /// and signature); `None`: the tag is missing.
    pub held: Option<RemoteImage>,
}

/// Why a release may carry no moving tag, or `None` when it may: it is retracted; no git tag
/// of its version is in this repository (someone else pushed it); a context lacks its tag (a
/// release stopped half-way); a context's image was built from another commit than the git
/// tag's, or as another version (a signed image of ours copied to a higher version's tag), or
/// is a dev build, or is another context's image; it is not signed with the configured key.
pub fn disqualified(version: &Version, evidence: &Evidence) -> Option<String> {
    if evidence.retracted {
        return Some(format!("{version} is retracted"));
    }
    let Some(commit) = &evidence.git_commit else {
        return Some(format!("{version} has no git tag in this repository: it is not a release of ours"));
    };
    for ContextEvidence { tag, dir, platforms, held } in &evidence.contexts {
        let Some(held) = held else {
            return Some(format!("{version} is not complete: {tag} is missing"));
        };
        if let Some(why) = super::not_of_context(dir, platforms, held) {
            return Some(format!("{tag} is not {dir}/'s image of {version}: {why}"));
        }
        match &held.revision {
            None => return Some(format!("{tag} records no commit: not ours")),
            Some(revision) if revision != commit => {
                return Some(format!(
                    "{tag} was built from commit {revision}, but the git tag of {version} is commit {commit}: not ours"
                ))
            }
            Some(_) => {}
        }
        if let Some(branch) = &held.branch {
            return Some(format!("{tag} is a dev build of branch {branch}: not a release"));
        }
        // Build metadata aside: a version tag has none.
        let built_as = held.version.as_deref().and_then(|v| Version::parse(v).ok());
        if !built_as.is_some_and(|v| v.cmp_precedence(version).is_eq()) {
            return Some(format!(
                "{tag} was built as version {}, not {version}: not ours",
                held.version.as_deref().unwrap_or("(none recorded)")
            ));
        }
    }
    if evidence.signed == Some(false) {
        return Some(format!("{version} is not signed with the configured key"));
    }
    None
}

/// The home of `moving`: the highest release among `released` that it covers and that `check`
/// (a release's disqualification, read when first needed) lets through. Also the higher ones
/// passed over, each with its reason.
pub fn home<'a, E>(
    moving: &str,
    released: &'a [Version],
    mut check: impl FnMut(&Version) -> Result<Option<String>, E>,
) -> Result<(Option<&'a Version>, Vec<String>), E> {
    let mut passed_over = Vec::new();
    for candidate in tags::moving_tag_candidates(moving, released) {
        match check(candidate)? {
            None => return Ok((Some(candidate), passed_over)),
            Some(why) => passed_over.push(why),
        }
    }
    Ok((None, passed_over))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    const OURS: &str = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff";

    fn held(revision: &str, version: &str) -> Option<RemoteImage> {
        Some(RemoteImage {
            digest: crate::reference::Digest::for_test(0xd),
            platforms: vec!["linux/arm/v7".into()],
            manifests: Default::default(),
            revision: Some(revision.into()),
            version: Some(version.into()),
            context: None,
            entries: 0,
            branch: None,
            created: None,
            source: None,
        })
    }

    fn context(tag: &str, dir: &str, held: Option<RemoteImage>) -> ContextEvidence {
        ContextEvidence { tag: tag.into(), dir: dir.into(), platforms: vec!["linux/arm/v7".into()], held }
    }

    fn ours() -> Evidence {
        Evidence {
            git_commit: Some(OURS.into()),
            retracted: false,
            contexts: vec![
                context("1.2.3", "docker", held(OURS, "1.2.3")),
                context("rpi-1.2.3", "rpi-docker", held(OURS, "1.2.3")),
            ],
            signed: Some(true),
        }
    }

    #[test]
    fn only_a_complete_signed_release_of_ours_carries_a_moving_tag() {
        let version = v("1.2.3");
        assert_eq!(disqualified(&version, &ours()), None);
        assert_eq!(disqualified(&version, &Evidence { signed: None, ..ours() }), None, "signing off");
        let reason = |evidence: Evidence| disqualified(&version, &evidence).unwrap();
        assert_eq!(reason(Evidence { retracted: true, ..ours() }), "1.2.3 is retracted");
        assert_eq!(
            reason(Evidence { git_commit: None, ..ours() }),
            "1.2.3 has no git tag in this repository: it is not a release of ours"
        );
        let mut half = ours();
        half.contexts[1].held = None;
        assert_eq!(reason(half), "1.2.3 is not complete: rpi-1.2.3 is missing");
        let mut unlabelled = ours();
        unlabelled.contexts[1].held.as_mut().unwrap().revision = None;
        assert_eq!(reason(unlabelled), "rpi-1.2.3 records no commit: not ours");
        // A signed image of ours (1.2.0) copied to a higher version's tag, with a git tag of that
        // version pushed on its commit: its label still says 1.2.0.
        let mut copied = ours();
        copied.contexts[0].held = held(OURS, "1.2.0");
        assert_eq!(reason(copied), "1.2.3 was built as version 1.2.0, not 1.2.3: not ours");
        let mut dev = ours();
        dev.contexts[1].held.as_mut().unwrap().branch = Some("main".into());
        assert_eq!(reason(dev), "rpi-1.2.3 is a dev build of branch main: not a release");
        let mut built = ours();
        built.contexts[0].held = held(OURS, "1.2.3+build7");
        assert_eq!(disqualified(&version, &built), None, "build metadata is no part of the tag");
        let mut foreign = ours();
        foreign.contexts[0].held = held(&"1".repeat(40), "1.2.3");
        assert_eq!(
            reason(foreign),
            format!(
                "1.2.3 was built from commit {}, but the git tag of 1.2.3 is commit {OURS}: not ours",
                "1".repeat(40)
            )
        );
        assert_eq!(reason(Evidence { signed: Some(false), ..ours() }), "1.2.3 is not signed with the configured key");
        // Another context's signed image of the same version (the docker/ index's arm/v7
        // manifest put at rpi-1.2.3), or fewer platforms than the context builds.
        let mut swapped = ours();
        swapped.contexts[1].held.as_mut().unwrap().context = Some("docker".into());
        assert_eq!(
            reason(swapped),
            "rpi-1.2.3 is not rpi-docker/'s image of 1.2.3: it was built from docker/, not rpi-docker/"
        );
        let mut stripped = ours();
        stripped.contexts[0].platforms.push("linux/amd64".into());
        assert_eq!(
            reason(stripped),
            "1.2.3 is not docker/'s image of 1.2.3: it holds linux/arm/v7, not the linux/amd64, linux/arm/v7 of docker/"
        );
    }

    #[test]
    fn a_moving_tag_passes_over_what_does_not_qualify() {
        let released = [v("1.2.0"), v("1.3.0"), v("9.9.9"), v("1.4.0-rc.1")];
        let foreign =
            |candidate: &Version| Ok::<_, ()>((candidate.major == 9).then(|| format!("{candidate} is foreign")));
        assert_eq!(home("latest", &released, foreign), Ok((Some(&released[1]), vec!["9.9.9 is foreign".to_owned()])));
        assert_eq!(home("1", &released, foreign), Ok((Some(&released[1]), vec![])));
        let nothing = |candidate: &Version| Ok::<_, ()>(Some(format!("{candidate} no")));
        assert_eq!(home("1", &released, nothing), Ok((None, vec!["1.3.0 no".to_owned(), "1.2.0 no".to_owned()])));
        assert_eq!(home("1", &released, |_| Err("unreadable")), Err("unreadable"));
        // Asked lazily: the highest that qualifies ends the search.
        let mut asked = Vec::new();
        let _ = home("latest", &released, |c| {
            asked.push(c.to_string());
            Ok::<_, ()>(None)
        });
        assert_eq!(asked, ["9.9.9"]);
    }
}
