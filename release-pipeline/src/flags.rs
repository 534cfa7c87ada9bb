//! The command line, declared in one place. `lib.rs`'s `main` dispatches on [`XtaskCmd`].
#![allow(unreachable_pub)]
use std::path::PathBuf;

xflags::xflags! {
    /// The release machinery of this workspace. Examples:
    ///   cargo xtask version --format json
    ///   cargo xtask dev-release --local --run
    ///   cargo xtask release --dry-run
    cmd xtask {
        /// Errors and the final summary only.
        optional -q, --quiet
        /// Also show the output of every command run.
        optional -v, --verbose

        /// Print the version of the checkout, derived from git tags (last line of stdout).
        /// Example: cargo xtask version --format pep440
        cmd version {
            /// Only this service (repeatable; default: every service; see the README, Several services).
            repeated --service service: String
            /// semver (default), pep440 or json.
            optional --format format: String
            /// The repository to read (default: the current directory's).
            optional --repo repo: PathBuf
        }

        /// Print the release notes of a version (default: of the checkout, as a dev release writes
        /// them), from git alone: the commits since the previous release tag, grouped by
        /// Conventional Commits type. Example: cargo xtask notes 1.2.3 --format json
        cmd notes {
            /// The released version (as its version tag says it: 1.2.3).
            optional version: String
            /// The service whose notes (required with several services).
            optional --service service: String
            /// markdown (default) or json.
            optional --format format: String
        }

        /// Build each service for every configured target and package each build reproducibly
        /// in dist/ (with SHA256SUMS). Example: cargo xtask dist --target x86_64-unknown-linux-musl
        cmd dist {
            /// Only this service (repeatable; default: every service; see the README, Several services).
            repeated --service service: String
            /// Build only this target (repeatable).
            repeated --target target: String
            /// tar.gz (default) or zip.
            optional --format format: String
        }

        /// Copy the packages into each image context's pkg/, by platform, verified.
        /// Example: cargo xtask distcopy --from dist/ docker/pkg/ rpi-docker/pkg/
        cmd distcopy {
            /// Only this service (repeatable; default: every service; see the README, Several services).
            repeated --service service: String
            /// Where the packages are (default: dist/).
            optional --from from: PathBuf
            /// Only this platform's package (a part's share), e.g. linux/arm64.
            optional --platform platform: String
            /// Destination pkg/ directories (default: every configured context's).
            repeated pkg_dirs: PathBuf
        }

        /// Release the version tag at HEAD: build, package, push the version tags, then move
        /// X.Y, X and latest where this is the highest release. Example: cargo xtask release --dry-run
        cmd release {
            /// Only this service (repeatable; default: every service; see the README, Several services).
            repeated --service service: String
            /// Print the plan and do nothing.
            optional --dry-run
            /// Print the plan as JSON and do nothing.
            optional --json
            /// Push to this image repository instead of `image` (also RELEASE_REPOSITORY).
            optional --repository repository: String
            /// Build into the local Docker engine only; push nothing.
            optional --local
            /// The buildx builder to use (default: the current one).
            optional --builder builder: String
            /// After a local build, run the host-platform image until it is up (the service's `run`
            /// settings; default: GET /health) and show its /version.
            optional --run
            /// The host's port for --run (default 8080, on 127.0.0.1).
            optional --port port: u16
            /// One target's share only, for a release spread over machines: package it, build each
            /// context's image for its platform, push it under a staging tag, write
            /// dist/part-<target>.json for `merge`.
            optional --part target: String
        }

        /// Release the current branch as a dev build: images tagged with the branch name, never
        /// a version or latest. Example: cargo xtask dev-release --local --run
        cmd dev-release {
            /// Only this service (repeatable; default: every service; see the README, Several services).
            repeated --service service: String
            /// Print the plan and do nothing.
            optional --dry-run
            /// Print the plan as JSON and do nothing.
            optional --json
            /// The branch to name the images after (default: the checked-out branch).
            optional --branch branch: String
            /// Push to this image repository instead of `image` (also RELEASE_REPOSITORY).
            optional --repository repository: String
            /// Build into the local Docker engine only; push nothing.
            optional --local
            /// The buildx builder to use (default: the current one).
            optional --builder builder: String
            /// After a local build, run the host-platform image until it is up (the service's `run`
            /// settings; default: GET /health) and show its /version.
            optional --run
            /// The host's port for --run (default 8080, on 127.0.0.1).
            optional --port port: u16
            /// One target's share only, for a release spread over machines: package it, build each
            /// context's image for its platform, push it under a staging tag, write
            /// dist/part-<target>.json for `merge`.
            optional --part target: String
        }

        /// Check that everything the next release needs is in place, and say how to fix what
        /// is not. Example: cargo xtask doctor --json
        cmd doctor {
            /// One JSON array of {check, ok, detail, fix}.
            optional --json
        }

        /// Register qemu handlers for the configured foreign platforms (ARM) if missing.
        /// Example: cargo xtask qemu
        cmd qemu {}

        /// Publish the crates listed in `publish` to the cargo registry, with the computed
        /// version (the publish step of release/dev-release alone). Example: cargo xtask publish --dry-run
        cmd publish {
            /// Only this service (repeatable; default: every service; see the README, Several services).
            repeated --service service: String
            /// Show what would be published and do nothing.
            optional --dry-run
            /// The branch, on a detached HEAD (as for dev-release).
            optional --branch branch: String
        }

        /// Point every moving tag (X.Y, X, latest, per context prefix) at the highest release the
        /// registry holds that is not retracted. Example: cargo xtask reconcile --apply
        cmd reconcile {
            /// Make the changes (without it: print them and change nothing).
            optional --apply
            /// Print the steps as JSON.
            optional --json
            /// The image repository (default: `image`, or RELEASE_REPOSITORY).
            optional --repository repository: String
        }

        /// Delete dev tags of branches gone from the git remote (and, with --keep-days, dev and
        /// staging tags older than N days); version and moving tags are never pruned.
        /// Example: cargo xtask prune
        cmd prune {
            /// Delete them (without it: print every candidate with its reason and delete nothing).
            optional --apply
            /// Also prune dev and staging tags whose image was created more than N days ago
            /// (staging tags go only so).
            optional --keep-days days: u32
            /// Print the decisions and steps as JSON.
            optional --json
            /// The image repository (default: `image`, or RELEASE_REPOSITORY).
            optional --repository repository: String
        }

        /// Retract a released version: an annotated tag `retracted/<version tag>` records the
        /// reason, moving tags skip it from now on, its crates are yanked, and it is never
        /// released again. Example: cargo xtask retract 1.3.0 --reason 'corrupts the cache'
        cmd retract {
            /// The version (as its version tag says it: 1.3.0).
            required version: String
            /// Why, in a sentence: kept in the tag for every later run.
            required --reason reason: String
            /// Also push the retraction tag to the git remote.
            optional --push
            /// Print the steps and do nothing.
            optional --dry-run
            /// Print the steps as JSON and do nothing.
            optional --json
            /// The service whose version it is (required with several services).
            optional --service service: String
        }

        /// Check an image before trusting it: its signature against the committed public key,
        /// its provenance and SBOM attestations, the commit it was built from, and its
        /// platforms. Example: cargo xtask verify registry.example/acme/service:1.2.3
        cmd verify {
            /// The image: repo:tag or repo@sha256:….
            required image_ref: String
            /// The public key to check against (default: `signing.public-key`).
            optional --key key: PathBuf
            /// Then rebuild the release from its tag and compare every artifact (`rebuild --check`).
            optional --rebuild
        }

        /// In CI: decide from the CI environment (tag push: release; branch push: dev release;
        /// master/main: nothing; pull request: build only) and do it. Example: cargo xtask ci --dry-run
        cmd ci {
            /// Only this service (repeatable; default: every service; see the README, Several services).
            repeated --service service: String
            /// Print the plan and do nothing.
            optional --dry-run
            /// Print the plan as JSON and do nothing.
            optional --json
            /// Push to this image repository instead of `image` (also RELEASE_REPOSITORY).
            optional --repository repository: String
            /// The buildx builder to use (default: the current one).
            optional --builder builder: String
            /// One target's share only, for a release spread over machines: package it, build each
            /// context's image for its platform, push it under a staging tag, write
            /// dist/part-<target>.json for `merge`.
            optional --part target: String
        }

        /// Prove a published release: check out its version tag in a fresh clone, build its
        /// packages and images again (nothing is pushed) and compare each with what was published
        /// (packages with the signed provenance, manifests with the registry's).
        /// Example: cargo xtask rebuild 1.2.3 --check
        cmd rebuild {
            /// The version (as its version tag says it: 1.2.3).
            required version: String
            /// Fail (exit non-zero) when any artifact differs.
            optional --check
            /// Print the comparison as JSON.
            optional --json
            /// Only this service (repeatable; default: every service).
            repeated --service service: String
            /// The image repository (default: `image`, or RELEASE_REPOSITORY).
            optional --repository repository: String
            /// The public key the provenance is checked against (default: `signing.public-key`).
            optional --key key: PathBuf
        }

        /// Put a release spread over machines back together from its parts' results: check that
        /// every planned platform has a part of this commit and version, read each part's image
        /// back from the registry and check it, assemble each image from the parts' digests, then
        /// tag, verify, sign and publish as a release does. The commit, kind and branch are this
        /// checkout's (and the CI environment's), never the results' own say.
        /// Example: cargo xtask merge dist/part-*.json
        cmd merge {
            /// The parts' result files (dist/part-<target>.json).
            repeated parts: PathBuf
            /// Print the plan and do nothing.
            optional --dry-run
            /// Print the plan as JSON and do nothing.
            optional --json
            /// A dev release's branch, when HEAD is detached (default: the checked-out branch).
            optional --branch branch: String
            /// Push to this image repository instead of `image` (also RELEASE_REPOSITORY).
            optional --repository repository: String
        }
    }
}

/// The `release-pipeline` binary an adopter installs (`cargo install release-pipeline`).
pub mod tool {
    use std::path::PathBuf;

    xflags::xflags! {
        /// Sets a repository up for the release pipeline. Example: release-pipeline init --dry-run
        cmd release-pipeline {
            /// Adopt the pipeline in the repository of the current directory: the `xtask` package,
            /// the `cargo xtask` alias, the cross linkers, the configuration with the service
            /// binaries, a Dockerfile per context, .gitignore lines, the dev profile that makes the
            /// xtask build fast, the CI workflow, and Cargo.lock resolved for the xtask. Changes
            /// nothing it did not write; a second run changes nothing.
            /// Example: release-pipeline init --bin server --dry-run
            cmd init {
                /// Depend on a checkout of the crate in this directory (like `cargo add --path`).
                optional --path path: PathBuf
                /// Depend on the crate from this registry of cargo's configuration, by version.
                optional --registry registry: String
                /// A service binary (repeatable; needed when the workspace has several binaries).
                repeated --bin bin: String
                /// A Rust target to build (repeatable; default: x86_64-unknown-linux-musl,
                /// aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf).
                repeated --target target: String
                /// The CI system: github (default: .github/workflows/release-pipeline.yml),
                /// gitlab (.gitlab-ci.yml) or none.
                optional --ci ci: String
                /// The xtask in a workspace of its own, with its own Cargo.lock: its dependencies
                /// never change your binaries' (the alias then uses --manifest-path).
                optional --separate-lockfile
                /// The image repository to push to (`image`; default: local images only).
                optional --image image: String
                /// The CI repository (owner/name) allowed to push (`release-repository`).
                optional --release-repository repository: String
                /// Show every file init would write and the command it would run; change nothing.
                optional --dry-run
            }
        }
    }
}
