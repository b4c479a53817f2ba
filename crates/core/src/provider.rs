//! Provider names normalized to the OTel GenAI `gen_ai.provider.name` well-known values, so the same
//! provider never shows up under three spellings in a dashboard.

/// Maps common spellings to the well-known value (`OpenAI` → `openai`, `claude` → `anthropic`,
/// `vertex` → `gcp.vertex_ai`, ...). Unknown providers are lowercased with spaces and dashes turned
/// into underscores (`Eleven Labs` → `eleven_labs`).
pub fn normalize_provider(raw: &str) -> String {
    // Instrumentation usually writes the well-known value already: no work beyond one comparison.
    if let Some(known) = WELL_KNOWN.iter().find(|k| **k == raw) {
        return (*known).to_string();
    }
    let lower = raw.trim().to_ascii_lowercase();
    let key: String = lower
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .collect();
    let known = match key.as_str() {
        "openai" | "oai" => "openai",
        "anthropic" | "claude" => "anthropic",
        "awsbedrock" | "bedrock" | "amazonbedrock" => "aws.bedrock",
        "azureaiopenai" | "azureopenai" | "azure" => "azure.ai.openai",
        "azureaiinference" | "azureinference" => "azure.ai.inference",
        "gcpgemini" | "gemini" | "google" | "googlegemini" | "googleai" | "googlegenerativeai" => {
            "gcp.gemini"
        }
        "gcpvertexai" | "vertex" | "vertexai" | "googlevertex" | "googlevertexai" => {
            "gcp.vertex_ai"
        }
        "gcpgenai" | "googlegenai" => "gcp.gen_ai",
        "mistral" | "mistralai" => "mistral_ai",
        "xai" | "grok" => "x_ai",
        "groq" => "groq",
        "cohere" => "cohere",
        "deepseek" => "deepseek",
        "perplexity" => "perplexity",
        "ibmwatsonxai" | "watsonx" | "watsonxai" => "ibm.watsonx.ai",
        _ => "",
    };
    if known.is_empty() {
        lower.replace([' ', '-'], "_")
    } else {
        known.to_string()
    }
}

/// The values `normalize_provider` produces for known providers.
const WELL_KNOWN: [&str; 15] = [
    "openai",
    "anthropic",
    "aws.bedrock",
    "azure.ai.openai",
    "azure.ai.inference",
    "gcp.gemini",
    "gcp.vertex_ai",
    "gcp.gen_ai",
    "mistral_ai",
    "x_ai",
    "groq",
    "cohere",
    "deepseek",
    "perplexity",
    "ibm.watsonx.ai",
];

#[cfg(test)]
mod tests {
    use super::normalize_provider as n;

    #[test]
    fn aliases_map_to_well_known_values() {
        assert_eq!(n("OpenAI"), "openai");
        assert_eq!(n("claude"), "anthropic");
        assert_eq!(n("Vertex AI"), "gcp.vertex_ai");
        assert_eq!(n("gcp.gemini"), "gcp.gemini");
        assert_eq!(n("azure-openai"), "azure.ai.openai");
        assert_eq!(n("aws.bedrock"), "aws.bedrock");
        assert_eq!(n("x-ai"), "x_ai");
        assert_eq!(n("MistralAI"), "mistral_ai");
        assert_eq!(n("Deepgram"), "deepgram");
        assert_eq!(n("Eleven Labs"), "eleven_labs");
    }

    #[test]
    fn well_known_values_map_to_themselves() {
        for v in super::WELL_KNOWN {
            assert_eq!(n(v), v);
            assert_eq!(n(&v.to_uppercase()), v, "{v} in capitals");
        }
    }
}
