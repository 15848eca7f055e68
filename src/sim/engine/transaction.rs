//! The dialog context every procedure works in, one transaction of it, and what the far end
//! answers to it.

use imsight_parsers::sip::Method;

use crate::sim::wire::{CorePeer, Dir, Leg, SimMessage, flag};

use super::TxnRecord;

/// Who talks to whom in one dialog (or standalone transaction) at one node; every message
/// of its transactions derives its addresses, Call-ID and tags from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Dialog {
    pub node: u16,
    /// Who started it: the UE, the core, or the P-CSCF itself.
    pub dir: Dir,
    /// The core element on the far side of the core leg.
    pub peer: CorePeer,
    /// The subscriber served by this P-CSCF.
    pub sub: u32,
    /// The other party's number, 0 when there is none.
    pub other: u32,
    /// Seed of the Call-ID and tags.
    pub id: u64,
}

impl Dialog {
    /// A dialog of subscriber `sub` with the S-CSCF and no other party.
    pub(super) fn new(node: u16, dir: Dir, sub: u32, id: u64) -> Self {
        Self { node, dir, peer: CorePeer::Scscf, sub, other: 0, id }
    }

    pub(super) fn via(self, peer: CorePeer) -> Self {
        Self { peer, ..self }
    }

    pub(super) fn with_other(self, other: u32) -> Self {
        Self { other, ..self }
    }

    /// Transaction `cseq` of this dialog: a `method` request carrying `flags`.
    pub(super) fn txn(self, method: Method<'static>, cseq: u32, flags: u16) -> Txn {
        Txn { dialog: self, cseq, method, flags, expires: 0 }
    }
}

/// One transaction of a dialog.
#[derive(Debug, Clone, Copy)]
pub(super) struct Txn {
    pub dialog: Dialog,
    pub cseq: u32,
    pub method: Method<'static>,
    /// Flags of the request; responses drop those that only requests carry.
    pub flags: u16,
    /// The lifetime its messages carry: granted registration, Session-Expires.
    pub expires: u32,
}

impl Txn {
    pub(super) fn node(&self) -> u16 {
        self.dialog.node
    }

    /// This transaction carrying the lifetime `expires` (seconds).
    pub(super) fn expiring(self, expires: u32) -> Self {
        Self { expires, ..self }
    }

    pub(super) fn is_invite(&self) -> bool {
        self.method == Method::Invite
    }

    /// The probe record of this transaction on `leg`.
    pub(super) fn record(
        &self,
        leg: Leg,
        inbound: bool,
        start: u64,
        end: u64,
        result: Option<u16>,
    ) -> TxnRecord {
        TxnRecord {
            node: self.dialog.node,
            leg,
            inbound,
            method: self.method,
            start,
            end,
            result,
            sub: self.dialog.sub,
            dialog: self.dialog.id,
            dir: self.dialog.dir,
        }
    }

    /// A message of this transaction on `leg`: the request (`status` 0) or a response.
    pub(super) fn message(&self, leg: Leg, ts: u64, status: u16, flags: u16) -> SimMessage {
        let dialog = &self.dialog;
        SimMessage {
            ts,
            node: dialog.node,
            leg,
            dir: dialog.dir,
            peer: dialog.peer,
            sub: dialog.sub,
            other: dialog.other,
            dialog: dialog.id,
            txn: dialog
                .id
                .wrapping_mul(31)
                .wrapping_add(u64::from(self.cseq))
                .wrapping_add(branch_code(self.method)),
            cseq: self.cseq,
            method: self.method,
            status,
            flags,
            expires: self.expires,
        }
    }

    /// The request on `leg` at `ts`, with its own flags.
    pub(super) fn request(&self, leg: Leg, ts: u64) -> SimMessage {
        self.message(leg, ts, 0, self.flags)
    }

    /// Flags of this transaction's responses.
    pub(super) fn response_flags(&self) -> u16 {
        self.flags & !(flag::SDP | flag::AUTH | flag::RELIABLE)
    }
}

/// Distinguishes transactions of one dialog by method, for branch ids; CANCEL and the ACK of
/// a non-2xx share the INVITE's branch (RFC 3261 §9.1, §17.1.1.3).
fn branch_code(method: Method<'_>) -> u64 {
    match method {
        Method::Invite | Method::Cancel | Method::Ack => 1,
        Method::Prack => 2,
        Method::Update => 3,
        Method::Bye => 4,
        _ => 5,
    }
}

/// The ACK of a non-2xx final response: the INVITE's branch and CSeq, no body.
pub(super) fn ack(invite: SimMessage) -> SimMessage {
    SimMessage { method: Method::Ack, flags: invite.flags & !flag::SDP, ..invite }
}

/// A response the far end gives: code, delay after it got the request, flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Resp {
    pub code: u16,
    pub after: u64,
    pub flags: u16,
}

impl Resp {
    pub(super) fn new(code: u16, after: u64) -> Self {
        Self { code, after, flags: 0 }
    }
}

/// What happens to one transaction beyond the P-CSCF.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Outcome {
    /// The P-CSCF answers itself (overload, peer known down, Rx failure).
    pub local: Option<u16>,
    /// ... after waiting this long (µs) for something that never came (a DNS answer).
    pub local_after: u64,
    /// The request never reaches the P-CSCF's SIP layer (discarded by IPsec): nothing is
    /// captured, and the originator times out.
    pub unseen: bool,
    /// The failure tells the UE to register again (S-CSCF restoration).
    pub restore: bool,
    /// The P-CSCF holds the request this long (µs) before it forwards it (waiting for a
    /// Diameter answer that does not come).
    pub hold: u64,
    /// Provisional responses from the far end.
    pub provisional: [Option<Resp>; 3],
    /// The final response; `None` = never answered.
    pub last: Option<Resp>,
}

impl Outcome {
    /// The far end answers `code` after `after` µs.
    pub(super) fn answer(code: u16, after: u64) -> Self {
        Self { last: Some(Resp::new(code, after)), ..Self::default() }
    }

    /// The P-CSCF answers `code` itself; nothing goes to the far end.
    pub(super) fn local(code: u16) -> Self {
        Self { local: Some(code), ..Self::default() }
    }

    /// The P-CSCF answers `code` itself after waiting `after` µs.
    pub(super) fn local_after(code: u16, after: u64) -> Self {
        Self { local: Some(code), local_after: after, ..Self::default() }
    }

    /// Nothing ever answers.
    pub(super) fn silence() -> Self {
        Self::default()
    }

    /// The request is discarded before SIP sees it; the UE, timing out, registers again
    /// (3GPP TS 24.229 §5.1.2A.1.6).
    pub(super) fn unseen() -> Self {
        Self { unseen: true, restore: true, ..Self::default() }
    }

    /// This failure makes the UE register again.
    pub(super) fn restoring(self) -> Self {
        Self { restore: true, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Dialog {
        Dialog::new(2, Dir::Uplink, 17, 1000).with_other(555)
    }

    #[test]
    fn a_message_carries_the_dialog_and_the_transaction() {
        let bye = call().txn(Method::Bye, 10, flag::TO_TAG);
        let m = bye.message(Leg::Core, 123, 200, bye.response_flags());
        assert_eq!(
            (m.ts, m.node, m.leg, m.dir, m.peer),
            (123, 2, Leg::Core, Dir::Uplink, CorePeer::Scscf)
        );
        assert_eq!((m.sub, m.other, m.dialog, m.cseq, m.status), (17, 555, 1000, 10, 200));
        assert_eq!(m.txn, 1000 * 31 + 10 + 4);
        assert_eq!(m.method, Method::Bye);
        let register = Dialog::new(0, Dir::Uplink, 1, 7).via(CorePeer::Icscf);
        assert_eq!(
            register.txn(Method::Register, 1, 0).request(Leg::Core, 0).peer,
            CorePeer::Icscf
        );
    }

    #[test]
    fn cancel_and_ack_share_the_invite_branch_other_methods_do_not() {
        let branch = |method, cseq| call().txn(method, cseq, 0).request(Leg::Access, 0).txn;
        let invite = branch(Method::Invite, 1);
        assert_eq!(branch(Method::Cancel, 1), invite);
        assert_eq!(branch(Method::Ack, 1), invite);
        assert_ne!(branch(Method::Prack, 2), branch(Method::Update, 2));
        assert_ne!(branch(Method::Bye, 1), invite);
    }

    #[test]
    fn responses_and_acks_drop_what_only_the_request_carries() {
        let invite = call().txn(Method::Invite, 1, flag::SDP | flag::RELIABLE | flag::FLOOD);
        assert_eq!(invite.response_flags(), flag::FLOOD);
        let ack = ack(invite.request(Leg::Access, 9));
        assert_eq!(
            (ack.method, ack.flags, ack.cseq, ack.ts),
            (Method::Ack, flag::RELIABLE | flag::FLOOD, 1, 9)
        );
    }
}
