//! Git reads, through libgit2 (no `git` process): HEAD, branch, tags, dirty and shallow state,
//! and the one history walk the version needs.
use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use git2::{Oid, Repository, StatusOptions};

use crate::exec::Exec;

pub(crate) use release_pipeline_plan::commit::CommitId;

/// A commit id as libgit2 takes it.
pub(crate) fn oid(commit: CommitId) -> Oid {
    Oid::from_str(commit.as_str()).expect("checked: 40 hex digits")
}

/// A commit id libgit2 gave.
#[cfg(test)]
pub(crate) fn commit_id(oid: Oid) -> CommitId {
    CommitId::parse(&oid.to_string()).expect("git writes an id as 40 lowercase hex digits")
}

pub(crate) struct Repo {
    repo: Repository,
}

impl Repo {
    /// The repository containing `path`, or `None` when there is none.
    pub(crate) fn discover(path: &Utf8Path) -> Result<Option<Repo>> {
        // git itself does not re-hash objects it reads; libgit2 does by default, which was a
        // fifth of `version`'s time on a large history (BENCHMARKS.md).
        git2::opts::strict_hash_verification(false);
        // One search-and-open (`Repository::discover` searches, then opens the path it found,
        // reading the repository's files twice); across file systems, as `discover` does.
        let no_ceiling: [&std::ffi::OsStr; 0] = [];
        match Repository::open_ext(path, git2::RepositoryOpenFlags::CROSS_FS, no_ceiling) {
            Ok(repo) => Ok(Some(Repo { repo })),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("opening the git repository at {path}")),
        }
    }

    /// A fresh clone of this repository at `dest` (another path: nothing of this work tree
    /// goes with it, only committed history), with `commit` checked out on a detached HEAD.
    pub(crate) fn clone_at(&self, dest: &Utf8Path, commit: Oid) -> Result<()> {
        let source = self.repo.path();
        let clone = Repository::clone(&source.to_string_lossy(), dest)
            .with_context(|| format!("cloning {} into {dest}", source.display()))?;
        let object = clone.find_object(commit, None).with_context(|| format!("commit {commit} in the clone"))?;
        clone
            .checkout_tree(&object, Some(git2::build::CheckoutBuilder::new().force()))
            .with_context(|| format!("checking out {commit} in {dest}"))?;
        clone.set_head_detached(commit).with_context(|| format!("detaching the clone's HEAD at {commit}"))?;
        Ok(())
    }

    /// The work tree's root (the repository itself for a bare one).
    pub(crate) fn root(&self) -> Utf8PathBuf {
        let path = self.repo.workdir().unwrap_or_else(|| self.repo.path());
        let path: std::path::PathBuf = path.components().collect(); // no trailing `/`
        Utf8PathBuf::from_path_buf(path).unwrap_or_else(|p| p.to_string_lossy().into_owned().into())
    }

    /// HEAD's commit; `None` in a repository with no commit yet.
    pub(crate) fn head(&self) -> Result<Option<Oid>> {
        match self.repo.head() {
            Ok(head) => Ok(Some(head.peel_to_commit().context("resolving HEAD to a commit")?.id())),
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch || e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e).context("reading HEAD"),
        }
    }

    /// The checked-out branch; `None` on a detached HEAD.
    pub(crate) fn branch(&self) -> Result<Option<String>> {
        if self.repo.head_detached().context("reading HEAD")? {
            return Ok(None);
        }
        let head = self.repo.find_reference("HEAD").context("reading HEAD")?;
        let target = head.symbolic_target().context("HEAD names a branch that is not UTF-8")?;
        Ok(target.and_then(|t| t.strip_prefix("refs/heads/")).map(str::to_owned))
    }

    pub(crate) fn is_shallow(&self) -> bool {
        self.repo.is_shallow()
    }

    /// A tracked file modified or a change staged, as `git status --untracked-files=no` says.
    pub(crate) fn is_dirty(&self) -> Result<bool> {
        if self.repo.is_bare() {
            return Ok(false);
        }
        // Nearly every checkout is clean and proven so from the index alone; anything else goes
        // to libgit2's status, which decides by content.
        if self.clean_by_stat().unwrap_or(false) {
            return Ok(false);
        }
        Ok(!self.tracked_changes()?.is_empty())
    }

    /// `true` when the index proves the work tree clean the way `git status` does before it reads
    /// any file: the index's cached root tree (its TREE extension) is HEAD's tree, so nothing is
    /// staged, and every tracked file's `lstat` matches its index entry in every field libgit2's
    /// status compares (mode, size, mtime, ctime, inode, owner); those racily clean (as new as the
    /// index) libgit2's status reads one by one. `false` when
    /// it cannot tell: libgit2's status, which reads HEAD's trees, every directory of the work
    /// tree and the content of any file whose stat changed, then decides. This spares those reads
    /// (BENCHMARKS.md).
    #[cfg(unix)]
    fn clean_by_stat(&self) -> Result<bool> {
        use std::{collections::HashSet, ffi::OsStr, os::unix::prelude::*};
        let Some(workdir) = self.repo.workdir() else { return Ok(false) };
        // Stamped before the index is read: a later write only makes more entries look racy.
        let stamp = std::fs::metadata(self.repo.path().join("index"))?;
        let (stamp_secs, stamp_nanos) = (stamp.mtime() as i32, stamp.mtime_nsec() as u32);
        let mut index = self.repo.index()?;
        let head_tree = self.repo.head()?.peel_to_commit()?.tree_id();
        // With a valid cache tree, libgit2 returns its root at once; without one it would write
        // the trees, which fails on an object database with no backend: no side effect either way.
        let scratch = Repository::from_odb(git2::Odb::new()?)?;
        if index.write_tree_to(&scratch).ok() != Some(head_tree) {
            return Ok(false);
        }
        let stage_mask = 0x3000;
        let assumed = git2::IndexEntryFlag::VALID.bits();
        let skipped = git2::IndexEntryExtendedFlag::SKIP_WORKTREE.bits();
        let intent = git2::IndexEntryExtendedFlag::INTENT_TO_ADD.bits();
        // One path buffer, and the directory checks only when the directory changes: this runs
        // unoptimized in the dev profile `cargo xtask` uses, once per tracked file.
        let mut path: Vec<u8> = workdir.as_os_str().as_bytes().to_vec();
        let root_len = path.len();
        let mut dirs: HashSet<Vec<u8>> = HashSet::new();
        let mut last_dir: Vec<u8> = Vec::new();
        let mut racy = Vec::new();
        for entry in index.iter() {
            if entry.flags & stage_mask != 0 || entry.flags_extended & intent != 0 {
                return Ok(false); // a conflict, or `git add -N`: status reports both
            }
            if entry.mode == 0o160000 {
                continue; // a submodule: status excludes them
            }
            path.truncate(root_len);
            path.extend_from_slice(&entry.path);
            // Every leading directory must still be one: libgit2's work tree iterator does not
            // follow a directory replaced by a symlink, while lstat through it would.
            let mut dir_len = entry.path.len();
            while dir_len > 0 && entry.path[dir_len - 1] != b'/' {
                dir_len -= 1;
            }
            let dir = &entry.path[..dir_len];
            if dir != last_dir.as_slice() {
                let mut at = 0;
                while at < dir.len() {
                    if dir[at] == b'/' && !dirs.contains(&dir[..at]) {
                        let meta = std::fs::symlink_metadata(OsStr::from_bytes(&path[..root_len + at]));
                        if !meta.is_ok_and(|m| m.is_dir()) {
                            return Ok(false);
                        }
                        dirs.insert(dir[..at].to_vec());
                    }
                    at += 1;
                }
                last_dir.clear();
                last_dir.extend_from_slice(dir);
            }
            let Ok(meta) = std::fs::symlink_metadata(OsStr::from_bytes(&path)) else { return Ok(false) };
            if entry.flags & assumed != 0 || entry.flags_extended & skipped != 0 {
                continue; // assume-unchanged and skip-worktree: status reports them unmodified
            }
            let mode = match meta.mode() & 0o170000 {
                0o100000 if meta.mode() & 0o100 != 0 => 0o100755,
                0o100000 => 0o100644,
                0o120000 => 0o120000,
                _ => return Ok(false),
            };
            let (secs, nanos) = (entry.mtime.seconds(), entry.mtime.nanoseconds());
            if mode != entry.mode
                || meta.size() as u32 != entry.file_size
                || meta.mtime() as i32 != secs
                || meta.mtime_nsec() as u32 != nanos
                || meta.ctime() as i32 != entry.ctime.seconds()
                || meta.ctime_nsec() as u32 != entry.ctime.nanoseconds()
                || meta.ino() as u32 != entry.ino
                || meta.uid() != entry.uid
                || meta.gid() != entry.gid
            {
                return Ok(false);
            }
            // Written in the same clock tick as the index (the last files of a checkout): the
            // stat cannot tell, so the content decides, as git's racy-git check does. A regular
            // file whose bytes hash to its blob is clean; anything else (a symlink, a file a
            // filter such as CRLF conversion rewrites) goes to libgit2's status, which applies
            // the filters.
            if stamp_secs < secs || (stamp_secs == secs && stamp_nanos <= nanos) {
                let hashed = (mode != 0o120000)
                    .then(|| git2::Oid::hash_file(git2::ObjectType::Blob, OsStr::from_bytes(&path)).ok())
                    .flatten();
                if hashed != Some(entry.id) {
                    racy.push(entry.path);
                }
            }
        }
        if racy.len() > 100 {
            return Ok(false); // one status of the whole tree is cheaper
        }
        if racy.is_empty() {
            return Ok(true);
        }
        // The racily clean files, and only those, through libgit2's status.
        let mut opts = StatusOptions::new();
        opts.include_untracked(false).include_ignored(false).exclude_submodules(true).disable_pathspec_match(true);
        for path in &racy {
            opts.pathspec(OsStr::from_bytes(path));
        }
        let statuses = self.repo.statuses(Some(&mut opts)).context("reading the work tree's status")?;
        Ok(statuses.is_empty())
    }

    #[cfg(not(unix))]
    fn clean_by_stat(&self) -> Result<bool> {
        Ok(false)
    }

    fn tracked_changes(&self) -> Result<git2::Statuses<'_>> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(false).include_ignored(false).exclude_submodules(true);
        self.repo.statuses(Some(&mut opts)).context("reading the work tree's status")
    }

    /// The tracked files [`Repo::is_dirty`] counts, by path.
    pub(crate) fn changed_files(&self) -> Result<Vec<String>> {
        if self.repo.is_bare() {
            return Ok(Vec::new());
        }
        let statuses = self.tracked_changes()?;
        let mut files: Vec<String> = statuses.iter().filter_map(|e| e.path().ok().map(str::to_owned)).collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// The files git tracks, relative to the work tree root: what a crate may hold. Untracked
    /// and ignored files are not among them.
    pub(crate) fn tracked_files(&self) -> Result<std::collections::BTreeSet<Utf8PathBuf>> {
        let index = self.repo.index().context("reading the git index")?;
        index
            .iter()
            .map(|entry| String::from_utf8(entry.path).map(Utf8PathBuf::from).context("a tracked path is not UTF-8"))
            .collect()
    }

    /// Calls `visit` with each tag whose name starts with `prefix`: its name (without
    /// `refs/tags/`), the object it points at (a commit, or an annotated tag object), and what
    /// that peels to when `packed-refs` says so (its `^` line: no need to read the tag object).
    /// Straight from the ref iterator (`tag_foreach` looks each name up again), with no copy of
    /// the names: libgit2 matches the prefix as it lists, so other prefixes' tags cost no
    /// reference object; a prefix with glob characters is matched here instead.
    pub(crate) fn for_each_tag(&self, prefix: &str, mut visit: impl FnMut(&str, Oid, Option<Oid>)) -> Result<()> {
        let plain = !prefix.contains(['*', '?', '[', '\\']);
        let glob = if plain { format!("refs/tags/{prefix}*") } else { "refs/tags/*".to_owned() };
        for reference in self.repo.references_glob(&glob).context("listing tags")? {
            let reference = reference.context("listing tags")?;
            let name = reference.name_bytes().strip_prefix(b"refs/tags/").and_then(|n| std::str::from_utf8(n).ok());
            if let (Some(name), Some(target)) = (name.filter(|n| n.starts_with(prefix)), reference.target()) {
                visit(name, target, reference.target_peel());
            }
        }
        Ok(())
    }

    /// The retractions this repository records: each `retracted/<version tag>` tag, with the
    /// reason its annotation gives (`cargo xtask retract`).
    pub(crate) fn retractions(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for reference in self.repo.references_glob("refs/tags/retracted/*").context("listing retractions")? {
            let reference = reference.context("listing retractions")?;
            let Some(name) = reference.shorthand().ok().and_then(|n| n.strip_prefix("retracted/")) else { continue };
            let reason = reference
                .peel_to_tag()
                .ok()
                .and_then(|t| t.message().ok().flatten().map(|m| m.trim().to_owned()))
                .unwrap_or_else(|| "no reason recorded".to_owned());
            out.push((name.to_owned(), reason));
        }
        Ok(out)
    }

    /// The commit a tag names; `None` when the object is missing (a shallow clone) or no commit.
    pub(crate) fn peel(&self, target: Oid) -> Option<Oid> {
        let object = self.repo.find_object(target, None).ok()?;
        object.peel_to_commit().ok().map(|c| c.id())
    }

    /// [`Repo::peel`], trusting a peeled value from `packed-refs` when there is one.
    pub(crate) fn peel_listed(&self, target: Oid, peeled: Option<Oid>) -> Option<Oid> {
        match peeled {
            Some(commit) => self.repo.find_commit(commit).ok().map(|c| c.id()),
            None => self.peel(target),
        }
    }

    /// `Some(git rev-list --count TAG..HEAD)` when `tag` is reachable from `head`, else `None`,
    /// in one walk: from `head`, hiding the tag's parents. The tag commit shows up in that walk
    /// exactly when it is reachable, and every other commit it yields is in `TAG..HEAD`. When the
    /// tag is not reachable the walk stops where the tag's history joins HEAD's.
    pub(crate) fn distance_if_reachable(&self, head: Oid, tag: Oid) -> Result<Option<u64>> {
        if head == tag {
            return Ok(Some(0));
        }
        let commit = self.repo.find_commit(tag).with_context(|| format!("reading commit {tag}"))?;
        let mut walk = self.repo.revwalk().context("starting a history walk")?;
        walk.push(head)?;
        for parent in commit.parent_ids() {
            walk.hide(parent)?;
        }
        let (mut count, mut seen) = (0u64, false);
        for oid in walk {
            if oid.context("walking history")? == tag {
                seen = true;
            } else {
                count += 1;
            }
        }
        Ok(seen.then_some(count))
    }

    /// `git rev-list --count HEAD`.
    pub(crate) fn count_commits(&self, head: Oid) -> Result<u64> {
        let mut walk = self.repo.revwalk().context("starting a history walk")?;
        walk.push(head)?;
        let mut count = 0;
        for oid in walk {
            oid.context("walking history")?;
            count += 1;
        }
        Ok(count)
    }

    /// Whether the object database holds `commit`.
    /// The first of `paths` (files or directories, relative to the root) that differs between
    /// the trees of `from` and HEAD, if any.
    pub(crate) fn first_change_since(&self, from: Oid, paths: &[String]) -> Result<Option<String>> {
        let old = self.repo.find_commit(from).with_context(|| format!("reading commit {from}"))?.tree()?;
        let new = self.repo.head().context("reading HEAD")?.peel_to_tree().context("reading HEAD's tree")?;
        let mut opts = git2::DiffOptions::new();
        for path in paths {
            opts.pathspec(path);
        }
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))
            .context("comparing the trees of the base tag and HEAD")?;
        Ok(diff
            .deltas()
            .next()
            .and_then(|d| d.new_file().path().or(d.old_file().path()))
            .map(|p| p.display().to_string()))
    }

    pub(crate) fn has_commit(&self, commit: Oid) -> bool {
        self.repo.find_commit(commit).is_ok()
    }

    /// Tries to fetch `commit` from `remote` (`git fetch -- REMOTE SHA`; libgit2 is built without
    /// network). Failure is not an error: the caller then treats the commit as unknown.
    pub(crate) fn fetch_commit(&self, exec: &Exec, remote: &str, commit: Oid) {
        let dir = self.root();
        let sha = commit.to_string();
        let _ = exec.output(xshell::cmd!(exec.sh, "git -C {dir} fetch --quiet --no-tags -- {remote} {sha}"));
    }

    /// The URL of the remote `name`, if there is one.
    pub(crate) fn remote_url(&self, name: &str) -> Option<String> {
        self.repo.find_remote(name).ok()?.url().ok().map(str::to_owned)
    }

    /// Whether this checkout has a remote named `name`.
    pub(crate) fn has_remote(&self, name: &str) -> bool {
        self.repo.find_remote(name).is_ok()
    }

    /// The refs the git remote `remote` holds under `prefix` (`refs/heads/`,
    /// `refs/tags/retracted/`), named without it: `git ls-remote -- REMOTE` (libgit2 is built without
    /// network). `what` names the read in its error.
    pub(crate) fn remote_refs(&self, exec: &Exec, remote: &str, prefix: &str, what: &str) -> Result<Vec<String>> {
        let dir = self.root();
        let pattern = format!("{prefix}*");
        let listed = exec.exec(xshell::cmd!(exec.sh, "git -C {dir} ls-remote -- {remote} {pattern}"), what)?;
        // Each line: `<object>\t<ref>`; an annotated tag adds a `<ref>^{}` line for its commit.
        Ok(listed
            .lines()
            .filter_map(|l| l.split('\t').nth(1)?.strip_prefix(prefix))
            .filter(|name| !name.ends_with("^{}"))
            .map(str::to_owned)
            .collect())
    }

    /// The tags the git remote `remote` holds, each with the commit it names (an annotated tag
    /// peeled): `git ls-remote --tags -- REMOTE`.
    pub(crate) fn remote_tags(&self, exec: &Exec, remote: &str, what: &str) -> Result<Vec<(String, Oid)>> {
        let dir = self.root();
        let listed = exec.exec(xshell::cmd!(exec.sh, "git -C {dir} ls-remote --tags -- {remote}"), what)?;
        let mut tags: std::collections::BTreeMap<String, Oid> = std::collections::BTreeMap::new();
        for (object, name) in listed.lines().filter_map(|l| l.split_once('\t')) {
            let (Ok(object), Some(name)) = (Oid::from_str(object), name.strip_prefix("refs/tags/")) else { continue };
            match name.strip_suffix("^{}") {
                // The commit an annotated tag names comes after the tag object's line.
                Some(tag) => {
                    tags.insert(tag.to_owned(), object);
                }
                None => {
                    tags.entry(name.to_owned()).or_insert(object);
                }
            }
        }
        Ok(tags.into_iter().collect())
    }

    /// Whether `descendant` contains `ancestor` (equal counts).
    pub(crate) fn contains(&self, descendant: Oid, ancestor: Oid) -> Result<bool> {
        Ok(descendant == ancestor
            || self.repo.graph_descendant_of(descendant, ancestor).context("comparing commits")?)
    }

    /// `git log SINCE..END` (every commit when `since` is `None`), newest first in a stable
    /// order (topological, then by time), each with its subject, body and parent count; with
    /// `paths`, only the commits that change one of them (against their first parent).
    pub(crate) fn commits_between(
        &self,
        end: Oid,
        since: Option<Oid>,
        paths: Option<&[String]>,
    ) -> Result<Vec<release_pipeline_plan::notes::CommitFacts>> {
        let mut walk = self.repo.revwalk().context("starting a history walk")?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
        walk.push(end)?;
        if let Some(since) = since {
            walk.hide(since)?;
        }
        let mut out = Vec::new();
        for oid in walk {
            let commit = self.repo.find_commit(oid.context("walking history")?).context("reading a commit")?;
            if let Some(paths) = paths {
                if !self.changes_any(&commit, paths)? {
                    continue;
                }
            }
            out.push(release_pipeline_plan::notes::CommitFacts {
                id: CommitId::parse(&commit.id().to_string()).map_err(anyhow::Error::msg)?,
                subject: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
                body: String::from_utf8_lossy(commit.body_bytes().unwrap_or_default()).into_owned(),
                parents: commit.parent_count(),
            });
        }
        Ok(out)
    }

    /// Whether `commit` changes one of `paths` (files or directories, relative to the root)
    /// against its first parent (a root commit: against nothing).
    fn changes_any(&self, commit: &git2::Commit<'_>, paths: &[String]) -> Result<bool> {
        let tree = commit.tree().context("reading a commit's tree")?;
        let parent = match commit.parent(0) {
            Ok(parent) => Some(parent.tree().context("reading a commit's tree")?),
            Err(_) => None,
        };
        let mut opts = git2::DiffOptions::new();
        for path in paths {
            opts.pathspec(path);
        }
        let diff = self
            .repo
            .diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut opts))
            .context("comparing a commit with its parent")?;
        Ok(diff.deltas().next().is_some())
    }

    /// The committer time of `commit`, in seconds since the epoch.
    pub(crate) fn commit_time(&self, commit: Oid) -> Result<i64> {
        Ok(self.repo.find_commit(commit).with_context(|| format!("reading commit {commit}"))?.time().seconds())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::{path::Path, process::Command};

    #[test]
    fn commit_ids() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        let id = CommitId::parse(hex).unwrap();
        assert_eq!((id.as_str(), oid(id).to_string()), (hex, hex.to_owned()));
        assert_eq!(commit_id(oid(id)), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{hex}\""));
        for bad in [&hex[..39], &format!("{hex}0"), &hex.to_uppercase(), &hex.replace('0', "g"), "", "unknown"] {
            let err = CommitId::parse(bad).unwrap_err();
            assert!(err.ends_with("is not a commit id (40 lowercase hex digits)"), "{bad}: {err}");
        }
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .current_dir(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "T")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "T")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A committed tree of three files in two directories, its index no longer racy.
    fn checkout() -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        for (file, text) in [("a.txt", "one\n"), ("src/b.rs", "two\n"), ("src/deep/c.rs", "three\n")] {
            std::fs::write(root.join(file), text).unwrap();
        }
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "a"]);
        // Files and index written in one clock tick are racily clean: step past it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        git(dir.path(), &["update-index", "--really-refresh"]);
        git(dir.path(), &["commit", "-q", "--allow-empty", "-m", "b"]);
        (dir, root)
    }

    fn open(root: &Utf8Path) -> Repo {
        Repo::discover(root).unwrap().unwrap()
    }

    /// The index's modification time moved back: every entry is as new as the index.
    fn age_index(root: &Utf8Path) {
        let index = std::fs::File::options().write(true).open(root.join(".git/index")).unwrap();
        index.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000)).unwrap();
    }

    /// The remote is given to git after `--`, so a remote named like an option
    /// is a (bad) remote name, never `--upload-pack`.
    #[test]
    fn a_remote_is_never_an_option() {
        let (dir, root) = checkout();
        let repo = open(&root);
        let marker = dir.path().join("ran");
        let remote = format!("--upload-pack=touch {}", marker.display());
        assert!(repo.remote_refs(&crate::exec::Exec::processes().unwrap(), &remote, "refs/heads/", "listing").is_err());
        repo.fetch_commit(
            &crate::exec::Exec::processes().unwrap(),
            &remote,
            repo.repo.head().unwrap().target().unwrap(),
        );
        assert!(!marker.exists(), "git ran the remote's value as an option");
    }

    #[test]
    fn a_clean_checkout_is_proven_clean_from_the_index() {
        let (_dir, root) = checkout();
        let repo = open(&root);
        assert!(repo.clean_by_stat().unwrap());
        assert!(!repo.is_dirty().unwrap());
    }

    #[test]
    fn a_touched_file_goes_to_status_which_reads_it() {
        let (_dir, root) = checkout();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(root.join("src/b.rs"), "two\n").unwrap();
        let repo = open(&root);
        assert!(!repo.clean_by_stat().unwrap(), "the stat changed");
        assert!(!repo.is_dirty().unwrap(), "the content did not");
        std::fs::write(root.join("src/b.rs"), "TWO\n").unwrap();
        assert!(open(&root).is_dirty().unwrap());
    }

    #[test]
    fn racily_clean_entries_are_read() {
        let (_dir, root) = checkout();
        age_index(&root);
        assert!(open(&root).clean_by_stat().unwrap(), "unchanged content, read and found equal");
        // A change the stat cannot see: same size, and the entry forged to the new stat, as a
        // write in the same clock tick as `git add` would leave it.
        std::fs::write(root.join("src/deep/c.rs"), "THREE\n").unwrap();
        let repo = open(&root);
        let mut index = repo.repo.index().unwrap();
        let mut entry = index.get_path(Path::new("src/deep/c.rs"), 0).unwrap();
        let meta = std::fs::symlink_metadata(root.join("src/deep/c.rs")).unwrap();
        use std::os::unix::fs::MetadataExt;
        entry.mtime = git2::IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32);
        entry.ctime = git2::IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32);
        entry.ino = meta.ino() as u32;
        index.add(&entry).unwrap();
        index.write().unwrap();
        age_index(&root);
        let repo = open(&root);
        assert!(!repo.clean_by_stat().unwrap());
        assert!(repo.is_dirty().unwrap());
    }

    /// A racily clean file whose bytes differ from its blob only by a filter (CRLF in the work
    /// tree, LF in the blob): its hash does not match, so status applies the filter and finds it
    /// clean.
    #[test]
    fn a_racily_clean_file_behind_a_filter_goes_to_status() {
        let (_dir, root) = checkout();
        std::fs::write(root.join(".gitattributes"), "*.txt text eol=crlf\n").unwrap();
        git(root.as_std_path(), &["add", ".gitattributes"]);
        git(root.as_std_path(), &["commit", "-q", "-m", "crlf"]);
        std::fs::remove_file(root.join("a.txt")).unwrap();
        git(root.as_std_path(), &["checkout", "--", "a.txt"]);
        assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"one\r\n");
        age_index(&root);
        let repo = open(&root);
        assert!(repo.clean_by_stat().unwrap(), "status applied the filter");
        assert!(!repo.is_dirty().unwrap());
    }

    #[test]
    fn staged_deleted_and_type_changed_files_are_dirty() {
        let (_dir, root) = checkout();
        std::fs::write(root.join("a.txt"), "staged\n").unwrap();
        git(root.as_std_path(), &["add", "a.txt"]);
        let repo = open(&root);
        assert!(!repo.clean_by_stat().unwrap());
        assert!(repo.is_dirty().unwrap(), "the index differs from HEAD");

        let (_dir, root) = checkout();
        std::fs::remove_file(root.join("src/b.rs")).unwrap();
        assert!(open(&root).is_dirty().unwrap(), "deleted");

        let (_dir, root) = checkout();
        std::fs::remove_file(root.join("a.txt")).unwrap();
        std::os::unix::fs::symlink("src/b.rs", root.join("a.txt")).unwrap();
        assert!(open(&root).is_dirty().unwrap(), "a file become a symlink");
    }

    #[test]
    fn a_directory_replaced_by_a_symlink_to_it_is_dirty() {
        let (_dir, root) = checkout();
        std::fs::rename(root.join("src"), root.join("moved")).unwrap();
        std::os::unix::fs::symlink("moved", root.join("src")).unwrap();
        let repo = open(&root);
        assert!(!repo.clean_by_stat().unwrap(), "stat through the symlink would match");
        assert!(repo.is_dirty().unwrap());
    }

    #[test]
    fn assume_unchanged_files_are_not_compared() {
        let (_dir, root) = checkout();
        git(root.as_std_path(), &["update-index", "--assume-unchanged", "a.txt"]);
        std::fs::write(root.join("a.txt"), "changed, but git was told not to look\n").unwrap();
        // `update-index` drops the cached root tree, so this is status's answer, and stays so.
        let repo = open(&root);
        assert!(!repo.is_dirty().unwrap());
        assert!(repo.tracked_changes().unwrap().is_empty());
    }
}
