//! SIP as a datagram and as a stream, with every typed accessor.
#![no_main]

use imsight_parsers::sip::{parse_sip_message, parse_sip_stream, parse_start_line, split_list};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_start_line(data);
    let _ = parse_sip_stream(data);
    let mut rest = data;
    while let Ok((next, m)) = parse_sip_message(rest) {
        assert!(next.len() < rest.len(), "parsing must consume input");
        let _ = (m.method(), m.status(), m.call_id(), m.cseq(), m.top_via(), m.from(), m.to());
        let _ = (m.contact(), m.p_asserted_identity(), m.expires(), m.retry_after(), m.reason());
        let _ = (m.user_agent(), m.server(), m.content_length(), m.vias().count());
        for header in &m.headers {
            let _ = split_list(header.value).count();
        }
        rest = next;
    }
});
