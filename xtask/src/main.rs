//! Project tasks:
//! - `cargo xtask ci`: every check CI runs, cheapest failure first (fmt, clippy, tests, docs,
//!   quickstart and the client-library examples, a short run of each fuzz target, the Phoenix end-to-end test).
//! - `cargo xtask e2e`: the end-to-end test against a real OpenTelemetry backend (Arize Phoenix).
//! - `cargo xtask test`: the README's test command.
//! - `cargo xtask readme`: README's "Add it to your app" built as a new project.
//! - `cargo xtask features`: every crate checked alone with no features and with each feature.
//! - `cargo xtask bench [--peers]`: benchmarks, written to docs/PERFORMANCE.md.
//! - `cargo xtask fuzz [N] [S]`: property tests with N iterations, then each `cargo fuzz` target for S s.

mod bench;
mod ci;
mod e2e;
mod features;
mod fuzz;
mod net;
mod readme;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use bench::bench;
use ci::ci;
use e2e::e2e;
use fuzz::fuzz;

/// The test command the README gives; CI runs exactly this, in parallel like `cargo test` by default
/// (the tests install their thread-local subscribers through `aitrace_core::testing::with_default`,
/// which keeps tracing-core's callsite-interest cache from racing between test threads).
pub(crate) const TEST_COMMAND: &[&str] = &["test", "--workspace", "--all-features"];

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub(crate) fn run_cargo(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    println!("==> {name} (cargo {})", args.join(" "));
    let started = Instant::now();
    let mut cmd = cargo();
    cmd.current_dir(root()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: cannot start cargo: {e}"))?;
    if status.success() {
        println!("<== {name} ok in {:.1}s", started.elapsed().as_secs_f64());
        Ok(())
    } else {
        Err(format!("{name} failed ({status}){}", disk_note()))
    }
}

/// The free space under the workspace, when `df` can tell: a build that fails for lack of disk
/// (a linker killed by SIGBUS, a truncated archive) says nothing about it by itself.
fn disk_note() -> String {
    let out = Command::new("df")
        .args(["-Pk", "."])
        .current_dir(root())
        .output();
    let Ok(out) = out else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kb = text
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|kb| kb.parse::<u64>().ok());
    match free_kb {
        Some(kb) => format!("; {:.1} GB free on the workspace's disk", kb as f64 / 1e6),
        None => String::new(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("e2e") => e2e(),
        Some("bench") => bench(args.iter().any(|a| a == "--peers")),
        Some("fuzz") => fuzz(
            args.get(1).map(String::as_str).unwrap_or("100000"),
            args.get(2).map(String::as_str).unwrap_or("120"),
        ),
        Some("test") => run_cargo("tests", TEST_COMMAND, &[]),
        Some("readme") => readme::readme(),
        Some("features") => features::each_feature(),
        _ => {
            eprintln!("usage: cargo xtask <ci|e2e|test|features|bench|fuzz>");
            eprintln!(
                "  features  check every crate alone, with no features and with each feature"
            );
            eprintln!(
                "  bench [--peers] run the benchmarks, write docs/PERFORMANCE.md (ratios from one run); --peers adds the Langfuse Python SDK comparison"
            );
            eprintln!("  ci    fmt --check, clippy -D warnings, tests, docs (warnings denied), examples, e2e");
            eprintln!("  e2e   install Arize Phoenix (PyPI), export the quickstart to it, check what it stored");
            eprintln!("  test  cargo {}", TEST_COMMAND.join(" "));
            eprintln!("  readme  build README's \"Add it to your app\" as a new project");
            eprintln!("  fuzz [N] [S]  property tests with N iterations and a fresh seed, then each cargo-fuzz target for S seconds");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
