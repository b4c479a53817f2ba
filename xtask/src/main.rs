//! Project tasks:
//! - `cargo xtask ci`: every check CI runs, cheapest failure first (fmt, clippy, tests, docs,
//!   quickstart and the client-library examples, a short run of each fuzz target, the Phoenix end-to-end test).
//! - `cargo xtask e2e`: the end-to-end test against a real OpenTelemetry backend (Arize Phoenix).
//! - `cargo xtask test`: the README's test command.
//! - `cargo xtask bench [--peers]`: benchmarks, written to docs/PERFORMANCE.md.
//! - `cargo xtask fuzz [N] [S]`: property tests with N iterations, then each `cargo fuzz` target for S s.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The test command the README gives; CI runs exactly this, in parallel like `cargo test` by default
/// (the tests install their thread-local subscribers through `aitrace_core::testing::with_default`,
/// which keeps tracing-core's callsite-interest cache from racing between test threads).
const TEST_COMMAND: &[&str] = &["test", "--workspace", "--all-features"];

/// The `cargo fuzz` targets in `fuzz/fuzz_targets`.
const FUZZ_TARGETS: [&str; 3] = ["redact", "json_content", "mappings"];

/// Phoenix version the end-to-end test is pinned to (installed from PyPI into a cached venv).
const PHOENIX_VERSION: &str = "20.26.1";

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn run_cargo(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
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
        Err(format!("{name} failed ({status})"))
    }
}

fn ci() -> Result<(), String> {
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
    run_cargo(
        "docs",
        &["doc", "--workspace", "--all-features", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    run_cargo(
        "quickstart",
        &["run", "--quiet", "--example", "quickstart"],
        &[],
    )?;
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
    // A short, reproducible run of each fuzz target (fixed seed and count, so CI never fails by
    // chance): keeps them building and catches what the seeds' neighbourhood holds. Longer, randomly
    // seeded runs: `cargo xtask fuzz`.
    fuzz_targets("100000 runs, seed 1", &["-seed=1", "-runs=100000"])?;
    e2e()
}

/// Kills the backend when dropped, so it never outlives the task.
struct Service {
    child: Child,
    log: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts `cmd` with its output in `log`, then waits until `GET http://{addr}{health}` answers
    /// 200; fails with the log's tail if the program exits or `limit` passes first.
    fn start(
        mut cmd: Command,
        what: &str,
        log: PathBuf,
        addr: &str,
        health: &str,
        limit: Duration,
    ) -> Result<Service, String> {
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let mut service = Service { child, log };
        let deadline = Instant::now() + limit;
        while http_status(addr, health) != Some(200) {
            if let Ok(Some(status)) = service.child.try_wait() {
                return Err(format!("{what} exited ({status}):\n{}", service.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what} not ready after {} s:\n{}",
                    limit.as_secs(),
                    service.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(service)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

fn http_status(addr: &str, path: &str) -> Option<u16> {
    http_exchange(addr, "GET", path, Duration::from_secs(5))
        .ok()
        .map(|(status, _)| status)
}

/// One HTTP/1.1 request on loopback (`Connection: close`): the status and the body.
fn http_exchange(
    addr: &str,
    method: &str,
    path: &str,
    read_limit: Duration,
) -> Result<(u16, String), String> {
    let parsed = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s = TcpStream::connect_timeout(&parsed, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(read_limit))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{method} {path}: not an HTTP answer: {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

/// A Python venv under `dir/name` with `pip install <packages>` done once (a marker file says so).
fn python_venv(dir: &Path, name: &str, packages: &[String]) -> Result<PathBuf, String> {
    let venv = dir.join(name);
    let marker = venv.join(".aitrace-installed");
    if marker.exists() {
        return Ok(venv);
    }
    println!(
        "==> installing {} into {}",
        packages.join(" "),
        venv.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let ok = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("cannot run {python}: {e}"))?
        .success();
    if !ok {
        return Err(format!("{python} -m venv failed"));
    }
    let ok = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .map_err(|e| format!("cannot run pip: {e}"))?
        .success();
    if !ok {
        let _ = std::fs::remove_dir_all(&venv);
        return Err(format!("pip install {} failed", packages.join(" ")));
    }
    std::fs::write(&marker, packages.join("\n")).map_err(|e| e.to_string())?;
    Ok(venv)
}

fn install_phoenix(dir: &Path) -> Result<PathBuf, String> {
    let venv = python_venv(
        dir,
        &format!("phoenix-{PHOENIX_VERSION}"),
        &[format!("arize-phoenix=={PHOENIX_VERSION}")],
    )?;
    let phoenix = venv.join("bin").join("phoenix");
    if !phoenix.exists() {
        return Err(format!("{} has no phoenix command", venv.display()));
    }
    Ok(phoenix)
}

/// A running Phoenix: its HTTP base URL (UI, REST, OTLP/HTTP) and its OTLP/gRPC port.
struct Phoenix {
    service: Service,
    url: String,
    grpc_port: u16,
}

fn start_phoenix(phoenix: &Path, dir: &Path) -> Result<Phoenix, String> {
    let port = free_port()?;
    let grpc_port = free_port()?;
    let data = dir.join(format!("phoenix-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(phoenix);
    cmd.arg("serve")
        .env("PHOENIX_HOST", "127.0.0.1")
        .env("PHOENIX_PORT", port.to_string())
        .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
        .env("PHOENIX_WORKING_DIR", &data)
        .env("PHOENIX_TELEMETRY_ENABLED", "false");
    let service = Service::start(
        cmd,
        "phoenix",
        dir.join("phoenix.log"),
        &addr,
        "/healthz",
        Duration::from_secs(180),
    )?;
    println!("<== phoenix healthy on {addr} (gRPC on {grpc_port})");
    Ok(Phoenix {
        service,
        url: format!("http://{addr}"),
        grpc_port,
    })
}

/// Exports the quickstart trace to Phoenix over one protocol, then checks what Phoenix stored against
/// the JSONL file of the same run.
fn e2e_run(
    phoenix: &Phoenix,
    protocol: &str,
    features: &str,
    endpoint: &str,
) -> Result<(), String> {
    let project = format!("aitrace-e2e-{protocol}-{}", std::process::id()).replace('/', "-");
    let jsonl = root().join("quickstart.jsonl");
    let resource = format!("openinference.project.name={project}");
    run_cargo(
        &format!("quickstart over OTLP {protocol} to Phoenix"),
        &[
            "run",
            "--quiet",
            "--features",
            features,
            "--example",
            "quickstart",
        ],
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_SERVICE_NAME", "aitrace-quickstart"),
            ("OTEL_RESOURCE_ATTRIBUTES", &resource),
        ],
    )?;
    run_cargo(
        &format!("phoenix end-to-end test ({protocol})"),
        &[
            "test",
            "--features",
            features,
            "--test",
            "phoenix_e2e",
            "--",
            "--ignored",
        ],
        &[
            ("AITRACE_E2E_PHOENIX_URL", &phoenix.url),
            ("AITRACE_E2E_PROJECT", &project),
            ("AITRACE_E2E_JSONL", &jsonl.to_string_lossy()),
        ],
    )
}

fn e2e() -> Result<(), String> {
    let dir = root().join("target").join("e2e");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let phoenix_bin = install_phoenix(&dir)?;
    let phoenix = start_phoenix(&phoenix_bin, &dir)?;
    let http = format!("{}/v1/traces", phoenix.url);
    let grpc = format!("http://127.0.0.1:{}", phoenix.grpc_port);
    let result = e2e_run(&phoenix, "http/protobuf", "otel", &http)
        .and_then(|_| e2e_run(&phoenix, "grpc", "otel-grpc", &grpc));
    if result.is_err() {
        eprintln!("phoenix log (last lines):\n{}", phoenix.service.log_tail());
    }
    drop(phoenix);
    let _ = std::fs::remove_dir_all(dir.join(format!("phoenix-data-{}", std::process::id())));
    result
}

/// Mean time (ns) criterion measured for `group/bench` in this run.
fn criterion_mean(group: &str, bench: &str) -> Option<f64> {
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

fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else if ns >= 10.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{ns:.2} ns")
    }
}

fn machine() -> String {
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
const PEER_TRACES_PYTHON: u64 = 2_000;
const PEER_TRACES_AITRACE: u64 = 20_000;

/// A request that must answer 200; the response body.
fn http_request(addr: &str, method: &str, path: &str) -> Result<String, String> {
    match http_exchange(addr, method, path, Duration::from_secs(30))? {
        (200, body) => Ok(body),
        (status, body) => Err(format!("{method} {path}: {status} {body}")),
    }
}

/// The number after `"key":` in a flat JSON object (xtask has no dependencies).
fn json_number(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// One side of the peer comparison, as measured.
struct PeerRun {
    side: String,
    ns_per_span: f64,
    produced: f64,
    received: f64,
}

/// The last line of a peer program's output that is a JSON object, with the sink's count, which is
/// then reset for the next side.
fn peer_result(side: &str, stdout: &[u8], sink: &str) -> Result<PeerRun, String> {
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
fn peers() -> Result<String, String> {
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
fn bench(with_peers: bool) -> Result<(), String> {
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
    println!("==> throughput benchmark");
    let out = cargo()
        .current_dir(root())
        .args([
            "bench",
            "--quiet",
            "--bench",
            "throughput",
            "--features",
            "otel,langfuse,braintrust",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "throughput benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let throughput = String::from_utf8_lossy(&out.stdout).into_owned();
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

/// Runs the property tests (redaction, and the OTel, Langfuse and Braintrust mappings) with many more
/// iterations and a fresh seed, printed so a failure can be replayed, then each libFuzzer target.
fn fuzz(iterations: &str, seconds: &str) -> Result<(), String> {
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
fn fuzz_targets(what: &str, options: &[&str]) -> Result<(), String> {
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
        _ => {
            eprintln!("usage: cargo xtask <ci|e2e|test|bench|fuzz>");
            eprintln!(
                "  bench [--peers] run the benchmarks, write docs/PERFORMANCE.md (ratios from one run); --peers adds the Langfuse Python SDK comparison"
            );
            eprintln!("  ci    fmt --check, clippy -D warnings, tests, docs (warnings denied), examples, e2e");
            eprintln!("  e2e   install Arize Phoenix (PyPI), export the quickstart to it, check what it stored");
            eprintln!("  test  cargo {}", TEST_COMMAND.join(" "));
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
