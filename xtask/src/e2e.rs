//! `cargo xtask e2e`: the quickstart exported to a real OpenTelemetry backend (Arize Phoenix), and what
//! it stored checked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, python_venv, Service};
use crate::{root, run_cargo};

/// Phoenix version the end-to-end test is pinned to (installed from PyPI into a cached venv).
pub(crate) const PHOENIX_VERSION: &str = "20.26.1";

pub(crate) fn install_phoenix(dir: &Path) -> Result<PathBuf, String> {
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
pub(crate) struct Phoenix {
    pub(crate) service: Service,
    pub(crate) url: String,
    pub(crate) grpc_port: u16,
}

pub(crate) fn start_phoenix(phoenix: &Path, dir: &Path) -> Result<Phoenix, String> {
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

/// Exports the quickstart trace to Phoenix over one protocol, in one mode of the GenAI conventions
/// (`OTEL_SEMCONV_STABILITY_OPT_IN`, empty for the default transition mode), then checks what Phoenix
/// stored against the JSONL file of the same run.
pub(crate) fn e2e_run(
    phoenix: &Phoenix,
    protocol: &str,
    features: &str,
    endpoint: &str,
    semconv_opt_in: &str,
) -> Result<(), String> {
    let mode = if semconv_opt_in.is_empty() {
        "transition"
    } else {
        "latest"
    };
    let project = format!("aitrace-e2e-{protocol}-{mode}-{}", std::process::id()).replace('/', "-");
    let jsonl = root().join("quickstart.jsonl");
    let resource = format!("openinference.project.name={project}");
    run_cargo(
        &format!("quickstart over OTLP {protocol} to Phoenix ({mode} GenAI names)"),
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
            ("OTEL_SEMCONV_STABILITY_OPT_IN", semconv_opt_in),
        ],
    )?;
    run_cargo(
        &format!("phoenix end-to-end test ({protocol}, {mode})"),
        &[
            "test",
            "--features",
            features,
            "--test",
            "phoenix_e2e",
            "--",
            "--ignored",
            "--exact",
            "phoenix_stores_the_quickstart_trace_as_we_recorded_it",
        ],
        &[
            ("AITRACE_E2E_PHOENIX_URL", &phoenix.url),
            ("AITRACE_E2E_PROJECT", &project),
            ("AITRACE_E2E_JSONL", &jsonl.to_string_lossy()),
            ("AITRACE_E2E_SEMCONV", mode),
        ],
    )
}

/// The feedback example (a score on a live span, feedback sent after the trace was exported, an
/// LLM-as-judge's verdict) to Phoenix, configured by the environment alone, then the test that reads
/// the scores back as Phoenix annotations through its REST API.
pub(crate) fn feedback_run(phoenix: &Phoenix, endpoint: &str) -> Result<(), String> {
    let project = format!("aitrace-e2e-feedback-{}", std::process::id());
    let resource = format!("openinference.project.name={project}");
    run_cargo(
        "feedback example over OTLP to Phoenix",
        &[
            "run",
            "--quiet",
            "--features",
            "otel",
            "--example",
            "feedback",
        ],
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint),
            ("OTEL_SERVICE_NAME", "aitrace-feedback"),
            ("OTEL_RESOURCE_ATTRIBUTES", &resource),
        ],
    )?;
    let jsonl = root().join("feedback.jsonl");
    run_cargo(
        "phoenix end-to-end test of scores",
        &[
            "test",
            "--features",
            "otel",
            "--test",
            "phoenix_e2e",
            "--",
            "--ignored",
            "--exact",
            "phoenix_shows_the_scores_as_annotations_on_the_right_spans",
        ],
        &[
            ("AITRACE_E2E_PHOENIX_URL", &phoenix.url),
            ("AITRACE_E2E_PROJECT", &project),
            ("AITRACE_E2E_JSONL", &jsonl.to_string_lossy()),
        ],
    )
}

/// MLflow version the end-to-end test is pinned to (a real server from PyPI, read back through its
/// own client).
pub(crate) const MLFLOW_VERSION: &str = "3.17.2";

/// The quickstart sent through the MLflow preset, chosen by `MLFLOW_TRACKING_URI` alone, to a real
/// MLflow server on loopback, read back with MLflow's client, and checked against the JSONL file of
/// the same run.
pub(crate) fn mlflow_e2e(dir: &Path) -> Result<(), String> {
    let venv = python_venv(
        dir,
        &format!("mlflow-{MLFLOW_VERSION}"),
        &[format!("mlflow=={MLFLOW_VERSION}")],
    )?;
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let data = dir.join(format!("mlflow-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(venv.join("bin").join("mlflow"));
    cmd.args([
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--workers",
        "1",
    ])
    .arg("--backend-store-uri")
    .arg(format!("sqlite:///{}", data.join("mlflow.db").display()))
    .arg("--default-artifact-root")
    .arg(data.join("artifacts"))
    .env("MLFLOW_DISABLE_TELEMETRY", "true");
    let service = Service::start(
        cmd,
        "mlflow",
        dir.join("mlflow.log"),
        &addr,
        "/health",
        Duration::from_secs(180),
    )?;
    println!("<== mlflow healthy on {addr}");
    let url = format!("http://{addr}");
    let jsonl = root().join("quickstart.jsonl");
    let service_jsonl = dir.join("mlflow-service.jsonl");
    let read = dir.join("mlflow-traces.json");
    let result = run_cargo(
        "quickstart to MLflow (MLFLOW_TRACKING_URI alone)",
        &[
            "run",
            "--quiet",
            "--features",
            "presets",
            "--example",
            "quickstart",
        ],
        &[("MLFLOW_TRACKING_URI", &url)],
    )
    .and_then(|_| {
        // Request-shaped traces: AI calls inside the web service's request spans, with user and
        // session.
        run_cargo(
            "the service example to MLflow",
            &[
                "run",
                "--quiet",
                "--features",
                "presets",
                "--example",
                "service",
            ],
            &[
                ("MLFLOW_TRACKING_URI", &url),
                ("AITRACE_JSONL_PATH", &service_jsonl.to_string_lossy()),
                ("RUST_LOG", "info"),
            ],
        )
    })
    .and_then(|_| {
        // Scores: a guardrail's on a live span, feedback after export, a judge's verdict.
        run_cargo(
            "the feedback example to MLflow",
            &[
                "run",
                "--quiet",
                "--features",
                "presets",
                "--example",
                "feedback",
            ],
            &[("MLFLOW_TRACKING_URI", &url)],
        )
    })
    .and_then(|_| {
        let ok = Command::new(venv.join("bin").join("python"))
            .arg(root().join("xtask").join("mlflow_read.py"))
            .arg(&url)
            .arg(&read)
            .status()
            .map_err(|e| e.to_string())?
            .success();
        ok.then_some(())
            .ok_or_else(|| "reading the traces back from MLflow failed".to_string())
    })
    .and_then(|_| {
        run_cargo(
            "mlflow end-to-end test",
            &[
                "test",
                "--features",
                "presets",
                "--test",
                "mlflow_e2e",
                "--",
                "--ignored",
            ],
            &[
                ("AITRACE_E2E_MLFLOW_TRACES", &read.to_string_lossy()),
                ("AITRACE_E2E_JSONL", &jsonl.to_string_lossy()),
                (
                    "AITRACE_E2E_SERVICE_JSONL",
                    &service_jsonl.to_string_lossy(),
                ),
                (
                    "AITRACE_E2E_FEEDBACK_JSONL",
                    &root().join("feedback.jsonl").to_string_lossy(),
                ),
            ],
        )
    });
    if result.is_err() {
        eprintln!("mlflow log (last lines):\n{}", service.log_tail());
    }
    drop(service);
    let _ = std::fs::remove_dir_all(&data);
    result
}

pub(crate) fn e2e() -> Result<(), String> {
    let dir = root().join("target").join("e2e");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let phoenix_bin = install_phoenix(&dir)?;
    let phoenix = start_phoenix(&phoenix_bin, &dir)?;
    let http = format!("{}/v1/traces", phoenix.url);
    let grpc = format!("http://127.0.0.1:{}", phoenix.grpc_port);
    let latest = "gen_ai_latest_experimental";
    let result = e2e_run(&phoenix, "http/protobuf", "otel", &http, "")
        .and_then(|_| e2e_run(&phoenix, "http/protobuf", "otel", &http, latest))
        .and_then(|_| e2e_run(&phoenix, "grpc", "otel-grpc", &grpc, ""))
        .and_then(|_| feedback_run(&phoenix, &http));
    if result.is_err() {
        eprintln!("phoenix log (last lines):\n{}", phoenix.service.log_tail());
    }
    drop(phoenix);
    let _ = std::fs::remove_dir_all(dir.join(format!("phoenix-data-{}", std::process::id())));
    result.and_then(|_| mlflow_e2e(&dir))
}
