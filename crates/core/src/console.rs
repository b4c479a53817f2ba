//! [`ConsoleExporter`]: each trace as an indented tree: kind, name, model@provider, tokens, cost,
//! duration, status. Colors on a terminal (unless `NO_COLOR` is set), plain text otherwise.
//!
//! ```text
//! trace 4bf92f3577b34da6a3ce929d0e0e4736  7 spans  tokens 1210 in / 164 out  $0.000412  1.31s
//! agent_run invoke_agent [support-agent]  1.31s  ok
//! ├─ model_generation chat  gpt-4o-mini@openai  in 610 (cached 128) out 54  $0.000215  412ms  ok
//! │  ├─ fallback_attempt #0  gpt-4o@openai  250ms  error timeout: primary timed out
//! │  └─ fallback_attempt #1  gpt-4o-mini@openai  160ms  ok
//! └─ tool_call execute_tool [lookup_order]  12ms  ok
//! ```
//! Only billable spans add to the trace's token and cost totals, so the header matches what a backend
//! would bill. A `⚠ length` mark flags a generation cut off by its token limit.

use std::io::{self, IsTerminal, Write};

use crate::assembler::{trace_views, Trace};
use crate::export::{ExportError, Exporter};
use crate::record::total_billable_usage;
use crate::record::{SpanRecord, Status};

/// Prints each finished trace as a tree.
pub struct ConsoleExporter {
    out: Box<dyn Write + Send>,
    color: bool,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("color", &self.color)
            .finish()
    }
}

fn wants_color(is_tty: bool) -> bool {
    is_tty && std::env::var_os("NO_COLOR").is_none()
}

impl ConsoleExporter {
    /// To stderr (so traces don't mix with a program's output).
    pub fn stderr() -> Self {
        let color = wants_color(io::stderr().is_terminal());
        Self::to_writer(io::stderr(), color)
    }
    /// To stdout.
    pub fn stdout() -> Self {
        let color = wants_color(io::stdout().is_terminal());
        Self::to_writer(io::stdout(), color)
    }
    /// To any writer, with or without ANSI colors.
    pub fn to_writer(w: impl Write + Send + 'static, color: bool) -> Self {
        ConsoleExporter {
            out: Box::new(w),
            color,
        }
    }
}

impl Exporter for ConsoleExporter {
    fn name(&self) -> &str {
        "console"
    }
    fn needs_whole_traces(&self) -> bool {
        true
    }
    fn configure(&self, config: &mut crate::ExportConfig) {
        // Local output: show a trace soon after it ends.
        config.max_batch_age = config
            .max_batch_age
            .min(std::time::Duration::from_millis(200));
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        let text: String = trace_views(batch)
            .iter()
            .map(|t| render_trace(t, self.color))
            .collect();
        self.out.write_all(text.as_bytes())?;
        Ok(self.out.flush()?)
    }
    fn score_targets(&self) -> crate::ScoreTargets {
        crate::ScoreTargets::ALL
    }
    fn export_scores(&mut self, batch: &[crate::ScoreRecord]) -> Result<(), ExportError> {
        let st = Style { on: self.color };
        let text: String = batch
            .iter()
            .map(|s| format!("{}\n", st.paint("1", &score_line(s))))
            .collect();
        self.out.write_all(text.as_bytes())?;
        Ok(self.out.flush()?)
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(self.out.flush()?)
    }
}

/// `helpfulness=0.9 (model) "on point"`: a score as the console shows it.
fn score_text(s: &crate::ScoreRecord) -> String {
    let value = match &s.score.value {
        crate::ScoreValue::Numeric(v) => format!("{v}"),
        crate::ScoreValue::Boolean(b) => format!("{b}"),
        crate::ScoreValue::Categorical(l) => l.clone(),
    };
    let mut out = format!("{}={value}", s.score.name);
    if let Some(source) = s.score.source {
        out += &format!(" ({})", source.as_str());
    }
    if let Some(c) = &s.score.comment {
        out += &format!(" {c:?}");
    }
    out
}

/// The line of a score sent on its own: `score helpfulness=0.9 (model) → trace … span …`.
pub fn score_line(s: &crate::ScoreRecord) -> String {
    let target = match &s.target {
        crate::ScoreTarget::Trace { trace_id } => format!("trace {trace_id}"),
        crate::ScoreTarget::Span { trace_id, span_id } => {
            format!("trace {trace_id} span {span_id}")
        }
        crate::ScoreTarget::Session { session_id } => format!("session {session_id}"),
    };
    let mut line = format!("score {} → {target}", score_text(s));
    if let Some((trace, _)) = s.evaluation {
        line += &format!("  (evaluation trace {trace})");
    }
    line
}

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// `$0.000519`, or `$1.80e-7` for costs too small for six decimals.
fn fmt_cost(c: f64) -> String {
    if c > 0.0 && c < 0.000_001 {
        format!("${c:.2e}")
    } else {
        format!("${c:.6}")
    }
}

fn fmt_duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{}µs", ns / 1_000)
    }
}

/// Renders one trace (header line, then the tree). Pure, so tests compare its output.
pub fn render_trace(trace: &Trace, color: bool) -> String {
    let st = Style { on: color };
    let usage = total_billable_usage(trace.spans.iter().copied());
    let cost: f64 = trace
        .spans
        .iter()
        .filter(|s| s.billable)
        .filter_map(|s| s.cost.as_ref().and_then(|c| c.total()))
        .sum();
    let start = trace
        .spans
        .iter()
        .map(|s| s.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let end = trace
        .spans
        .iter()
        .map(|s| s.end_time_unix_nano)
        .max()
        .unwrap_or(0);
    let mut header = format!("trace {}", trace.trace_id);
    if let Some(name) = trace.spans.iter().find_map(|s| s.trace_name.as_deref()) {
        header.push_str(&format!(" {name}"));
    }
    // Who and what: the request's (or root's) user, session and the trace's tags.
    let first = |f: fn(&SpanRecord) -> Option<&str>| {
        trace
            .root()
            .and_then(f)
            .or_else(|| trace.spans.iter().find_map(|s| f(s)))
    };
    if let Some(user) = first(|s| s.user_id.as_deref()) {
        header.push_str(&format!("  user {user}"));
    }
    if let Some(session) = first(|s| s.session_id.as_deref()) {
        header.push_str(&format!("  session {session}"));
    }
    let tags = trace.merged_tags();
    if !tags.is_empty() {
        header.push_str(&format!("  tags {}", tags.join(",")));
    }
    header.push_str(&format!("  {} spans", trace.spans.len()));
    if !usage.is_empty() {
        header += &format!(
            "  tokens {} in / {} out",
            usage.input_tokens.unwrap_or(0),
            usage.output_tokens.unwrap_or(0)
        );
    }
    if cost > 0.0 {
        header += &format!("  {}", fmt_cost(cost));
    }
    header += &format!("  {}", fmt_duration(end.saturating_sub(start)));
    if !trace.is_complete() {
        header += "  (incomplete)";
    }
    let mut out = st.paint("1", &header);
    out.push('\n');
    for root in trace.children_of(None) {
        render_span(trace, root, "", None, &st, &mut out);
    }
    out
}

fn render_span(
    trace: &Trace,
    span: &SpanRecord,
    prefix: &str,
    last: Option<bool>,
    st: &Style,
    out: &mut String,
) {
    let (branch, child_prefix) = match last {
        None => (String::new(), String::new()),
        Some(true) => (format!("{prefix}└─ "), format!("{prefix}   ")),
        Some(false) => (format!("{prefix}├─ "), format!("{prefix}│  ")),
    };
    out.push_str(&branch);
    out.push_str(&st.line(span));
    out.push('\n');
    let children = trace.children_of(Some(span.span_id));
    let n = children.len();
    for (i, child) in children.into_iter().enumerate() {
        render_span(trace, child, &child_prefix, Some(i + 1 == n), st, out);
    }
}

/// One line: what the span is, what it cost, how it ended.
pub fn span_line(s: &SpanRecord, color: bool) -> String {
    Style { on: color }.line(s)
}

impl Style {
    fn line(&self, s: &SpanRecord) -> String {
        let mut label = self.paint("36", s.kind.as_str());
        if s.name != s.kind.as_str() {
            label = format!("{label} {}", s.name);
        }
        let target = s
            .agent
            .as_ref()
            .filter(|_| s.kind == crate::SpanKind::AgentRun)
            .and_then(|a| a.name.clone())
            .or_else(|| s.tool.as_ref().and_then(|t| t.name.clone()))
            .or_else(|| {
                s.attributes
                    .get(crate::fields::EVALUATION_NAME)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .or_else(|| {
                s.attributes
                    .get("gen_ai.data_source.id")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            });
        if let Some(t) = target {
            label += &format!(" [{t}]");
        }
        if let Some(n) = s.attempt.map(u64::from).or_else(|| {
            s.attributes
                .get(crate::fields::STEP)
                .and_then(|v| v.as_u64())
        }) {
            label += &format!(" #{n}");
        }
        let mut parts = vec![label];
        if s.kind == crate::SpanKind::Request {
            // `GET /chat 200`, from the HTTP fields the framework recorded.
            let http: Vec<String> = ["http.request.method", "http.route", "url.path"]
                .iter()
                .filter_map(|k| s.attributes.get(*k))
                .chain(s.attributes.get("http.response.status_code"))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect();
            if !http.is_empty() {
                parts.push(http.join(" "));
            }
        }
        if let Some(model) = s.model() {
            let m = match &s.provider {
                Some(p) => format!("{model}@{p}"),
                None => model.to_string(),
            };
            parts.push(self.paint("35", &m));
        }
        if let Some(u) = &s.usage {
            let mut t = format!("in {}", u.input_tokens.unwrap_or(0));
            if let Some(c) = u.cache_read_input_tokens.filter(|c| *c > 0) {
                t += &format!(" (cached {c})");
            }
            if let Some(o) = u.output_tokens {
                t += &format!(" out {o}");
            }
            if let Some(r) = u.reasoning_tokens.filter(|r| *r > 0) {
                t += &format!(" (reasoning {r})");
            }
            if !s.billable {
                t += " (not billed here)";
            }
            parts.push(t);
        }
        if let Some(c) = s.cost.as_ref().and_then(|c| c.total()) {
            parts.push(fmt_cost(c));
        }
        let took = fmt_duration(s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano));
        parts.push(match s.time_to_first_token_s {
            // Streams: when the first token came, then the whole call.
            Some(ttft) => format!(
                "first token {} of {took}",
                fmt_duration((ttft.max(0.0) * 1e9) as u64)
            ),
            None => took,
        });
        parts.push(match &s.status {
            Status::Error {
                message,
                error_type,
            } => {
                let t = error_type.as_deref().unwrap_or("error");
                self.paint(
                    "31",
                    format!("error {t}: {message}").trim_end_matches([':', ' ']),
                )
            }
            _ => self.paint("32", "ok"),
        });
        if s.finish_reasons.iter().any(|r| r == "length") {
            parts.push(self.paint("33", "⚠ length"));
        }
        for score in &s.scores {
            parts.push(self.paint("33", &format!("score {}", score_text(score))));
        }
        if s.dropped_events > 0 {
            parts.push(format!("({} events dropped)", s.dropped_events));
        }
        parts.join("  ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Cost, SpanKind, Usage};

    #[test]
    fn renders_tree_with_billable_totals_and_marks() {
        let mut root = SpanRecord::new("invoke_agent", SpanKind::AgentRun);
        root.agent = Some(crate::AgentInfo {
            name: Some("helper".into()),
            ..Default::default()
        });
        let mut g = SpanRecord::new("chat", SpanKind::ModelGeneration);
        g.trace_id = root.trace_id;
        g.parent_span_id = Some(root.span_id);
        g.billable = true;
        g.provider = Some("openai".into());
        g.request_model = Some("gpt-4o-mini".into());
        g.usage = Some(Usage::new(100, 20).with_cache_read(40));
        g.cost = Some(Cost::usd(0.5));
        g.finish_reasons = vec!["length".into()];
        g.start_time_unix_nano = root.start_time_unix_nano + 1;
        g.end_time_unix_nano = g.start_time_unix_nano + 900_000_000;
        g.time_to_first_token_s = Some(0.25);
        let mut step = SpanRecord::new("step", SpanKind::ModelStep);
        step.trace_id = root.trace_id;
        step.parent_span_id = Some(g.span_id);
        step.usage = Some(Usage::new(100, 20));
        step.status = Status::Error {
            message: "boom".into(),
            error_type: Some("timeout".into()),
        };
        let batch = [step, g, root];
        let trace = trace_views(&batch).remove(0);
        let text = render_trace(&trace, false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("3 spans") && lines[0].contains("tokens 100 in / 20 out"),
            "{text}"
        );
        assert!(lines[0].contains("$0.500000"), "{text}");
        assert!(
            lines[1].starts_with("agent_run invoke_agent [helper]"),
            "{text}"
        );
        assert!(
            lines[2].starts_with(
                "└─ model_generation chat  gpt-4o-mini@openai  in 100 (cached 40) out 20"
            ),
            "{text}"
        );
        assert!(lines[2].contains("⚠ length"), "{text}");
        assert!(lines[2].contains("first token 250ms of 900ms"), "{text}");
        assert!(
            lines[3].starts_with("   └─ model_step") && lines[3].contains("(not billed here)"),
            "{text}"
        );
        assert!(lines[3].contains("error timeout: boom"), "{text}");
        assert!(!text.contains('\x1b'));
        assert!(render_trace(&trace, true).contains("\x1b[36m"));
    }
}
