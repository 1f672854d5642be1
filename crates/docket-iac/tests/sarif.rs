//! SARIF output: a real scan converted to SARIF must validate against the OASIS
//! SARIF 2.1.0 schema (vendored in tests/data) and carry what GitHub code
//! scanning reads: rules and rule indexes that agree, fingerprints, regions,
//! security-severity and relative artifact URIs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use boon::{Compiler, SchemaIndex, Schemas};
use docket_iac::catalog::{Catalog, Severity};
use docket_iac::model::Workspace;
use docket_iac::sarif::{self, to_sarif};
use docket_iac::scan::{ScanOptions, ScanReport, Status, scan};
use docket_iac::source::SourceSet;
use serde_json::{Value, json};

const SCHEMA_FILE: &str = "tests/data/sarif-schema-2.1.0.json";

struct Validator {
    schemas: Schemas,
    index: SchemaIndex,
}

impl Validator {
    fn sarif() -> Validator {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_FILE);
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            schema["title"],
            "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
        );
        // The schema's own base URI (draft-04 `id`), so nothing is fetched.
        let id = schema["id"].as_str().unwrap().to_owned();
        assert!(id.ends_with("/sarif-schema-2.1.0.json"), "{id}");
        let mut compiler = Compiler::new();
        compiler.enable_format_assertions();
        compiler.add_resource(&id, schema).unwrap();
        let mut schemas = Schemas::new();
        let index = compiler.compile(&id, &mut schemas).unwrap();
        Validator { schemas, index }
    }

    fn check(&self, log: &Value) -> Result<(), String> {
        self.schemas
            .validate(log, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

/// A workspace with violations, an unknown finding (a variable without a
/// default), a file in a directory whose name needs URI encoding, and a file
/// that does not parse.
fn sources() -> SourceSet {
    let mut s = SourceSet::new();
    s.insert(
        "main.tf",
        r#"variable "enc" {}

resource "aws_db_instance" "judged_later" {
  engine            = "postgres"
  instance_class    = "db.t3.micro"
  storage_encrypted = var.enc
}

resource "aws_db_instance" "plain" {
  engine            = "postgres"
  instance_class    = "db.t3.micro"
  storage_encrypted = false
}
"#,
    );
    s.insert(
        "envs/prod db/ebs.tf",
        r#"resource "aws_ebs_volume" "data" {
  availability_zone = "eu-west-1a"
  size              = 10
  encrypted         = false
}
"#,
    );
    s.insert(
        "broken.tf",
        r#"resource "aws_s3_bucket" "b" {
  bucket = "x"
"#,
    );
    s
}

fn report() -> ScanReport {
    let ws = Workspace::load(&sources());
    scan(&ws, Catalog::builtin().unwrap(), &ScanOptions::default())
}

fn sarif_of(report: &ScanReport) -> Value {
    to_sarif(report, Catalog::builtin().unwrap(), "0.1.0")
}

#[test]
fn the_scan_has_what_the_sarif_tests_rely_on() {
    let report = report();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.status == Status::Violation)
    );
    let unknown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.status == Status::Unknown && f.rule_id == "aws-rds-storage-encrypted")
        .collect();
    assert_eq!(unknown.len(), 1, "{:#?}", report.findings);
    assert!(unknown[0].reason.is_some());
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.file == "envs/prod db/ebs.tf")
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].file, "broken.tf");
}

#[test]
fn a_real_scan_validates_against_the_sarif_schema() {
    let log = sarif_of(&report());
    Validator::sarif().check(&log).unwrap();
}

#[test]
fn an_empty_scan_validates_too() {
    let ws = Workspace::load(&SourceSet::new());
    let report = scan(&ws, Catalog::builtin().unwrap(), &ScanOptions::default());
    let log = sarif_of(&report);
    Validator::sarif().check(&log).unwrap();
    assert_eq!(log["runs"][0]["results"], json!([]));
    assert_eq!(log["runs"][0]["tool"]["driver"]["rules"], json!([]));
    assert!(
        log["runs"][0]["invocations"][0]
            .get("toolExecutionNotifications")
            .is_none()
    );
}

#[test]
fn the_validator_rejects_broken_logs() {
    let validator = Validator::sarif();
    let good = sarif_of(&report());
    validator.check(&good).unwrap();
    type Breakage = fn(&mut Value);
    let breakages: [(&str, Breakage); 7] = [
        ("level fatal", |l| {
            l["runs"][0]["results"][0]["level"] = json!("fatal")
        }),
        ("kind broken", |l| {
            l["runs"][0]["results"][0]["kind"] = json!("broken")
        }),
        ("startLine 0", |l| {
            l["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
                json!(0)
        }),
        ("no message", |l| {
            l["runs"][0]["results"][0]
                .as_object_mut()
                .unwrap()
                .remove("message");
        }),
        ("version 2.0.0", |l| l["version"] = json!("2.0.0")),
        ("unknown result property", |l| {
            l["runs"][0]["results"][0]["severity"] = json!("high")
        }),
        ("helpUri not a URI", |l| {
            l["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = json!("not a uri")
        }),
    ];
    for (name, breakage) in breakages {
        let mut log = good.clone();
        breakage(&mut log);
        assert_ne!(log, good, "{name}: the breakage changed nothing");
        assert!(
            validator.check(&log).is_err(),
            "{name}: the schema accepted a broken log"
        );
    }
}

#[test]
fn the_log_carries_what_code_scanning_needs() {
    let report = report();
    let catalog = Catalog::builtin().unwrap();
    let log = sarif_of(&report);
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];

    // The driver.
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "docket");
    assert_eq!(
        driver["informationUri"],
        "https://github.com/docket-dev/docket"
    );
    assert_eq!(driver["version"], "0.1.0");
    assert_eq!(driver["semanticVersion"], "0.1.0");

    // Rules: exactly the rules with findings, each once, in id order.
    let rules = driver["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(rule_ids, expected.iter().copied().collect::<Vec<_>>());
    for r in rules {
        let id = r["id"].as_str().unwrap();
        let rule = catalog.get(id).unwrap();
        assert_eq!(r["name"], sarif::rule_name(id));
        assert!(
            r["name"]
                .as_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_eq!(r["shortDescription"]["text"], rule.title.as_str());
        assert_eq!(r["fullDescription"]["text"], rule.rationale.trim());
        let level = match rule.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low => "note",
        };
        assert_eq!(r["defaultConfiguration"]["level"], level, "{id}");
        let score = r["properties"]["security-severity"].as_str().unwrap();
        let expected_score = match rule.severity {
            Severity::Critical => "9.0",
            Severity::High => "7.5",
            Severity::Medium => "5.0",
            Severity::Low => "2.0",
        };
        assert_eq!(score, expected_score, "{id}");
        let tags: Vec<&str> = r["properties"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(tags.contains(&rule.provider.as_str()) && tags.contains(&rule.category.as_str()));
        assert_eq!(
            tags.iter().collect::<BTreeSet<_>>().len(),
            tags.len(),
            "tags repeat"
        );
        let help_text = r["help"]["text"].as_str().unwrap();
        let help_markdown = r["help"]["markdown"].as_str().unwrap();
        assert!(help_text.starts_with(rule.rationale.trim()));
        let refs = &rule.references;
        for item in refs
            .cis
            .iter()
            .chain(&refs.fsbp)
            .chain(&refs.checkov)
            .chain(&refs.trivy)
        {
            assert!(help_text.contains(item.as_str()), "{id}: help lacks {item}");
            assert!(
                help_markdown.contains(item.as_str()),
                "{id}: markdown lacks {item}"
            );
        }
        if let Some(fix) = &rule.fix {
            assert!(
                help_text.contains(fix.description.trim()),
                "{id}: help lacks the fix"
            );
        }
        match refs.links.first() {
            Some(link) => assert_eq!(r["helpUri"], link.as_str()),
            None => assert!(r.get("helpUri").is_none()),
        }
    }
    let encrypted = rules
        .iter()
        .find(|r| r["id"] == "aws-rds-storage-encrypted")
        .unwrap();
    assert_eq!(encrypted["name"], "AwsRdsStorageEncrypted");
    assert_eq!(encrypted["properties"]["security-severity"], "7.5");
    let md = encrypted["help"]["markdown"].as_str().unwrap();
    for needle in [
        "`CKV_AWS_16`",
        "`AVD-AWS-0080`",
        "`RDS.3`",
        "**Fix**",
        "<https://",
    ] {
        assert!(md.contains(needle), "markdown lacks {needle}:\n{md}");
    }

    // Results: one per finding, in order, pointing at their rule.
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), report.findings.len());
    let base_ids = run["originalUriBaseIds"].as_object().unwrap();
    for (res, f) in results.iter().zip(&report.findings) {
        let index = usize::try_from(res["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(res["ruleId"], f.rule_id.as_str());
        assert_eq!(
            rules[index]["id"], res["ruleId"],
            "ruleIndex points at another rule"
        );
        let fp = res["partialFingerprints"]["docket/v1"].as_str().unwrap();
        assert_eq!(fp, f.fingerprint);
        assert!(!fp.is_empty());
        let loc = &res["locations"][0];
        let art = &loc["physicalLocation"]["artifactLocation"];
        let uri = art["uri"].as_str().unwrap();
        assert!(
            !uri.is_empty() && !uri.starts_with('/') && !uri.contains(':'),
            "{uri}"
        );
        assert_eq!(art["uriBaseId"], "%SRCROOT%");
        assert!(base_ids.contains_key("%SRCROOT%"));
        let region = &loc["physicalLocation"]["region"];
        let start_line = region["startLine"].as_u64().unwrap();
        let end_line = region["endLine"].as_u64().unwrap();
        assert!(start_line >= 1 && end_line >= start_line);
        assert!(region["startColumn"].as_u64().unwrap() >= 1);
        assert_eq!(start_line, f.line as u64);
        assert_eq!(region["startColumn"].as_u64().unwrap(), f.column as u64);
        assert_eq!(loc["logicalLocations"][0]["name"], f.address.as_str());
        assert_eq!(loc["logicalLocations"][0]["kind"], "resource");
        match f.status {
            Status::Violation => {
                assert_eq!(res["kind"], "fail");
                assert_eq!(res["level"], rules[index]["defaultConfiguration"]["level"]);
                assert_eq!(res["message"]["text"], f.message.as_str());
            }
            Status::Unknown => {
                assert_eq!(res["kind"], "review");
                assert_eq!(res["level"], "note");
                let reason = f.reason.as_deref().unwrap();
                assert_eq!(
                    res["message"]["text"],
                    format!("{} (unknown: {reason})", f.message).as_str()
                );
            }
        }
    }

    // The unknown finding on the variable without a default.
    let unknown = results
        .iter()
        .find(|r| r["kind"] == "review" && r["ruleId"] == "aws-rds-storage-encrypted")
        .unwrap();
    assert_eq!(
        unknown["locations"][0]["logicalLocations"][0]["name"],
        "aws_db_instance.judged_later"
    );
    assert_eq!(
        unknown["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "main.tf"
    );
    assert!(
        unknown["message"]["text"]
            .as_str()
            .unwrap()
            .contains("(unknown: ")
    );
    // A violation, and the percent-encoded path.
    assert!(results.iter().any(|r| r["kind"] == "fail"
        && r["ruleId"] == "aws-rds-storage-encrypted"
        && r["locations"][0]["logicalLocations"][0]["name"] == "aws_db_instance.plain"));
    assert!(results.iter().any(
        |r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            == "envs/prod%20db/ebs.tf"
    ));

    // The invocation: successful, the parse error as a notification.
    let invocations = run["invocations"].as_array().unwrap();
    assert_eq!(invocations.len(), 1);
    assert_eq!(invocations[0]["executionSuccessful"], true);
    let notes = invocations[0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert_eq!(notes.len(), report.errors.len() + report.warnings.len());
    let parse = &notes[0];
    let err = &report.errors[0];
    assert_eq!(parse["level"], "error");
    let text = parse["message"]["text"].as_str().unwrap();
    assert!(
        text.contains("broken.tf") && text.contains(err.message.as_str()),
        "{text}"
    );
    let ploc = &parse["locations"][0]["physicalLocation"];
    assert_eq!(ploc["artifactLocation"]["uri"], "broken.tf");
    assert_eq!(ploc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(
        ploc["region"]["startLine"].as_u64().unwrap(),
        err.line.max(1) as u64
    );
    assert_eq!(
        ploc["region"]["startColumn"].as_u64().unwrap(),
        err.column.max(1) as u64
    );
    let descriptor_index = usize::try_from(parse["descriptor"]["index"].as_u64().unwrap()).unwrap();
    assert_eq!(
        driver["notifications"][descriptor_index]["id"],
        parse["descriptor"]["id"]
    );
}

#[test]
fn the_log_is_deterministic() {
    assert_eq!(sarif_of(&report()), sarif_of(&report()));
}

#[test]
fn a_version_that_is_not_semver_is_not_given_as_one() {
    let log = to_sarif(&report(), Catalog::builtin().unwrap(), "0.1.0 (abc1234)");
    let driver = &log["runs"][0]["tool"]["driver"];
    assert_eq!(driver["version"], "0.1.0 (abc1234)");
    assert!(driver.get("semanticVersion").is_none());
    Validator::sarif().check(&log).unwrap();
}

#[test]
fn a_finding_whose_rule_is_not_in_the_catalog_still_gets_a_descriptor() {
    let mut report = report();
    let mut f = report.findings[0].clone();
    f.rule_id = "custom-rule".into();
    f.title = "A rule from elsewhere".into();
    f.severity = Severity::Critical;
    report.findings.push(f);
    let log = sarif_of(&report);
    Validator::sarif().check(&log).unwrap();
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let last = results.last().unwrap();
    let index = usize::try_from(last["ruleIndex"].as_u64().unwrap()).unwrap();
    assert_eq!(rules[index]["id"], "custom-rule");
    assert_eq!(rules[index]["name"], "CustomRule");
    assert_eq!(
        rules[index]["shortDescription"]["text"],
        "A rule from elsewhere"
    );
    assert_eq!(rules[index]["properties"]["security-severity"], "9.0");
    assert_eq!(last["level"], "error");
}
