//! Token counts and cost of a model call ([`Usage`], [`Cost`]), and the billing sum over records.

use serde::{Deserialize, Serialize};

use super::SpanRecord;

/// Token counts of one model call. `input_tokens` includes cached tokens, as in the OTel GenAI
/// conventions; the cache counts are a breakdown of it, not an addition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Tokens read (cached ones included).
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Tokens written (reasoning ones included).
    pub output_tokens: Option<u64>,
    /// As reported by the provider; [`Usage::total`] falls back to input + output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Input tokens read from the provider's cache (part of `input_tokens`).
    pub cache_read_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Input tokens written to the provider's cache (part of `input_tokens`).
    pub cache_creation_input_tokens: Option<u64>,
    /// Part of `output_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Input tokens of audio (part of `input_tokens`).
    pub input_audio_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Output tokens of audio (part of `output_tokens`).
    pub output_audio_tokens: Option<u64>,
    /// Per-modality breakdowns (`gen_ai.usage.{text,image}.{input,output}_tokens`), parts of
    /// `input_tokens` / `output_tokens` like the audio ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_text_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Input tokens of images.
    pub input_image_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Output tokens of text.
    pub output_text_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Output tokens of images.
    pub output_image_tokens: Option<u64>,
    /// Tokens of the prompts a provider runs for its own tool use (Gemini's
    /// `toolUsePromptTokenCount`, `gen_ai.usage.tool_use_prompt_tokens`), as reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_tokens: Option<u64>,
}

impl Usage {
    /// No counts (a `const` [`Default`]).
    pub const EMPTY: Usage = Usage {
        input_tokens: None,
        output_tokens: None,
        total_tokens: None,
        cache_read_input_tokens: None,
        cache_creation_input_tokens: None,
        reasoning_tokens: None,
        input_audio_tokens: None,
        output_audio_tokens: None,
        input_text_tokens: None,
        input_image_tokens: None,
        output_text_tokens: None,
        output_image_tokens: None,
        tool_use_prompt_tokens: None,
    };
    /// Input and output tokens (usable in `const`s, like the `with_*` methods).
    pub const fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Usage {
            input_tokens: Some(input_tokens),
            output_tokens: Some(output_tokens),
            ..Usage::EMPTY
        }
    }
    /// Input tokens only (an embeddings call has no output).
    pub const fn input_only(input_tokens: u64) -> Self {
        Usage {
            input_tokens: Some(input_tokens),
            ..Usage::EMPTY
        }
    }
    /// Sets the cache-read part of the input.
    pub const fn with_cache_read(mut self, tokens: u64) -> Self {
        self.cache_read_input_tokens = Some(tokens);
        self
    }
    /// Sets the cache-creation part of the input.
    pub const fn with_cache_creation(mut self, tokens: u64) -> Self {
        self.cache_creation_input_tokens = Some(tokens);
        self
    }
    /// Sets the reasoning part of the output.
    pub const fn with_reasoning(mut self, tokens: u64) -> Self {
        self.reasoning_tokens = Some(tokens);
        self
    }
    /// The provider's total, or input + output.
    pub fn total(&self) -> Option<u64> {
        self.total_tokens
            .or(match (self.input_tokens, self.output_tokens) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0).saturating_add(o.unwrap_or(0))),
            })
    }
    /// True when no count is set.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
    /// Field-wise sum (a field is `Some` when either side has it).
    pub fn add(&self, other: &Usage) -> Usage {
        fn s(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            }
        }
        Usage {
            input_tokens: s(self.input_tokens, other.input_tokens),
            output_tokens: s(self.output_tokens, other.output_tokens),
            // Keep "no explicit total" when neither side had one, so sums compare equal to
            // hand-written usages; otherwise sum what each side would report.
            total_tokens: if self.total_tokens.is_none() && other.total_tokens.is_none() {
                None
            } else {
                s(self.total(), other.total())
            },
            cache_read_input_tokens: s(self.cache_read_input_tokens, other.cache_read_input_tokens),
            cache_creation_input_tokens: s(
                self.cache_creation_input_tokens,
                other.cache_creation_input_tokens,
            ),
            reasoning_tokens: s(self.reasoning_tokens, other.reasoning_tokens),
            input_audio_tokens: s(self.input_audio_tokens, other.input_audio_tokens),
            output_audio_tokens: s(self.output_audio_tokens, other.output_audio_tokens),
            input_text_tokens: s(self.input_text_tokens, other.input_text_tokens),
            input_image_tokens: s(self.input_image_tokens, other.input_image_tokens),
            output_text_tokens: s(self.output_text_tokens, other.output_text_tokens),
            output_image_tokens: s(self.output_image_tokens, other.output_image_tokens),
            tool_use_prompt_tokens: s(self.tool_use_prompt_tokens, other.tool_use_prompt_tokens),
        }
    }
    /// Fills the fields `self` lacks from `other` (fields set later win; used for late `record`s).
    pub fn merge_from(&mut self, other: &Usage) {
        macro_rules! m {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        m!(
            input_tokens,
            output_tokens,
            total_tokens,
            cache_read_input_tokens,
            cache_creation_input_tokens,
            reasoning_tokens,
            input_audio_tokens,
            output_audio_tokens,
            input_text_tokens,
            input_image_tokens,
            output_text_tokens,
            output_image_tokens,
            tool_use_prompt_tokens
        );
    }
}

/// Cost of one call, split by kind of token, in `currency` (default USD).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Cost {
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Cost of the input tokens not read from cache.
    pub input: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Cost of the output tokens.
    pub output: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Cost of the input tokens read from cache.
    pub cache_read_input: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Cost of the input tokens written to cache.
    pub cache_creation_input: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Cost of the reasoning tokens, when priced apart.
    pub reasoning: Option<f64>,
    /// When absent, the sum of the parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// ISO 4217 code.
    pub currency: String,
}

impl Default for Cost {
    fn default() -> Self {
        Cost {
            input: None,
            output: None,
            cache_read_input: None,
            cache_creation_input: None,
            reasoning: None,
            total: None,
            currency: "USD".to_string(),
        }
    }
}

impl Cost {
    /// A cost in USD split into input and output (the total is their sum).
    pub fn usd_split(input: f64, output: f64) -> Self {
        Cost {
            input: Some(input),
            output: Some(output),
            ..Cost::default()
        }
    }
    /// The same cost in another currency (an ISO 4217 code).
    pub fn in_currency(mut self, currency: impl Into<String>) -> Self {
        self.currency = currency.into();
        self
    }
    /// A total cost in USD.
    pub fn usd(total: f64) -> Self {
        Cost {
            total: Some(total),
            ..Cost::default()
        }
    }
    /// The explicit total or the sum of the parts.
    pub fn total(&self) -> Option<f64> {
        self.total.or_else(|| {
            let parts = [
                self.input,
                self.output,
                self.cache_read_input,
                self.cache_creation_input,
                self.reasoning,
            ];
            parts
                .iter()
                .any(Option::is_some)
                .then(|| parts.iter().flatten().sum())
        })
    }
}

/// Sums the usage of the billable records among `spans`: what a backend bills for them. Every
/// exporter's tests compare this with the true usage of the calls made.
pub fn total_billable_usage<'a>(spans: impl IntoIterator<Item = &'a SpanRecord>) -> Usage {
    spans
        .into_iter()
        .filter_map(SpanRecord::billable_usage)
        .fold(Usage::default(), |acc, u| acc.add(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_total_and_sum() {
        let u = Usage::new(100, 20).with_cache_read(30);
        assert_eq!(u.total(), Some(120));
        let s = u.add(&Usage::new(1, 2));
        assert_eq!(
            (s.input_tokens, s.output_tokens, s.total()),
            (Some(101), Some(22), Some(123))
        );
        assert_eq!(s.cache_read_input_tokens, Some(30));
        assert_eq!(Usage::default().total(), None);
    }

    #[test]
    fn cost_total_sums_parts_when_absent() {
        let c = Cost {
            input: Some(0.5),
            output: Some(0.25),
            ..Cost::default()
        };
        assert_eq!(c.total(), Some(0.75));
        assert_eq!(Cost::default().total(), None);
        assert_eq!(Cost::usd(2.0).total(), Some(2.0));
    }
}
