//! The zip archive a package travels in: writing it, and reading it back with
//! limits on what a member may expand to.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use super::error::PackageError;
use crate::contents::{Files, MANIFEST, README, REPORT, SIGNATURE};

/// Largest single file read from an archive, and largest total: a guard against
/// archives that decompress to far more than they hold.
const MAX_FILE_BYTES: u64 = 1 << 30;
const MAX_TOTAL_BYTES: u64 = 8 << 30;

/// Writes the files into a zip archive (deflate), README first.
pub fn write_zip(files: &Files) -> Result<Vec<u8>, PackageError> {
    use zip::write::SimpleFileOptions;
    let err = |e: &dyn std::fmt::Display| PackageError::WriteZip(e.to_string());
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let time = zip::DateTime::from_date_and_time(
        u16::try_from(now.year()).unwrap_or(1980),
        u8::try_from(now.month()).unwrap_or(1),
        u8::try_from(now.day()).unwrap_or(1),
        u8::try_from(now.hour()).unwrap_or(0),
        u8::try_from(now.minute()).unwrap_or(0),
        u8::try_from(now.second()).unwrap_or(0),
    )
    .unwrap_or_default();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644)
        .last_modified_time(time);
    let total: usize = files.values().map(Vec::len).sum();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(total / 3)));
    let first = [README, REPORT, MANIFEST, SIGNATURE];
    let ordered = first
        .iter()
        .filter_map(|name| files.get_key_value(*name))
        .chain(
            files
                .iter()
                .filter(|(name, _)| !first.contains(&name.as_str())),
        );
    for (name, bytes) in ordered {
        zip.start_file(name.as_str(), options)
            .map_err(|e| err(&e))?;
        zip.write_all(bytes).map_err(|e| err(&e))?;
    }
    Ok(zip.finish().map_err(|e| err(&e))?.into_inner())
}

/// A package as read from its archive: the files, and what about its members
/// verification must refuse before it looks at their contents.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    pub files: Files,
    /// Members whose bytes are damaged in the archive (bad checksum, bad deflate
    /// stream), with the reason.
    pub damaged: BTreeMap<String, String>,
    /// Names the archive holds more than once. The zip reader keeps one member per
    /// name (the last), while an unzip tool or a file browser may show another, so
    /// what an auditor opens need not be what was verified.
    pub duplicates: BTreeSet<String>,
    /// Members that are not regular files (directories, symbolic links): the manifest
    /// lists only files, so these are members it does not list.
    pub not_files: BTreeSet<String>,
}

impl Archive {
    /// Every member name the archive holds, whatever its kind or state.
    pub fn member_names(&self) -> impl Iterator<Item = &str> {
        self.files
            .keys()
            .chain(self.damaged.keys())
            .chain(&self.duplicates)
            .chain(&self.not_files)
            .map(String::as_str)
    }
}

/// Reads every file of a zip archive. An archive that is not a zip at all, or has no
/// manifest, is an error; a damaged, duplicate or non-file member is recorded for
/// verification to report.
pub fn read_zip(bytes: &[u8]) -> Result<Archive, PackageError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| PackageError::ReadZip(e.to_string()))?;
    let mut out = Archive {
        duplicates: duplicate_names(bytes, archive.central_directory_start()),
        ..Archive::default()
    };
    if archive.has_duplicate_names() && out.duplicates.is_empty() {
        // The reader saw a name twice but the records could not be walked to say
        // which: still refuse the archive (fail closed).
        out.duplicates
            .insert("(a member of the central directory)".into());
    }
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut member = match archive.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                out.damaged.insert(format!("(member {i})"), e.to_string());
                continue;
            }
        };
        let name = match member.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                out.damaged.insert(format!("(member {i})"), e.to_string());
                continue;
            }
        };
        if member.is_dir() || member.is_symlink() {
            out.not_files.insert(name);
            continue;
        }
        let mut content =
            Vec::with_capacity(usize::try_from(member.size().min(1 << 24)).unwrap_or(0));
        let read = (&mut member)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut content);
        if let Err(e) = read {
            out.damaged.insert(name, e.to_string());
            continue;
        }
        if content.len() as u64 > MAX_FILE_BYTES {
            return Err(PackageError::ReadZip(format!(
                "{name} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        total += content.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(PackageError::ReadZip(format!(
                "the archive expands to more than {MAX_TOTAL_BYTES} bytes"
            )));
        }
        // Two raw names that decode to one (CP437 and UTF-8) are one name too.
        if out.files.insert(name.clone(), content).is_some() {
            out.duplicates.insert(name);
        }
    }
    if !out.files.contains_key(MANIFEST) && !out.damaged.contains_key(MANIFEST) {
        return Err(PackageError::NotAPackage(format!(
            "it has no {MANIFEST} (it holds {} files)",
            out.files.len()
        )));
    }
    Ok(out)
}

/// The names that more than one central directory record carries. The zip reader
/// keeps one member per name, so this walks the records themselves, from where the
/// reader found the directory: each is a 46-byte header (signature `PK\x01\x02`, name,
/// extra field and comment lengths at offsets 28, 30 and 32) followed by those three.
fn duplicate_names(bytes: &[u8], directory_start: u64) -> BTreeSet<String> {
    const RECORD: &[u8] = b"PK\x01\x02";
    let field = |at: usize| {
        bytes
            .get(at..at + 2)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let mut seen = BTreeSet::new();
    let mut duplicates = BTreeSet::new();
    let mut at = usize::try_from(directory_start).unwrap_or(usize::MAX);
    while bytes.get(at..at.saturating_add(4)) == Some(RECORD) {
        let (name_len, extra_len, comment_len) = (field(at + 28), field(at + 30), field(at + 32));
        let name_at = at + 46;
        let Some(name) = bytes.get(name_at..name_at + name_len) else {
            break;
        };
        if !seen.insert(name) {
            duplicates.insert(String::from_utf8_lossy(name).into_owned());
        }
        at = name_at + name_len + extra_len + comment_len;
    }
    duplicates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_is_a_zip_with_a_manifest() {
        let mut files = Files::new();
        files.insert(MANIFEST.into(), b"{}".to_vec());
        files.insert("a/b.json".into(), b"[1]".to_vec());
        let archive = read_zip(&write_zip(&files).unwrap()).unwrap();
        assert_eq!(archive.files, files);
        assert!(archive.damaged.is_empty());
        files.remove(MANIFEST);
        assert!(matches!(
            read_zip(&write_zip(&files).unwrap()),
            Err(PackageError::NotAPackage(_))
        ));
        assert!(matches!(
            read_zip(b"not a zip"),
            Err(PackageError::ReadZip(_))
        ));
    }

    #[test]
    fn directories_and_links_are_recorded_not_skipped() {
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        zip.start_file(MANIFEST, options).unwrap();
        zip.write_all(b"{}").unwrap();
        zip.add_directory("notes/", options).unwrap();
        zip.add_symlink("report.html", "/etc/passwd", options)
            .unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let archive = read_zip(&bytes).unwrap();
        assert_eq!(archive.files.keys().collect::<Vec<_>>(), [MANIFEST]);
        assert_eq!(
            archive.not_files.iter().collect::<Vec<_>>(),
            ["notes/", "report.html"]
        );
        assert!(archive.duplicates.is_empty());
    }
}
