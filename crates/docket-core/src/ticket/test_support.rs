//! The one place ticket tests call the parser, so each test states only the file
//! name, the text and the outcome it expects.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Ticket, TicketError, parse_ticket};

pub(super) fn parse(file: &str, text: &str) -> Result<Ticket, TicketError> {
    parse_ticket(Path::new(file), text)
}

pub(super) fn parse_ok(file: &str, text: &str) -> Ticket {
    parse(file, text).unwrap_or_else(|e| panic!("{file} should parse: {e}"))
}

pub(super) fn error(file: &str, text: &str) -> String {
    match parse(file, text) {
        Ok(t) => panic!("{file} should not parse, got {t:?}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn sha256(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}
