//! Writes the benchmark capture: `cargo run --release -p imsight-parsers --example
//! bench_capture -- OUT.pcap [DIALOGS] [--hep]`. Used by `benches/tshark-compare.sh`.

#[path = "../benches/support/mix.rs"]
mod mix;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: bench_capture OUT.pcap [DIALOGS] [--hep]");
        std::process::exit(2);
    };
    let rest: Vec<String> = args.collect();
    let dialogs = rest.iter().find_map(|a| a.parse().ok()).unwrap_or(40_000);
    let hep = rest.iter().any(|a| a == "--hep");
    let messages = mix::ims_mix(dialogs);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut pcap = Vec::new();
    mix::write_pcap(&messages, hep, &mut pcap);
    if let Err(error) = std::fs::write(&out, &pcap) {
        eprintln!("cannot write {out}: {error}");
        std::process::exit(1);
    }
    println!(
        "{out}: {} SIP messages, mean {} bytes, {} MB{}",
        messages.len(),
        bytes / messages.len().max(1),
        pcap.len() / 1_000_000,
        if hep { ", inside HEPv3" } else { "" }
    );
}
