//! DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1.0.2) signed with the
//! ledger's Ed25519 keys, and the in-toto Statement v1 layer they usually carry.
//!
//! The signature is over `PAE(payloadType, payload)`:
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal bytes.
//! The envelope is JSON with standard base64 (padded) for `payload` and `sig`; a
//! verifier accepts the URL-safe alphabet too, as the protocol asks. `keyid` is an
//! unauthenticated hint: docket writes the C2SP key name and id (`name+0123abcd`), and
//! verification tries every trusted key regardless of it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::note::{Signer, Verifier};

/// The payload type of an in-toto statement inside DSSE.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    #[error("the envelope is not DSSE JSON: {reason}")]
    Malformed { reason: String },
    #[error("the envelope's {field} is not base64")]
    Base64 { field: &'static str },
    #[error("the envelope has no signatures")]
    Unsigned,
    #[error("no signature verifies with a trusted key (key ids in the envelope: {keyids})")]
    NoTrustedSignature { keyids: String },
    #[error("the payload type is `{found}`, expected `{expected}`")]
    PayloadType { found: String, expected: String },
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    pub sig: String,
}

/// A DSSE envelope, field order as in the protocol's examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

/// The pre-authentication encoding that is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The `keyid` docket writes for a key: `name+hash` of its C2SP verifier key.
pub fn key_hint(verifier: &Verifier) -> String {
    format!("{}+{:08x}", verifier.name(), verifier.key_id())
}

/// Signs `payload` with every signer, in order.
pub fn sign(payload_type: &str, payload: &[u8], signers: &[&Signer]) -> Envelope {
    let message = pae(payload_type, payload);
    Envelope {
        payload: STANDARD.encode(payload),
        payload_type: payload_type.to_owned(),
        signatures: signers
            .iter()
            .map(|signer| Signature {
                keyid: key_hint(&signer.verifier()),
                sig: STANDARD.encode(signer.sign_bytes(&message)),
            })
            .collect(),
    }
}

/// What a verified envelope says, and which trusted key signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub signed_by: Verifier,
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, DsseError> {
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| DsseError::Base64 { field })
}

impl Envelope {
    pub fn parse(json: &[u8]) -> Result<Envelope, DsseError> {
        serde_json::from_slice(json).map_err(|e| DsseError::Malformed {
            reason: e.to_string(),
        })
    }

    /// Compact JSON, as stored and attached to commits.
    pub fn to_json(&self) -> String {
        // Serialising plain strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks that at least one signature verifies with one of `trusted`; returns the
    /// payload. Signatures by unknown keys are ignored, as the protocol allows.
    pub fn verify(&self, trusted: &[Verifier]) -> Result<Verified, DsseError> {
        if self.signatures.is_empty() {
            return Err(DsseError::Unsigned);
        }
        let payload = decode("payload", &self.payload)?;
        let message = pae(&self.payload_type, &payload);
        for signature in &self.signatures {
            let Ok(sig) = decode("sig", &signature.sig) else {
                continue;
            };
            if let Some(key) = trusted.iter().find(|k| k.verify_bytes(&message, &sig)) {
                return Ok(Verified {
                    payload_type: self.payload_type.clone(),
                    payload,
                    signed_by: key.clone(),
                });
            }
        }
        Err(DsseError::NoTrustedSignature {
            keyids: self
                .signatures
                .iter()
                .map(|s| {
                    if s.keyid.is_empty() {
                        "(none)".to_owned()
                    } else {
                        s.keyid.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// An in-toto Statement v1 with a predicate of type `P`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

/// A resource descriptor naming an attested artefact by its digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Subject {
    pub fn new(name: impl Into<String>, algorithm: &str, digest: impl Into<String>) -> Subject {
        Subject {
            name: name.into(),
            digest: [(algorithm.to_owned(), digest.into())]
                .into_iter()
                .collect(),
        }
    }
}

impl<P: Serialize> Statement<P> {
    pub fn new(subject: Vec<Subject>, predicate_type: &str, predicate: P) -> Statement<P> {
        Statement {
            statement_type: STATEMENT_V1.to_owned(),
            subject,
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// The statement as canonical JSON (RFC 8785), so the same statement is always
    /// the same bytes.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, DsseError> {
        serde_json_canonicalizer::to_vec(self).map_err(|e| DsseError::Malformed {
            reason: e.to_string(),
        })
    }

    /// Signs the statement as an in-toto DSSE envelope.
    pub fn sign(&self, signers: &[&Signer]) -> Result<Envelope, DsseError> {
        Ok(sign(
            IN_TOTO_PAYLOAD_TYPE,
            &self.to_canonical_json()?,
            signers,
        ))
    }
}

/// Verifies an in-toto envelope and parses its statement.
pub fn open_statement<P: for<'de> Deserialize<'de>>(
    envelope: &Envelope,
    trusted: &[Verifier],
) -> Result<(Statement<P>, Verifier), DsseError> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(DsseError::PayloadType {
            found: envelope.payload_type.clone(),
            expected: IN_TOTO_PAYLOAD_TYPE.to_owned(),
        });
    }
    let verified = envelope.verify(trusted)?;
    let statement: Statement<P> =
        serde_json::from_slice(&verified.payload).map_err(|e| DsseError::Malformed {
            reason: format!("the payload is not an in-toto statement: {e}"),
        })?;
    if statement.statement_type != STATEMENT_V1 {
        return Err(DsseError::Malformed {
            reason: format!(
                "the statement's _type is `{}`, expected `{STATEMENT_V1}`",
                statement.statement_type
            ),
        });
    }
    Ok((statement, verified.signed_by))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The protocol's own PAE example (dsse/protocol.md, "Pre-Authentication Encoding").
    #[test]
    fn pae_matches_the_protocol_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    /// Key, payload and signature computed independently with Python's `cryptography`
    /// (Ed25519 over the PAE bytes built by hand), seed bytes 0..32.
    const KAT_KEY: &str =
        "PRIVATE+KEY+dsse-kat+cf8aef98+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
    const KAT_VKEY: &str = "dsse-kat+cf8aef98+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
    const KAT_PAYLOAD: &str = "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJwcmVkaWNhdGUiOnt9LCJwcmVkaWNhdGVUeXBlIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9wIiwic3ViamVjdCI6W3siZGlnZXN0Ijp7InNoYTI1NiI6IjAwIn0sIm5hbWUiOiJ4In1dfQ==";
    const KAT_SIG: &str =
        "gw92EJm3jTytvKbn6rfiQfPaSgy9iXhYMmDKhJL/qCxZ33jLiN9Aeg+ejyKhQM8olc6ek3GpMOS7RaAwi5DUDA==";

    #[test]
    fn signing_matches_an_independent_implementation() {
        let signer = Signer::parse(KAT_KEY).unwrap();
        assert_eq!(signer.verifier().to_string(), KAT_VKEY);
        let statement: Statement<serde_json::Value> = Statement::new(
            vec![Subject::new("x", "sha256", "00")],
            "https://example.com/p",
            serde_json::json!({}),
        );
        let envelope = statement.sign(&[&signer]).unwrap();
        assert_eq!(envelope.payload, KAT_PAYLOAD);
        assert_eq!(envelope.payload_type, IN_TOTO_PAYLOAD_TYPE);
        assert_eq!(envelope.signatures.len(), 1);
        assert_eq!(envelope.signatures[0].sig, KAT_SIG);
        assert_eq!(envelope.signatures[0].keyid, "dsse-kat+cf8aef98");
        let json = envelope.to_json();
        assert!(json.starts_with(r#"{"payload":""#), "{json}");

        // And an envelope produced elsewhere (URL-safe base64, no keyid) verifies.
        let foreign = Envelope::parse(
            format!(
                r#"{{"payloadType":"{IN_TOTO_PAYLOAD_TYPE}","payload":"{}","signatures":[{{"sig":"{}"}}]}}"#,
                KAT_PAYLOAD.replace('+', "-").replace('/', "_"),
                KAT_SIG.replace('+', "-").replace('/', "_")
            )
            .as_bytes(),
        )
        .unwrap();
        let vkey = Verifier::parse(KAT_VKEY).unwrap();
        let (opened, by) =
            open_statement::<serde_json::Value>(&foreign, std::slice::from_ref(&vkey)).unwrap();
        assert_eq!(opened, statement);
        assert_eq!(by, vkey);
    }

    fn signer() -> Signer {
        Signer::generate("docket-test").unwrap()
    }

    #[test]
    fn a_signed_envelope_verifies_and_any_change_breaks_it() {
        let signer = signer();
        let envelope = sign("text/plain", b"payload", &[&signer]);
        let verified = envelope.verify(&[signer.verifier()]).unwrap();
        assert_eq!(verified.payload, b"payload");

        let mut changed = envelope.clone();
        changed.payload = STANDARD.encode(b"payloaD");
        assert!(matches!(
            changed.verify(&[signer.verifier()]),
            Err(DsseError::NoTrustedSignature { .. })
        ));
        let mut retyped = envelope.clone();
        retyped.payload_type = "text/other".into();
        assert!(retyped.verify(&[signer.verifier()]).is_err());

        let other = Signer::generate("other").unwrap();
        assert!(envelope.verify(&[other.verifier()]).is_err());
    }
}
