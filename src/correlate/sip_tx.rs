//! The SIP transaction table of one node: RFC 3261 §17 matching (top Via branch and sent-by,
//! CSeq method; ACK and CANCEL apart from their INVITE; the RFC 2543 fallback keyed by Call-ID,
//! CSeq and From tag when the branch lacks the magic cookie), retransmissions and duplicates
//! told apart, provisional responses, timeouts, bounded memory.
//!
//! Sans-IO: feed it messages in capture order with [`TransactionTable::observe`], advance its
//! clock with [`TransactionTable::advance`]; it answers with events.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};

use imsight_parsers::sip::{Method, SipMessage};
use rustc_hash::{FxHashMap, FxHasher};

use crate::schema::{Leg, MethodId};

/// A copy seen within this many µs of the previous one is the same packet captured twice.
pub const DUPLICATE_WINDOW: u64 = 20_000;
/// Most open transactions per node; the oldest are evicted beyond it (and counted).
pub const MAX_TRANSACTIONS: usize = 262_144;
/// How long an INVITE that got a provisional response may wait for its final one (Timer C).
pub const PROCEEDING_TIMEOUT: u64 = 180_000_000;

/// The feature id of a parsed method.
pub fn method_id(method: Method<'_>) -> MethodId {
    MethodId::from_name(method.as_str())
}

/// A finished transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completed {
    /// When it finished: the final response, or the timeout.
    pub ts: u64,
    /// Leg, when the node map knows it.
    pub leg: Option<Leg>,
    /// Request received by the node.
    pub inbound: bool,
    /// Method.
    pub method: MethodId,
    /// First request copy.
    pub start: u64,
    /// Final status; `None` = timed out.
    pub code: Option<u16>,
    /// INVITE: 100 Trying after this many µs.
    pub trying_us: Option<u64>,
    /// INVITE: first 180/183/2xx after this many µs.
    pub setup_us: Option<u64>,
    /// First response other than 100 Trying (provisional or final) after this many µs.
    pub first_response_us: Option<u64>,
    /// Hash of the Call-ID.
    pub call_id: u64,
    /// Hash of the subscriber identity, when known.
    pub subscriber: Option<u64>,
    /// REGISTER answered 2xx: hash of the address-of-record.
    pub registered_aor: Option<u64>,
}

/// What one message was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A new request.
    Request,
    /// A copy of a request seen before (`duplicate`: within [`DUPLICATE_WINDOW`]).
    RequestAgain {
        /// Same packet twice rather than a retransmission.
        duplicate: bool,
    },
    /// A first response copy.
    Response,
    /// A response copy seen before.
    ResponseAgain {
        /// Same packet twice rather than a retransmission.
        duplicate: bool,
    },
    /// A response matching no transaction.
    Unmatched,
    /// A message without the Via or CSeq that matching needs (counted, not matched).
    Unusable,
}

/// A message, for the message-level features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSeen {
    /// Capture time.
    pub ts: u64,
    /// Method of the request (or of the CSeq of a response).
    pub method: MethodId,
    /// Status code, 0 for a request.
    pub status: u16,
    /// What it was.
    pub seen: Seen,
    /// Bytes on the wire.
    pub bytes: u32,
}

/// Events the table emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxEvent {
    /// A message was seen.
    Message(MessageSeen),
    /// A transaction finished.
    Completed(Completed),
}

/// Counters of the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Transactions evicted at the size limit.
    pub evicted: u64,
    /// Messages without the fields matching needs (Via, CSeq).
    pub unusable: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    leg: Option<Leg>,
    hash: u64,
    method: MethodId,
}

/// Response copies remembered per transaction to tell a duplicate (the same packet seen twice,
/// e.g. by two sensors whose copies interleave) from a retransmission.
const RECENT_RESPONSES: usize = 4;
/// Distinct provisional responses (code and To tag: one per fork) remembered per transaction.
const PROVISIONALS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Open {
    start: u64,
    last_request: u64,
    /// The latest response copies: (status, capture time), newest overwriting the oldest.
    recent: [(u16, u64); RECENT_RESPONSES],
    recent_next: u8,
    inbound: bool,
    method: MethodId,
    done: bool,
    /// Provisional responses seen: a hash of status and To tag (0 = free slot).
    provisionals: [u32; PROVISIONALS],
    trying_us: Option<u64>,
    setup_us: Option<u64>,
    first_response_us: Option<u64>,
    deadline: u64,
    call_id: u64,
    subscriber: Option<u64>,
    aor: u64,
}

/// The transaction table of one node.
#[derive(Debug)]
pub struct TransactionTable {
    timeout: u64,
    open: FxHashMap<Key, Open>,
    deadlines: BinaryHeap<Reverse<(u64, Key)>>,
    stats: TxStats,
}

fn hash_of(parts: &[&[u8]]) -> u64 {
    let mut hasher = FxHasher::default();
    for part in parts {
        part.hash(&mut hasher);
    }
    hasher.finish()
}

/// Hash of a text identity (Call-ID, subscriber), stable within a process.
pub fn identity(text: &[u8]) -> u64 {
    hash_of(&[text])
}

impl TransactionTable {
    /// A table whose transactions time out after `timeout` µs (Timer B/F).
    pub fn new(timeout: u64) -> Self {
        Self {
            timeout,
            open: FxHashMap::default(),
            deadlines: BinaryHeap::new(),
            stats: TxStats::default(),
        }
    }

    /// What the table counted.
    pub fn stats(&self) -> TxStats {
        self.stats
    }

    /// Open transactions.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether nothing is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Observes one message on `leg`; `subscriber` identifies the UE when known.
    pub fn observe(
        &mut self,
        ts: u64,
        leg: Option<Leg>,
        inbound: bool,
        message: &SipMessage<'_>,
        subscriber: Option<u64>,
        out: &mut Vec<TxEvent>,
    ) {
        let bytes = message.wire_len.min(u32::MAX as usize) as u32;
        let (Some(cseq), Some(via)) = (message.cseq(), message.top_via()) else {
            self.stats.unusable += 1;
            let method = message.method().map_or(MethodId::OTHER, method_id);
            let status = message.status().map_or(0, |s| s.0);
            out.push(TxEvent::Message(MessageSeen {
                ts,
                method,
                status,
                seen: Seen::Unusable,
                bytes,
            }));
            return;
        };
        let method = method_id(cseq.method);
        let call_id = message.call_id().unwrap_or_default();
        let hash = match via.branch.filter(|b| b.starts_with("z9hG4bK")) {
            Some(branch) => hash_of(&[branch.as_bytes(), via.sent_by.as_bytes()]),
            // RFC 2543 peers: Call-ID, CSeq number and From tag identify the transaction.
            None => {
                let from_tag = message.from().and_then(|f| f.tag).unwrap_or_default();
                hash_of(&[call_id.as_bytes(), &cseq.number.to_be_bytes(), from_tag.as_bytes()])
            }
        };
        let key = Key { leg, hash, method };
        match message.status() {
            None => self.request(ts, key, inbound, message, call_id, subscriber, bytes, out),
            Some(code) => {
                // Forks answer with their own To tag: each fork's 183 is a response of its own.
                // Only provisionals need it (a final response ends the transaction), and reading
                // the To header costs, so finals skip it.
                let identity = if code.0 < 200 {
                    let to_tag = message.to().and_then(|to| to.tag).unwrap_or_default();
                    (hash_of(&[&code.0.to_be_bytes(), to_tag.as_bytes()]) as u32).max(1)
                } else {
                    0
                };
                self.response(ts, key, code.0, identity, bytes, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        ts: u64,
        key: Key,
        inbound: bool,
        message: &SipMessage<'_>,
        call_id: &str,
        subscriber: Option<u64>,
        bytes: u32,
        out: &mut Vec<TxEvent>,
    ) {
        let seen = match self.open.entry(key) {
            Entry::Occupied(mut entry) => {
                let open = entry.get_mut();
                let duplicate = ts.saturating_sub(open.last_request) <= DUPLICATE_WINDOW;
                open.last_request = ts;
                Seen::RequestAgain { duplicate }
            }
            Entry::Vacant(entry) => {
                // Only a registration's address-of-record is ever used.
                let aor = if key.method == MethodId::REGISTER {
                    message.to().map_or(0, |to| identity(to.uri.as_bytes()))
                } else {
                    0
                };
                let deadline = ts.saturating_add(self.timeout);
                entry.insert(Open {
                    start: ts,
                    last_request: ts,
                    recent: [(0, 0); RECENT_RESPONSES],
                    recent_next: 0,
                    inbound,
                    method: key.method,
                    // An ACK is not answered: it only absorbs its own retransmissions.
                    done: key.method == MethodId::ACK,
                    provisionals: [0; PROVISIONALS],
                    trying_us: None,
                    setup_us: None,
                    first_response_us: None,
                    deadline,
                    call_id: identity(call_id.as_bytes()),
                    subscriber,
                    aor,
                });
                self.deadlines.push(Reverse((deadline, key)));
                self.evict_if_full();
                Seen::Request
            }
        };
        out.push(TxEvent::Message(MessageSeen { ts, method: key.method, status: 0, seen, bytes }));
    }

    fn response(
        &mut self,
        ts: u64,
        key: Key,
        code: u16,
        identity: u32,
        bytes: u32,
        out: &mut Vec<TxEvent>,
    ) {
        let Some(open) = self.open.get_mut(&key) else {
            out.push(TxEvent::Message(MessageSeen {
                ts,
                method: key.method,
                status: code,
                seen: Seen::Unmatched,
                bytes,
            }));
            return;
        };
        let final_response = code >= 200;
        let again = if final_response { open.done } else { open.provisionals.contains(&identity) };
        let seen = if again {
            let duplicate = open
                .recent
                .iter()
                .any(|&(status, at)| status == code && ts.saturating_sub(at) <= DUPLICATE_WINDOW);
            Seen::ResponseAgain { duplicate }
        } else {
            Seen::Response
        };
        open.recent[usize::from(open.recent_next)] = (code, ts);
        open.recent_next = (open.recent_next + 1) % RECENT_RESPONSES as u8;
        out.push(TxEvent::Message(MessageSeen {
            ts,
            method: key.method,
            status: code,
            seen,
            bytes,
        }));
        if again {
            return;
        }
        let elapsed = ts.saturating_sub(open.start);
        if code != 100 && open.first_response_us.is_none() {
            open.first_response_us = Some(elapsed);
        }
        if !final_response {
            // Beyond the remembered forks, a further provisional counts as a first copy.
            if let Some(slot) = open.provisionals.iter_mut().find(|slot| **slot == 0) {
                *slot = identity;
            }
            if key.method == MethodId::INVITE {
                if code == 100 && open.trying_us.is_none() {
                    open.trying_us = Some(elapsed);
                }
                if matches!(code, 180 | 183) && open.setup_us.is_none() {
                    open.setup_us = Some(elapsed);
                }
                // Proceeding: the final answer may take as long as the callee rings.
                open.deadline = open.start.saturating_add(PROCEEDING_TIMEOUT);
                self.deadlines.push(Reverse((open.deadline, key)));
            }
            return;
        }
        if key.method == MethodId::INVITE && open.setup_us.is_none() && code < 300 {
            open.setup_us = Some(elapsed);
        }
        open.done = true;
        out.push(TxEvent::Completed(Completed {
            ts,
            leg: key.leg,
            inbound: open.inbound,
            method: open.method,
            start: open.start,
            code: Some(code),
            trying_us: open.trying_us,
            setup_us: open.setup_us,
            first_response_us: open.first_response_us,
            call_id: open.call_id,
            subscriber: open.subscriber,
            registered_aor: (key.method == MethodId::REGISTER && code < 300).then_some(open.aor),
        }));
        // Keep it for a while to recognise retransmissions (Timer J/K).
        open.deadline = ts.saturating_add(self.timeout);
        self.deadlines.push(Reverse((open.deadline, key)));
    }

    /// Moves the clock to `now`: transactions whose time is up complete as timeouts (at their
    /// deadline) and finished ones are forgotten.
    pub fn advance(&mut self, now: u64, out: &mut Vec<TxEvent>) {
        while let Some(&Reverse((deadline, key))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            self.expire(deadline, key, out);
        }
    }

    fn expire(&mut self, deadline: u64, key: Key, out: &mut Vec<TxEvent>) {
        let Entry::Occupied(entry) = self.open.entry(key) else { return };
        if entry.get().deadline != deadline {
            // A later deadline replaced this one.
            return;
        }
        let open = entry.remove();
        if !open.done {
            out.push(TxEvent::Completed(Completed {
                ts: deadline,
                leg: key.leg,
                inbound: open.inbound,
                method: open.method,
                start: open.start,
                code: None,
                trying_us: open.trying_us,
                setup_us: open.setup_us,
                first_response_us: open.first_response_us,
                call_id: open.call_id,
                subscriber: open.subscriber,
                registered_aor: None,
            }));
        }
    }

    /// Drops the transactions closest to their deadline until the table fits (no event: an
    /// evicted transaction is unknown, not timed out).
    fn evict_if_full(&mut self) {
        while self.open.len() > MAX_TRANSACTIONS {
            let Some(Reverse((deadline, key))) = self.deadlines.pop() else { break };
            if self.open.get(&key).is_some_and(|open| open.deadline == deadline) {
                self.open.remove(&key);
                self.stats.evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use imsight_parsers::sip::parse_sip_message;

    use super::*;

    const T: u64 = 1_000_000_000;

    fn request(method: &str, branch: &str, cseq: u32) -> Vec<u8> {
        format!(
            "{method} sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\nFrom: <sip:a@x>;tag=f1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn response(code: u16, method: &str, branch: &str, cseq: u32, to_tag: &str) -> Vec<u8> {
        format!(
            "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\nFrom: <sip:a@x>;tag=f1\r\nTo: <sip:b@x>;tag={to_tag}\r\nCall-ID: c1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    struct Harness {
        table: TransactionTable,
        events: Vec<TxEvent>,
    }

    impl Harness {
        fn new() -> Self {
            Self { table: TransactionTable::new(32_000_000), events: Vec::new() }
        }
        fn see(&mut self, ts: u64, bytes: &[u8]) -> Vec<TxEvent> {
            let (_, message) = parse_sip_message(bytes).unwrap();
            self.table.observe(ts, Some(Leg::Access), true, &message, Some(9), &mut self.events);
            std::mem::take(&mut self.events)
        }
        fn advance(&mut self, ts: u64) -> Vec<TxEvent> {
            self.table.advance(ts, &mut self.events);
            std::mem::take(&mut self.events)
        }
    }

    fn seen(events: &[TxEvent]) -> Vec<Seen> {
        events
            .iter()
            .filter_map(|e| if let TxEvent::Message(m) = e { Some(m.seen) } else { None })
            .collect()
    }

    fn completed(events: &[TxEvent]) -> Vec<Completed> {
        events
            .iter()
            .filter_map(|e| if let TxEvent::Completed(c) = e { Some(*c) } else { None })
            .collect()
    }

    #[test]
    fn a_request_and_its_final_response_make_one_transaction() {
        let mut h = Harness::new();
        assert_eq!(seen(&h.see(T, &request("REGISTER", "z9hG4bK1", 1))), vec![Seen::Request]);
        let events = h.see(T + 45_000, &response(401, "REGISTER", "z9hG4bK1", 1, "t"));
        let done = completed(&events);
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].code, done[0].ts - done[0].start, done[0].method),
            (Some(401), 45_000, MethodId::REGISTER)
        );
        assert_eq!(done[0].subscriber, Some(9));
        assert!(completed(&h.advance(T + 100_000_000)).is_empty(), "no timeout after an answer");
        assert!(h.table.is_empty(), "forgotten after Timer J/K");
    }

    #[test]
    fn retransmissions_and_duplicates_are_told_apart_and_not_double_counted() {
        let mut h = Harness::new();
        let register = request("REGISTER", "z9hG4bK2", 1);
        h.see(T, &register);
        // The same packet from a second HEP agent, 3 ms later: a duplicate.
        assert_eq!(
            seen(&h.see(T + 3_000, &register)),
            vec![Seen::RequestAgain { duplicate: true }]
        );
        // Timer E fires: a retransmission.
        assert_eq!(
            seen(&h.see(T + 500_000, &register)),
            vec![Seen::RequestAgain { duplicate: false }]
        );
        let ok = response(200, "REGISTER", "z9hG4bK2", 1, "t");
        assert_eq!(completed(&h.see(T + 600_000, &ok)).len(), 1);
        // The final response retransmitted, and a late request copy: absorbed.
        assert_eq!(seen(&h.see(T + 900_000, &ok)), vec![Seen::ResponseAgain { duplicate: false }]);
        assert_eq!(
            seen(&h.see(T + 950_000, &register)),
            vec![Seen::RequestAgain { duplicate: false }]
        );
    }

    #[test]
    fn invite_provisionals_set_trying_and_setup_and_the_ack_stands_apart() {
        let mut h = Harness::new();
        h.see(T, &request("INVITE", "z9hG4bK3", 1));
        h.see(T + 20_000, &response(100, "INVITE", "z9hG4bK3", 1, "t"));
        h.see(T + 900_000, &response(180, "INVITE", "z9hG4bK3", 1, "t"));
        // Ringing for longer than Timer B: a proceeding INVITE does not time out at 32 s.
        assert!(completed(&h.advance(T + 40_000_000)).is_empty());
        let done = completed(&h.see(T + 45_000_000, &response(200, "INVITE", "z9hG4bK3", 1, "t")));
        assert_eq!(done[0].trying_us, Some(20_000));
        assert_eq!(done[0].setup_us, Some(900_000));
        assert_eq!(done[0].code, Some(200));
        // The ACK of the 2xx has its own branch: a request, no transaction to complete.
        let ack = h.see(T + 45_100_000, &request("ACK", "z9hG4bK3ack", 1));
        assert_eq!(seen(&ack), vec![Seen::Request]);
        assert!(completed(&h.advance(T + 200_000_000)).is_empty(), "ACKs never time out");
    }

    #[test]
    fn cancel_is_its_own_transaction_and_the_invite_ends_487() {
        let mut h = Harness::new();
        h.see(T, &request("INVITE", "z9hG4bK4", 1));
        h.see(T + 10_000, &response(180, "INVITE", "z9hG4bK4", 1, "t"));
        // CANCEL carries the INVITE's branch, with its own method: another transaction.
        assert_eq!(
            seen(&h.see(T + 5_000_000, &request("CANCEL", "z9hG4bK4", 1))),
            vec![Seen::Request]
        );
        let cancel = completed(&h.see(T + 5_020_000, &response(200, "CANCEL", "z9hG4bK4", 1, "t")));
        assert_eq!((cancel[0].method, cancel[0].code), (method_id(Method::Cancel), Some(200)));
        let invite = completed(&h.see(T + 5_030_000, &response(487, "INVITE", "z9hG4bK4", 1, "t")));
        assert_eq!((invite[0].method, invite[0].code), (MethodId::INVITE, Some(487)));
        // The ACK of the 487 shares the INVITE's branch but is no new INVITE transaction.
        assert_eq!(
            seen(&h.see(T + 5_040_000, &request("ACK", "z9hG4bK4", 1))),
            vec![Seen::Request]
        );
    }

    #[test]
    fn forked_and_reordered_responses_complete_once() {
        let mut h = Harness::new();
        h.see(T, &request("INVITE", "z9hG4bK5", 1));
        h.see(T + 1_000, &response(180, "INVITE", "z9hG4bK5", 1, "fork-a"));
        // A second fork rings too: same code, seen again (not a second setup).
        assert_eq!(
            seen(&h.see(T + 2_000_000, &response(180, "INVITE", "z9hG4bK5", 1, "fork-b"))).len(),
            1
        );
        assert_eq!(
            completed(&h.see(T + 3_000_000, &response(200, "INVITE", "z9hG4bK5", 1, "fork-b")))
                .len(),
            1
        );
        // The other fork also answers: a response copy, not a second completion.
        let late = h.see(T + 3_100_000, &response(200, "INVITE", "z9hG4bK5", 1, "fork-a"));
        assert!(completed(&late).is_empty());
        // A provisional after the final one (reordered on the way): no new setup time.
        assert!(
            completed(&h.see(T + 3_200_000, &response(183, "INVITE", "z9hG4bK5", 1, "fork-a")))
                .is_empty()
        );
    }

    #[test]
    fn unanswered_transactions_time_out_at_their_deadline() {
        let mut h = Harness::new();
        h.see(T, &request("OPTIONS", "z9hG4bK6", 1));
        h.see(T, &request("INVITE", "z9hG4bK7", 1));
        assert!(completed(&h.advance(T + 31_999_999)).is_empty());
        let done = completed(&h.advance(T + 40_000_000));
        assert_eq!(done.len(), 2, "an INVITE without any provisional times out too");
        assert!(done.iter().all(|c| c.code.is_none() && c.ts == T + 32_000_000));
        // Its answer, too late: matches nothing any more.
        assert_eq!(
            seen(&h.see(T + 41_000_000, &response(200, "OPTIONS", "z9hG4bK6", 1, "t"))),
            vec![Seen::Unmatched]
        );
    }

    #[test]
    fn rfc2543_peers_are_matched_by_call_id_cseq_and_from_tag() {
        let mut h = Harness::new();
        h.see(T, &request("BYE", "old-style-branch", 7));
        let answer = response(200, "BYE", "old-style-branch", 7, "t");
        assert_eq!(completed(&h.see(T + 30_000, &answer)).len(), 1);
        let other_cseq = response(200, "BYE", "old-style-branch", 8, "t");
        assert_eq!(seen(&h.see(T + 40_000, &other_cseq)), vec![Seen::Unmatched]);
    }

    #[test]
    fn messages_without_via_or_cseq_are_counted_as_unusable() {
        let mut h = Harness::new();
        let events = h.see(T, b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n");
        assert_eq!(seen(&events), vec![Seen::Unusable]);
        assert_eq!(h.table.stats().unusable, 1);
    }

    #[test]
    fn interleaved_copies_from_two_sensors_are_duplicates_not_retransmissions() {
        let mut h = Harness::new();
        h.see(T, &request("INVITE", "z9hG4bK7", 1));
        let ms = 1_000;
        let mut kinds = Vec::new();
        for (at, code) in [(10, 180), (20, 200), (25, 180), (30, 200)] {
            kinds.extend(seen(&h.see(T + at * ms, &response(code, "INVITE", "z9hG4bK7", 1, "t"))));
        }
        assert_eq!(
            kinds,
            vec![
                Seen::Response,
                Seen::Response,
                Seen::ResponseAgain { duplicate: true },
                Seen::ResponseAgain { duplicate: true }
            ]
        );
        // Much later, a copy is a retransmission.
        let late = seen(&h.see(T + 600 * ms, &response(200, "INVITE", "z9hG4bK7", 1, "t")));
        assert_eq!(late, vec![Seen::ResponseAgain { duplicate: false }]);
    }

    #[test]
    fn each_provisional_code_and_fork_is_a_response_of_its_own() {
        let mut h = Harness::new();
        h.see(T, &request("INVITE", "z9hG4bK8", 1));
        let mut kinds = Vec::new();
        for (at, code, tag) in
            [(1, 181, "a"), (2, 182, "a"), (3, 183, "a"), (4, 183, "b"), (900, 183, "b")]
        {
            kinds.extend(seen(
                &h.see(T + at * 1_000_000, &response(code, "INVITE", "z9hG4bK8", 1, tag)),
            ));
        }
        assert_eq!(
            kinds,
            vec![
                Seen::Response,
                Seen::Response,
                Seen::Response,
                Seen::Response,
                Seen::ResponseAgain { duplicate: false }
            ],
            "181, 182, 183 and another fork's 183 are first copies; the fork's 183 again is a retransmission"
        );
    }
}
