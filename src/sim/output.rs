//! Where simulated traffic goes: pcap, HEP over UDP, probe records, and the summary.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;

use imsight_parsers::xdr::time::format_timestamp;

use super::engine::{Output, TxnRecord};
use super::summary::Summary;
use super::wire::{Leg, SimMessage, call_id, render, subscriber_hash};

/// A pcap file of Ethernet/IPv4/UDP frames.
#[derive(Debug)]
pub struct PcapWriter {
    out: BufWriter<File>,
    ip_id: u16,
    frame: Vec<u8>,
}

impl PcapWriter {
    /// Creates `path` and writes the pcap header (microseconds, Ethernet).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
        out.write_all(&65_535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?;
        Ok(Self { out, ip_id: 0, frame: Vec::with_capacity(2048) })
    }

    /// Writes one message as a frame.
    pub fn write(&mut self, message: &SimMessage, payload: &[u8]) -> std::io::Result<()> {
        let ((src, sport), (dst, dport)) = message.endpoints();
        let f = &mut self.frame;
        f.clear();
        // Ethernet: locally administered MACs derived from the addresses.
        f.extend_from_slice(&[0x02, 0x00]);
        f.extend_from_slice(&dst.octets());
        f.extend_from_slice(&[0x02, 0x00]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&[0x08, 0x00]);
        // IPv4 (no options; DF set; checksum filled below).
        let total = (20 + 8 + payload.len()) as u16;
        self.ip_id = self.ip_id.wrapping_add(1);
        let header_at = f.len();
        f.extend_from_slice(&[0x45, 0x00]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&self.ip_id.to_be_bytes());
        f.extend_from_slice(&[0x40, 0x00, 64, 17, 0, 0]);
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        let checksum = ipv4_checksum(&f[header_at..header_at + 20]);
        f[header_at + 10..header_at + 12].copy_from_slice(&checksum.to_be_bytes());
        // UDP; checksum 0 means "not computed", which IPv4 allows.
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        let len = f.len() as u32;
        self.out.write_all(&((message.ts / 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&((message.ts % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(f)
    }

    /// Flushes the file.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 =
        header.chunks_exact(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends every message as HEPv3 over UDP, paced by simulated time.
#[derive(Debug)]
pub struct HepSender {
    transport: HepTransport,
    /// Simulated seconds per real second; 0 sends as fast as possible.
    speed: f64,
    started: Option<(u64, std::time::Instant)>,
    stats: HepSenderStats,
    node_names: Vec<String>,
    /// The HEP authentication key (chunk 0x000e) carried by every packet, when set.
    auth_key: Option<Vec<u8>>,
}

/// How HEP leaves the sender.
#[derive(Debug)]
enum HepTransport {
    /// One datagram per packet.
    Udp(UdpSocket),
    /// Packets back to back on one connection (HEPv3 carries its length).
    Tcp(std::io::BufWriter<std::net::TcpStream>),
}

/// What a [`HepSender`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HepSenderStats {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams the socket refused (full buffer, no listener yet on some systems).
    pub send_failed: u64,
}

impl HepSender {
    /// A sender to `target`.
    pub fn connect(
        target: SocketAddr,
        speed: f64,
        node_names: Vec<String>,
    ) -> std::io::Result<Self> {
        let bind: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            "[::]:0".parse().unwrap_or(target)
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(target)?;
        Ok(Self::over(HepTransport::Udp(socket), speed, node_names))
    }

    /// A sender of HEP over TCP to `target` (connected now).
    pub fn connect_tcp(
        target: SocketAddr,
        speed: f64,
        node_names: Vec<String>,
    ) -> std::io::Result<Self> {
        let stream = std::net::TcpStream::connect(target)?;
        stream.set_nodelay(true)?;
        let transport = HepTransport::Tcp(std::io::BufWriter::with_capacity(64 * 1024, stream));
        Ok(Self::over(transport, speed, node_names))
    }

    fn over(transport: HepTransport, speed: f64, node_names: Vec<String>) -> Self {
        Self {
            transport,
            speed,
            started: None,
            stats: HepSenderStats::default(),
            node_names,
            auth_key: None,
        }
    }

    /// Sends what is buffered (TCP); called at the end.
    pub fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.transport {
            HepTransport::Udp(_) => Ok(()),
            HepTransport::Tcp(stream) => std::io::Write::flush(stream),
        }
    }

    /// Carries `key` as the HEP authentication key in every packet.
    pub fn with_auth_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.auth_key = key;
        self
    }

    /// Sends one message, waiting until its time at the chosen speed.
    pub fn send(&mut self, message: &SimMessage, payload: &[u8]) -> std::io::Result<()> {
        if self.speed > 0.0 {
            let (first, wall) =
                *self.started.get_or_insert((message.ts, std::time::Instant::now()));
            let due =
                std::time::Duration::from_secs_f64((message.ts - first) as f64 / 1e6 / self.speed);
            if let Some(wait) = due.checked_sub(wall.elapsed()) {
                // What waits in the TCP buffer leaves before the pause, on time.
                self.flush()?;
                std::thread::sleep(wait);
            }
        }
        let ((src, sport), (dst, dport)) = message.endpoints();
        let (src_octets, dst_octets) = (src.octets(), dst.octets());
        let name = self.node_names.get(message.node as usize).map_or("", String::as_str);
        let sport = sport.to_be_bytes();
        let dport = dport.to_be_bytes();
        let seconds = ((message.ts / 1_000_000) as u32).to_be_bytes();
        let micros = ((message.ts % 1_000_000) as u32).to_be_bytes();
        let capture_id = (2001 + u32::from(message.node)).to_be_bytes();
        let mut chunks: Vec<(u16, u16, &[u8])> = vec![
            (0, 0x01, &[2]),
            (0, 0x02, &[17]),
            (0, 0x03, &src_octets),
            (0, 0x04, &dst_octets),
            (0, 0x07, &sport),
            (0, 0x08, &dport),
            (0, 0x09, &seconds),
            (0, 0x0a, &micros),
            (0, 0x0b, &[1]),
            (0, 0x0c, &capture_id),
            (0, 0x13, name.as_bytes()),
        ];
        if let Some(key) = &self.auth_key {
            chunks.push((0, 0x0e, key));
        }
        chunks.push((0, 0x0f, payload));
        let packet = imsight_parsers::hep::build_hep3(&chunks);
        // A full socket buffer is not fatal for a traffic generator: count and go on.
        match &mut self.transport {
            HepTransport::Udp(socket) => match socket.send(&packet) {
                Ok(_) => self.stats.sent += 1,
                Err(_) => self.stats.send_failed += 1,
            },
            // A stream either takes everything or is broken: that ends the run.
            HepTransport::Tcp(stream) => {
                std::io::Write::write_all(stream, &packet)?;
                self.stats.sent += 1;
            }
        }
        Ok(())
    }

    /// What the sender counted.
    pub fn stats(&self) -> HepSenderStats {
        self.stats
    }
}

/// Probe records in the documented CSV or JSON-lines format (docs/formats/xdr.md).
#[derive(Debug)]
pub struct XdrWriter {
    out: BufWriter<File>,
    json: bool,
    node_names: Vec<String>,
}

impl XdrWriter {
    /// Creates `path`; `.jsonl`/`.ndjson`/`.json` give JSON lines, anything else CSV.
    pub fn create(path: &Path, node_names: Vec<String>) -> std::io::Result<Self> {
        let name = path.to_string_lossy().to_ascii_lowercase();
        let json = name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json");
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        if !json {
            writeln!(
                out,
                "start_time,end_time,latency_ms,node,procedure,result,subscriber,call_id,leg,direction"
            )?;
        }
        Ok(Self { out, json, node_names })
    }

    /// Writes one record.
    pub fn write(&mut self, r: &TxnRecord) -> std::io::Result<()> {
        let node = self.node_names.get(r.node as usize).map_or("", String::as_str);
        let result = r.result.map_or_else(|| "timeout".to_owned(), |code| code.to_string());
        let latency = (r.end - r.start) as f64 / 1000.0;
        let leg = if r.leg == Leg::Access { "access" } else { "core" };
        let direction = if r.inbound { "in" } else { "out" };
        let subscriber = subscriber_hash(r.node, r.sub);
        let call = call_id(r.node, r.sub, r.dialog, r.dir);
        let (start, end) = (format_timestamp(r.start), format_timestamp(r.end));
        let method = r.method.as_str();
        if self.json {
            let result = match r.result {
                Some(code) => code.to_string(),
                None => "\"timeout\"".to_owned(),
            };
            writeln!(
                self.out,
                "{{\"start_time\":\"{start}\",\"end_time\":\"{end}\",\"latency_ms\":{latency:.3},\"node\":{},\"procedure\":\"{method}\",\"result\":{result},\"subscriber\":\"{subscriber}\",\"call_id\":\"{call}\",\"leg\":\"{leg}\",\"direction\":\"{direction}\"}}",
                serde_json::Value::from(node)
            )
        } else {
            writeln!(
                self.out,
                "{start},{end},{latency:.3},{node},{method},{result},{subscriber},{call},{leg},{direction}"
            )
        }
    }

    /// Flushes the file.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Everything one run writes to.
pub struct Outputs {
    /// pcap file.
    pub pcap: Option<PcapWriter>,
    /// HEP sender.
    pub hep: Option<HepSender>,
    /// Probe records.
    pub xdr: Option<XdrWriter>,
    /// Counts and series (always kept).
    pub summary: Summary,
    /// Progress display.
    pub progress: Option<indicatif::ProgressBar>,
    /// Scenario start, µs (for progress in minutes).
    pub start: u64,
    /// The first write error; writing stops after it.
    pub error: Option<std::io::Error>,
    /// Only messages (and records starting) in `[from, until)` µs are written or sent; the
    /// scenario still runs from its start, so the traffic is the same as in a whole run, and
    /// the summary and labels cover the whole run.
    pub span: (u64, u64),
    buffer: Vec<u8>,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outputs").finish_non_exhaustive()
    }
}

impl Outputs {
    /// Outputs that only count (add writers to the public fields).
    pub fn new(summary: Summary, start: u64) -> Self {
        Self {
            pcap: None,
            hep: None,
            xdr: None,
            summary,
            progress: None,
            start,
            error: None,
            span: (0, u64::MAX),
            buffer: Vec::with_capacity(2048),
        }
    }

    /// Flushes the files.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if let Some(pcap) = &mut self.pcap {
            pcap.finish()?;
        }
        if let Some(xdr) = &mut self.xdr {
            xdr.finish()?;
        }
        if let Some(hep) = &mut self.hep {
            hep.flush()?;
        }
        if let Some(progress) = &self.progress {
            progress.finish_and_clear();
        }
        Ok(())
    }

    fn keep(&mut self, result: std::io::Result<()>) {
        if let Err(error) = result
            && self.error.is_none()
        {
            self.error = Some(error);
        }
    }
}

impl Output for Outputs {
    fn benign(&mut self, node: u16, from: u64, to: u64, event: &'static str) {
        self.summary.benign(node, from, to, event);
    }

    fn message(&mut self, message: &SimMessage) {
        self.summary.message(message);
        if self.error.is_some()
            || (self.pcap.is_none() && self.hep.is_none())
            || message.ts < self.span.0
            || message.ts >= self.span.1
        {
            return;
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        render(message, &mut buffer);
        if let Some(pcap) = &mut self.pcap {
            let result = pcap.write(message, &buffer);
            self.keep(result);
        }
        if let Some(hep) = &mut self.hep {
            let result = hep.send(message, &buffer);
            self.keep(result);
        }
        self.buffer = buffer;
    }

    fn transaction(&mut self, record: &TxnRecord) {
        self.summary.transaction(record);
        if record.start < self.span.0 || record.start >= self.span.1 {
            return;
        }
        if let Some(xdr) = &mut self.xdr {
            let result = xdr.write(record);
            self.keep(result);
        }
    }

    fn progress(&mut self, now: u64) {
        if let Some(progress) = &self.progress {
            progress.set_position(now.saturating_sub(self.start) / crate::time::MINUTE_US);
        }
    }
}
