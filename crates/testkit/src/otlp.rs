//! OTLP/HTTP protobuf request bodies decoded into plain spans, for doubles that read a request the way
//! a backend's ingestion does.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;
use serde_json::{Map, Value};

/// One span as a backend receives it.
#[derive(Debug, Clone)]
pub struct OtlpSpan {
    /// Lowercase hex.
    pub trace_id: String,
    /// Lowercase hex.
    pub span_id: String,
    /// Lowercase hex, `None` for a root.
    pub parent: Option<String>,
    /// The span's name.
    pub name: String,
    /// OTLP's span kind number (1 internal, 2 server, 3 client).
    pub kind: i32,
    /// Its attributes, values as JSON (strings stay strings: JSON text is not parsed).
    pub attributes: Map<String, Value>,
    /// Its resource's attributes.
    pub resource: Map<String, Value>,
    /// Names of its events.
    pub events: Vec<String>,
    /// Its events' attributes, in the order of `events`.
    pub event_attributes: Vec<Map<String, Value>>,
    /// Its links: (trace id, span id), lowercase hex.
    pub links: Vec<(String, String)>,
    /// OTLP status code (2 error).
    pub status_code: i32,
    /// Start and end, unix nanoseconds.
    pub start: u64,
    /// End.
    pub end: u64,
}

impl OtlpSpan {
    /// A string attribute.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }
    /// An integer attribute.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_i64)
    }
    /// A string attribute holding JSON, parsed.
    pub fn json(&self, key: &str) -> Option<Value> {
        self.str(key).and_then(|s| serde_json::from_str(s).ok())
    }
}

/// An OTLP value as JSON.
pub fn any_to_json(v: &Option<AnyValue>) -> Value {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Any::StringValue(s)) => Value::from(s.clone()),
        Some(Any::BoolValue(b)) => Value::from(*b),
        Some(Any::IntValue(i)) => Value::from(*i),
        Some(Any::DoubleValue(d)) => Value::from(*d),
        Some(Any::ArrayValue(a)) => Value::Array(
            a.values
                .iter()
                .map(|v| any_to_json(&Some(v.clone())))
                .collect(),
        ),
        Some(Any::KvlistValue(kv)) => Value::Object(attributes(&kv.values)),
        Some(Any::BytesValue(b)) => Value::from(format!("{b:?}")),
        _ => Value::Null,
    }
}

fn attributes(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), any_to_json(&kv.value)))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The spans of one protobuf request body (not compressed); `None` if it does not decode.
pub fn decode(body: &[u8]) -> Option<Vec<OtlpSpan>> {
    let request = ExportTraceServiceRequest::decode(body).ok()?;
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(OtlpSpan {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent: (!s.parent_span_id.is_empty()).then(|| hex(&s.parent_span_id)),
                    name: s.name.clone(),
                    kind: s.kind,
                    attributes: attributes(&s.attributes),
                    resource: resource.clone(),
                    events: s.events.iter().map(|e| e.name.clone()).collect(),
                    event_attributes: s.events.iter().map(|e| attributes(&e.attributes)).collect(),
                    links: s
                        .links
                        .iter()
                        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
                        .collect(),
                    status_code: s.status.as_ref().map_or(0, |st| st.code),
                    start: s.start_time_unix_nano,
                    end: s.end_time_unix_nano,
                });
            }
        }
    }
    Some(out)
}

/// One OTLP log record (an event) as a backend receives it.
#[derive(Debug, Clone)]
pub struct OtlpLog {
    /// The event's name (`gen_ai.evaluation.result`).
    pub event_name: String,
    /// Lowercase hex, empty when unset.
    pub trace_id: String,
    /// Lowercase hex, empty when unset.
    pub span_id: String,
    /// Unix nanoseconds.
    pub time: u64,
    /// Its attributes, values as JSON.
    pub attributes: Map<String, Value>,
}

/// The log records of one OTLP logs request body (protobuf, not compressed).
pub fn decode_logs(body: &[u8]) -> Option<Vec<OtlpLog>> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    let request = ExportLogsServiceRequest::decode(body).ok()?;
    Some(
        request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| OtlpLog {
                event_name: l.event_name.clone(),
                trace_id: hex(&l.trace_id),
                span_id: hex(&l.span_id),
                time: l.time_unix_nano,
                attributes: attributes(&l.attributes),
            })
            .collect(),
    )
}
