//! What an agent changed: the checkout is staged into a private temporary index seeded
//! from its base commit, written as a tree, and compared tree to tree with fixed
//! options, so the same files give the same patch bytes and the same digest. A
//! commit's digest ([`Repo::commit_diff_digest`]) and the gate's
//! ([`Repo::tree_diff_digests`]) print the patch with the same options.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::command::{GitCall, parse_object_id};
use crate::repo::resolve_commit;
use crate::{GitError, Repo, Worktree};

/// Options shared by every diff docket computes, spelled out so that neither the user's
/// config nor git's defaults changing can alter the patch bytes (and so the digest).
pub(crate) const DIFF_OPTIONS: &[&str] = &[
    "-r",
    "-M",
    "-l1000",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
];

/// How a diff is printed as a patch: the bytes whose sha256 is a run's diff digest.
pub(crate) const PATCH_OPTIONS: &[&str] = &[
    "-p",
    "--binary",
    "--full-index",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--unified=3",
    "--inter-hunk-context=0",
    "--diff-algorithm=myers",
    "--indent-heuristic",
];

/// The empty tree (SHA-1 repositories): the "parent" of a root commit.
pub(crate) const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

const MODE_SYMLINK: &str = "120000";

/// A diff digest: `sha256:<hex>` of the patch bytes.
pub(crate) fn patch_digest(patch: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(patch)))
}

/// How one path changed between the base commit and the worktree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
    Renamed,
    /// The kind of entry changed, e.g. a regular file became a symlink.
    TypeChanged,
}

/// One changed path in a [`Diff`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Path after the change (for a deletion, the deleted path), relative to the root.
    pub path: String,
    /// For renames, the path before the change.
    pub old_path: Option<String>,
    pub status: ChangeStatus,
    /// Git mode before the change (`100644`, `100755`, `120000`, `160000`); `None` if added.
    pub old_mode: Option<String>,
    /// Git mode after the change; `None` if deleted.
    pub new_mode: Option<String>,
    /// Git considers the content binary; line counts are then zero.
    pub binary: bool,
    pub added_lines: u64,
    pub removed_lines: u64,
    /// The path is a symlink after the change, or was one before a deletion.
    pub is_symlink: bool,
    /// Target of that symlink, as stored by git.
    pub symlink_target: Option<String>,
}

/// A file read from a tree by [`Worktree::tree_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeFile {
    Bytes(Vec<u8>),
    /// Larger than the limit it was read with; not read.
    TooLarge {
        size: u64,
    },
}

/// Everything an agent changed in a worktree, relative to the worktree's base commit.
/// Serialisable so that a run's judged change can pass between stages run apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// Changed paths, sorted by `path`.
    pub files: Vec<FileChange>,
    /// The full patch as produced by `git diff-tree -p --binary`; binary-safe.
    pub patch: Vec<u8>,
    /// `sha256:<hex>` of `patch`.
    pub digest: String,
    /// Id of the git tree that holds the worktree's content; `commit` commits this tree.
    pub tree: String,
}

impl Worktree {
    /// Collects everything the agent changed relative to `base`: modified, added
    /// (untracked files, respecting `.gitignore`), deleted, renamed, mode changes,
    /// binaries and symlinks.
    pub async fn collect_diff(&self) -> Result<Diff, GitError> {
        let tree = self.stage_tree().await?;

        // Three independent reads of the same two trees: run them at once.
        let (raw, numstat, patch) = tokio::try_join!(
            self.diff_call(&tree).args(["--raw", "-z"]).run(),
            self.diff_call(&tree).args(["--numstat", "-z"]).run(),
            self.diff_call(&tree).args(PATCH_OPTIONS).run(),
        )?;

        let parse_error = |what: &str, detail: String| GitError::UnexpectedOutput {
            args: vec!["diff-tree".to_owned(), what.to_owned()],
            dir: self.path.clone(),
            detail,
        };
        let entries = parse_raw(&raw).map_err(|detail| parse_error("--raw", detail))?;
        let counts = parse_numstat(&numstat).map_err(|detail| parse_error("--numstat", detail))?;

        let counts: HashMap<String, Option<(u64, u64)>> = counts
            .into_iter()
            .map(|count| (count.path, count.lines))
            .collect();
        let mut files = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(&lines) = counts.get(&entry.path) else {
                return Err(parse_error(
                    "--numstat",
                    format!("no line counts for `{}`", entry.path),
                ));
            };
            let symlink_oid = match (&entry.new_mode, &entry.old_mode) {
                (Some(mode), _) if mode == MODE_SYMLINK => Some(&entry.new_oid),
                (None, Some(mode)) if mode == MODE_SYMLINK => Some(&entry.old_oid),
                _ => None,
            };
            let symlink_target = match symlink_oid {
                Some(oid) => Some(self.blob_text(oid).await?),
                None => None,
            };
            files.push(FileChange {
                path: entry.path,
                old_path: entry.old_path,
                status: entry.status,
                old_mode: entry.old_mode,
                new_mode: entry.new_mode,
                binary: lines.is_none(),
                added_lines: lines.map_or(0, |(added, _)| added),
                removed_lines: lines.map_or(0, |(_, removed)| removed),
                is_symlink: symlink_target.is_some(),
                symlink_target,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));

        let digest = patch_digest(&patch);
        tracing::info!(worktree = %self.path.display(), files = files.len(), %digest, "collected diff");
        Ok(Diff {
            files,
            patch,
            digest,
            tree,
        })
    }

    /// Applies a patch made by [`Worktree::collect_diff`] to this worktree's files
    /// (used to re-run an agent on its own result).
    pub async fn apply_patch(&self, patch: &[u8]) -> Result<(), GitError> {
        if patch.is_empty() {
            return Ok(());
        }
        let call = GitCall::new(&self.path)
            .args(["apply", "--binary", "--whitespace=nowarn", "-"])
            .stdin(patch.to_vec());
        let args = call.display_args();
        let output = call.output().await?;
        match output.code {
            Some(0) => Ok(()),
            _ => Err(output.into_error(args, &self.path)),
        }
    }

    /// Stages the whole worktree into a private temporary index seeded from `base` and
    /// writes it as a tree. The worktree's own index is neither read nor written.
    pub(crate) async fn stage_tree(&self) -> Result<String, GitError> {
        let admin = self.own_git_dir().await?;
        let index = TemporaryIndex::new(&admin);
        GitCall::new(&self.path)
            .args(["read-tree", &self.base])
            .env("GIT_INDEX_FILE", index.path())
            .run()
            .await?;
        // Mode changes and symlinks are part of what the agent did, whatever the user's
        // repository says about its own checkout's filesystem.
        GitCall::new(&self.path)
            .config("core.fileMode=true")
            .config("core.symlinks=true")
            .args(["add", "--all", "--", "."])
            .env("GIT_INDEX_FILE", index.path())
            .run()
            .await?;
        let call = GitCall::new(&self.path)
            .arg("write-tree")
            .env("GIT_INDEX_FILE", index.path());
        let args = call.display_args();
        let stdout = call.run().await?;
        parse_object_id(&stdout).ok_or_else(|| GitError::UnexpectedOutput {
            args,
            dir: self.path.clone(),
            detail: format!(
                "expected a tree id, got `{}`",
                String::from_utf8_lossy(&stdout).trim()
            ),
        })
    }

    fn diff_call(&self, tree: &str) -> GitCall<'_> {
        GitCall::new(&self.path)
            .arg("diff-tree")
            .args(DIFF_OPTIONS)
            .args([self.base.as_str(), tree])
    }

    /// Every symlink in `tree` (as [`Diff::tree`] names it), by repository-relative
    /// path, with its target as stored by git; the links' own content, never the
    /// filesystem they point into.
    pub async fn tree_symlinks(&self, tree: &str) -> Result<BTreeMap<String, String>, GitError> {
        let call = GitCall::new(&self.path).args(["ls-tree", "-r", "-z", "--full-tree", tree]);
        let args = call.display_args();
        let listing = call.run().await?;
        let mut links = Vec::new();
        for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            // <mode> SP <type> SP <oid> TAB <path>
            let record = String::from_utf8_lossy(record);
            let parsed = record.split_once('\t').and_then(|(meta, path)| {
                let mut meta = meta.split(' ');
                Some((meta.next()?, meta.nth(1)?, path))
            });
            let Some((mode, oid, path)) = parsed else {
                return Err(GitError::UnexpectedOutput {
                    args,
                    dir: self.path.clone(),
                    detail: format!("unexpected ls-tree record `{record}`"),
                });
            };
            if mode == MODE_SYMLINK {
                links.push((path.to_owned(), oid.to_owned()));
            }
        }
        if links.is_empty() {
            return Ok(BTreeMap::new());
        }
        // All targets in one read, however many links the tree holds.
        let oids: Vec<u8> = links
            .iter()
            .flat_map(|(_, oid)| oid.bytes().chain(std::iter::once(b'\n')))
            .collect();
        let call = GitCall::new(&self.path)
            .args(["cat-file", "--batch"])
            .stdin(oids);
        let args = call.display_args();
        let batch = call.run().await?;
        let targets =
            parse_batch(&batch, links.len()).map_err(|detail| GitError::UnexpectedOutput {
                args,
                dir: self.path.clone(),
                detail,
            })?;
        Ok(links
            .into_iter()
            .map(|(path, _)| path)
            .zip(targets)
            .collect())
    }

    /// The bytes of the file at `path` in `tree`, unless it is larger than `max`
    /// bytes: then only its size, and nothing more is read.
    pub async fn tree_file(&self, tree: &str, path: &str, max: u64) -> Result<TreeFile, GitError> {
        let object = format!("{tree}:{path}");
        let call = GitCall::new(&self.path).args(["cat-file", "-s", &object]);
        let args = call.display_args();
        let size = call.run().await?;
        let size = String::from_utf8_lossy(&size);
        let size: u64 = size
            .trim()
            .parse()
            .map_err(|_| GitError::UnexpectedOutput {
                args,
                dir: self.path.clone(),
                detail: format!("expected a size, got `{}`", size.trim()),
            })?;
        if size > max {
            return Ok(TreeFile::TooLarge { size });
        }
        let bytes = GitCall::new(&self.path)
            .args(["cat-file", "blob", &object])
            .run()
            .await?;
        Ok(TreeFile::Bytes(bytes))
    }

    async fn blob_text(&self, oid: &str) -> Result<String, GitError> {
        let content = GitCall::new(&self.path)
            .args(["cat-file", "blob", oid])
            .run()
            .await?;
        Ok(String::from_utf8_lossy(&content).into_owned())
    }
}

impl Repo {
    /// The diff digest of `commit`: `sha256:` of the patch from its first parent (the
    /// empty tree for a root commit), byte for byte as a run computes its own diff, so
    /// an attestation's digest can be checked against the commit alone.
    pub async fn commit_diff_digest(&self, commit: &str) -> Result<String, GitError> {
        let parent = resolve_commit(&self.root, &format!("{commit}^1"))
            .await
            .ok();
        let patch = GitCall::new(&self.root)
            .arg("diff-tree")
            .args(DIFF_OPTIONS)
            .args(PATCH_OPTIONS)
            .args([parent.as_deref().unwrap_or(EMPTY_TREE), commit])
            .run()
            .await?;
        Ok(patch_digest(&patch))
    }
}

/// An index file private to one staging operation, deleted when dropped.
struct TemporaryIndex {
    path: PathBuf,
}

impl TemporaryIndex {
    /// Names a fresh index file in the worktree's administrative directory, which git
    /// owns and removes together with the worktree, so a crash leaves nothing behind in
    /// the user's checkout.
    fn new(admin_dir: &Path) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let sequence = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = admin_dir.join(format!("docket-index-{}-{sequence}", std::process::id()));
        TemporaryIndex { path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TemporaryIndex {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(index = %self.path.display(), %error, "could not remove temporary index");
        }
    }
}

/// Parses `git cat-file --batch` output (`<oid> blob <size>\n<content>\n`, repeated)
/// into the `expected` contents as text, in order.
fn parse_batch(output: &[u8], expected: usize) -> Result<Vec<String>, String> {
    let mut rest = output;
    let mut contents = Vec::with_capacity(expected);
    while !rest.is_empty() {
        let header_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a header without a newline")?;
        let header = String::from_utf8_lossy(&rest[..header_end]);
        let size: usize = match header.split(' ').collect::<Vec<_>>()[..] {
            [_, "blob", size] => size.parse().map_err(|_| format!("bad header `{header}`"))?,
            _ => return Err(format!("unexpected header `{header}`")),
        };
        let body = rest
            .get(header_end + 1..header_end + 1 + size)
            .ok_or_else(|| format!("a blob shorter than {size} bytes"))?;
        contents.push(String::from_utf8_lossy(body).into_owned());
        rest = rest.get(header_end + 2 + size..).unwrap_or_default();
    }
    if contents.len() != expected {
        return Err(format!("{} blobs, expected {expected}", contents.len()));
    }
    Ok(contents)
}

/// One record of `git diff-tree --raw -z`.
#[derive(Debug, PartialEq, Eq)]
struct RawEntry {
    path: String,
    old_path: Option<String>,
    status: ChangeStatus,
    old_mode: Option<String>,
    new_mode: Option<String>,
    old_oid: String,
    new_oid: String,
}

/// Parses `:<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0[<new path>\0]`.
/// Unknown statuses are errors: a change docket cannot classify is not published.
fn parse_raw(output: &[u8]) -> Result<Vec<RawEntry>, String> {
    let mut fields = output.split(|b| *b == 0).filter(|field| !field.is_empty());
    let mut entries = Vec::new();
    while let Some(meta) = fields.next() {
        let meta = String::from_utf8_lossy(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [old_mode, new_mode, old_oid, new_oid, status] = parts.as_slice() else {
            return Err(format!("malformed record `{meta}`"));
        };
        let mut next_path = || {
            fields
                .next()
                .map(|path| String::from_utf8_lossy(path).into_owned())
                .ok_or_else(|| format!("record `{meta}` has no path"))
        };
        let (status, old_path, path) = match status.chars().next() {
            Some('A') => (ChangeStatus::Added, None, next_path()?),
            Some('M') => (ChangeStatus::Modified, None, next_path()?),
            Some('D') => (ChangeStatus::Deleted, None, next_path()?),
            Some('T') => (ChangeStatus::TypeChanged, None, next_path()?),
            Some('R') => {
                let old = next_path()?;
                (ChangeStatus::Renamed, Some(old), next_path()?)
            }
            _ => return Err(format!("unsupported change status `{status}`")),
        };
        let mode = |mode: &str| (!mode.trim_start_matches('0').is_empty()).then(|| mode.to_owned());
        entries.push(RawEntry {
            path,
            old_path,
            status,
            old_mode: mode(old_mode),
            new_mode: mode(new_mode),
            old_oid: (*old_oid).to_owned(),
            new_oid: (*new_oid).to_owned(),
        });
    }
    Ok(entries)
}

/// One record of `git diff-tree --numstat -z`; `lines` is `None` for binary content.
#[derive(Debug, PartialEq, Eq)]
struct LineCount {
    path: String,
    lines: Option<(u64, u64)>,
}

/// Parses `<added>\t<removed>\t<path>\0`, or for renames
/// `<added>\t<removed>\t\0<old path>\0<new path>\0`; binary files count as `-`.
fn parse_numstat(output: &[u8]) -> Result<Vec<LineCount>, String> {
    let mut fields = output.split(|b| *b == 0);
    let mut counts = Vec::new();
    while let Some(record) = fields.next() {
        if record.is_empty() {
            continue;
        }
        let record = String::from_utf8_lossy(record);
        let mut parts = record.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("malformed record `{record}`"));
        };
        let path = if path.is_empty() {
            // A rename: the old and the new path follow as separate fields.
            let _old = fields.next();
            let new = fields
                .next()
                .ok_or_else(|| format!("rename record `{record}` has no new path"))?;
            String::from_utf8_lossy(new).into_owned()
        } else {
            path.to_owned()
        };
        let lines = match (added, removed) {
            ("-", "-") => None,
            (added, removed) => {
                let parse = |n: &str| {
                    n.parse::<u64>()
                        .map_err(|_| format!("bad line count in `{record}`"))
                };
                Some((parse(added)?, parse(removed)?))
            }
        };
        counts.push(LineCount { path, lines });
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    fn change(path: &str, status: ChangeStatus) -> FileChange {
        FileChange {
            path: path.to_owned(),
            old_path: None,
            status,
            old_mode: Some("100644".to_owned()),
            new_mode: Some("100644".to_owned()),
            binary: false,
            added_lines: 0,
            removed_lines: 0,
            is_symlink: false,
            symlink_target: None,
        }
    }

    #[tokio::test]
    async fn collect_diff_sees_every_kind_of_change() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        make_every_kind_of_change(&wt.path);
        let own_index_before = git(&wt.path, &["ls-files", "--stage"]);

        let diff = wt.collect_diff().await.unwrap();

        let expected = vec![
            FileChange {
                status: ChangeStatus::TypeChanged,
                new_mode: Some("120000".to_owned()),
                added_lines: 1,
                removed_lines: 1,
                is_symlink: true,
                symlink_target: Some("target.txt".to_owned()),
                ..change("becomes_link.txt", ChangeStatus::TypeChanged)
            },
            FileChange {
                new_mode: None,
                removed_lines: 1,
                ..change("delete.txt", ChangeStatus::Deleted)
            },
            FileChange {
                old_mode: None,
                binary: true,
                ..change("image.bin", ChangeStatus::Added)
            },
            FileChange {
                old_mode: None,
                new_mode: Some("120000".to_owned()),
                added_lines: 1,
                is_symlink: true,
                symlink_target: Some("target.txt".to_owned()),
                ..change("link", ChangeStatus::Added)
            },
            FileChange {
                added_lines: 2,
                removed_lines: 1,
                ..change("modify.txt", ChangeStatus::Modified)
            },
            FileChange {
                old_mode: None,
                added_lines: 2,
                ..change("new/dir/file.txt", ChangeStatus::Added)
            },
            FileChange {
                old_path: Some("rename_me.txt".to_owned()),
                ..change("renamed.txt", ChangeStatus::Renamed)
            },
            FileChange {
                new_mode: Some("100755".to_owned()),
                ..change("script.sh", ChangeStatus::Modified)
            },
        ];
        assert_eq!(diff.files, expected);

        let patch = String::from_utf8_lossy(&diff.patch);
        for needle in [
            "diff --git a/modify.txt b/modify.txt\n",
            "-two\n+TWO\n",
            "deleted file mode 100644\n",
            "GIT binary patch\n",
            "new file mode 120000\n",
            "similarity index 100%\nrename from rename_me.txt\nrename to renamed.txt\n",
            "old mode 100644\nnew mode 100755\n",
            "+++ b/new/dir/file.txt\n",
        ] {
            assert!(patch.contains(needle), "patch lacks {needle:?}:\n{patch}");
        }
        for ignored in ["debug.log", "build/", "trace.log"] {
            assert!(!patch.contains(ignored), "patch mentions {ignored}");
        }
        assert_eq!(
            diff.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&diff.patch)))
        );
        // The worktree's own index was neither used nor changed, and no temporary index
        // is left behind.
        assert_eq!(git(&wt.path, &["ls-files", "--stage"]), own_index_before);
        let admin = git(&wt.path, &["rev-parse", "--absolute-git-dir"]);
        let leftovers: Vec<_> = std::fs::read_dir(admin.trim())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("docket-index"))
            .collect();
        assert_eq!(leftovers, Vec::<String>::new());
    }

    #[tokio::test]
    async fn collect_diff_of_an_untouched_worktree_is_empty() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let wt = repo
            .add_worktree(&fixture.worktree_path("run"), "HEAD")
            .await
            .unwrap();
        write(&wt.path.join("only-ignored.log"), b"noise\n");
        let diff = wt.collect_diff().await.unwrap();
        assert_eq!(diff.files, Vec::new());
        assert_eq!(diff.patch, Vec::<u8>::new());
        assert_eq!(
            diff.digest,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let error = wt
            .commit("nothing", AUTHOR, AUTHOR_EMAIL)
            .await
            .unwrap_err();
        assert!(
            matches!(error, GitError::NothingToCommit { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn identical_edits_give_identical_digests() {
        let fixture = Fixture::new(true);
        let repo = fixture.repo().await;
        let first = repo
            .add_worktree(&fixture.worktree_path("a"), "HEAD")
            .await
            .unwrap();
        let second = repo
            .add_worktree(&fixture.worktree_path("b"), "HEAD")
            .await
            .unwrap();
        let third = repo
            .add_worktree(&fixture.worktree_path("c"), "HEAD")
            .await
            .unwrap();
        make_every_kind_of_change(&first.path);
        make_every_kind_of_change(&second.path);
        make_every_kind_of_change(&third.path);
        write(&third.path.join("modify.txt"), b"one\nTWO\nthree\nfive\n");

        let a = first.collect_diff().await.unwrap();
        let b = second.collect_diff().await.unwrap();
        let c = third.collect_diff().await.unwrap();
        assert_eq!(a.patch, b.patch);
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.tree, b.tree);
        assert_ne!(a.digest, c.digest);
        assert_ne!(a.tree, c.tree);
        // Collecting again gives the same answer.
        assert_eq!(first.collect_diff().await.unwrap(), a);
    }

    #[test]
    fn batch_parser_reads_blobs_in_order_and_rejects_surprises() {
        let output = b"1111 blob 2\nab\n2222 blob 0\n\n3333 blob 5\n../..\n";
        assert_eq!(
            parse_batch(output, 3),
            Ok(vec!["ab".into(), "".into(), "../..".into()])
        );
        assert!(parse_batch(output, 2).is_err());
        assert!(parse_batch(b"1111 missing\n", 1).is_err());
        assert!(parse_batch(b"1111 blob 9\nab\n", 1).is_err());
    }

    #[test]
    fn raw_and_numstat_parsers_reject_what_they_do_not_understand() {
        assert_eq!(parse_raw(b""), Ok(Vec::new()));
        assert_eq!(parse_numstat(b""), Ok(Vec::new()));
        assert!(parse_raw(b":100644 100644 a b C75\0x\0y\0").is_err());
        assert!(parse_raw(b":100644 100644 a b\0x\0").is_err());
        assert!(parse_raw(b":100644 100644 a b M\0").is_err());
        assert!(parse_numstat(b"x\t1\tpath\0").is_err());
        assert_eq!(
            parse_numstat(b"1\t2\t\0old\0new\0-\t-\tbin\0"),
            Ok(vec![
                LineCount {
                    path: "new".to_owned(),
                    lines: Some((1, 2))
                },
                LineCount {
                    path: "bin".to_owned(),
                    lines: None
                },
            ])
        );
    }
}
