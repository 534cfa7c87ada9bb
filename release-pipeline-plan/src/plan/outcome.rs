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
