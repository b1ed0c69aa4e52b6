//! The uploaded file: stored on disk as it was sent, its encoding detected once on upload, its
//! delimiter sniffed, and read back in batches from a byte offset (the resume checkpoint), each
//! cell decoded with the import's one encoding.
//!
//! Why keep the bytes as sent: the person can change the encoding on the mapping step (the
//! detection can be wrong), and one encoding is applied to the whole file, never a mix. Every
//! encoding offered is ASCII-compatible, so quotes, delimiters and line ends are the same bytes
//! whatever the encoding, and a byte offset is a record boundary in all of them.
//!
//! **Encoding rule.** A file starting with the UTF-8 byte-order mark is UTF-8. Otherwise the whole
//! file is checked as UTF-8 while it streams to disk, counting the valid multi-byte characters
//! (accents) and the invalid sequences. No invalid sequence: UTF-8. Some invalid sequences, but at
//! least as many valid accents: UTF-8 with a few damaged bytes — each invalid sequence is replaced
//! by U+FFFD (�) and their number is shown on the mapping step. Otherwise (invalid sequences and no
//! more valid accents than them): Windows-1252, what Excel on Windows writes. A UTF-16 byte-order
//! mark, the signature of a binary format (a spreadsheet, a PDF, an image…), or NUL bytes making
//! more than an eighth of the first 64 KiB (UTF-16 text) mean the file is not a text CSV file:
//! refused (422 on the field `file`).
//!
//! **Quotes.** A quoted cell may hold delimiters and line breaks. A quote that is never closed, or
//! text after a closing quote, makes the row a reject naming the problem, and reading resumes at
//! the next line: an unbalanced quote never swallows the rows after it. A row longer than
//! [`MAX_RECORD_BYTES`] is refused the same way.
//!
//! Why a reader of our own rather than the `csv` crate's (still used for the rows it hands on): the
//! `csv` reader is lenient by design — it reads `"a"b` as `ab` and an unclosed quote as one cell
//! running to the end of the file, without telling — and it cannot restart at the next physical
//! line of a bad row — and a bad row must become a reject, never swallow the rows after it.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use encoding_rs::Encoding;
use uuid::Uuid;

/// Refuse files above this size (4 GiB): far above a 1,000,000-row file, below a full disk.
pub const MAX_BYTES: u64 = 4 << 30;

/// The longest row accepted (1 MiB): longer, it is an unbalanced quote reading on, and a reject.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// How much of the start of the file is looked at for signs of a binary or UTF-16 file.
const HEAD: usize = 64 * 1024;

/// The encodings a person can choose on the mapping step (`utf-8-bom` is only ever detected).
pub const ENCODINGS: &[&str] = &["utf-8", "windows-1252", "iso-8859-15", "macintosh"];

/// Where an org's uploaded files live.
pub fn path_of(dir: &Path, org: Uuid, import: Uuid) -> PathBuf {
    dir.join(org.to_string()).join(format!("{import}.csv"))
}

/// Where an upload is written while it arrives (renamed to [`path_of`] when complete).
pub fn part_path_of(dir: &Path, org: Uuid, import: Uuid) -> PathBuf {
    dir.join(org.to_string()).join(format!("{import}.part"))
}

/// The decoder of an encoding name stored on an import.
pub fn encoding_of(name: &str) -> Option<&'static Encoding> {
    match name {
        "utf-8" | "utf-8-bom" => Some(encoding_rs::UTF_8),
        "windows-1252" => Some(encoding_rs::WINDOWS_1252),
        "iso-8859-15" => Some(encoding_rs::ISO_8859_15),
        "macintosh" => Some(encoding_rs::MACINTOSH),
        _ => None,
    }
}

/// Detects the encoding of a stream, chunk by chunk (see the module's encoding rule).
#[derive(Debug, Default)]
pub struct Detector {
    carry: Vec<u8>,
    head: Vec<u8>,
    invalid: u64,
    multibyte: u64,
}

/// What [`Detector`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub encoding: &'static str,
    /// Invalid UTF-8 sequences in the file (replaced by U+FFFD when it is read as UTF-8).
    pub invalid_utf8: u64,
    /// A binary file, a spreadsheet or UTF-16 text: not a CSV file this import reads.
    pub not_text: bool,
}

impl Detector {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        let joined;
        let mut data: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            &joined
        };
        let mut carry = Vec::new();
        loop {
            match std::str::from_utf8(data) {
                Ok(text) => {
                    self.multibyte += count_leads(text.as_bytes());
                    break;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    self.multibyte += count_leads(&data[..valid]);
                    match error.error_len() {
                        Some(len) => {
                            self.invalid += 1;
                            data = &data[valid + len..];
                        }
                        None => {
                            carry = data[valid..].to_vec();
                            break;
                        }
                    }
                }
            }
        }
        self.carry = carry;
    }

    pub fn finish(self) -> Detection {
        let invalid = self.invalid + u64::from(!self.carry.is_empty());
        let head = &self.head;
        let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
        // UTF-16 text is half NUL bytes; a CSV file with a stray NUL in a cell is not refused
        // (that row is, see the engine).
        let nuls = head.iter().filter(|b| **b == 0).count();
        let binary = nuls * 8 > head.len()
            || infer::get(head).is_some_and(|kind| kind.matcher_type() != infer::MatcherType::Text);
        let encoding = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            "utf-8-bom"
        } else if invalid == 0 || self.multibyte >= invalid {
            "utf-8"
        } else {
            "windows-1252"
        };
        Detection { encoding, invalid_utf8: invalid, not_text: utf16 || binary }
    }
}

/// Lead bytes of multi-byte characters in valid UTF-8.
fn count_leads(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b >= 0xC0).count() as u64
}

/// What was found in the file.
#[derive(Debug, Clone)]
pub struct Sniffed {
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

/// Sniffs the stored file's delimiter and reads its header row with `encoding`. Blocking: run it
/// off the async threads.
pub fn sniff(path: &Path, encoding: &str) -> std::io::Result<Sniffed> {
    let size = std::fs::metadata(path)?.len();
    let mut head = Vec::with_capacity(HEAD);
    std::fs::File::open(path)?.take(HEAD as u64).read_to_end(&mut head)?;
    let start = if head.starts_with(&[0xEF, 0xBB, 0xBF]) { 3 } else { 0 };
    let delimiter = sniff_delimiter(&head[start..]);
    let mut records = Records::open(path, delimiter, encoding, start as u64)?;
    let (headers, data_offset) = match records.next_record()? {
        None => (Vec::new(), size),
        Some(Record::Row(cells)) => (cells, records.position()),
        Some(Record::Malformed { cells, .. }) => (cells, records.position()),
    };
    let headers = headers.into_iter().map(|h| h.replace('\0', "").trim().to_string()).collect();
    Ok(Sniffed { delimiter, headers, data_offset, size })
}

/// The most frequent of `,` `;` and tab in the first line, outside quotes; `,` on a tie or none.
fn sniff_delimiter(head: &[u8]) -> u8 {
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
    if semi > comma && semi >= tab {
        b';'
    } else if tab > comma && tab > semi {
        b'\t'
    } else {
        b','
    }
}

/// Why a row could not be read as CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A quoted cell that is never closed.
    Unterminated,
    /// Text right after the quote that closes a cell.
    TextAfterQuote,
    /// Longer than [`MAX_RECORD_BYTES`].
    TooLong,
}

impl Malformed {
    /// The stable code of the problem (see [`super::problem`]).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Unterminated => "unterminated_quote",
            Self::TextAfterQuote => "text_after_quote",
            Self::TooLong => "row_too_long",
        }
    }

    /// The row's problem: its code and English sentence.
    pub fn problem(self) -> super::problem::Problem {
        super::problem::Problem::row(self.code(), self.reason())
    }

    pub const fn reason(self) -> &'static str {
        match self {
            Self::Unterminated => {
                "An unbalanced quote (\"): a quoted cell is never closed. This line is skipped and reading goes on at the next line."
            }
            Self::TextAfterQuote => {
                "An unbalanced quote (\"): text follows the quote that closes a cell. This line is skipped and reading goes on at the next line."
            }
            Self::TooLong => {
                "The row is longer than 1 MiB (probably an unbalanced quote). This line is skipped and reading goes on at the next line."
            }
        }
    }
}

/// One record of the file.
#[derive(Debug)]
pub enum Record {
    Row(Vec<String>),
    /// A row that is not well-formed: its first line, split at the delimiter, and the problem.
    Malformed {
        cells: Vec<String>,
        problem: Malformed,
    },
}

/// Reads records from a byte offset, decoding each cell with one encoding.
pub struct Records {
    reader: BufReader<std::fs::File>,
    pos: u64,
    delimiter: u8,
    encoding: &'static Encoding,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
    AfterQuote,
}

impl Records {
    pub fn open(path: &Path, delimiter: u8, encoding: &str, offset: u64) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        let encoding = encoding_of(encoding).unwrap_or(encoding_rs::UTF_8);
        Ok(Self { reader: BufReader::with_capacity(256 * 1024, file), pos: offset, delimiter, encoding })
    }

    /// Where the next record starts.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn decode(&self, bytes: &[u8]) -> String {
        if self.encoding == encoding_rs::UTF_8 {
            match std::str::from_utf8(bytes) {
                Ok(text) => text.to_string(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            }
        } else {
            self.encoding.decode_without_bom_handling(bytes).0.into_owned()
        }
    }

    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        Ok(self.reader.fill_buf()?.first().copied())
    }

    fn bump(&mut self) {
        self.reader.consume(1);
        self.pos += 1;
    }

    /// After a line end byte just consumed: a `\r` followed by `\n` is one line end.
    fn finish_line_end(&mut self, byte: u8) -> std::io::Result<()> {
        if byte == b'\r' && self.peek()? == Some(b'\n') {
            self.bump();
        }
        Ok(())
    }

    /// The next record, `None` at the end of the file.
    pub fn next_record(&mut self) -> std::io::Result<Option<Record>> {
        let start = self.pos;
        let mut fields: Vec<Vec<u8>> = Vec::new();
        let mut field: Vec<u8> = Vec::new();
        let mut state = State::FieldStart;
        let mut size = 0usize;
        // Where the record's first physical line ends: reading resumes there after a problem.
        let mut first_line_end: Option<u64> = None;
        let delimiter = self.delimiter;
        let problem = loop {
            let Some(byte) = self.peek()? else {
                // End of file.
                if self.pos == start {
                    return Ok(None);
                }
                if state == State::Quoted {
                    break Malformed::Unterminated;
                }
                fields.push(std::mem::take(&mut field));
                return Ok(Some(Record::Row(fields.iter().map(|f| self.decode(f)).collect())));
            };
            self.bump();
            size += 1;
            if size > MAX_RECORD_BYTES {
                break Malformed::TooLong;
            }
            let line_end = byte == b'\n' || byte == b'\r';
            match state {
                State::FieldStart | State::Unquoted if line_end => {
                    self.finish_line_end(byte)?;
                    fields.push(std::mem::take(&mut field));
                    return Ok(Some(Record::Row(fields.iter().map(|f| self.decode(f)).collect())));
                }
                State::FieldStart | State::Unquoted if byte == delimiter => {
                    fields.push(std::mem::take(&mut field));
                    state = State::FieldStart;
                }
                State::FieldStart if byte == b'"' => state = State::Quoted,
                State::FieldStart | State::Unquoted => {
                    field.push(byte);
                    state = State::Unquoted;
                }
                State::Quoted if byte == b'"' => state = State::QuoteInQuoted,
                State::Quoted => {
                    field.push(byte);
                    if line_end && first_line_end.is_none() {
                        if byte == b'\r' && self.peek()? == Some(b'\n') {
                            self.bump();
                            size += 1;
                            field.push(b'\n');
                        }
                        first_line_end = Some(self.pos);
                    }
                }
                State::QuoteInQuoted if byte == b'"' => {
                    field.push(b'"');
                    state = State::Quoted;
                }
                State::QuoteInQuoted | State::AfterQuote if byte == delimiter => {
                    fields.push(std::mem::take(&mut field));
                    state = State::FieldStart;
                }
                State::QuoteInQuoted | State::AfterQuote if line_end => {
                    self.finish_line_end(byte)?;
                    fields.push(std::mem::take(&mut field));
                    return Ok(Some(Record::Row(fields.iter().map(|f| self.decode(f)).collect())));
                }
                // Spaces between the closing quote and the delimiter are tolerated.
                State::QuoteInQuoted | State::AfterQuote if byte == b' ' => state = State::AfterQuote,
                State::QuoteInQuoted | State::AfterQuote => break Malformed::TextAfterQuote,
            }
        };
        // The record is not well-formed: skip its first line only, so the rows after it are read.
        let resume = match first_line_end {
            Some(end) => end,
            None => {
                // The problem is on the first line: it ends at the next line end.
                while let Some(byte) = self.peek()? {
                    self.bump();
                    if byte == b'\n' || byte == b'\r' {
                        self.finish_line_end(byte)?;
                        break;
                    }
                }
                self.pos
            }
        };
        let first_line = self.read_span(start, resume)?;
        let text = self.decode(&first_line);
        let text = text.trim_end_matches(['\r', '\n']);
        let cells = text.split(char::from(delimiter)).map(str::to_string).collect();
        self.reader.seek(SeekFrom::Start(resume))?;
        self.pos = resume;
        Ok(Some(Record::Malformed { cells, problem }))
    }

    /// The bytes between two offsets (at most [`MAX_RECORD_BYTES`] of them).
    fn read_span(&mut self, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
        let len = (to.saturating_sub(from) as usize).min(MAX_RECORD_BYTES);
        let mut bytes = vec![0u8; len];
        let file = self.reader.get_mut();
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut bytes)?;
        Ok(bytes)
    }
}

/// A batch of data rows and where the next one starts.
#[derive(Debug)]
pub struct Batch {
    /// Each row with its position among the records read in this batch (blank lines count, so
    /// row numbers match the spreadsheet's).
    pub rows: Vec<(i64, csv::StringRecord)>,
    /// Rows that are not well-formed CSV, with their position, first line's cells and problem.
    pub malformed: Vec<(i64, Vec<String>, Malformed)>,
    /// Records read, blank ones included.
    pub consumed: i64,
    pub next_offset: u64,
    pub at_end: bool,
}

/// Reads up to `max` data rows (well-formed or not) from `offset`. Blocking, bounded by `max`
/// rows.
pub fn read_batch(path: &Path, delimiter: u8, encoding: &str, offset: u64, max: usize) -> std::io::Result<Batch> {
    let mut records = Records::open(path, delimiter, encoding, offset)?;
    let mut rows = Vec::with_capacity(max.min(50_000));
    let mut malformed = Vec::new();
    let mut consumed = 0i64;
    while rows.len() + malformed.len() < max {
        let Some(record) = records.next_record()? else {
            return Ok(Batch { rows, malformed, consumed, next_offset: records.position(), at_end: true });
        };
        consumed += 1;
        match record {
            // A blank line is no row at all.
            Record::Row(cells) if cells.iter().all(|c| c.trim().is_empty()) => {}
            Record::Row(cells) => rows.push((consumed - 1, csv::StringRecord::from(cells))),
            Record::Malformed { cells, problem } => malformed.push((consumed - 1, cells, problem)),
        }
    }
    // Peek: the batch that ends exactly at the end of the file closes the import now.
    let next_offset = records.position();
    let at_end = records.next_record()?.is_none();
    Ok(Batch { rows, malformed, consumed, next_offset, at_end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("relais-import-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.csv");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn detect(bytes: &[u8]) -> Detection {
        let mut d = Detector::default();
        for chunk in bytes.chunks(1) {
            d.feed(chunk);
        }
        d.finish()
    }

    #[test]
    fn the_encoding_is_detected_with_a_confidence_rule() {
        assert_eq!(detect("Prénom;Émile\n".as_bytes()).encoding, "utf-8");
        assert_eq!(detect(b"Pr\xe9nom\n").encoding, "windows-1252");
        // UTF-8 with one damaged byte stays UTF-8, the byte counted.
        let mut bytes = "Prénom;Émile;Zoé;".as_bytes().to_vec();
        bytes.extend(b"\xff\n");
        let damaged = detect(&bytes);
        assert_eq!((damaged.encoding, damaged.invalid_utf8), ("utf-8", 1));
        assert_eq!(detect(b"\xef\xbb\xbfa,b\n").encoding, "utf-8-bom");
        assert!(detect(b"\xff\xfea\0b\0").not_text);
        assert!(detect(b"PK\x03\x04\x14\0\x06\0").not_text);
        assert!(!detect(b"email\na@b.fr\n").not_text);
    }

    #[test]
    fn cells_are_decoded_with_the_chosen_encoding_and_delimiters_sniffed() {
        let path = temp(b"Pr\xe9nom;Nom\n\xc9mile;\"Zola\nfils\"\n");
        let s = sniff(&path, "windows-1252").unwrap();
        assert_eq!(s.delimiter, b';');
        assert_eq!(s.headers, vec!["Prénom", "Nom"]);
        let batch = read_batch(&path, s.delimiter, "windows-1252", s.data_offset, 10).unwrap();
        assert_eq!(batch.rows.len(), 1);
        assert_eq!(&batch.rows[0].1[0], "Émile");
        assert_eq!(&batch.rows[0].1[1], "Zola\nfils");
        assert!(batch.at_end);

        let path = temp("\u{feff}email,name\na@b.fr,x\nc@d.fr,\"y \"\"z\"\"\"\n".as_bytes());
        let s = sniff(&path, "utf-8-bom").unwrap();
        assert_eq!((s.delimiter, s.headers[0].as_str()), (b',', "email"));
        let first = read_batch(&path, s.delimiter, "utf-8", s.data_offset, 1).unwrap();
        assert!(!first.at_end);
        let second = read_batch(&path, s.delimiter, "utf-8", first.next_offset, 1).unwrap();
        assert_eq!((&second.rows[0].1[0], &second.rows[0].1[1]), ("c@d.fr", "y \"z\""));
        assert!(second.at_end);
    }

    #[test]
    fn an_unbalanced_quote_is_a_malformed_row_and_the_next_lines_are_read() {
        let path = temp(b"email,name\na@b.fr,\"Ann\nc@d.fr,Cy\ne@f.fr,\"Eve\"x\ng@h.fr,Gus\n");
        let s = sniff(&path, "utf-8").unwrap();
        let batch = read_batch(&path, s.delimiter, "utf-8", s.data_offset, 100).unwrap();
        let rows: Vec<(i64, String)> = batch.rows.iter().map(|(i, r)| (*i, r[0].to_string())).collect();
        assert_eq!(rows, vec![(1, "c@d.fr".to_string()), (3, "g@h.fr".to_string())]);
        let bad: Vec<(i64, Malformed)> = batch.malformed.iter().map(|(i, _, p)| (*i, *p)).collect();
        assert_eq!(bad, vec![(0, Malformed::TextAfterQuote), (2, Malformed::TextAfterQuote)]);
        assert_eq!(batch.malformed[0].1, vec!["a@b.fr", "\"Ann"]);
        assert!(batch.at_end);

        let path = temp(b"email,name\na@b.fr,\"Ann\nc@d.fr,Cy\n");
        let batch = read_batch(&path, b',', "utf-8", 11, 100).unwrap();
        assert_eq!(batch.malformed.iter().map(|m| m.2).collect::<Vec<_>>(), vec![Malformed::Unterminated]);
        assert_eq!(batch.rows.len(), 1, "the line after the unclosed quote is read");
    }
}
