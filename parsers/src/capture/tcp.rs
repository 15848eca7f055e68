//! TCP stream reassembly, good enough for SIP over TCP: per-flow in-order delivery,
//! retransmitted and overlapping bytes dropped, out-of-order segments held within a bound,
//! SIP messages cut from the stream by Content-Length. Memory is bounded per flow and in the
//! number of flows; everything given up is counted.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::error::ParseError;
use crate::sip::{MAX_BODY_LEN, MAX_HEADER_SECTION_LEN, parse_sip_stream};

/// Out-of-order bytes held per flow before the gap is given up.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;
/// Flows tracked at once; the least recently active is evicted beyond this.
pub const MAX_FLOWS: usize = 16 * 1024;
/// A flow idle this long (capture time) is forgotten.
pub const FLOW_IDLE_MICROS: u64 = 300 * 1_000_000;
/// Largest stream buffer: one maximal SIP message.
const MAX_STREAM_BUFFER: usize = MAX_HEADER_SECTION_LEN + MAX_BODY_LEN;

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
    /// Flows whose first bytes were not SIP; their further bytes are ignored.
    pub non_sip_flows: u64,
    /// Stream bytes dropped after a SIP framing error, by reason.
    pub framing_errors: u64,
    /// Reason of the last framing error (for reports).
    pub last_framing_error: Option<ParseError>,
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
    /// Set when the stream turned out not to be SIP.
    not_sip: bool,
}

/// Reassembles TCP flows and cuts SIP messages out of them.
#[derive(Debug, Default)]
pub struct TcpReassembler {
    flows: HashMap<FlowKey, Flow>,
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
        let flow = self.flows.entry(key).or_default();
        flow.last_seen = segment.ts_micros;
        if segment.syn {
            flow.next_seq = Some(segment.seq.wrapping_add(1));
        }
        if !segment.payload.is_empty() && !flow.not_sip {
            self.stats.segments += 1;
            let seq = if segment.syn { segment.seq.wrapping_add(1) } else { segment.seq };
            accept(flow, &mut self.stats, seq, segment.payload);
            frame_messages(flow, &mut self.stats, on_message);
        }
        if segment.closes {
            self.flows.remove(&key);
        }
    }

    /// Flows currently tracked.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Forgets idle flows, and the least recently active one when the table is full.
    fn make_room(&mut self, now: u64) {
        if self.flows.len() < MAX_FLOWS {
            return;
        }
        let before = self.flows.len();
        self.flows.retain(|_, flow| now.saturating_sub(flow.last_seen) < FLOW_IDLE_MICROS);
        if self.flows.len() >= MAX_FLOWS
            && let Some(oldest) =
                self.flows.iter().min_by_key(|(_, f)| f.last_seen).map(|(k, _)| *k)
        {
            self.flows.remove(&oldest);
        }
        self.stats.evicted_flows += (before - self.flows.len()) as u64;
    }
}

/// Places the bytes of one segment into the flow's stream.
fn accept(flow: &mut Flow, stats: &mut TcpStats, seq: u32, payload: &[u8]) {
    let next = *flow.next_seq.get_or_insert(seq);
    let ahead = seq.wrapping_sub(next) as i32;
    if ahead > 0 {
        stats.out_of_order += 1;
        if flow.pending_bytes + payload.len() > MAX_PENDING_BYTES {
            // The hole is not filling: give it up and resume after it.
            stats.gaps += 1;
            flow.buffer.clear();
            flow.next_seq = Some(seq);
            flow.pending.clear();
            flow.pending_bytes = 0;
            append(flow, payload);
        } else {
            flow.pending_bytes += payload.len();
            flow.pending.insert(seq, payload.to_vec());
            return;
        }
    } else {
        let already = ahead.unsigned_abs() as usize;
        if already >= payload.len() {
            stats.retransmitted += 1;
            return;
        }
        append(flow, &payload[already..]);
    }
    // Deliver held segments that are now in order.
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
}

fn append(flow: &mut Flow, bytes: &[u8]) {
    flow.buffer.extend_from_slice(bytes);
    flow.next_seq = flow.next_seq.map(|n| n.wrapping_add(bytes.len() as u32));
}

/// Cuts complete SIP messages from the front of the flow's buffer.
fn frame_messages(flow: &mut Flow, stats: &mut TcpStats, on_message: &mut impl FnMut(&[u8])) {
    let mut consumed = 0;
    loop {
        let rest = &flow.buffer[consumed..];
        if rest.is_empty() {
            break;
        }
        match parse_sip_stream(rest) {
            Ok((after, _)) => {
                let len = rest.len() - after.len();
                on_message(&rest[..len]);
                consumed += len;
            }
            Err(nom::Err::Incomplete(_)) => {
                if rest.len() > MAX_STREAM_BUFFER {
                    stats.framing_errors += 1;
                    stats.last_framing_error = Some(ParseError::BodyTooLarge);
                    consumed = flow.buffer.len();
                }
                break;
            }
            Err(nom::Err::Error(ParseError::NotSip) | nom::Err::Failure(ParseError::NotSip))
                if consumed == 0 =>
            {
                stats.non_sip_flows += 1;
                flow.not_sip = true;
                consumed = flow.buffer.len();
                break;
            }
            Err(nom::Err::Error(error) | nom::Err::Failure(error)) => {
                // The stream lost its framing: drop what is buffered and wait for a new start.
                stats.framing_errors += 1;
                stats.last_framing_error = Some(error);
                consumed = flow.buffer.len();
                break;
            }
        }
    }
    flow.buffer.drain(..consumed);
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
    fn a_non_sip_stream_is_ignored_after_its_first_bytes() {
        let mut r = TcpReassembler::default();
        let out =
            feed(&mut r, &[segment(0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), segment(27, MESSAGE)]);
        assert!(out.is_empty());
        assert_eq!(r.stats.non_sip_flows, 1);
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
}
