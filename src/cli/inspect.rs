//! `imsight inspect FILE... [--json]`: the operator's first look at a capture.

use std::path::PathBuf;

use clap::Args;
use imsight_parsers::capture::DecoderConfig;

use super::CommandError;
use crate::inspect::{FileReport, SipCounts, inspect_path};

/// Options of `imsight inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// pcap or pcapng captures, or probe-record files (CSV or JSON lines).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print one JSON object per file (one per line) instead of text.
    #[arg(long)]
    pub json: bool,
    /// UDP port carrying HEP; repeat for several.
    #[arg(long = "hep-port", value_name = "PORT", default_value = "9060")]
    pub hep_ports: Vec<u16>,
}

/// Runs `imsight inspect`. Every file is reported; the command fails if any could not be read.
pub fn run(args: &InspectArgs) -> Result<(), CommandError> {
    let config = DecoderConfig { hep_ports: args.hep_ports.clone() };
    let mut failed = Vec::new();
    for file in &args.files {
        match inspect_path(file, &config) {
            Ok(report) if args.json => {
                println!("{}", serde_json::to_string(&report).map_err(CommandError::failed)?);
            }
            Ok(report) => print_text(&report),
            Err(error) => {
                eprintln!("imsight: {error}");
                failed.push(file.display().to_string());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Failed(anyhow::anyhow!("could not inspect {}", failed.join(", "))))
    }
}

fn print_text(report: &FileReport) {
    if report.format.starts_with("xdr") {
        println!(
            "{} ({}, {} records, {} timeouts)",
            report.file, report.format, report.records, report.timeouts
        );
        print_counts("  sip", &report.sip);
        print_errors(report);
        return;
    }
    println!(
        "{} ({}, {} frames, {} with SIP)",
        report.file, report.format, report.frames, report.sip_frames
    );
    print_counts("  sip", &report.sip);
    if report.hep.hep_packets > 0 {
        println!(
            "  hep      {} packets, {} not SIP",
            report.hep.hep_packets, report.hep.hep_non_sip_packets
        );
        print_counts("  sip/hep", &report.hep.sip);
    }
    let d = &report.decode;
    println!(
        "  decode   udp {} ({} not SIP), tcp segments {} (retransmitted {}, out of order {}, gaps {}, non-SIP streams {}), ip fragments {} -> {} datagrams, tunnelled {}, not ip {}, malformed {}, unsupported link {}",
        d.udp_datagrams,
        d.udp_not_sip,
        d.tcp_segments,
        d.tcp_retransmitted,
        d.tcp_out_of_order,
        d.tcp_gaps,
        d.tcp_not_sip_streams,
        d.ip_fragments,
        d.ip_reassembled,
        d.tunnelled,
        d.not_ip,
        d.malformed_frames,
        d.unsupported_link
    );
    if !report.anomalies.is_empty() {
        println!("  anomalies {}", pairs(report.anomalies.iter().map(|(k, v)| (*k, *v))));
    }
    print_errors(report);
}

fn print_errors(report: &FileReport) {
    if !report.errors.is_empty() {
        println!("  errors   {}", pairs(report.errors.iter().map(|(k, v)| (*k, *v))));
    }
    for sample in &report.error_samples {
        println!("           {sample}");
    }
}

fn print_counts(label: &str, counts: &SipCounts) {
    println!(
        "{label:<9}{} requests ({}), {} responses ({}; {})",
        counts.requests_total(),
        pairs(counts.requests.iter().map(|(k, v)| (k.as_str(), *v))),
        counts.responses_total(),
        pairs(counts.responses_by_class.iter().map(|(k, v)| (k.as_str(), *v))),
        pairs(counts.responses_by_code.iter().map(|(k, v)| (k.as_str(), *v))),
    );
}

fn pairs<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> String {
    let text: Vec<String> = items.map(|(k, v)| format!("{k} {v}")).collect();
    if text.is_empty() { "-".to_owned() } else { text.join(", ") }
}
