//! Notes under [`NOTES_REF`], where docket attaches run attestations to commits: the
//! note's bytes are stored exactly, read one at a time or all in one batch, and pushed
//! like a branch (never forced).

use crate::command::{GitCall, parse_object_id, redact_credentials};
use crate::commit::validate_identity;
use crate::repo::ref_exists;
use crate::{GitError, Repo};

/// Where docket attaches run attestations to commits.
pub const NOTES_REF: &str = "refs/notes/docket";

impl Repo {
    /// Attaches `bytes` to `commit` as its note under [`NOTES_REF`], replacing an
    /// earlier note. The note's bytes are stored exactly (no message clean-up).
    pub async fn add_note(
        &self,
        commit: &str,
        bytes: &[u8],
        name: &str,
        email: &str,
    ) -> Result<(), GitError> {
        validate_identity(name, email)?;
        let blob = GitCall::new(&self.root)
            .args(["hash-object", "-w", "--stdin"])
            .stdin(bytes.to_vec())
            .run()
            .await?;
        let blob = parse_object_id(&blob).ok_or_else(|| GitError::UnexpectedOutput {
            args: vec!["hash-object".into()],
            dir: self.root.clone(),
            detail: "no object id".into(),
        })?;
        GitCall::new(&self.root)
            .args([
                "notes", "--ref", NOTES_REF, "add", "-f", "-C", &blob, commit,
            ])
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email)
            .run()
            .await?;
        Ok(())
    }

    /// `commit`'s note under [`NOTES_REF`], if it has one.
    pub async fn note(&self, commit: &str) -> Result<Option<Vec<u8>>, GitError> {
        let call = GitCall::new(&self.root).args(["notes", "--ref", NOTES_REF, "show", commit]);
        let args = call.display_args();
        let output = call.output().await?;
        match output.code {
            Some(0) => Ok(Some(output.stdout)),
            _ if String::from_utf8_lossy(&output.stderr).contains("no note found") => Ok(None),
            _ => Err(output.into_error(args, &self.root)),
        }
    }

    /// Every note under [`NOTES_REF`]: (annotated commit, note bytes), read in one batch.
    pub async fn notes(&self) -> Result<Vec<(String, Vec<u8>)>, GitError> {
        if !ref_exists(&self.root, NOTES_REF).await? {
            return Ok(Vec::new());
        }
        let listing = GitCall::new(&self.root)
            .args(["notes", "--ref", NOTES_REF, "list"])
            .run()
            .await?;
        let pairs: Vec<(String, String)> = String::from_utf8_lossy(&listing)
            .lines()
            .filter_map(|line| {
                let (blob, commit) = line.split_once(' ')?;
                Some((blob.to_owned(), commit.to_owned()))
            })
            .collect();
        let request: String = pairs.iter().map(|(blob, _)| format!("{blob}\n")).collect();
        let batch = GitCall::new(&self.root)
            .args(["cat-file", "--batch"])
            .stdin(request.into_bytes())
            .run()
            .await?;
        let bad = |detail: String| GitError::UnexpectedOutput {
            args: vec!["cat-file".into(), "--batch".into()],
            dir: self.root.clone(),
            detail,
        };
        // Each object: `<oid> SP <type> SP <size> LF <content> LF`.
        let mut out = Vec::with_capacity(pairs.len());
        let mut rest = batch.as_slice();
        for (_, commit) in pairs {
            let header_end = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| bad("truncated header".into()))?;
            let header = String::from_utf8_lossy(&rest[..header_end]).into_owned();
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad(format!("unexpected header `{header}`")))?;
            let start = header_end + 1;
            let content = rest
                .get(start..start + size)
                .ok_or_else(|| bad("truncated object".into()))?;
            out.push((commit, content.to_vec()));
            rest = rest.get(start + size + 1..).unwrap_or_default();
        }
        Ok(out)
    }

    /// Pushes [`NOTES_REF`] to `remote` (never forced).
    pub async fn push_notes(&self, remote: &str) -> Result<(), GitError> {
        self.check_remote(remote)?;
        let refspec = format!("{NOTES_REF}:{NOTES_REF}");
        self.push_refspec(remote, &refspec).await?;
        tracing::info!(remote = %redact_credentials(remote), "pushed attestation notes");
        Ok(())
    }
}
