//! Send the quickstart's simulated agent trace to Braintrust project logs.
//!
//! ```sh
//! BRAINTRUST_API_KEY=... BRAINTRUST_PROJECT=aitrace-quickstart \
//!   cargo run --example braintrust --features braintrust
//! ```
//! A missing key is reported by name and nothing is sent.

use std::time::Duration;

#[allow(dead_code)]
#[path = "quickstart.rs"]
mod quickstart;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = match aitrace::braintrust::BraintrustExporter::from_env("aitrace-quickstart") {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let guard = aitrace::builder()
        .exporter(exporter)
        .console(true)
        .install()?;
    let answer = quickstart::run_agent("Where is order #1042?")?;
    println!("answer: {answer}");
    let report = guard.shutdown(Duration::from_secs(15));
    for e in &report.stats.exporters {
        println!("{}: exported {}, lost {}", e.name, e.exported, e.dropped());
        if let Some(err) = &e.last_error {
            println!("  last error: {err}");
        }
    }
    Ok(())
}
