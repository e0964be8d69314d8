//! The manifest: the commit point of one checkpoint.
//!
//! # Format (version 1)
//!
//! UTF-8 text, one record per line, fields separated by one space, every
//! line ending in `\n`:
//!
//! ```text
//! laminar-checkpoint-manifest 1
//! epoch <u64>
//! part <name> <number of files>
//! <base|delta|merged> <file name> <length in bytes> <CRC-32C, 8 hex digits>
//! ...                     (one line per file of the part's chain, base first)
//! crc32c <CRC-32C of every byte before this line, 8 hex digits>
//! ```
//!
//! Text because a manifest is a few hundred bytes read once per restore, and
//! an operator reading a checkpoint directory by hand should be able to see
//! what a checkpoint consists of. The trailing checksum makes a torn or
//! edited manifest an error rather than a different checkpoint.

use super::super::error::{Result, StateError};

const HEADER: &str = "laminar-checkpoint-manifest 1";

/// What a file of a chain holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A whole state, written from a capture.
    Base,
    /// Puts and deletes since the previous file of the chain.
    Delta,
    /// A whole state, materialized in the background by merging a chain.
    Merged,
}

impl FileKind {
    fn as_str(self) -> &'static str {
        match self {
            FileKind::Base => "base",
            FileKind::Delta => "delta",
            FileKind::Merged => "merged",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "base" => Some(FileKind::Base),
            "delta" => Some(FileKind::Delta),
            "merged" => Some(FileKind::Merged),
            _ => None,
        }
    }
}

/// One file of a part's chain, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFile {
    pub(crate) kind: FileKind,
    pub(crate) name: String,
    pub(crate) len: u64,
    pub(crate) crc: u32,
}

impl ChainFile {
    /// Whether the file is a base, a delta or a merged base.
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// The file name, relative to the checkpoint directory.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// `true` if the file is empty (never the case for a valid part).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One named part (store) of a checkpoint: its chain, base first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPart {
    pub(crate) name: String,
    pub(crate) files: Vec<ChainFile>,
}

impl ManifestPart {
    /// The part's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The files to read, in order: a base, then deltas.
    pub fn files(&self) -> &[ChainFile] {
        &self.files
    }
}

/// A committed checkpoint: its epoch and the chain of every part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub(crate) epoch: u64,
    pub(crate) parts: Vec<ManifestPart>,
}

impl Manifest {
    /// The checkpoint's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Every part of the checkpoint, in the order they were given.
    pub fn parts(&self) -> &[ManifestPart] {
        &self.parts
    }

    /// The part named `name`, if the checkpoint has one.
    pub fn part(&self, name: &str) -> Option<&ManifestPart> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// Every file name the checkpoint references.
    pub(crate) fn file_names(&self) -> impl Iterator<Item = &str> {
        self.parts
            .iter()
            .flat_map(|p| p.files.iter().map(|f| f.name.as_str()))
    }

    /// The manifest's file name for `epoch` (sorts by epoch).
    pub(crate) fn file_name(epoch: u64) -> String {
        format!("checkpoint-{epoch:020}.manifest")
    }

    /// The epoch of a manifest file name, if `name` is one.
    pub(crate) fn epoch_of(name: &str) -> Option<u64> {
        let digits = name
            .strip_prefix("checkpoint-")?
            .strip_suffix(".manifest")?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The manifest's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut text = format!("{HEADER}\nepoch {}\n", self.epoch);
        for part in &self.parts {
            text.push_str(&format!("part {} {}\n", part.name, part.files.len()));
            for f in &part.files {
                text.push_str(&format!(
                    "{} {} {} {:08x}\n",
                    f.kind.as_str(),
                    f.name,
                    f.len,
                    f.crc
                ));
            }
        }
        let crc = crc32c::crc32c(text.as_bytes());
        text.push_str(&format!("crc32c {crc:08x}\n"));
        text.into_bytes()
    }

    /// Parses and verifies a manifest; `location` names the file in errors.
    pub(crate) fn decode(bytes: &[u8], location: &str) -> Result<Self> {
        let bad = |offset: usize, what: String| {
            StateError::corruption(format!("{location} at offset {offset}"), what)
        };
        // The checksum line: the last line of the file.
        let body_end = match bytes.strip_suffix(b"\n") {
            Some(rest) => rest.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1),
            None => {
                return Err(bad(
                    bytes.len(),
                    "manifest does not end with a newline (torn write?)".into(),
                ))
            }
        };
        let (body, crc_line) = bytes.split_at(body_end);
        let crc_text = std::str::from_utf8(crc_line)
            .ok()
            .and_then(|l| l.trim_end_matches('\n').strip_prefix("crc32c "))
            .ok_or_else(|| bad(body_end, "missing checksum line".into()))?;
        // Exactly the form written (8 lowercase hex digits), so that no byte
        // of the line can change without the manifest being rejected.
        let stored = u32::from_str_radix(crc_text, 16)
            .ok()
            .filter(|v| format!("{v:08x}") == crc_text)
            .ok_or_else(|| bad(body_end, format!("unreadable checksum {crc_text:?}")))?;
        let actual = crc32c::crc32c(body);
        if stored != actual {
            return Err(bad(
                0,
                format!("checksum mismatch: stored {stored:08x}, computed {actual:08x}"),
            ));
        }
        let text = std::str::from_utf8(body)
            .map_err(|e| bad(e.valid_up_to(), "manifest is not UTF-8".into()))?;

        let mut offset = 0usize;
        let mut lines = text.split_inclusive('\n').map(|line| {
            let at = offset;
            offset += line.len();
            (at, line.trim_end_matches('\n'))
        });
        let mut next = |what: &str| {
            lines
                .next()
                .ok_or_else(|| bad(body.len(), format!("manifest ends before {what}")))
        };
        let (at, header) = next("the header")?;
        if header != HEADER {
            return Err(bad(
                at,
                format!("not a version 1 manifest header: {header:?}"),
            ));
        }
        let (at, epoch_line) = next("the epoch")?;
        let epoch = epoch_line
            .strip_prefix("epoch ")
            .and_then(|e| e.parse::<u64>().ok())
            .ok_or_else(|| bad(at, format!("bad epoch line {epoch_line:?}")))?;
        let mut parts = Vec::new();
        let mut rest: Vec<(usize, &str)> = Vec::new();
        while let Ok(line) = next("") {
            rest.push(line);
        }
        let mut rest = rest.into_iter();
        while let Some((at, line)) = rest.next() {
            let fields: Vec<&str> = line.split(' ').collect();
            let (name, count) = match fields.as_slice() {
                ["part", name, count] => (*name, count.parse::<usize>().ok()),
                _ => return Err(bad(at, format!("expected a part line, found {line:?}"))),
            };
            let count = count.ok_or_else(|| bad(at, format!("bad file count in {line:?}")))?;
            if count == 0 {
                return Err(bad(at, format!("part {name} has no file")));
            }
            let mut files = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                let (at, line) = rest.next().ok_or_else(|| {
                    bad(
                        body.len(),
                        format!("part {name} lists fewer than {count} files"),
                    )
                })?;
                let fields: Vec<&str> = line.split(' ').collect();
                let file = match fields.as_slice() {
                    [kind, file, len, crc] => FileKind::parse(kind).and_then(|kind| {
                        Some(ChainFile {
                            kind,
                            name: (*file).to_string(),
                            len: len.parse().ok()?,
                            crc: u32::from_str_radix(crc, 16).ok()?,
                        })
                    }),
                    _ => None,
                }
                .ok_or_else(|| bad(at, format!("bad file line {line:?}")))?;
                if !valid_file_name(&file.name) {
                    return Err(bad(
                        at,
                        format!("file name {:?} is not a part file", file.name),
                    ));
                }
                files.push(file);
            }
            if files.first().map(|f| f.kind) == Some(FileKind::Delta)
                || files.iter().skip(1).any(|f| f.kind != FileKind::Delta)
            {
                return Err(bad(
                    at,
                    format!("part {name}: a chain is one base followed by deltas"),
                ));
            }
            parts.push(ManifestPart {
                name: name.to_string(),
                files,
            });
        }
        Ok(Manifest { epoch, parts })
    }
}

/// A part name: 1 to 64 ASCII letters, digits, `_` or `-`, so that it can be
/// part of a file name on every platform.
pub(crate) fn valid_part_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The suffix of every part file.
pub(crate) const PART_SUFFIX: &str = ".part";

/// A part file name as written by this module (no path separator, no dot
/// file), so a manifest can never make restore read outside the directory.
pub(crate) fn valid_file_name(name: &str) -> bool {
    name.ends_with(PART_SUFFIX)
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// The file name of `part`'s file of `kind` written at `epoch`.
pub(crate) fn part_file_name(part: &str, epoch: u64, kind: FileKind) -> String {
    format!("{part}-{epoch:020}-{}{PART_SUFFIX}", kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            epoch: 7,
            parts: vec![ManifestPart {
                name: "orders".into(),
                files: vec![
                    ChainFile {
                        kind: FileKind::Base,
                        name: part_file_name("orders", 5, FileKind::Base),
                        len: 100,
                        crc: 0xdead_beef,
                    },
                    ChainFile {
                        kind: FileKind::Delta,
                        name: part_file_name("orders", 7, FileKind::Delta),
                        len: 10,
                        crc: 1,
                    },
                ],
            }],
        }
    }

    #[test]
    fn round_trip_and_every_flip_is_detected() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes, "m").unwrap(), m);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    Manifest::decode(&bad, "m").is_err(),
                    "flip of bit {bit} at {i} accepted"
                );
            }
        }
        for n in 0..bytes.len() {
            assert!(
                Manifest::decode(&bytes[..n], "m").is_err(),
                "truncation to {n} accepted"
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(Manifest::epoch_of(&Manifest::file_name(42)), Some(42));
        assert_eq!(Manifest::epoch_of("checkpoint-1.manifest"), None);
        assert!(valid_part_name("a-b_C9"));
        assert!(!valid_part_name("a/b") && !valid_part_name("") && !valid_part_name("a.b"));
        assert!(!valid_file_name("../x.part") && !valid_file_name(".tmp.part"));
    }
}
