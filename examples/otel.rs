//! Send AI spans to any OpenTelemetry backend over OTLP/HTTP.
//!
//! ```sh
//! # e.g. Arize Phoenix: pip install arize-phoenix && phoenix serve
//! OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:6006/v1/traces \
//! OTEL_SERVICE_NAME=my-agent \
//!   cargo run --example otel --features otel
//! ```
//! Without a collector listening, the run still ends promptly and reports what could not be sent.

use std::time::Duration;

use aitrace::otel::OtelExporter;
use aitrace::{agent_span, generation_span, tool_span, AiSpanExt, ChatMessage, Usage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = OtelExporter::builder()
        .resource_attribute("openinference.project.name", "aitrace-example")
        .openinference(true)
        .build()?;
    let guard = aitrace::builder().exporter(exporter).install()?;

    let agent = agent_span!("weather-bot");
    let _agent = agent.enter();
    let chat = generation_span!("openai", "gpt-4o-mini");
    chat.set_input_messages(&[ChatMessage::user("Weather in Paris?")]);
    chat.in_scope(|| {
        tool_span!("get_weather", gen_ai.tool.call.id = "call_1").in_scope(|| {
            tracing::Span::current().set_output("rainy, 14°C");
        });
    });
    chat.set_output_messages(&[ChatMessage::assistant("Rainy, 14°C.").with_finish_reason("stop")]);
    chat.record_usage(Usage::new(54, 9));
    drop(chat);
    drop(_agent);
    drop(agent);

    let report = guard.shutdown(Duration::from_secs(10));
    let otel = &report.stats.exporters[0];
    println!("exported {} spans, lost {}", otel.exported, report.lost);
    if let Some(e) = &otel.last_error {
        println!("last error: {e}");
    }
    Ok(())
}
