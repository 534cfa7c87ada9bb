//! The command line, declared in one place. `main.rs` dispatches on [`XtaskCmd`].
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
            /// semver (default), pep440 or json.
            optional --format format: String
            /// The repository to read (default: the current directory's).
            optional --repo repo: PathBuf
        }

        /// Build the service for every configured target and package each build reproducibly
        /// in dist/ (with SHA256SUMS). Example: cargo xtask dist --target x86_64-unknown-linux-musl
        cmd dist {
            /// Build only this target (repeatable).
            repeated --target target: String
            /// tar.gz (default) or zip.
            optional --format format: String
        }

        /// Copy the packages into each image context's pkg/, by platform, verified.
        /// Example: cargo xtask distcopy dist/ docker/pkg/ rpi-docker/pkg/
        cmd distcopy {
            /// Where the packages are (default: dist/).
            optional --from from: PathBuf
            /// Destination pkg/ directories (default: every configured context's).
            repeated pkg_dirs: PathBuf
        }
    }
}
