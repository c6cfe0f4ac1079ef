//! The inputs of a read: each file (or pipe) opened once, decompressed as a stream
//! (gzip/zstd), iterated in order by [`Inputs`]; error mapping, line reading, spooling.
//!
//! Every format reads its files through [`Inputs`] (one "open the next file" loop): the
//! record formats take [`Input::into_bytes`], Parquet and Arrow IPC [`Input::into_file`]
//! (random access: the file itself, or a decompressed copy).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use super::Compression;
use crate::error::{Error, Position, Result};

const BUFFER: usize = 1 << 16;
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The longest line (without its `\n`) a line-based reader accepts: one Arrow `string`
/// value has 32-bit offsets. Longer lines raise `DataFormatError` naming the line.
pub const MAX_LINE: usize = i32::MAX as usize;

/// Marks an I/O error raised by a decompressor (corrupt data), as opposed to the OS;
/// `offset`: decompressed bytes delivered before it.
#[derive(Debug)]
struct Corrupt {
    offset: u64,
    message: String,
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for Corrupt {}

/// A decompressor whose every error is reported as corrupt data, with the decoded offset.
struct Decoded<R> {
    inner: R,
    what: &'static str,
    offset: u64,
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                Corrupt {
                    offset: self.offset,
                    message: format!("bad {} data: {e}", self.what),
                },
            )),
        }
    }
}

/// Decompression on its own thread, up to [`AHEAD_BLOCKS`] blocks of [`BLOCK`] bytes
/// ahead of the parser (a thread of its own, not the pool's: it blocks when ahead).
struct Threaded {
    rx: Receiver<io::Result<Vec<u8>>>,
    /// Disconnected when the thread has returned (and closed the file).
    exited: Receiver<()>,
    block: Vec<u8>,
    at: usize,
    done: bool,
}

const BLOCK: usize = 1 << 20;
const AHEAD_BLOCKS: usize = 4;

impl Threaded {
    fn spawn<R: Read + Send + 'static>(inner: R) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(AHEAD_BLOCKS);
        let (exit, exited) = sync_channel::<()>(0);
        std::thread::Builder::new()
            .name("fast-axolotl-decompress".into())
            .spawn(move || {
                // Locals drop in reverse order: the input (the file) before `_exit`.
                let _exit = exit;
                let mut inner = inner;
                loop {
                    let mut block = vec![0u8; BLOCK];
                    let mut filled = 0;
                    let result = loop {
                        match inner.read(&mut block[filled..]) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                filled += n;
                                if filled == BLOCK {
                                    break Ok(());
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Err(e),
                        }
                    };
                    block.truncate(filled);
                    let last = filled == 0 || result.is_err();
                    if filled > 0 && tx.send(Ok(block)).is_err() {
                        return; // the reader is gone
                    }
                    if let Err(e) = result {
                        let _ = tx.send(Err(e));
                    }
                    if last {
                        let _ = tx.send(Ok(Vec::new())); // end of input
                        return;
                    }
                }
            })?;
        Ok(Threaded {
            rx,
            exited,
            block: Vec::new(),
            at: 0,
            done: false,
        })
    }
}

impl Drop for Threaded {
    fn drop(&mut self) {
        // With the receiver gone, the thread's next send fails and it returns, having
        // finished at most the block it was decompressing (1 MiB): wait for that, so the
        // file is closed when the reader is (Windows cannot delete an open file). Not
        // forever: a pipe's writer may never write again.
        drop(std::mem::replace(&mut self.rx, sync_channel(0).1));
        let _ = self.exited.recv_timeout(std::time::Duration::from_secs(1));
    }
}

impl Read for Threaded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(block)) if block.is_empty() => self.done = true,
                Ok(Ok(block)) => {
                    self.block = block;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("the decompression thread stopped"));
                }
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// `inner` decompressed ahead on a thread if one can be started, else inline.
fn ahead<R: Read + Send + 'static>(inner: R) -> Box<dyn BufRead + Send> {
    // Threaded::spawn consumes `inner` only on success, so build it lazily.
    let cell = std::sync::Arc::new(std::sync::Mutex::new(Some(inner)));
    let taken = cell.clone();
    let source = Lazy(taken);
    match Threaded::spawn(source) {
        Ok(t) => Box::new(BufReader::with_capacity(BUFFER, t)),
        Err(_) => {
            let inner = cell
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .expect("the thread did not start");
            Box::new(BufReader::with_capacity(BUFFER, inner))
        }
    }
}

/// A reader handed to the decompression thread; the mutex is only touched once per read
/// call from that one thread (uncontended).
struct Lazy<R>(std::sync::Arc<std::sync::Mutex<Option<R>>>);

impl<R: Read> Read for Lazy<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(r) => r.read(buf),
            None => Ok(0),
        }
    }
}

/// Map an I/O error met while reading `path`: decompression failures are `DataFormat`.
pub fn read_error(path: &str, e: io::Error) -> Error {
    if let Some(corrupt) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Corrupt>())
    {
        return Error::data(
            path,
            Some(Position::Byte(corrupt.offset)),
            corrupt.message.clone(),
        );
    }
    if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::InvalidData {
        return Error::data(path, None, format!("corrupt or truncated file: {e}"));
    }
    Error::io(path, e)
}

/// Open a regular file; a directory is a `DatasetReadError`, a missing file `NotFound`.
pub fn open_file(path: &str) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::Io {
            path: path.to_string(),
            source: io::Error::other("is a directory, not a file"),
        });
    }
    File::open(path).map_err(|e| Error::io(path, e))
}

/// Bytes looked at to tell a format: enough for leading whitespace before a JSON `{`.
const SNIFF_BYTES: usize = 4096;

const GZIP_MAGIC: &[u8] = b"\x1f\x8b";
const ZSTD_MAGIC: &[u8] = b"\x28\xb5\x2f\xfd";

/// The compression the first bytes of an input announce.
fn sniff_compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(GZIP_MAGIC) {
        Some(Compression::Gzip)
    } else if head.starts_with(ZSTD_MAGIC) {
        Some(Compression::Zstd)
    } else {
        None
    }
}

/// The format the first (decompressed) bytes of `path` announce, for `format="auto"` on
/// inputs the caller could not look at (pipes): Parquet's `PAR1`, Arrow IPC's `ARROW1` (file)
/// or `ff ff ff ff` (stream), then after an optional BOM and whitespace `{` (JSON Lines) or
/// `[` (a JSON array). Anything else, an empty input and Feather v1 (`FEA1`) are refused.
pub fn sniff_format(path: &str, head: &[u8]) -> Result<super::Format> {
    use super::Format;
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    if head.starts_with(b"ARROW1") || head.starts_with(b"\xff\xff\xff\xff") {
        return Ok(Format::Arrow);
    }
    if head.starts_with(b"FEA1") {
        return Err(Error::UnsupportedFormat(format!(
            "{path}: Feather v1 files are not supported (rewrite as Feather v2)"
        )));
    }
    let text = head.strip_prefix(BOM).unwrap_or(head);
    match text.iter().find(|b| !b" \t\r\n".contains(b)) {
        Some(b'{') => Ok(Format::Jsonl),
        Some(b'[') => Ok(Format::Json),
        _ => Err(Error::UnsupportedFormat(format!(
            "{path}: cannot tell the format from the content; pass format= \
             (parquet, arrow, jsonl, json, csv, tsv or text)"
        ))),
    }
}

/// gzip members one after another (as `gzip -d` and Python's `gzip` read them), with the
/// zero bytes that may pad the end of a file (tape blocks, some writers) skipped between
/// members and after the last. Anything else after a member must be another member.
struct GzipMembers<R: BufRead> {
    member: Option<flate2::bufread::GzDecoder<R>>,
}

impl<R: BufRead> GzipMembers<R> {
    fn new(inner: R) -> Self {
        GzipMembers {
            member: Some(flate2::bufread::GzDecoder::new(inner)),
        }
    }
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // The member ended (its trailer checked): skip zero padding, stop at the end.
            let mut inner = self.member.take().expect("checked above").into_inner();
            loop {
                let available = inner.fill_buf()?;
                if available.is_empty() {
                    return Ok(0);
                }
                let zeros = available.iter().take_while(|&&b| b == 0).count();
                let rest = zeros < available.len();
                inner.consume(zeros);
                if rest {
                    break;
                }
            }
            self.member = Some(flate2::bufread::GzDecoder::new(inner));
        }
    }
}

/// The decompressor for `compression` over `raw`, decoding ahead on a thread.
fn decoder(
    path: &str,
    raw: Box<dyn BufRead + Send>,
    compression: Compression,
) -> Result<Box<dyn BufRead + Send>> {
    Ok(match compression {
        Compression::Gzip => ahead(Decoded {
            inner: GzipMembers::new(raw),
            what: "gzip",
            offset: 0,
        }),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| {
                Error::data(path, Some(Position::Byte(0)), format!("bad zstd data: {e}"))
            })?;
            ahead(Decoded {
                inner: decoder,
                what: "zstd",
                offset: 0,
            })
        }
        Compression::Auto => unreachable!("resolved by the caller"),
    })
}

/// Read up to `n` bytes (fewer only at the end) and give back a reader that still yields
/// them first: a pipe is read once, its head kept in memory.
fn peek(
    path: &str,
    mut input: Box<dyn BufRead + Send>,
    n: usize,
) -> Result<(Vec<u8>, Box<dyn BufRead + Send>)> {
    let head = read_head(path, &mut input, n)?;
    let replay = io::Cursor::new(head.clone()).chain(input);
    Ok((head, Box::new(BufReader::with_capacity(BUFFER, replay))))
}

/// One input of a read: its path and its bytes, opened once.
pub struct Input {
    pub path: Arc<str>,
    opened: Opened,
}

enum Opened {
    /// A regular file without compression, not read yet (random access is possible).
    File(File),
    /// Decompressed bytes, or a pipe's or device's (read once, never reopened).
    Stream(Box<dyn BufRead + Send>),
}

impl Input {
    /// Open `path` (a regular file, a named pipe, a device) once. `compression`: None = the
    /// bytes as they are, `Auto` = told by the first bytes. A zero-byte input is empty
    /// content whatever the compression (as Python's `gzip` reads it).
    pub fn open(path: &str, compression: Option<Compression>) -> Result<Self> {
        use std::io::Seek;
        let mut file = open_file(path)?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        let opened = if meta.is_file() {
            let compression = match compression {
                _ if meta.len() == 0 => None,
                Some(Compression::Auto) => {
                    let head = read_head(path, &mut file, ZSTD_MAGIC.len())?;
                    file.seek(io::SeekFrom::Start(0))
                        .map_err(|e| Error::io(path, e))?;
                    sniff_compression(&head)
                }
                other => other,
            };
            match compression {
                None => Opened::File(file),
                Some(c) => Opened::Stream(decoder(
                    path,
                    Box::new(BufReader::with_capacity(BUFFER, file)),
                    c,
                )?),
            }
        } else {
            // A pipe or a device: read once, in order; its head is kept to be read again.
            let raw: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(BUFFER, file));
            match compression {
                None => Opened::Stream(raw),
                Some(c) => {
                    let (head, replay) = peek(path, raw, ZSTD_MAGIC.len())?;
                    let c = match c {
                        _ if head.is_empty() => None,
                        Compression::Auto => sniff_compression(&head),
                        other => Some(other),
                    };
                    match c {
                        None => Opened::Stream(replay),
                        Some(c) => Opened::Stream(decoder(path, replay, c)?),
                    }
                }
            }
        };
        Ok(Input {
            path: Arc::from(path),
            opened,
        })
    }

    /// The first `n` (decompressed) bytes, fewer at the end of the input, without
    /// consuming them (for format sniffing).
    pub fn head(&mut self, n: usize) -> Result<Vec<u8>> {
        match &mut self.opened {
            Opened::File(file) => {
                use std::io::Seek;
                let head = read_head(&self.path, file, n)?;
                file.seek(io::SeekFrom::Start(0))
                    .map_err(|e| Error::io(self.path.to_string(), e))?;
                Ok(head)
            }
            Opened::Stream(stream) => {
                let taken = std::mem::replace(stream, Box::new(io::empty()));
                let (head, replay) = peek(&self.path, taken, n)?;
                *stream = replay;
                Ok(head)
            }
        }
    }

    /// The decompressed bytes, streamed.
    pub fn into_bytes(self) -> Box<dyn BufRead + Send> {
        match self.opened {
            Opened::File(file) => Box::new(BufReader::with_capacity(BUFFER, file)),
            Opened::Stream(stream) => stream,
        }
    }

    /// A file with random access: the file itself, or the decompressed bytes (or a pipe's)
    /// spooled into an unlinked temporary file.
    pub fn into_file(self) -> Result<File> {
        match self.opened {
            Opened::File(file) => Ok(file),
            Opened::Stream(mut stream) => spool_from(&self.path, &mut stream),
        }
    }
}

/// The inputs of one read, in order, each opened when the previous one is done.
pub struct Inputs {
    paths: Vec<String>,
    compression: Option<Compression>,
    next: usize,
    /// An input opened already (to sniff its format), handed out again by `next_input`.
    reopened: Option<Input>,
}

impl Inputs {
    pub fn new(paths: Vec<String>, compression: Option<Compression>) -> Self {
        Inputs {
            paths,
            compression,
            next: 0,
            reopened: None,
        }
    }

    /// The format of the first input, told by its first bytes (`format="auto"`); the input
    /// stays open and is the next one `next_input` returns (a pipe is never opened twice).
    pub fn sniff_format(&mut self) -> Result<super::Format> {
        let mut first = match self.reopened.take() {
            Some(input) => input,
            None => self.next_input()?.ok_or_else(|| {
                Error::invalid("format='auto' needs at least one input to look at")
            })?,
        };
        let head = first.head(SNIFF_BYTES);
        let path = first.path.clone();
        self.reopened = Some(first);
        sniff_format(&path, &head?)
    }

    /// Open the next input (None after the last); a pending Ctrl-C stops here.
    pub fn next_input(&mut self) -> Result<Option<Input>> {
        if let Some(input) = self.reopened.take() {
            return Ok(Some(input));
        }
        let Some(path) = self.paths.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        crate::cancel::check()?;
        Input::open(path, self.compression).map(Some)
    }
}

/// Read up to `n` bytes (fewer only at end of input).
pub fn read_head(path: &str, input: &mut dyn Read, n: usize) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    input
        .take(n as u64)
        .read_to_end(&mut head)
        .map_err(|e| read_error(path, e))?;
    Ok(head)
}

/// Lines of a text file: 1-based numbers, content without the `\n`; a leading UTF-8 BOM
/// is dropped; a last line without `\n` counts, an empty remainder after the last does not.
pub struct Lines {
    pub path: String,
    input: Box<dyn BufRead + Send>,
    line: u64,
    buf: Vec<u8>,
    first: bool,
}

impl Lines {
    pub fn new(input: Input) -> Self {
        Lines {
            path: input.path.to_string(),
            input: input.into_bytes(),
            line: 0,
            buf: Vec::new(),
            first: true,
        }
    }

    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>> {
        self.buf.clear();
        // Read at most one byte past the limit: a longer line is refused without holding it all.
        let n = (&mut self.input)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| read_error(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.line % crate::cancel::EVERY as u64 == 0 {
            crate::cancel::check()?;
        }
        let content = self.buf.len() - usize::from(self.buf.ends_with(b"\n"));
        if content > MAX_LINE {
            return Err(Error::data(
                self.path.clone(),
                Some(Position::Line(self.line)),
                format!("line longer than {MAX_LINE} bytes (the limit of one Arrow string)"),
            ));
        }
        let mut start = 0;
        if self.first {
            self.first = false;
            if self.buf.starts_with(BOM) {
                start = BOM.len();
            }
        }
        let mut end = self.buf.len();
        if self.buf[end - 1] == b'\n' {
            end -= 1;
        } else if start == end {
            return Ok(None); // the input is just a BOM
        }
        if start > end {
            start = end;
        }
        Ok(Some((self.line, &self.buf[start..end])))
    }
}

/// Copy the rest of `input` (the bytes of `path`) into an unlinked temporary file.
fn spool_from(path: &str, input: &mut dyn Read) -> Result<File> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = std::env::temp_dir().join(format!(
        "fast-axolotl-{}-{}-{}.spool",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp_name = tmp.display().to_string();
    let mut out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(tmp_name.clone(), e))?;
    let copied = copy(path, input, &mut out);
    let _ = std::fs::remove_file(&tmp);
    copied?;
    use std::io::Seek;
    out.seek(io::SeekFrom::Start(0))
        .map_err(|e| Error::io(tmp_name, e))?;
    Ok(out)
}

fn copy(path: &str, input: &mut dyn Read, out: &mut File) -> Result<()> {
    use std::io::Write;
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(path, e)),
        };
        out.write_all(&buf[..n]).map_err(|e| Error::io(path, e))?;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::read::Format;

    fn temp(name: &str, data: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("fa-source-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(data)
            .unwrap();
        path.display().to_string()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn bytes_of(path: &str, compression: Option<Compression>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        Input::open(path, compression)?
            .into_bytes()
            .read_to_end(&mut out)
            .map_err(|e| read_error(path, e))?;
        Ok(out)
    }

    #[test]
    fn gzip_members_and_zero_padding_are_read_as_gzip_does() {
        let mut data = gzip(b"one\n");
        data.extend(gzip(b"two\n"));
        data.extend([0u8; 512]); // tape-block padding after the last member
        let path = temp("padded.gz", &data);
        assert_eq!(
            bytes_of(&path, Some(Compression::Gzip)).unwrap(),
            b"one\ntwo\n"
        );
        assert_eq!(
            bytes_of(&path, Some(Compression::Auto)).unwrap(),
            b"one\ntwo\n"
        );
    }

    #[test]
    fn gzip_garbage_after_a_member_is_a_format_error_after_its_bytes() {
        let mut data = gzip(b"good\n");
        data.extend(b"\0\0garbage");
        let path = temp("garbage.gz", &data);
        let mut out = Vec::new();
        let err = Input::open(&path, Some(Compression::Gzip))
            .unwrap()
            .into_bytes()
            .read_to_end(&mut out)
            .map_err(|e| read_error(&path, e))
            .unwrap_err();
        assert!(matches!(err, Error::DataFormat { .. }), "{err}");
        assert_eq!(out, b"good\n");
    }

    #[test]
    fn a_wrong_gzip_header_crc_is_a_format_error() {
        // FHCRC set, with a CRC16 that is not the header's.
        let mut data = gzip(b"x\n");
        data[3] |= 0x02;
        data.splice(10..10, [0xde, 0xad]);
        let path = temp("hcrc.gz", &data);
        let err = bytes_of(&path, Some(Compression::Gzip)).unwrap_err();
        assert!(matches!(err, Error::DataFormat { .. }), "{err}");
    }

    #[test]
    fn auto_compression_follows_the_magic_bytes() {
        let plain = temp("plain.txt", b"a\nb\n");
        assert_eq!(
            bytes_of(&plain, Some(Compression::Auto)).unwrap(),
            b"a\nb\n"
        );
        let zst = temp("z.zst", &zstd::encode_all(&b"z\n"[..], 1).unwrap());
        assert_eq!(bytes_of(&zst, Some(Compression::Auto)).unwrap(), b"z\n");
        let empty = temp("empty.gz", b"");
        assert_eq!(bytes_of(&empty, Some(Compression::Gzip)).unwrap(), b"");
        // Random access stays possible for an uncompressed file read with "auto".
        let mut input = Input::open(&plain, Some(Compression::Auto)).unwrap();
        assert_eq!(input.head(1).unwrap(), b"a");
        let mut file = input.into_file().unwrap();
        let mut all = String::new();
        file.read_to_string(&mut all).unwrap();
        assert_eq!(all, "a\nb\n");
    }

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        let sniff = |head: &[u8]| sniff_format("p", head);
        assert_eq!(sniff(b"PAR1....").unwrap(), Format::Parquet);
        assert_eq!(sniff(b"ARROW1\0\0").unwrap(), Format::Arrow);
        assert_eq!(sniff(b"\xff\xff\xff\xff\x10\0").unwrap(), Format::Arrow);
        assert_eq!(sniff(b"\xef\xbb\xbf \n{\"a\":1}").unwrap(), Format::Jsonl);
        assert_eq!(sniff(b"\t[{\"a\":1}]").unwrap(), Format::Json);
        for refused in [&b"FEA1"[..], b"", b"a,b\n1,2\n", b"   "] {
            assert!(matches!(sniff(refused), Err(Error::UnsupportedFormat(_))));
        }
    }

    /// The next input's bytes, read whole.
    fn next_text(inputs: &mut Inputs) -> String {
        let mut out = String::new();
        inputs
            .next_input()
            .unwrap()
            .unwrap()
            .into_bytes()
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_sniffed_input_is_handed_out_again_not_reopened() {
        let path = temp("sniffed.jsonl", b"{\"a\":1}\n");
        let mut inputs = Inputs::new(vec![path.clone()], Some(Compression::Auto));
        assert_eq!(inputs.sniff_format().unwrap(), Format::Jsonl);
        let out = next_text(&mut inputs);
        assert_eq!(out, "{\"a\":1}\n");
        assert!(inputs.next_input().unwrap().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_read_once_with_its_compression_sniffed() {
        let dir = std::env::temp_dir().join(format!("fa-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            w.write_all(&gzip(b"{\"a\":1}\n{\"a\":2}\n")).unwrap();
        });
        let path = fifo.display().to_string();
        let mut inputs = Inputs::new(vec![path.clone()], Some(Compression::Auto));
        assert_eq!(inputs.sniff_format().unwrap(), Format::Jsonl);
        let out = next_text(&mut inputs);
        writer.join().unwrap();
        assert_eq!(out, "{\"a\":1}\n{\"a\":2}\n");
    }
}
