#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The catalog parses, and every rule has test cases beside it.

use docket_iac::catalog::Catalog;

#[test]
fn every_rule_file_parses_and_validates() {
    let catalog = Catalog::builtin().unwrap();
    assert!(!catalog.rules().is_empty(), "the catalog has no rules");
}
