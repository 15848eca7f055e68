//! TCP stream reassembly, good enough for SIP over TCP: per-flow in-order delivery,
//! retransmitted and overlapping bytes dropped, out-of-order segments held within a bound,
//! SIP messages cut from the stream by Content-Length. A stream that is not (or no longer) at a
//! message start, after a lost segment, a capture that starts mid-message or a framing error,
//! resynchronises on the next SIP start line, as tshark does; the bytes skipped are counted.
//! Work is linear in the bytes: a partial message is parsed again only when the bytes it waits
//! for have come. Memory is bounded per flow, in all flows together, and in the number of
//! flows; everything given up is counted.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::error::ParseError;
use crate::sip::{
    MAX_BODY_LEN, MAX_HEADER_SECTION_LEN, Method, StartLine, parse_sip_stream, parse_start_line,
};

/// Out-of-order bytes held per flow before the gap is given up.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;
/// Flows tracked at once; the least recently active is evicted beyond this.
pub const MAX_FLOWS: usize = 16 * 1024;
/// A flow idle this long (capture time) is forgotten.
pub const FLOW_IDLE_MICROS: u64 = 300 * 1_000_000;
/// Largest stream buffer: one maximal SIP message.
const MAX_STREAM_BUFFER: usize = MAX_HEADER_SECTION_LEN + MAX_BODY_LEN;
/// Bytes held by all flows together (stream buffers and out-of-order segments); a flow that
/// would go beyond it gives up what it holds and resynchronises.
pub const MAX_TOTAL_BYTES: usize = 64 * 1024 * 1024;
/// A hole older than this (capture time) will not be filled by a retransmission any more.
pub const HOLE_TIMEOUT_MICROS: u64 = 3 * 1_000_000;
/// Longest line looked at while searching for a start line.
const MAX_START_LINE: usize = 8 * 1024;

/// One direction of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
}

/// What reassembly did, for reports and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Segments with payload.
    pub segments: u64,
    /// Segments entirely already delivered (retransmissions).
    pub retransmitted: u64,
    /// Segments that arrived before earlier bytes and were held.
    pub out_of_order: u64,
    /// Gaps given up (bytes never arrived within the bounds); the partial message is lost.
    pub gaps: u64,
    /// Flows evicted for the flow limit or idleness.
    pub evicted_flows: u64,
    /// Flows whose first bytes were not SIP (searched for a start line from then on).
    pub non_sip_flows: u64,
    /// SIP framing errors (the stream then resynchronises on the next start line).
    pub framing_errors: u64,
    /// Of which: a message without Content-Length.
    pub missing_content_length: u64,
    /// Of which: a Content-Length that is not a number, or several that disagree.
    pub invalid_content_length: u64,
    /// Of which: a body or message larger than the caps.
    pub body_too_large: u64,
    /// Bytes skipped while searching for the next start line.
    pub resync_skipped_bytes: u64,
    /// Flows that gave up their bytes to keep all flows within [`MAX_TOTAL_BYTES`].
    pub memory_given_up: u64,
    /// Times a message (whole or partial) was handed to the SIP parser: stays close to the
    /// number of messages however the bytes are cut into segments.
    pub parse_attempts: u64,
    /// Reason of the last framing error (for reports).
    pub last_framing_error: Option<ParseError>,
}

impl TcpStats {
    /// Framing errors by the parser's reason label (for reports; zero counts included).
    pub fn framing_errors_by_reason(&self) -> [(&'static str, u64); 4] {
        let named = self.missing_content_length + self.invalid_content_length + self.body_too_large;
        [
            (ParseError::MissingContentLength.reason(), self.missing_content_length),
            (ParseError::InvalidContentLength.reason(), self.invalid_content_length),
            (ParseError::BodyTooLarge.reason(), self.body_too_large),
            ("tcp_framing_other", self.framing_errors.saturating_sub(named)),
        ]
    }

    fn framing_error(&mut self, error: ParseError) {
        self.framing_errors += 1;
        match error {
            ParseError::MissingContentLength => self.missing_content_length += 1,
            ParseError::InvalidContentLength => self.invalid_content_length += 1,
            ParseError::BodyTooLarge => self.body_too_large += 1,
            _ => {}
        }
        self.last_framing_error = Some(error);
    }
}

#[derive(Debug, Default)]
struct Flow {
    /// Next expected sequence number, once known.
    next_seq: Option<u32>,
    /// Contiguous bytes not yet framed into messages.
    buffer: Vec<u8>,
    /// Segments after a hole, by sequence number.
    pending: BTreeMap<u32, Vec<u8>>,
    pending_bytes: usize,
    last_seen: u64,
    /// Searching for the next start line (the stream is not at a message start).
    hunting: bool,
    /// Whether a SIP message was framed yet (to tell a non-SIP flow from a lost framing).
    seen_sip: bool,
    /// Whether the flow ever had to search for a start line.
    hunted: bool,
    /// Whether `buffer[0]` begins a line (false after bytes were dropped mid-line).
    at_line_start: bool,
    /// Whether the start line of the message at the front was judged already.
    line_checked: bool,
    /// Capture time since which a hole has waited to be filled.
    hole_since: u64,
    /// Buffer length the partial message at the front waits for before it is parsed again.
    wait_until: usize,
    /// Everything before this buffer offset has been searched (for a start line, or for the end
    /// of a header section).
    scanned: usize,
}

impl Flow {
    fn held(&self) -> usize {
        self.buffer.len() + self.pending_bytes
    }

    /// The bytes that come next are somewhere inside a message: search for a start line, and
    /// do not take the first bytes for one unless they are unmistakable.
    fn resume_mid_stream(&mut self) {
        self.hunting = true;
        self.hunted = true;
        self.at_line_start = false;
        self.line_checked = false;
        self.wait_until = 0;
        self.scanned = 0;
    }
}

/// Reassembles TCP flows and cuts SIP messages out of them.
#[derive(Debug, Default)]
pub struct TcpReassembler {
    flows: HashMap<FlowKey, Flow>,
    /// Bytes held by all flows.
    held: usize,
    /// What happened so far.
    pub stats: TcpStats,
}

/// A TCP segment as the decoder saw it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Capture time.
    pub ts_micros: u64,
    /// Sequence number of the first payload byte (or of the SYN).
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN or RST: the direction ends after this payload.
    pub closes: bool,
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl TcpReassembler {
    /// Adds a segment; every SIP message it completes is passed to `on_message`.
    pub fn add(&mut self, key: FlowKey, segment: Segment<'_>, on_message: &mut impl FnMut(&[u8])) {
        if !self.flows.contains_key(&key) {
            if segment.payload.is_empty() && !segment.syn {
                return;
            }
            self.make_room(segment.ts_micros);
        }
        let flow = self
            .flows
            .entry(key)
            .or_insert_with(|| Flow { at_line_start: true, ..Flow::default() });
        flow.last_seen = segment.ts_micros;
        if segment.syn {
            flow.next_seq = Some(segment.seq.wrapping_add(1));
        }
        let before = flow.held();
        if !segment.payload.is_empty() {
            // What this flow held counts again below, as it is after the segment.
            self.held -= before;
            self.stats.segments += 1;
            let seq = if segment.syn { segment.seq.wrapping_add(1) } else { segment.seq };
            if self.held + before + segment.payload.len() > MAX_TOTAL_BYTES {
                // All flows together hold too much: this one starts over, and if even that does
                // not make room, its segment is not kept either.
                self.stats.memory_given_up += 1;
                flow.buffer = Vec::new();
                flow.pending.clear();
                flow.pending_bytes = 0;
                flow.next_seq = None;
                flow.resume_mid_stream();
                if self.held + segment.payload.len() > MAX_TOTAL_BYTES {
                    if segment.closes {
                        self.flows.remove(&key);
                    }
                    return;
                }
            }
            accept(flow, &mut self.stats, seq, segment.payload, segment.ts_micros);
            frame_messages(flow, &mut self.stats, on_message);
        }
        if segment.payload.is_empty() {
            self.held -= before;
        }
        self.held += flow.held();
        if segment.closes
            && let Some(mut gone) = self.flows.remove(&key)
        {
            self.held -= gone.held();
            // The connection ends: what waits behind a hole comes out, as at the end of input.
            flush(&mut gone, &mut self.stats, on_message);
        }
    }

    /// Flows currently tracked.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// The end of the input: every hole is given up and what follows it is framed, so no
    /// complete message stays held. `on_message` gets the flow and its last capture time too.
    pub fn finish(&mut self, on_message: &mut impl FnMut(FlowKey, u64, &[u8])) {
        for (key, flow) in &mut self.flows {
            let ts = flow.last_seen;
            flush(flow, &mut self.stats, &mut |message| on_message(*key, ts, message));
        }
        self.held = self.flows.values().map(Flow::held).sum();
    }

    /// Bytes held by all flows together.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// When the table is full: forgets idle flows and, if that is not enough, the least
    /// recently active eighth. Each pass makes room for many new flows, so the cost per new
    /// flow stays constant however many flows come.
    fn make_room(&mut self, now: u64) {
        if self.flows.len() < MAX_FLOWS {
            return;
        }
        let before = self.flows.len();
        self.flows.retain(|_, flow| now.saturating_sub(flow.last_seen) < FLOW_IDLE_MICROS);
        if self.flows.len() > MAX_FLOWS - MAX_FLOWS / 8 {
            let mut by_age: Vec<(u64, FlowKey)> =
                self.flows.iter().map(|(key, flow)| (flow.last_seen, *key)).collect();
            let cut = self.flows.len() - (MAX_FLOWS - MAX_FLOWS / 8);
            by_age.select_nth_unstable_by_key(cut, |(last_seen, _)| *last_seen);
            for (_, key) in &by_age[..cut] {
                self.flows.remove(key);
            }
        }
        self.held = self.flows.values().map(Flow::held).sum();
        self.stats.evicted_flows += (before - self.flows.len()) as u64;
    }
}

/// Places the bytes of one segment into the flow's stream.
fn accept(flow: &mut Flow, stats: &mut TcpStats, seq: u32, payload: &[u8], ts: u64) {
    let next = *flow.next_seq.get_or_insert(seq);
    let ahead = seq.wrapping_sub(next) as i32;
    if ahead > 0 {
        stats.out_of_order += 1;
        if flow.pending.is_empty() {
            flow.hole_since = ts;
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = flow.pending.entry(seq) {
            flow.pending_bytes += payload.len();
            slot.insert(payload.to_vec());
        }
        // A hole the capture never fills (the segment was lost before the probe): give it up
        // once too much waits behind it, or it is older than a retransmission would be.
        if flow.pending_bytes > MAX_PENDING_BYTES
            || ts.saturating_sub(flow.hole_since) > HOLE_TIMEOUT_MICROS
        {
            skip_hole(flow, stats, ts);
        }
        return;
    }
    let already = ahead.unsigned_abs() as usize;
    if already >= payload.len() {
        stats.retransmitted += 1;
        return;
    }
    append(flow, &payload[already..]);
    deliver_pending(flow, ts);
}

/// Gives up every hole of a flow that ends, framing what followed each.
fn flush(flow: &mut Flow, stats: &mut TcpStats, on_message: &mut impl FnMut(&[u8])) {
    while !flow.pending.is_empty() {
        let ts = flow.last_seen;
        skip_hole(flow, stats, ts);
        frame_messages(flow, stats, on_message);
    }
}

/// Gives up the hole before the first held segment: the partial message before it is lost,
/// the stream resumes there and searches for the next start line.
fn skip_hole(flow: &mut Flow, stats: &mut TcpStats, ts: u64) {
    let Some(&first) = flow.pending.keys().next() else { return };
    stats.gaps += 1;
    flow.buffer.clear();
    flow.resume_mid_stream();
    flow.next_seq = Some(first);
    deliver_pending(flow, ts);
}

/// Appends the held segments that are now in order.
fn deliver_pending(flow: &mut Flow, ts: u64) {
    while let Some((&pending_seq, _)) = flow.pending.iter().next() {
        let next = flow.next_seq.unwrap_or(pending_seq);
        let ahead = pending_seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            break;
        }
        let Some(bytes) = flow.pending.remove(&pending_seq) else { break };
        flow.pending_bytes -= bytes.len();
        let already = ahead.unsigned_abs() as usize;
        if already < bytes.len() {
            append(flow, &bytes[already..]);
        }
    }
    if !flow.pending.is_empty() {
        flow.hole_since = ts;
    }
}

fn append(flow: &mut Flow, bytes: &[u8]) {
    flow.buffer.extend_from_slice(bytes);
    flow.next_seq = flow.next_seq.map(|n| n.wrapping_add(bytes.len() as u32));
}

/// Cuts complete SIP messages from the front of the flow's buffer.
fn frame_messages(flow: &mut Flow, stats: &mut TcpStats, on_message: &mut impl FnMut(&[u8])) {
    let mut consumed = 0;
    loop {
        if flow.hunting {
            match find_start_line(&flow.buffer, consumed.max(flow.scanned), flow.at_line_start) {
                Search::Found(start) => {
                    stats.resync_skipped_bytes += (start - consumed) as u64;
                    consumed = start;
                    flow.hunting = false;
                    flow.wait_until = 0;
                    flow.scanned = start;
                    flow.at_line_start = true;
                    // `find_start_line` checked it.
                    flow.line_checked = true;
                }
                Search::NotYet { keep_from, at_line_start } => {
                    stats.resync_skipped_bytes += (keep_from - consumed) as u64;
                    consumed = keep_from;
                    flow.scanned = keep_from;
                    flow.at_line_start = at_line_start;
                    break;
                }
            }
        }
        // CRLF keep-alives between messages (RFC 5626) are no message.
        let keep_alive = flow.buffer[consumed..].iter().take_while(|b| matches!(b, b'\r' | b'\n'));
        consumed += keep_alive.count();
        let rest = &flow.buffer[consumed..];
        if rest.is_empty() || flow.buffer.len() < flow.wait_until {
            break;
        }
        if !flow.line_checked {
            // Judge the start line as soon as it is there, so that a stream that is not SIP
            // (or lost its place) is found before a whole header section is waited for.
            let Some(end) = memchr::memchr(b'\n', rest) else {
                if rest.len() > MAX_START_LINE {
                    lost_place(flow, stats, consumed, ParseError::MalformedStartLine);
                    flow.scanned = flow.buffer.len();
                    flow.at_line_start = false;
                    consumed = flow.buffer.len();
                }
                break;
            };
            let line = &rest[..end];
            if let Err(error) = parse_start_line(line.strip_suffix(b"\r").unwrap_or(line)) {
                lost_place(flow, stats, consumed, error);
                continue;
            }
            flow.line_checked = true;
        }
        if !header_may_be_complete(&flow.buffer, consumed, flow.scanned) {
            // Still inside the header section: parsed again once its end has come.
            flow.scanned = flow.buffer.len();
            if rest.len() > MAX_HEADER_SECTION_LEN {
                stats.framing_error(ParseError::HeaderSectionTooLong);
                flow.resume_mid_stream();
                consumed = flow.buffer.len();
                flow.scanned = consumed;
            }
            break;
        }
        stats.parse_attempts += 1;
        match parse_sip_stream(rest) {
            Ok((after, _)) => {
                let len = rest.len() - after.len();
                on_message(&rest[..len]);
                consumed += len;
                flow.wait_until = 0;
                flow.scanned = consumed;
                flow.line_checked = false;
                flow.seen_sip = true;
            }
            Err(nom::Err::Incomplete(needed)) => {
                if rest.len() > MAX_STREAM_BUFFER {
                    stats.framing_error(ParseError::BodyTooLarge);
                    flow.resume_mid_stream();
                    consumed = flow.buffer.len();
                    flow.scanned = consumed;
                } else if let nom::Needed::Size(more) = needed {
                    flow.wait_until = flow.buffer.len() + more.get();
                } else {
                    // Not enough without a number: look again after the next blank line.
                    flow.scanned = flow.buffer.len();
                }
                break;
            }
            Err(nom::Err::Error(error) | nom::Err::Failure(error)) => {
                lost_place(flow, stats, consumed, error);
            }
        }
    }
    flow.buffer.drain(..consumed);
    flow.wait_until = flow.wait_until.saturating_sub(consumed);
    flow.scanned = flow.scanned.saturating_sub(consumed);
}

/// The message at `at` is not one: count why, and search for a start line from the next line.
fn lost_place(flow: &mut Flow, stats: &mut TcpStats, at: usize, error: ParseError) {
    let start_line = matches!(
        error,
        ParseError::NotSip | ParseError::MalformedStartLine | ParseError::InvalidStatusCode
    );
    if start_line && !flow.seen_sip && !flow.hunted {
        // The flow's first bytes do not start a message: not SIP, or a capture that starts
        // in the middle of one.
        stats.non_sip_flows += 1;
    } else if error != ParseError::NotSip {
        stats.framing_error(error);
    }
    flow.hunted = true;
    flow.hunting = true;
    flow.line_checked = false;
    flow.scanned = at + 1;
}

/// Whether the header section of the message at `start` may have ended: a blank line
/// somewhere after `start`, searched only in the bytes not searched before.
fn header_may_be_complete(buffer: &[u8], start: usize, scanned: usize) -> bool {
    // Back up three bytes: the blank line may straddle the old end.
    let from = scanned.saturating_sub(3).max(start);
    let tail = &buffer[from..];
    memchr::memmem::find(tail, b"\n\r\n").is_some() || memchr::memmem::find(tail, b"\n\n").is_some()
}

/// Whether `buffer` begins with a complete start line of a response or of a standard method.
fn starts_a_known_message(buffer: &[u8]) -> bool {
    let Some(end) = memchr::memchr(b'\n', buffer) else { return false };
    let line = &buffer[..end];
    match parse_start_line(line.strip_suffix(b"\r").unwrap_or(line)) {
        Ok(StartLine::Response { .. }) => true,
        Ok(StartLine::Request { method, .. }) => !matches!(method, Method::Extension(_)),
        Err(_) => false,
    }
}

/// Where a search for a start line got to.
enum Search {
    /// A start line begins at this offset.
    Found(usize),
    /// None yet: the bytes before `keep_from` can go; `at_line_start` says whether
    /// `keep_from` is the start of a line (an unfinished one, kept to be judged when complete).
    NotYet { keep_from: usize, at_line_start: bool },
}

/// The next line at or after `from` that is a SIP start line. Offset 0 is a candidate only
/// when `zero_is_line_start`; other candidates begin after a line feed.
fn find_start_line(buffer: &[u8], from: usize, zero_is_line_start: bool) -> Search {
    let mut line_start = if from == 0 && zero_is_line_start {
        Some(0)
    } else if from == 0 && starts_a_known_message(buffer) {
        // Not known to be a line start (the stream resumed after a hole), but a standard
        // method or a response right there is a message boundary: the tail of a line parses
        // as an extension method at best ("E sip:b@x SIP/2.0" from "INVITE sip:b@x SIP/2.0").
        Some(0)
    } else {
        // The line feed before the first candidate may sit just before `from`.
        let search_from = from.saturating_sub(1).min(buffer.len());
        memchr::memchr(b'\n', &buffer[search_from..]).map(|at| search_from + at + 1)
    };
    loop {
        let Some(start) = line_start else {
            return Search::NotYet { keep_from: buffer.len(), at_line_start: false };
        };
        let Some(end) = memchr::memchr(b'\n', &buffer[start..]) else {
            // An unfinished line: keep it, unless it is too long to be a start line.
            return if buffer.len() - start > MAX_START_LINE {
                Search::NotYet { keep_from: buffer.len(), at_line_start: false }
            } else {
                Search::NotYet { keep_from: start, at_line_start: true }
            };
        };
        let line = &buffer[start..start + end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() && parse_start_line(line).is_ok() {
            return Search::Found(start);
        }
        line_start = Some(start + end + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] =
        b"REGISTER sip:a SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 5\r\n\r\nhello";

    fn key() -> FlowKey {
        FlowKey { src: "10.0.0.1:5060".parse().unwrap(), dst: "10.0.0.2:5060".parse().unwrap() }
    }

    fn segment(seq: u32, payload: &[u8]) -> Segment<'_> {
        Segment { ts_micros: 1, seq, syn: false, closes: false, payload }
    }

    fn feed(reassembler: &mut TcpReassembler, segments: &[Segment<'_>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for s in segments {
            reassembler.add(key(), *s, &mut |m| out.push(m.to_vec()));
        }
        reassembler.finish(&mut |_, _, m| out.push(m.to_vec()));
        out
    }

    #[test]
    fn in_order_segments_give_whole_messages() {
        let mut r = TcpReassembler::default();
        let syn = Segment { ts_micros: 0, seq: 999, syn: true, closes: false, payload: b"" };
        let out =
            feed(&mut r, &[syn, segment(1000, &MESSAGE[..30]), segment(1030, &MESSAGE[30..])]);
        assert_eq!(out, vec![MESSAGE.to_vec()]);
    }

    #[test]
    fn out_of_order_and_retransmitted_segments() {
        let mut r = TcpReassembler::default();
        let mut stream = MESSAGE.to_vec();
        stream.extend_from_slice(MESSAGE);
        let (a, b, c) = (&stream[..40], &stream[40..80], &stream[80..]);
        let out = feed(
            &mut r,
            &[
                segment(0, a),
                segment(80, c),
                segment(40, b),
                segment(40, b),
                segment(0, &stream[..50]),
            ],
        );
        assert_eq!(out, vec![MESSAGE.to_vec(), MESSAGE.to_vec()]);
        assert_eq!(r.stats.out_of_order, 1);
        assert_eq!(r.stats.retransmitted, 2);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = TcpReassembler::default();
        let start = u32::MAX - 10;
        let out = feed(
            &mut r,
            &[segment(start, &MESSAGE[..20]), segment(start.wrapping_add(20), &MESSAGE[20..])],
        );
        assert_eq!(out, vec![MESSAGE.to_vec()]);
    }

    #[test]
    fn non_sip_bytes_are_skipped_up_to_the_next_start_line() {
        let mut r = TcpReassembler::default();
        let out =
            feed(&mut r, &[segment(0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), segment(27, MESSAGE)]);
        assert_eq!(out, vec![MESSAGE.to_vec()]);
        assert_eq!(r.stats.non_sip_flows, 1);
        assert_eq!(r.stats.resync_skipped_bytes, 27);
    }

    /// `count` INVITE-like messages with bodies, as one byte stream.
    fn stream(count: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for i in 0..count {
            let body = format!("v=0\r\no=- {i} 1 IN IP4 10.0.0.1\r\n");
            bytes.extend_from_slice(
                format!(
                    "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK{i}\r\nCall-ID: {i}\r\nCSeq: 1 INVITE\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
        bytes
    }

    fn segments_of(bytes: &[u8], size: usize) -> Vec<Segment<'_>> {
        bytes.chunks(size).enumerate().map(|(i, c)| segment((i * size) as u32, c)).collect()
    }

    #[test]
    fn a_lost_segment_costs_the_messages_it_touched_not_the_flow() {
        let bytes = stream(3000);
        let mut segments = segments_of(&bytes, 1000);
        segments.remove(segments.len() / 2);
        let mut r = TcpReassembler::default();
        // The hole is given up once more than the pending bound has come after it.
        let out = feed(&mut r, &segments);
        assert!(out.len() >= 2990, "{} of 3000 messages", out.len());
        assert_eq!(r.stats.gaps, 1);
        assert!(r.stats.resync_skipped_bytes > 0);
    }

    #[test]
    fn a_capture_that_starts_mid_message_finds_the_next_one() {
        let bytes = stream(100);
        let mut r = TcpReassembler::default();
        let out = feed(&mut r, &segments_of(&bytes[40..], 1400));
        assert_eq!(out.len(), 99);
    }

    #[test]
    fn a_framing_error_is_reported_and_the_flow_goes_on() {
        let mut bytes =
            b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\nContent-Length: ten\r\n\r\n".to_vec();
        bytes.extend_from_slice(&stream(5));
        let mut r = TcpReassembler::default();
        let out = feed(&mut r, &segments_of(&bytes, 300));
        assert_eq!(out.len(), 5);
        assert_eq!(r.stats.invalid_content_length, 1);
        assert_eq!(r.stats.framing_errors_by_reason()[1], ("invalid_content_length", 1));
    }

    #[test]
    fn one_byte_segments_are_parsed_a_few_times_not_once_per_byte() {
        let bytes = stream(3);
        let mut r = TcpReassembler::default();
        let out = feed(&mut r, &segments_of(&bytes, 1));
        assert_eq!(out.len(), 3);
        // Each message: once when its header section ends, once when its body is complete.
        assert!(r.stats.parse_attempts <= 3 * 2, "{} parses", r.stats.parse_attempts);
    }

    #[test]
    fn many_flows_stay_within_the_flow_and_byte_bounds() {
        let mut r = TcpReassembler::default();
        let partial = &MESSAGE[..30];
        for i in 0..(MAX_FLOWS as u32 * 3) {
            let key = FlowKey {
                src: SocketAddr::new([10, (i >> 16) as u8, (i >> 8) as u8, i as u8].into(), 5060),
                dst: "10.255.0.1:5060".parse().unwrap(),
            };
            r.add(
                key,
                Segment { ts_micros: 1, seq: 0, syn: false, closes: false, payload: partial },
                &mut |_| {},
            );
        }
        assert!(r.flow_count() <= MAX_FLOWS);
        assert!(r.stats.evicted_flows >= 2 * MAX_FLOWS as u64 - 1);
        assert_eq!(r.held_bytes(), r.flow_count() * partial.len());
    }

    #[test]
    fn a_hole_that_never_fills_is_given_up() {
        let mut r = TcpReassembler::default();
        let big = vec![b'x'; 64 * 1024];
        let mut segments = vec![segment(0, &MESSAGE[..10])];
        for i in 0..5u32 {
            segments.push(segment(100_000 + i * 65_536, &big));
        }
        feed(&mut r, &segments);
        assert_eq!(r.stats.gaps, 1);
        assert!(r.flows.values().all(|f| f.pending_bytes <= MAX_PENDING_BYTES));
    }

    #[test]
    fn closing_forgets_the_flow() {
        let mut r = TcpReassembler::default();
        let fin = Segment { ts_micros: 2, seq: 0, syn: false, closes: true, payload: MESSAGE };
        let out = feed(&mut r, &[fin]);
        assert_eq!(out.len(), 1);
        assert_eq!(r.flow_count(), 0);
    }

    #[test]
    fn a_start_line_split_across_segments_while_searching_is_found() {
        let mut bytes =
            b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\nContent-Length: ten\r\n\r\n".to_vec();
        let first_good = bytes.len();
        bytes.extend_from_slice(MESSAGE);
        let mut r = TcpReassembler::default();
        // Cut inside the REGISTER start line: "REGISTER sip:a SI" | "P/2.0...".
        let cut = first_good + 17;
        let out = feed(&mut r, &[segment(0, &bytes[..cut]), segment(cut as u32, &bytes[cut..])]);
        assert_eq!(out, vec![MESSAGE.to_vec()]);
    }

    #[test]
    fn a_resumed_stream_does_not_take_a_line_tail_for_a_start_line() {
        // After a hole the stream resumes at "E sip:b@x SIP/2.0": the tail of an INVITE line,
        // which parses as a start line of method "E" but is no line start.
        let mut bytes = b"E sip:b@x SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 0\r\n\r\n".to_vec();
        bytes.extend_from_slice(MESSAGE);
        let mut r = TcpReassembler::default();
        let out = feed(&mut r, &[segment(0, b"INVITE s"), segment(1000, &bytes)]);
        assert_eq!(out, vec![MESSAGE.to_vec()]);
        assert_eq!(r.stats.gaps, 1);
    }

    #[test]
    fn a_close_delivers_what_waits_behind_a_hole() {
        let mut stream = MESSAGE.to_vec();
        stream.extend_from_slice(MESSAGE);
        let fin =
            Segment { ts_micros: 2, seq: 62, syn: false, closes: true, payload: &stream[62..] };
        let mut r = TcpReassembler::default();
        let mut out = Vec::new();
        for s in [segment(0, &stream[..40]), fin] {
            r.add(key(), s, &mut |m| out.push(m.to_vec()));
        }
        // The first message lost bytes 40..62; the second comes out when the flow closes.
        assert_eq!(out, vec![MESSAGE.to_vec()]);
        assert_eq!((r.stats.gaps, r.flow_count()), (1, 0));
    }

    #[test]
    fn a_hole_older_than_a_retransmission_is_given_up() {
        let stream = stream(20);
        let mut r = TcpReassembler::default();
        let mut out = Vec::new();
        let late = |ts_micros, seq: usize, payload| Segment {
            ts_micros,
            seq: seq as u32,
            syn: false,
            closes: false,
            payload,
        };
        r.add(key(), late(0, 0, &stream[..100]), &mut |m| out.push(m.to_vec()));
        // Bytes 100..200 never come; the rest arrives over five seconds.
        for (i, chunk) in stream[200..].chunks(400).enumerate() {
            let seq = 200 + i * 400;
            r.add(key(), late(1_000_000 * (i as u64 + 1), seq, chunk), &mut |m| {
                out.push(m.to_vec());
            });
        }
        assert_eq!(r.stats.gaps, 1, "given up after 3 s, before the end of the input");
        assert!(out.len() >= 18, "{} of 20", out.len());
    }

    #[test]
    fn all_flows_together_stay_within_the_byte_budget() {
        let mut r = TcpReassembler::default();
        // Partial header sections of 60 KiB on 2,000 flows: 120 MiB asked for.
        let mut partial = b"REGISTER sip:a SIP/2.0\r\nX: ".to_vec();
        partial.resize(60 * 1024, b'x');
        for i in 0..2000u32 {
            let key = FlowKey {
                src: SocketAddr::new([10, 1, (i >> 8) as u8, i as u8].into(), 5060),
                dst: "10.255.0.1:5060".parse().unwrap(),
            };
            r.add(key, segment(0, &partial), &mut |_| {});
            assert!(r.held_bytes() <= MAX_TOTAL_BYTES);
        }
        assert!(r.stats.memory_given_up > 0);
    }

    #[test]
    fn a_binary_flow_is_found_not_sip_at_its_first_line() {
        let mut r = TcpReassembler::default();
        let mut tls = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
        tls.resize(4000, 0xab);
        tls.push(b'\n');
        tls.resize(8000, 0xcd);
        let out = feed(&mut r, &[segment(0, &tls)]);
        assert!(out.is_empty());
        assert_eq!(r.stats.non_sip_flows, 1);
        assert!(r.flows.values().all(|f| f.buffer.len() <= MAX_START_LINE));
    }
}
