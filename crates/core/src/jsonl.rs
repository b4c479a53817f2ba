//! [`JsonlExporter`]: one [`SpanRecord`] per line, in the record's stable JSON form.
//!
//! # Schema
//! Each line is one JSON object with these fields (absent when empty): `trace_id` (32 hex),
//! `span_id` (16 hex), `parent_span_id`, `parent_is_remote`, `request_span_id`, `name`, `trace_name`, `kind` (snake_case
//! [`SpanKind`](crate::SpanKind)), `operation`, `start_time_unix_nano`, `end_time_unix_nano`,
//! `status` (`{"code":"unset"|"ok"|"error","message","error_type"}`), `billable`, `provider`,
//! `request_model`, `response_model`, `response_id`, `usage` (`input_tokens`, `output_tokens`,
//! `total_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`, `reasoning_tokens`,
//! `input_audio_tokens`, `output_audio_tokens`, `input_text_tokens`, `input_image_tokens`,
//! `output_text_tokens`, `output_image_tokens`, `tool_use_prompt_tokens`), `cost` (`input`, `output`, `cache_read_input`,
//! `cache_creation_input`, `reasoning`, `total`, `currency`), `params` (`temperature`, `max_tokens`,
//! `top_p`, `top_k`, `frequency_penalty`, `presence_penalty`, `stop_sequences`, `seed`,
//! `choice_count`, `stream`), `finish_reasons`, `time_to_first_token_s`, `input`, `output`,
//! `system_instructions`, `tool_definitions` (GenAI `role`+`parts` messages where they are messages),
//! `tool` (`name`, `call_id`, `type`, `description`, `arguments`, `result`), `agent` (`id`, `name`,
//! `description`, `version`), `session_id`, `user_id`, `tags`, `metadata`, `trace_metadata`,
//! `remote_sampled`, `attempt`,
//! `attributes`,
//! `events` (`name`, `time_unix_nano`, `level`, `target`, `attributes`), `dropped_events`,
//! `links` (`trace_id`, `span_id`), `scores` (score records, below, recorded on the span).
//! Fields are only ever added; `serde_json::from_str::<SpanRecord>` reads every span line back.
//!
//! A score sent on its own ([`crate::score()`], an evaluation) is a line of its own, starting with
//! `"type":"score"`: `id`, `target` (`{"type":"trace"|"span"|"session", "trace_id", "span_id",
//! "session_id"}`), `score` (`name`, `value` (`{"type":"numeric"|"boolean"|"categorical","value"}`),
//! `comment`, `source` (`human`, `model`, `code`), `config_id`, `metadata`, `id`), `time_unix_nano`,
//! `evaluation` (`[trace_id, span_id]` of the evaluation that produced it). [`read_jsonl`] skips
//! these lines and [`read_jsonl_scores`] reads them.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::export::{ExportError, Exporter};
use crate::record::SpanRecord;
use crate::score::{ScoreRecord, ScoreTargets};

/// How a score line starts.
const SCORE_LINE: &str = "{\"type\":\"score\"";

#[derive(serde::Serialize)]
struct ScoreLine<'a> {
    r#type: &'static str,
    #[serde(flatten)]
    score: &'a ScoreRecord,
}

/// Writes each span as one JSON line to a file or any writer.
pub struct JsonlExporter {
    out: BufWriter<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for JsonlExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonlExporter")
    }
}

impl JsonlExporter {
    /// Creates (or truncates) the file.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::to_writer(File::create(path)?))
    }
    /// Appends to the file, creating it if needed.
    pub fn append(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::to_writer(
            OpenOptions::new().create(true).append(true).open(path)?,
        ))
    }
    /// Writes to any writer (a socket, stdout, a buffer in tests).
    pub fn to_writer(w: impl Write + Send + 'static) -> Self {
        JsonlExporter {
            out: BufWriter::new(Box::new(w)),
        }
    }
}

impl Exporter for JsonlExporter {
    fn name(&self) -> &str {
        "jsonl"
    }
    fn configure(&self, config: &mut crate::ExportConfig) {
        // A local file: write soon after spans end.
        config.max_batch_age = config
            .max_batch_age
            .min(std::time::Duration::from_millis(200));
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        for record in batch {
            serde_json::to_writer(&mut self.out, record)
                .map_err(|e| ExportError::fatal(format!("cannot serialize span: {e}")))?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
    fn score_targets(&self) -> ScoreTargets {
        ScoreTargets::ALL
    }
    fn export_scores(&mut self, batch: &[ScoreRecord]) -> Result<(), ExportError> {
        for score in batch {
            let line = ScoreLine {
                r#type: "score",
                score,
            };
            serde_json::to_writer(&mut self.out, &line)
                .map_err(|e| ExportError::fatal(format!("cannot serialize score: {e}")))?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(self.out.flush()?)
    }
}

/// Reads a JSONL file written by [`JsonlExporter`] back into span records (score lines skipped);
/// names the first bad line.
pub fn read_jsonl(text: &str) -> Result<Vec<SpanRecord>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with(SCORE_LINE))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Reads the score lines of a JSONL file written by [`JsonlExporter`]; names the first bad line.
pub fn read_jsonl_scores(text: &str) -> Result<Vec<ScoreRecord>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(SCORE_LINE))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;
    use serde_json::{json, Value};

    /// The top-level fields the module docs list, in order. A field added to `SpanRecord` must be
    /// added to the docs (and here) or this test fails.
    const DOCUMENTED: &[&str] = &[
        "trace_id",
        "span_id",
        "parent_span_id",
        "parent_is_remote",
        "name",
        "trace_name",
        "kind",
        "operation",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "status",
        "billable",
        "provider",
        "request_model",
        "response_model",
        "response_id",
        "usage",
        "cost",
        "params",
        "finish_reasons",
        "time_to_first_token_s",
        "input",
        "output",
        "system_instructions",
        "tool_definitions",
        "tool",
        "agent",
        "session_id",
        "user_id",
        "tags",
        "metadata",
        "trace_metadata",
        "remote_sampled",
        "attempt",
        "attributes",
        "events",
        "dropped_events",
        "links",
        "scores",
    ];

    fn full_record() -> SpanRecord {
        let mut r = SpanRecord::new("chat", SpanKind::ModelGeneration);
        r.parent_span_id = Some(crate::SpanId::random());
        r.parent_is_remote = true;
        r.operation = Some("chat".into());
        r.status = Status::Error {
            message: "m".into(),
            error_type: Some("timeout".into()),
        };
        r.billable = true;
        r.provider = Some("openai".into());
        r.request_model = Some("gpt-4o".into());
        r.response_model = Some("gpt-4o-2024".into());
        r.response_id = Some("id".into());
        r.usage = Some(Usage::new(1, 2));
        r.cost = Some(Cost::usd(1.0));
        r.params.temperature = Some(0.1);
        r.finish_reasons = vec!["stop".into()];
        r.time_to_first_token_s = Some(0.2);
        r.input = Some(json!("in"));
        r.output = Some(json!("out"));
        r.system_instructions = Some(json!([]));
        r.tool_definitions = Some(json!([]));
        r.tool = Some(ToolInfo {
            name: Some("t".into()),
            ..Default::default()
        });
        r.agent = Some(AgentInfo {
            name: Some("a".into()),
            ..Default::default()
        });
        r.session_id = Some("s".into());
        r.user_id = Some("u".into());
        r.tags = vec!["x".into()];
        r.metadata.insert("k".into(), json!(1));
        r.trace_name = Some("support".into());
        r.trace_metadata.insert("tenant".into(), json!("t"));
        r.attempt = Some(0);
        r.remote_sampled = Some(true);
        r.attributes.insert("a".into(), json!(2));
        r.events.push(SpanEvent {
            name: "e".into(),
            time_unix_nano: 1,
            level: "INFO".into(),
            target: "t".into(),
            attributes: Default::default(),
        });
        r.dropped_events = 1;
        r.links.push(SpanLink {
            trace_id: crate::TraceId::random(),
            span_id: None,
        });
        let target = crate::ScoreTarget::span(r.trace_id, r.span_id);
        r.scores
            .push(crate::ScoreRecord::new(target, crate::Score::boolean("ok", true)).unwrap());
        r
    }

    #[test]
    fn documented_schema_matches_serialization() {
        let v = serde_json::to_value(full_record()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut documented = DOCUMENTED.to_vec();
        let mut got = keys.clone();
        documented.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, documented);
        let module_docs: String = include_str!("jsonl.rs")
            .lines()
            .filter(|l| l.starts_with("//!"))
            .collect();
        for field in DOCUMENTED {
            assert!(
                module_docs.contains(&format!("`{field}`")),
                "{field} is not in the module docs"
            );
        }
        // Empty fields are omitted, so a minimal record stays small.
        let minimal = serde_json::to_value(SpanRecord::new("x", SpanKind::Generic)).unwrap();
        let keys: Vec<&str> = minimal
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 8, "{keys:?}");
    }

    #[test]
    fn writer_output_reads_back() {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut e = JsonlExporter::to_writer(Shared(buf.clone()));
        let records = vec![full_record(), SpanRecord::new("y", SpanKind::ToolCall)];
        e.export(&records).unwrap();
        let scores = vec![
            crate::ScoreRecord::new(
                crate::ScoreTarget::session("chat-1"),
                crate::Score::categorical("tone", "friendly")
                    .with_comment("nice")
                    .with_source(crate::ScoreSource::Human)
                    .with_metadata("k", 1),
            )
            .unwrap(),
            crate::ScoreRecord::new(
                crate::ScoreTarget::trace(crate::TraceId::random()),
                crate::Score::numeric("n", 0.5),
            )
            .unwrap(),
        ];
        e.export_scores(&scores).unwrap();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        assert_eq!(read_jsonl(&text).unwrap(), records);
        assert_eq!(read_jsonl_scores(&text).unwrap(), scores);
        assert!(text.lines().nth(2).unwrap().starts_with(SCORE_LINE));
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()));
    }
}
