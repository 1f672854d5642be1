//! Tree heads in the C2SP tlog-checkpoint format (c2sp.org/tlog-checkpoint): origin,
//! tree size and base64 root hash, one per line, signed as a C2SP signed note.

use crate::hash::Hash;
use crate::note::{self, NoteError, Signer, Verifier};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Optional extension lines, kept verbatim.
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Note(#[from] NoteError),
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n[extensions\n]`.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        text
    }

    pub fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = CheckpointError::Malformed;
        let body = text
            .strip_suffix('\n')
            .ok_or(bad("text must end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(bad("empty origin"))?;
        let size_text = lines.next().ok_or(bad("missing tree size"))?;
        let size_ok = !size_text.is_empty()
            && size_text.bytes().all(|b| b.is_ascii_digit())
            && (size_text == "0" || !size_text.starts_with('0'));
        if !size_ok {
            return Err(bad(
                "tree size must be a decimal number without leading zeros",
            ));
        }
        let size = size_text.parse().map_err(|_| bad("tree size too large"))?;
        let root_text = lines.next().ok_or(bad("missing root hash"))?;
        let root =
            Hash::from_base64(root_text).map_err(|_| bad("root hash is not 32 bytes of base64"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    pub fn sign(&self, signer: &Signer) -> Result<String, CheckpointError> {
        Ok(note::sign_note(&self.to_text(), &[signer])?)
    }
}

/// A checkpoint together with its signed-note form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub note: String,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint without checking its signature.
    pub fn parse_unverified(note_text: &str) -> Result<SignedCheckpoint, CheckpointError> {
        let (text, _) = note::split_note(note_text)?;
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint::parse_text(text)?,
            note: note_text.to_owned(),
        })
    }

    /// Parses and verifies a signed checkpoint against trusted keys.
    pub fn open(
        note_text: &str,
        verifiers: &[Verifier],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let opened = note::open_note(note_text, verifiers)?;
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint::parse_text(opened.text)?,
            note: note_text.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_signs_as_a_note() {
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 42,
            root: Hash::digest(b"x"),
            extensions: vec![],
        };
        let text = cp.to_text();
        assert_eq!(
            text,
            format!("example.com/log\n42\n{}\n", Hash::digest(b"x").to_base64())
        );
        assert_eq!(Checkpoint::parse_text(&text).unwrap(), cp);
        let signer = Signer::generate("example.com/log").unwrap();
        let note = cp.sign(&signer).unwrap();
        let opened = SignedCheckpoint::open(&note, &[signer.verifier()]).unwrap();
        assert_eq!(opened.checkpoint, cp);
    }

    #[test]
    fn refuses_malformed_heads() {
        for bad in [
            "",
            "origin\n",
            "origin\n012\nAAAA\n",
            "origin\n-1\nAAAA\n",
            "origin\n1\nnot base64\n",
            "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        ] {
            assert!(Checkpoint::parse_text(bad).is_err(), "accepted {bad:?}");
        }
    }
}
