//! async-openai, as a user calls it, against a scripted OpenAI-compatible server on loopback: every
//! span the layer produced is checked against what the server really sent (kind, provider, models,
//! usage billed once, cached and reasoning tokens, time to first token, messages and tool calls,
//! parent/child, nothing lost).

use std::time::Duration;

use aitrace_core::testing::{capture, split_requests, total_billable_usage};
use aitrace_core::{messages_from_value, KnownPart, Part, SpanKind, SpanRecord, Status, Usage};
use aitrace_testkit::openai::{Exchange, FakeModel, OpenAiServer, Reply};
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use async_openai::types::embeddings::CreateEmbeddingRequest;
use async_openai::types::responses::CreateResponse;
use async_openai::Client;
use futures::StreamExt;
use serde_json::{json, Value};

fn client(server: &OpenAiServer) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key("sk-test-key");
    Client::with_config(config).with_http_service(aitrace_async_openai::service())
}

fn chat_request(v: Value) -> CreateChatCompletionRequest {
    serde_json::from_value(v).expect("a chat request")
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn record_for<'a>(records: &'a [SpanRecord], exchange: &Exchange) -> &'a SpanRecord {
    if exchange.path.ends_with("/embeddings") {
        // Embedding answers carry no id.
        return record_for_model(records, exchange.request["model"].as_str().unwrap());
    }
    let (id, _) = exchange.reply.ids();
    records
        .iter()
        .find(|r| r.response_id.is_some() && r.response_id == id)
        .unwrap_or_else(|| panic!("no span for {} ({id:?})", exchange.path))
}

fn output_parts(r: &SpanRecord) -> Vec<Part> {
    let out = r.output.as_ref().expect("output recorded");
    messages_from_value(out).expect("output as GenAI messages")[0]
        .parts
        .clone()
}

#[test]
fn async_openai_calls_are_traced_as_the_server_answered() {
    let server = OpenAiServer::fake_with(FakeModel {
        first_token: Duration::from_millis(60),
        ..FakeModel::default()
    });
    let client = client(&server);
    let records = capture(|| {
        runtime().block_on(async {
            let request = tracing::info_span!("handle_request", path = "/chat");
            let _enter = request.enter();
            // A tool call, then its result answered in text.
            let ask = json!({"role": "user", "content": "Weather in Paris?"});
            let first = client
                .chat()
                .create(chat_request(json!({"model": "gpt-4o-mini", "temperature": 0.3,
                    "messages": [{"role": "system", "content": "Be brief."}, ask], "tools": tools()})))
                .await
                .expect("a tool call");
            let call = first.choices[0].message.tool_calls.clone().expect("tool calls");
            let call = serde_json::to_value(&call[0]).unwrap();
            client
                .chat()
                .create(chat_request(json!({"model": "gpt-4o-mini", "messages": [
                    ask, {"role": "assistant", "content": null, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": call["id"], "content": "{\"temp_c\": 14}"}]})))
                .await
                .expect("an answer");
            // A stream read to its end, usage in its last chunk.
            let mut stream = client
                .chat()
                .create_stream(chat_request(json!({"model": "gpt-4o", "stream": true,
                    "stream_options": {"include_usage": true},
                    "messages": [{"role": "user", "content": "Tell me a short story"}]})))
                .await
                .expect("a stream");
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                if let Some(c) = chunk.expect("a chunk").choices.first() {
                    text.push_str(c.delta.content.as_deref().unwrap_or(""));
                }
            }
            assert_eq!(text, "You said: Tell me a short story");
            // A stream the client drops after its first chunk.
            let mut stream = client
                .chat()
                .create_stream(chat_request(json!({"model": "gpt-4o", "stream": true,
                    "messages": [{"role": "user", "content": "one two three four five six"}]})))
                .await
                .expect("a stream");
            stream.next().await.expect("a first chunk").expect("ok");
            drop(stream);
            // The Responses API, unary and streamed.
            let resp: CreateResponse = serde_json::from_value(json!({"model": "gpt-4.1",
                "instructions": "Answer kindly.", "input": "Hello there"}))
            .unwrap();
            client.responses().create(resp).await.expect("a response");
            let resp: CreateResponse = serde_json::from_value(
                json!({"model": "gpt-4.1", "input": "Stream this please", "stream": true}),
            )
            .unwrap();
            let mut events = client.responses().create_stream(resp).await.expect("a stream");
            while let Some(event) = events.next().await {
                event.expect("an event");
            }
            // Embeddings.
            let emb: CreateEmbeddingRequest = serde_json::from_value(
                json!({"model": "text-embedding-3-small", "input": ["alpha beta", "gamma"]}),
            )
            .unwrap();
            client.embeddings().create(emb).await.expect("embeddings");
            // An API error.
            let err = client
                .chat()
                .create(chat_request(json!({"model": "fail-400",
                    "messages": [{"role": "user", "content": "hi"}]})))
                .await;
            assert!(err.is_err());
        });
        // Let the dropped stream's reader notice and drop the body.
        std::thread::sleep(Duration::from_millis(200));
    });
    let exchanges = server.exchanges();
    assert_eq!(exchanges.len(), 8);
    // The request the calls ran in is recorded too, as their parent.
    let (requests, records) = split_requests(records);
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.name, "handle_request");
    assert_eq!(request.attributes["url.path"], "/chat");

    // Nothing lost, nothing extra: one span per call.
    assert_eq!(records.len(), exchanges.len(), "{records:#?}");
    let trace = records[0].trace_id;
    for r in &records {
        assert_eq!(r.trace_id, trace, "all calls share the request's trace");
        assert_eq!(
            r.parent_span_id,
            Some(request.span_id),
            "top-level in the request span: {}",
            r.name
        );
        assert_eq!(r.provider.as_deref(), Some("openai"));
    }
    for ex in &exchanges {
        if ex.request["model"] == "fail-400" {
            continue;
        }
        let r = record_for(&records, ex);
        let (_, model) = ex.reply.ids();
        assert_eq!(r.request_model.as_deref(), ex.request["model"].as_str());
        assert_eq!(r.response_model, model, "{}", ex.path);
        let embedding = ex.path.ends_with("/embeddings");
        assert_eq!(
            r.kind,
            if embedding {
                SpanKind::Embedding
            } else {
                SpanKind::ModelGeneration
            }
        );
        match ex.reply.usage() {
            Some(want) => {
                let got = r.usage.expect("usage recorded");
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
                    "{}",
                    ex.path
                );
                assert_eq!(got.reasoning_tokens, want.reasoning_tokens);
                assert!(r.billable);
            }
            None => assert!(r.usage.is_none(), "no usage was sent: {}", ex.path),
        }
    }
    // Usage billed exactly once: the billable total is the sum of what the server reported.
    let sent: Usage = exchanges
        .iter()
        .filter_map(|e| e.reply.usage())
        .fold(Usage::default(), |a, b| a.add(&b));
    let billed = total_billable_usage(&records);
    assert_eq!(billed.input_tokens, sent.input_tokens);
    assert_eq!(billed.output_tokens, sent.output_tokens);
    assert_eq!(billed.cache_read_input_tokens, sent.cache_read_input_tokens);
    assert_eq!(billed.reasoning_tokens, sent.reasoning_tokens);

    // The tool call: tools, parameters and messages as the conventions shape them.
    let first = record_for(&records, &exchanges[0]);
    assert_eq!(first.params.temperature, Some(0.3));
    assert_eq!(
        first.tool_definitions.as_ref().unwrap()[0]["name"],
        "get_weather"
    );
    let input = messages_from_value(first.input.as_ref().unwrap()).unwrap();
    assert_eq!(
        (input[0].role.as_str(), input[1].text()),
        ("system", "Weather in Paris?".into())
    );
    assert_eq!(first.finish_reasons, vec!["tool_calls"]);
    let sent_args: Value = {
        let Reply::Json(_, body) = &exchanges[0].reply else {
            unreachable!()
        };
        serde_json::from_str(
            body.pointer("/choices/0/message/tool_calls/0/function/arguments")
                .unwrap()
                .as_str()
                .unwrap(),
        )
        .unwrap()
    };
    assert!(matches!(&output_parts(first)[0],
        Part::Known(KnownPart::ToolCall { name, arguments, .. }) if name == "get_weather" && *arguments == sent_args));
    // Its result, sent back as a tool message.
    let second = record_for(&records, &exchanges[1]);
    let input = messages_from_value(second.input.as_ref().unwrap()).unwrap();
    assert!(matches!(&input[2].parts[0],
        Part::Known(KnownPart::ToolCallResponse { response, .. }) if response["temp_c"] == 14));
    // The stream: time to first token no earlier than the server's first event, output assembled.
    let streamed = record_for(&records, &exchanges[2]);
    let ttft = streamed.time_to_first_token_s.expect("time to first token");
    assert!(
        ttft >= 0.06 && ttft <= streamed.duration().as_secs_f64(),
        "{ttft}"
    );
    assert_eq!(
        output_parts(streamed),
        vec![Part::text("You said: Tell me a short story")]
    );
    assert_eq!(streamed.params.stream, Some(true));
    // The dropped stream: cancelled, with what had arrived, its span ended.
    let dropped = record_for(&records, &exchanges[3]);
    assert!(
        matches!(&dropped.status, Status::Error { error_type, .. } if error_type.as_deref() == Some("cancelled")),
        "{:?}",
        dropped.status
    );
    // The Responses API: instructions as system instructions, the streamed text assembled.
    let unary = record_for(&records, &exchanges[4]);
    assert_eq!(
        unary.system_instructions,
        Some(json!([{"type": "text", "content": "Answer kindly."}]))
    );
    let streamed = record_for(&records, &exchanges[5]);
    assert!(streamed.time_to_first_token_s.unwrap() >= 0.06);
    assert_eq!(
        output_parts(streamed),
        vec![Part::text("You said: Stream this please")]
    );
    // Embeddings: dimensions from the vectors, the texts as input.
    let emb = record_for_model(&records, "text-embedding-3-small");
    assert_eq!(
        emb.attributes["gen_ai.embeddings.dimension.count"],
        json!(8)
    );
    assert_eq!(emb.input, Some(json!(["alpha beta", "gamma"])));
    // The API error: its type and message, the status.
    let failed = record_for_model(&records, "fail-400");
    assert!(
        matches!(&failed.status, Status::Error { error_type, message }
        if error_type.as_deref() == Some("invalid_request_error") && message == "scripted failure 400")
    );
    assert_eq!(failed.attributes["http.response.status_code"], json!(400));
}

fn record_for_model<'a>(records: &'a [SpanRecord], model: &str) -> &'a SpanRecord {
    records
        .iter()
        .find(|r| r.request_model.as_deref() == Some(model))
        .unwrap_or_else(|| panic!("no span for {model}"))
}

#[test]
fn content_capture_off_keeps_messages_out_of_the_span() {
    let server = OpenAiServer::fake();
    let config = OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key("sk-test-key");
    let layer = aitrace_async_openai::TraceLayer::new()
        .capture_content(false)
        .provider("my-gateway");
    let client = Client::with_config(config).with_http_service(aitrace_async_openai::service_with(
        layer,
        reqwest::Client::new(),
    ));
    let records = capture(|| {
        runtime().block_on(async {
            client
                .chat()
                .create(chat_request(json!({"model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "my secret question"}]})))
                .await
                .expect("an answer");
        })
    });
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.input.as_ref(), r.output.as_ref()), (None, None));
    assert_eq!(
        r.provider.as_deref(),
        Some("my_gateway"),
        "normalized like every provider name"
    );
    assert!(r.usage.is_some(), "usage is not content");
}
