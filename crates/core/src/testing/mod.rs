//! [`TestExporter`]: an in-memory exporter for tests (yours and every aitrace crate's), and
//! [`capture`] to record the AI spans of a closure.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::export::{ExportError, Exporter};
use crate::ids::TraceId;
use crate::record::{SpanRecord, Usage};
use crate::score::{ScoreRecord, ScoreTarget, ScoreTargets};

/// Keeps every exported record and score in memory. Clones share the same store.
#[derive(Clone, Default, Debug)]
pub struct TestExporter {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
    scores: Arc<Mutex<Vec<ScoreRecord>>>,
}

impl TestExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<SpanRecord>> {
        self.spans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every record exported so far, in export order.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.lock().clone()
    }

    /// Records with this name.
    pub fn spans_named(&self, name: &str) -> Vec<SpanRecord> {
        self.lock()
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    /// The one record with this name; panics (it is a test helper) when there are none or several.
    pub fn span(&self, name: &str) -> SpanRecord {
        let mut found = self.spans_named(name);
        assert_eq!(found.len(), 1, "expected exactly one span named {name:?}");
        found.remove(0)
    }

    /// Records of one trace.
    pub fn trace(&self, trace_id: TraceId) -> Vec<SpanRecord> {
        self.lock()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing was exported.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets everything exported so far.
    pub fn clear(&self) {
        self.lock().clear();
        self.scores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
    }

    /// Every score sent with [`crate::score()`] or by an evaluation, in export order.
    pub fn sent_scores(&self) -> Vec<ScoreRecord> {
        self.scores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Every score, wherever it came from: those recorded on spans (in their span's
    /// [`SpanRecord::scores`]) and those sent on their own, in export order, a score sent again with
    /// the same id replacing the first, as a backend keeps them.
    pub fn scores(&self) -> Vec<ScoreRecord> {
        let mut all: Vec<ScoreRecord> = Vec::new();
        let inline: Vec<ScoreRecord> = self.lock().iter().flat_map(|s| s.scores.clone()).collect();
        for s in inline.into_iter().chain(self.sent_scores()) {
            match all.iter_mut().find(|have| have.id == s.id) {
                Some(have) => *have = s,
                None => all.push(s),
            }
        }
        all
    }

    /// The scores about `target` (see [`scores`](Self::scores)).
    pub fn scores_for(&self, target: &ScoreTarget) -> Vec<ScoreRecord> {
        self.scores()
            .into_iter()
            .filter(|s| &s.target == target)
            .collect()
    }

    /// The usage a backend would bill for a trace: the sum over its billable records only. Every
    /// exporter's tests compare this with the true usage of the calls made.
    pub fn total_billable_usage(&self, trace_id: TraceId) -> Usage {
        total_billable_usage(self.lock().iter().filter(|s| s.trace_id == trace_id))
    }
}

pub use crate::record::total_billable_usage;

impl Exporter for TestExporter {
    fn name(&self) -> &str {
        "test"
    }
    fn export(&mut self, batch: &[SpanRecord]) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
    fn score_targets(&self) -> ScoreTargets {
        ScoreTargets::ALL
    }
    fn export_scores(&mut self, batch: &[ScoreRecord]) -> Result<(), ExportError> {
        self.scores
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(batch);
        Ok(())
    }
}

/// A variable lookup from fixed pairs, for testing `from_env`-style constructors without touching the
/// process environment: `Builder::default().with_env_vars(env_vars(&[("AITRACE_QUEUE_SIZE", "10")]))`.
pub fn env_vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

pub mod openai;

/// Method, path, headers (names lowercased) and body of one HTTP/1.1 request.
pub type RawRequest = (String, String, Vec<(String, String)>, Vec<u8>);

/// Reads one HTTP/1.1 request (`Content-Length` bodies) from a loopback test server's connection;
/// `None` at the end of the stream or on a malformed request.
pub fn read_request(reader: &mut std::io::BufReader<std::net::TcpStream>) -> Option<RawRequest> {
    use std::io::{BufRead, Read};
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut len = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, headers, body))
}

/// Runs `f` with a thread-local subscriber that records AI spans, and returns every record once all
/// were exported. Safe in tests that run in parallel (the default test runner): see
/// [`with_default`].
pub fn capture(f: impl FnOnce()) -> Vec<SpanRecord> {
    capture_with(crate::builder(), f)
}

/// `tracing::subscriber::with_default` made safe for tests that run in parallel.
///
/// tracing-core caches each callsite's interest globally. While exactly one dispatcher is
/// registered (one test's thread-local subscriber), it computes the interest of a callsite hit for
/// the first time from the *current thread's* subscriber: a test thread without one (another test
/// sharing a helper, a test between two subscribers) caches "never" for it, and the subscriber's
/// thread then loses those spans (45–87 % in a probe with three such threads). This keeps a second,
/// never-interested dispatcher registered for the life of the process, so interests are always
/// combined over the registered dispatchers: a callsite two of them disagree on is "sometimes", and
/// each thread asks its own subscriber. Only for tests: in an application with one global
/// subscriber the race cannot happen, and the extra dispatcher would make callsites dynamic.
pub fn with_default<T>(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
    f: impl FnOnce() -> T,
) -> T {
    isolate_thread_local_subscribers();
    tracing::subscriber::with_default(subscriber, f)
}

/// Registers the never-interested dispatcher [`with_default`] relies on (once per process). Call it
/// before installing a thread-local subscriber some other way (`set_default`, `Dispatch::new`) in a
/// test that runs in parallel with others.
pub fn isolate_thread_local_subscribers() {
    // Two, so tracing-core never takes its one-dispatcher shortcut (which asks the current thread's
    // subscriber) even before the first test's subscriber is registered.
    static SENTINELS: std::sync::OnceLock<[tracing::Dispatch; 2]> = std::sync::OnceLock::new();
    SENTINELS.get_or_init(|| {
        [(); 2].map(|_| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()))
    });
}

/// [`capture`] with a builder of your own (processors, settings); a [`TestExporter`] is added to it.
pub fn capture_with(builder: crate::Builder, f: impl FnOnce()) -> Vec<SpanRecord> {
    use tracing_subscriber::layer::SubscriberExt;
    let exporter = TestExporter::new();
    let (layer, guard) = match builder.exporter(exporter.clone()).build_layer() {
        Ok(built) => built,
        Err(e) => panic!("capture_with: {e}"),
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    with_default(subscriber, f);
    guard.shutdown(Duration::from_secs(10));
    exporter.spans()
}

/// A `Write` that keeps what was written, shared by its clones: give one to a
/// [`ConsoleExporter`](crate::ConsoleExporter) or a `fmt` layer's writer, read it with
/// [`text`](Self::text).
#[derive(Debug, Clone, Default)]
pub struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The lines written so far that contain every one of `words` (a level, a target, a name).
    pub fn lines_with(&self, words: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .map(str::to_string)
            .collect()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The records of the requests the spans ran in ([`SpanKind::Request`](crate::SpanKind::Request)),
/// and the others.
pub fn split_requests(records: Vec<SpanRecord>) -> (Vec<SpanRecord>, Vec<SpanRecord>) {
    records
        .into_iter()
        .partition(|r| r.kind == crate::SpanKind::Request)
}

/// [`capture`] for async code: the subscriber is set for every poll of `f`, on whatever thread polls
/// it, so the spans of code that `.await`s are captured (`testing::capture` is a thread-local
/// subscriber for the length of a closure). Tasks `f` spawns run outside it unless they are given
/// the subscriber too (`tracing::instrument::WithSubscriber`).
///
/// ```
/// # async fn demo() {
/// let spans = aitrace_core::testing::capture_async(async {
///     let chat = aitrace_core::generation_span!("openai", "gpt-4o-mini");
///     let _entered = chat.enter();
/// })
/// .await;
/// assert_eq!(spans.len(), 1);
/// # }
/// ```
pub async fn capture_async(f: impl std::future::Future<Output = ()>) -> Vec<SpanRecord> {
    capture_async_with(crate::builder(), f).await
}

/// [`capture_async`] with a builder of your own; a [`TestExporter`] is added to it.
pub async fn capture_async_with(
    builder: crate::Builder,
    f: impl std::future::Future<Output = ()>,
) -> Vec<SpanRecord> {
    use tracing::instrument::WithSubscriber;
    use tracing_subscriber::layer::SubscriberExt;
    let exporter = TestExporter::new();
    let (layer, guard) = match builder.exporter(exporter.clone()).build_layer() {
        Ok(built) => built,
        Err(e) => panic!("capture_async_with: {e}"),
    };
    isolate_thread_local_subscribers();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    f.with_subscriber(dispatch).await;
    guard.shutdown(Duration::from_secs(10));
    exporter.spans()
}

/// Deterministic generators of arbitrary JSON values and span records, for property tests of
/// processors and exporter mappings (no external fuzzing crate needed).
#[derive(Debug, Clone)]
pub struct Arbitrary(u64);

impl Arbitrary {
    /// The seed and iteration count a property test should use: `AITRACE_FUZZ_SEED` and
    /// `AITRACE_FUZZ_ITERATIONS` (set by `cargo xtask fuzz`), else `seed` and `iterations`. The seed is
    /// printed so a failure can be replayed.
    pub fn from_env(seed: u64, iterations: usize) -> (Self, usize) {
        let seed = std::env::var("AITRACE_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(seed);
        let n = std::env::var("AITRACE_FUZZ_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(iterations);
        eprintln!("property test: seed {seed}, {n} iterations (AITRACE_FUZZ_SEED / AITRACE_FUZZ_ITERATIONS)");
        (Arbitrary::new(seed), n)
    }

    /// A generator from a seed (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Self {
        Arbitrary(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next pseudo-random number (xorshift64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An arbitrary string: empty, unicode, control characters, JSON-looking, secret-looking, long.
    pub fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "",
            "hello",
            "ünïcödé ✓ 日本",
            "\u{0}\u{1f}\t\n\"\\",
            "{\"a\":[1,2,{\"b\":null}]}",
            "[1,",
            "{not json",
            "sk-proj-abcdefghijklmnopqrstuvwxyz12",
            "Bearer abcdefghijkl",
            "🙂🙂🙂",
            "-1e309",
            "NaN",
            "9223372036854775808",
        ];
        let mut s: String = (0..self.below(4))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect();
        if self.below(20) == 0 {
            s.push_str(&"x".repeat(self.below(200_000) as usize));
        }
        s
    }

    /// An arbitrary JSON value nested at most `depth` levels.
    pub fn json(&mut self, depth: u32) -> serde_json::Value {
        use serde_json::{json, Value};
        match (self.below(if depth == 0 { 5 } else { 8 }), depth) {
            (0, _) => Value::Null,
            (1, _) => json!(self.next_u64() as i64),
            (2, _) => serde_json::Number::from_f64(f64::from_bits(self.next_u64()))
                .map_or(Value::Null, Value::Number),
            (3, _) => json!(self.below(2) == 0),
            (4, _) => Value::String(self.string()),
            (5, d) => Value::Array((0..self.below(5)).map(|_| self.json(d - 1)).collect()),
            (6, d) => Value::String(self.json(d - 1).to_string()),
            (_, d) => Value::Object(
                (0..self.below(5))
                    .map(|_| (self.string(), self.json(d - 1)))
                    .collect(),
            ),
        }
    }

    fn opt_string(&mut self) -> Option<String> {
        (self.below(3) != 0).then(|| self.string())
    }

    /// An arbitrary record: any kind, ids, times (possibly inverted), content, usage, status, metadata.
    pub fn span_record(&mut self) -> SpanRecord {
        use crate::record::{AgentInfo, Cost, SpanKind, Status, ToolInfo};
        let kind = SpanKind::ALL[self.below(SpanKind::ALL.len() as u64) as usize];
        let mut r = SpanRecord::new(self.string(), kind);
        r.start_time_unix_nano = self.next_u64() >> self.below(64);
        r.end_time_unix_nano = self.next_u64() >> self.below(64);
        r.billable = self.below(2) == 0;
        r.parent_span_id = (self.below(2) == 0).then(crate::SpanId::random);
        r.provider = self.opt_string();
        r.request_model = self.opt_string();
        r.response_model = self.opt_string();
        if self.below(2) == 0 {
            let n = |g: &mut Self| (g.below(2) == 0).then(|| g.next_u64() >> g.below(64));
            r.usage = Some(Usage {
                input_tokens: n(self),
                output_tokens: n(self),
                total_tokens: n(self),
                cache_read_input_tokens: n(self),
                cache_creation_input_tokens: n(self),
                reasoning_tokens: n(self),
                input_audio_tokens: n(self),
                output_audio_tokens: n(self),
                input_text_tokens: n(self),
                input_image_tokens: n(self),
                output_text_tokens: n(self),
                output_image_tokens: n(self),
                tool_use_prompt_tokens: n(self),
            });
        }
        if self.below(3) == 0 {
            r.cost = Some(Cost {
                input: Some(f64::from_bits(self.next_u64())),
                total: None,
                ..Cost::default()
            });
        }
        r.params.temperature = (self.below(2) == 0).then(|| f64::from_bits(self.next_u64()));
        r.params.stop_sequences = (0..self.below(3)).map(|_| self.string()).collect();
        r.finish_reasons = (0..self.below(3)).map(|_| self.string()).collect();
        r.time_to_first_token_s = (self.below(2) == 0).then(|| f64::from_bits(self.next_u64()));
        r.input = (self.below(4) != 0).then(|| self.json(5));
        r.output = (self.below(4) != 0).then(|| self.json(5));
        r.system_instructions = (self.below(4) == 0).then(|| self.json(3));
        r.tool = (self.below(3) == 0).then(|| ToolInfo {
            name: self.opt_string(),
            call_id: self.opt_string(),
            tool_type: None,
            description: None,
            arguments: Some(self.json(4)),
            result: Some(self.json(4)),
        });
        r.agent = (self.below(3) == 0).then(|| AgentInfo {
            name: self.opt_string(),
            ..AgentInfo::default()
        });
        r.session_id = self.opt_string();
        r.user_id = self.opt_string();
        r.tags = (0..self.below(4)).map(|_| self.string()).collect();
        for _ in 0..self.below(4) {
            let k = self.string();
            let v = self.json(3);
            r.metadata.insert(k, v);
        }
        r.trace_name = self.opt_string();
        for _ in 0..self.below(3) {
            let k = self.string();
            let v = self.json(3);
            r.trace_metadata.insert(k, v);
        }
        for _ in 0..self.below(4) {
            let k = self.string();
            let v = self.json(3);
            r.attributes.insert(k, v);
        }
        r.status = match self.below(3) {
            0 => Status::Unset,
            1 => Status::Ok,
            _ => Status::Error {
                message: self.string(),
                error_type: self.opt_string(),
            },
        };
        r.attempt = (self.below(3) == 0).then(|| self.next_u64() as u32);
        r
    }
}
