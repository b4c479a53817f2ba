//! The tracing layer: which spans become records, how they link, what they carry.

use aitrace_core::testing::{capture, capture_with, TestExporter};
use aitrace_core::{
    agent_span, attempt_span, builder, chunk_span, embedding_span, generation_span, step_span,
    tool_span, AiSpanExt, ChatMessage, Cost, SetParentError, SpanKind, SpanRecord, Status, Usage,
    Verdict,
};
use serde_json::json;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

fn find<'a>(spans: &'a [SpanRecord], name: &str) -> &'a SpanRecord {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one span named {name:?} in {:#?}",
        names(spans)
    );
    found[0]
}

fn names(spans: &[SpanRecord]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn non_ai_spans_produce_nothing_and_ai_spans_link_across_them() {
    let spans = capture(|| {
        let _http = tracing::info_span!("http_request", method = "POST").entered();
        let agent = agent_span!("planner");
        let _a = agent.enter();
        let _db = tracing::info_span!("db_query").entered();
        let _inner = tracing::debug_span!("helper", detail = 1).entered();
        let chat = generation_span!("openai", "gpt-4o");
        chat.in_scope(|| {
            let _plain = tracing::info_span!("parse").entered();
            tool_span!("search").in_scope(|| {});
        });
    });
    assert_eq!(
        names(&spans).len(),
        4,
        "the AI spans and the request they ran in: {:?}",
        names(&spans)
    );
    let request = find(&spans, "http_request");
    assert_eq!(request.kind, SpanKind::Request);
    assert_eq!(request.parent_span_id, None);
    assert_eq!(request.attributes["http.request.method"], json!("POST"));
    assert_eq!(request.attributes["otel.kind"], json!("server"));
    let agent = find(&spans, "invoke_agent");
    let chat = find(&spans, "chat");
    let tool = find(&spans, "execute_tool");
    // The request's child for an exporter that receives requests (this one does).
    assert_eq!(agent.parent_span_id, Some(request.span_id));
    assert_eq!(agent.request_span_id, Some(request.span_id));
    assert!(request.start_time_unix_nano <= agent.start_time_unix_nano);
    assert!(request.end_time_unix_nano >= agent.end_time_unix_nano);
    assert_eq!(chat.parent_span_id, Some(agent.span_id));
    assert_eq!(tool.parent_span_id, Some(chat.span_id));
    assert!(spans.iter().all(|s| s.trace_id == agent.trace_id));
    assert_eq!(agent.kind, SpanKind::AgentRun);
    assert_eq!(chat.kind, SpanKind::ModelGeneration);
    assert_eq!(tool.kind, SpanKind::ToolCall);
}

#[test]
fn any_gen_ai_field_makes_an_ai_span_and_the_operation_infers_the_kind() {
    let spans = capture(|| {
        let _e = tracing::info_span!(
            "my_embed",
            gen_ai.operation.name = "embeddings",
            gen_ai.request.model = "text-embedding-3-small",
            gen_ai.system = "OpenAI"
        )
        .entered();
        let _x = tracing::info_span!("custom", aitrace.kind = "guardrail").entered();
        let _ignored = tracing::info_span!("not_ai", genai = 1, kind = "x").entered();
    });
    assert_eq!(names(&spans), ["custom", "my_embed"]);
    let e = find(&spans, "my_embed");
    assert_eq!(e.kind, SpanKind::Embedding);
    assert_eq!(e.operation.as_deref(), Some("embeddings"));
    // The deprecated `gen_ai.system` is read, normalized, and stored as the provider.
    assert_eq!(e.provider.as_deref(), Some("openai"));
    assert_eq!(find(&spans, "custom").kind, SpanKind::Guardrail);
}

#[test]
fn fields_recorded_late_are_kept() {
    let spans = capture(|| {
        let chat = generation_span!("anthropic", "claude-3-5-sonnet", customer = Empty);
        chat.record("gen_ai.usage.input_tokens", 120u64);
        chat.record("gen_ai.usage.output_tokens", 30i64);
        chat.record("gen_ai.usage.cache_read.input_tokens", 100);
        chat.record("gen_ai.response.model", "claude-3-5-sonnet-20241022");
        chat.record("gen_ai.response.finish_reasons", r#"["stop"]"#);
        chat.record("gen_ai.response.id", "msg_1");
        chat.record("gen_ai.conversation.id", "conv-9");
        chat.record("customer", "acme");
        chat.record("error.type", Empty);
        let late = tracing::info_span!(
            "late",
            aitrace.kind = "generation",
            gen_ai.request.temperature = Empty,
            metadata.langfuse.promptName = Empty,
            aitrace.tags = Empty
        );
        late.record("gen_ai.request.temperature", 0.3);
        late.record("metadata.langfuse.promptName", "support-v2");
        late.record("aitrace.tags", "beta, eu");
    });
    let chat = find(&spans, "chat");
    let usage = chat.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens),
        (Some(120), Some(30))
    );
    assert_eq!(usage.cache_read_input_tokens, Some(100));
    assert_eq!(
        chat.response_model.as_deref(),
        Some("claude-3-5-sonnet-20241022")
    );
    assert_eq!(chat.model(), Some("claude-3-5-sonnet-20241022"));
    assert_eq!(chat.finish_reasons, ["stop"]);
    assert_eq!(chat.response_id.as_deref(), Some("msg_1"));
    assert_eq!(chat.session_id.as_deref(), Some("conv-9"));
    assert_eq!(chat.attributes["customer"], json!("acme"));
    assert_eq!(chat.status, Status::Unset);
    let late = find(&spans, "late");
    assert_eq!(late.params.temperature, Some(0.3));
    assert_eq!(late.metadata["langfuse.promptName"], json!("support-v2"));
    // Namespaces are the names of the exporters built (none here but the test's): register two.
    aitrace_core::register_metadata_namespace("langfuse");
    aitrace_core::register_metadata_namespace("braintrust");
    assert_eq!(
        late.metadata_for("langfuse")["promptName"],
        json!("support-v2")
    );
    assert!(!late
        .metadata_for("braintrust")
        .contains_key("langfuse.promptName"));
    assert_eq!(late.tags, ["beta", "eu"]);
}

#[test]
fn extension_methods_fill_the_record() {
    let spans = capture(|| {
        let chat = generation_span!("openai", "gpt-4o-mini");
        assert!(
            chat.set_input_messages(&[ChatMessage::system("be brief"), ChatMessage::user("hi")])
        );
        chat.set_output_messages(&[ChatMessage::assistant("hello").with_finish_reason("length")]);
        chat.record_usage(Usage::new(10, 2));
        let mut reasoning = Usage::default();
        reasoning.reasoning_tokens = Some(1);
        chat.record_usage(reasoning);
        chat.record_cost(Cost::usd(0.25));
        chat.set_user("u-1");
        chat.set_session("s-1");
        chat.add_tags(["a", "b", "a"]);
        chat.set_metadata("braintrust.experiment", "exp-1");
        chat.set_error("rate_limited", "429 from provider");
    });
    let chat = find(&spans, "chat");
    assert_eq!(
        chat.input.as_ref().unwrap()[1]["parts"][0]["content"],
        json!("hi")
    );
    assert_eq!(
        chat.output.as_ref().unwrap()[0]["finish_reason"],
        json!("length")
    );
    assert_eq!(chat.finish_reasons, ["length"]);
    let u = chat.usage.unwrap();
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.reasoning_tokens),
        (Some(10), Some(2), Some(1))
    );
    assert_eq!(chat.cost.as_ref().and_then(Cost::total), Some(0.25));
    assert_eq!(chat.user_id.as_deref(), Some("u-1"));
    assert_eq!(chat.session_id.as_deref(), Some("s-1"));
    assert_eq!(chat.tags, ["a", "b"]);
    assert_eq!(
        chat.metadata_for("braintrust")["experiment"],
        json!("exp-1")
    );
    assert_eq!(
        chat.status,
        Status::Error {
            message: "429 from provider".into(),
            error_type: Some("rate_limited".into())
        }
    );
}

#[test]
fn extension_methods_are_no_ops_without_the_layer_or_on_plain_spans() {
    // No subscriber at all.
    let span = generation_span!("openai", "gpt-4o");
    assert!(!span.record_usage(Usage::new(1, 1)));
    assert!(span.current_traceparent().is_none());
    assert_eq!(
        span.set_parent_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        Err(SetParentError::NotAnAiSpan)
    );
    // A subscriber without our layer.
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    aitrace_core::testing::with_default(subscriber, || {
        let span = generation_span!("openai", "gpt-4o");
        assert!(!span.set_model("anthropic", "claude"));
        assert!(span.ai_trace_id().is_none());
    });
    // Our layer, but a non-AI span: the setter does nothing, the getters find no AI ancestor.
    capture(|| {
        let plain = tracing::info_span!("plain");
        assert!(!plain.set_input("x"));
        assert!(plain.current_traceparent().is_none());
    });
}

#[test]
fn restamped_model_wins_on_the_caller_and_its_billable_ancestor() {
    let spans = capture(|| {
        let chat = generation_span!("openai", "gpt-4o");
        chat.record("gen_ai.response.model", "gpt-4o-2024-08-06");
        let _c = chat.enter();
        let step = step_span!(0);
        let _s = step.enter();
        attempt_span!(0u32, "openai", "gpt-4o").in_scope(|| {
            tracing::Span::current().set_error("timeout", "primary timed out");
        });
        attempt_span!(1u32, "anthropic", "claude-3-5-haiku").in_scope(|| {
            // The adapter re-stamps from the caller's context (the step).
            assert!(step.restamp_model("Anthropic", "claude-3-5-haiku"));
        });
        // A later set_model on the step wins over the re-stamp.
        step.set_model("anthropic", "claude-3-5-haiku-latest");
    });
    let chat = find(&spans, "chat");
    assert_eq!(chat.provider.as_deref(), Some("anthropic"));
    assert_eq!(
        chat.model(),
        Some("claude-3-5-haiku"),
        "the primary's response model is cleared"
    );
    let step = find(&spans, "step");
    assert_eq!(step.model(), Some("claude-3-5-haiku-latest"));
    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::FallbackAttempt)
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [Some(0), Some(1)]
    );
    assert!(attempts[0].status.is_error());
    assert_eq!(attempts[0].provider.as_deref(), Some("openai"));
    assert_eq!(attempts[1].provider.as_deref(), Some("anthropic"));
    assert!(attempts.iter().all(|a| !a.billable));
}

#[test]
fn usage_is_billed_once_across_nested_generation_step_and_chunk_spans() {
    // Each span of a model call carries the same usage, as Mastra's did: wrapper, step, chunk and
    // inner request. Only the innermost generation bills it.
    let call = Usage::new(300, 50).with_cache_read(100);
    let spans = capture(|| {
        let agent = agent_span!("a");
        let _a = agent.enter();
        agent.record_usage(call); // wrapper
        let outer = generation_span!("openai", "gpt-4o");
        let _o = outer.enter();
        outer.record_usage(call);
        let step = step_span!(0);
        let _s = step.enter();
        step.record_usage(call);
        chunk_span!().in_scope(|| {
            tracing::Span::current().record_usage(call);
        });
        let inner = tracing::info_span!("provider_request", aitrace.kind = "generation");
        inner.record_usage(call);
    });
    let trace_id = spans[0].trace_id;
    let billable: Vec<_> = spans
        .iter()
        .filter(|s| s.billable)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(billable, ["provider_request"]);
    assert_eq!(aitrace_core::testing::total_billable_usage(&spans), call);
    let exporter_view = TestExporter::new();
    {
        use aitrace_core::Exporter;
        let mut e = exporter_view.clone();
        e.export(&spans).unwrap();
    }
    assert_eq!(exporter_view.total_billable_usage(trace_id), call);
    // Every span still shows the usage for display.
    assert!(spans.iter().all(|s| s.usage == Some(call)));
}

#[test]
fn a_generation_without_usage_bills_the_sum_of_its_steps() {
    let spans = capture(|| {
        let gen = generation_span!("openai", "gpt-4o");
        let _g = gen.enter();
        step_span!(0).in_scope(|| tracing::Span::current().record_usage(Usage::new(100, 10)));
        step_span!(1).in_scope(|| {
            tracing::Span::current().record_usage(Usage::new(200, 20).with_cache_read(50))
        });
    });
    let gen = find(&spans, "chat");
    assert!(gen.billable);
    assert_eq!(gen.usage, Some(Usage::new(300, 30).with_cache_read(50)));
    assert!(spans
        .iter()
        .filter(|s| s.kind == SpanKind::ModelStep)
        .all(|s| !s.billable));
    assert_eq!(
        aitrace_core::testing::total_billable_usage(&spans),
        Usage::new(300, 30).with_cache_read(50)
    );
}

#[test]
fn a_lone_step_bills_itself_and_sequential_generations_each_bill_once() {
    let spans = capture(|| {
        let _agent = agent_span!("a").entered();
        step_span!(0).in_scope(|| tracing::Span::current().record_usage(Usage::new(5, 1)));
        for _ in 0..3 {
            generation_span!("openai", "gpt-4o-mini").in_scope(|| {
                tracing::Span::current().record_usage(Usage::new(10, 2));
            });
        }
        embedding_span!("openai", "text-embedding-3-small")
            .in_scope(|| tracing::Span::current().record_usage(Usage::input_only(7)));
    });
    assert!(find(&spans, "step").billable);
    assert_eq!(spans.iter().filter(|s| s.billable).count(), 5);
    let total = aitrace_core::testing::total_billable_usage(&spans);
    assert_eq!(
        (total.input_tokens, total.output_tokens),
        (Some(5 + 30 + 7), Some(1 + 6))
    );
}

#[test]
fn traceparent_in_and_out() {
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut outgoing = None;
    let spans = capture(|| {
        let agent = agent_span!("server-side");
        assert_eq!(
            agent
                .set_parent_traceparent("garbage")
                .unwrap_err()
                .to_string(),
            "invalid traceparent: traceparent version must be 2 hex digits"
        );
        agent.set_parent_traceparent(incoming).unwrap();
        let _a = agent.enter();
        let tool = tool_span!("call_downstream");
        let _t = tool.enter();
        // Inside a plain span, the nearest AI span's context is propagated.
        let _http = tracing::info_span!("http_client").entered();
        outgoing = tracing::Span::current().current_traceparent();
    });
    let agent = find(&spans, "invoke_agent");
    let tool = find(&spans, "execute_tool");
    assert_eq!(
        agent.trace_id.to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        agent.parent_span_id.unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(agent.parent_is_remote && agent.is_local_root());
    assert_eq!(tool.trace_id, agent.trace_id);
    assert_eq!(tool.parent_span_id, Some(agent.span_id));
    assert!(!tool.parent_is_remote);
    assert_eq!(
        outgoing.as_deref(),
        Some(format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", tool.span_id).as_str())
    );
}

#[test]
fn agent_session_and_user_flow_down_to_child_spans() {
    let spans = capture(|| {
        let agent = agent_span!("support", gen_ai.agent.id = "ag-1");
        agent.set_session("conv-1");
        agent.set_user("user-9");
        let _a = agent.enter();
        generation_span!("openai", "gpt-4o").in_scope(|| {});
        let own = generation_span!("openai", "gpt-4o", aitrace.name = "own");
        own.set_session("other");
    });
    let chat = find(&spans, "chat");
    let agent = chat.agent.as_ref().unwrap();
    assert_eq!(
        (agent.id.as_deref(), agent.name.as_deref()),
        (Some("ag-1"), Some("support"))
    );
    assert_eq!(chat.session_id.as_deref(), Some("conv-1"));
    assert_eq!(chat.user_id.as_deref(), Some("user-9"));
    assert_eq!(find(&spans, "own").session_id.as_deref(), Some("other"));
}

#[test]
fn events_inside_ai_spans_are_kept_at_or_above_the_level() {
    let spans = capture_with(
        builder().event_level(tracing::level_filters::LevelFilter::INFO),
        || {
            tracing::info!("outside any AI span");
            let _plain = tracing::info_span!("plain").entered();
            tool_span!("t").in_scope(|| {
                tracing::info!(rows = 3, "fetched");
                tracing::debug!("too verbose");
                let _inner = tracing::info_span!("plain_inner").entered();
                tracing::warn!(code = 7, "slow backend");
            });
            tracing::error!("after the tool");
        },
    );
    let tool = find(&spans, "execute_tool");
    let events: Vec<_> = tool
        .events
        .iter()
        .map(|e| (e.name.as_str(), e.level.as_str()))
        .collect();
    assert_eq!(events, [("fetched", "INFO"), ("slow backend", "WARN")]);
    assert_eq!(tool.events[0].attributes["rows"], json!(3));
    // The tool and the application span it ran in.
    assert_eq!(names(&spans), ["execute_tool", "plain"]);
}

#[test]
fn events_per_span_are_bounded() {
    let spans = capture(|| {
        tool_span!("chatty").in_scope(|| {
            for i in 0..(aitrace_core::MAX_EVENTS_PER_SPAN + 10) {
                tracing::info!(i, "tick");
            }
        });
    });
    assert_eq!(spans[0].events.len(), aitrace_core::MAX_EVENTS_PER_SPAN);
    assert_eq!(spans[0].dropped_events, 10);
}

#[test]
fn processors_run_in_order_and_can_modify_or_drop() {
    let spans = capture_with(
        builder()
            .processor(|s: &mut SpanRecord| {
                s.tags.push("first".into());
                Verdict::Keep
            })
            .processor(|s: &mut SpanRecord| {
                s.tags.push("second".into());
                if s.name == "execute_tool" {
                    Verdict::Drop
                } else {
                    Verdict::Keep
                }
            }),
        || {
            generation_span!("openai", "gpt-4o").in_scope(|| tool_span!("t").in_scope(|| {}));
        },
    );
    assert_eq!(names(&spans), ["chat"]);
    assert_eq!(spans[0].tags, ["first", "second"]);
}

#[test]
fn span_macros_declare_their_standard_fields() {
    let spans = capture(|| {
        let _g = generation_span!(
            "OpenAI",
            "gpt-4o",
            gen_ai.request.max_tokens = 256u64,
            team = "x"
        )
        .entered();
        aitrace_core::stt_span!("deepgram", "nova-3").in_scope(|| {});
        aitrace_core::tts_span!("elevenlabs", "eleven_flash_v2_5").in_scope(|| {});
        aitrace_core::workflow_span!("ingest").in_scope(|| {});
        aitrace_core::retrieval_span!("kb").in_scope(|| {});
        aitrace_core::mcp_tool_span!("read_file", "fs-server").in_scope(|| {});
        aitrace_core::guardrail_span!("pii").in_scope(|| {});
        aitrace_core::rerank_span!("cohere", "rerank-v3.5").in_scope(|| {});
        aitrace_core::workflow_step_span!("chunk-docs").in_scope(|| {});
    });
    let g = find(&spans, "chat");
    assert_eq!(g.provider.as_deref(), Some("openai"));
    assert_eq!(g.params.max_tokens, Some(256));
    assert_eq!(g.attributes["team"], json!("x"));
    let kinds: Vec<SpanKind> = spans.iter().map(|s| s.kind).collect();
    for k in [
        SpanKind::SpeechToText,
        SpanKind::TextToSpeech,
        SpanKind::WorkflowRun,
        SpanKind::Retrieval,
        SpanKind::McpToolCall,
        SpanKind::Guardrail,
        SpanKind::Rerank,
        SpanKind::WorkflowStep,
        SpanKind::ModelGeneration,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
}

#[test]
fn a_root_span_can_take_a_chosen_trace_id() {
    let chosen = aitrace_core::TraceId::from_hex("0123456789abcdef0123456789abcdef").unwrap();
    let spans = capture(|| {
        let agent = agent_span!("a");
        assert!(agent.set_trace_id(chosen));
        agent.in_scope(|| tool_span!("t").in_scope(|| {}));
        // On an application span it starts that trace for the AI spans below.
        let other = aitrace_core::TraceId::from_hex("fedcba9876543210fedcba9876543210").unwrap();
        let job = tracing::info_span!("job");
        assert!(job.set_trace_id(other));
        job.in_scope(|| generation_span!("openai", "gpt-4o").in_scope(|| {}));
    });
    assert_eq!(
        find(&spans, "chat").trace_id.to_string(),
        "fedcba9876543210fedcba9876543210"
    );
    assert_eq!(
        find(&spans, "chat").parent_span_id,
        Some(find(&spans, "job").span_id)
    );
    assert!(find(&spans, "job").parent_span_id.is_none());
    let spans: Vec<_> = spans
        .into_iter()
        .filter(|s| s.name != "chat" && s.name != "job")
        .collect();
    assert!(spans.iter().all(|s| s.trace_id == chosen));
    assert!(find(&spans, "invoke_agent").parent_span_id.is_none());
}

#[test]
fn restamping_from_a_plain_span_never_stamps_an_agent_and_usage_goes_to_the_billable_span() {
    // Another layer keeps the plain spans alive (with only ours, they are disabled).
    let memory = TestExporter::new();
    let (layer, guard) = builder().exporter(memory.clone()).build_layer().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(layer);
    aitrace_core::testing::with_default(subscriber, || {
        let _agent = agent_span!("a").entered();
        let _plain = tracing::info_span!("client_call").entered();
        // No generation around: the agent must not be stamped with a model.
        assert!(!tracing::Span::current().restamp_model("anthropic", "claude"));
        assert!(!tracing::Span::current().record_billable_usage(Usage::new(1, 1)));
        let g = generation_span!("openai", "gpt-4o");
        g.in_scope(|| {
            let _inner = tracing::info_span!("http").entered();
            assert!(tracing::Span::current().restamp_model("anthropic", "claude"));
            assert!(tracing::Span::current().record_billable_usage(Usage::new(7, 3)));
        });
    });
    guard.shutdown(std::time::Duration::from_secs(5));
    let spans = memory.spans();
    let agent = find(&spans, "invoke_agent");
    assert_eq!(
        (agent.provider.as_deref(), agent.request_model.as_deref()),
        (None, None)
    );
    let chat = find(&spans, "chat");
    assert_eq!(chat.model(), Some("claude"));
    assert_eq!(chat.usage, Some(Usage::new(7, 3)));
}

#[test]
fn ai_spans_of_one_request_share_a_trace_even_when_aitrace_is_the_only_layer() {
    let spans = capture(|| {
        for request in ["a", "b"] {
            let span = tracing::info_span!("handle_request", request);
            assert!(span.set_session(format!("session-{request}")));
            assert!(span.add_tags(["web"]));
            assert!(span.set_metadata("tenant", request));
            span.in_scope(|| {
                generation_span!("openai", "gpt-4o").in_scope(|| {});
                let _job = tracing::info_span!("background").entered();
                embedding_span!("openai", "text-embedding-3-small").in_scope(|| {});
            });
        }
        // An AI span at the top names its own trace; none of the request's values reach it.
        agent_span!("alone").in_scope(|| {});
    });
    // Five AI spans and the two requests they ran in.
    assert_eq!(spans.len(), 7);
    let traces: std::collections::HashSet<_> = spans.iter().map(|s| s.trace_id).collect();
    assert_eq!(traces.len(), 3, "{spans:#?}");
    for s in spans.iter().filter(|s| s.name != "invoke_agent") {
        let tenant = s.metadata["tenant"].as_str().unwrap();
        assert_eq!(s.session_id, Some(format!("session-{tenant}")));
        assert_eq!(s.tags, vec!["web".to_string()]);
        assert_eq!(s.trace_name.as_deref(), Some("handle_request"));
        let request = spans
            .iter()
            .find(|r| r.kind == SpanKind::Request && r.trace_id == s.trace_id)
            .unwrap();
        if s.kind == SpanKind::Request {
            assert_eq!(s.parent_span_id, None);
            continue;
        }
        assert_eq!(s.parent_span_id, Some(request.span_id));
        let sibling = spans
            .iter()
            .find(|o| {
                o.span_id != s.span_id && o.metadata.get("tenant") == s.metadata.get("tenant")
            })
            .unwrap();
        assert_eq!(s.trace_id, sibling.trace_id);
    }
    let alone = find(&spans, "invoke_agent");
    assert!(alone.session_id.is_none() && alone.tags.is_empty());
    assert_eq!(
        alone.trace_name.as_deref(),
        Some("alone"),
        "a trace that starts at an agent is named after the agent"
    );
}

#[test]
fn trace_level_values_on_the_request_span_and_an_explicit_trace_name() {
    let spans = capture(|| {
        let request = tracing::info_span!("handle_request");
        assert!(request.set_trace_name("checkout"));
        request
            .set_parent_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .unwrap();
        assert_eq!(
            request.ai_trace_id().map(|t| t.to_string()).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            "the trace the request's AI spans get"
        );
        request.in_scope(|| {
            let agent = agent_span!("support");
            agent.set_user("u-1");
            agent.in_scope(|| generation_span!("openai", "gpt-4o").in_scope(|| {}));
        });
    });
    for s in &spans {
        assert_eq!(s.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s.trace_name.as_deref(), Some("checkout"));
        assert_eq!(s.remote_sampled, Some(false));
        assert_eq!(s.user_id.as_deref(), Some("u-1"));
    }
    // The request continues the remote trace; the agent runs in it.
    let request = find(&spans, "handle_request");
    assert_eq!(
        request.parent_span_id.unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(request.parent_is_remote);
    let agent = find(&spans, "invoke_agent");
    assert_eq!(agent.parent_span_id, Some(request.span_id));
    assert!(!agent.parent_is_remote);
    assert_eq!(find(&spans, "chat").parent_span_id, Some(agent.span_id));
}

#[test]
fn a_nested_span_with_its_own_traceparent_starts_its_own_trace() {
    // A long-lived server span around many requests: each request span that joins an incoming trace
    // (or calls set_trace_id) is a trace of its own.
    let spans = capture(|| {
        let _server = tracing::info_span!("server").entered();
        for (i, header) in [
            "00-11111111111111111111111111111111-1111111111111111-01",
            "00-22222222222222222222222222222222-2222222222222222-01",
        ]
        .into_iter()
        .enumerate()
        {
            let request = tracing::info_span!("request", i);
            request.set_parent_traceparent(header).unwrap();
            request.in_scope(|| generation_span!("openai", "gpt-4o").in_scope(|| {}));
        }
    });
    // Each request's generation, then the request itself.
    let traces: Vec<String> = spans.iter().map(|s| s.trace_id.to_string()).collect();
    assert_eq!(
        traces,
        [
            "11111111111111111111111111111111",
            "11111111111111111111111111111111",
            "22222222222222222222222222222222",
            "22222222222222222222222222222222"
        ]
    );
    assert!(spans
        .iter()
        .all(|s| s.trace_name.as_deref() == Some("request")));
}

/// A layer that counts the events it sees, like an application's fmt layer.
struct CountEvents(std::sync::Arc<std::sync::atomic::AtomicUsize>);
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountEvents {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn the_level_hint_keeps_unwanted_callsites_disabled_and_never_hides_wanted_ones() {
    use tracing::level_filters::LevelFilter;
    use tracing::Subscriber as _;
    use tracing_subscriber::Layer as _;
    // Alone: DEBUG, for the web frameworks' request spans (context spans' default).
    let (ai, _g1) = builder().build_layer().unwrap();
    assert_eq!(
        tracing_subscriber::registry().with(ai).max_level_hint(),
        Some(LevelFilter::DEBUG)
    );
    // With no context spans below INFO: INFO, so callsites below fail the level check.
    let (ai, _g2) = builder().context_spans("info").build_layer().unwrap();
    let app = CountEvents(Default::default()).with_filter(LevelFilter::INFO);
    assert_eq!(
        tracing_subscriber::registry()
            .with(app)
            .with(ai)
            .max_level_hint(),
        Some(LevelFilter::INFO)
    );
    // Beside a layer that wants everything (no hint): no hint, so nothing of theirs is hidden.
    let (ai, _g3) = builder().build_layer().unwrap();
    assert_eq!(
        tracing_subscriber::registry()
            .with(CountEvents(Default::default()))
            .with(ai)
            .max_level_hint(),
        None
    );
    // Asked for more: TRACE.
    let (ai, _g4) = builder()
        .span_level(LevelFilter::TRACE)
        .build_layer()
        .unwrap();
    assert_eq!(
        tracing_subscriber::registry().with(ai).max_level_hint(),
        Some(LevelFilter::TRACE)
    );
    let (ai, _g5) = builder().build_layer().unwrap();
    // The application's DEBUG events still reach its own layer filtered at DEBUG.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(CountEvents(seen.clone()).with_filter(LevelFilter::DEBUG))
        .with(ai);
    aitrace_core::testing::with_default(subscriber, || {
        tracing::debug!("kept for the application");
        tracing::trace!("nobody wants this");
    });
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// Callsites below the application's filter that aitrace does not record as context stay disabled
/// for every layer (hyper's DEBUG spans, the app's `debug!`), while a web framework's DEBUG request
/// span is enabled for aitrace alone.
#[test]
fn context_spans_are_enabled_and_nothing_else_below_the_app_filter() {
    use tracing::level_filters::LevelFilter;
    use tracing::Level;
    use tracing_subscriber::Layer as _;
    let (ai, _g) = builder().build_layer().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(CountEvents(seen.clone()).with_filter(LevelFilter::INFO))
        .with(ai);
    aitrace_core::testing::with_default(subscriber, || {
        assert!(!tracing::span_enabled!(target: "hyper::proto::h1", Level::DEBUG));
        assert!(!tracing::span_enabled!(target: "h2::codec", Level::TRACE));
        assert!(!tracing::event_enabled!(Level::DEBUG));
        assert!(tracing::span_enabled!(target: "tower_http::trace::make_span", Level::DEBUG));
        assert!(!tracing::span_enabled!(target: "tower_http::trace::make_span", Level::TRACE));
        let request = tracing::debug_span!(target: "tower_http::trace::make_span", "request");
        assert!(!request.is_disabled());
        // The app's own DEBUG spans (this test binary is the app): a root may be a request
        // (`#[instrument(level = "debug")]` handlers), a nested one stays disabled as without
        // aitrace.
        assert!(!tracing::debug_span!("handler").is_disabled());
        request.in_scope(|| {
            assert!(tracing::debug_span!("helper").is_disabled());
            assert!(!tracing::span_enabled!(Level::DEBUG));
        });
        // The application's layer does not see it.
        request.in_scope(|| tracing::info!("inside"));
    });
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn every_span_carries_the_trace_name_and_metadata_of_its_trace() {
    let spans = capture(|| {
        let workflow = aitrace_core::workflow_span!("nightly-report");
        workflow.set_metadata("customer", "acme");
        workflow.in_scope(|| {
            let step = aitrace_core::workflow_step_span!("summarize");
            step.set_metadata("step_only", true);
            step.in_scope(|| generation_span!("openai", "gpt-4o").in_scope(|| {}));
        });
        let request = tracing::info_span!("handle_request");
        request.set_metadata("tenant", "t-1");
        request.in_scope(|| {
            let agent = agent_span!("support");
            agent.set_metadata("agent_version", 3);
            agent.in_scope(|| tool_span!("lookup").in_scope(|| {}));
        });
    });
    for name in ["invoke_workflow", "workflow_step", "chat"] {
        let s = find(&spans, name);
        assert_eq!(s.trace_name.as_deref(), Some("nightly-report"), "{name}");
        assert_eq!(
            s.trace_metadata,
            json!({"customer": "acme"}).as_object().cloned().unwrap(),
            "{name}"
        );
    }
    assert!(
        !find(&spans, "chat").metadata.contains_key("customer"),
        "observation metadata stays its own"
    );
    for name in ["invoke_agent", "execute_tool"] {
        let s = find(&spans, name);
        assert_eq!(s.trace_name.as_deref(), Some("handle_request"), "{name}");
        assert_eq!(s.trace_metadata["tenant"], json!("t-1"), "{name}");
        assert_eq!(s.trace_metadata["agent_version"], json!(3), "{name}");
    }
}

#[test]
fn a_generation_takes_its_time_to_first_token_from_its_first_step() {
    let spans = capture(|| {
        generation_span!("openai", "gpt-4o").in_scope(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            for ttft in [0.05, 0.01] {
                step_span!(0u32).in_scope(|| {
                    tracing::Span::current().with_record(|r| r.time_to_first_token_s = Some(ttft));
                });
            }
        });
    });
    let generation = find(&spans, "chat");
    let first_step = spans
        .iter()
        .filter(|s| s.name == "step")
        .min_by_key(|s| s.start_time_unix_nano)
        .unwrap();
    let expected = (first_step.start_time_unix_nano + 50_000_000 - generation.start_time_unix_nano)
        as f64
        / 1e9;
    let got = generation.time_to_first_token_s.unwrap();
    assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    assert!(
        got >= 0.07,
        "measured from the generation's own start: {got}"
    );
}

#[test]
fn otel_fields_name_the_span_and_set_its_status_as_tracing_opentelemetry_reads_them() {
    let spans = capture(|| {
        // genai's shape: the code name, the display name in `otel.name`, status fields filled late.
        let span = tracing::info_span!(
            "genai.chat",
            otel.name = "chat gpt-4o-mini",
            otel.kind = "client",
            otel.status_code = Empty,
            otel.status_message = Empty,
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-4o-mini",
        );
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_message", "rate limited");
    });
    let s = &spans[0];
    assert_eq!(s.name, "chat gpt-4o-mini");
    assert_eq!(s.attributes["otel.kind"], json!("client"));
    assert_eq!(
        s.status,
        Status::Error {
            message: "rate limited".into(),
            error_type: None
        }
    );
}

#[test]
fn usage_is_read_under_current_and_earlier_names() {
    let spans = capture(|| {
        let current = tracing::info_span!(
            "a",
            gen_ai.operation.name = "chat",
            gen_ai.usage.input_tokens = 100u64,
            gen_ai.usage.cache_write.input_tokens = 30u64,
            gen_ai.usage.audio.input_tokens = 7u64,
            gen_ai.usage.audio.output_tokens = 5u64,
            gen_ai.usage.text.input_tokens = 60u64,
            gen_ai.usage.image.input_tokens = 40u64,
            gen_ai.usage.text.output_tokens = 3u64,
            gen_ai.usage.image.output_tokens = 2u64,
            gen_ai.usage.tool_use_prompt_tokens = 11u64,
        );
        drop(current);
        let earlier = tracing::info_span!(
            "b",
            gen_ai.operation.name = "chat",
            gen_ai.usage.cache_creation.input_tokens = 20u64,
        );
        drop(earlier);
    });
    let a = find(&spans, "a").usage.unwrap();
    assert_eq!(a.cache_creation_input_tokens, Some(30));
    assert_eq!(
        (
            a.input_text_tokens,
            a.input_image_tokens,
            a.output_text_tokens,
            a.output_image_tokens
        ),
        (Some(60), Some(40), Some(3), Some(2))
    );
    assert_eq!(a.tool_use_prompt_tokens, Some(11));
    assert_eq!(
        (a.input_audio_tokens, a.output_audio_tokens),
        (Some(7), Some(5))
    );
    assert_eq!(
        find(&spans, "b").usage.unwrap().cache_creation_input_tokens,
        Some(20)
    );
}

#[test]
fn every_genai_operation_has_a_kind_and_provider_billed_calls_are_billable() {
    let ops = [
        ("chat", SpanKind::ModelGeneration, true),
        ("generate_content", SpanKind::ModelGeneration, true),
        ("text_completion", SpanKind::ModelGeneration, true),
        ("embeddings", SpanKind::Embedding, true),
        ("retrieval", SpanKind::Retrieval, false),
        ("execute_tool", SpanKind::ToolCall, false),
        ("create_agent", SpanKind::AgentRun, false),
        ("invoke_agent", SpanKind::AgentRun, false),
        ("invoke_workflow", SpanKind::WorkflowRun, false),
        ("search_memory", SpanKind::Memory, false),
        ("update_memory", SpanKind::Memory, false),
        ("transcription", SpanKind::SpeechToText, true),
        ("speech", SpanKind::TextToSpeech, true),
        ("audio_generation", SpanKind::TextToSpeech, true),
        ("image_generation", SpanKind::ImageGeneration, true),
        ("rerank", SpanKind::Rerank, true),
        ("summarize_thread", SpanKind::Generic, false),
    ];
    let spans = capture(|| {
        for (op, _, _) in ops {
            // rig's shape: the operation and usage on a plain span.
            let span = tracing::info_span!(
                "op",
                gen_ai.operation.name = op,
                gen_ai.usage.input_tokens = 673u64,
                gen_ai.usage.output_tokens = 57u64,
            );
            drop(span);
        }
    });
    for ((op, kind, billed), s) in ops.iter().zip(&spans) {
        assert_eq!(s.kind, *kind, "{op}");
        assert_eq!(s.billable, *billed, "{op}");
        // An unknown operation stays generic and keeps its usage visible.
        assert_eq!(s.usage.unwrap().input_tokens, Some(673), "{op}");
    }
    let billed = spans.iter().filter_map(|s| s.billable_usage()).count();
    assert_eq!(billed, ops.iter().filter(|o| o.2).count());
}

#[test]
fn add_billable_usage_bills_each_call_once_where_core_decides() {
    let call = Usage::new(10, 2);
    let spans = capture(|| {
        // Two calls under one generation add up on it.
        let gen = generation_span!("openai", "gpt-4o");
        let wrapper = tracing::info_span!(parent: &gen, "adapter");
        assert!(wrapper.add_billable_usage(call));
        assert!(wrapper.add_billable_usage(call));
        // A call under a step stays on the step; the generation is billed the sum of its steps.
        let gen2 = generation_span!("openai", "gpt-4o", aitrace.name = "stepped");
        let step = step_span!(parent: &gen2, 0u32);
        assert!(step.add_billable_usage(call));
        drop(step);
        drop(gen2);
        drop(wrapper);
        drop(gen);
        // Nothing billable around: nothing recorded.
        assert!(!tracing::info_span!("plain").add_billable_usage(call));
    });
    let total = aitrace_core::total_billable_usage(&spans);
    assert_eq!(
        (total.input_tokens, total.output_tokens),
        (Some(30), Some(6))
    );
    assert_eq!(find(&spans, "chat").usage.unwrap().input_tokens, Some(20));
    assert_eq!(
        find(&spans, "stepped").usage.unwrap().input_tokens,
        Some(10)
    );
}

#[test]
fn span_macros_take_an_explicit_parent() {
    let spans = capture(|| {
        let agent = agent_span!("support");
        // Created outside the agent's scope, parented to it explicitly.
        let tool = tool_span!(parent: &agent, "lookup");
        let attempt = attempt_span!(parent: &agent, 1u32, "anthropic", "claude");
        drop((tool, attempt));
    });
    let agent = find(&spans, "invoke_agent");
    for name in ["execute_tool", "fallback_attempt"] {
        assert_eq!(
            find(&spans, name).parent_span_id,
            Some(agent.span_id),
            "{name}"
        );
    }
}

#[test]
fn macros_take_extra_fields_with_and_without_a_parent() {
    let spans = capture(|| {
        let gen = generation_span!("openai", "gpt-4o", customer = "acme");
        chunk_span!(parent: &gen, chunk.index = 1u64).in_scope(|| {});
        chunk_span!(chunk.index = 2u64).in_scope(|| {});
        step_span!(parent: &gen, 0u32, customer = "acme").in_scope(|| {});
        drop(gen);
    });
    let gen = find(&spans, "chat");
    assert_eq!(gen.attributes["customer"], json!("acme"));
    assert_eq!(find(&spans, "step").attributes["customer"], json!("acme"));
    assert_eq!(find(&spans, "step").parent_span_id, Some(gen.span_id));
}

/// The trace's name: `set_trace_name`, else the request span's name, else the name the user gave
/// the root (`aitrace.name`), else the root agent's or workflow's name, else its display name.
#[test]
fn a_root_the_user_named_names_its_trace() {
    let spans = capture(|| {
        agent_span!("researcher", aitrace.name = "nightly-research")
            .in_scope(|| generation_span!("openai", "gpt-4o").in_scope(|| {}));
        agent_span!("planner").in_scope(|| {});
        generation_span!("openai", "gpt-4o-mini").in_scope(|| {});
        let job = tracing::info_span!("nightly_job");
        job.in_scope(|| agent_span!("writer", aitrace.name = "draft").in_scope(|| {}));
        let named = agent_span!("editor", aitrace.name = "edit-pass");
        named.set_trace_name("explicit-name");
        drop(named);
    });
    let trace_of = |name: &str| find(&spans, name).trace_name.clone();
    assert_eq!(
        trace_of("nightly-research").as_deref(),
        Some("nightly-research")
    );
    let inner = spans
        .iter()
        .find(|s| s.request_model.as_deref() == Some("gpt-4o"))
        .unwrap();
    assert_eq!(inner.trace_name.as_deref(), Some("nightly-research"));
    assert_eq!(
        spans
            .iter()
            .find(|s| s.agent.as_ref().and_then(|a| a.name.as_deref()) == Some("planner"))
            .and_then(|s| s.trace_name.as_deref()),
        Some("planner")
    );
    assert_eq!(
        spans
            .iter()
            .find(|s| s.request_model.as_deref() == Some("gpt-4o-mini"))
            .and_then(|s| s.trace_name.as_deref()),
        Some("chat gpt-4o-mini")
    );
    assert_eq!(trace_of("draft").as_deref(), Some("nightly_job"));
    assert_eq!(trace_of("edit-pass").as_deref(), Some("explicit-name"));
}
