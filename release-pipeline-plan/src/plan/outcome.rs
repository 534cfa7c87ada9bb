//! What each step of a run did (`Outcome`), and the rules that read it (`Record`): whether a
//! step's condition holds, and which digest a reference names. Pure: the executor records, the
//! summary reads.
use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use super::step::{Arg, DigestRef, Step, StepId, When};
use crate::{platform::Platform, reference::Digest};

/// What a step did: what later steps' conditions and digest references read, and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Wrote or read back an image: its digest and, for an index, each platform's manifest.
    Image {
        digest: Digest,
        manifests: BTreeMap<Platform, Digest>,
    },
    /// A re-read found the write done already, by a run of ours: this digest stands for it.
    Found {
        digest: Digest,
    },
    /// A re-read found a newer build there: the image is left alone.
    Leave {
        why: String,
    },
    /// A moving-tag step: the tags now on their release, and those left where they were.
    Moved(MovedTags),
    /// Not run: the step `because` names did not do what this one's condition asks.
    Skipped {
        because: StepId,
    },
}

impl Outcome {
    pub fn image(digest: Digest) -> Outcome {
        Outcome::Image { digest, manifests: BTreeMap::new() }
    }
}

/// The steps and what those run so far did: conditions and references are read from it.
pub struct Record<'a> {
    pub steps: &'a [Step],
    pub outcomes: &'a [Outcome],
}

impl Record<'_> {
    /// The digest step `id` left: its own, or, passed over, that of the step it stood for.
    pub fn digest_of(&self, id: StepId) -> Option<&Digest> {
        match self.outcomes.get(id.0)? {
            Outcome::Image { digest, .. } | Outcome::Found { digest } => Some(digest),
            Outcome::Skipped { because } => self.digest_of(*because),
            _ => None,
        }
    }

    /// What a reference names, once the step it names ran.
    pub fn digest(&self, reference: &DigestRef) -> Result<Digest> {
        match reference {
            DigestRef::Known(digest) => Ok(digest.clone()),
            DigestRef::Of { step, platform: None } => {
                self.digest_of(*step).cloned().with_context(|| format!("{step} left no digest"))
            }
            DigestRef::Of { step, platform: Some(platform) } => match self.outcomes.get(step.0) {
                Some(Outcome::Image { manifests, digest }) => manifests
                    .get(platform)
                    .cloned()
                    .with_context(|| format!("{digest} ({step}) has no {platform} manifest")),
                _ => bail!("{step} read no image"),
            },
        }
    }

    /// A command line with the digests it references filled in.
    pub fn argv(&self, args: &[Arg]) -> Result<Vec<String>> {
        args.iter()
            .map(|arg| match arg {
                Arg::Lit(word) => Ok(word.clone()),
                Arg::Digest { prefix, digest } => Ok(format!("{prefix}{}", self.digest(digest)?)),
            })
            .collect()
    }

    /// The step a condition waits on, when it is not met.
    pub fn unmet(&self, when: Option<When>) -> Option<StepId> {
        match when? {
            When::Ran(id) => match self.outcomes.get(id.0) {
                Some(Outcome::Done | Outcome::Image { .. } | Outcome::Moved(_)) => None,
                _ => Some(id),
            },
            When::Digest(id) => self.digest_of(id).is_none().then_some(id),
        }
    }
}

/// What `move_tags` did: the moving tags now on their release (confirmed by the last read), and
/// the ones left on a higher release, with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MovedTags {
    pub at_home: Vec<String>,
    pub kept: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::for_test(n)
    }

    /// The rules `run_steps` reads outcomes by: a step passed over stands for the step it waited
    /// on; a condition holds only on what a step did; a reference names exactly one digest.
    #[test]
    fn outcomes_are_read_by_the_rules() {
        let arm: Platform = "linux/arm64".into();
        let outcomes = vec![
            Outcome::Found { digest: d(1) },
            Outcome::Skipped { because: StepId(0) },
            Outcome::Image { digest: d(2), manifests: [(arm.clone(), d(3))].into() },
            Outcome::Leave { why: "newer".into() },
            Outcome::Skipped { because: StepId(3) },
            Outcome::Done,
            Outcome::Moved(MovedTags::default()),
        ];
        let record = Record { steps: &[], outcomes: &outcomes };
        // Digests: its own, or the one the step it stood for found; none from a left image.
        assert_eq!(record.digest_of(StepId(0)), Some(&d(1)));
        assert_eq!(record.digest_of(StepId(1)), Some(&d(1)), "passed over, it stands for step 1's find");
        assert_eq!(record.digest_of(StepId(2)), Some(&d(2)));
        assert_eq!(record.digest_of(StepId(3)), None);
        assert_eq!(record.digest_of(StepId(4)), None);
        assert_eq!(record.digest_of(StepId(5)), None);
        assert_eq!(record.digest_of(StepId(9)), None, "a step not run yet");
        // Conditions.
        assert_eq!(record.unmet(None), None);
        assert_eq!(record.unmet(Some(When::Ran(StepId(2)))), None);
        assert_eq!(record.unmet(Some(When::Ran(StepId(5)))), None);
        assert_eq!(record.unmet(Some(When::Ran(StepId(6)))), None, "a move ran");
        for (id, why) in [(0, "found, not ran"), (1, "passed over"), (3, "left"), (9, "not yet")] {
            assert_eq!(record.unmet(Some(When::Ran(StepId(id)))), Some(StepId(id)), "{why}");
        }
        assert_eq!(record.unmet(Some(When::Digest(StepId(1)))), None);
        assert_eq!(record.unmet(Some(When::Digest(StepId(4)))), Some(StepId(4)));
        // References.
        assert_eq!(record.digest(&DigestRef::Known(d(7))).unwrap(), d(7));
        assert_eq!(record.digest(&DigestRef::of(StepId(1))).unwrap(), d(1));
        let platform = |step: usize, p: &str| DigestRef::Of { step: StepId(step), platform: Some(p.into()) };
        assert_eq!(record.digest(&platform(2, "linux/arm64")).unwrap(), d(3));
        let no_such = record.digest(&platform(2, "linux/amd64")).unwrap_err().to_string();
        assert!(no_such.contains("has no linux/amd64 manifest"), "{no_such}");
        assert_eq!(record.digest(&platform(0, "linux/arm64")).unwrap_err().to_string(), "step 1 read no image");
        assert_eq!(record.digest(&DigestRef::of(StepId(3))).unwrap_err().to_string(), "step 4 left no digest");
        let argv = [Arg::Lit("cosign".into()), Arg::Digest { prefix: "r/s@".into(), digest: DigestRef::of(StepId(2)) }];
        assert_eq!(record.argv(&argv).unwrap(), ["cosign".to_owned(), format!("r/s@{}", d(2))]);
        assert!(record.argv(&[Arg::Digest { prefix: String::new(), digest: DigestRef::of(StepId(3)) }]).is_err());
        assert_eq!(Outcome::image(d(4)), Outcome::Image { digest: d(4), manifests: BTreeMap::new() });
    }
}
