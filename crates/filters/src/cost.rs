//! [`CostProcessor`]: the cost of each billable call from a price table, per kind of token.

use std::path::Path;

use aitrace_core::{normalize_provider, ConfigError, Cost, Processor, SpanRecord, Verdict};
use serde::Deserialize;

/// The built-in table (USD per million tokens, dated in the file).
pub const BUILTIN_PRICES_JSON: &str = include_str!("prices.json");

/// Prices of one model, per million tokens of each kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelPrice {
    /// Normalized provider (`openai`, `anthropic`, ...); absent matches any provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// The model name; dated variants (`gpt-4o-2024-08-06`) match by prefix.
    pub model: String,
    /// Uncached input.
    pub input: f64,
    /// USD per output token.
    pub output: f64,
    /// Cached input read (default: the input price).
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Cache write (default: the input price).
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Reasoning output (default: the output price).
    #[serde(default)]
    pub reasoning: Option<f64>,
    /// Audio input (default: the input price).
    #[serde(default)]
    pub input_audio: Option<f64>,
    /// Audio output (default: the output price).
    #[serde(default)]
    pub output_audio: Option<f64>,
}

/// A price table: the built-in one, a JSON file, or your own entries (later entries win).
#[derive(Debug, Clone, Deserialize)]
pub struct PriceTable {
    /// When the prices were taken.
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default = "usd")]
    /// The currency of every price (USD).
    pub currency: String,
    /// The priced models.
    pub models: Vec<ModelPrice>,
}

fn usd() -> String {
    "USD".to_string()
}

impl PriceTable {
    /// The built-in table (see [`BUILTIN_PRICES_JSON`] for its date).
    pub fn builtin() -> Self {
        Self::from_json(BUILTIN_PRICES_JSON)
            .unwrap_or_else(|_| unreachable!("the built-in table parses"))
    }

    /// A table from JSON of the built-in table's shape.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let mut table: PriceTable = serde_json::from_str(text)
            .map_err(|e| ConfigError::new("price table", e.to_string()))?;
        for m in &mut table.models {
            m.provider = m.provider.as_deref().map(normalize_provider);
            let prices = [
                Some(m.input),
                Some(m.output),
                m.cache_read,
                m.cache_write,
                m.reasoning,
                m.input_audio,
                m.output_audio,
            ];
            if prices.iter().flatten().any(|p| !p.is_finite() || *p < 0.0) {
                return Err(ConfigError::new(
                    "price table",
                    format!("negative or invalid price for {}", m.model),
                ));
            }
        }
        Ok(table)
    }

    /// A table from a JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "price table",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::from_json(&text)
    }

    /// Adds or replaces a model's prices.
    pub fn with(mut self, price: ModelPrice) -> Self {
        self.models.push(price);
        self
    }

    /// Adds every entry of `other` over this table's.
    pub fn merge(mut self, other: PriceTable) -> Self {
        self.models.extend(other.models);
        self
    }

    /// The price of a model: an exact name first, else the longest entry that the model name extends
    /// with a date or version suffix (`gpt-4o-2024-08-06` → `gpt-4o`, not `gpt-4o-mini`). Later
    /// entries win ties; a provider given on both sides must agree.
    pub fn lookup(&self, provider: Option<&str>, model: &str) -> Option<&ModelPrice> {
        let model = model.trim();
        // Normalized once, not once per entry (each normalization allocates).
        let provider = provider.map(normalize_provider);
        let provider_ok = |p: &ModelPrice| match (&p.provider, &provider) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let suffix_ok = |p: &ModelPrice| {
            model.strip_prefix(p.model.as_str()).is_some_and(|rest| {
                rest.is_empty()
                    || (matches!(rest.as_bytes()[0], b'-' | b'@' | b':' | b'.')
                        && rest[1..].bytes().next().is_some_and(|b| b.is_ascii_digit())
                        || rest == "-latest")
            })
        };
        // `max_by_key` keeps the last of equal keys: later entries win.
        self.models
            .iter()
            .filter(|p| provider_ok(p))
            .filter(|p| p.model == model || suffix_ok(p))
            .max_by_key(|p| (p.model == model, p.model.len()))
    }
}

/// Computes [`Cost`] for billable spans with usage and a known model; spans that already carry a cost
/// keep it, and an unknown model gets none (never a guess).
#[derive(Debug, Clone)]
pub struct CostProcessor {
    table: PriceTable,
}

impl Default for CostProcessor {
    fn default() -> Self {
        CostProcessor::new(PriceTable::builtin())
    }
}

impl CostProcessor {
    /// Uses `table`.
    pub fn new(table: PriceTable) -> Self {
        CostProcessor { table }
    }

    /// The cost of one record, if its model is priced.
    pub fn cost_of(&self, span: &SpanRecord) -> Option<Cost> {
        let usage = span.billable_usage()?;
        let model = span.model()?;
        let price = self
            .table
            .lookup(span.provider.as_deref(), model)
            .or_else(|| {
                span.request_model
                    .as_deref()
                    .and_then(|m| self.table.lookup(span.provider.as_deref(), m))
            })?;
        let per = |tokens: u64, price: f64| tokens as f64 * price / 1e6;
        let cache_read = usage.cache_read_input_tokens.unwrap_or(0);
        let cache_write = usage.cache_creation_input_tokens.unwrap_or(0);
        let audio_in = usage.input_audio_tokens.unwrap_or(0);
        let reasoning = usage.reasoning_tokens.unwrap_or(0);
        let audio_out = usage.output_audio_tokens.unwrap_or(0);
        let input = usage.input_tokens.unwrap_or(0).saturating_sub(
            cache_read
                .saturating_add(cache_write)
                .saturating_add(audio_in),
        );
        let output = usage
            .output_tokens
            .unwrap_or(0)
            .saturating_sub(reasoning.saturating_add(audio_out));
        let input_cost =
            per(input, price.input) + per(audio_in, price.input_audio.unwrap_or(price.input));
        let output_cost =
            per(output, price.output) + per(audio_out, price.output_audio.unwrap_or(price.output));
        let mut cost = Cost::default();
        cost.input = Some(input_cost);
        cost.output = Some(output_cost);
        cost.cache_read_input =
            (cache_read > 0).then(|| per(cache_read, price.cache_read.unwrap_or(price.input)));
        cost.cache_creation_input =
            (cache_write > 0).then(|| per(cache_write, price.cache_write.unwrap_or(price.input)));
        cost.reasoning =
            (reasoning > 0).then(|| per(reasoning, price.reasoning.unwrap_or(price.output)));
        cost.currency = self.table.currency.clone();
        cost.total = cost.total();
        Some(cost)
    }
}

impl Processor for CostProcessor {
    fn name(&self) -> &str {
        "cost"
    }

    /// Pricing runs on the exporters' workers, not on the thread that closed the span.
    fn offload(&self) -> bool {
        true
    }

    fn reads_content(&self) -> bool {
        false
    }

    fn process(&self, span: &mut SpanRecord) -> Verdict {
        if span.cost.is_none() {
            span.cost = self.cost_of(span);
        }
        Verdict::Keep
    }
}
