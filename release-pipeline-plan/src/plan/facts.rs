//! What the read-only preflight gathered for the step planner (`steps.rs`, `sign.rs`): what the
//! registry and the cargo registry hold, decided; the host; the credentials there.
use camino::Utf8PathBuf;
use semver::Version;

use super::BuildAction;
use crate::{
    config::{SigningConfig, TargetConfig},
    platform::Platform,
    qemu,
    reference::Digest,
};

/// What the preflight read, for the step planner: the registry (as `BuildAction`s), the cargo
/// registry, the host and the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub root: Utf8PathBuf,
    /// The configured targets and the platform each serves.
    pub targets: Vec<TargetConfig>,
    /// This run's own scratch directory (buildx's metadata files go there).
    pub scratch_dir: Utf8PathBuf,
    /// `CARGO_HOME`, remapped out of the binaries.
    pub cargo_home: Option<String>,
    pub host_platform: Platform,
    /// Whether the engine keeps images in containerd (which holds multi-platform images).
    pub containerd_store: bool,
    pub qemu: qemu::HostQemu,
    /// The image that registers qemu handlers when the host cannot (`qemu-image`).
    pub qemu_image: String,
    /// The commit's time: the image's creation time and every mtime in the packages.
    pub epoch: i64,
    /// The repository's web address, from the CI environment.
    pub source_url: Option<String>,
    /// The repository's address as the provenance names it (the CI's, else the git remote's,
    /// without any credential; else the checkout's `file://` path).
    pub provenance_repository: String,
    /// The CI run's address, if any.
    pub run_url: Option<String>,
    /// The registry user when both credentials are in the environment (the password goes on
    /// stdin and is never part of a step).
    pub login_user: Option<String>,
    /// The run's private docker config (its `config.json` is skopeo's `--authfile`).
    pub authfile: Option<Utf8PathBuf>,
    pub builder: Option<String>,
    /// `--run`: the port to publish the started image on.
    pub run_port: Option<u16>,
    /// Per image of the plan: what the registry holds decided (`plan::reconcile`).
    pub actions: Vec<BuildAction>,
    /// Per mirror of the plan: its user when both its credentials are in the environment.
    pub mirror_users: Vec<Option<String>>,
    /// Per image of the plan, per mirror: what the mirror holds at the image's primary tag
    /// decided (`plan::reconcile` on the mirror's copy of the image).
    pub mirrors: Vec<Vec<BuildAction>>,
    /// Per crate of the plan: what the cargo registry holds decided.
    pub crates: Vec<CrateAction>,
    /// The key and public key a signing plan uses.
    pub signing: SigningConfig,
    /// Per image of the plan: whether the registry already holds the signature and the
    /// attestations of the digest it holds (a rerun does not sign twice).
    pub signed: Vec<bool>,
    /// `dist/SHA256SUMS` is there without its signature (a run stopped before signing it).
    pub sums_unsigned: bool,
    /// `--part TARGET`: this run does that target's share only.
    pub part: Option<String>,
    /// `merge`: what each image is assembled from, read from the parts' results.
    pub merge: Option<Merge>,
    /// The notes this run writes (read from git: the commits since the previous release).
    pub notes: Option<crate::notes::ReleaseNotes>,
}

/// What `merge` read from the parts: per image, the manifest digest of each platform (in the
/// plan's order), and the packages the parts built (for the provenance).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Merge {
    pub sources: Vec<Vec<(Platform, Digest)>>,
    pub packages: Vec<(String, crate::dist::Sha256)>,
}

/// What the cargo registry holds decided for one crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateAction {
    pub krate: String,
    pub version: Version,
    pub registry: String,
    pub state: PublishState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishState {
    Publish,
    /// Published before from this very commit: a rerun.
    AlreadyThere,
    /// A dev version published from another commit (two branches at the same distance).
    SkipDev {
        theirs: String,
    },
}

impl CrateAction {
    pub fn describe(&self) -> String {
        match &self.state {
            PublishState::Publish => format!("published to `{}`", self.registry),
            PublishState::AlreadyThere => format!("already in `{}` from this commit", self.registry),
            PublishState::SkipDev { theirs } => format!(
                "skipped: `{}` already has {} from commit {} (the branch's image tag is its own handle)",
                self.registry,
                self.version,
                super::short(Some(theirs))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the summary says of each crate.
    #[test]
    fn each_crate_state_is_said() {
        let action =
            |state| CrateAction { krate: "k".into(), version: Version::new(1, 2, 4), registry: "local".into(), state };
        assert_eq!(action(PublishState::Publish).describe(), "published to `local`");
        assert_eq!(action(PublishState::AlreadyThere).describe(), "already in `local` from this commit");
        assert_eq!(
            action(PublishState::SkipDev { theirs: "0123456789abcdef".into() }).describe(),
            "skipped: `local` already has 1.2.4 from commit 0123456789ab (the branch's image tag is its own handle)"
        );
    }
}
