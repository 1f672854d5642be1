//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, byte for byte compatible
//! with golang.org/x/mod/sumdb/note: key names, key ids, key encodings and signatures.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte for Ed25519 (c2sp.org/signed-note, "Signature types").
const ALG_ED25519: u8 = 0x01;
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";
/// Verifiers must accept at least 16 signatures; we refuse notes with absurdly many.
const MAX_SIGNATURES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("invalid key name `{name}`: names must be non-empty and contain no spaces or `+`")]
    KeyName { name: String },
    #[error("malformed verifier key `{key}`: {reason}")]
    VerifierKey { key: String, reason: &'static str },
    #[error("malformed private key: {reason}")]
    PrivateKey { reason: &'static str },
    #[error("malformed signed note: {reason}")]
    Malformed { reason: &'static str },
    #[error("signature by {name}+{key_id:08x} does not verify")]
    BadSignature { name: String, key_id: u32 },
    #[error("note is not signed by any trusted key (signed by: {signers})")]
    NoTrustedSignature { signers: String },
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(NoteError::KeyName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`, big-endian.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A public key that can verify signed notes, written `name+hash+base64(0x01||key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Parses the standard verifier key encoding.
    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        let bad = |reason| NoteError::VerifierKey {
            key: vkey.to_owned(),
            reason,
        };
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+hash+key"));
        };
        check_name(name).map_err(|_| bad("invalid key name"))?;
        if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("key hash must be 8 hexadecimal digits"));
        }
        let claimed = u32::from_str_radix(hash, 16).map_err(|_| bad("bad key hash"))?;
        let raw = BASE64.decode(key).map_err(|_| bad("key is not base64"))?;
        let Some((&ALG_ED25519, public)) = raw.split_first() else {
            return Err(bad("unknown signature algorithm"));
        };
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| bad("Ed25519 key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("invalid Ed25519 key"))?;
        if key_id(name, &public) != claimed {
            return Err(bad("key hash does not match name and key"));
        }
        Ok(Verifier {
            name: name.to_owned(),
            key_id: claimed,
            key,
        })
    }

    /// Whether `signature` is this key's Ed25519 signature (strict verification) over
    /// exactly `message`.
    pub fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verify(message, signature)
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(text, &sig).is_ok()
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(raw)
        )
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({self})")
    }
}

/// A private signing key. Its `Debug` never shows the secret.
pub struct Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl Signer {
    /// Creates a new key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Signer, NoteError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| NoteError::PrivateKey {
            reason: "the operating system's random source failed",
        })?;
        Ok(Signer::from_seed(name, seed))
    }

    fn from_seed(name: &str, seed: [u8; 32]) -> Signer {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, key.verifying_key().as_bytes());
        Signer {
            name: name.to_owned(),
            key_id,
            key,
        }
    }

    /// Parses `PRIVATE+KEY+name+hash+base64(0x01||seed)`.
    pub fn parse(skey: &str) -> Result<Signer, NoteError> {
        let bad = |reason| NoteError::PrivateKey { reason };
        let rest = skey
            .trim_end()
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(bad("missing PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected PRIVATE+KEY+name+hash+key"));
        };
        check_name(name).map_err(|_| bad("invalid key name"))?;
        let claimed = u32::from_str_radix(hash, 16).map_err(|_| bad("bad key hash"))?;
        let raw = BASE64.decode(key).map_err(|_| bad("key is not base64"))?;
        let Some((&ALG_ED25519, seed)) = raw.split_first() else {
            return Err(bad("unknown signature algorithm"));
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| bad("Ed25519 seed must be 32 bytes"))?;
        let signer = Signer::from_seed(name, seed);
        if signer.key_id != claimed || hash.len() != 8 {
            return Err(bad("key hash does not match name and key"));
        }
        Ok(signer)
    }

    /// The private key encoding. Callers must write it only to a 0600 file.
    pub fn to_private_key_string(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(raw)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The raw Ed25519 signature over `message` (as DSSE signs its PAE bytes).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The signature line `— name base64(key id || signature)\n` for `text`.
    fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        format!("\u{2014} {} {}\n", self.name, BASE64.encode(raw))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signer({}+{:08x}, secret hidden)",
            self.name, self.key_id
        )
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed {
            reason: "note text must end in a newline",
        });
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::Malformed {
            reason: "note contains a control character",
        });
    }
    Ok(())
}

/// Signs `text` (which must end in a newline) with every signer, in order.
pub fn sign_note(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    check_text(text)?;
    let mut note = String::with_capacity(text.len() + 1 + 100 * signers.len());
    note.push_str(text);
    note.push('\n');
    for signer in signers {
        note.push_str(&signer.signature_line(text));
    }
    Ok(note)
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

/// Splits a signed note into its text and signatures without verifying anything.
pub fn split_note(note: &str) -> Result<(&str, Vec<NoteSignature>), NoteError> {
    let malformed = |reason| NoteError::Malformed { reason };
    check_text(note)?;
    // The text is separated from the signatures by the last blank line.
    let split = note
        .rfind("\n\n")
        .ok_or(malformed("no blank line before signatures"))?;
    let text = &note[..=split];
    let sig_block = &note[split + 2..];
    let mut sigs = Vec::new();
    for line in sig_block.split_terminator('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or(malformed("signature line does not start with an em dash"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(malformed("signature line has no signature"))?;
        check_name(name).map_err(|_| malformed("invalid key name in signature line"))?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| malformed("signature is not base64"))?;
        if raw.len() < 5 {
            return Err(malformed("signature too short"));
        }
        let (id, signature) = raw.split_at(4);
        sigs.push(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: signature.to_vec(),
        });
        if sigs.len() > MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
    }
    if sigs.is_empty() {
        return Err(malformed("no signature lines"));
    }
    Ok((text, sigs))
}

/// A note whose signatures were checked against trusted verifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote<'a> {
    pub text: &'a str,
    /// The verifiers (by position in the slice given to [`open_note`]) that signed it.
    pub verified_by: Vec<usize>,
}

/// Verifies `note` as the spec requires: signatures by unknown keys are ignored, a bad
/// signature by a known key rejects the note, and at least one known key must sign.
pub fn open_note<'a>(note: &'a str, verifiers: &[Verifier]) -> Result<OpenedNote<'a>, NoteError> {
    let (text, sigs) = split_note(note)?;
    let mut verified_by = Vec::new();
    for sig in &sigs {
        let Some(pos) = verifiers
            .iter()
            .position(|v| v.name == sig.name && v.key_id == sig.key_id)
        else {
            continue;
        };
        if !verifiers[pos].verify(text.as_bytes(), &sig.signature) {
            return Err(NoteError::BadSignature {
                name: sig.name.clone(),
                key_id: sig.key_id,
            });
        }
        if !verified_by.contains(&pos) {
            verified_by.push(pos);
        }
    }
    if verified_by.is_empty() {
        let signers = sigs
            .iter()
            .map(|s| format!("{}+{:08x}", s.name, s.key_id))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NoteError::NoTrustedSignature { signers });
    }
    Ok(OpenedNote { text, verified_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example key and note of golang.org/x/mod/sumdb/note (note_test.go).
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn signing_reproduces_the_reference_note_byte_for_byte() {
        let signer = Signer::parse(SKEY).unwrap();
        assert_eq!(signer.verifier().to_string(), VKEY);
        assert_eq!(signer.to_private_key_string(), SKEY);
        assert_eq!(sign_note(TEXT, &[&signer]).unwrap(), NOTE);
    }

    #[test]
    fn the_reference_note_opens_and_a_changed_byte_does_not() {
        let v = Verifier::parse(VKEY).unwrap();
        let opened = open_note(NOTE, std::slice::from_ref(&v)).unwrap();
        assert_eq!(opened.text, TEXT);
        let tampered = NOTE.replace("cryptography", "cryptographY");
        assert_eq!(
            open_note(&tampered, std::slice::from_ref(&v)),
            Err(NoteError::BadSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
    }

    #[test]
    fn unknown_signers_are_ignored_but_one_known_signature_is_required() {
        let other = Signer::generate("someone.example/else").unwrap();
        let double = sign_note(TEXT, &[&Signer::parse(SKEY).unwrap(), &other]).unwrap();
        let v = Verifier::parse(VKEY).unwrap();
        assert_eq!(open_note(&double, &[v]).unwrap().verified_by, vec![0]);
        let only_other = sign_note(TEXT, &[&other]).unwrap();
        assert!(matches!(
            open_note(&only_other, &[Verifier::parse(VKEY).unwrap()]),
            Err(NoteError::NoTrustedSignature { .. })
        ));
    }

    #[test]
    fn mangled_verifier_keys_are_refused() {
        assert!(Verifier::parse(VKEY).is_ok());
        let bytes = VKEY.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] = b[i].wrapping_add(1);
            if let Ok(s) = String::from_utf8(b) {
                assert!(Verifier::parse(&s).is_err(), "accepted {s}");
            }
        }
        assert!(
            Verifier::parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .is_err()
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        let v = [Verifier::parse(VKEY).unwrap()];
        for bad in [
            "",
            "no newline",
            "text\n",
            "text\n\n",
            "text\n\n\u{2014} PeterNeumann !!!\n",
            "te\u{7}xt\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG\n",
        ] {
            assert!(open_note(bad, &v).is_err(), "accepted {bad:?}");
        }
    }
}
