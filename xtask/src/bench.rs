//! `cargo xtask bench`: the benchmarks, written to docs/PERFORMANCE.md as ratios from one run.

use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, http_request, json_number, python_venv, Service};
use crate::{cargo, root, run_cargo};

/// Mean time (ns) criterion measured for `group/bench` in this run.
pub(crate) fn criterion_mean(group: &str, bench: &str) -> Option<f64> {
    let path = root()
        .join("target")
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    // {"mean":{"confidence_interval":{...},"point_estimate":123.4,...},...}
    let mean = &text[text.find("\"mean\"")?..];
    let value = &mean[mean.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    value.split([',', '}']).next()?.trim().parse().ok()
}

pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else if ns >= 10.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{ns:.2} ns")
    }
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores, {cpu}; {rustc}; release profile")
}

/// Traces each side of the peer comparison builds (the Python SDK is ~100× slower per span).
pub(crate) const PEER_TRACES_PYTHON: u64 = 2_000;
pub(crate) const PEER_TRACES_AITRACE: u64 = 20_000;

/// One side of the peer comparison, as measured.
pub(crate) struct PeerRun {
    pub(crate) side: String,
    pub(crate) ns_per_span: f64,
    pub(crate) produced: f64,
    pub(crate) received: f64,
}

/// The last line of a peer program's output that is a JSON object, with the sink's count, which is
/// then reset for the next side.
pub(crate) fn peer_result(side: &str, stdout: &[u8], sink: &str) -> Result<PeerRun, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{side}: no result line in {text:?}"))?;
    let field = |k: &str| json_number(line, k).ok_or_else(|| format!("{side}: no {k} in {line}"));
    let count = http_request(sink, "GET", "/count")?;
    let received = json_number(&count, "spans").ok_or_else(|| format!("sink: {count}"))?;
    http_request(sink, "POST", "/reset")?;
    Ok(PeerRun {
        side: side.to_string(),
        ns_per_span: field("ns_per_span")?,
        produced: field("produced")?,
        received,
    })
}

/// `bench --peers`: the same nested trace built with the Langfuse Python SDK (installed from PyPI into
/// a cached venv) and with aitrace, both exporting to one loopback sink that counts what arrives.
/// Returns the PERFORMANCE.md section.
pub(crate) fn peers() -> Result<String, String> {
    let dir = root().join("target").join("peers");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let peers_dir = root().join("bench").join("peers");
    let requirements: Vec<String> = std::fs::read_to_string(peers_dir.join("requirements.txt"))
        .map_err(|e| format!("bench/peers/requirements.txt: {e}"))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let venv_name = format!(
        "venv-{}",
        requirements.join("-").replace(['=', '<', '>'], "")
    );
    let python = python_venv(&dir, &venv_name, &requirements)?
        .join("bin")
        .join("python");
    let port = free_port()?;
    let sink = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(&python);
    cmd.arg(peers_dir.join("sink.py")).arg(port.to_string());
    let service = Service::start(
        cmd,
        "the sink",
        dir.join("sink.log"),
        &sink,
        "/count",
        Duration::from_secs(60),
    )?;
    let base_url = format!("http://{sink}");
    println!("==> peers: Langfuse Python SDK, {PEER_TRACES_PYTHON} traces");
    let out = Command::new(&python)
        .arg(peers_dir.join("langfuse_sdk.py"))
        .arg(&base_url)
        .arg(PEER_TRACES_PYTHON.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "langfuse_sdk.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut runs = vec![peer_result(
        "Langfuse Python SDK 5 (OTel BatchSpanProcessor, queue 2048)",
        &out.stdout,
        &sink,
    )?];
    for (side, queue) in [
        ("aitrace, Langfuse exporter (default queue, 2048)", ""),
        ("aitrace, Langfuse exporter (queue 100 000)", "100000"),
    ] {
        println!("==> peers: {side}, {PEER_TRACES_AITRACE} traces");
        let out = cargo()
            .current_dir(root())
            .args([
                "bench",
                "--quiet",
                "--bench",
                "peer_trace",
                "--features",
                "langfuse",
            ])
            .env("AITRACE_PEER_SINK", &base_url)
            .env("AITRACE_PEER_TRACES", PEER_TRACES_AITRACE.to_string())
            .env("AITRACE_PEER_QUEUE", queue)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "peer_trace failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        runs.push(peer_result(side, &out.stdout, &sink)?);
    }
    drop(service);
    let python_ns = runs[0].ns_per_span;
    let mut doc = String::from("\n## Peer comparison: the Langfuse Python SDK\n\n");
    doc += "The same nested trace (agent → generation with ~1 KB input and output, parameters and usage →\n";
    doc += "tool), built in a loop by each side and exported to one loopback OTLP/HTTP sink\n";
    doc += "(`bench/peers/sink.py`, which parses each request and counts the spans). Time per span on the\n";
    doc += "creating thread; dropped = produced − received by the sink. Reproduce: `cargo xtask bench --peers`.\n\n";
    doc += "| side | time per span | Python SDK ÷ this | produced | received | dropped |\n|---|---:|---:|---:|---:|---:|\n";
    for r in &runs {
        doc += &format!(
            "| {} | {} | {:.0}× | {:.0} | {:.0} | {:.0} |\n",
            r.side,
            fmt_ns(r.ns_per_span),
            python_ns / r.ns_per_span,
            r.produced,
            r.received,
            (r.produced - r.received).max(0.0)
        );
    }
    Ok(doc)
}

/// Runs the benchmarks and writes docs/PERFORMANCE.md with ratios measured in the same run; with
/// `--peers` also the comparison with the Langfuse Python SDK (kept from the last such run otherwise).
/// What a harness-less benchmark printed (its tables, in Markdown).
fn bench_stdout(name: &str, features: &str) -> Result<String, String> {
    println!("==> {name} benchmark");
    let out = cargo()
        .current_dir(root())
        .args(["bench", "--quiet", "--bench", name, "--features", features])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{name} benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn bench(with_peers: bool) -> Result<(), String> {
    run_cargo(
        "overhead benchmarks",
        &[
            "bench",
            "--bench",
            "overhead",
            "--features",
            "filters",
            "--",
            "--noplot",
        ],
        &[],
    )?;
    let throughput = bench_stdout("throughput", "otel,langfuse,braintrust,presets")?;
    let user_span = bench_stdout("user_span", "filters")?;
    let m = |g: &str, b: &str| {
        criterion_mean(g, b).ok_or_else(|| format!("no criterion result for {g}/{b}"))
    };
    let bare = m("ai_span", "bare_registry")?;
    let otel = m("ai_span", "tracing_opentelemetry")?;
    let ours = m("ai_span", "aitrace")?;
    let parsed = m("ai_span", "aitrace_content_parsed")?;
    let redacting = m("ai_span", "aitrace_with_redaction")?;
    let plain = m("plain_span", "without_aitrace")?;
    let plain_ours = m("plain_span", "with_aitrace")?;
    let debug_plain = m("app_event", "disabled_debug_without_aitrace")?;
    let debug_ours = m("app_event", "disabled_debug_with_aitrace")?;
    let info_plain = m("app_event", "enabled_info_in_request_without_aitrace")?;
    let info_ours = m("app_event", "enabled_info_in_request_with_aitrace")?;
    let threads: Vec<(u32, f64)> = [1u32, 2, 8]
        .iter()
        .filter_map(|n| Some((*n, criterion_mean("threads", &n.to_string())?)))
        .collect();
    let mut doc = String::new();
    doc += "# Performance\n\n";
    doc += "Measured by `cargo xtask bench` (criterion for per-span costs, a custom harness for exporter\n";
    doc += "throughput and memory). Ratios compare cases measured in the same run on the same machine.\n\n";
    doc += &format!("Machine: {}.\n\n", machine());
    doc += "## Per AI span\n\nOne generation span: model, provider, 3 parameters, ~1 KB input and output messages, usage\n";
    doc += "recorded late; exporters do nothing.\n\n| case | time per span | vs tracing-opentelemetry | vs bare registry |\n|---|---:|---:|---:|\n";
    for (name, t) in [
        ("bare registry (no layer)", bare),
        ("tracing-opentelemetry + BatchSpanProcessor", otel),
        ("aitrace (exporter reads no content)", ours),
        (
            "aitrace (exporter reads content: JSON parsed on its worker)",
            parsed,
        ),
        ("aitrace + SensitiveDataFilter (default)", redacting),
    ] {
        doc += &format!(
            "| {name} | {} | {:.2}× | {:.1}× |\n",
            fmt_ns(t),
            t / otel,
            t / bare
        );
    }
    doc += "\n## The AI span as a user builds it\n\n`aitrace::builder()` with its defaults (SensitiveDataFilter, cost, chunk aggregation) and an\n";
    doc += "exporter that reads content, against tracing-opentelemetry with the SDK's `BatchSpanProcessor`;\n";
    doc += "both workers running; 15 alternating rounds of 20 000 spans in one process, medians\n";
    doc += "(`benches/user_span.rs`, its own binary, built as a user builds one).\n\n";
    doc += &user_span;
    doc += "\n## Application's own (non-AI) spans and events\n\nA plain span entered, recorded and closed, with an application layer installed; the\n";
    doc +=
        "application's own events with its layer filtered at INFO (as a `fmt` layer at INFO).\n\n";
    doc += "| case | without aitrace | with aitrace | ratio |\n|---|---:|---:|---:|\n";
    for (name, without, with) in [
        (
            "plain span (entered, one field recorded, closed)",
            plain,
            plain_ours,
        ),
        (
            "`debug!` the application does not want (disabled)",
            debug_plain,
            debug_ours,
        ),
        (
            "`info!` inside a request span, no AI span open",
            info_plain,
            info_ours,
        ),
    ] {
        doc += &format!(
            "| {name} | {} | {} | {:.2}× |\n",
            fmt_ns(without),
            fmt_ns(with),
            with / without
        );
    }
    doc += "\n## Concurrency\n\n| threads creating AI spans | time per span | spans/s |\n|---:|---:|---:|\n";
    for (n, t) in &threads {
        doc += &format!("| {n} | {} | {:.0} |\n", fmt_ns(*t), 1e9 / t);
    }
    doc += "\n## Exporters end to end, and memory with the backend down\n\n";
    doc += &throughput;
    let path = root().join("docs").join("PERFORMANCE.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    if with_peers {
        doc += &peers()?;
    } else if let Some(i) = existing.find("\n## Peer comparison") {
        let end = existing[i..]
            .find("\nReproduce:")
            .map_or(existing.len(), |e| i + e);
        doc += &existing[i..end];
    }
    doc += "\nReproduce: `cargo xtask bench` (writes this file; `--peers` reruns the peer comparison).\n";
    let notes = existing
        .find("\n## Analysis")
        .map(|i| existing[i..].to_string())
        .unwrap_or_default();
    std::fs::write(&path, doc + &notes).map_err(|e| e.to_string())?;
    println!("<== wrote {}", path.display());
    Ok(())
}
