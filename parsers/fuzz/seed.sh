#!/usr/bin/env bash
# Seeds the fuzz corpora (git-ignored) from the repository's own data and its capture corpus.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p corpus/{parse_sip,parse_hep,decode_frame,capture_file,tcp_stream,parse_xdr,structured_hep_sip}
printf 'INVITE sip:bob@ims.example SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nf: <sip:a@x>;tag=1\r\nt: sip:b@x\r\ni: c1\r\nCSeq: 1 INVITE\r\nl: 4\r\n\r\nv=0\n' > corpus/parse_sip/invite
printf 'SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK2, SIP/2.0/UDP b\r\nSubject: folded\r\n line\r\nContent-Length: 0\r\n\r\n' > corpus/parse_sip/response
printf 'HEP3\x00\x20\x00\x00\x00\x0b\x00\x07\x01\x00\x00\x00\x0f\x00\x13SIP/2.0 200 OK\r\n\r\n' > corpus/parse_hep/hep3
cp ../../tests/data/xdr/* corpus/parse_xdr/
for f in ../../tests/data/corpus/*.pcap ../../tests/data/corpus/*.pcapng; do
    [ "$(stat -c %s "$f")" -lt 200000 ] && cp "$f" corpus/capture_file/
done
echo "seeded: $(find corpus -type f | wc -l) files"
