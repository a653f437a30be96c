//! The streaming, strict CSV reader for chat dumps.
//!
//! Built on `csv-core` (the tokenizer inside the `csv` crate) rather than `csv::Reader`, because
//! the reader must know exactly which input bytes make up each record: that is what lets it name
//! the *physical* line a record starts on (the `csv` crate's `Position::line()` is one line early
//! in CRLF files and after blank lines), reject stray and unterminated quotes (which the `csv`
//! crate accepts silently), and stop a record from growing past a limit before it is buffered.

use std::io::{self, Read};

use jiff::Timestamp;

use crate::error::{ReadError, RecordError, RecordErrorKind, excerpt};
use crate::model::{Message, PayloadType, Position};
use crate::time::{days_from_civil, days_in_month};

/// The default limit on one record's size: 8 MiB, four hundred times the longest chat message
/// the SDK lets a user send.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 8 << 20;

const INPUT_BUFFER_BYTES: usize = 256 << 10;
/// A dump with more columns than this is not a chat dump.
const MAX_FIELDS: usize = 1024;

/// Options for [`ChatReader`].
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// A record larger than this (in bytes) is an error that stops the run.
    pub max_record_bytes: usize,
    /// The input buffer size; small values are only useful in tests.
    pub buffer_bytes: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            buffer_bytes: INPUT_BUFFER_BYTES,
        }
    }
}

/// The documented columns, in documented order.
const COLUMNS: [&str; 10] = [
    "id",
    "participantId",
    "sessionId",
    "meetingId",
    "displayName",
    "pinned",
    "isEdited",
    "payloadType",
    "payload",
    "createdAt",
];
const ID: usize = 0;
const PARTICIPANT_ID: usize = 1;
const SESSION_ID: usize = 2;
const MEETING_ID: usize = 3;
const DISPLAY_NAME: usize = 4;
const PINNED: usize = 5;
const IS_EDITED: usize = 6;
const PAYLOAD_TYPE: usize = 7;
const PAYLOAD: usize = 8;
const CREATED_AT: usize = 9;

/// Replaces `target`'s text with `value`, keeping its allocation when it is large enough.
///
/// When it is not, the string gets the capacity `push_str` would give it (the memory budgets
/// count capacities), but in a new buffer: growing the old one (`realloc`) would copy its text
/// only for it to be overwritten.
fn set(target: &mut String, value: &str) {
    if target.capacity() < value.len() {
        *target = String::with_capacity(value.len().max(2 * target.capacity()).max(8));
    } else {
        target.clear();
    }
    target.push_str(value);
}

/// Header names are matched without regard to case, `_`, `-` and spaces, so `participant_id`
/// and `ParticipantId` find `participantId`.
fn normalise_header(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Reads a chat dump record by record, in input order, in memory bounded by the largest record.
///
/// Each call to [`ChatReader::next_message`] returns the next message or the next record's error.
/// Errors whose [`RecordErrorKind::is_recoverable`] is true leave the reader positioned at the
/// following record, so a caller may skip them.
pub struct ChatReader<R> {
    input: R,
    file: String,
    options: ReaderOptions,
    core: csv_core::Reader,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    /// Bytes of input before `buf[0]`.
    buf_offset: u64,
    /// The physical line of `buf[pos]`.
    line: u64,
    /// The current record's fields, end to end (general path); `ends` holds where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Set when the current record came by the fast path: its fields are then not copied to
    /// `out` but read in place, from its line at this offset of `buf` (fields separated by one
    /// comma; `ends` relative to the line's start).
    in_buffer: Option<usize>,
    /// Raw bytes of the current record already consumed from earlier buffer fills.
    spill: Vec<u8>,
    header: Vec<String>,
    /// For each documented column, its index in the record.
    column_index: [usize; 10],
    /// Indices of the columns beyond the documented ones.
    extra_columns: Vec<usize>,
    records: u64,
    done: bool,
    /// The day number of the last `createdAt` date read.
    days: DayCache,
    /// Where in `buf` the quoted fast path found the next `\r` (`len` when there is none);
    /// `None` when not known (forgotten when the buffer is filled again).
    next_cr: Option<usize>,
}

/// A record's fields, as byte ranges of the reader's output buffer.
struct RawRecord {
    position: Position,
    field_count: usize,
    has_quote: bool,
}

impl<R: Read> ChatReader<R> {
    /// Opens a dump: reads and checks its header line. `file` is the name used in errors.
    pub fn new(
        input: R,
        file: impl Into<String>,
        options: ReaderOptions,
    ) -> Result<Self, ReadError> {
        let mut reader = Self::unopened(input, file.into(), options);
        reader.read_header()?;
        Ok(reader)
    }

    /// A reader of another kind of CSV (the speech transcript, `crate::speech`): no header is
    /// read or checked, a BOM is skipped, and the caller names the columns
    /// ([`ChatReader::set_column_names`]) and reads records with [`ChatReader::next_record`].
    pub(crate) fn headerless(
        input: R,
        file: impl Into<String>,
        options: ReaderOptions,
    ) -> Result<Self, ReadError> {
        let mut reader = Self::unopened(input, file.into(), options);
        reader.fill()?;
        if reader.buf[..reader.len].starts_with(b"\xef\xbb\xbf") {
            reader.pos = 3;
        }
        Ok(reader)
    }

    /// The names errors give the columns, by index.
    pub(crate) fn set_column_names(&mut self, names: Vec<String>) {
        self.header = names;
    }

    /// The next record's position and number of fields (read with [`ChatReader::field`]), its
    /// quoting checked; the next record's error; or `None` at the end of the input.
    pub(crate) fn next_record(&mut self) -> Option<Result<(Position, usize), ReadError>> {
        if self.done {
            return None;
        }
        let result = match self.read_raw_record() {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(raw)) => self
                .check_quotes(&raw)
                .map(|()| (raw.position, raw.field_count))
                .map_err(ReadError::Record),
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            self.done = match error {
                ReadError::Record(record) => !record.kind.is_recoverable(),
                _ => true,
            };
        }
        self.records += 1;
        Some(result)
    }

    fn unopened(input: R, file: String, options: ReaderOptions) -> Self {
        let buffer_bytes = options.buffer_bytes.max(16);
        // Never larger than the record limit: the limit is checked when this buffer fills up.
        let out_bytes = options.max_record_bytes.min(4096);
        Self {
            input,
            file,
            options,
            core: csv_core::ReaderBuilder::new().build(),
            buf: vec![0; buffer_bytes],
            pos: 0,
            len: 0,
            eof: false,
            buf_offset: 0,
            line: 1,
            out: vec![0; out_bytes],
            ends: vec![0; 32],
            in_buffer: None,
            spill: Vec::new(),
            header: Vec::new(),
            column_index: [0; 10],
            extra_columns: Vec::new(),
            records: 0,
            done: false,
            days: DayCache::default(),
            next_cr: None,
        }
    }

    /// The input's display name.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The header names as read.
    #[must_use]
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The columns beyond the documented ten, in header order, as (index in the header from 0,
    /// name); their values go to [`Message::extra`]. An empty value of a column whose name is
    /// blank is left out of `extra` (see [`is_blank_name`]).
    pub fn extra_columns(&self) -> impl Iterator<Item = (usize, &str)> {
        self.extra_columns
            .iter()
            .map(|&index| (index, self.header[index].as_str()))
    }

    /// How many data records have been read so far, good or bad.
    #[must_use]
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// How many input bytes have been consumed so far.
    #[must_use]
    pub fn bytes_read(&self) -> u64 {
        self.buf_offset + self.pos as u64
    }

    fn read_header(&mut self) -> Result<(), ReadError> {
        self.fill()?;
        if self.len == 0 {
            return Err(ReadError::Empty {
                file: self.file.clone(),
            });
        }
        if self.buf[..self.len].starts_with(b"\xef\xbb\xbf") {
            self.pos = 3;
        }
        let Some(raw) = self.read_raw_record()? else {
            return Err(ReadError::Empty {
                file: self.file.clone(),
            });
        };
        let header_line = self.fields_lossy(raw.field_count).join(",");
        if let Err(error) = self.check_quotes(&raw) {
            return Err(ReadError::NotAChatDump {
                file: self.file.clone(),
                problem: error.reason(),
                header: header_line,
            });
        }
        let mut header = Vec::with_capacity(raw.field_count);
        for index in 0..raw.field_count {
            match std::str::from_utf8(self.field(index)) {
                Ok(name) => header.push(name.to_owned()),
                Err(_) => {
                    return Err(ReadError::NotAChatDump {
                        file: self.file.clone(),
                        problem: format!("header field {} is not valid UTF-8", index + 1),
                        header: header_line,
                    });
                }
            }
        }
        let normalised: Vec<String> = header.iter().map(|name| normalise_header(name)).collect();
        for (index, name) in normalised.iter().enumerate() {
            if normalised[..index].contains(name) {
                return Err(ReadError::NotAChatDump {
                    file: self.file.clone(),
                    problem: format!("column `{}` appears twice", header[index]),
                    header: header_line,
                });
            }
        }
        let mut missing = Vec::new();
        for (slot, column) in COLUMNS.iter().enumerate() {
            let wanted = normalise_header(column);
            match normalised.iter().position(|name| *name == wanted) {
                Some(index) => self.column_index[slot] = index,
                None => missing.push(format!("`{column}`")),
            }
        }
        if !missing.is_empty() {
            let problem = if missing.len() == COLUMNS.len() {
                "none of the chat-dump columns (`id`, `participantId`, ... `createdAt`) is present"
                    .to_owned()
            } else {
                format!("missing column(s) {}", missing.join(", "))
            };
            return Err(ReadError::NotAChatDump {
                file: self.file.clone(),
                problem,
                header: header_line,
            });
        }
        self.extra_columns = (0..header.len())
            .filter(|index| !self.column_index.contains(index))
            .collect();
        self.header = header;
        Ok(())
    }

    /// Returns the next message, the next record's error, or `None` at the end of the input.
    pub fn next_message(&mut self) -> Option<Result<Message, ReadError>> {
        let mut message = Message::default();
        self.read_into(&mut message)
            .map(|result| result.map(|()| message))
    }

    /// Like [`ChatReader::next_message`], but fills `message` in place, reusing its strings'
    /// memory: a caller that hands spent messages back reads a dump without allocating.
    pub fn read_into(&mut self, message: &mut Message) -> Option<Result<(), ReadError>> {
        if self.done {
            return None;
        }
        let raw = match self.read_raw_record() {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(error) => {
                match &error {
                    ReadError::Record(record) => {
                        self.records += 1;
                        self.done = !record.kind.is_recoverable();
                    }
                    _ => self.done = true,
                }
                return Some(Err(error));
            }
        };
        self.records += 1;
        Some(self.fill_message(&raw, message).map_err(|error| {
            if !error.kind.is_recoverable() {
                self.done = true;
            }
            ReadError::Record(error)
        }))
    }

    fn fill_message(&self, raw: &RawRecord, message: &mut Message) -> Result<(), RecordError> {
        self.check_quotes(raw)?;
        if raw.field_count != self.header.len() {
            let first = if raw.field_count > 0 {
                self.field(0)
            } else {
                b""
            };
            return Err(self.error(
                raw.position,
                None,
                RecordErrorKind::Ragged {
                    expected: self.header.len(),
                    found: raw.field_count,
                },
                first,
            ));
        }
        // One UTF-8 check for the whole record (the fields lie end to end in `out`); a field
        // of a valid record is then a slice on character boundaries, or invalid on its own.
        // The ten documented fields are then sliced once, up front.
        let fields = simdutf8::basic::from_utf8(&self.record()[..self.ends[raw.field_count - 1]])
            .ok()
            .and_then(|record| self.documented_fields(record));
        // The common case: every field valid. Checked all at once, then filled.
        if let Some(fields) = &fields
            && let Some((created_at, pinned, edited)) = self.valid_values(fields)
        {
            self.fill_extra(raw.position, message)?;
            set(&mut message.id, fields[ID]);
            set(&mut message.session_id, fields[SESSION_ID]);
            set(&mut message.meeting_id, fields[MEETING_ID]);
            set(&mut message.participant_id, fields[PARTICIPANT_ID]);
            set(&mut message.display_name, fields[DISPLAY_NAME]);
            message.pinned = pinned;
            message.edited = edited;
            message.created_at = created_at;
            if message.payload_type.as_str() != fields[PAYLOAD_TYPE] {
                message.payload_type = PayloadType::from_name(fields[PAYLOAD_TYPE]);
            }
            set(&mut message.payload, fields[PAYLOAD]);
            message.position = raw.position;
            return Ok(());
        }
        // Otherwise each field is checked as it is needed (and alone, to name the bad column
        // when the record is not valid UTF-8), so the first error in the order below is the
        // one reported.
        let text = |slot: usize| -> Result<&str, RecordError> {
            if let Some(fields) = &fields {
                return Ok(fields[slot]);
            }
            let index = self.column_index[slot];
            let bytes = self.field(index);
            std::str::from_utf8(bytes).map_err(|_| {
                self.error(
                    raw.position,
                    Some(index),
                    RecordErrorKind::InvalidUtf8,
                    bytes,
                )
            })
        };
        let required = |slot: usize| -> Result<&str, RecordError> {
            let value = text(slot)?;
            if is_blank(value) {
                return Err(self.error(
                    raw.position,
                    Some(self.column_index[slot]),
                    RecordErrorKind::EmptyValue,
                    value.as_bytes(),
                ));
            }
            Ok(value)
        };
        let boolean = |slot: usize| -> Result<bool, RecordError> {
            let value = text(slot)?;
            parse_bool(value).ok_or_else(|| {
                self.error(
                    raw.position,
                    Some(self.column_index[slot]),
                    RecordErrorKind::InvalidBoolean,
                    value.as_bytes(),
                )
            })
        };
        let created_at = required(CREATED_AT)?;
        let created_at = parse_timestamp_with(created_at, &self.days).ok_or_else(|| {
            self.error(
                raw.position,
                Some(self.column_index[CREATED_AT]),
                RecordErrorKind::InvalidTimestamp,
                created_at.as_bytes(),
            )
        })?;
        self.fill_extra(raw.position, message)?;
        set(&mut message.id, required(ID)?);
        set(&mut message.session_id, required(SESSION_ID)?);
        set(&mut message.meeting_id, required(MEETING_ID)?);
        set(&mut message.participant_id, required(PARTICIPANT_ID)?);
        set(&mut message.display_name, text(DISPLAY_NAME)?);
        message.pinned = boolean(PINNED)?;
        message.edited = boolean(IS_EDITED)?;
        message.created_at = created_at;
        let payload_type = required(PAYLOAD_TYPE)?;
        if message.payload_type.as_str() != payload_type {
            message.payload_type = PayloadType::from_name(payload_type);
        }
        set(&mut message.payload, text(PAYLOAD)?);
        message.position = raw.position;
        Ok(())
    }

    /// `createdAt`, `pinned` and `isEdited` parsed, when they parse and no required field is
    /// blank: the values of a record [`ChatReader::fill_message`] fills without an error (but
    /// for the extra columns).
    fn valid_values(&self, fields: &[&str; COLUMNS.len()]) -> Option<(Timestamp, bool, bool)> {
        if [
            ID,
            SESSION_ID,
            MEETING_ID,
            PARTICIPANT_ID,
            PAYLOAD_TYPE,
            CREATED_AT,
        ]
        .iter()
        .any(|&slot| is_blank(fields[slot]))
        {
            return None;
        }
        Some((
            parse_timestamp_with(fields[CREATED_AT], &self.days)?,
            parse_bool(fields[PINNED])?,
            parse_bool(fields[IS_EDITED])?,
        ))
    }

    /// Fills [`Message::extra`] from the columns beyond the documented ones.
    fn fill_extra(&self, position: Position, message: &mut Message) -> Result<(), RecordError> {
        message.extra.clear();
        for &index in &self.extra_columns {
            let bytes = self.field(index);
            let value = std::str::from_utf8(bytes).map_err(|_| {
                self.error(position, Some(index), RecordErrorKind::InvalidUtf8, bytes)
            })?;
            // A column with no name (every line ending with a comma) holds nothing but empty
            // values: those are left out, so only a real value makes it an extra column.
            if value.is_empty() && is_blank(&self.header[index]) {
                continue;
            }
            message
                .extra
                .push((self.header[index].clone(), value.to_owned()));
        }
        Ok(())
    }

    /// The documented columns' values (in the order of [`COLUMNS`]) as slices of `record`, the
    /// current record's fields checked as valid UTF-8; `None` when a field boundary splits a
    /// character (fields lie end to end in `out`: two invalid halves can make a valid whole).
    fn documented_fields<'r>(&self, record: &'r str) -> Option<[&'r str; COLUMNS.len()]> {
        let gap = usize::from(self.in_buffer.is_some());
        let mut fields = [""; COLUMNS.len()];
        for (field, &index) in fields.iter_mut().zip(&self.column_index) {
            let start = match index {
                0 => 0,
                _ => self.ends[index - 1] + gap,
            };
            *field = record.get(start..self.ends[index])?;
        }
        Some(fields)
    }

    fn error(
        &self,
        position: Position,
        column: Option<usize>,
        kind: RecordErrorKind,
        value: &[u8],
    ) -> RecordError {
        RecordError {
            file: self.file.clone(),
            position,
            column: column.map(|index| self.header[index].clone()),
            kind,
            excerpt: excerpt(value),
        }
    }

    /// The current record's bytes, which `bounds` indexes.
    fn record(&self) -> &[u8] {
        match self.in_buffer {
            Some(start) => &self.buf[start..],
            None => &self.out,
        }
    }

    fn bounds(&self, index: usize) -> std::ops::Range<usize> {
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1] + usize::from(self.in_buffer.is_some()),
        };
        start..self.ends[index]
    }

    /// The current record's field `index` (raw bytes, unquoted).
    pub(crate) fn field(&self, index: usize) -> &[u8] {
        &self.record()[self.bounds(index)]
    }

    fn fields_lossy(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|index| String::from_utf8_lossy(self.field(index)).into_owned())
            .collect()
    }

    /// Refills the input buffer when it is used up.
    fn fill(&mut self) -> Result<(), ReadError> {
        if self.pos < self.len || self.eof {
            return Ok(());
        }
        self.buf_offset += self.len as u64;
        self.pos = 0;
        self.len = 0;
        self.next_cr = None;
        loop {
            match self.input.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(read) => {
                    self.len = read;
                    return Ok(());
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ReadError::Io {
                        file: self.file.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Reads the next record's fields into `out`/`ends`; `None` at the end of the input.
    ///
    /// Blank lines before a record are skipped here (not by `csv-core`), so the record's
    /// position is that of its first byte. The raw bytes of a record that contains a `"` are
    /// left in `spill` for the quote check.
    fn read_raw_record(&mut self) -> Result<Option<RawRecord>, ReadError> {
        loop {
            self.fill()?;
            if self.pos == self.len {
                return Ok(None);
            }
            while self.pos < self.len && matches!(self.buf[self.pos], b'\r' | b'\n') {
                if self.buf[self.pos] == b'\n' {
                    self.line += 1;
                }
                self.pos += 1;
            }
            if self.pos < self.len {
                break;
            }
        }
        let position = Position {
            line: self.line,
            byte: self.bytes_read(),
        };
        self.spill.clear();
        if let Some(raw) = self.read_unquoted_record(position) {
            return Ok(Some(raw));
        }
        if let Some(raw) = self.read_quoted_record(position) {
            return Ok(Some(raw));
        }
        self.in_buffer = None;
        let mut segment_start = self.pos;
        let mut has_quote = false;
        let mut out_len = 0;
        let mut ends_len = 0;
        // Fields of a record with more than `MAX_FIELDS`: they are read to the record's end (so
        // reading resumes at the next record) but not kept; only their number is.
        let mut dropped_fields = 0;
        let mut first_field = String::new();
        loop {
            let (result, read, written, ended) = self.core.read_record(
                &self.buf[self.pos..self.len],
                &mut self.out[out_len..],
                &mut self.ends[ends_len..],
            );
            let consumed = &self.buf[self.pos..self.pos + read];
            has_quote |= memchr::memchr(b'"', consumed).is_some();
            self.line += memchr::memchr_iter(b'\n', consumed).count() as u64;
            self.pos += read;
            out_len += written;
            ends_len += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    // The record goes on past this buffer: keep its raw bytes.
                    self.spill
                        .extend_from_slice(&self.buf[segment_start..self.pos]);
                    if self.bytes_read() - position.byte > self.options.max_record_bytes as u64 {
                        return Err(self.too_large(position).into());
                    }
                    self.fill()?;
                    segment_start = self.pos;
                }
                csv_core::ReadRecordResult::OutputFull => {
                    if self.out.len() >= self.options.max_record_bytes {
                        return Err(self.too_large(position).into());
                    }
                    let grown = (self.out.len() * 2).min(self.options.max_record_bytes);
                    self.out.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() < MAX_FIELDS {
                        self.ends.resize(self.ends.len() * 2, 0);
                    } else {
                        // Far too many fields: forget their ends (the bytes stay in `out`, under
                        // the record-size limit) and go on to the end of the record.
                        if dropped_fields == 0 {
                            first_field = excerpt(&self.out[..self.ends[0]]);
                        }
                        dropped_fields += ends_len;
                        ends_len = 0;
                    }
                }
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => {
                    if matches!(result, csv_core::ReadRecordResult::End) && ends_len == 0 {
                        return Ok(None);
                    }
                    if dropped_fields > 0 {
                        // Rejected alone: the reader is at the next record.
                        return Err(ReadError::Record(RecordError {
                            file: self.file.clone(),
                            position,
                            column: None,
                            kind: RecordErrorKind::Ragged {
                                expected: self.header.len().max(COLUMNS.len()),
                                found: dropped_fields + ends_len,
                            },
                            excerpt: first_field,
                        }));
                    }
                    if has_quote {
                        self.spill
                            .extend_from_slice(&self.buf[segment_start..self.pos]);
                    }
                    return Ok(Some(RawRecord {
                        position,
                        field_count: ends_len,
                        has_quote,
                    }));
                }
            }
        }
    }

    /// The fast path for the common record: one line, wholly in the buffer, with no `"` and no
    /// lone `\r`. Such a record is its line split at every `,` (exactly what `csv-core` makes of
    /// it), found with SIMD searches instead of `csv-core`'s byte-at-a-time state machine, and
    /// read where it lies in the input buffer (`in_buffer`) instead of being copied out.
    /// `None` (nothing consumed) sends the record to the general path. `csv-core` is left in its
    /// start-of-record state: it returns a record only after its terminator, and a `\n` it may
    /// still expect after a `\r` is skipped like a blank line by either path.
    fn read_unquoted_record(&mut self, position: Position) -> Option<RawRecord> {
        let rest = &self.buf[self.pos..self.len];
        let special = memchr::memchr3(b'"', b'\r', b'\n', rest)?;
        let terminator = match (rest[special], rest.get(special + 1)) {
            (b'\n', _) => 1,
            (b'\r', Some(b'\n')) => 2,
            _ => return None,
        };
        let record = &rest[..special];
        if record.len() > self.options.max_record_bytes {
            return None;
        }
        let field_count = split_at_commas(record, &mut self.ends)?;
        self.in_buffer = Some(self.pos);
        self.pos += special + terminator;
        self.line += 1;
        Some(RawRecord {
            position,
            field_count,
            has_quote: false,
        })
    }

    /// The fast path for a record with quoted fields (a name with a comma, a text with quotes,
    /// a file message's JSON): wholly in the buffer, every field either unquoted (no `"`, no
    /// `\r`) or quoted by RFC 4180 (`""` for a quote; line ends kept), ended by `\n` or `\r\n`.
    /// The fields are unquoted into `out` with `memchr` jumps from one quote to the next, where
    /// `csv-core` steps byte by byte; the quoting is valid by construction, so `check_quotes` has
    /// nothing to look at. Anything else (a stray or unterminated quote, text after a closing
    /// quote, a lone `\r`, a record longer than the buffer or the size limit, too many fields)
    /// returns `None` with nothing consumed, and the general path reads the record, or names
    /// its error, as before.
    fn read_quoted_record(&mut self, position: Position) -> Option<RawRecord> {
        let rest = &self.buf[self.pos..self.len];
        let max = self.options.max_record_bytes;
        let out = &mut self.out;
        let ends = &mut self.ends;
        // Appends `bytes` to `out` at `out_len`, growing it as the general path does (at most
        // to the size limit).
        let mut append = |out_len: &mut usize, bytes: &[u8]| -> Option<()> {
            let end = *out_len + bytes.len();
            if end > max {
                return None;
            }
            if end > out.len() {
                out.resize(end.max(out.len() * 2).min(max), 0);
            }
            out[*out_len..end].copy_from_slice(bytes);
            *out_len = end;
            Some(())
        };
        // The first `\r` at or after the field being read (`rest.len()` when there is none),
        // looked for once for many fields (in a file with LF line ends, once per buffer fill)
        // rather than in each field; `None` when not known.
        let base = self.pos;
        let mut next_cr = self.next_cr.and_then(|cr| cr.checked_sub(base));
        let mut at = 0;
        let mut out_len = 0;
        let mut field_count = 0;
        let mut line_ends = 0;
        let terminator = loop {
            // After the field: `,` or the end of the record, and how many bytes end it.
            let after;
            if rest.get(at) == Some(&b'"') {
                at += 1;
                loop {
                    let quote = at + memchr::memchr(b'"', &rest[at..])?;
                    let piece = &rest[at..quote];
                    line_ends += memchr::memchr_iter(b'\n', piece).count();
                    append(&mut out_len, piece)?;
                    at = quote + 1;
                    if rest.get(at) != Some(&b'"') {
                        break;
                    }
                    append(&mut out_len, b"\"")?;
                    at += 1;
                }
                after = at;
            } else {
                let end = at + memchr::memchr3(b',', b'"', b'\n', &rest[at..])?;
                let cr = match next_cr {
                    Some(cr) if cr >= at => cr,
                    _ => {
                        let cr =
                            memchr::memchr(b'\r', &rest[at..]).map_or(rest.len(), |cr| at + cr);
                        next_cr = Some(cr);
                        cr
                    }
                };
                let mut value = &rest[at..end];
                if cr < end {
                    // Only the `\r` of a `\r\n` ending the record.
                    if rest[end] != b'\n' || cr + 1 != end {
                        return None;
                    }
                    value = &value[..cr - at];
                }
                append(&mut out_len, value)?;
                after = at + value.len();
            }
            *ends.get_mut(field_count)? = out_len;
            field_count += 1;
            match (rest.get(after), rest.get(after + 1)) {
                (Some(b','), _) => at = after + 1,
                (Some(b'\n'), _) => break after + 1,
                (Some(b'\r'), Some(b'\n')) => break after + 2,
                _ => return None,
            }
            if at > max {
                return None;
            }
        };
        if terminator > max {
            return None;
        }
        self.next_cr = next_cr.map(|cr| cr + base);
        self.in_buffer = None;
        self.pos += terminator;
        self.line += line_ends as u64 + 1;
        Some(RawRecord {
            position,
            field_count,
            has_quote: false,
        })
    }

    fn too_large(&self, position: Position) -> RecordError {
        RecordError {
            file: self.file.clone(),
            position,
            column: None,
            kind: RecordErrorKind::TooLarge {
                limit: self.options.max_record_bytes,
            },
            excerpt: excerpt(self.record_start(position)),
        }
    }

    /// The first raw bytes of the record being read: from `spill` when it started in an earlier
    /// buffer fill, from the buffer otherwise.
    fn record_start(&self, position: Position) -> &[u8] {
        let raw = if self.spill.is_empty() {
            let start = usize::try_from(position.byte.saturating_sub(self.buf_offset))
                .map_or(self.pos, |start| start.min(self.pos));
            &self.buf[start..self.pos]
        } else {
            &self.spill[..]
        };
        &raw[..raw.len().min(200)]
    }

    /// Checks the quoting of the record's raw bytes (only records with a `"` need it).
    ///
    /// The raw bytes are in `spill` when the record had a quote: `read_raw_record` keeps them.
    fn check_quotes(&self, raw: &RawRecord) -> Result<(), RecordError> {
        if !raw.has_quote {
            return Ok(());
        }
        match validate_quoting(&self.spill) {
            Ok(()) => Ok(()),
            Err((field, kind)) => {
                let column = (field < self.header.len()).then_some(field);
                let value = if field < raw.field_count {
                    self.field(field)
                } else {
                    b""
                };
                let mut error = self.error(raw.position, None, kind, value);
                error.column = column.map(|index| self.header[index].clone());
                Err(error)
            }
        }
    }
}

/// Writes where each `,`-separated field of `record` ends (the offset of each `,`, then the
/// record's length) to `ends`, and returns the number of fields; `None` when `ends` is too short.
///
/// One pass over the record eight bytes at a time, each `,` of a word found from its bit mask,
/// rather than a `memchr` call per field: the fields are short (a few dozen bytes), and each call
/// has a fixed cost larger than the search.
fn split_at_commas(record: &[u8], ends: &mut [usize]) -> Option<usize> {
    const LOW_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const COMMAS: u64 = 0x2c2c_2c2c_2c2c_2c2c;
    let mut count = 0;
    let mut push = |end: usize| -> Option<()> {
        *ends.get_mut(count)? = end;
        count += 1;
        Some(())
    };
    // The top bit of each byte of `word` that is a `,`, exactly: `word ^ COMMAS` makes the
    // commas zero, and the addition never carries out of a byte.
    let commas_of = |word: u64| {
        let word = word ^ COMMAS;
        !(((word & LOW_BITS) + LOW_BITS) | word | LOW_BITS)
    };
    // Thirty-two bytes a step: the four words' exact masks (which LLVM computes two words at
    // a time in SSE2 registers) are tested with one branch.
    let mut blocks = record.chunks_exact(32);
    let mut offset = 0;
    for block in &mut blocks {
        let mut masks = [0; 4];
        for (mask, word) in masks.iter_mut().zip(block.chunks_exact(8)) {
            *mask = commas_of(u64::from_le_bytes(word.try_into().ok()?));
        }
        if masks.iter().fold(0, |all, mask| all | mask) != 0 {
            for (at, mut commas) in masks.into_iter().enumerate() {
                while commas != 0 {
                    push(offset + at * 8 + commas.trailing_zeros() as usize / 8)?;
                    commas &= commas - 1;
                }
            }
        }
        offset += 32;
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for word in &mut words {
        let mut commas = commas_of(u64::from_le_bytes(word.try_into().ok()?));
        while commas != 0 {
            push(offset + commas.trailing_zeros() as usize / 8)?;
            commas &= commas - 1;
        }
        offset += 8;
    }
    for (at, &byte) in words.remainder().iter().enumerate() {
        if byte == b',' {
            push(offset + at)?;
        }
    }
    push(record.len())?;
    Some(count)
}

/// Checks RFC 4180 quoting of one record's raw bytes: a `"` may only open a field, close it
/// (followed by `,` or the end of the record), or be doubled inside a quoted field.
/// Returns the index of the offending field.
///
/// The first line end outside quotes ends the record. The scan jumps from one significant byte
/// to the next with `memchr`.
fn validate_quoting(raw: &[u8]) -> Result<(), (usize, RecordErrorKind)> {
    let mut field = 0;
    let mut at = 0;
    loop {
        if raw.get(at) == Some(&b'"') {
            // A quoted field: find its closing quote, stepping over doubled ones.
            at += 1;
            loop {
                let Some(quote) = memchr::memchr(b'"', &raw[at..]) else {
                    return Err((field, RecordErrorKind::UnterminatedQuote));
                };
                at += quote + 1;
                if raw.get(at) != Some(&b'"') {
                    break;
                }
                at += 1;
            }
            match raw.get(at) {
                None | Some(b'\r' | b'\n') => return Ok(()),
                Some(b',') => at += 1,
                Some(_) => return Err((field, RecordErrorKind::TextAfterQuote)),
            }
        } else {
            // An unquoted field runs to the next `,` or line end; a `"` in it is stray.
            let next = memchr::memchr3(b',', b'"', b'\n', &raw[at..]);
            let end = next.map_or(raw.len(), |offset| at + offset);
            if memchr::memchr(b'\r', &raw[at..end]).is_some() {
                return Ok(());
            }
            match raw.get(end) {
                Some(b',') => at = end + 1,
                Some(b'"') => return Err((field, RecordErrorKind::StrayQuote)),
                _ => return Ok(()),
            }
        }
        field += 1;
    }
}

/// Parses the boolean spellings seen in dumps and databases: true/false, t/f, 1/0, yes/no, in any
/// case; empty is false.
#[must_use]
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "false" => return Some(false),
        "true" => return Some(true),
        _ => {}
    }
    let value = value.trim();
    if value.is_empty() {
        return Some(false);
    }
    let truthy = ["true", "t", "1", "yes", "y"];
    let falsy = ["false", "f", "0", "no", "n"];
    if truthy.iter().any(|word| value.eq_ignore_ascii_case(word)) {
        Some(true)
    } else if falsy.iter().any(|word| value.eq_ignore_ascii_case(word)) {
        Some(false)
    } else {
        None
    }
}

/// Whether a column name is blank (empty or white space): such a column's empty values are left
/// out of [`Message::extra`].
#[must_use]
pub fn is_blank_name(name: &str) -> bool {
    is_blank(name)
}

/// Whether `value` is empty or all white space. A value starting with a visible ASCII character
/// (nearly every one) is answered without `trim`, which decodes characters from both ends.
fn is_blank(value: &str) -> bool {
    match value.as_bytes().first() {
        None => true,
        Some(byte) if byte.is_ascii_graphic() => false,
        Some(_) => value.trim().is_empty(),
    }
}

/// Epoch values at or above this are milliseconds (as seconds it would be the year 5138).
const EPOCH_MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Parses `createdAt`: RFC 3339 / ISO 8601 with `T` or a space, 0-9 fractional digits and `Z`,
/// `+00`, `+00:00` or any offset; or epoch seconds or milliseconds (all digits, optionally with
/// a fraction; 12 digits or more are milliseconds). A local time without an offset is rejected:
/// it would be a guess.
#[must_use]
pub fn parse_timestamp(value: &str) -> Option<Timestamp> {
    parse_timestamp_with(value, &DayCache::default())
}

/// [`parse_timestamp`], remembering the last canonical date's day number in `days`.
fn parse_timestamp_with(value: &str, days: &DayCache) -> Option<Timestamp> {
    if let Some(timestamp) = parse_canonical_utc_with(value.as_bytes(), days) {
        return Some(timestamp);
    }
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_epoch(value);
    }
    // jiff accepts bracketed annotations (`[Europe/Paris]`), which no dump writes.
    if value.contains('[') {
        return None;
    }
    parse_with_offset(value)
}

/// The last valid `YYYY-MM-DD` the canonical parser read, and its day number (days since
/// 1970-01-01): the records of a dump come in time order, most of them on the day of the one
/// before, whose date then need not be read again. It starts with no date (`-` can never be
/// where a date has a digit).
#[derive(Debug)]
struct DayCache(std::cell::Cell<([u8; 10], i64)>);

impl Default for DayCache {
    fn default() -> Self {
        Self(std::cell::Cell::new(([b'-'; 10], 0)))
    }
}

/// Parses an RFC 3339 / ISO 8601 timestamp with an offset within ±23:59:59, as RFC 3339
/// requires (jiff's `Timestamp` parser accepts up to ±25:59:59): one parse into jiff's
/// pieces, whose offset is then checked.
fn parse_with_offset(value: &str) -> Option<Timestamp> {
    use jiff::fmt::temporal::{DateTimeParser, PiecesOffset};
    const DAY_SECONDS: i32 = 24 * 60 * 60;
    static PARSER: DateTimeParser = DateTimeParser::new();
    let pieces = PARSER.parse_pieces(value).ok()?;
    let offset = match pieces.offset()? {
        PiecesOffset::Zulu => jiff::tz::Offset::UTC,
        PiecesOffset::Numeric(numeric) => numeric.offset(),
        // A kind of offset newer versions of jiff may add: refused rather than guessed.
        _ => return None,
    };
    if offset.seconds().abs() >= DAY_SECONDS {
        return None;
    }
    offset
        .to_timestamp(pieces.date().to_datetime(pieces.time()?))
        .ok()
}

/// The shape nearly every dump uses, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, parsed without the
/// general parser. `None` means "not this shape" (or an invalid date), never "invalid": the
/// caller then tries the general parser, so this only has to be right when it answers.
///
/// The digits are read and range-checked here and the date turned into a day number by
/// arithmetic (`days_from_civil`), so the only call into jiff is `Timestamp::new`, which checks
/// jiff's range. A leap second (`:60`) is left to the general parser.
#[cfg(test)]
fn parse_canonical_utc(value: &[u8]) -> Option<Timestamp> {
    parse_canonical_utc_with(value, &DayCache::default())
}

/// [`parse_canonical_utc`], taking the day number from `days` when the date is the one it holds
/// (and putting it there otherwise).
fn parse_canonical_utc_with(value: &[u8], days: &DayCache) -> Option<Timestamp> {
    /// The value of two ASCII digits.
    fn two(digits: &[u8]) -> Option<u32> {
        let tens = u32::from(digits[0].wrapping_sub(b'0'));
        let ones = u32::from(digits[1].wrapping_sub(b'0'));
        (tens < 10 && ones < 10).then_some(tens * 10 + ones)
    }
    /// What a fraction of `n` digits is multiplied by to give nanoseconds.
    const SCALE: [u32; 10] = [
        0,
        100_000_000,
        10_000_000,
        1_000_000,
        100_000,
        10_000,
        1_000,
        100,
        10,
        1,
    ];
    let (&b'Z', rest) = value.split_last()? else {
        return None;
    };
    let (Some(head), fraction) = (rest.get(..19), rest.get(19..).unwrap_or_default()) else {
        return None;
    };
    if head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    let mut nanosecond = 0;
    if let Some((&b'.', digits)) = fraction.split_first() {
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        for &digit in digits {
            let digit = digit.wrapping_sub(b'0');
            if digit >= 10 {
                return None;
            }
            nanosecond = nanosecond * 10 + u32::from(digit);
        }
        nanosecond *= SCALE[digits.len()];
    } else if !fraction.is_empty() {
        return None;
    }
    let hour = two(&head[11..13])?;
    let minute = two(&head[14..16])?;
    let second = two(&head[17..19])?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date: [u8; 10] = head[..10].try_into().ok()?;
    let (known, known_day) = days.0.get();
    let day_number = if date == known {
        known_day
    } else {
        let year = two(&date[0..2])? * 100 + two(&date[2..4])?;
        let month = two(&date[5..7])?;
        let day = two(&date[8..10])?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let day_number = days_from_civil(year, month, day);
        days.0.set((date, day_number));
        day_number
    };
    let seconds = day_number * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Timestamp::new(seconds, i32::try_from(nanosecond).ok()?).ok()
}

fn parse_epoch(value: &str) -> Option<Timestamp> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() || whole.len() > 15 || fraction.contains('.') || fraction.len() > 9 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let mut fraction_nanos: i64 = 0;
    for (index, digit) in fraction.bytes().enumerate() {
        fraction_nanos += i64::from(digit - b'0') * 10_i64.pow(8 - index as u32);
    }
    let nanos = if whole >= EPOCH_MILLIS_THRESHOLD {
        whole.checked_mul(1_000_000)? + fraction_nanos / 1000
    } else {
        whole.checked_mul(1_000_000_000)? + fraction_nanos
    };
    Timestamp::from_nanosecond(i128::from(nanos)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records with quoted fields take the quoted fast path (their raw bytes are not kept for
    /// the quoting check) and come out as `csv-core` makes them: quotes at the start, in the
    /// middle and at the end of a field, doubled quotes, commas and line ends inside quotes,
    /// empty quoted fields, CRLF; the line numbers count the line ends inside quotes. A stray
    /// quote, text after a closing quote and a lone `\r` go to the general path, which names
    /// the error or reads the record as before.
    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    #[test]
    fn quoted_records_take_the_fast_path() {
        let doc = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
                   \"\"\"a\",\"b\"\"\",\"c\"\"d\"\n\
                   \"\",x,\"two\nlines, and\r\nmore\"\r\n\
                   \"{\"\"k\"\":1}\",,\"end\"\n\
                   a,b\"c,d\n\
                   \"a\"b,c,d\n\
                   a,\"b\",c\rd\n\
                   \"last\",y,z\n";
        let mut reader =
            ChatReader::new(doc.as_bytes(), "q.csv", ReaderOptions::default()).unwrap();
        let read = |reader: &mut ChatReader<&[u8]>| {
            let raw = reader.read_raw_record().unwrap().unwrap();
            let fields: Vec<&str> = (0..raw.field_count)
                .map(|index| std::str::from_utf8(reader.field(index)).unwrap())
                .collect();
            let fields: Vec<String> = fields.into_iter().map(str::to_owned).collect();
            (raw, fields, reader.spill.is_empty())
        };
        for (line, fields) in [
            (2, vec!["\"a", "b\"", "c\"d"]),
            (3, vec!["", "x", "two\nlines, and\r\nmore"]),
            (6, vec!["{\"k\":1}", "", "end"]),
        ] {
            let (raw, read_fields, fast) = read(&mut reader);
            assert_eq!((raw.position.line, read_fields), (line, strings(&fields)));
            assert!(fast && !raw.has_quote, "line {line} took the general path");
        }
        // The general path: the raw bytes kept for `check_quotes`, which names the error.
        for (line, kind) in [
            (7, RecordErrorKind::StrayQuote),
            (8, RecordErrorKind::TextAfterQuote),
        ] {
            let (raw, _, fast) = read(&mut reader);
            assert_eq!(raw.position.line, line);
            assert!(!fast && raw.has_quote);
            assert_eq!(reader.check_quotes(&raw).unwrap_err().kind, kind);
        }
        // A lone `\r` ends a record for `csv-core`: the general path reads it so.
        let (raw, fields, _) = read(&mut reader);
        assert_eq!((raw.position.line, fields), (9, strings(&["a", "b", "c"])));
        let (_, fields, _) = read(&mut reader);
        assert_eq!(fields, strings(&["d"]));
        let (raw, fields, fast) = read(&mut reader);
        assert_eq!(
            (raw.position.line, fields),
            (10, strings(&["last", "y", "z"]))
        );
        assert!(fast);
    }

    #[test]
    fn blank_is_empty_or_white_space_only() {
        for blank in ["", " ", "\t", " \r\n ", "\u{3000}", "\u{a0}\u{2003}"] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for value in ["a", " a", "\ta", "\u{3000}x", "\u{a0}x", "é", "\u{1}", "-"] {
            assert!(!is_blank(value), "{value:?}");
        }
    }

    /// The one-parse path agrees with jiff's `Timestamp` parser on every string whose offset is
    /// within a day, and refuses the others.
    #[test]
    fn offsets_parse_as_jiff_does_within_a_day() {
        let mut checked = 0;
        for date in [
            "2024-05-14",
            "2024-02-29",
            "1970-01-01",
            "0001-01-01",
            "9999-12-31",
        ] {
            for separator in ["T", " ", "t"] {
                for time in [
                    "09:00:04",
                    "23:59:60",
                    "00:00:00.5",
                    "12:30:15.123456789",
                    "09:00",
                ] {
                    for offset in [
                        "Z",
                        "z",
                        "+00",
                        "-00",
                        "+00:00",
                        "-00:00",
                        "+0530",
                        "+05:30",
                        "-09:30",
                        "+23:59",
                        "-23:59",
                        "+23:59:59",
                        "+24:00",
                        "-24:00",
                        "+25:59",
                        "+26:00",
                        "+2400",
                        "+24",
                        "",
                        "+5",
                        "+05:3",
                    ] {
                        let value = format!("{date}{separator}{time}{offset}");
                        let jiff = value.parse::<Timestamp>().ok();
                        let within = !["+24", "-24", "+25", "+26"]
                            .iter()
                            .any(|far| offset.starts_with(far));
                        let expected = jiff.filter(|_| within);
                        assert_eq!(parse_with_offset(&value), expected, "{value}");
                        checked += usize::from(expected.is_some());
                    }
                }
            }
        }
        assert!(checked > 500, "only {checked} accepted");
    }

    #[test]
    fn timestamps() {
        let ms = |value: &str| parse_timestamp(value).map(Timestamp::as_millisecond);
        let expected = Some(1_715_677_204_112);
        assert_eq!(ms("2024-05-14T09:00:04.112Z"), expected);
        assert_eq!(ms("2024-05-14 09:00:04.112Z"), expected);
        assert_eq!(ms("2024-05-14 09:00:04.112000+00"), expected);
        assert_eq!(ms("2024-05-14T11:00:04.112+02:00"), expected);
        assert_eq!(ms("1715677204112"), expected);
        assert_eq!(ms("1715677204.112"), expected);
        assert_eq!(ms("1715677204"), Some(1_715_677_204_000));
        // The widest offsets RFC 3339 allows.
        assert_eq!(ms("2024-05-14T09:00:04.112+00:00"), expected);
        assert_eq!(ms("2024-05-15T08:59:04.112+23:59"), expected);
        assert_eq!(ms("2024-05-13T09:01:04.112-23:59"), expected);
        assert_eq!(
            parse_timestamp("2024-05-14T09:00:04.123456789Z").map(Timestamp::subsec_nanosecond),
            Some(123_456_789)
        );
        for bad in [
            "",
            "2024-05-14T09:00:04",
            "2024-05-14",
            "yesterday",
            "2024-13-14T09:00:04Z",
            "2024-05-14T09:00:04Z[UTC]",
            "1.2.3",
            "2024-05-14T09:00:04+24:00",
            "2024-05-14T09:00:04-24:00",
            "2024-05-14T09:00:04.112+25:59",
            "2024-05-14 09:00:04-2400",
            "2024-05-14T09:00:04+24",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    /// The fast path agrees with the general parser on every string it accepts, and accepts the
    /// canonical shape: dates across leap years, every fraction length, the extremes of each field.
    #[test]
    fn canonical_fast_path_agrees_with_jiff() {
        let mut cases = Vec::new();
        for year in [0, 1, 1969, 1970, 2000, 2023, 2024, 2100, 9999] {
            for (month, day) in [
                (1, 1),
                (2, 28),
                (2, 29),
                (2, 30),
                (4, 31),
                (12, 31),
                (13, 1),
                (0, 1),
                (1, 0),
            ] {
                for (hour, minute, second) in [
                    (0, 0, 0),
                    (23, 59, 59),
                    (24, 0, 0),
                    (12, 60, 0),
                    (12, 0, 60),
                ] {
                    for fraction in [
                        "",
                        ".",
                        ".1",
                        ".12",
                        ".123",
                        ".1234",
                        ".123456",
                        ".123456789",
                        ".1234567890",
                        ".12a",
                    ] {
                        cases.push(format!(
                            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z"
                        ));
                    }
                }
            }
        }
        cases.extend(
            [
                "2024-05-14T09:00:04.112z",
                "2024-05-14t09:00:04.112Z",
                "2024-05-14 09:00:04.112Z",
                "2024-05-14T09:00:04+00:00",
                "+2024-05-14T09:00:04Z",
                "2024-5-14T09:00:04.112Z",
                "2024-05-14T09:00:04.112ZZ",
                " 2024-05-14T09:00:04.112Z",
                "2024-05-14T09:00Z",
                "Z",
                "",
            ]
            .map(String::from),
        );
        let mut accepted = 0;
        for case in &cases {
            let fast = parse_canonical_utc(case.as_bytes());
            let general = case.parse::<Timestamp>().ok();
            if let Some(fast) = fast {
                accepted += 1;
                assert_eq!(Some(fast), general, "{case}");
            } else if case.len() >= 20 && case.as_bytes()[10] == b'T' && case.ends_with('Z') {
                // Every well-formed canonical string the fast path declines must be one jiff
                // rejects too (an impossible date), or a leap second.
                assert!(general.is_none() || case.contains(":60"), "{case} declined");
            }
        }
        assert!(accepted > 300, "only {accepted} accepted");
    }

    /// The fast path gives jiff's answer for instants spread over jiff's whole range, printed
    /// with every number of fractional digits, and for the same strings with one byte changed
    /// (declining only what jiff declines, or the shapes it was never meant to take).
    #[test]
    fn canonical_fast_path_agrees_with_jiff_across_the_range() {
        let mut seed = 0x1234_5678_9abc_def1_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // From 0000-01-01 (earlier years have a sign) to the end of jiff's range.
        let (min, max) = (-62_167_219_200, Timestamp::MAX.as_second());
        let span = u64::try_from(max - min).unwrap();
        let (mut accepted, mut mutated) = (0, 0);
        // One cache for the whole test, as a reader has: most strings are of a new date, the
        // second of each pair is of the day before it, and changed dates must not be taken for it.
        let days = DayCache::default();
        let mut previous = 0_i64;
        for round in 0..400_000 {
            let second = if round % 2 == 1 {
                // The same day as the previous string, at another time.
                let day_start = previous.div_euclid(86_400) * 86_400;
                day_start + i64::try_from(next() % 86_400).unwrap()
            } else {
                min + i64::try_from(next() % span).unwrap()
            };
            previous = second;
            let nanos = i32::try_from(next() % 1_000_000_000).unwrap();
            let Ok(instant) = Timestamp::new(second, nanos) else {
                continue;
            };
            let digits = usize::try_from(next() % 10).unwrap();
            let text = match digits {
                0 => format!("{instant:.0}"),
                _ => format!("{instant:.digits$}"),
            };
            let text = text.replace('z', "Z");
            if text.starts_with('-') || text.starts_with('+') {
                continue;
            }
            let expected = text.parse::<Timestamp>().ok();
            assert!(expected.is_some(), "{text}");
            assert_eq!(parse_canonical_utc(text.as_bytes()), expected, "{text}");
            assert_eq!(
                parse_canonical_utc_with(text.as_bytes(), &days),
                expected,
                "{text} (round {round})"
            );
            accepted += 1;
            // One byte changed: a digit, a separator, a letter.
            let mut bytes = text.clone().into_bytes();
            let at = usize::try_from(next()).unwrap() % bytes.len();
            bytes[at] = b"0123456789:-.TZ a"[usize::try_from(next() % 17).unwrap()];
            let Ok(changed) = String::from_utf8(bytes) else {
                continue;
            };
            let general = changed.parse::<Timestamp>().ok();
            let cached = parse_canonical_utc_with(changed.as_bytes(), &days);
            assert_eq!(cached, parse_canonical_utc(changed.as_bytes()), "{changed}");
            if let Some(fast) = cached {
                assert_eq!(Some(fast), general, "{changed} (round {round})");
            } else {
                let canonical = changed.len() >= 20
                    && changed.as_bytes()[10] == b'T'
                    && changed.ends_with('Z')
                    && !changed.contains(":60");
                if canonical
                    && changed.as_bytes()[..19].iter().enumerate().all(|(i, b)| {
                        if [4, 7].contains(&i) {
                            *b == b'-'
                        } else if [13, 16].contains(&i) {
                            *b == b':'
                        } else {
                            i == 10 || b.is_ascii_digit()
                        }
                    })
                {
                    assert!(general.is_none(), "{changed} declined (round {round})");
                }
            }
            mutated += 1;
        }
        assert!(
            accepted > 390_000 && mutated > 300_000,
            "{accepted} {mutated}"
        );
    }

    /// Fields lie end to end in the reader's buffer, so two invalid halves can make a valid
    /// character across a field boundary: the field must still be reported as invalid UTF-8.
    #[test]
    fn utf8_split_across_fields_is_an_error_in_the_first_field() {
        let mut csv = b"id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n"
            .to_vec();
        csv.extend_from_slice(
            b"m1,p1,s1,mt1,Ann\xC3,\xA9,false,TEXT_MESSAGE,hi,2024-05-14T09:00:04Z\n",
        );
        let mut reader = ChatReader::new(&csv[..], "split.csv", ReaderOptions::default()).unwrap();
        let Some(Err(ReadError::Record(error))) = reader.next_message() else {
            panic!("expected a record error");
        };
        assert!(
            matches!(error.kind, RecordErrorKind::InvalidUtf8),
            "{error}"
        );
        assert_eq!(error.column.as_deref(), Some("displayName"));
        assert_eq!(error.position.line, 2);
    }

    /// Records read by the fast path and by `csv-core` agree with the `csv` crate, field for
    /// field, and start on the right physical line: random records mixing plain, quoted and
    /// multi-line fields, LF and CRLF, blank lines, and buffers small enough that records span
    /// refills.
    #[test]
    fn fast_and_general_paths_agree_with_the_csv_crate() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % bound as u64).unwrap()
        };
        let pieces = [
            "a", "bc", ",", "\"", "\r\n", "\n", "\r", "é", "🍕", " ", "x,y",
        ];
        for round in 0..200 {
            let mut doc = String::from(
                "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n",
            );
            let mut line = 2;
            let mut expected = Vec::new();
            for _ in 0..next(30) {
                for _ in 0..next(3) {
                    let blank = if next(2) == 0 { "\n" } else { "\r\n" };
                    doc.push_str(blank);
                    line += 1;
                }
                // Half the records plain (the fast path's), half with any piece.
                let choices = if next(2) == 0 { 2 } else { pieces.len() };
                let fields: Vec<String> = (0..10)
                    .map(|_| (0..next(4)).map(|_| pieces[next(choices)]).collect())
                    .collect();
                expected.push((line, fields.clone()));
                let rendered: Vec<String> = fields
                    .iter()
                    .map(|field| {
                        if field.contains(['"', ',', '\r', '\n'])
                            || (next(5) == 0 && !field.is_empty())
                        {
                            format!("\"{}\"", field.replace('"', "\"\""))
                        } else {
                            field.clone()
                        }
                    })
                    .collect();
                let record = rendered.join(",");
                line += record.matches('\n').count() as u64 + 1;
                doc.push_str(&record);
                doc.push_str(if next(2) == 0 { "\n" } else { "\r\n" });
            }
            let options = ReaderOptions {
                buffer_bytes: 16 + next(400),
                ..ReaderOptions::default()
            };
            let mut reader = ChatReader::new(doc.as_bytes(), "random.csv", options).unwrap();
            let mut oracle = csv::ReaderBuilder::new().from_reader(doc.as_bytes());
            let oracle: Vec<csv::StringRecord> = oracle.records().map(Result::unwrap).collect();
            let mut read = Vec::new();
            while let Some(raw) = reader.read_raw_record().unwrap() {
                let fields: Vec<String> = (0..raw.field_count)
                    .map(|index| String::from_utf8(reader.field(index).to_vec()).unwrap())
                    .collect();
                read.push((raw.position.line, fields));
            }
            assert_eq!(read, expected, "round {round}: {doc:?}");
            let oracle: Vec<Vec<String>> = oracle
                .iter()
                .map(|record| record.iter().map(String::from).collect())
                .collect();
            let fields: Vec<Vec<String>> = read.into_iter().map(|(_, fields)| fields).collect();
            assert_eq!(fields, oracle, "round {round}: {doc:?}");
        }
    }

    /// Messages agree with the `csv` crate's fields whatever the order of the columns, with an
    /// extra column, quoted fields, line ends in quotes and non-ASCII text, through every path
    /// (unquoted and quoted fast paths, `csv-core` when a record spans buffer fills): the ten
    /// documented fields, sliced once per record, come from the right columns.
    #[test]
    fn messages_agree_with_the_csv_crate_in_any_column_order() {
        let mut seed = 0x51f1_5e3d_0c7a_b2e9_u64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % bound as u64).unwrap()
        };
        let pieces = ["a", "bc", "é", "🍕", "x,y", "\"q\"", " ", "\n", "\r\n", "-"];
        let mut names: Vec<&str> = COLUMNS.to_vec();
        names.push("extraColumn");
        let mut checked = 0;
        for round in 0..300 {
            let mut order: Vec<usize> = (0..names.len()).collect();
            for at in (1..order.len()).rev() {
                order.swap(at, next(at + 1));
            }
            let header: Vec<&str> = order.iter().map(|&column| names[column]).collect();
            let mut doc = header.join(",");
            doc.push('\n');
            for _ in 0..next(20) {
                let values: Vec<String> = order
                    .iter()
                    .map(|&column| match column {
                        PINNED | IS_EDITED => ["true", "false", "1", "0", ""][next(5)].to_owned(),
                        PAYLOAD_TYPE => ["TEXT_MESSAGE", "IMAGE_MESSAGE", "FILE_MESSAGE", "POLL"]
                            [next(4)]
                        .to_owned(),
                        CREATED_AT => {
                            format!("2024-05-{:02}T09:00:04.{}Z", 1 + next(28), next(999))
                        }
                        _ => {
                            let mut value: String = (0..next(4)
                                + usize::from(column != DISPLAY_NAME))
                                .map(|_| pieces[next(pieces.len())])
                                .collect();
                            if matches!(column, ID | SESSION_ID | MEETING_ID | PARTICIPANT_ID) {
                                value.insert(0, 'k');
                            }
                            value
                        }
                    })
                    .collect();
                let rendered: Vec<String> = values
                    .iter()
                    .map(|value| {
                        if value.contains(['"', ',', '\r', '\n']) || next(6) == 0 {
                            format!("\"{}\"", value.replace('"', "\"\""))
                        } else {
                            value.clone()
                        }
                    })
                    .collect();
                doc.push_str(&rendered.join(","));
                doc.push_str(if next(2) == 0 { "\n" } else { "\r\n" });
            }
            let options = ReaderOptions {
                buffer_bytes: if next(2) == 0 {
                    64 + next(600)
                } else {
                    1 << 16
                },
                ..ReaderOptions::default()
            };
            let mut reader = ChatReader::new(doc.as_bytes(), "order.csv", options).unwrap();
            let mut oracle = csv::ReaderBuilder::new().from_reader(doc.as_bytes());
            let at = |name: &str| header.iter().position(|known| *known == name).unwrap();
            let mut message = Message::default();
            for record in oracle.records() {
                let record = record.unwrap();
                let read = reader.read_into(&mut message).unwrap();
                assert!(read.is_ok(), "round {round}: {read:?} {doc:?}");
                let field = |name: &str| record.get(at(name)).unwrap();
                assert_eq!(
                    [
                        message.id.as_str(),
                        &message.participant_id,
                        &message.session_id,
                        &message.meeting_id,
                        &message.display_name,
                        message.payload_type.as_str(),
                        &message.payload,
                    ],
                    [
                        "id",
                        "participantId",
                        "sessionId",
                        "meetingId",
                        "displayName",
                        "payloadType",
                        "payload"
                    ]
                    .map(field),
                    "round {round}: {doc:?}"
                );
                assert_eq!(message.pinned, parse_bool(field("pinned")).unwrap());
                assert_eq!(message.edited, parse_bool(field("isEdited")).unwrap());
                assert_eq!(
                    Some(message.created_at),
                    parse_timestamp(field("createdAt"))
                );
                assert_eq!(
                    message.extra,
                    vec![("extraColumn".to_owned(), field("extraColumn").to_owned())]
                );
                checked += 1;
            }
            assert!(reader.read_into(&mut message).is_none());
        }
        assert!(checked > 2000, "only {checked}");
    }

    /// Of several bad values in a record, the one reported is the first in the reader's order
    /// (`createdAt`, then `id`, `sessionId`, `meetingId`, `participantId`, `pinned`,
    /// `isEdited`, `payloadType`), whatever the order of the columns, and good records are
    /// read whole: the all-at-once check of valid records and the field-by-field path agree.
    #[test]
    fn the_first_bad_value_in_the_reader_order_is_reported() {
        let mut seed = 0x7a3d_91c4_e5b2_0f68_u64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % bound as u64).unwrap()
        };
        let checks = [
            (CREATED_AT, "createdAt"),
            (ID, "id"),
            (SESSION_ID, "sessionId"),
            (MEETING_ID, "meetingId"),
            (PARTICIPANT_ID, "participantId"),
            (PINNED, "pinned"),
            (IS_EDITED, "isEdited"),
            (PAYLOAD_TYPE, "payloadType"),
        ];
        let (mut good, mut bad) = (0, 0);
        for _ in 0..300 {
            let mut order: Vec<usize> = (0..COLUMNS.len()).collect();
            for at in (1..order.len()).rev() {
                order.swap(at, next(at + 1));
            }
            let mut doc = order
                .iter()
                .map(|&column| COLUMNS[column])
                .collect::<Vec<_>>()
                .join(",");
            doc.push('\n');
            let mut expected = Vec::new();
            for _ in 0..20 {
                let broken = |next: &mut dyn FnMut(usize) -> usize| next(12) == 0;
                let mut values = [""; COLUMNS.len()];
                let mut first = None;
                for (slot, name) in checks {
                    let bad = broken(&mut next);
                    values[slot] = match (slot, bad) {
                        (CREATED_AT, true) => ["", " ", "yesterday"][next(3)],
                        (CREATED_AT, false) => "2024-05-14T09:00:04.112Z",
                        (PINNED | IS_EDITED, true) => "maybe",
                        (PINNED | IS_EDITED, false) => "true",
                        (_, true) => ["", " "][next(2)],
                        (_, false) => "value",
                    };
                    if bad && first.is_none() {
                        let kind = match (slot, values[slot].trim()) {
                            (PINNED | IS_EDITED, _) => RecordErrorKind::InvalidBoolean,
                            (CREATED_AT, "yesterday") => RecordErrorKind::InvalidTimestamp,
                            _ => RecordErrorKind::EmptyValue,
                        };
                        first = Some((kind, name));
                    }
                }
                values[DISPLAY_NAME] = "Ann";
                values[PAYLOAD] = "hi";
                let line: Vec<&str> = order.iter().map(|&column| values[column]).collect();
                doc.push_str(&line.join(","));
                doc.push('\n');
                expected.push(first);
            }
            let mut reader =
                ChatReader::new(doc.as_bytes(), "bad.csv", ReaderOptions::default()).unwrap();
            let mut message = Message::default();
            for first in expected {
                match (reader.read_into(&mut message).unwrap(), first) {
                    (Ok(()), None) => {
                        assert_eq!(
                            (message.id.as_str(), message.payload.as_str()),
                            ("value", "hi")
                        );
                        good += 1;
                    }
                    (Err(ReadError::Record(error)), Some((kind, column))) => {
                        assert_eq!((error.kind, error.column.as_deref()), (kind, Some(column)));
                        bad += 1;
                    }
                    (read, first) => panic!("{read:?}, expected {first:?}: {doc}"),
                }
            }
        }
        assert!(good > 1000 && bad > 1000, "{good} {bad}");
    }

    /// `set` leaves the text and the capacity `clear` and `push_str` would (capacities count
    /// in the memory budgets, so they must not change).
    #[test]
    fn set_gives_the_capacity_push_str_gives() {
        for capacity in [0, 1, 7, 8, 9, 16, 40, 100] {
            for length in [0, 1, 5, 8, 9, 15, 17, 39, 41, 80, 200, 201] {
                let value = "x".repeat(length);
                let mut ours = String::with_capacity(capacity);
                let mut theirs = String::with_capacity(capacity);
                ours.push_str("old");
                theirs.push_str("old");
                set(&mut ours, &value);
                theirs.clear();
                theirs.push_str(&value);
                assert_eq!(
                    (ours.as_str(), ours.capacity()),
                    (value.as_str(), theirs.capacity()),
                    "{capacity} {length}"
                );
            }
        }
    }

    /// The word-at-a-time split finds the commas `memchr` finds, in records of every length and
    /// alignment, with every byte value beside the commas, and refuses when `ends` is too short.
    #[test]
    fn split_at_commas_agrees_with_memchr() {
        let mut seed = 0x0dd_ba11_cafe_f00d_u64;
        let mut next = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % bound as u64).unwrap()
        };
        let bytes = [
            b',', b',', b'a', 0, 0x2d, 0x2b, 0xac, 0x6c, 0xff, 0x80, 0x7f, b'\n',
        ];
        let mut ends = [0; 24];
        for _ in 0..100_000 {
            // Up to 100 bytes, so that every path of the 32-byte steps is taken; half of
            // them mostly of other bytes, so that long records fit in `ends` too.
            let dense = next(2) == 0;
            let record: Vec<u8> = (0..next(100))
                .map(|_| {
                    if dense || next(3) == 0 {
                        bytes[next(bytes.len())]
                    } else {
                        b"xy\xe9 "[next(4)]
                    }
                })
                .collect();
            let expected: Vec<usize> = memchr::memchr_iter(b',', &record)
                .chain([record.len()])
                .collect();
            let room = 4 + next(20);
            let found = split_at_commas(&record, &mut ends[..room]);
            if expected.len() <= room {
                assert_eq!(
                    found.map(|count| &ends[..count]),
                    Some(&expected[..]),
                    "{record:?}"
                );
            } else {
                assert_eq!(found, None, "{record:?}");
            }
        }
    }

    #[test]
    fn booleans() {
        for value in ["true", "TRUE", "t", "1", "Yes", " true "] {
            assert_eq!(parse_bool(value), Some(true), "{value}");
        }
        for value in ["false", "F", "0", "no", ""] {
            assert_eq!(parse_bool(value), Some(false), "{value}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    /// The byte-at-a-time state machine the fast scan replaced, kept as its oracle: checks RFC 4180 quoting of one record's raw bytes: a `"` may only open a field, close it
    /// (followed by `,` or the end of the record), or be doubled inside a quoted field.
    /// Returns the index of the offending field.
    fn validate_quoting_bytewise(raw: &[u8]) -> Result<(), (usize, RecordErrorKind)> {
        #[derive(Clone, Copy)]
        enum State {
            FieldStart,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let mut state = State::FieldStart;
        let mut field = 0;
        for &byte in raw {
            state = match (state, byte) {
                (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b'\r' | b'\n') => {
                    return Ok(());
                }
                (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b',') => {
                    field += 1;
                    State::FieldStart
                }
                (State::FieldStart | State::QuoteInQuoted, b'"') => State::Quoted,
                (State::FieldStart | State::Unquoted, _) if byte != b'"' => State::Unquoted,
                (State::Unquoted, _) => return Err((field, RecordErrorKind::StrayQuote)),
                (State::Quoted, b'"') => State::QuoteInQuoted,
                (State::Quoted, _) => State::Quoted,
                (State::QuoteInQuoted, _) => return Err((field, RecordErrorKind::TextAfterQuote)),
                (State::FieldStart, _) => unreachable!("handled above"),
            };
        }
        match state {
            State::Quoted => Err((field, RecordErrorKind::UnterminatedQuote)),
            _ => Ok(()),
        }
    }

    /// The jumping scan and the state machine agree on random records.
    #[test]
    fn quoting_scan_agrees_with_the_state_machine() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let pieces: [&[u8]; 7] = [b"a", b",", b"\"", b"\"\"", b"\r", b"\n", b"bc"];
        for _ in 0..200_000 {
            let mut raw = Vec::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bits = seed;
            for _ in 0..(bits % 12) {
                bits /= 7;
                raw.extend_from_slice(pieces[usize::try_from(bits % 7).unwrap()]);
            }
            assert_eq!(
                validate_quoting(&raw),
                validate_quoting_bytewise(&raw),
                "{:?}",
                String::from_utf8_lossy(&raw)
            );
        }
    }

    #[test]
    fn quoting() {
        assert!(validate_quoting(b"a,\"b,\"\"c\"\"\",d\n").is_ok());
        assert_eq!(
            validate_quoting(b"a,b\"c,d"),
            Err((1, RecordErrorKind::StrayQuote))
        );
        assert_eq!(
            validate_quoting(b"a,\"b\"c,d"),
            Err((1, RecordErrorKind::TextAfterQuote))
        );
        assert_eq!(
            validate_quoting(b"a,b,\"c\nd"),
            Err((2, RecordErrorKind::UnterminatedQuote))
        );
    }
}
