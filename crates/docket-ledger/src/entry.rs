//! Ledger entries: a kind, a UTC time, a JSON payload and the blobs it references,
//! encoded as RFC 8785 canonical JSON. The encoded bytes are what the tree commits to.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hash::{Digest256, Hash, leaf_hash};

/// Version of the entry encoding, written into every entry as `v`.
pub const ENTRY_VERSION: u32 = 1;

/// Entry kinds written by the ledger itself.
pub mod kinds {
    /// Entry 0 of every ledger: its origin and first public key.
    pub const GENESIS: &str = "ledger.genesis";
    /// A signing key replaced by a new one; signed by both.
    pub const KEY_ROTATE: &str = "ledger.key-rotate";
    /// A blob's content deleted under a retention policy.
    pub const BLOB_SHRED: &str = "blob.shred";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error(
        "invalid entry kind `{kind}`: use 1-64 characters of a-z, 0-9, `.`, `_` and `-`, starting with a letter or digit"
    )]
    Kind { kind: String },
    #[error(
        "payload cannot be encoded exactly as RFC 8785 canonical JSON ({reason}); write large or precise numbers as strings"
    )]
    NotCanonical { reason: String },
    #[error("entry {index} is not a valid ledger entry: {reason}")]
    Decode { index: u64, reason: String },
}

/// What a caller asks the ledger to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub kind: String,
    pub payload: Value,
    /// Blobs this entry refers to; `log verify --blobs` checks them.
    pub blobs: Vec<Digest256>,
    /// Earlier entries this one closes (e.g. a run record and its stage entries);
    /// `log verify` checks that each still exists with the same hash.
    pub links: Vec<Link>,
}

/// A reference from an entry to an earlier entry, by index and leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub index: u64,
    pub leaf_hash: Hash,
}

impl NewEntry {
    pub fn new(kind: impl Into<String>, payload: Value) -> NewEntry {
        NewEntry {
            kind: kind.into(),
            payload,
            blobs: Vec::new(),
            links: Vec::new(),
        }
    }

    pub fn with_links(mut self, links: impl IntoIterator<Item = (u64, Hash)>) -> NewEntry {
        self.links = links
            .into_iter()
            .map(|(index, leaf_hash)| Link { index, leaf_hash })
            .collect();
        self
    }

    pub fn with_blobs(mut self, blobs: Vec<Digest256>) -> NewEntry {
        self.blobs = blobs;
        self
    }

    /// Checks and encodes everything that does not depend on the entry's position,
    /// in the caller's task: a bad entry fails alone instead of failing the whole
    /// group commit, and the single writer only assembles bytes.
    pub fn prepare(self) -> Result<PreparedEntry, EntryError> {
        check_kind(&self.kind)?;
        Ok(PreparedEntry {
            payload: canonical_payload(&self.payload)?,
            kind: self.kind,
            blobs: self.blobs,
            links: self.links,
        })
    }
}

/// An entry whose payload is already canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedEntry {
    pub kind: String,
    pub payload: Vec<u8>,
    pub blobs: Vec<Digest256>,
    pub links: Vec<Link>,
}

impl PreparedEntry {
    /// The entry's canonical bytes at `index` and `time`. Equivalent to RFC 8785 over
    /// the whole entry: the keys are ASCII and written in sorted order, the kind and
    /// time use characters that need no escaping (checked by `check_kind` and
    /// `format_time`), and the payload is already canonical.
    pub fn encode_at(&self, index: u64, time: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 96 + self.blobs.len() * 76);
        out.extend_from_slice(b"{");
        if !self.blobs.is_empty() {
            out.extend_from_slice(b"\"blobs\":[");
            for (i, b) in self.blobs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(format!("\"{b}\"").as_bytes());
            }
            out.extend_from_slice(b"],");
        }
        out.extend_from_slice(format!("\"index\":{index},\"kind\":\"{}\",", self.kind).as_bytes());
        if !self.links.is_empty() {
            out.extend_from_slice(b"\"links\":[");
            for (i, l) in self.links.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(
                    format!(
                        "{{\"index\":{},\"leaf_hash\":\"{}\"}}",
                        l.index, l.leaf_hash
                    )
                    .as_bytes(),
                );
            }
            out.extend_from_slice(b"],");
        }
        out.extend_from_slice(b"\"payload\":");
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(format!(",\"time\":\"{time}\",\"v\":{ENTRY_VERSION}}}").as_bytes());
        out
    }
}

pub fn check_kind(kind: &str) -> Result<(), EntryError> {
    let ok = (1..=64).contains(&kind.len())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && kind
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(EntryError::Kind {
            kind: kind.to_owned(),
        })
    }
}

/// Canonical JSON of `value`, refusing values that would not survive the encoding
/// unchanged (RFC 8785 represents every number as an IEEE 754 double).
pub fn canonical_payload(value: &Value) -> Result<Vec<u8>, EntryError> {
    let bytes = serde_json_canonicalizer::to_vec(value).map_err(|e| EntryError::NotCanonical {
        reason: e.to_string(),
    })?;
    let back: Value = serde_json::from_slice(&bytes).map_err(|e| EntryError::NotCanonical {
        reason: e.to_string(),
    })?;
    if !same_json(&back, value) {
        return Err(EntryError::NotCanonical {
            reason: "a number would change".into(),
        });
    }
    Ok(bytes)
}

/// Structural equality that compares numbers by value (`1.0` equals `1`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_number(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Integers must survive exactly; floats must keep their value.
fn same_number(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(x), int(y)) {
        (Some(a), Some(b)) => a == b,
        _ => x.as_f64() == y.as_f64(),
    }
}

/// Formats a time the way entries carry it: RFC 3339, UTC, microseconds.
pub fn format_time(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Now, rounded to the microsecond, in RFC 3339 (the time of a decision input or a
/// package manifest; unlike [`format_time`], trailing zero digits are left out).
pub fn now_rfc3339() -> String {
    Timestamp::now()
        .round(jiff::Unit::Microsecond)
        .unwrap_or_else(|_| Timestamp::now())
        .to_string()
}

/// The decoded form of an entry's canonical bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub v: u32,
    pub index: u64,
    pub time: String,
    pub kind: String,
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<Digest256>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

impl Entry {
    /// Encodes the entry canonically. `payload` must already have passed
    /// [`NewEntry::validate`].
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        let value = serde_json::to_value(self).map_err(|e| EntryError::NotCanonical {
            reason: e.to_string(),
        })?;
        canonical_payload(&value)
    }

    pub fn decode(index: u64, bytes: &[u8]) -> Result<Entry, EntryError> {
        let entry: Entry = serde_json::from_slice(bytes).map_err(|e| EntryError::Decode {
            index,
            reason: e.to_string(),
        })?;
        if entry.v != ENTRY_VERSION {
            return Err(EntryError::Decode {
                index,
                reason: format!("unsupported entry version {}", entry.v),
            });
        }
        Ok(entry)
    }

    pub fn time_micros(&self) -> Option<i64> {
        parse_time_micros(&self.time)
    }
}

pub fn parse_time_micros(text: &str) -> Option<i64> {
    let ts: Timestamp = text.parse().ok()?;
    Some(ts.as_microsecond())
}

/// An entry as stored: its exact bytes and their RFC 6962 leaf hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: u64,
    pub bytes: Vec<u8>,
}

impl StoredEntry {
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.bytes)
    }

    pub fn decode(&self) -> Result<Entry, EntryError> {
        Entry::decode(self.index, &self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_encode_canonically_and_decode_back() {
        let entry = Entry {
            v: ENTRY_VERSION,
            index: 7,
            time: "2026-11-22T02:43:48.123456Z".into(),
            kind: "approval".into(),
            payload: json!({"z": 1, "a": [true, null, "é"], "m": 1.5}),
            blobs: vec![],
            links: vec![],
        };
        let bytes = entry.encode().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"index":7,"kind":"approval","payload":{"a":[true,null,"é"],"m":1.5,"z":1},"time":"2026-11-22T02:43:48.123456Z","v":1}"#
        );
        assert_eq!(Entry::decode(7, &bytes).unwrap(), entry);
    }

    #[test]
    fn fast_encoding_equals_generic_canonical_encoding() {
        let cases = [
            (
                json!({"z": [1, 2.5, "\u{1e}é\"\\"], "a": {"y": null, "b": true}}),
                vec![],
            ),
            (
                json!("just a string"),
                vec![Digest256::of(b"x"), Digest256::of(b"y")],
            ),
            (json!(null), vec![]),
        ];
        let all_links = [(3u64, Hash::digest(b"three")), (9, Hash::digest(b"nine"))];
        for (n, (payload, blobs)) in cases.into_iter().enumerate() {
            let links: Vec<(u64, Hash)> = all_links.iter().copied().take(n).collect();
            let generic = Entry {
                v: ENTRY_VERSION,
                index: 12345,
                time: "2026-11-22T02:43:48.123456Z".into(),
                kind: "run.stage".into(),
                payload: payload.clone(),
                blobs: blobs.clone(),
                links: links
                    .iter()
                    .map(|&(index, leaf_hash)| Link { index, leaf_hash })
                    .collect(),
            }
            .encode()
            .unwrap();
            let fast = NewEntry::new("run.stage", payload)
                .with_blobs(blobs)
                .with_links(links)
                .prepare()
                .unwrap()
                .encode_at(12345, "2026-11-22T02:43:48.123456Z");
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(generic).unwrap()
            );
        }
    }

    #[test]
    fn numbers_that_would_change_are_refused() {
        assert!(canonical_payload(&json!({"n": 9007199254740993u64})).is_err());
        assert!(canonical_payload(&json!({"n": 9007199254740992u64})).is_ok());
        assert!(canonical_payload(&json!({"n": 1.0})).is_ok());
        assert!(canonical_payload(&json!({"n": -0.5e-7})).is_ok());
    }

    #[test]
    fn kinds_are_restricted() {
        for good in ["approval", "run.stage", "blob.shred", "a", "x-1_2"] {
            assert!(check_kind(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Upper",
            ".dot",
            "has space",
            "semi;colon",
            &"k".repeat(65),
        ] {
            assert!(check_kind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_have_microsecond_precision_in_utc() {
        let t: Timestamp = "2026-01-02T03:04:05.5+01:00".parse().unwrap();
        assert_eq!(format_time(t), "2026-01-02T02:04:05.500000Z");
        assert_eq!(
            parse_time_micros("2026-01-02T02:04:05.500000Z"),
            Some(t.as_microsecond())
        );
    }
}
