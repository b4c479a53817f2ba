//! The TTS fallback adapter: one output format across a switch, and the voice that spoke in the trace.

use std::sync::Arc;
use std::time::Duration;

use aitrace_core::testing::capture;
use aitrace_core::{SpanKind, SpanRecord};
use aitrace_fallback::testing::{ScriptedTts, Speech};
use aitrace_fallback::{
    AudioFrame, ErrorKind, ProviderError, TtsFallback, TtsFallbackConfig, TtsProvider,
};
use futures::executor::block_on;
use futures::StreamExt;

fn config() -> TtsFallbackConfig {
    TtsFallbackConfig {
        attempt_timeout: Duration::from_millis(100),
        retry_interval: Duration::from_millis(1),
        max_retry_per_provider: 0,
        ..TtsFallbackConfig::default()
    }
}

fn speak(tts: &TtsFallback) -> Vec<Result<AudioFrame, ProviderError>> {
    block_on(async {
        let mut s = tts.synthesize("Your order shipped.").await.unwrap();
        let mut out = Vec::new();
        while let Some(f) = s.next().await {
            out.push(f);
        }
        out
    })
}

fn error() -> ProviderError {
    ProviderError::new(ErrorKind::Server, "500")
}

#[test]
fn the_output_rate_is_the_adapters_whichever_voice_speaks() {
    let primary = Arc::new(ScriptedTts::scripted(
        "elevenlabs",
        "eleven_flash_v2_5",
        24_000,
        1,
        vec![Speech::Fail(error())],
        Speech::Frames(10),
    ));
    let backup = Arc::new(ScriptedTts::scripted(
        "cartesia",
        "sonic-2",
        16_000,
        1,
        vec![],
        Speech::Frames(10),
    ));
    let tts = TtsFallback::with_config(vec![primary, backup], config()).unwrap();
    assert_eq!(tts.sample_rate(), 24_000, "the highest of the voices'");
    let mut frames = Vec::new();
    let spans = capture(|| frames = speak(&tts));
    let frames: Vec<AudioFrame> = frames.into_iter().map(Result::unwrap).collect();
    assert!(frames
        .iter()
        .all(|f| f.sample_rate == 24_000 && f.channels == 1));
    // 10 × 20 ms from the 16 kHz backup = 0.2 s, still 0.2 s at 24 kHz.
    let seconds: f64 = frames.iter().map(AudioFrame::duration_s).sum();
    assert!((seconds - 0.2).abs() < 0.001, "{seconds}");
    let tts_span = spans
        .iter()
        .find(|s| s.kind == SpanKind::TextToSpeech)
        .expect("the adapter opened a TTS span");
    assert_eq!(
        (tts_span.provider.as_deref(), tts_span.model()),
        (Some("cartesia"), Some("sonic-2"))
    );
    let attempts: Vec<&SpanRecord> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::FallbackAttempt)
        .collect();
    assert_eq!(attempts.len(), 2);
    assert!(attempts
        .iter()
        .all(|a| a.parent_span_id == Some(tts_span.span_id)));
}

#[test]
fn a_switch_mid_speech_keeps_the_format_when_allowed_and_is_an_error_otherwise() {
    let make = || {
        (
            Arc::new(ScriptedTts::scripted(
                "elevenlabs",
                "flash",
                24_000,
                1,
                vec![],
                Speech::FailAfter(3, error()),
            )),
            Arc::new(ScriptedTts::scripted(
                "cartesia",
                "sonic",
                16_000,
                2,
                vec![],
                Speech::Frames(5),
            )),
        )
    };
    let (a, b) = make();
    let strict = TtsFallback::with_config(vec![a, b.clone()], config()).unwrap();
    let out = speak(&strict);
    assert_eq!(out.len(), 4);
    assert!(out[3].is_err());
    assert_eq!(b.calls(), 0);

    let (a, b) = make();
    let lenient = TtsFallback::with_config(
        vec![a, b],
        TtsFallbackConfig {
            retry_on_chunk_sent: true,
            ..config()
        },
    )
    .unwrap();
    let out: Vec<AudioFrame> = speak(&lenient).into_iter().map(Result::unwrap).collect();
    assert_eq!(out.len(), 3 + 5);
    assert!(
        out.iter()
            .all(|f| f.sample_rate == 24_000 && f.channels == 1),
        "rate and channels constant across the switch"
    );
}

#[test]
fn retries_then_timeouts_move_to_the_next_voice() {
    let flaky = Arc::new(ScriptedTts::scripted(
        "elevenlabs",
        "flash",
        24_000,
        1,
        vec![Speech::Fail(error()), Speech::Fail(error())],
        Speech::Hang,
    ));
    let backup = Arc::new(ScriptedTts::scripted(
        "cartesia",
        "sonic",
        24_000,
        1,
        vec![],
        Speech::Frames(2),
    ));
    let tts = TtsFallback::with_config(
        vec![flaky.clone(), backup],
        TtsFallbackConfig {
            max_retry_per_provider: 2,
            ..config()
        },
    )
    .unwrap();
    let out = speak(&tts);
    assert_eq!(out.len(), 2);
    assert_eq!(flaky.calls(), 3, "two retries, the last one timing out");
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_voice_is_probed_back_in_the_background() {
    let primary = Arc::new(ScriptedTts::scripted(
        "elevenlabs",
        "flash",
        24_000,
        1,
        vec![Speech::Fail(error()), Speech::Fail(error())],
        Speech::Frames(1),
    ));
    let backup = Arc::new(ScriptedTts::scripted(
        "cartesia",
        "sonic",
        24_000,
        1,
        vec![],
        Speech::Frames(2),
    ));
    let handle = tokio::runtime::Handle::current();
    let tts = TtsFallback::with_config(
        vec![primary.clone(), backup],
        TtsFallbackConfig {
            recovery_interval: Duration::from_millis(20),
            ..config()
        },
    )
    .unwrap()
    .with_spawner(move |task| {
        handle.spawn(task);
    });
    let mut events = tts.availability_changed();
    let mut s = tts.synthesize("hello").await.unwrap();
    while s.next().await.is_some() {}
    assert!(!tts.is_available(0));
    let back = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(e) = events.next().await {
                if e.available {
                    return e;
                }
            }
        }
    })
    .await
    .expect("the probe brought the voice back");
    assert_eq!((back.index, back.provider.as_str()), (0, "elevenlabs"));
    assert_eq!(
        primary.calls(),
        3,
        "one real call, one failed probe, one good probe"
    );
}

#[test]
fn no_voice_is_a_config_error_not_a_panic() {
    let err = TtsFallback::new(Vec::new()).unwrap_err();
    assert_eq!(err.setting, "providers");
}
