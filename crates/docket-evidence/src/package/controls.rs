//! The control mapping embedded in this build (`controls/change-management.toml`):
//! loading it, and which evidence in a package supports which control.

use docket_core::record::kinds;
use docket_ledger::entry::kinds as ledger_kinds;

use super::error::PackageError;
use crate::contents::{ARTEFACTS, Control, ControlMapping, EntryRef, EvidenceRef};

/// The control mapping, as data (sources cited in the file).
const CONTROLS_TOML: &str = include_str!("../../controls/change-management.toml");

/// Entry kinds the mapping may name.
const ENTRY_KINDS: [&str; 21] = [
    kinds::INTAKE,
    kinds::POLICY,
    kinds::STARTED,
    kinds::AGENT,
    kinds::DIFF,
    kinds::RULES,
    kinds::VALIDATION,
    kinds::CHECK,
    kinds::APPROVAL,
    kinds::EXCEPTION,
    kinds::PUBLISHED,
    kinds::ATTESTATION,
    kinds::DISCARDED,
    kinds::RECORD,
    kinds::MODEL_EXCHANGE,
    kinds::MODEL_DENIAL,
    kinds::MODEL_BUDGET,
    kinds::REPLAY,
    ledger_kinds::GENESIS,
    ledger_kinds::KEY_ROTATE,
    ledger_kinds::BLOB_SHRED,
];

/// The control mapping embedded in this build.
pub fn controls() -> Result<ControlMapping, PackageError> {
    let mapping: ControlMapping =
        toml::from_str(CONTROLS_TOML).map_err(|e| PackageError::Controls(e.to_string()))?;
    for control in &mapping.controls {
        for item in &control.evidence {
            let known = ENTRY_KINDS.contains(&item.evidence.as_str())
                || ARTEFACTS.iter().any(|(name, _)| *name == item.evidence);
            if !known {
                return Err(PackageError::Controls(format!(
                    "{} names unknown evidence `{}`",
                    control.label(),
                    item.evidence
                )));
            }
        }
    }
    Ok(mapping)
}

pub(super) fn evidence_refs(
    mapping: &ControlMapping,
    entries: &[EntryRef],
    consistency: bool,
) -> Vec<EvidenceRef> {
    let mut names: Vec<String> = Vec::new();
    for control in &mapping.controls {
        for item in &control.evidence {
            if !names.contains(&item.evidence) {
                names.push(item.evidence.clone());
            }
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let controls: Vec<String> = mapping
                .controls
                .iter()
                .filter(|c| c.evidence.iter().any(|e| e.evidence == name))
                .map(Control::label)
                .collect();
            let indexes: Vec<u64> = entries
                .iter()
                .filter(|e| e.kind == name)
                .map(|e| e.index)
                .collect();
            let files: Vec<String> = ARTEFACTS
                .iter()
                .filter(|(artefact, _)| *artefact == name)
                .filter(|(artefact, _)| consistency || *artefact != "consistency-proofs")
                .map(|(_, file)| (*file).to_owned())
                .collect();
            (!indexes.is_empty() || !files.is_empty()).then_some(EvidenceRef {
                evidence: name,
                controls,
                entries: indexes,
                files,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_mapping_parses_and_cites_every_control() {
        let mapping = controls().unwrap();
        assert_eq!(mapping.schema, "docket.controls/v1");
        let labels: Vec<String> = mapping.controls.iter().map(Control::label).collect();
        assert_eq!(
            labels,
            [
                "SOC 2 CC8.1",
                "ISO/IEC 27001:2022 A.8.32",
                "NIST SP 800-218 (SSDF v1.1) PO.3.3",
                "NIST SP 800-218 (SSDF v1.1) PS.1.1",
                "NIST SP 800-218 (SSDF v1.1) PS.2.1",
                "NIST SP 800-218 (SSDF v1.1) PS.3.1",
                "NIST SP 800-218 (SSDF v1.1) PS.3.2",
                "NIST SP 800-218 (SSDF v1.1) PW.7.2",
                "NIST SP 800-218 (SSDF v1.1) PW.8.2",
                "EU AI Act (Regulation (EU) 2024/1689) Art. 12",
            ]
        );
        for control in &mapping.controls {
            assert!(control.url.starts_with("http"), "{}", control.label());
            assert!(!control.source.is_empty() && !control.requirement.is_empty());
            assert!(!control.evidence.is_empty(), "{}", control.label());
            for item in &control.evidence {
                assert!(item.why.ends_with('.'), "{}: {}", control.label(), item.why);
            }
        }
    }
}
