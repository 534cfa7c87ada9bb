//! The workspace's services: the `[[service]]` tables (or, without any, the workspace's one
//! binary package) checked against the packages `cargo metadata` reports. No crate, binary or
//! directory name is written anywhere else in the pipeline: it reads them from a [`Service`].
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;
use xshell::cmd;

pub(crate) use release_pipeline_plan::service::Service;

use crate::{
    config::{Config, DevReleasePolicy, ServiceConfig, TABLE},
    error,
    exec::Exec,
};

/// The package every workspace's release machinery lives in: never a service.
const XTASK_PACKAGE: &str = "xtask";
/// The pipeline's own package, whose binary (`release-pipeline init`) is no service either: a
/// member of this repository's workspace, a dependency of an adopter's.
const PIPELINE_PACKAGE: &str = env!("CARGO_PKG_NAME");

/// What `cargo metadata --format-version 1` prints, the part read: the services (with
/// `--no-deps`) and the SBOMs (`attest.rs`, with the graph resolved for one target).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) packages: Vec<Package>,
    pub(crate) workspace_members: Vec<String>,
    /// `null` with `--no-deps`.
    pub(crate) resolve: Option<Resolve>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Package {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) license: Option<String>,
    /// `license-file`, as the manifest writes it (relative to the package's directory).
    pub(crate) license_file: Option<Utf8PathBuf>,
    pub(crate) manifest_path: Utf8PathBuf,
    pub(crate) targets: Vec<Target>,
    pub(crate) dependencies: Vec<Dependency>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Resolve {
    pub(crate) nodes: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) deps: Vec<NodeDep>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct NodeDep {
    pub(crate) pkg: String,
    pub(crate) dep_kinds: Vec<DepKind>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DepKind {
    /// `null` for a normal dependency, `"build"` or `"dev"` otherwise.
    pub(crate) kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) kind: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Dependency {
    /// Set for a path dependency only.
    pub(crate) path: Option<Utf8PathBuf>,
}

impl Package {
    pub(crate) fn bins(&self) -> Vec<&str> {
        self.targets.iter().filter(|t| t.kind.iter().any(|k| k == "bin")).map(|t| t.name.as_str()).collect()
    }

    fn dir(&self) -> &Utf8Path {
        self.manifest_path.parent().unwrap_or(Utf8Path::new(""))
    }
}

/// `cargo metadata --no-deps` of the workspace at `root` (no dependency resolution, no network).
pub(crate) fn metadata(exec: &Exec, root: &Utf8Path) -> Result<Metadata> {
    let exec = exec.in_dir(root);
    // The cargo that runs `cargo xtask` (it sets CARGO), so one toolchain reads and builds.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let json = exec.exec(
        cmd!(exec.sh, "{cargo} metadata --format-version 1 --no-deps"),
        "reading the workspace's packages (cargo metadata)",
    )?;
    serde_json::from_str(&json).context("parsing cargo metadata")
}

/// Every service of the workspace, in the configuration's order.
pub(crate) fn resolve(root: &Utf8Path, config: &Config, metadata: &Metadata) -> Result<Vec<Service>> {
    let members: Vec<&Package> =
        metadata.packages.iter().filter(|p| metadata.workspace_members.contains(&p.id)).collect();
    let names = || members.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
    let tables = if config.service.is_empty() {
        let candidates: Vec<&&Package> = members
            .iter()
            .filter(|p| ![XTASK_PACKAGE, PIPELINE_PACKAGE].contains(&p.name.as_str()) && !p.bins().is_empty())
            .collect();
        match candidates.as_slice() {
            [only] => vec![ServiceConfig {
                name: None,
                package: only.name.clone(),
                bin: None,
                version_tag_prefix: None,
                image: None,
                publish: None,
                mirrors: None,
                dev_release: DevReleasePolicy::Always,
                run: None,
            }],
            [] => bail!(
                "the workspace has no binary package besides {XTASK_PACKAGE} to release (its packages are {}): add a [[{TABLE}.service]] table",
                names()
            ),
            several => {
                return Err(error::error_with_help(
                    format!(
                        "the workspace has several binary packages ({}) and no [[{TABLE}.service]] table to say which are released",
                        several.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    "add a [[workspace.metadata.release-pipeline.service]] table with `package = \"…\"` for each released one (README: \"Several services\")",
                ))
            }
        }
    } else {
        config.service.clone()
    };
    let mut services = Vec::new();
    for table in tables {
        let name = table.name().to_owned();
        let Some(package) = members.iter().find(|p| p.name == table.package) else {
            bail!(
                "`service.package` of service `{name}`: the workspace has no package `{}` (its packages are {})",
                table.package,
                names()
            );
        };
        let bins = package.bins();
        let bin = match (&table.bin, bins.as_slice()) {
            (Some(bin), bins) if bins.contains(&bin.as_str()) => bin.clone(),
            (Some(bin), bins) => bail!(
                "`service.bin` of service `{name}`: package `{}` has no binary `{bin}` (its binaries: {})",
                package.name,
                if bins.is_empty() { "none".to_owned() } else { bins.join(", ") }
            ),
            (None, [only]) => (*only).to_owned(),
            (None, []) => bail!(
                "`service.package` of service `{name}`: package `{}` has no binary target, so there is nothing to release",
                package.name
            ),
            (None, several) => bail!(
                "`service.bin` of service `{name}`: package `{}` has several binaries ({}); name the released one with `bin`",
                package.name,
                several.join(", ")
            ),
        };
        let relative = |dir: &Utf8Path| dir.strip_prefix(root).map(Utf8Path::to_owned).ok();
        let dir = relative(package.dir()).unwrap_or_default();
        services.push(Service {
            name,
            package: package.name.clone(),
            bin,
            sources: sources(root, package, &members),
            dir,
            license_file: package.license_file.clone(),
            dev_release: table.dev_release,
            table,
        });
    }
    for context in &config.context {
        if let Some(named) = &context.service {
            if !services.iter().any(|s| &s.name == named) {
                bail!(
                    "context `{}`: `service = \"{named}\"` names no service (the service is {})",
                    context.dir,
                    services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
        }
    }
    Ok(services)
}

/// The directories a package's build reads inside the workspace: its own and, following path
/// dependencies through workspace members, theirs.
fn sources(root: &Utf8Path, package: &Package, members: &[&Package]) -> Vec<Utf8PathBuf> {
    let mut dirs: Vec<Utf8PathBuf> = vec![package.dir().to_owned()];
    let mut at = 0;
    while at < dirs.len() {
        let dir = dirs[at].clone();
        at += 1;
        let Some(member) = members.iter().find(|p| p.dir() == dir) else { continue };
        for dep in member.dependencies.iter().filter_map(|d| d.path.as_ref()) {
            if !dirs.contains(dep) {
                dirs.push(dep.clone());
            }
        }
    }
    // Relative to the root; one outside it stays absolute (`dev-release = "changed"` then
    // always builds: its changes are not in this repository's history).
    let mut relative: Vec<Utf8PathBuf> =
        dirs.iter().map(|d| d.strip_prefix(root).map(Utf8Path::to_owned).unwrap_or_else(|_| d.clone())).collect();
    relative.sort();
    relative
}

/// The services (or their views, `name_of` naming each) that `--service` names, every one when
/// it names none; an unknown name is an error that lists them.
pub(crate) fn select<T>(items: Vec<T>, names: &[String], name_of: impl Fn(&T) -> &str) -> Result<Vec<T>> {
    if let Some(name) = names.iter().find(|n| !items.iter().any(|i| name_of(i) == n.as_str())) {
        return Err(unknown_service(name, items.iter().map(&name_of)));
    }
    Ok(items.into_iter().filter(|i| names.is_empty() || names.iter().any(|n| n == name_of(i))).collect())
}

/// `--service NAME` naming none of `services`.
pub(crate) fn unknown_service<'a>(name: &str, services: impl Iterator<Item = &'a str>) -> anyhow::Error {
    error::error_with_help(
        format!("--service {name}: the workspace has no such service"),
        format!("its services are {}", services.collect::<Vec<_>>().join(", ")),
    )
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, bins: &[&str], path_deps: &[&str]) -> Package {
        Package {
            id: format!("path+file:///w/{name}#0.1.0"),
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            license: None,
            license_file: None,
            manifest_path: format!("/w/{name}/Cargo.toml").into(),
            targets: bins.iter().map(|b| Target { name: (*b).to_owned(), kind: vec!["bin".to_owned()] }).collect(),
            dependencies: path_deps.iter().map(|d| Dependency { path: Some(format!("/w/{d}").into()) }).collect(),
        }
    }

    fn workspace(packages: Vec<Package>) -> Metadata {
        Metadata { workspace_members: packages.iter().map(|p| p.id.clone()).collect(), packages, resolve: None }
    }

    fn config(toml: &str) -> Config {
        Config::parse(&format!("[workspace.metadata.release-pipeline]\n{toml}")).unwrap()
    }

    #[track_caller]
    fn check_err(config: &Config, metadata: &Metadata, expected: &str) {
        let err = resolve(Utf8Path::new("/w"), config, metadata).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains(expected), "{text:?} does not contain {expected:?}");
    }

    #[test]
    fn the_one_binary_package_is_the_service() {
        // The pipeline's own package is a member where it is developed: its binary is `init`.
        let meta = workspace(vec![
            package("xtask", &["xtask"], &[]),
            package("release-pipeline", &["release-pipeline"], &[]),
            package("brewbot", &["brewbot"], &["common"]),
            package("common", &[], &[]),
        ]);
        let services = resolve(Utf8Path::new("/w"), &Config::default(), &meta).unwrap();
        assert_eq!(services.len(), 1);
        let s = &services[0];
        assert_eq!(
            (s.name.as_str(), s.package.as_str(), s.bin.as_str(), s.dir.as_str()),
            ("brewbot", "brewbot", "brewbot", "brewbot")
        );
        assert_eq!(s.sources, [Utf8PathBuf::from("brewbot"), "common".into()]);
        let two =
            workspace(vec![package("xtask", &["xtask"], &[]), package("a", &["a"], &[]), package("b", &["b"], &[])]);
        check_err(&Config::default(), &two, "several binary packages (a, b)");
        check_err(
            &Config::default(),
            &workspace(vec![package("xtask", &["xtask"], &[])]),
            "no binary package besides xtask",
        );
    }

    #[test]
    fn bad_services_are_named() {
        let meta = workspace(vec![
            package("alpha", &["alpha"], &[]),
            package("tools", &["one", "two"], &[]),
            package("lib", &[], &[]),
        ]);
        let table = |rest: &str| config(&format!("[[workspace.metadata.release-pipeline.service]]\n{rest}"));
        check_err(
            &table("package = 'gamma'"),
            &meta,
            "`service.package` of service `gamma`: the workspace has no package `gamma`",
        );
        check_err(
            &table("package = 'tools'"),
            &meta,
            "`service.bin` of service `tools`: package `tools` has several binaries (one, two)",
        );
        check_err(&table("package = 'lib'"), &meta, "package `lib` has no binary target");
        check_err(&table("package = 'tools'\nbin = 'three'"), &meta, "has no binary `three`");
        let ok = resolve(Utf8Path::new("/w"), &table("package = 'tools'\nbin = 'two'\nname = 'svc'"), &meta).unwrap();
        assert_eq!((ok[0].name.as_str(), ok[0].bin.as_str()), ("svc", "two"));
        let named = config(
            "[[workspace.metadata.release-pipeline.context]]\ndir = 'd'\nplatforms = ['linux/amd64']\nservice = 'beta'",
        );
        check_err(&named, &workspace(vec![package("alpha", &["alpha"], &[])]), "`service = \"beta\"` names no service");
        let err = select(ok, &["nope".to_owned()], |s| s.name.as_str()).unwrap_err();
        assert!(format!("{err:#}").contains("--service nope"));
    }
}
