//! Test-only builders of secret-shaped text, so that no source file of this module
//! holds a literal secret, and the one place tests ask which rules a text triggers.

use super::SecretScanner;

/// Deterministic, high-entropy token text, so no live-looking secret is written
/// literally in this module.
pub(super) fn random_chars(len: usize, alphabet: &str, seed: u64) -> String {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let value = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33;
            alphabet[(value % alphabet.len() as u64) as usize]
        })
        .collect()
}

pub(super) const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(super) const URLSAFE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
pub(super) const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(super) const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub(super) const DIGITS: &str = "0123456789";

pub(super) fn alnum(len: usize, seed: u64) -> String {
    random_chars(len, ALNUM, seed)
}

pub(super) fn urlsafe(len: usize, seed: u64) -> String {
    random_chars(len, URLSAFE, seed)
}

pub(super) fn pem_body(seed: u64) -> String {
    (0..6)
        .map(|line| random_chars(64, BASE64, seed + line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Joins pieces, so prefixes such as `gh` + `p_` never appear whole in this module.
pub(super) fn cat(parts: &[&str]) -> String {
    parts.concat()
}

/// One place that runs the context rules (generic assignments, headers, URLs)
/// over a line and names what it found.
pub(super) fn rule_ids(text: &str) -> Vec<&'static str> {
    SecretScanner::builtin()
        .scan(text)
        .into_iter()
        .map(|finding| finding.rule_id)
        .collect()
}
