//! `rebuild VERSION`: what a rebuild of a published release is compared by, artifact by
//! artifact, decided from plain data: each package's SHA-256 against the release's signed
//! provenance, each image's index and platform manifests against what the registry holds at
//! the version tag. Pure; the library builds, reads the archives and the registry.
use std::collections::BTreeMap;

use serde::Serialize;

use crate::{platform::Platform, reference::Digest};

/// One artifact compared: what the release published, what the rebuild made, and whether they
/// are the same bytes. `detail` says where they differ, when that is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub artifact: String,
    pub published: Option<String>,
    pub rebuilt: Option<String>,
    pub equal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Row {
    fn new(artifact: String, published: Option<String>, rebuilt: Option<String>) -> Row {
        let equal = published.is_some() && published == rebuilt;
        Row { artifact, published, rebuilt, equal, detail: None }
    }
}

/// An image as built or as published: its digest (an index's, or the one manifest's) and, for
/// an index, each platform's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageDigests {
    pub digest: Option<Digest>,
    pub manifests: BTreeMap<Platform, Digest>,
}

/// The rows of one image (`reference`, the version tag): its index and each platform manifest
/// the rebuild made or the registry holds.
pub fn image_rows(reference: &str, published: &ImageDigests, rebuilt: &ImageDigests) -> Vec<Row> {
    let show = |d: Option<&Digest>| d.map(Digest::to_string);
    let mut rows = vec![Row::new(reference.to_owned(), show(published.digest.as_ref()), show(rebuilt.digest.as_ref()))];
    let platforms: std::collections::BTreeSet<&Platform> =
        published.manifests.keys().chain(rebuilt.manifests.keys()).collect();
    for platform in platforms {
        rows.push(Row::new(
            format!("{reference} {platform}"),
            show(published.manifests.get(platform)),
            show(rebuilt.manifests.get(platform)),
        ));
    }
    rows
}

/// The rows of the packages: each one the rebuild made (`rebuilt`, file → SHA-256) against the
/// signed provenance's list (`published`; `None`: the release published none, being unsigned).
pub fn package_rows(published: Option<&BTreeMap<String, String>>, rebuilt: &BTreeMap<String, String>) -> Vec<Row> {
    let mut files: Vec<&String> = rebuilt.keys().chain(published.into_iter().flat_map(|p| p.keys())).collect();
    files.sort();
    files.dedup();
    files
        .into_iter()
        .map(|file| {
            let mut row =
                Row::new(file.clone(), published.and_then(|p| p.get(file)).cloned(), rebuilt.get(file).cloned());
            if published.is_none() {
                row.detail = Some("the release is unsigned: no provenance lists its packages' SHA-256".to_owned());
            }
            row
        })
        .collect()
}

/// The first difference between two lists of a layer's entries (path, then a description of
/// everything that makes its bytes: type, mode, owner, time, size, content hash), in order:
/// the first path where they differ, and how.
pub fn first_difference(published: &[(String, String)], rebuilt: &[(String, String)]) -> Option<String> {
    for (p, r) in published.iter().zip(rebuilt) {
        if p != r {
            return Some(match p.0 == r.0 {
                true => format!("{}: published {}, rebuilt {}", p.0, p.1, r.1),
                false => format!("the layers list {} (published) where the rebuild has {}", p.0, r.0),
            });
        }
    }
    match published.len().cmp(&rebuilt.len()) {
        std::cmp::Ordering::Less => Some(format!("only the rebuild has {}", rebuilt[published.len()].0)),
        std::cmp::Ordering::Greater => Some(format!("only the release has {}", published[rebuilt.len()].0)),
        std::cmp::Ordering::Equal => None,
    }
}

/// The first path at which two JSON documents (an image's configs) differ, with both values.
pub fn first_json_difference(published: &serde_json::Value, rebuilt: &serde_json::Value) -> Option<String> {
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
        use serde_json::Value::{Array, Object};
        match (a, b) {
            (Object(x), Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| {
                    let null = serde_json::Value::Null;
                    walk(&format!("{path}/{k}"), x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null))
                })
            }
            (Array(x), Array(y)) if x.len() == y.len() => {
                x.iter().zip(y).enumerate().find_map(|(i, (a, b))| walk(&format!("{path}/{i}"), a, b))
            }
            _ if a == b => None,
            _ => Some(format!("{path}: published {a}, rebuilt {b}")),
        }
    }
    walk("", published, rebuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::for_test(n)
    }

    #[test]
    fn images_are_compared_manifest_by_manifest() {
        let amd: Platform = "linux/amd64".into();
        let arm: Platform = "linux/arm64".into();
        let published =
            ImageDigests { digest: Some(d(1)), manifests: [(amd.clone(), d(2)), (arm.clone(), d(3))].into() };
        let same = image_rows("r:1.0.0", &published, &published.clone());
        assert_eq!(same.len(), 3);
        assert!(same.iter().all(|r| r.equal), "{same:?}");
        let rebuilt = ImageDigests { digest: Some(d(9)), manifests: [(amd.clone(), d(2)), (arm, d(8))].into() };
        let rows = image_rows("r:1.0.0", &published, &rebuilt);
        let equal: Vec<(&str, bool)> = rows.iter().map(|r| (r.artifact.as_str(), r.equal)).collect();
        assert_eq!(equal, [("r:1.0.0", false), ("r:1.0.0 linux/amd64", true), ("r:1.0.0 linux/arm64", false)]);
        // Nothing published, or a platform only one side has: never equal.
        let rows = image_rows("r:1.0.0", &ImageDigests::default(), &ImageDigests::default());
        assert!(!rows[0].equal, "nothing on either side is no proof");
        let one = ImageDigests { digest: Some(d(1)), manifests: [(amd, d(2))].into() };
        let rows = image_rows("r:1.0.0", &published, &one);
        assert!(!rows[2].equal && rows[2].rebuilt.is_none(), "{rows:?}");
    }

    #[test]
    fn packages_are_compared_with_the_provenance() {
        let sums = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(f, s)| ((*f).to_owned(), (*s).to_owned())).collect()
        };
        let rebuilt = sums(&[("a.tar.gz", "11"), ("b.tar.gz", "22")]);
        let rows = package_rows(Some(&rebuilt.clone()), &rebuilt);
        assert!(rows.iter().all(|r| r.equal && r.detail.is_none()));
        let rows = package_rows(Some(&sums(&[("a.tar.gz", "11"), ("b.tar.gz", "33"), ("c.tar.gz", "44")])), &rebuilt);
        let equal: Vec<(&str, bool)> = rows.iter().map(|r| (r.artifact.as_str(), r.equal)).collect();
        assert_eq!(equal, [("a.tar.gz", true), ("b.tar.gz", false), ("c.tar.gz", false)]);
        let rows = package_rows(None, &rebuilt);
        assert!(rows.iter().all(|r| !r.equal && r.detail.as_deref().unwrap().contains("unsigned")));
    }

    #[test]
    fn the_first_difference_is_named() {
        let entry = |p: &str, how: &str| (p.to_owned(), how.to_owned());
        let published = vec![entry("opt/", "dir 755"), entry("opt/service/bin/service", "file sha256:aa")];
        assert_eq!(first_difference(&published, &published), None);
        let rebuilt = vec![entry("opt/", "dir 755"), entry("opt/service/bin/service", "file sha256:bb")];
        assert_eq!(
            first_difference(&published, &rebuilt).unwrap(),
            "opt/service/bin/service: published file sha256:aa, rebuilt file sha256:bb"
        );
        assert_eq!(
            first_difference(&published[..1], &rebuilt).unwrap(),
            "only the rebuild has opt/service/bin/service"
        );
        assert_eq!(
            first_difference(&published, &rebuilt[..1]).unwrap(),
            "only the release has opt/service/bin/service"
        );
        let other = vec![entry("etc/", "dir 755")];
        assert!(first_difference(&published, &other).unwrap().contains("opt/ (published) where the rebuild has etc/"));

        let a = serde_json::json!({"config": {"Labels": {"v": "1", "w": "x"}}, "history": [1, 2]});
        let b = serde_json::json!({"config": {"Labels": {"v": "2", "w": "x"}}, "history": [1, 2]});
        assert_eq!(first_json_difference(&a, &a), None);
        assert_eq!(first_json_difference(&a, &b).unwrap(), r#"/config/Labels/v: published "1", rebuilt "2""#);
    }
}
