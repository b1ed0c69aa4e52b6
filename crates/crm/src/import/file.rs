//! The uploaded file: stored on disk, normalized to UTF-8, sniffed for its delimiter, and read back
//! in batches from a byte offset (the resume checkpoint).
//!
//! Why normalize once on upload: every later step (preview, dry run, each batch of the run) seeks
//! to a byte offset and parses from there. With one encoding on disk, offsets are plain UTF-8
//! offsets and the batch reader stays simple. A file that is already valid UTF-8 without a BOM —
//! the common case, and the one the benchmark measures — is kept as is (a rename, no copy).

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Refuse files above this size (4 GiB): far above a 1,000,000-row file, below a full disk.
pub const MAX_BYTES: u64 = 4 << 30;

/// Where an org's uploaded files live.
pub fn path_of(dir: &Path, org: Uuid, import: Uuid) -> PathBuf {
    dir.join(org.to_string()).join(format!("{import}.csv"))
}

/// Checks UTF-8 validity of a stream chunk by chunk, carrying an incomplete trailing sequence.
#[derive(Debug, Default)]
pub struct Utf8Check {
    invalid: bool,
    carry: Vec<u8>,
}

impl Utf8Check {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.invalid {
            return;
        }
        let joined;
        let data: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            &joined
        };
        match std::str::from_utf8(data) {
            Ok(_) => self.carry.clear(),
            Err(e) if e.error_len().is_none() && data.len() - e.valid_up_to() < 4 => {
                self.carry = data[e.valid_up_to()..].to_vec();
            }
            Err(_) => self.invalid = true,
        }
    }

    pub fn is_valid(&self) -> bool {
        !self.invalid && self.carry.is_empty()
    }
}

/// What was found in the file.
#[derive(Debug, Clone)]
pub struct Sniffed {
    pub encoding: &'static str,
    pub delimiter: u8,
    pub headers: Vec<String>,
    /// Byte offset of the first data row in the stored file.
    pub data_offset: u64,
    pub size: u64,
}

pub fn delimiter_name(d: u8) -> &'static str {
    match d {
        b';' => ";",
        b'\t' => "tab",
        _ => ",",
    }
}

pub fn delimiter_byte(name: &str) -> u8 {
    match name {
        ";" => b';',
        "tab" => b'\t',
        _ => b',',
    }
}

/// Turns the raw upload at `raw` into the stored UTF-8 file at `dest` and sniffs it. `utf8` tells
/// whether the whole upload was valid UTF-8. Blocking: run it off the async threads.
pub fn normalize(raw: &Path, dest: &Path, utf8_valid: bool) -> std::io::Result<Sniffed> {
    let mut head = [0u8; 3];
    let n = std::fs::File::open(raw)?.read(&mut head)?;
    let bom = n == 3 && head == [0xEF, 0xBB, 0xBF];
    let encoding = if bom {
        "utf-8-bom"
    } else if utf8_valid {
        "utf-8"
    } else {
        // Not UTF-8: spreadsheets on Windows write Windows-1252 (a superset of Latin-1's printable
        // range), so that is what a French Excel "CSV" is.
        "windows-1252"
    };
    if encoding == "utf-8" {
        std::fs::rename(raw, dest)?;
    } else {
        let source = if bom { encoding_rs::UTF_8 } else { encoding_rs::WINDOWS_1252 };
        transcode(raw, dest, source)?;
        std::fs::remove_file(raw)?;
    }
    let size = std::fs::metadata(dest)?.len();
    let delimiter = sniff_delimiter(dest)?;
    let (headers, data_offset) = read_headers(dest, delimiter)?;
    Ok(Sniffed { encoding, delimiter, headers, data_offset, size })
}

fn transcode(raw: &Path, dest: &Path, encoding: &'static encoding_rs::Encoding) -> std::io::Result<()> {
    let mut input = BufReader::new(std::fs::File::open(raw)?);
    let mut output = std::io::BufWriter::new(std::fs::File::create(dest)?);
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = String::with_capacity(3 * 64 * 1024 + 16);
    loop {
        let read = input.read(&mut buf)?;
        let last = read == 0;
        out.clear();
        let (_, _, _) = decoder.decode_to_string(&buf[..read], &mut out, last);
        output.write_all(out.as_bytes())?;
        if last {
            break;
        }
    }
    output.flush()
}

/// The most frequent of `,` `;` and tab in the first line, outside quotes; `,` on a tie or none.
fn sniff_delimiter(path: &Path) -> std::io::Result<u8> {
    let mut head = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)?.take(64 * 1024).read_to_end(&mut head)?;
    let (mut comma, mut semi, mut tab, mut quoted) = (0, 0, 0, false);
    for b in head {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            b',' if !quoted => comma += 1,
            b';' if !quoted => semi += 1,
            b'\t' if !quoted => tab += 1,
            _ => {}
        }
    }
    Ok(if semi > comma && semi >= tab {
        b';'
    } else if tab > comma && tab > semi {
        b'\t'
    } else {
        b','
    })
}

fn reader_at(path: &Path, delimiter: u8, offset: u64) -> std::io::Result<csv::Reader<BufReader<std::fs::File>>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(BufReader::with_capacity(256 * 1024, file)))
}

fn read_headers(path: &Path, delimiter: u8) -> std::io::Result<(Vec<String>, u64)> {
    let mut reader = reader_at(path, delimiter, 0)?;
    let mut record = csv::StringRecord::new();
    let found = reader.read_record(&mut record).map_err(std::io::Error::other)?;
    let headers = if found { record.iter().map(|h| h.trim().to_string()).collect() } else { Vec::new() };
    Ok((headers, reader.position().byte()))
}

/// A batch of data rows and where the next one starts.
#[derive(Debug)]
pub struct Batch {
    /// Each row with its position among the records read in this batch (blank lines count, so
    /// row numbers match the spreadsheet's).
    pub rows: Vec<(i64, csv::StringRecord)>,
    /// Records read, blank ones included.
    pub consumed: i64,
    pub next_offset: u64,
    pub at_end: bool,
}

/// Reads up to `max` data rows from `offset`. Blocking, bounded by `max` rows.
pub fn read_batch(path: &Path, delimiter: u8, offset: u64, max: usize) -> std::io::Result<Batch> {
    let mut reader = reader_at(path, delimiter, offset)?;
    let mut rows = Vec::with_capacity(max.min(50_000));
    let mut at_end = false;
    let mut consumed = 0i64;
    while rows.len() < max {
        let mut record = csv::StringRecord::new();
        if !reader.read_record(&mut record).map_err(std::io::Error::other)? {
            at_end = true;
            break;
        }
        consumed += 1;
        // A blank line is no row at all.
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push((consumed - 1, record));
    }
    if !at_end {
        // Peek: the batch that ends exactly at the end of the file closes the import now.
        let mut probe = csv::StringRecord::new();
        let here = reader.position().byte();
        at_end = !reader.read_record(&mut probe).map_err(std::io::Error::other)?;
        return Ok(Batch { rows, consumed, next_offset: offset + here, at_end });
    }
    Ok(Batch { rows, consumed, next_offset: offset + reader.position().byte(), at_end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("relais-import-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let raw = dir.join(format!("{name}.raw"));
        std::fs::write(&raw, bytes).unwrap();
        (raw, dir.join(format!("{name}.csv")))
    }

    fn check(bytes: &[u8]) -> bool {
        let mut c = Utf8Check::default();
        for chunk in bytes.chunks(1) {
            c.feed(chunk);
        }
        c.is_valid()
    }

    #[test]
    fn utf8_is_checked_across_chunks() {
        assert!(check("Prénom;Émile\n".as_bytes()));
        assert!(!check(b"Pr\xe9nom\n"));
    }

    #[test]
    fn windows_1252_and_bom_are_normalized_and_delimiters_sniffed() {
        let (raw, dest) = temp("a", b"Pr\xe9nom;Nom\n\xc9mile;\"Zola\nfils\"\n");
        let s = normalize(&raw, &dest, false).unwrap();
        assert_eq!((s.encoding, s.delimiter), ("windows-1252", b';'));
        assert_eq!(s.headers, vec!["Prénom", "Nom"]);
        let batch = read_batch(&dest, s.delimiter, s.data_offset, 10).unwrap();
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(&batch.rows[0].1[1], "Zola\nfils");
        assert!(batch.at_end);

        let (raw, dest) = temp("b", "\u{feff}email,name\na@b.fr,x\nc@d.fr,y\n".as_bytes());
        let s = normalize(&raw, &dest, true).unwrap();
        assert_eq!((s.encoding, s.delimiter), ("utf-8-bom", b','));
        assert_eq!(s.headers[0], "email");
        let first = read_batch(&dest, s.delimiter, s.data_offset, 1).unwrap();
        assert!(!first.at_end);
        let second = read_batch(&dest, s.delimiter, first.next_offset, 1).unwrap();
        assert_eq!(&second.rows[0].1[0], "c@d.fr");
        assert!(second.at_end);
    }
}
