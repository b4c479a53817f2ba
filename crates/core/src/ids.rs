//! W3C trace-context ids and the `traceparent` header.
//!
//! Ids are random (never zero) and serialize as lowercase hex, the form every backend (OTLP, Langfuse,
//! Braintrust) accepts, so exporters never re-encode them.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 128-bit W3C trace id. Never all zeros when produced by this crate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

/// A 64-bit W3C span id. Never all zeros when produced by this crate.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

/// Why a hex id or a `traceparent` header was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdParseError(pub(crate) &'static str);

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for IdParseError {}

thread_local! {
    // SplitMix64 state, seeded per thread from the process's random hasher keys, the thread and time,
    // so ids are unique across threads without a shared lock.
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    let thread = std::thread::current().id();
    h.write(format!("{thread:?}").as_bytes());
    h.finish()
}

fn next_u64() -> u64 {
    RNG.with(|state| {
        let mut z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

fn parse_hex<const N: usize>(s: &str, what: &'static str) -> Result<u128, IdParseError> {
    if s.len() != N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdParseError(what));
    }
    u128::from_str_radix(s, 16).map_err(|_| IdParseError(what))
}

impl TraceId {
    /// A new random, non-zero trace id.
    pub fn random() -> Self {
        loop {
            let v = ((next_u64() as u128) << 64) | next_u64() as u128;
            if v != 0 {
                return TraceId(v);
            }
        }
    }
    /// The id from its 128-bit value. Zero is the W3C "invalid" id; `is_valid` reports it.
    pub const fn from_u128(v: u128) -> Self {
        TraceId(v)
    }
    /// The 128-bit value.
    pub const fn to_u128(self) -> u128 {
        self.0
    }
    /// Big-endian bytes, as OTLP carries them.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
    /// Parses exactly 32 hex digits; rejects the all-zero id.
    pub fn from_hex(s: &str) -> Result<Self, IdParseError> {
        match parse_hex::<32>(s, "a trace id is 32 hex digits")? {
            0 => Err(IdParseError("the all-zero trace id is invalid")),
            v => Ok(TraceId(v)),
        }
    }
    /// False for the all-zero id.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }
}

impl SpanId {
    /// A new random, non-zero span id.
    pub fn random() -> Self {
        loop {
            let v = next_u64();
            if v != 0 {
                return SpanId(v);
            }
        }
    }
    /// The id from its 64-bit value.
    pub const fn from_u64(v: u64) -> Self {
        SpanId(v)
    }
    /// The 64-bit value.
    pub const fn to_u64(self) -> u64 {
        self.0
    }
    /// Big-endian bytes, as OTLP carries them.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
    /// Parses exactly 16 hex digits; rejects the all-zero id.
    pub fn from_hex(s: &str) -> Result<Self, IdParseError> {
        match parse_hex::<16>(s, "a span id is 16 hex digits")? {
            0 => Err(IdParseError("the all-zero span id is invalid")),
            v => Ok(SpanId(v as u64)),
        }
    }
    /// False for the all-zero id.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }
}

/// `v`'s low `N * 4` bits as `N` lowercase hex digits (ids are formatted on every exported span).
fn hex_digits<const N: usize>(v: u128) -> [u8; N] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; N];
    for (i, d) in out.iter_mut().enumerate() {
        *d = DIGITS[((v >> ((N - 1 - i) * 4)) & 0xf) as usize];
    }
    out
}

/// Hex digits are ASCII, so this never fails; the fallback keeps the function total.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl TraceId {
    /// The 32 lowercase hex digits of W3C trace context.
    pub fn to_hex(self) -> [u8; 32] {
        hex_digits(self.0)
    }
}

impl SpanId {
    /// The 16 lowercase hex digits of W3C trace context.
    pub fn to_hex(self) -> [u8; 16] {
        hex_digits(u128::from(self.0))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(ascii(&self.to_hex()))
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(ascii(&self.to_hex()))
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl FromStr for TraceId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceId::from_hex(s)
    }
}
impl FromStr for SpanId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpanId::from_hex(s)
    }
}

macro_rules! hex_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(ascii(&self.to_hex()))
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_serde!(TraceId);
hex_serde!(SpanId);

/// A parsed W3C `traceparent` header: `00-<trace id>-<parent span id>-<flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The distributed trace this process joins.
    pub trace_id: TraceId,
    /// The remote span that becomes the parent of our root span.
    pub parent_span_id: SpanId,
    /// The `sampled` bit of the trace flags.
    pub sampled: bool,
}

impl TraceParent {
    /// Parses a header value. Version `00` must have exactly four fields; later versions may append
    /// fields, as the W3C spec allows. Version `ff` and zero ids are rejected.
    pub fn parse(header: &str) -> Result<Self, IdParseError> {
        let header = header.trim();
        let mut fields = header.split('-');
        let version = fields.next().unwrap_or_default();
        if version.len() != 2 || !version.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdParseError("traceparent version must be 2 hex digits"));
        }
        if version.eq_ignore_ascii_case("ff") {
            return Err(IdParseError("traceparent version ff is invalid"));
        }
        let trace_id = TraceId::from_hex(fields.next().unwrap_or_default())?;
        let parent_span_id = SpanId::from_hex(fields.next().unwrap_or_default())?;
        let flags = fields.next().unwrap_or_default();
        if flags.len() != 2 || !flags.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdParseError("traceparent flags must be 2 hex digits"));
        }
        if version == "00" && fields.next().is_some() {
            return Err(IdParseError("traceparent version 00 has exactly 4 fields"));
        }
        let flags = u8::from_str_radix(flags, 16).map_err(|_| IdParseError("bad flags"))?;
        Ok(TraceParent {
            trace_id,
            parent_span_id,
            sampled: flags & 1 == 1,
        })
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id,
            self.parent_span_id,
            u8::from(self.sampled)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_distinct_and_valid() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert_ne!(a, b);
        assert!(a.is_valid() && SpanId::random().is_valid());
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(SpanId::random().to_string().len(), 16);
    }

    #[test]
    fn hex_round_trip_keeps_leading_zeros() {
        let t = TraceId::from_u128(0xab);
        assert_eq!(t.to_string(), "000000000000000000000000000000ab");
        assert_eq!(TraceId::from_hex(&t.to_string()).unwrap(), t);
        let s = SpanId::from_u64(1);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"0000000000000001\"");
        assert_eq!(
            serde_json::from_str::<SpanId>("\"0000000000000001\"").unwrap(),
            s
        );
    }

    #[test]
    fn hex_digits_match_the_standard_formatter_and_honour_padding() {
        for _ in 0..1000 {
            let (t, s) = (TraceId::random(), SpanId::random());
            assert_eq!(t.to_string(), format!("{:032x}", t.to_u128()));
            assert_eq!(s.to_string(), format!("{:016x}", s.to_u64()));
        }
        let s = SpanId::from_u64(u64::MAX);
        assert_eq!(format!("[{s:>18}]"), "[  ffffffffffffffff]");
    }

    #[test]
    fn traceparent_parses_w3c_example_and_round_trips() {
        let h = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(h).unwrap();
        assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert!(tp.sampled);
        assert_eq!(tp.to_string(), h);
    }

    #[test]
    fn traceparent_rejects_malformed_headers() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad:?} accepted");
        }
        // A future version may carry extra fields.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x").is_ok()
        );
    }
}
