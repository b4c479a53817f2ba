//! Send the quickstart's simulated agent trace to Langfuse.
//!
//! ```sh
//! LANGFUSE_PUBLIC_KEY=pk-lf-... LANGFUSE_SECRET_KEY=sk-lf-... \
//! LANGFUSE_BASE_URL=https://cloud.langfuse.com \
//!   cargo run --example langfuse --features langfuse
//! ```
//! Missing keys are reported by name and nothing is sent.

use std::time::Duration;

#[allow(dead_code)]
#[path = "quickstart.rs"]
mod quickstart;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = match aitrace::langfuse::LangfuseExporter::from_env() {
        Ok(exporter) => exporter,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("Set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (and LANGFUSE_BASE_URL when self-hosted).");
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
