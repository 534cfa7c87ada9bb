//! `cargo xtask rebuild VERSION [--check] [--service NAME] [--json]`: proves a published release
//! by building it again. The version's tag is checked out in a fresh clone at another path (only
//! committed history goes with it), the packages and every context's image are built there
//! exactly as the release built them (`plan::steps::rebuild_steps`), nothing is pushed, and
//! each artifact is compared (`plan::rebuild`): each package's SHA-256 with the release's signed
//! provenance (read from the registry, never from a local `dist/`), each image's index and
//! platform manifests with what the registry holds at the version tag. Where a manifest differs,
//! the published one is fetched and the first differing file of its layers (or field of its
//! config) is named.
use std::{collections::BTreeMap, io::Read};

use anstream::println;
use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

use crate::{dist, docker::Docker, error, execute, flags, gather, preflight, ui, version, workspace::Workspace};
use release_pipeline_plan::{
    plan::{
        self,
        rebuild::{self, ImageDigests, Row},
        step::Step,
        steps::Facts,
        ReleasePlan,
    },
    platform::Platform,
    reference::{Digest, ImageRef},
};

pub(crate) fn run(cmd: flags::Rebuild, ws: &Workspace) -> Result<()> {
    let rows = rows(&cmd, ws)?;
    report(&cmd, &rows)
}

/// Every artifact of `cmd.version` of each service selected, rebuilt and compared.
pub(crate) fn rows(cmd: &flags::Rebuild, ws: &Workspace) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for view in ws.services(&cmd.service)? {
        rows.extend(rebuild(cmd, &view)?);
    }
    Ok(rows)
}

/// The table (or `--json`), and with `--check` an error on any difference. Nothing compared is
/// no proof either.
pub(crate) fn report(cmd: &flags::Rebuild, rows: &[Row]) -> Result<()> {
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(rows).context("serializing the comparison")?);
    } else {
        println!("{}", table(rows));
    }
    let differ: Vec<&Row> = rows.iter().filter(|r| r.differs()).collect();
    let unpublished = rows.iter().filter(|r| r.unpublished).count();
    if rows.len() == unpublished {
        return Err(error::error_with_help(
            format!("nothing of {} could be compared", cmd.version),
            "a release has images or a signed package list to compare with: check the version and the repository",
        ));
    }
    if unpublished > 0 {
        ui::warn(format_args!(
            "{unpublished} package(s) not compared: the release is unsigned, so it published no list of their SHA-256"
        ));
    }
    match (differ.first(), cmd.check) {
        (None, _) => {
            ui::info(format_args!(
                "every artifact of {} was rebuilt bit for bit ({} compared)",
                cmd.version,
                rows.len() - unpublished
            ));
            Ok(())
        }
        (Some(_), true) => Err(error::error_with_help(
            format!(
                "{} of {} artifact(s) of {} differ from the release: {}",
                differ.len(),
                rows.len(),
                cmd.version,
                differ
                    .iter()
                    .map(|r| format!("{}{}", r.artifact, r.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "what differs was not built from the tagged source as this pipeline builds it, or the build is not reproducible there: see the table",
        )),
        (Some(_), false) => {
            ui::warn(format_args!("{} artifact(s) differ (with --check, this fails)", differ.len()));
            Ok(())
        }
    }
}

/// The table a person reads: artifact, published, rebuilt, equal; a difference's detail below it.
fn table(rows: &[Row]) -> String {
    let short = |d: &Option<String>| d.as_deref().map_or("-".to_owned(), |d| d.chars().take(19).collect());
    let width = rows.iter().map(|r| r.artifact.len()).max().unwrap_or(8).max(8);
    let mut out = format!("{:<width$}  {:<19}  {:<19}  equal\n", "artifact", "published", "rebuilt");
    for row in rows {
        out.push_str(&format!(
            "{:<width$}  {:<19}  {:<19}  {}\n",
            row.artifact,
            short(&row.published),
            short(&row.rebuilt),
            match (row.equal, row.unpublished) {
                (true, _) => "yes",
                (false, true) => "-",
                (false, false) => "NO",
            }
        ));
        if let Some(detail) = &row.detail {
            out.push_str(&format!("  {detail}\n"));
        }
    }
    out
}

/// Where the clone goes: a temporary directory outside any checkout, since cargo and rustup read
/// `.cargo/config.toml` and `rust-toolchain.toml` in every directory above the one they build in
/// (a clone under `target/` would build with the work tree's uncommitted settings). Refused when
/// a directory above it holds one anyway.
fn scratch_dir() -> Result<Utf8PathBuf> {
    let temp = Utf8PathBuf::try_from(std::env::temp_dir()).context("the temporary directory is not UTF-8")?;
    let scratch = temp.join(format!("release-pipeline-rebuild-{}", std::process::id()));
    for dir in scratch.ancestors() {
        let found = [".cargo/config.toml", ".cargo/config", "rust-toolchain.toml", "rust-toolchain"]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.exists());
        if let Some(found) = found {
            return Err(error::error_with_help(
                format!(
                    "{found} would apply to the rebuild's clone at {scratch}: it is rebuilt from committed files only"
                ),
                "set TMPDIR to a directory with no cargo configuration or toolchain file above it",
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(scratch)
}

/// One service's rebuild of `cmd.version`, compared.
fn rebuild(cmd: &flags::Rebuild, ws: &Workspace) -> Result<Vec<Row>> {
    let version = semver::Version::parse(cmd.version.trim_start_matches('v'))
        .with_context(|| format!("`{}` is not a version (X.Y.Z)", cmd.version))?;
    let repository = preflight::repository(ws, cmd.repository.clone())?;
    let repo = ws.repo()?;
    let tag = version::version_tags(repo, &ws.config.version_tag_prefix)?
        .into_iter()
        .find(|t| t.version == version)
        .ok_or_else(|| {
            error::error_with_help(
                format!("no version tag of {version} (prefix `{}`) in this repository", ws.config.version_tag_prefix),
                "fetch the tags (`git fetch --tags`), or name a released version",
            )
        })?;
    let commit =
        repo.peel_listed(tag.target, tag.peeled).with_context(|| format!("the tag {} names no commit", tag.name))?;

    let scratch = scratch_dir()?;
    let result = rebuild_in(cmd, ws, &repository, &tag.name, commit, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn rebuild_in(
    cmd: &flags::Rebuild,
    ws: &Workspace,
    repository: &str,
    tag: &str,
    commit: git2::Oid,
    scratch: &Utf8Path,
) -> Result<Vec<Row>> {
    let src = scratch.join("src");
    ws.repo()?.clone_at(&src, commit)?;
    ui::info(format_args!("rebuilding {tag} ({commit}) in a fresh clone at {src}: nothing is pushed"));
    let clone = Workspace::open(Some(&src), &ws.exec)?;
    let service = &ws.service().name;
    let mut view =
        clone.services(std::slice::from_ref(service))?.into_iter().next().context("the service in the clone")?;
    // The old tag's build scripts get none of today's secrets (a mirror's password added since,
    // a renamed variable) either.
    let names: Vec<String> = std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()).collect();
    view.also_secret = std::rc::Rc::new(ws.config.secret_vars(&names).into_iter().map(str::to_owned).collect());
    let input = gather::plan_input(&view, Some(repository.to_owned()), false, false)?;
    let plan = plan::release(&input, Some(tag))?;
    if !plan.problems.is_empty() {
        return Err(error::problems_error(
            format_args!("the release plan of {tag} in the clone has problems"),
            &plan.problems,
            "rebuild a version this configuration can release",
        ));
    }
    let docker = preflight::registry_session(ws, repository)?;
    let published: Vec<Option<plan::RemoteImage>> = plan
        .images
        .iter()
        .map(|image| docker.inspect(&ImageRef::tag(repository, image.primary_tag()).to_string()))
        .collect::<Result<_>>()?;

    let facts = facts(&view, &docker, &plan, &published, commit, scratch)?;
    let steps = plan::steps::rebuild_steps(&plan, &facts);
    if !steps.problems.is_empty() {
        return Err(error::problems_error(
            format_args!("{tag} cannot be rebuilt here"),
            &steps.problems,
            "fix the problems above (`cargo xtask doctor`)",
        ));
    }
    execute::run_steps(&steps.steps, &mut execute::Real::new(&view, &docker, &plan, &[]))?;

    // The packages: the rebuild's SHA256SUMS against the signed provenances' lists.
    let sums = dist::read_sums(&dist::DistLayout::new(&src).sums())?;
    let rebuilt: BTreeMap<String, String> = sums.iter().map(|(f, s)| (f.to_owned(), s.to_string())).collect();
    let key = match &cmd.key {
        Some(key) => Utf8PathBuf::try_from(key.clone()).context("--key is not a UTF-8 path")?,
        None => ws.root.join(&ws.config.signing.public_key),
    };
    // No key: an unsigned release, which published no list. A list that cannot be read (no
    // provenance the key signed names the image) is a difference, said so.
    let (listed, unread) = match key.is_file() {
        false => (None, None),
        true => match signed_packages(&docker, &key, repository, &published) {
            Ok(listed) => (Some(listed), None),
            Err(e) => (Some(BTreeMap::new()), Some(format!("no signed provenance lists it: {e:#}"))),
        },
    };
    let mut rows = rebuild::package_rows(listed.as_ref(), &rebuilt);
    for row in rows.iter_mut().filter(|_| unread.is_some()) {
        row.detail = unread.clone();
    }

    for (i, image) in plan.images.iter().enumerate() {
        let reference = ImageRef::tag(repository, image.primary_tag()).to_string();
        let archive = steps
            .steps
            .iter()
            .find_map(|s| match s {
                Step::Build { image, archive: Some(archive), .. } if *image == i => Some(archive.clone()),
                _ => None,
            })
            .context("the rebuild wrote no archive")?;
        let built = OciArchive::read(&archive)?;
        let held = published[i]
            .as_ref()
            .map(|p| ImageDigests { digest: Some(p.digest.clone()), manifests: p.manifests.clone() })
            .unwrap_or_default();
        let mut image_rows = rebuild::image_rows(&reference, &held, &built.digests()?);
        // The first manifest that differs (a platform's, or the one manifest) is explained.
        let explained = image_rows.iter_mut().filter(|r| !r.equal && r.published.is_some() && r.rebuilt.is_some());
        for row in explained.filter(|r| r.artifact.contains(' ') || held.manifests.is_empty()).take(1) {
            let (Some(theirs), Some(ours)) = (&row.published, &row.rebuilt) else { continue };
            row.detail = Some(
                explain(&docker, repository, theirs, &built, ours, scratch)
                    .unwrap_or_else(|e| format!("could not tell where: {e:#}")),
            );
        }
        rows.extend(image_rows);
    }
    Ok(rows)
}

/// What the release's build steps are made from, for the clone: its root, this host, and the
/// published image's source label (the CI's web address the release built with).
fn facts(
    view: &Workspace,
    docker: &Docker,
    plan: &ReleasePlan,
    published: &[Option<plan::RemoteImage>],
    commit: git2::Oid,
    scratch: &Utf8Path,
) -> Result<Facts> {
    let epoch = dist::source_date_epoch(view.repo.as_deref(), Some(&commit.to_string()))?;
    // The notes are no artifact of the images or packages: not rebuilt (`notes: None`).
    Ok(Facts {
        source_url: published.iter().flatten().find_map(|p| p.source.clone()).filter(|s| !s.is_empty()),
        actions: plan.images.iter().map(|_| plan::BuildAction::Build).collect(),
        ..preflight::host_facts(view, Some(docker), scratch.join("run"), epoch)
    })
}

/// The packages (file → SHA-256) the signed provenances of the published images list.
fn signed_packages(
    docker: &Docker,
    key: &Utf8Path,
    repository: &str,
    published: &[Option<plan::RemoteImage>],
) -> Result<BTreeMap<String, String>> {
    let mut packages = BTreeMap::new();
    for image in published.iter().flatten() {
        for provenance in crate::attestations::provenances(docker, key, repository, &image.digest)? {
            for dependency in provenance.build_definition.resolved_dependencies {
                let (Some(name), Some(sha)) = (dependency.name, dependency.digest.get("sha256")) else { continue };
                if name != "Cargo.lock" {
                    packages.insert(name, sha.clone());
                }
            }
        }
    }
    Ok(packages)
}

/// Where the published manifest `theirs` and the rebuilt `ours` differ: the first differing
/// entry of their layers, else the first differing field of their configs.
fn explain(
    docker: &Docker,
    repository: &str,
    theirs: &str,
    built: &OciArchive,
    ours: &str,
    scratch: &Utf8Path,
) -> Result<String> {
    let fetched = scratch.join(format!("published-{}.oci.tar", theirs.trim_start_matches("sha256:")));
    let mut argv = vec!["copy".to_owned()];
    argv.extend(plan::steps::skopeo_options(docker.authfile().as_deref(), repository, &["--src-tls-verify"]));
    argv.push(format!("docker://{repository}@{theirs}"));
    argv.push(format!("oci-archive:{fetched}"));
    let out = docker.exec.retrying(&format!("fetching {repository}@{theirs}"), || docker.tool("skopeo", &argv))?;
    if !out.status.success() {
        return Err(crate::docker::tool_error(
            crate::docker::registry_host(repository),
            "fetching the published image",
            &out,
        ));
    }
    let published = OciArchive::read(&fetched)?;
    let (their_manifest, our_manifest) = (published.manifest(theirs)?, built.manifest(ours)?);
    for (their_layer, our_layer) in their_manifest.layers.iter().zip(&our_manifest.layers) {
        let entries = |archive: &OciArchive, layer: &Descriptor| archive.layer_entries(&layer.digest);
        if let Some(difference) =
            rebuild::first_difference(&entries(&published, their_layer)?, &entries(built, our_layer)?)
        {
            return Ok(difference);
        }
    }
    if their_manifest.layers.len() != our_manifest.layers.len() {
        return Ok(format!("{} layers published, {} rebuilt", their_manifest.layers.len(), our_manifest.layers.len()));
    }
    let config = |archive: &OciArchive, m: &OciManifest| -> Result<serde_json::Value> {
        serde_json::from_slice(archive.blob(&m.config.digest)?).context("parsing an image config")
    };
    Ok(rebuild::first_json_difference(&config(&published, &their_manifest)?, &config(built, &our_manifest)?)
        .map(|d| format!("the image config differs at {d}"))
        .unwrap_or_else(|| "the manifests differ, their layers and configs do not".to_owned()))
}

/// An OCI image layout in a tar archive (buildx's `type=oci` output, skopeo's `oci-archive:`),
/// read whole: its `index.json` and its blobs by digest.
struct OciArchive {
    index: OciIndex,
    blobs: BTreeMap<String, Vec<u8>>,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    #[serde(default)]
    platform: Option<OciPlatform>,
}

#[derive(Deserialize)]
struct OciPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct OciManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl OciArchive {
    fn read(path: &Utf8Path) -> Result<OciArchive> {
        let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
        let mut index = None;
        let mut blobs = BTreeMap::new();
        let mut archive = tar::Archive::new(file);
        for entry in archive.entries().with_context(|| format!("reading {path}"))? {
            let mut entry = entry.with_context(|| format!("reading {path}"))?;
            let name = entry.path().context("an entry's path")?.to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).with_context(|| format!("reading {name} in {path}"))?;
            match name.trim_start_matches("./") {
                "index.json" => index = Some(serde_json::from_slice(&bytes).context("parsing index.json")?),
                blob => {
                    if let Some(hex) = blob.strip_prefix("blobs/sha256/") {
                        blobs.insert(format!("sha256:{hex}"), bytes);
                    }
                }
            }
        }
        Ok(OciArchive { index: index.with_context(|| format!("{path} has no index.json"))?, blobs })
    }

    fn blob(&self, digest: &impl std::fmt::Display) -> Result<&[u8]> {
        let digest = digest.to_string();
        self.blobs.get(&digest).map(Vec::as_slice).with_context(|| format!("the archive has no blob {digest}"))
    }

    /// The image's digest and, for an index, each platform's manifest.
    fn digests(&self) -> Result<ImageDigests> {
        let top = self.index.manifests.first().context("the archive's index.json lists no image")?;
        let mut digests = ImageDigests { digest: Some(top.digest.clone()), manifests: BTreeMap::new() };
        if top.media_type.ends_with("index.v1+json") || top.media_type.ends_with("manifest.list.v2+json") {
            let index: OciIndex = serde_json::from_slice(self.blob(&top.digest)?).context("parsing the image index")?;
            for entry in index.manifests {
                let Some(p) = entry.platform.filter(|p| p.os != "unknown") else { continue };
                let variant = p.variant.map(|v| format!("/{v}")).unwrap_or_default();
                let platform =
                    Platform::parse(&format!("{}/{}{variant}", p.os, p.architecture)).map_err(anyhow::Error::msg)?;
                digests.manifests.insert(platform, entry.digest);
            }
        }
        Ok(digests)
    }

    fn manifest(&self, digest: &str) -> Result<OciManifest> {
        serde_json::from_slice(self.blob(&digest)?).with_context(|| format!("parsing the manifest {digest}"))
    }

    /// A layer's entries in order: each path with what makes its bytes (type, mode, owner, time,
    /// size, and its content's SHA-256).
    fn layer_entries(&self, digest: &Digest) -> Result<Vec<(String, String)>> {
        let gz = flate2::read::GzDecoder::new(self.blob(digest)?);
        let mut layer = tar::Archive::new(gz);
        let mut entries = Vec::new();
        for entry in layer.entries().context("reading a layer")? {
            let mut entry = entry.context("reading a layer's entry")?;
            let header = entry.header().clone();
            let path = entry.path().context("an entry's path")?.to_string_lossy().into_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).context("reading a layer's file")?;
            let how = format!(
                "{:?} mode {:o} owner {}:{} mtime {} size {} sha256 {}",
                header.entry_type(),
                header.mode().unwrap_or(0),
                header.uid().unwrap_or(0),
                header.gid().unwrap_or(0),
                header.mtime().unwrap_or(0),
                content.len(),
                &dist::sha256_hex(&content)[..16]
            );
            entries.push((path, how));
        }
        Ok(entries)
    }
}
