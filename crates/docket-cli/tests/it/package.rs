//! Audit packages end to end: `docket export` of real runs (one published, one blocked)
//! from a real governed repository, `docket verify-package` of the result, of every
//! kind of tampering with it, and what report.html shows.

use std::path::{Path, PathBuf};

use docket_evidence::package::{self, Files};
use docket_ledger::keys::KeyDir;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::governed::*;
use crate::support::{Run, line_value};

/// A governed repository with one published run (with validation) and one run blocked
/// by a forbidden path, whose ticket title is hostile markup.
struct Fixture {
    g: Governed,
    published: String,
    blocked: String,
    key: String,
}

const HOSTILE_TITLE: &str = "Touch CI <script>alert('x')</script> & <b>co</b>";

fn fixture() -> Fixture {
    let g = Governed::new(
        &[
            ("validation", "mode", "\"required\""),
            ("validation", "commands", "[[\".docket/check.sh\"]]"),
        ],
        &[(
            "add-greeting",
            &task("idempotent", "notes/hello.txt", "hello from docket"),
        )],
    );
    g.add_ticket(
        "touch-ci",
        &format!(
            "---\nid: touch-ci\ntitle: \"{HOSTILE_TITLE}\"\nlabels: [docket, repo-{ALIAS}]\nstate: ready\nrequester: {REQUESTER}\n---\n{}",
            task("idempotent", ".github/workflows/ci.yml", "on: push")
        ),
    );
    let run = g.run("add-greeting", &[]);
    assert_eq!(run.code, 0, "{run}");
    let published = line_value(&run.stdout, "run").to_owned();
    let run = g.run("touch-ci", &[]);
    assert_eq!(run.code, 1, "{run}");
    let blocked = line_value(&run.stdout, "run").to_owned();
    let key = g.env.ok(&["key", "show"]).stdout.trim().to_owned();
    Fixture {
        g,
        published,
        blocked,
        key,
    }
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.g.env.path(name)
    }

    fn export(&self, name: &str, extra: &[&str]) -> (Run, PathBuf) {
        let out = self.path(name);
        let mut args = vec!["export", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        (self.g.env.run(&args), out)
    }

    fn verify(&self, file: &Path) -> Run {
        self.g
            .env
            .run(&["verify-package", file.to_str().unwrap(), "--key", &self.key])
    }

    /// The ledger's private key, to re-sign a manifest the way a forger with the key
    /// could: the checks beyond the signature must still catch what was changed.
    fn signer(&self) -> docket_ledger::Signer {
        KeyDir::new(self.g.env.home.join("keys"))
            .load_all()
            .unwrap()
            .into_iter()
            .find(|s| s.verifier().to_string() == self.key)
            .unwrap()
    }
}

fn read(zip: &Path) -> Files {
    package::read_zip(&std::fs::read(zip).unwrap())
        .unwrap()
        .files
}

fn write(files: &Files, to: &Path) {
    std::fs::write(to, package::write_zip(files).unwrap()).unwrap();
}

fn manifest_json(files: &Files) -> Value {
    serde_json::from_slice(&files[package::MANIFEST]).unwrap()
}

/// Re-signs the package after `change` edited the manifest (as JSON).
fn reseal(files: &mut Files, signer: &docket_ledger::Signer, change: impl FnOnce(&mut Value)) {
    let mut manifest = manifest_json(files);
    change(&mut manifest);
    let manifest: package::Manifest = serde_json::from_value(manifest).unwrap();
    package::seal(files, manifest, signer).unwrap();
}

fn failed_with(run: &Run, expected: &str) {
    assert_eq!(run.code, 1, "{run}");
    let first = run.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("FAILED: ") && first.contains(expected),
        "expected a failure naming `{expected}`:\n{run}"
    );
}

#[test]
fn a_package_of_a_published_and_a_blocked_run_verifies_and_reports_both() {
    let f = fixture();
    // A checkpoint kept by the auditor after the first run, before the second.
    let kept = f.path("kept.note");
    f.g.env
        .ok(&["log", "checkpoint", "--out", kept.to_str().unwrap()]);
    f.g.env.append("ci.event", r#"{"after":"checkpoint"}"#);

    let (run, zip) = f.export("audit.zip", &["--against", kept.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .starts_with(&format!("wrote {} (", zip.display())),
        "{run}"
    );
    assert_eq!(line_value(&run.stdout, "  runs"), "2");
    assert_eq!(line_value(&run.stdout, "  attestations"), "1");
    assert_eq!(line_value(&run.stdout, "  consistency"), "1 proof(s)");
    assert_eq!(line_value(&run.stdout, "  signed by"), f.key);

    let run = f.verify(&zip);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout
            .starts_with(&format!("OK: {} verifies\n", zip.display())),
        "{run}"
    );
    assert_eq!(line_value(&run.stdout, "  runs"), "2");
    assert_eq!(line_value(&run.stdout, "  attestations"), "1 verified");
    assert_eq!(line_value(&run.stdout, "  consistency"), "1 proof(s)");
    assert!(run.stderr.is_empty(), "{run}");

    // JSON, and without --key: verified, with a warning that only integrity is proven.
    let run =
        f.g.env
            .run(&["verify-package", zip.to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 0, "{run}");
    let json = run.json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["verified"]["runs"], 2);
    assert_eq!(json["verified"]["trusted_key_given"], false);
    assert!(
        json["warning"]
            .as_str()
            .unwrap()
            .contains("proves it is intact, not who made it"),
        "{json:#}"
    );

    // The manifest lists both runs with their records and stages, every file, and the
    // control mapping.
    let files = read(&zip);
    let manifest = manifest_json(&files);
    assert_eq!(manifest["format"], package::FORMAT);
    let runs = manifest["runs"].as_array().unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [f.published.as_str(), f.blocked.as_str()]);
    assert_eq!(runs[0]["status"], "published");
    assert_eq!(runs[1]["status"], "blocked");
    let record = f.g.show(&f.published);
    assert_eq!(runs[0]["record"], record["ledger"]["index"]);
    assert_eq!(runs[0]["stages"], record["ledger"]["stages"]);
    for stage in record["ledger"]["stages"].as_array().unwrap() {
        let entry = f.g.entry(stage.as_u64().unwrap());
        let bytes = &files[&format!("entries/{stage}.json")];
        let decoded: Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(
            decoded["payload"], entry["payload"],
            "entry {stage} is exported exactly"
        );
        assert!(files.contains_key(&format!("proofs/{stage}.json")));
    }
    let commit = record["output"]["commit"].as_str().unwrap();
    assert!(files.contains_key(&format!("attestations/{commit}.dsse.json")));
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let present: Vec<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|p| *p != package::MANIFEST && *p != package::SIGNATURE)
        .collect();
    assert_eq!(listed, present);
    let controls: Vec<String> = manifest["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["framework"].as_str().unwrap(),
                c["id"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "SOC 2 CC8.1",
        "ISO/IEC 27001:2022 A.8.32",
        "NIST SP 800-218 (SSDF v1.1) PS.3.1",
        "EU AI Act (Regulation (EU) 2024/1689) Art. 12",
    ] {
        assert!(controls.iter().any(|c| c == expected), "{controls:?}");
    }
    let evidence = manifest["evidence"].as_array().unwrap();
    let decisions = evidence
        .iter()
        .find(|e| e["evidence"] == "policy.decision")
        .unwrap();
    assert!(
        decisions["controls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "SOC 2 CC8.1")
    );
    assert!(!decisions["entries"].as_array().unwrap().is_empty());

    // The report: readable facts of both runs, untrusted text escaped, no script.
    let report = String::from_utf8(files[package::REPORT].clone()).unwrap();
    assert!(
        !report.to_lowercase().contains("<script"),
        "report.html holds a script"
    );
    assert!(!report.contains("<b>co</b>"));
    // minijinja escapes `/` too (`&#x2f;`); read the rest with plain slashes.
    let report = report.replace("&#x2f;", "/");
    assert!(report.contains(
        "Touch CI &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;co&lt;/b&gt;"
    ));
    let section = |id: &str| {
        let start = report
            .find(&format!("<section class=\"run\" id=\"run-{id}\">"))
            .unwrap();
        let end = report[start..].find("</section>").unwrap();
        report[start..start + end].to_owned()
    };
    let published = section(&f.published);
    for expected in [
        "<h2>Ticket add-greeting: Ticket add-greeting <span class=\"status status-published\">published</span></h2>",
        &format!("<tr><th>Requested by</th><td>{REQUESTER}</td></tr>"),
        &format!("<tr><th>Initiated by</th><td>{INITIATOR}</td></tr>"),
        "<tr><th>Agent</th><td>exec, no model: <code>.docket/agent.sh</code></td></tr>",
        "<tr><td>intake</td><td class=\"allow\">allow</td>",
        "<tr><td>publish</td><td class=\"allow\">allow</td>",
        "<td><code>.docket/check.sh</code></td><td class=\"pass\">exit 0</td>",
        "<tr><td>forbidden-paths</td><td class=\"pass\">pass</td>",
        "<span class=\"a\">+hello from docket</span>",
        &format!("commit <code>{commit}</code>"),
        &format!("<code>attestations/{commit}.dsse.json</code>"),
        &format!("<code>docket attest verify {commit}</code>"),
        &format!(
            "<tr><th>Run record</th><td>entry {} (",
            record["ledger"]["index"]
        ),
    ] {
        assert!(
            published.contains(expected),
            "no `{expected}` in:\n{published}"
        );
    }
    let blocked = section(&f.blocked);
    for expected in [
        "<span class=\"status status-blocked\">blocked</span>",
        "<li>forbidden-paths: .github/workflows/ci.yml (matches .github/workflows/**)</li>",
        "<tr><td>forbidden-paths</td><td class=\"fail\">fail</td>",
        "<span class=\"a\">+on: push</span>",
    ] {
        assert!(blocked.contains(expected), "no `{expected}` in:\n{blocked}");
    }
    assert!(!blocked.contains("<tr><th>Published</th>"));
    for expected in [
        &format!("tree size {}", manifest["checkpoint"]["size"]),
        "docket verify-package PACKAGE.zip --key",
        "<h3>SOC 2 CC8.1 — Change management</h3>",
        "<h3>ISO/IEC 27001:2022 A.8.32 — Change management</h3>",
    ] {
        assert!(report.contains(expected), "no `{expected}` in report.html");
    }

    // Selection: one ticket only.
    let (run, only) = f.export("only.zip", &["--ticket", "touch-ci", "--format", "json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.json()["runs"], 1);
    assert_eq!(f.verify(&only).code, 0);
    let (run, _) = f.export("none.zip", &["--ticket", "no-such-ticket"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("no runs match the selection (--ticket no-such-ticket)"),
        "{run}"
    );

    // A shredded blob is exported as the record of its shredding, and still verifies.
    let stdout_blob = f.g.show(&f.blocked)["attempts"][0]["stdout_digest"]
        .as_str()
        .unwrap()
        .to_owned();
    f.g.env
        .ok(&["blob", "shred", &stdout_blob, "--reason", "retention"]);
    let (run, shredded) = f.export("shredded.zip", &["--run", &f.blocked[..8]]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        line_value(&run.stdout, "  blobs")
            .split_once(' ')
            .unwrap()
            .1,
        "(1 shredded)"
    );
    let run = f.verify(&shredded);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        line_value(&run.stdout, "  blobs").ends_with("intact, 1 shredded"),
        "{run}"
    );
    let hex = stdout_blob.trim_start_matches("sha256:");
    let files = read(&shredded);
    assert!(files.contains_key(&format!("shredded/{hex}.json")));
    assert!(!files.contains_key(&format!("blobs/sha256/{hex}")));

    // After a key rotation the package is signed with the new key and still verifies
    // with the old one: the rotation statement, signed by both, links them; the
    // attestation signed before the rotation verifies too.
    f.g.env.ok(&["key", "rotate"]);
    let (run, rotated) = f.export("rotated.zip", &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_ne!(line_value(&run.stdout, "  signed by"), f.key);
    let run = f.verify(&rotated);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(line_value(&run.stdout, "  attestations"), "1 verified");
    let chain: Value = serde_json::from_slice(&read(&rotated)[package::KEY_CHAIN]).unwrap();
    assert_eq!(chain["genesis"], f.key.as_str());
    assert_eq!(chain["rotations"].as_array().unwrap().len(), 1);
}

#[test]
fn every_kind_of_tampering_fails_and_names_what() {
    let f = fixture();
    let (run, zip) = f.export("audit.zip", &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(f.verify(&zip).code, 0);
    let original = read(&zip);
    let manifest = manifest_json(&original);
    let record_of = |status: &str| {
        manifest["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] == status)
            .unwrap()
            .clone()
    };
    let published = record_of("published");
    let record = published["record"].as_u64().unwrap();
    let stage = published["stages"][3].as_u64().unwrap();
    let blob = manifest["blobs"][0]["file"].as_str().unwrap().to_owned();
    let signer = f.signer();
    let mut case = 0;
    let mut check = |what: &str, expected: &str, tamper: &dyn Fn(&mut Files)| {
        case += 1;
        let mut files = original.clone();
        tamper(&mut files);
        let bad = f.path(&format!("tampered-{case}.zip"));
        write(&files, &bad);
        let run = f.verify(&bad);
        failed_with(&run, expected);
        eprintln!("{what}: {}", run.stdout.trim());
    };
    let flip = |bytes: &mut Vec<u8>, at: usize| bytes[at] ^= 0x01;

    check(
        "one byte of an entry",
        &format!("entries/{record}.json was modified: its sha256 is"),
        &|files| {
            flip(
                files.get_mut(&format!("entries/{record}.json")).unwrap(),
                40,
            )
        },
    );
    check(
        "one byte of a blob",
        &format!("{blob} was modified"),
        &|files| flip(files.get_mut(&blob).unwrap(), 0),
    );
    check(
        "a removed file",
        &format!("proofs/{stage}.json is listed in the manifest but missing from the package"),
        &|files| {
            files.remove(&format!("proofs/{stage}.json"));
        },
    );
    check(
        "a removed file, also removed from the manifest",
        "manifest.json is not the manifest manifest.sig signed",
        &|files| {
            let path = format!("proofs/{stage}.json");
            files.remove(&path);
            let mut m = manifest_json(files);
            m["files"]
                .as_array_mut()
                .unwrap()
                .retain(|f| f["path"] != path.as_str());
            files.insert(
                package::MANIFEST.into(),
                serde_json::to_vec_pretty(&m).unwrap(),
            );
        },
    );
    check(
        "an added file",
        "notes.txt is in the package but not in the manifest",
        &|files| {
            files.insert("notes.txt".into(), b"hello".to_vec());
        },
    );
    check(
        "a modified proof, even in a re-signed manifest",
        &format!("proofs/{stage}.json: entry {stage} is not included in the tree of size"),
        &|files| {
            let path = format!("proofs/{stage}.json");
            let mut proof: Value = serde_json::from_slice(&files[&path]).unwrap();
            let first = proof["proof"][0].as_str().unwrap().to_owned();
            let changed = format!(
                "{}{}",
                if first.starts_with('0') { '1' } else { '0' },
                &first[1..]
            );
            proof["proof"][0] = Value::String(changed);
            files.insert(path, serde_json::to_vec_pretty(&proof).unwrap());
            reseal(files, &signer, |_| {});
        },
    );
    check(
        "a modified entry, re-signed with its new leaf hash",
        &format!("proofs/{record}.json proves other bytes than entries/{record}.json"),
        &|files| {
            let path = format!("entries/{record}.json");
            let text = String::from_utf8(files[&path].clone()).unwrap();
            let changed = text.replace("\"published\"", "\"Published\"").into_bytes();
            let leaf = hex::encode(
                Sha256::new()
                    .chain_update([0u8])
                    .chain_update(&changed)
                    .finalize(),
            );
            files.insert(path, changed);
            reseal(files, &signer, |m| {
                for e in m["entries"].as_array_mut().unwrap() {
                    if e["index"] == record {
                        e["leaf_hash"] = Value::String(leaf.clone());
                    }
                }
            });
        },
    );
    check(
        "a modified manifest signature",
        "manifest.sig does not verify with the package's current key",
        &|files| {
            let sig = String::from_utf8(files[package::SIGNATURE].clone()).unwrap();
            let (text, line) = sig.trim_end().rsplit_once('\n').unwrap();
            let (who, b64) = line.rsplit_once(' ').unwrap();
            let mut raw: Vec<char> = b64.chars().collect();
            raw[10] = if raw[10] == 'A' { 'B' } else { 'A' };
            let forged = format!("{text}\n{who} {}\n", raw.into_iter().collect::<String>());
            files.insert(package::SIGNATURE.into(), forged.into_bytes());
        },
    );
    check(
        "an entry dropped with its manifest line, re-signed",
        &format!("lists stage entry {stage}, which is not in the package"),
        &|files| {
            files.remove(&format!("entries/{stage}.json"));
            files.remove(&format!("proofs/{stage}.json"));
            reseal(files, &signer, |m| {
                m["entries"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|e| e["index"] != stage);
                for e in m["evidence"].as_array_mut().unwrap() {
                    e["entries"].as_array_mut().unwrap().retain(|i| *i != stage);
                }
            });
        },
    );
    check(
        "an attestation replaced, re-signed",
        "attestations/",
        &|files| {
            let path = published["attestation"].as_str().unwrap().to_owned();
            let mut envelope: Value = serde_json::from_slice(&files[&path]).unwrap();
            envelope["payload"] = Value::String("e30=".into());
            files.insert(path, serde_json::to_vec(&envelope).unwrap());
            reseal(files, &signer, |_| {});
        },
    );

    // A key the package was not signed with.
    let other = docket_ledger::Signer::generate("someone.example/log")
        .unwrap()
        .verifier();
    let run = f.g.env.run(&[
        "verify-package",
        zip.to_str().unwrap(),
        "--key",
        &other.to_string(),
    ]);
    failed_with(
        &run,
        &format!("the package is not signed by the key you trust: {other} is not in its key chain"),
    );

    // Not a package, not a zip, no file: errors (exit 2) that name the file.
    let not_zip = f.path("not.zip");
    std::fs::write(&not_zip, b"this is not a zip").unwrap();
    let run = f.verify(&not_zip);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains(&format!("{} cannot be verified", not_zip.display())),
        "{run}"
    );
    assert!(run.stderr.contains("not a zip archive"), "{run}");
    let mut no_manifest = original.clone();
    no_manifest.remove(package::MANIFEST);
    let bare = f.path("bare.zip");
    write(&no_manifest, &bare);
    let run = f.verify(&bare);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr
            .contains("not a docket audit package: it has no manifest.json"),
        "{run}"
    );
    let run = f.verify(&f.path("missing.zip"));
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("cannot read"), "{run}");
}

/// Writes `files` as a zip in which `name` is a member twice: first with `forged`
/// bytes, then the package's own. The zip writer refuses a duplicate name, so the real
/// file is written under a placeholder of the same length that sorts last, and the
/// placeholder is renamed in place (in its local header and its central directory
/// record; neither checksum covers the name).
fn write_with_duplicate(files: &Files, name: &str, forged: &[u8], to: &Path) {
    let placeholder = format!("~{}", &name[1..]);
    let mut files = files.clone();
    let real = files.insert(name.into(), forged.to_vec()).unwrap();
    files.insert(placeholder.clone(), real);
    let mut bytes = package::write_zip(&files).unwrap();
    let at: Vec<usize> = bytes
        .windows(placeholder.len())
        .enumerate()
        .filter(|(_, w)| *w == placeholder.as_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        2,
        "the placeholder is in one local header and one record"
    );
    for i in at {
        bytes[i..i + name.len()].copy_from_slice(name.as_bytes());
    }
    std::fs::write(to, bytes).unwrap();
}

/// Issue 15: what an unzip tool or a file browser shows must be what was verified. A
/// member that shadows another of its name, one that extracts outside the folder, or
/// one the signed manifest does not list, is a failure naming that member.
#[test]
fn a_zip_that_unpacks_to_other_files_than_the_verified_ones_fails() {
    let f = fixture();
    let (run, zip) = f.export("audit.zip", &[]);
    assert_eq!(run.code, 0, "{run}");
    let original = read(&zip);
    let forged_report =
        b"<!doctype html><title>All runs approved</title><p>Nothing to see.".to_vec();

    let duplicate = f.path("duplicate.zip");
    write_with_duplicate(&original, package::REPORT, &forged_report, &duplicate);
    let mut cases = vec![(
        "a forged report.html before the real one",
        duplicate,
        "report.html is in the archive more than once",
    )];
    for (i, (name, expected)) in [
        ("../evil", "../evil is not a safe member name"),
        ("/etc/x", "/etc/x is not a safe member name"),
        ("..\\evil", "..\\evil is not a safe member name"),
        ("C:/x", "C:/x is not a safe member name"),
        (
            "notes.txt",
            "notes.txt is in the package but not in the manifest",
        ),
        ("notes/", "notes/ is in the package but not in the manifest"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut files = original.clone();
        files.insert(name.into(), b"extra".to_vec());
        let bad = f.path(&format!("extra-{i}.zip"));
        write(&files, &bad);
        cases.push((name, bad, expected));
    }

    // Run every case before asserting, so one run shows how each fares.
    let runs: Vec<_> = cases
        .into_iter()
        .map(|(what, zip, expected)| {
            let run = f.verify(&zip);
            eprintln!(
                "{what}: exit {}: {}",
                run.code,
                run.stdout.lines().next().unwrap_or_default()
            );
            (run, expected)
        })
        .collect();
    for (run, expected) in &runs {
        failed_with(run, expected);
    }

    // The same failure in JSON names the member as the file.
    let run = f.g.env.run(&[
        "verify-package",
        f.path("duplicate.zip").to_str().unwrap(),
        "--key",
        &f.key,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 1, "{run}");
    let json = run.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["failure"]["code"], "member-duplicate");
    assert_eq!(json["failure"]["file"], package::REPORT);
}
