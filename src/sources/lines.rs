//! Lines of a text input, each at most a fixed number of bytes: a line beyond the bound is
//! skipped to its end and reported, never held in memory (a 1 GB line, or `/dev/zero`, costs
//! the bound, not the line).

use std::io::{BufRead, ErrorKind};

/// A line longer than the bound: skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    /// The line's length in bytes (without its terminator).
    pub bytes: u64,
}

/// A line's 1-based number, and its bytes or why it was skipped.
pub type NumberedLine<'a> = (u64, Result<&'a [u8], TooLong>);

/// Reads LF-terminated lines (a CR before the LF is left to the caller) of at most `max_len`
/// bytes.
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: R,
    max_len: usize,
    line: Vec<u8>,
    number: u64,
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `reader`, each at most `max_len` bytes.
    pub fn new(reader: R, max_len: usize) -> Self {
        Self { reader, max_len, line: Vec::new(), number: 0 }
    }

    /// The next line and its 1-based number: its bytes, or [`TooLong`]; `None` at the end.
    pub fn next_line(&mut self) -> Option<std::io::Result<NumberedLine<'_>>> {
        self.line.clear();
        let mut length: u64 = 0;
        let mut seen_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Some(Err(error)),
            };
            if available.is_empty() {
                if !seen_any {
                    return None;
                }
                break;
            }
            seen_any = true;
            let (chunk, consumed, ended) = match memchr::memchr(b'\n', available) {
                Some(end) => (&available[..end], end + 1, true),
                None => (available, available.len(), false),
            };
            length += chunk.len() as u64;
            if length <= self.max_len as u64 {
                self.line.extend_from_slice(chunk);
            }
            self.reader.consume(consumed);
            if ended {
                break;
            }
        }
        self.number += 1;
        Some(Ok((
            self.number,
            if length <= self.max_len as u64 {
                Ok(&self.line)
            } else {
                Err(TooLong { bytes: length })
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn all(text: &[u8], max: usize) -> Vec<(u64, Result<Vec<u8>, TooLong>)> {
        let mut lines = BoundedLines::new(text, max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line() {
            let (n, line) = line.unwrap();
            out.push((n, line.map(<[u8]>::to_vec)));
        }
        out
    }

    #[test]
    fn lines_within_the_bound_come_out_whole() {
        assert_eq!(
            all(b"a\r\nbc\n\nlast", 4),
            vec![
                (1, Ok(b"a\r".to_vec())),
                (2, Ok(b"bc".to_vec())),
                (3, Ok(Vec::new())),
                (4, Ok(b"last".to_vec()))
            ]
        );
        assert_eq!(all(b"", 4), vec![]);
        assert_eq!(all(b"x\n", 4), vec![(1, Ok(b"x".to_vec()))]);
    }

    #[test]
    fn a_long_line_is_skipped_and_the_next_one_read() {
        assert_eq!(
            all(b"12345\nok\n", 4),
            vec![(1, Err(TooLong { bytes: 5 })), (2, Ok(b"ok".to_vec()))]
        );
    }

    #[test]
    fn an_endless_line_costs_the_bound_not_the_line() {
        // 64 MiB without a newline, read through a small buffer.
        let endless = std::io::BufReader::with_capacity(8192, std::io::repeat(b'x').take(64 << 20));
        let mut lines = BoundedLines::new(endless, 16 * 1024);
        let (number, line) = lines.next_line().unwrap().unwrap();
        assert_eq!((number, line), (1, Err(TooLong { bytes: 64 << 20 })));
        assert!(lines.line.capacity() <= 64 * 1024, "held {} bytes", lines.line.capacity());
        assert!(lines.next_line().is_none());
    }
}
