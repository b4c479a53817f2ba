//! `cargo xtask fuzz`: property tests with fresh seeds, then each `cargo fuzz` target.

use crate::{cargo, root, run_cargo};

/// The `cargo fuzz` targets in `fuzz/fuzz_targets`.
pub(crate) const FUZZ_TARGETS: [&str; 3] = ["redact", "json_content", "mappings"];

/// Runs the property tests (redaction, and the OTel, Langfuse and Braintrust mappings) with many more
/// iterations and a fresh seed, printed so a failure can be replayed, then each libFuzzer target.
pub(crate) fn fuzz(iterations: &str, seconds: &str) -> Result<(), String> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    println!("==> fuzz: seed {seed}, {iterations} iterations per property (replay: AITRACE_FUZZ_SEED={seed})");
    run_cargo(
        "property tests",
        &[
            "test",
            "--release",
            "--all-features",
            "-p",
            "aitrace-filters",
            "-p",
            "aitrace-otel",
            "-p",
            "aitrace-langfuse",
            "-p",
            "aitrace-braintrust",
            "--",
            "--test-threads=1",
            "random_json",
            "values_without_secrets",
            "arbitrary",
        ],
        &[
            ("AITRACE_FUZZ_SEED", &seed.to_string()),
            ("AITRACE_FUZZ_ITERATIONS", iterations),
        ],
    )?;
    let limit = format!("-max_total_time={seconds}");
    fuzz_targets(&format!("{seconds}s"), &[&limit])
}

/// The libFuzzer targets in `fuzz/` (redaction, the JSON-in-string parser, the three mappings), each
/// run with these libFuzzer options. `-s none`: without a sanitizer `cargo fuzz` works on a stable
/// toolchain. A crash leaves its input in `fuzz/artifacts/<target>/`; replay it with
/// `cargo fuzz run -s none <target> <file>`.
pub(crate) fn fuzz_targets(what: &str, options: &[&str]) -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        return Err(
            "cargo-fuzz is not installed (`cargo install cargo-fuzz`; .ci/run does this)".into(),
        );
    }
    for target in FUZZ_TARGETS {
        // The corpus libFuzzer grows (kept between runs, not committed), plus the committed seeds:
        // span records in their JSON form, which the fuzzer would take long to invent.
        let corpus = format!("fuzz/corpus/{target}");
        std::fs::create_dir_all(root().join(&corpus)).map_err(|e| format!("{corpus}: {e}"))?;
        let mut args = vec![
            "fuzz",
            "run",
            "-s",
            "none",
            target,
            &corpus,
            "fuzz/seeds",
            "--",
        ];
        args.extend_from_slice(options);
        run_cargo(&format!("fuzz target {target}, {what}"), &args, &[])?;
    }
    Ok(())
}
