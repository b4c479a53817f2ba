//! [`AiSpanExt`]: set what plain `span.record(...)` can't (JSON input/output, usage structs, re-stamped
//! models, trace context) on any AI span, whether or not its callsite declared the fields.
//!
//! Every method is a no-op (returning `false`/`None`) when the span is disabled, is not an AI span, or
//! no [`AiLayer`](crate::AiLayer) is installed: instrumentation never panics because tracing is off.

use std::fmt;

use serde_json::Value;

use crate::fields::set_error;
use crate::ids::{IdParseError, SpanId, TraceId, TraceParent};
use crate::layer::{SpanState, StateAccess, TraceScope};
use crate::message::{messages_to_value, ChatMessage};
use crate::provider::normalize_provider;
use crate::record::{Cost, SpanKind, SpanRecord, Status, Usage};
use crate::score::{Score, ScoreError, ScoreRecord, ScoreSource, ScoreTarget};

/// Scores one span keeps while it runs; one more with a new id is refused
/// ([`ScoreError::TooMany`]). A score with an id already on the span replaces it.
pub const MAX_SCORES_PER_SPAN: usize = 64;

/// Why [`AiSpanExt::set_parent_traceparent`] did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetParentError {
    /// The header is not a valid W3C `traceparent`.
    InvalidTraceparent(IdParseError),
    /// The span is disabled, or no `AiLayer` is installed.
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
    /// Adds the usage of one more model call made under this span: a step keeps it (the layer bills a
    /// generation the sum of its steps); anywhere else it adds to the nearest billable span, so
    /// several calls under one generation add up. Where the usage lands is then billed exactly once
    /// by the layer. False when there is neither a step here nor a billable span.
    fn add_billable_usage(&self, usage: Usage) -> bool;
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
    /// Sets the end user. On an application span (a request), every AI span below it carries it.
    ///
    /// False when nothing holds the value: the span is disabled (no layer, aitrace's included, wants
    /// it: a global log filter that rejects it, or a span outside
    /// [`Builder::context_spans`](crate::Builder::context_spans)), or no aitrace layer is installed.
    /// aitrace warns once (target `aitrace::diagnostics`) when a global filter is the cause.
    fn set_user(&self, user_id: impl Into<String>) -> bool;
    /// Sets the session / conversation id. On an application span, every AI span below carries it.
    /// False as for [`set_user`](Self::set_user).
    fn set_session(&self, session_id: impl Into<String>) -> bool;
    /// Adds tags (duplicates are ignored). On an application span, every AI span below carries them.
    fn add_tags<I, T>(&self, tags: I) -> bool
    where
        I: IntoIterator<Item = T>,
        T: Into<String>;
    /// Sets a metadata entry. A key `<exporter>.<key>` (`langfuse.promptName`) reaches only that
    /// exporter, without the prefix. On an application span, every AI span below carries it (a span's
    /// own entry wins).
    fn set_metadata(&self, key: impl Into<String>, value: impl Into<Value>) -> bool;
    /// Names the whole trace (Langfuse's trace name, the console's heading), on an application span
    /// or an AI span, for every AI span below it; the nearest name wins. Set it before the spans
    /// below close. Without it, a trace that runs inside an application span is named after that
    /// span, and one that starts at an AI span after that span.
    fn set_trace_name(&self, name: impl Into<String>) -> bool;
    /// Keeps this span's input out of every exporter (messages, system instructions, tool definitions,
    /// tool arguments, the retrieval query), whenever it is recorded: Mastra's `hideInput`. Usage,
    /// model, timing and errors still flow.
    fn hide_input(&self) -> bool;
    /// Keeps this span's output out of every exporter (messages, tool results, documents).
    fn hide_output(&self) -> bool;
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
    /// id and the remote span as parent. Call it right after creating the span, before creating
    /// children. On an application span (the request span of a handler), every AI span below it joins
    /// that trace, and the top-level ones take the remote span as parent.
    fn set_parent_traceparent(&self, header: &str) -> Result<(), SetParentError>;
    /// Puts this root span (and the children created after this call) in the trace `trace_id`, e.g. an
    /// id derived from your own request id so you can find or score the trace later. No remote parent
    /// is set. On an application span, every AI span below it joins that trace (also the way to start
    /// one trace per job inside a long-lived span). False when tracing is off.
    fn set_trace_id(&self, trace_id: TraceId) -> bool;
    /// The `traceparent` header to send downstream so the next service joins this trace: this span if
    /// it is an AI span, else its nearest AI ancestor.
    fn current_traceparent(&self) -> Option<String>;
    /// The trace id aitrace assigned (nearest AI span), or, on an application span, the trace its AI
    /// spans get.
    fn ai_trace_id(&self) -> Option<TraceId>;
    /// The span id aitrace assigned (nearest AI span).
    fn ai_span_id(&self) -> Option<SpanId>;

    /// Attaches a score to this span while it runs (a guardrail's verdict, an inline check): it
    /// travels with the span to every exporter ([`SpanRecord::scores`]). On an application span (a
    /// request) the score is about its whole trace; on an evaluation span (`scorer_span!`) it is
    /// about what the evaluation judges, sent at once, with source `model` unless set. Never
    /// blocks; an invalid score is an error (and counted), never a panic.
    fn record_score(&self, score: Score) -> Result<(), ScoreError>;

    /// What a score sent later with [`crate::score()`] should name to land on this span: its own
    /// AI span (or nearest AI ancestor), else, on an application span, its whole trace. Its text form
    /// (`Display`) is what a handler hands its frontend. `None` when tracing is off for the span.
    fn score_target(&self) -> Option<ScoreTarget>;
}

/// The target an evaluation span judges, from its `aitrace.evaluation.target` field.
pub(crate) fn evaluation_target(r: &SpanRecord) -> Option<ScoreTarget> {
    r.attributes
        .get(crate::fields::EVALUATION_TARGET)
        .and_then(Value::as_str)
        .and_then(|t| t.parse().ok())
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

/// Runs `on_ai` on the span's record when it is an AI span, else `on_app` on the trace scope of the
/// application span. False when tracing is off for the span.
fn with_trace_fields(
    span: &tracing::Span,
    on_ai: impl FnOnce(&mut SpanRecord),
    on_app: impl FnOnce(&mut TraceScope),
) -> bool {
    let (mut on_ai, mut on_app) = (Some(on_ai), Some(on_app));
    let held = span
        .with_subscriber(|(id, dispatch)| {
            let Some(access) = dispatch.downcast_ref::<StateAccess>() else {
                return false;
            };
            access.walk(dispatch, id, false, &mut |state, _| {
                if let Some(f) = on_ai.take() {
                    f(&mut state.record);
                }
                false
            }) || access.scope(dispatch, id, &mut |scope| {
                if let Some(f) = on_app.take() {
                    f(scope);
                }
            })
        })
        .unwrap_or(false);
    if !held && span.is_disabled() {
        crate::layer::diagnostics::context_missing(
            "`set_user` (or another trace value) was set on a disabled span",
        );
    }
    held
}

fn push_tags(into: &mut Vec<String>, tags: Vec<String>) {
    for t in tags {
        if !into.contains(&t) {
            into.push(t);
        }
    }
}

/// Marks an AI span's ids as set by the user (a `traceparent`, `set_trace_id`): its parent must not
/// overwrite them at close.
fn mark_ids_adopted(span: &tracing::Span) {
    walk(span, false, &mut |state, _| {
        state.ids_adopted = true;
        false
    });
}

impl AiSpanExt for tracing::Span {
    fn set_user(&self, user_id: impl Into<String>) -> bool {
        let v = user_id.into();
        let w = v.clone();
        with_trace_fields(self, |r| r.user_id = Some(v), |s| s.user_id = Some(w))
    }

    fn set_session(&self, session_id: impl Into<String>) -> bool {
        let v = session_id.into();
        let w = v.clone();
        with_trace_fields(self, |r| r.session_id = Some(v), |s| s.session_id = Some(w))
    }

    fn add_tags<I, T>(&self, tags: I) -> bool
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        let copy = tags.clone();
        with_trace_fields(
            self,
            |r| push_tags(&mut r.tags, tags),
            |s| push_tags(&mut s.tags, copy),
        )
    }

    fn set_metadata(&self, key: impl Into<String>, value: impl Into<Value>) -> bool {
        let (k, v) = (key.into(), value.into());
        let (k2, v2) = (k.clone(), v.clone());
        with_trace_fields(
            self,
            |r| {
                r.metadata.insert(k, v);
            },
            |s| {
                s.metadata.insert(k2, v2);
            },
        )
    }

    fn set_trace_name(&self, name: impl Into<String>) -> bool {
        let v = name.into();
        let w = v.clone();
        with_trace_fields(self, |r| r.trace_name = Some(v), |s| s.trace_name = Some(w))
    }

    fn hide_input(&self) -> bool {
        walk(self, false, &mut |state, _| {
            state.hide_input = true;
            false
        })
    }

    fn hide_output(&self) -> bool {
        walk(self, false, &mut |state, _| {
            state.hide_output = true;
            false
        })
    }

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

    fn add_billable_usage(&self, usage: Usage) -> bool {
        let mut done = false;
        walk(self, true, &mut |state, is_self| {
            let r = &mut state.record;
            if (is_self && r.kind == SpanKind::ModelStep) || r.kind.is_billable_kind() {
                r.usage = Some(r.usage.map_or(usage, |have| have.add(&usage)));
                done = true;
                return false;
            }
            true
        });
        done
    }

    fn set_parent_traceparent(&self, header: &str) -> Result<(), SetParentError> {
        let tp = TraceParent::parse(header).map_err(SetParentError::InvalidTraceparent)?;
        let done = with_trace_fields(
            self,
            |r| {
                r.trace_id = tp.trace_id;
                r.parent_span_id = Some(tp.parent_span_id);
                r.parent_is_remote = true;
                r.remote_sampled = Some(tp.sampled);
            },
            |s| {
                s.trace_id = Some(tp.trace_id);
                s.explicit = true;
                s.remote_parent = Some(tp.parent_span_id);
                s.remote_sampled = Some(tp.sampled);
            },
        );
        mark_ids_adopted(self);
        if done {
            Ok(())
        } else {
            Err(SetParentError::NotAnAiSpan)
        }
    }

    fn set_trace_id(&self, trace_id: TraceId) -> bool {
        let done = with_trace_fields(
            self,
            |r| r.trace_id = trace_id,
            |s| {
                s.trace_id = Some(trace_id);
                s.explicit = true;
                s.remote_parent = None;
            },
        );
        mark_ids_adopted(self);
        done
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
        self.with_subscriber(|(id, dispatch)| {
            dispatch
                .downcast_ref::<StateAccess>()
                .and_then(|access| access.trace_of_app_span(dispatch, id))
        })
        .flatten()
    }

    fn record_score(&self, score: Score) -> Result<(), ScoreError> {
        if let Err(e) = score.validate() {
            crate::pipeline::score_rejected();
            return Err(e);
        }
        let mut score = Some(score);
        let mut outcome: Result<(), ScoreError> = Err(ScoreError::NoTarget);
        self.with_subscriber(|(id, dispatch)| {
            let Some(access) = dispatch.downcast_ref::<StateAccess>() else {
                return;
            };
            let mut send: Option<ScoreRecord> = None;
            let on_ai = access.walk(dispatch, id, false, &mut |state, _| {
                let Some(s) = score.take() else { return false };
                let r = &mut state.record;
                if r.kind == SpanKind::Evaluation {
                    if let Some(target) = evaluation_target(r) {
                        let s = Score {
                            source: s.source.or(Some(ScoreSource::Model)),
                            ..s
                        };
                        if r.output.is_none() {
                            r.output = serde_json::to_value(&s).ok();
                        }
                        outcome = ScoreRecord::new(target, s).map(|mut rec| {
                            rec.evaluation = Some((r.trace_id, r.span_id));
                            send = Some(rec);
                        });
                        return false;
                    }
                }
                outcome =
                    ScoreRecord::new(ScoreTarget::span(r.trace_id, r.span_id), s).and_then(|rec| {
                        match r.scores.iter().position(|have| have.id == rec.id) {
                            Some(at) => {
                                r.scores[at] = rec;
                                Ok(())
                            }
                            None if r.scores.len() >= MAX_SCORES_PER_SPAN => {
                                Err(ScoreError::TooMany)
                            }
                            None => {
                                r.scores.push(rec);
                                Ok(())
                            }
                        }
                    });
                false
            });
            if !on_ai {
                if let (Some(trace), Some(s)) =
                    (access.trace_of_app_span(dispatch, id), score.take())
                {
                    outcome = ScoreRecord::new(ScoreTarget::trace(trace), s).map(|rec| {
                        send = Some(rec);
                    });
                }
            }
            if let Some(rec) = send {
                outcome = match dispatch.downcast_ref::<std::sync::Arc<crate::pipeline::Pipeline>>()
                {
                    Some(p) => p.submit_score(rec),
                    None => crate::pipeline::submit_score_anywhere(rec),
                };
            }
        });
        if outcome.is_err() {
            crate::pipeline::score_rejected();
        }
        outcome
    }

    fn score_target(&self) -> Option<ScoreTarget> {
        if let Some(span) = self.ai_span_id() {
            let mut trace = None;
            walk(self, true, &mut |s, _| {
                trace = Some(s.record.trace_id);
                false
            });
            return trace.map(|t| ScoreTarget::span(t, span));
        }
        self.ai_trace_id().map(ScoreTarget::trace)
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
