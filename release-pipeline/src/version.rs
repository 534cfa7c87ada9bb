//! The version rules (`release_pipeline_plan::version`) applied to git history, and `cargo
//! xtask version`.
use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use semver::Version;

pub(crate) use release_pipeline_plan::version::*;

use crate::{config::Config, error, flags, repo::Repo, ui, workspace::Workspace};

/// A reachable version tag chosen as the base.
struct Base {
    name: String,
    version: Version,
    distance: u64,
}

/// Where HEAD stands in the history: its commit and base tag. Read from the history alone; the
/// work tree's state is a separate read, because the version depends on it only when HEAD is
/// on the base tag (a dirty tree there is the next dev version, anywhere else it changes
/// nothing). `version` skips that read, the dearest part of the answer (BENCHMARKS.md), when
/// it cannot change what it prints.
pub(crate) struct Position {
    head: Option<git2::Oid>,
    base: Option<Base>,
    /// Commits since the base, or since the root when there is no base.
    distance: u64,
    shallow: bool,
}

impl Position {
    /// Whether the work tree's state changes the version: HEAD is on its base tag.
    pub(crate) fn on_tag(&self) -> bool {
        self.base.as_ref().is_some_and(|b| b.distance == 0)
    }

    /// The version and its PEP 440 form, given whether the tree is dirty (which matters only
    /// [`Position::on_tag`]).
    pub(crate) fn version(&self, dirty: bool) -> (Version, Option<String>) {
        let semver = match &self.base {
            Some(base) if base.distance == 0 && !dirty => base.version.clone(),
            Some(base) => dev_version(&base.version, base.distance),
            None => {
                // setuptools_scm's version with no tag: `0.1.devN`, which PEP 440 reads as 0.1.0.
                let mut v = Version::new(0, 1, 0);
                v.pre = prerelease(&format!("dev.{}", self.distance));
                return (v, Some(format!("0.1.dev{}", self.distance)));
            }
        };
        let pep440 = pep440(&semver);
        (semver, pep440)
    }

    /// Everything about the version, with the work tree's state read.
    pub(crate) fn info(self, repo: &Repo) -> Result<VersionInfo> {
        let dirty = self.head.is_some() && repo.is_dirty()?;
        let (semver, pep440) = self.version(dirty);
        Ok(VersionInfo {
            semver,
            pep440,
            tag: self.base.map(|b| b.name),
            distance: self.distance,
            commit: self.head.map(|h| h.to_string()),
            dirty,
            shallow: self.shallow,
        })
    }
}

/// The version of the checkout at HEAD, from the version tags [`version_tags`] listed.
pub(crate) fn compute_with_tags(repo: &Repo, tags: &[VersionTag]) -> Result<VersionInfo> {
    position(repo, tags)?.info(repo)
}

/// Where HEAD stands among `tags`; an error in a shallow clone that cannot prove it.
pub(crate) fn position(repo: &Repo, tags: &[VersionTag]) -> Result<Position> {
    let shallow = repo.is_shallow();
    let Some(head) = repo.head()? else {
        return Ok(Position { head: None, base: None, distance: 0, shallow });
    };
    let Some(base) = highest_reachable_tag(repo, head, tags)? else {
        if shallow {
            return Err(error::error_with_help(
                "this is a shallow clone and no version tag is reachable from HEAD, so the version cannot be known",
                "fetch the full history and tags: `git fetch --unshallow --tags` (in CI, check out with full history, e.g. actions/checkout with `fetch-depth: 0`)",
            ));
        }
        let distance = repo.count_commits(head)?;
        return Ok(Position { head: Some(head), base: None, distance, shallow });
    };
    if shallow && base.distance > 0 {
        // A higher tag may sit beyond the cut (a hotfix merged into main): the answer could be
        // lower than the truth, and releasing it would be wrong for good.
        return Err(error::error_with_help(
            format!(
                "this is a shallow clone, so the version cannot be proven: {} is {} commit(s) back, and a higher version tag may lie beyond the shallow history",
                base.name, base.distance
            ),
            "fetch the full history and tags: `git fetch --unshallow --tags` (in CI, check out with full history, e.g. actions/checkout with `fetch-depth: 0`)",
        ));
    }
    Ok(Position { head: Some(head), distance: base.distance, base: Some(base), shallow })
}

/// A version tag: its name, version, and the object it points at (peeled only when needed).
pub(crate) struct VersionTag {
    pub(crate) name: String,
    pub(crate) version: Version,
    pub(crate) target: git2::Oid,
    pub(crate) peeled: Option<git2::Oid>,
}

/// Every tag that is a version tag under the rules, in no order (warning about near misses).
pub(crate) fn version_tags(repo: &Repo, prefix: &str) -> Result<Vec<VersionTag>> {
    let mut tags = Vec::new();
    repo.for_each_tag(prefix, |name, target, peeled| match parse_tag(name, prefix) {
        TagKind::Version(version) => tags.push(VersionTag { name: name.to_owned(), version, target, peeled }),
        TagKind::NotSemver => {
            ui::warn(format_args!("tag `{name}` looks like a version but is not SemVer (X.Y.Z): ignored"))
        }
        TagKind::Other => {}
    })?;
    Ok(tags)
}

/// Tries tags from the highest down and stops at the first reachable one: on a usual history the
/// highest tag is reachable, so this is one walk of `TAG..HEAD` (and one pass to find the
/// highest, rather than a sort of every tag).
fn highest_reachable_tag<'a>(
    repo: &Repo,
    head: git2::Oid,
    tags: impl IntoIterator<Item = &'a VersionTag>,
) -> Result<Option<Base>> {
    let order =
        |a: &&VersionTag, b: &&VersionTag| a.version.cmp_precedence(&b.version).then_with(|| b.name.cmp(&a.name));
    let mut candidates: Vec<&VersionTag> = tags.into_iter().collect();
    while let Some(pos) = candidates.iter().enumerate().max_by(|(_, a), (_, b)| order(a, b)).map(|(i, _)| i) {
        let tag = candidates.swap_remove(pos);
        let Some(commit) = repo.peel_listed(tag.target, tag.peeled) else { continue };
        if let Some(distance) = repo.distance_if_reachable(head, commit)? {
            return Ok(Some(Base { name: tag.name.clone(), version: tag.version.clone(), distance }));
        }
    }
    Ok(None)
}

/// The release before the one at `commit` (release notes start after it): by the same rule as
/// the version's base, the highest version tag reachable from `commit`, the tags on `commit`
/// itself and those not lower than `version` aside. Its name and commit.
pub(crate) fn previous_release(
    repo: &Repo,
    commit: git2::Oid,
    version: &Version,
    tags: &[VersionTag],
) -> Result<Option<(String, git2::Oid)>> {
    let earlier = tags
        .iter()
        .filter(|t| t.version.cmp_precedence(version).is_lt() && repo.peel_listed(t.target, t.peeled) != Some(commit));
    let Some(base) = highest_reachable_tag(repo, commit, earlier)? else { return Ok(None) };
    Ok(tag_commit(repo, tags, &base.name).map(|c| (base.name, c)))
}

/// The commit the version tag `name` names, if this clone has it.
pub(crate) fn tag_commit(repo: &Repo, tags: &[VersionTag], name: &str) -> Option<git2::Oid> {
    tags.iter().find(|t| t.name == name).and_then(|t| repo.peel_listed(t.target, t.peeled))
}

/// The repository at `path` and the configuration of its work tree.
pub(crate) fn open(
    path: Option<&Utf8Path>,
    exec: &crate::exec::Exec,
) -> Result<(Option<std::rc::Rc<Repo>>, Utf8PathBuf, Config)> {
    let ws = crate::workspace::Workspace::open(path, exec)?;
    Ok((ws.repo, ws.root, ws.config))
}

/// The services `version` reports on, each as its own view of the workspace. Without
/// `--service` and `[[service]]` tables this is the workspace itself: no package is read. The
/// `[[service]]` tables name their services and prefixes, so reading packages is needed only for
/// `--service` in a workspace without tables.
fn version_views(ws: Workspace, names: &[String]) -> Result<Vec<Workspace>> {
    let tables = &ws.config.service;
    let listed = || tables.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ");
    match (names, tables.as_slice()) {
        ([], []) => Ok(vec![ws]),
        ([], [only]) => Ok(vec![Workspace { config: ws.config.for_service(only, true), ..ws.clone() }]),
        ([], _) => Err(error::error_with_help(
            format!("the workspace has several services ({}), each with its own version", listed()),
            "name one with --service NAME",
        )),
        (names, []) => ws.services(names),
        (names, tables) => names
            .iter()
            .map(|name| match tables.iter().find(|t| t.name() == name) {
                Some(table) => Ok(Workspace { config: ws.config.for_service(table, tables.len() == 1), ..ws.clone() }),
                None => Err(crate::services::unknown_service(name, tables.iter().map(|t| t.name()))),
            })
            .collect(),
    }
}

/// Where a workspace's version comes from: its git history, or [`OVERRIDE_VAR`] outside one.
enum Source<'a> {
    Git(&'a Repo, Position),
    Override(VersionInfo),
}

fn source(ws: &Workspace) -> Result<Source<'_>> {
    let override_version = std::env::var(OVERRIDE_VAR).ok().filter(|v| !v.is_empty());
    if let Some(repo) = &ws.repo {
        if override_version.is_some() {
            ui::warn(format_args!("{OVERRIDE_VAR} is ignored inside a git repository"));
        }
        let tags = version_tags(repo, &ws.config.version_tag_prefix)?;
        return Ok(Source::Git(repo, position(repo, &tags)?));
    }
    let Some(text) = override_version else {
        return Err(error::error_with_help(
            format!("{} is not in a git repository, so there is no history to take a version from", ws.root),
            format!("run inside a git checkout, or set {OVERRIDE_VAR} to a SemVer version (e.g. {OVERRIDE_VAR}=1.2.3)"),
        ));
    };
    let semver = Version::parse(text.strip_prefix('v').unwrap_or(&text))
        .with_context(|| format!("{OVERRIDE_VAR}={text:?} is not a SemVer version"))?;
    Ok(Source::Override(VersionInfo {
        pep440: pep440(&semver),
        semver,
        tag: None,
        distance: 0,
        commit: None,
        dirty: false,
        shallow: false,
    }))
}

/// The version of a workspace already opened.
pub(crate) fn of(ws: &Workspace) -> Result<VersionInfo> {
    match source(ws)? {
        Source::Git(repo, position) => position.info(repo),
        Source::Override(info) => Ok(info),
    }
}

/// What `--format` asks `version` to print.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Semver,
    Pep440,
    Json,
}

impl Format {
    fn parse(format: Option<&str>) -> Result<Format> {
        match format.unwrap_or("semver") {
            "semver" => Ok(Format::Semver),
            "pep440" => Ok(Format::Pep440),
            "json" => Ok(Format::Json),
            other => bail!("unknown --format `{other}`: expected semver, pep440 or json"),
        }
    }
}

/// One workspace's version as `format` prints it. For `semver` and `pep440` the work tree is
/// read only when HEAD is on its base tag, the one place its state changes the version.
fn answer(ws: &Workspace, format: Format) -> Result<String> {
    let (semver, pep) = match (source(ws)?, format) {
        (Source::Git(repo, position), Format::Json) => return Ok(serde_json::to_string(&position.info(repo)?)?),
        (Source::Override(info), Format::Json) => return Ok(serde_json::to_string(&info)?),
        (Source::Git(repo, position), _) => position.version(position.on_tag() && repo.is_dirty()?),
        (Source::Override(info), _) => (info.semver, info.pep440),
    };
    match (format, pep) {
        (Format::Pep440, Some(pep)) => Ok(pep),
        (Format::Pep440, None) => bail!(
            "version {semver} has no PEP 440 form (PEP 440 knows only a/alpha, b/beta, rc/c/pre/preview and dev pre-releases); --format semver works"
        ),
        _ => Ok(semver.to_string()),
    }
}

pub(crate) fn run(cmd: flags::Version, exec: &crate::exec::Exec) -> Result<()> {
    let format = Format::parse(cmd.format.as_deref())?;
    let repo = cmd.repo.map(Utf8PathBuf::try_from).transpose().context("--repo is not UTF-8")?;
    if let Some(path) = repo.as_deref().filter(|p| !p.is_dir()) {
        bail!("--repo {path}: no such directory");
    }
    let views = version_views(Workspace::open(repo.as_deref(), exec)?, &cmd.service)?;
    let printed = print(&views, format);
    // The process ends with this command. Dropping the views would have libgit2 free its caches
    // and unmap its pack files one by one, which costs `version` more than the exit that
    // releases them all at once (BENCHMARKS.md).
    std::mem::forget(views);
    printed
}

/// Each view's version, in `format`: the one view's alone, or several views' each with its name.
fn print(views: &[Workspace], format: Format) -> Result<()> {
    if let [view] = views {
        println!("{}", answer(view, format)?);
        return Ok(());
    }
    let name = |view: &Workspace| view.config.service.first().map(|s| s.name().to_owned()).unwrap_or_default();
    if format == Format::Json {
        // One JSON array: each service's version object with its `name`.
        let mut all = Vec::new();
        for view in views {
            let mut info = serde_json::to_value(of(view)?)?;
            info["name"] = name(view).into();
            all.push(info);
        }
        println!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    for view in views {
        println!("{} {}", name(view), answer(view, format)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_dev(base: &str, distance: u64, semver: &str, pep: Option<&str>) {
        let v = dev_version(&Version::parse(base).unwrap(), distance);
        assert_eq!(v.to_string(), semver);
        assert_eq!(pep440(&v).as_deref(), pep);
    }

    #[test]
    fn dev_versions() {
        check_dev("1.2.3", 5, "1.2.4-dev.5", Some("1.2.4.dev5"));
        check_dev("1.2.3", 0, "1.2.4-dev.0", Some("1.2.4.dev0"));
        check_dev("1.2.3-rc.1", 2, "1.2.3-rc.2.dev.2", Some("1.2.3rc2.dev2"));
        check_dev("1.0.0-alpha", 3, "1.0.0-alpha.1.dev.3", Some("1.0.0a1.dev3"));
        check_dev("1.0.0-rc1", 1, "1.0.0-rc2.dev.1", Some("1.0.0rc2.dev1"));
        check_dev("1.0.0-beta.9", 1, "1.0.0-beta.10.dev.1", Some("1.0.0b10.dev1"));
        check_dev("1.2.3+build7", 5, "1.2.4-dev.5+build7", Some("1.2.4.dev5+build7"));
        check_dev("1.0.0-foo.1", 1, "1.0.0-foo.2.dev.1", None);
    }

    #[test]
    fn the_work_tree_changes_the_version_only_on_the_tag() {
        let base = |distance| Base { name: "v1.2.3".into(), version: Version::new(1, 2, 3), distance };
        let at = |base: Option<Base>, distance| Position {
            head: Some(git2::Oid::ZERO_SHA1),
            base,
            distance,
            shallow: false,
        };
        let on_tag = at(Some(base(0)), 0);
        assert!(on_tag.on_tag());
        assert_eq!(on_tag.version(false), (Version::new(1, 2, 3), Some("1.2.3".into())));
        assert_eq!(on_tag.version(true).0.to_string(), "1.2.4-dev.0");
        let past = at(Some(base(4)), 4);
        assert!(!past.on_tag());
        assert_eq!(past.version(false), past.version(true));
        let untagged = at(None, 7);
        assert!(!untagged.on_tag());
        assert_eq!(untagged.version(true), (Version::parse("0.1.0-dev.7").unwrap(), Some("0.1.dev7".into())));
    }

    #[track_caller]
    fn check_pep(semver: &str, pep: Option<&str>) {
        assert_eq!(pep440(&Version::parse(semver).unwrap()).as_deref(), pep);
    }

    #[test]
    fn pep440_forms() {
        check_pep("1.2.3", Some("1.2.3"));
        check_pep("1.3.0-rc.1", Some("1.3.0rc1"));
        check_pep("1.0.0-alpha", Some("1.0.0a0"));
        check_pep("1.0.0-Beta.2", Some("1.0.0b2"));
        check_pep("1.0.0-preview.1", Some("1.0.0rc1"));
        check_pep("1.2.3+build7", Some("1.2.3+build7"));
        check_pep("1.2.3+Build-7", Some("1.2.3+build.7"));
        check_pep("1.0.0-foo.1", None);
        check_pep("1.0.0-rc.1.2", None);
        // A label without a number, then the dev segment: the label's number is 0.
        check_pep("1.0.0-alpha.dev3", Some("1.0.0a0.dev3"));
    }

    #[track_caller]
    fn check_tag(name: &str, prefix: &str, expected: Option<&str>) {
        let got = match parse_tag(name, prefix) {
            TagKind::Version(v) => Some(v.to_string()),
            _ => None,
        };
        assert_eq!(got.as_deref(), expected, "tag {name:?} prefix {prefix:?}");
    }

    #[test]
    fn version_tags_are_semver() {
        check_tag("1.2.3", "", Some("1.2.3"));
        check_tag("v1.2.3", "", Some("1.2.3"));
        check_tag("1.3.0-rc.1", "", Some("1.3.0-rc.1"));
        check_tag("1.2.3+build7", "", Some("1.2.3+build7"));
        check_tag("release-1.2.3", "release-", Some("1.2.3"));
        check_tag("mypkg-v2.0.0", "mypkg-v", Some("2.0.0"));
        for other in ["1.2", "1.2.3rc1", "build42", "deploy-2024", "xtask-v0.1.0", "v1.2.3.4", "V1.2.3", "Vx"] {
            check_tag(other, "", None);
        }
        check_tag("1.2.3", "release-", None);
        assert_eq!(parse_tag("1.2", ""), TagKind::NotSemver);
        assert_eq!(parse_tag("v1.2.3.4", ""), TagKind::NotSemver);
        assert_eq!(parse_tag("1.2.3rc1", ""), TagKind::Other);
        assert_eq!(parse_tag("V1.2.3", ""), TagKind::NotSemver, "warned about, not silently ignored");
        assert_eq!(parse_tag("Vv1.2.3", ""), TagKind::NotSemver);
        assert_eq!(parse_tag("V1.2", ""), TagKind::Other);
        assert_eq!(parse_tag("vV1.2.3", ""), TagKind::Other);
        assert_eq!(parse_tag("rel-V1.2.3", "rel-"), TagKind::NotSemver);
        assert_eq!(parse_tag("Vx", ""), TagKind::Other);
        // A SemVer core whose pre-release or build part SemVer refuses is a
        // near miss, warned about; no core, or no `-`/`+` after it, is another tag.
        for near in ["9.0.0-x/y", "9.0.1-ünï", "9.0.2-", "v9.0.3+b/c", "1.2.3+", "1.2.3-rc..1", "1.2.3-01"] {
            assert_eq!(parse_tag(near, ""), TagKind::NotSemver, "{near}");
        }
        assert_eq!(parse_tag("rel-9.0.2-", "rel-"), TagKind::NotSemver);
        for other in ["1.2.3rc1", "1.2-x/y", "1.2.x-y", "1..3-y", "1.2.3.4-x", "9.0.0_x"] {
            assert_eq!(parse_tag(other, ""), TagKind::Other, "{other}");
        }
    }
}
