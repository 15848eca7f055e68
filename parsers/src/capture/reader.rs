//! pcap and pcapng containers, through `pcap-parser`, as a stream of timestamped frames.

use std::io::Read;
use std::ops::ControlFlow;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::link::LinkType;
use crate::error::ParseError;

/// Read buffer: a capture record larger than this (far beyond any real frame) is refused as
/// damage (`PcapError::BufferTooSmall`).
const READ_BUFFER: usize = 1 << 20;

/// Which container a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Legacy libpcap (micro- or nanosecond).
    Pcap,
    /// pcapng.
    PcapNg,
}

impl CaptureFormat {
    /// Recognises a capture by its first four bytes.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        match head.get(..4)? {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] => Some(Self::Pcap),
            [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => Some(Self::Pcap),
            [0x0a, 0x0d, 0x0d, 0x0a] => Some(Self::PcapNg),
            _ => None,
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Capture time, microseconds since the epoch.
    pub ts_micros: u64,
    /// How to decode `data`.
    pub link_type: LinkType,
    /// The captured bytes (possibly shorter than the packet on the wire).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub wire_len: u32,
}

/// Per-interface facts a pcapng file declares before its packets.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    offset_secs: i64,
}

/// Reads frames from a pcap or pcapng stream.
pub struct CaptureReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    /// Legacy pcap: the file's link type and whether timestamps are nanoseconds.
    legacy: Option<(LinkType, bool)>,
    interfaces: Vec<Interface>,
    frames: u64,
}

impl std::fmt::Debug for CaptureReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader").field("frames", &self.frames).finish_non_exhaustive()
    }
}

impl<'r> CaptureReader<'r> {
    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Opens a capture stream; fails if it is neither pcap nor pcapng.
    pub fn new(source: impl Read + Send + 'r) -> Result<Self, ParseError> {
        let inner = pcap_parser::create_reader(READ_BUFFER, source)
            .map_err(|_| ParseError::UnknownCaptureFormat)?;
        Ok(Self { inner, legacy: None, interfaces: Vec::new(), frames: 0 })
    }

    /// Calls `on_frame` for every frame until the end of the stream or until it breaks. A
    /// damaged file ends with an error after the frames before the damage were delivered.
    pub fn for_each_frame(
        &mut self,
        mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> Result<(), ParseError> {
        loop {
            match self.inner.next() {
                Ok((offset, block)) => {
                    let flow = match block {
                        PcapBlockOwned::LegacyHeader(header) => {
                            self.legacy = Some((
                                LinkType(header.network.0),
                                header.is_nanosecond_precision(),
                            ));
                            ControlFlow::Continue(())
                        }
                        PcapBlockOwned::Legacy(record) => {
                            let (link_type, nanos) = self.legacy.unwrap_or((LinkType(1), false));
                            let fraction = u64::from(record.ts_usec);
                            let micros = if nanos { fraction / 1000 } else { fraction };
                            self.frames += 1;
                            on_frame(Frame {
                                ts_micros: u64::from(record.ts_sec) * 1_000_000 + micros,
                                link_type,
                                data: record.data,
                                wire_len: record.origlen,
                            })
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                            // Interface ids restart in every section.
                            self.interfaces.clear();
                            ControlFlow::Continue(())
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                            self.interfaces.push(Interface {
                                link_type: LinkType(idb.linktype.0),
                                resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                                offset_secs: idb.ts_offset(),
                            });
                            ControlFlow::Continue(())
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                            let Some(interface) = self.interfaces.get(epb.if_id as usize).copied()
                            else {
                                return Err(ParseError::DamagedCapture);
                            };
                            let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let micros = ticks_to_micros(ticks, interface.resolution)
                                .saturating_add_signed(
                                    interface.offset_secs.saturating_mul(1_000_000),
                                );
                            self.frames += 1;
                            on_frame(Frame {
                                ts_micros: micros,
                                link_type: interface.link_type,
                                data: epb.data,
                                wire_len: epb.origlen,
                            })
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                            // Simple packets have no timestamp and belong to interface 0.
                            let Some(interface) = self.interfaces.first().copied() else {
                                return Err(ParseError::DamagedCapture);
                            };
                            self.frames += 1;
                            on_frame(Frame {
                                ts_micros: 0,
                                link_type: interface.link_type,
                                data: spb.data,
                                wire_len: spb.origlen,
                            })
                        }
                        PcapBlockOwned::NG(_) => ControlFlow::Continue(()),
                    };
                    self.inner.consume(offset);
                    if flow.is_break() {
                        return Ok(());
                    }
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => {
                    self.inner.refill().map_err(|_| ParseError::DamagedCapture)?;
                }
                Err(_) => return Err(ParseError::DamagedCapture),
            }
        }
    }
}

/// Converts `ticks` of `1 / resolution` seconds to microseconds without overflow.
fn ticks_to_micros(ticks: u64, resolution: u64) -> u64 {
    let seconds = ticks / resolution;
    let rest = ticks % resolution;
    let fraction = (u128::from(rest) * 1_000_000 / u128::from(resolution)) as u64;
    seconds.saturating_mul(1_000_000).saturating_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_convert_to_microseconds() {
        assert_eq!(ticks_to_micros(1_500_000, 1_000_000), 1_500_000);
        assert_eq!(ticks_to_micros(1_500_000_000, 1_000_000_000), 1_500_000);
        assert_eq!(ticks_to_micros(15, 10), 1_500_000);
        assert_eq!(ticks_to_micros(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn formats_are_sniffed_by_magic() {
        assert_eq!(CaptureFormat::sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 2]), Some(CaptureFormat::Pcap));
        assert_eq!(CaptureFormat::sniff(&[0x0a, 0x0d, 0x0d, 0x0a]), Some(CaptureFormat::PcapNg));
        assert_eq!(CaptureFormat::sniff(b"node,"), None);
        assert_eq!(CaptureFormat::sniff(b"ab"), None);
    }

    #[test]
    fn garbage_is_not_a_capture() {
        assert_eq!(
            CaptureReader::new(&b"this is not a capture file"[..]).err(),
            Some(ParseError::UnknownCaptureFormat)
        );
    }
}
