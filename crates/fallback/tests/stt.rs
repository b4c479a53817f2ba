//! The STT fallback adapter: a mid-utterance failure loses no words, and the trace follows the
//! active recognizer.

use std::sync::Arc;
use std::time::Duration;

use aitrace_core::testing::capture;
use aitrace_core::{stt_span, SpanKind, SpanRecord};
use aitrace_fallback::testing::{word_frame, Hearing, ScriptedStt};
use aitrace_fallback::{
    ErrorKind, ProviderError, SttEvent, SttFallback, SttFallbackConfig, SttProvider, SttStream,
};
use futures::executor::block_on;

fn config() -> SttFallbackConfig {
    SttFallbackConfig {
        attempt_timeout: Duration::from_millis(100),
        retry_interval: Duration::from_millis(1),
        max_retry_per_provider: 0,
        ..SttFallbackConfig::default()
    }
}

#[test]
fn a_mid_utterance_switch_replays_the_audio_and_keeps_the_transcript_complete() {
    let primary = Arc::new(ScriptedStt::scripted(
        "deepgram",
        "nova-3",
        vec![Hearing::BreaksAfter(3)],
        Hearing::Works,
    ));
    let backup = Arc::new(ScriptedStt::scripted(
        "assemblyai",
        "universal",
        vec![],
        Hearing::Works,
    ));
    let stt = SttFallback::with_config(vec![primary.clone(), backup.clone()], config()).unwrap();
    let mut finals = Vec::new();
    let mut active = Vec::new();
    let spans = capture(|| {
        let turn = stt_span!("deepgram", "nova-3");
        let _t = turn.enter();
        block_on(async {
            let mut stream = stt.open().await.unwrap();
            active.push(stream.active().unwrap());
            for word in 0..6 {
                stream.push_frame(word_frame(word)).await.unwrap();
            }
            stream.end_of_utterance().await.unwrap();
            while let Some(event) = stream.next_event().await {
                if let SttEvent::Final(t) = event.unwrap() {
                    finals.push(t.text);
                }
            }
            active.push(stream.active().unwrap());
        });
    });
    assert_eq!(
        finals,
        ["where is my order number 1042"],
        "no word lost across the switch"
    );
    assert_eq!(active[0].0, "deepgram");
    assert_eq!(
        active[1],
        ("assemblyai".to_string(), "universal".to_string())
    );
    let turn = spans
        .iter()
        .find(|s| s.kind == SpanKind::SpeechToText)
        .unwrap();
    assert_eq!(
        (turn.provider.as_deref(), turn.model()),
        (Some("assemblyai"), Some("universal"))
    );
    let attempts: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::FallbackAttempt)
        .collect();
    assert_eq!(attempts.len(), 2);
    let failed = attempts.iter().find(|a| a.attempt == Some(0)).unwrap();
    assert_eq!(failed.provider.as_deref(), Some("deepgram"));
    assert!(failed.status.is_error());
    assert!(attempts
        .iter()
        .all(|a| a.parent_span_id == Some(turn.span_id)));
}

#[test]
fn recognize_falls_back_and_opens_its_own_stt_span() {
    let primary = Arc::new(ScriptedStt::scripted(
        "deepgram",
        "nova-3",
        vec![],
        Hearing::Fails(ProviderError::new(ErrorKind::RateLimited, "429")),
    ));
    let backup = Arc::new(ScriptedStt::scripted(
        "assemblyai",
        "universal",
        vec![],
        Hearing::Works,
    ));
    let stt = SttFallback::with_config(vec![primary, backup], config()).unwrap();
    let mut text = String::new();
    let spans = capture(|| {
        text = block_on(stt.recognize(&[word_frame(0), word_frame(1), word_frame(6)]))
            .unwrap()
            .text;
    });
    assert_eq!(text, "where is please");
    let turn = spans
        .iter()
        .find(|s| s.kind == SpanKind::SpeechToText)
        .expect("an STT span");
    assert_eq!(turn.model(), Some("universal"));
    assert_eq!(turn.attributes["aitrace.audio.duration_s"], 0.06);
}

#[test]
fn when_every_recognizer_fails_the_error_lists_them() {
    let down = || {
        Arc::new(ScriptedStt::scripted(
            "x",
            "y",
            vec![],
            Hearing::Fails(ProviderError::new(ErrorKind::Server, "503")),
        )) as Arc<dyn SttProvider>
    };
    let stt = SttFallback::with_config(vec![down(), down()], config()).unwrap();
    let err = block_on(stt.open()).unwrap_err();
    assert!(
        err.message
            .contains("x/y: server_error: 503; x/y: server_error: 503"),
        "{err}"
    );
}
