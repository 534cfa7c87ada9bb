//! Where a moving tag (`X.Y`, `X`, `latest`) may land: only on a release that is ours, complete
//! and, when signing is on, signed. A version tag's name in the registry is a claim anyone with
//! push access can make; the evidence here is what the registry holds at it (its revision label,
//! every context's tag, its signature) checked against git (the version's tag and retractions).
//! Pure: the reads are made by `releases.rs`, which asks only for the candidates it needs.
use semver::Version;

use crate::tags;

/// What was read of one release candidate: a version whose tags the registry lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Evidence {
    /// The commit the version's git tag names, `None` when this repository has no such tag.
    pub(crate) git_commit: Option<String>,
    /// Whether a retraction (`retracted/<tag>`, here or on the git remote) names the version.
    pub(crate) retracted: bool,
    /// Each context's version tag (`rpi-1.2.3`) and the revision label of what it holds (`None`:
    /// the tag is missing or has no label).
    pub(crate) contexts: Vec<(String, Option<String>)>,
    /// Whether the version tag's digest verifies with the configured public key; `None` when
    /// signing is off.
    pub(crate) signed: Option<bool>,
}

/// Why a release may carry no moving tag, or `None` when it may: it is retracted; no git tag
/// of its version is in this repository (someone else pushed it); a context lacks its tag (a
/// release stopped half-way); a context's image was built from another commit than the git
/// tag's; it is not signed with the configured key.
pub(crate) fn disqualified(version: &Version, evidence: &Evidence) -> Option<String> {
    if evidence.retracted {
        return Some(format!("{version} is retracted"));
    }
    let Some(commit) = &evidence.git_commit else {
        return Some(format!("{version} has no git tag in this repository: it is not a release of ours"));
    };
    for (tag, revision) in &evidence.contexts {
        match revision {
            None => return Some(format!("{version} is not complete: {tag} is missing or records no commit")),
            Some(revision) if revision != commit => {
                return Some(format!(
                    "{tag} was built from commit {revision}, but the git tag of {version} is commit {commit}: not ours"
                ))
            }
            Some(_) => {}
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
pub(crate) fn home<'a, E>(
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

    fn ours() -> Evidence {
        Evidence {
            git_commit: Some(OURS.into()),
            retracted: false,
            contexts: vec![("1.2.3".into(), Some(OURS.into())), ("rpi-1.2.3".into(), Some(OURS.into()))],
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
        half.contexts[1].1 = None;
        assert_eq!(reason(half), "1.2.3 is not complete: rpi-1.2.3 is missing or records no commit");
        let mut foreign = ours();
        foreign.contexts[0].1 = Some("1".repeat(40));
        assert_eq!(
            reason(foreign),
            format!(
                "1.2.3 was built from commit {}, but the git tag of 1.2.3 is commit {OURS}: not ours",
                "1".repeat(40)
            )
        );
        assert_eq!(reason(Evidence { signed: Some(false), ..ours() }), "1.2.3 is not signed with the configured key");
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
