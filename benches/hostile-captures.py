#!/usr/bin/env python3
"""Writes the two hostile captures of the hardening checks (pcap, raw IPv4 link type):

  fragments.pcap  N first fragments of UDP datagrams that never complete
  flows.pcap      N TCP flows, each one segment holding the first half of a SIP message

    benches/hostile-captures.py OUT_DIR [N]      (N defaults to 1,000,000)

Then compare peak memory, e.g.
    /usr/bin/time -f '%M KB' target/release/imsight inspect OUT_DIR/fragments.pcap
"""
import struct
import sys

out_dir = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)  # LINKTYPE_RAW


def record(ts, packet):
    return struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(packet), len(packet)) + packet


def ipv4(src, dst, proto, ident, flags_offset, payload):
    total = 20 + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, flags_offset, 64, proto, 0, src, dst) + payload


def address(i):
    return bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])


start = 1_795_291_200_000_000
with open(f"{out_dir}/fragments.pcap", "wb") as f:
    f.write(PCAP_HEADER)
    chunk = b"\x5a" * 1400
    for i in range(n):
        # More fragments follow (MF), offset 0: the rest never comes.
        f.write(record(start + i, ipv4(address(i), b"\x0a\xff\x00\x01", 17, i & 0xFFFF, 0x2000, chunk)))

half = b"INVITE sip:b@ims.example SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1\r\nContent-Length: 900\r\n\r\n" + b"v" * 400
with open(f"{out_dir}/flows.pcap", "wb") as f:
    f.write(PCAP_HEADER)
    for i in range(n):
        tcp = struct.pack("!HHIIBBHHH", 40000 + (i % 20000), 5060, 1000, 0, 0x50, 0x18, 65535, 0, 0) + half
        f.write(record(start + i, ipv4(address(i), b"\x0a\xff\x00\x01", 6, 1, 0x4000, tcp)))
