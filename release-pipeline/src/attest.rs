//! The documents a signed release attaches to its images: a CycloneDX SBOM per target, made from
//! the dependency graph cargo resolves for that target, and an SLSA v1 provenance predicate per
//! image, made from the plan. Typed both ways: `verify` reads the provenance back. cosign wraps
//! each in the in-toto statement whose subject is the digest it attests.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use semver::Version;

use crate::{
    dist,
    repo::CommitId,
    services::{Metadata, Node, NodeDep, Package},
};
use release_pipeline_plan::{plan::Kind, platform::Platform};

/// A CycloneDX 1.5 BOM (the fields written here).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Bom {
    pub(crate) bom_format: String,
    pub(crate) spec_version: String,
    pub(crate) version: u32,
    pub(crate) metadata: BomMetadata,
    pub(crate) components: Vec<Component>,
    pub(crate) dependencies: Vec<Dependency>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BomMetadata {
    pub(crate) timestamp: String,
    pub(crate) component: Component,
    pub(crate) properties: Vec<Property>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Property {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Component {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(rename = "bom-ref")]
    pub(crate) bom_ref: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) purl: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) licenses: Vec<License>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct License {
    pub(crate) expression: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Dependency {
    #[serde(rename = "ref")]
    pub(crate) reference: String,
    pub(crate) depends_on: Vec<String>,
}

/// The SBOM of the workspace package `krate` built for `target`: every package its normal
/// dependencies pull in for that target (build and dev dependencies do not end up in the binary),
/// with the graph between them. Reproducible: the timestamp is the commit's time, lists sorted.
pub(crate) fn sbom(metadata: &[u8], krate: &str, target: &str, epoch: i64) -> Result<Bom> {
    let meta: Metadata = serde_json::from_slice(metadata).context("parsing cargo metadata")?;
    let packages: BTreeMap<&str, &Package> = meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let root = meta
        .packages
        .iter()
        .find(|p| p.name == krate && meta.workspace_members.contains(&p.id))
        .with_context(|| format!("cargo metadata lists no workspace package `{krate}`"))?;
    let nodes: BTreeMap<&str, &Node> = meta
        .resolve
        .as_ref()
        .context("cargo metadata has no resolved graph")?
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n))
        .collect();
    let normal = |dep: &&NodeDep| dep.dep_kinds.iter().any(|k| k.kind.is_none());
    let component = |id: &str| -> Result<Component> {
        let p = packages.get(id).with_context(|| format!("cargo metadata names the unknown package {id}"))?;
        let purl = format!("pkg:cargo/{}@{}", p.name, p.version);
        Ok(Component {
            kind: if p.id == root.id { "application" } else { "library" }.to_owned(),
            bom_ref: purl.clone(),
            name: p.name.clone(),
            version: p.version.clone(),
            purl,
            licenses: p.license.iter().map(|l| License { expression: l.clone() }).collect(),
        })
    };
    let mut seen = BTreeSet::from([root.id.as_str()]);
    let mut queue = vec![root.id.as_str()];
    let mut dependencies = Vec::new();
    while let Some(id) = queue.pop() {
        let node = nodes.get(id).with_context(|| format!("the resolved graph lacks {id}"))?;
        let mut depends_on = Vec::new();
        for dep in node.deps.iter().filter(normal) {
            depends_on.push(component(&dep.pkg)?.bom_ref);
            if seen.insert(dep.pkg.as_str()) {
                queue.push(dep.pkg.as_str());
            }
        }
        depends_on.sort();
        dependencies.push(Dependency { reference: component(id)?.bom_ref, depends_on });
    }
    dependencies.sort_by(|a, b| a.reference.cmp(&b.reference));
    let mut components =
        seen.iter().filter(|id| **id != root.id).map(|id| component(id)).collect::<Result<Vec<_>>>()?;
    components.sort_by(|a, b| a.bom_ref.cmp(&b.bom_ref));
    Ok(Bom {
        bom_format: "CycloneDX".to_owned(),
        spec_version: "1.5".to_owned(),
        version: 1,
        metadata: BomMetadata {
            timestamp: dist::rfc3339(epoch),
            component: component(&root.id)?,
            properties: vec![Property { name: "release-pipeline:target".to_owned(), value: target.to_owned() }],
        },
        components,
        dependencies,
    })
}

/// What the provenance's `buildType` names: a build by this pipeline.
pub(crate) const BUILD_TYPE: &str = "https://github.com/release-pipeline/xtask/build-types/release/v1";

/// An SLSA v1 provenance predicate (the fields written here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Provenance {
    pub(crate) build_definition: BuildDefinition,
    pub(crate) run_details: RunDetails,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BuildDefinition {
    pub(crate) build_type: String,
    pub(crate) external_parameters: ExternalParameters,
    pub(crate) resolved_dependencies: Vec<ResourceDescriptor>,
}

/// What decided this build: the repository, the commit and ref, the plan's kind, and which
/// context was built for which platforms. `verify` reads it back, each value checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExternalParameters {
    pub(crate) repository: String,
    #[serde(rename = "ref")]
    pub(crate) git_ref: Option<String>,
    pub(crate) commit: CommitId,
    pub(crate) kind: Kind,
    pub(crate) version: Version,
    pub(crate) context: String,
    pub(crate) platforms: Vec<Platform>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) digest: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunDetails {
    pub(crate) builder: Builder,
    pub(crate) metadata: RunMetadata,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Builder {
    /// The CI run's URL, or `local`.
    pub(crate) id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunMetadata {
    pub(crate) started_on: String,
    pub(crate) finished_on: String,
}

/// The facts a provenance is made of, gathered by the executor.
pub(crate) struct ProvenanceInput {
    pub(crate) repository: String,
    pub(crate) git_ref: Option<String>,
    pub(crate) commit: CommitId,
    pub(crate) kind: Kind,
    pub(crate) version: Version,
    pub(crate) context: String,
    pub(crate) platforms: Vec<Platform>,
    /// `Cargo.lock`'s SHA-256.
    pub(crate) lockfile: Option<String>,
    /// (package file name, SHA-256) of each package the image holds.
    pub(crate) packages: Vec<(String, release_pipeline_plan::dist::Sha256)>,
    pub(crate) builder: String,
    pub(crate) started: i64,
    pub(crate) finished: i64,
}

impl ProvenanceInput {
    pub(crate) fn provenance(&self) -> Provenance {
        let digest = |algorithm: &str, value: &str| BTreeMap::from([(algorithm.to_owned(), value.to_owned())]);
        let mut resolved = vec![ResourceDescriptor {
            uri: Some(format!(
                "git+{}{}",
                self.repository,
                self.git_ref.as_ref().map(|r| format!("@{r}")).unwrap_or_default()
            )),
            name: None,
            digest: digest("gitCommit", self.commit.as_str()),
        }];
        if let Some(lock) = &self.lockfile {
            resolved.push(ResourceDescriptor {
                uri: None,
                name: Some("Cargo.lock".to_owned()),
                digest: digest("sha256", lock),
            });
        }
        for (name, sha) in &self.packages {
            resolved.push(ResourceDescriptor {
                uri: None,
                name: Some(name.clone()),
                digest: digest("sha256", sha.as_str()),
            });
        }
        Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.to_owned(),
                external_parameters: ExternalParameters {
                    repository: self.repository.clone(),
                    git_ref: self.git_ref.clone(),
                    commit: self.commit,
                    kind: self.kind,
                    version: self.version.clone(),
                    context: self.context.clone(),
                    platforms: self.platforms.clone(),
                },
                resolved_dependencies: resolved,
            },
            run_details: RunDetails {
                builder: Builder { id: self.builder.clone() },
                metadata: RunMetadata {
                    started_on: dist::rfc3339(self.started),
                    finished_on: dist::rfc3339(self.finished),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace `app` → `a` (normal) → `c`, `app` → `b` (build only), `app` → `d` (dev only):
    /// the SBOM holds `a` and `c` with the graph, not what the binary does not contain.
    #[test]
    fn the_sbom_follows_normal_dependencies_only() {
        let package = |name: &str, version: &str, license: Option<&str>| {
            serde_json::json!({"id": format!("{name} {version}"), "name": name, "version": version,
                "license": license, "manifest_path": format!("/w/{name}/Cargo.toml"), "targets": [], "dependencies": []})
        };
        let metadata = serde_json::json!({
            "packages": [
                package("app", "1.0.0", Some("MIT")),
                package("a", "0.1.0", None),
                package("b", "0.2.0", None),
                package("c", "3.0.0", Some("Apache-2.0")),
                package("d", "4.0.0", None),
            ],
            "workspace_members": ["app 1.0.0"],
            "resolve": {"nodes": [
                {"id": "app 1.0.0", "deps": [
                    {"pkg": "a 0.1.0", "dep_kinds": [{"kind": null}]},
                    {"pkg": "b 0.2.0", "dep_kinds": [{"kind": "build"}]},
                    {"pkg": "d 4.0.0", "dep_kinds": [{"kind": "dev"}]}]},
                {"id": "a 0.1.0", "deps": [{"pkg": "c 3.0.0", "dep_kinds": [{"kind": null}]}]},
                {"id": "b 0.2.0", "deps": []},
                {"id": "c 3.0.0", "deps": []},
                {"id": "d 4.0.0", "deps": []}
            ]}
        });
        let bom = sbom(metadata.to_string().as_bytes(), "app", "x86_64-unknown-linux-musl", 0).unwrap();
        let names: Vec<String> = bom.components.iter().map(|c| format!("{}@{}", c.name, c.version)).collect();
        assert_eq!(names, ["a@0.1.0", "c@3.0.0"]);
        assert_eq!(bom.metadata.component.purl, "pkg:cargo/app@1.0.0");
        assert_eq!(bom.metadata.timestamp, "1970-01-01T00:00:00Z");
        assert_eq!(bom.components[1].licenses[0].expression, "Apache-2.0");
        let graph: Vec<(String, Vec<String>)> =
            bom.dependencies.iter().map(|d| (d.reference.clone(), d.depends_on.clone())).collect();
        assert_eq!(
            graph,
            [
                ("pkg:cargo/a@0.1.0".to_owned(), vec!["pkg:cargo/c@3.0.0".to_owned()]),
                ("pkg:cargo/app@1.0.0".to_owned(), vec!["pkg:cargo/a@0.1.0".to_owned()]),
                ("pkg:cargo/c@3.0.0".to_owned(), vec![]),
            ]
        );
        assert!(sbom(metadata.to_string().as_bytes(), "a", "t", 0).is_err(), "a is not a workspace member");
    }

    #[test]
    fn the_provenance_names_the_commit_the_lockfile_and_the_packages() {
        let input = ProvenanceInput {
            repository: "https://github.com/acme/service".to_owned(),
            git_ref: Some("refs/tags/v1.2.3".to_owned()),
            commit: CommitId::parse("0123456789abcdef0123456789abcdef01234567").unwrap(),
            kind: Kind::Release,
            version: Version::new(1, 2, 3),
            context: "docker".to_owned(),
            platforms: vec!["linux/amd64".into()],
            lockfile: Some("aa".to_owned()),
            packages: vec![(
                "service-1.2.3-x86_64-unknown-linux-musl.tar.gz".to_owned(),
                release_pipeline_plan::dist::Sha256::parse(&"bb".repeat(32)).unwrap(),
            )],
            builder: "local".to_owned(),
            started: 60,
            finished: 120,
        };
        let json = serde_json::to_value(input.provenance()).unwrap();
        let definition = &json["buildDefinition"];
        assert_eq!(definition["externalParameters"]["ref"], "refs/tags/v1.2.3");
        assert_eq!(
            definition["resolvedDependencies"][0]["uri"],
            "git+https://github.com/acme/service@refs/tags/v1.2.3"
        );
        assert_eq!(definition["resolvedDependencies"][0]["digest"]["gitCommit"], input.commit.as_str());
        let parameters = &definition["externalParameters"];
        assert_eq!(
            (&parameters["commit"], &parameters["kind"], &parameters["version"]),
            (&input.commit.as_str().into(), &"release".into(), &"1.2.3".into()),
            "the same text as when they were strings"
        );
        assert_eq!(definition["resolvedDependencies"][1]["name"], "Cargo.lock");
        assert_eq!(definition["resolvedDependencies"][2]["digest"]["sha256"], "bb".repeat(32));
        assert_eq!(json["runDetails"]["metadata"]["finishedOn"], "1970-01-01T00:02:00Z");
        let back: Provenance = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, input.provenance());
        // What is no commit, kind or version is an error naming it, never a value.
        for (field, bad, why) in [
            ("commit", "", "is not a commit id"),
            ("kind", "nightly", "unknown variant `nightly`"),
            ("version", "1.2", "unexpected end of input while parsing minor version number"),
        ] {
            let mut edited = json.clone();
            edited["buildDefinition"]["externalParameters"][field] = bad.into();
            let err = serde_json::from_value::<Provenance>(edited).unwrap_err().to_string();
            assert!(err.contains(why), "{field}: {err}");
        }
    }
}
