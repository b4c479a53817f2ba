//! `cargo xtask ci`: every check CI runs, cheapest failure first.

use crate::e2e::e2e;
use crate::fuzz::fuzz_targets;
use crate::{root, run_cargo, TEST_COMMAND};

pub(crate) fn ci() -> Result<(), String> {
    run_cargo("format", &["fmt", "--all", "--", "--check"], &[])?;
    run_cargo(
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
        &[],
    )?;
    // Vendor OpenAPI specs for payload validation live beside the repository in CI. Tests validate
    // against them when AITRACE_SPECS_DIR is set and fail if it is set but missing: so CI (CI=true)
    // always sets it, and a local run sets it when the folder is there.
    let specs = root().join("..").join("shared").join("specs");
    let env: Vec<(&str, String)> = if std::env::var_os("CI").is_some() || specs.is_dir() {
        vec![("AITRACE_SPECS_DIR", specs.to_string_lossy().into_owned())]
    } else {
        println!("    (no ../shared/specs: payload checks against the vendors' OpenAPI specs are skipped)");
        vec![]
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_cargo("tests", TEST_COMMAND, &env)?;
    crate::features::each_feature()?;
    run_cargo(
        "docs",
        &["doc", "--workspace", "--all-features", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    crate::readme::readme()?;
    run_cargo(
        "quickstart",
        &["run", "--quiet", "--example", "quickstart"],
        &[],
    )?;
    // Scores offline: the example fails unless its JSONL file holds every score and nothing was lost.
    run_cargo(
        "feedback",
        &["run", "--quiet", "--example", "feedback"],
        &[],
    )?;
    // MCP offline: a client and its server as a child process over stdio; the example fails unless
    // both sides' spans form one trace, billed once, with no secret in either file.
    run_cargo("mcp", &["run", "--quiet", "--example", "mcp"], &[])?;
    // The client-library examples, offline against their built-in test server: never a real
    // endpoint from CI, whatever the machine's environment holds.
    std::env::remove_var("OPENAI_API_KEY");
    std::env::remove_var("OPENAI_BASE_URL");
    for example in ["async_openai", "rig"] {
        run_cargo(
            &format!("example {example}"),
            &["run", "--quiet", "--example", example],
            &[],
        )?;
    }
    // A web service as users write one, under the log filters services use: each run checks its
    // JSONL file holds one whole trace per request (3), rooted at the HTTP request.
    std::env::remove_var("RUST_LOG");
    let jsonl = root().join("target").join("service.jsonl");
    let jsonl = jsonl.to_string_lossy().into_owned();
    for log in [None, Some("info"), Some("warn")] {
        let mut env = vec![("AITRACE_JSONL_PATH", jsonl.as_str())];
        if let Some(level) = log {
            env.push(("RUST_LOG", level));
        }
        run_cargo(
            &format!("example service, RUST_LOG {}", log.unwrap_or("unset")),
            &["run", "--quiet", "--example", "service"],
            &env,
        )?;
    }
    // A short, reproducible run of each fuzz target (fixed seed and count, so CI never fails by
    // chance): keeps them building and catches what the seeds' neighbourhood holds. Longer, randomly
    // seeded runs: `cargo xtask fuzz`.
    fuzz_targets("100000 runs, seed 1", &["-seed=1", "-runs=100000"])?;
    e2e()
}
