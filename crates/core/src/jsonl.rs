//! [`JsonlExporter`]: one [`SpanRecord`] per line, in the record's stable JSON form.
//!
//! # Schema
//! Each line is one JSON object with these fields (absent when empty): `trace_id` (32 hex),
//! `span_id` (16 hex), `parent_span_id`, `parent_is_remote`, `name`, `kind` (snake_case
//! [`SpanKind`](crate::SpanKind)), `operation`, `start_time_unix_nano`, `end_time_unix_nano`,
//! `status` (`{"code":"unset"|"ok"|"error","message","error_type"}`), `billable`, `provider`,
//! `request_model`, `response_model`, `response_id`, `usage` (`input_tokens`, `output_tokens`,
//! `total_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`, `reasoning_tokens`,
//! `input_audio_tokens`, `output_audio_tokens`), `cost` (`input`, `output`, `cache_read_input`,
//! `cache_creation_input`, `reasoning`, `total`, `currency`), `params` (`temperature`, `max_tokens`,
//! `top_p`, `top_k`, `frequency_penalty`, `presence_penalty`, `stop_sequences`, `seed`,
//! `choice_count`, `stream`), `finish_reasons`, `time_to_first_token_s`, `input`, `output`,
//! `system_instructions`, `tool_definitions` (GenAI `role`+`parts` messages where they are messages),
//! `tool` (`name`, `call_id`, `type`, `description`, `arguments`, `result`), `agent` (`id`, `name`,
//! `description`, `version`), `session_id`, `user_id`, `tags`, `metadata`, `attempt`, `attributes`,
//! `events` (`name`, `time_unix_nano`, `level`, `target`, `attributes`), `dropped_events`.
//! Fields are only ever added; `serde_json::from_str::<SpanRecord>` reads every line back.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::export::{ExportError, Exporter};
use crate::record::SpanRecord;

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
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        for record in batch {
            serde_json::to_writer(&mut self.out, record)
                .map_err(|e| ExportError::fatal(format!("cannot serialize span: {e}")))?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(self.out.flush()?)
    }
}

/// Reads a JSONL file written by [`JsonlExporter`] back into records; names the first bad line.
pub fn read_jsonl(text: &str) -> Result<Vec<SpanRecord>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}
