//! A service: a released binary of the workspace, resolved (`services.rs` of the library reads
//! them from `cargo metadata` and the configuration).
use camino::Utf8PathBuf;

use crate::config::{DevReleasePolicy, ServiceConfig};

/// A released binary, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its name: local images, `--service` and the plan's `services` use it.
    pub name: String,
    /// The cargo package that builds it.
    pub package: String,
    /// The binary: packages are `dist/<bin>-<version>-<target>.tar.gz` with `bin/<bin>` inside.
    pub bin: String,
    /// The package's directory, relative to the root (its README goes into the packages).
    pub dir: Utf8PathBuf,
    /// The package's `license-file`, as its manifest writes it (relative to `dir`): packaged
    /// with the license files the directory holds.
    pub license_file: Option<Utf8PathBuf>,
    /// What its build reads, relative to the root: its package's directory and those of its path
    /// dependencies (`dev-release = "changed"` looks for changes there).
    pub sources: Vec<Utf8PathBuf>,
    pub dev_release: DevReleasePolicy,
    /// The table it came from (a default one when the workspace has none).
    pub table: ServiceConfig,
}

impl Service {
    /// A service whose package, binary and directory are all `name`, as tests need one.
    pub fn named(name: &str) -> Service {
        Service {
            name: name.to_owned(),
            package: name.to_owned(),
            bin: name.to_owned(),
            dir: name.into(),
            license_file: None,
            sources: vec![name.into()],
            dev_release: DevReleasePolicy::Always,
            table: ServiceConfig {
                name: None,
                package: name.to_owned(),
                bin: None,
                version_tag_prefix: None,
                image: None,
                publish: None,
                mirrors: None,
                dev_release: DevReleasePolicy::Always,
                run: None,
            },
        }
    }
}
