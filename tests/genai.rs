//! genai (feature `otel`), as a user calls it, against a scripted OpenAI-compatible server on
//! loopback: its own `genai.chat` / `genai.embeddings` spans, read by aitrace with no code, checked
//! against what the server sent (kind, name, provider, models, usage billed once, cached and
//! reasoning tokens, time to first token on streams, messages and tool calls, nothing lost).

use std::time::Duration;

use aitrace::testing::{capture, split_requests, total_billable_usage};
use aitrace::{messages_from_value, KnownPart, Part, SpanKind, SpanRecord, Usage};
use aitrace_testkit::openai::{FakeModel, OpenAiServer};
use futures::StreamExt;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent, Tool};
use genai::resolver::{AuthData, Endpoint};
use genai::{Client, ServiceTarget};
use serde_json::json;

#[test]
fn genai_spans_are_read_as_the_server_answered() {
    // genai records message content only when asked (and reads this once per process).
    std::env::set_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");
    let server = OpenAiServer::fake_with(FakeModel {
        first_token: Duration::from_millis(60),
        ..FakeModel::default()
    });
    let base = format!("{}/", server.base_url());
    let client = Client::builder()
        .with_service_target_resolver_fn(move |mut target: ServiceTarget| {
            target.endpoint = Endpoint::from_owned(base.clone());
            target.auth = AuthData::from_single("sk-test-key");
            Ok(target)
        })
        .build()
        .expect("a genai client");
    let weather = Tool::new("get_weather")
        .with_description("Weather in a city")
        .with_schema(json!({"type": "object", "properties": {"city": {"type": "string"}}}));
    let records = capture(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let request = tracing::info_span!("handle_request");
            let _enter = request.enter();
            let ask = ChatRequest::new(vec![
                ChatMessage::system("Be brief."),
                ChatMessage::user("Weather in Paris?"),
            ])
            .with_tools(vec![weather]);
            let answer = client
                .exec_chat("gpt-4o-mini", ask, None)
                .await
                .expect("a tool call");
            assert_eq!(answer.tool_calls().len(), 1);
            let stream = client
                .exec_chat_stream(
                    "gpt-4o-mini",
                    ChatRequest::new(vec![ChatMessage::user("Tell me a story")]),
                    Some(&ChatOptions::default().with_capture_usage(true)),
                )
                .await
                .expect("a stream");
            let mut events = stream.stream;
            while let Some(event) = events.next().await {
                if let ChatStreamEvent::End(_) = event.expect("an event") {
                    break;
                }
            }
            client
                .embed("text-embedding-3-small", "alpha beta", None)
                .await
                .expect("an embedding");
        });
    });
    let exchanges = server.exchanges();
    assert_eq!(exchanges.len(), 3);
    // The request the calls ran in is recorded too, as their parent.
    let (requests, records) = split_requests(records);
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.name, "handle_request");
    assert_eq!(records.len(), 3, "{records:#?}");
    let chats: Vec<&SpanRecord> = records
        .iter()
        .filter(|r| r.kind == SpanKind::ModelGeneration)
        .collect();
    assert_eq!(chats.len(), 2);
    for (r, ex) in chats.iter().zip(&exchanges) {
        // genai names its spans `genai.chat` in code and `chat <model>` in `otel.name`.
        assert_eq!(r.name, "chat gpt-4o-mini");
        assert_eq!(r.provider.as_deref(), Some("openai"));
        assert_eq!(r.request_model.as_deref(), Some("gpt-4o-mini"));
        // genai 0.7 records the response model of unary answers only; a stream is priced by the
        // request model.
        if r.params.stream != Some(true) {
            assert_eq!(r.response_model.as_deref(), Some("gpt-4o-mini-2024-08-06"));
        }
        assert_eq!(
            r.model(),
            Some(r.response_model.as_deref().unwrap_or("gpt-4o-mini"))
        );
        assert_eq!(r.parent_span_id, Some(request.span_id));
        let want = ex.reply.usage().expect("the server sent usage");
        let got = r.usage.expect("usage");
        assert_eq!(
            (
                got.input_tokens,
                got.output_tokens,
                got.cache_read_input_tokens
            ),
            (
                want.input_tokens,
                want.output_tokens,
                want.cache_read_input_tokens
            ),
        );
        assert_eq!(got.reasoning_tokens, want.reasoning_tokens);
        assert!(r.billable);
    }
    // The tool call, parsed from genai's output messages.
    let first = chats
        .iter()
        .find(|r| r.params.stream != Some(true))
        .unwrap();
    let out = messages_from_value(first.output.as_ref().expect("output")).expect("messages");
    assert!(
        out[0].parts.iter().any(|p| matches!(p,
        Part::Known(KnownPart::ToolCall { name, .. }) if name == "get_weather")),
        "{out:?}"
    );
    assert!(first.tool_definitions.is_some());
    // The stream: time to first token no earlier than the server's first event.
    let streamed = chats
        .iter()
        .find(|r| r.params.stream == Some(true))
        .unwrap();
    let ttft = streamed.time_to_first_token_s.expect("time to first token");
    assert!(ttft >= 0.06, "{ttft}");
    let emb = records
        .iter()
        .find(|r| r.kind == SpanKind::Embedding)
        .unwrap();
    assert_eq!(emb.name, "embeddings text-embedding-3-small");
    // Billed once: the billable total is what the server reported.
    let sent = exchanges
        .iter()
        .filter_map(|e| e.reply.usage())
        .fold(Usage::default(), |a, b| a.add(&b));
    let billed = total_billable_usage(&records);
    assert_eq!(billed.input_tokens, sent.input_tokens);
    assert_eq!(billed.output_tokens, sent.output_tokens);
}
