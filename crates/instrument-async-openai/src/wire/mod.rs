//! The OpenAI wire format, read into aitrace's terms: pure functions from request and response JSON
//! to chat messages, usage and finish reasons. No I/O and no spans here.

mod answer;
mod request;
mod stream;

pub(crate) use answer::Outcome;
pub(crate) use request::CallRequest;
pub(crate) use stream::{Event, SseSplitter, StreamSoFar};

/// The API a request calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /chat/completions`.
    Chat,
    /// `POST /responses`.
    Responses,
    /// `POST /embeddings`.
    Embeddings,
}

impl Endpoint {
    /// The endpoint a request's method and path call; `None` for the ones not traced.
    pub(crate) fn of(method: &http::Method, path: &str) -> Option<Endpoint> {
        if method != http::Method::POST {
            return None;
        }
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Endpoint::Chat)
        } else if path.ends_with("/responses") {
            Some(Endpoint::Responses)
        } else if path.ends_with("/embeddings") {
            Some(Endpoint::Embeddings)
        } else {
            None
        }
    }
}

/// The provider a base URL's host belongs to (`gen_ai.provider.name`). An OpenAI-compatible server
/// we do not know is `openai`: the wire format it speaks, as OpenTelemetry's own OpenAI
/// instrumentations report it (set the provider on the layer to override).
pub(crate) fn provider_for_host(host: &str) -> &'static str {
    let host = host.to_ascii_lowercase();
    let known: &[(&str, &str)] = &[
        (".openai.azure.com", "azure.ai.openai"),
        ("api.groq.com", "groq"),
        ("api.deepseek.com", "deepseek"),
        ("api.x.ai", "x_ai"),
        ("api.mistral.ai", "mistral_ai"),
        ("api.perplexity.ai", "perplexity"),
        ("generativelanguage.googleapis.com", "gcp.gemini"),
        ("api.together.xyz", "together_ai"),
        ("openrouter.ai", "openrouter"),
        ("api.fireworks.ai", "fireworks_ai"),
    ];
    known
        .iter()
        .find(|(suffix, _)| host == suffix.trim_start_matches('.') || host.ends_with(suffix))
        .map_or("openai", |(_, provider)| provider)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_providers() {
        assert_eq!(provider_for_host("api.openai.com"), "openai");
        assert_eq!(
            provider_for_host("myco.openai.azure.com"),
            "azure.ai.openai"
        );
        assert_eq!(provider_for_host("api.groq.com"), "groq");
        assert_eq!(provider_for_host("127.0.0.1"), "openai");
    }
}
