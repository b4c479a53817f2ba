//! Project tasks: `cargo xtask ci` runs every check CI runs, in the order a failure is cheapest.

use std::process::{Command, ExitCode};
use std::time::Instant;

/// The test command the README gives; CI runs exactly this.
const TEST_COMMAND: &[&str] = &["test", "--workspace", "--all-features"];

struct Step {
    name: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
}

fn step(name: &'static str, args: &[&'static str]) -> Step {
    Step {
        name,
        args: args.to_vec(),
        env: Vec::new(),
    }
}

fn ci_steps() -> Vec<Step> {
    vec![
        step("format", &["fmt", "--all", "--", "--check"]),
        step(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        ),
        step("tests", TEST_COMMAND),
        Step {
            env: vec![("RUSTDOCFLAGS", "-D warnings")],
            ..step(
                "docs",
                &["doc", "--workspace", "--all-features", "--no-deps"],
            )
        },
        step("quickstart", &["run", "--quiet", "--example", "quickstart"]),
    ]
}

fn run(steps: Vec<Step>) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    for s in steps {
        let started = Instant::now();
        println!("==> {} (cargo {})", s.name, s.args.join(" "));
        let mut cmd = Command::new(&cargo);
        cmd.args(&s.args);
        for (k, v) in &s.env {
            cmd.env(k, v);
        }
        match cmd.status() {
            Ok(status) if status.success() => {
                println!(
                    "<== {} ok in {:.1}s",
                    s.name,
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(status) => {
                eprintln!("<== {} FAILED ({status})", s.name);
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("<== {} could not start cargo: {e}", s.name);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => run(ci_steps()),
        Some("test") => run(vec![step("tests", TEST_COMMAND)]),
        _ => {
            eprintln!("usage: cargo xtask <ci|test>");
            eprintln!("  ci    format check, clippy -D warnings, tests, docs (warnings denied), quickstart");
            eprintln!("  test  cargo {}", TEST_COMMAND.join(" "));
            ExitCode::FAILURE
        }
    }
}
