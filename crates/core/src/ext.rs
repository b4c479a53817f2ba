//! [`AiSpanExt`]: set what plain `span.record(...)` can't (JSON input/output, usage structs, re-stamped
//! models, trace context) on any AI span, whether or not its callsite declared the fields.
//!
//! Every method is a no-op (returning `false`/`None`) when the span is disabled, is not an AI span, or
//! no [`AiLayer`](crate::AiLayer) is installed: instrumentation never panics because tracing is off.

use std::fmt;

use serde_json::Value;

use crate::fields::set_error;
use crate::ids::{IdParseError, SpanId, TraceId, TraceParent};
use crate::layer::{SpanState, StateAccess};
use crate::message::{messages_to_value, ChatMessage};
use crate::provider::normalize_provider;
use crate::record::{Cost, SpanRecord, Status, Usage};

/// Why [`AiSpanExt::set_parent_traceparent`] did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetParentError {
    /// The header is not a valid W3C `traceparent`.
    InvalidTraceparent(IdParseError),
    /// The span is disabled, not an AI span, or no `AiLayer` is installed.
    NotAnAiSpan,
}

impl fmt::Display for SetParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetParentError::InvalidTraceparent(e) => write!(f, "invalid traceparent: {e}"),
            SetParentError::NotAnAiSpan => {
                f.write_str("span is not an AI span recorded by aitrace")
            }
        }
    }
}

impl std::error::Error for SetParentError {}

/// Extension methods on [`tracing::Span`] for AI spans.
pub trait AiSpanExt {
    /// Runs `f` on the span's record while it is open (the escape hatch under every other method).
    /// False when the span is not an AI span of an installed layer.
    fn with_record(&self, f: impl FnOnce(&mut SpanRecord)) -> bool;

    /// Sets the input: text, a JSON value, or use [`set_input_messages`](Self::set_input_messages).
    fn set_input(&self, input: impl Into<Value>) -> bool {
        let v = input.into();
        self.with_record(|r| r.input = Some(v))
    }
    /// Sets the input to chat messages (GenAI `role` + `parts`).
    fn set_input_messages(&self, messages: &[ChatMessage]) -> bool {
        self.set_input(messages_to_value(messages))
    }
    /// Sets the output.
    fn set_output(&self, output: impl Into<Value>) -> bool {
        let v = output.into();
        self.with_record(|r| r.output = Some(v))
    }
    /// Sets the output to chat messages; their finish reasons become the span's finish reasons when
    /// none were recorded.
    fn set_output_messages(&self, messages: &[ChatMessage]) -> bool {
        let v = messages_to_value(messages);
        let reasons: Vec<String> = messages
            .iter()
            .filter_map(|m| m.finish_reason.clone())
            .collect();
        self.with_record(|r| {
            r.output = Some(v);
            if r.finish_reasons.is_empty() {
                r.finish_reasons = reasons;
            }
        })
    }
    /// Records token usage; fields given later replace earlier ones, missing fields are kept.
    fn record_usage(&self, usage: Usage) -> bool {
        self.with_record(|r| {
            r.usage
                .get_or_insert_with(Usage::default)
                .merge_from(&usage)
        })
    }
    /// Records the cost of the call.
    fn record_cost(&self, cost: Cost) -> bool {
        self.with_record(|r| r.cost = Some(cost))
    }
    /// Names the provider and model of this span; the latest call wins. Used when the model that
    /// answers is not the one the span was created for (fallback): the response model recorded for an
    /// earlier model is cleared, since it described another call.
    fn set_model(&self, provider: &str, model: &str) -> bool {
        let provider = normalize_provider(provider);
        let model = model.to_string();
        self.with_record(|r| {
            r.provider = Some(provider);
            r.request_model = Some(model);
            r.response_model = None;
        })
    }
    /// [`set_model`](Self::set_model) on this span *and* on the nearest enclosing billable span (the
    /// generation a fallback attempt runs under), so the span a user looks at names the model that
    /// answered and cost lands on it. True when at least one span was stamped.
    fn restamp_model(&self, provider: &str, model: &str) -> bool;
    /// Records usage on the nearest billable span (this one, or the generation / embedding / STT /
    /// TTS span enclosing it), where it is billed once. False when there is none.
    fn record_billable_usage(&self, usage: Usage) -> bool;
    /// Whether this span or an enclosing one is a billable span (generation, embedding, STT, TTS).
    fn in_billable_span(&self) -> bool {
        let mut found = false;
        self.walk_records(&mut |r| {
            found = r.kind.is_billable_kind();
            !found
        });
        found
    }
    /// Calls `f` on this span's record (if it is an AI span) and then each enclosing AI span's, nearest
    /// first, while `f` returns true.
    fn walk_records(&self, f: &mut dyn FnMut(&mut SpanRecord) -> bool) -> bool;
    /// Sets the end user.
    fn set_user(&self, user_id: impl Into<String>) -> bool {
        let v = user_id.into();
        self.with_record(|r| r.user_id = Some(v))
    }
    /// Sets the session / conversation id.
    fn set_session(&self, session_id: impl Into<String>) -> bool {
        let v = session_id.into();
        self.with_record(|r| r.session_id = Some(v))
    }
    /// Adds tags (duplicates are ignored).
    fn add_tags<I, T>(&self, tags: I) -> bool
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        self.with_record(|r| {
            for t in tags {
                if !r.tags.contains(&t) {
                    r.tags.push(t);
                }
            }
        })
    }
    /// Sets a metadata entry. A key `<exporter>.<key>` (`langfuse.promptName`) reaches only that
    /// exporter, without the prefix.
    fn set_metadata(&self, key: impl Into<String>, value: impl Into<Value>) -> bool {
        let (k, v) = (key.into(), value.into());
        self.with_record(|r| {
            r.metadata.insert(k, v);
        })
    }
    /// Marks the span failed with an error class (`timeout`, `rate_limited`, `500`) and a message.
    fn set_error(&self, error_type: &str, message: impl fmt::Display) -> bool {
        let (t, m) = (error_type.to_string(), message.to_string());
        self.with_record(|r| set_error(r, Some(m), Some(t)))
    }
    /// Marks the span explicitly successful.
    fn set_ok(&self) -> bool {
        self.with_record(|r| r.status = Status::Ok)
    }
    /// Joins the distributed trace of an incoming W3C `traceparent` header: this span takes its trace
    /// id and the remote span as parent. Call it right after creating the root AI span, before
    /// creating children.
    fn set_parent_traceparent(&self, header: &str) -> Result<(), SetParentError>;
    /// Puts this root span (and the children created after this call) in the trace `trace_id`, e.g. an
    /// id derived from your own request id so you can find or score the trace later. No remote parent
    /// is set. False when the span is not an AI span.
    fn set_trace_id(&self, trace_id: TraceId) -> bool;
    /// The `traceparent` header to send downstream so the next service joins this trace: this span if
    /// it is an AI span, else its nearest AI ancestor.
    fn current_traceparent(&self) -> Option<String>;
    /// The trace id aitrace assigned (nearest AI span).
    fn ai_trace_id(&self) -> Option<TraceId>;
    /// The span id aitrace assigned (nearest AI span).
    fn ai_span_id(&self) -> Option<SpanId>;
}

fn walk(
    span: &tracing::Span,
    ancestors: bool,
    f: &mut dyn FnMut(&mut SpanState, bool) -> bool,
) -> bool {
    span.with_subscriber(|(id, dispatch)| {
        dispatch
            .downcast_ref::<StateAccess>()
            .is_some_and(|access| access.walk(dispatch, id, ancestors, f))
    })
    .unwrap_or(false)
}

impl AiSpanExt for tracing::Span {
    fn with_record(&self, f: impl FnOnce(&mut SpanRecord)) -> bool {
        let mut f = Some(f);
        walk(self, false, &mut |state, _| {
            if let Some(f) = f.take() {
                f(&mut state.record);
            }
            false
        })
    }

    fn restamp_model(&self, provider: &str, model: &str) -> bool {
        let provider = normalize_provider(provider);
        let mut stamped = false;
        walk(self, true, &mut |state, is_self| {
            let r = &mut state.record;
            let billable = r.kind.is_billable_kind();
            // This span (if it is an AI span) and the billable span of the call; never an agent or
            // workflow above it.
            if is_self || billable {
                r.provider = Some(provider.clone());
                r.request_model = Some(model.to_string());
                r.response_model = None;
                stamped = true;
            }
            // Stop once the billable span of the call carries the model.
            !billable
        });
        stamped
    }

    fn walk_records(&self, f: &mut dyn FnMut(&mut SpanRecord) -> bool) -> bool {
        walk(self, true, &mut |state, _| f(&mut state.record))
    }

    fn record_billable_usage(&self, usage: Usage) -> bool {
        let mut done = false;
        walk(self, true, &mut |state, _| {
            if state.record.kind.is_billable_kind() {
                state
                    .record
                    .usage
                    .get_or_insert_with(Usage::default)
                    .merge_from(&usage);
                done = true;
                return false;
            }
            true
        });
        done
    }

    fn set_parent_traceparent(&self, header: &str) -> Result<(), SetParentError> {
        let tp = TraceParent::parse(header).map_err(SetParentError::InvalidTraceparent)?;
        let done = walk(self, false, &mut |state, _| {
            state.record.trace_id = tp.trace_id;
            state.record.parent_span_id = Some(tp.parent_span_id);
            state.record.parent_is_remote = true;
            state.record.remote_sampled = Some(tp.sampled);
            state.ids_adopted = true;
            false
        });
        if done {
            Ok(())
        } else {
            Err(SetParentError::NotAnAiSpan)
        }
    }

    fn set_trace_id(&self, trace_id: TraceId) -> bool {
        walk(self, false, &mut |state, _| {
            state.record.trace_id = trace_id;
            state.ids_adopted = true;
            false
        })
    }

    fn current_traceparent(&self) -> Option<String> {
        let (trace, span) = (self.ai_trace_id()?, self.ai_span_id()?);
        Some(
            TraceParent {
                trace_id: trace,
                parent_span_id: span,
                sampled: true,
            }
            .to_string(),
        )
    }

    fn ai_trace_id(&self) -> Option<TraceId> {
        let mut out = None;
        walk(self, true, &mut |s, _| {
            out = Some(s.record.trace_id);
            false
        });
        out
    }

    fn ai_span_id(&self) -> Option<SpanId> {
        let mut out = None;
        walk(self, true, &mut |s, _| {
            out = Some(s.record.span_id);
            false
        });
        out
    }
}
