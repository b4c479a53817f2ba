//! Deciding from a key's *words* whether its value is a secret.
//!
//! Keys are split on separators and case changes (`x-api-key`, `apiKey`, `API_KEY` → `api key`), then
//! a rule matches when its words end the key (`db_password`, `authToken`), optionally followed only by
//! a qualifier (`password_hash`, `authorization_header`). So usage and parameter keys never match:
//! `prompt_tokens` ends in `tokens`, not `token`; `llm.token_count` ends in `count`; `max_tokens`,
//! `keyword`, `tokenizer` are other words. A key written as one word (`apikey`, `xapikey`, `dbpassword`)
//! matches when it ends with the rule's words joined, for rules of five letters or more (so `oauth`
//! is not `auth`).

/// Words that may follow a sensitive term and still describe the secret itself.
const QUALIFIERS: &[&str] = &[
    "value",
    "header",
    "hash",
    "raw",
    "pem",
    "b64",
    "base64",
    "string",
    "str",
    "plain",
    "plaintext",
    "enc",
    "encrypted",
    "der",
    "bytes",
];

/// Splits a key into lowercase words at separators, lower→upper changes, acronym ends and
/// letter/digit changes: `XMLHttpAPIKey2` → `xml http api key 2`.
pub fn key_words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        // Compare with the original previous character (`current` is already lowercased).
        if let Some(&prev) = (!current.is_empty()).then(|| &chars[i - 1]) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next_lower)
                || (prev.is_alphabetic() != c.is_alphabetic());
            if boundary {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// One sensitive term, as words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRule {
    /// As the user wrote it (`api_key`).
    pub name: String,
    words: Vec<String>,
    joined: String,
}

impl KeyRule {
    /// A rule from a key spelling (`api_key`, `apiKey` and `API-KEY` are the same rule).
    pub fn new(spec: &str) -> Option<Self> {
        let words = key_words(spec);
        if words.is_empty() {
            return None;
        }
        Some(KeyRule {
            name: spec.to_string(),
            joined: words.concat(),
            words,
        })
    }

    /// The label used by the indexed style: `api_key` → `API_KEY`.
    pub fn label(&self) -> String {
        self.words.join("_").to_uppercase()
    }

    /// Whether `key_words` (from [`key_words`]) name this secret.
    pub fn matches(&self, key: &[String]) -> bool {
        // Strip trailing qualifiers, then the rule must end the key.
        let mut end = key.len();
        while end > 0 && QUALIFIERS.contains(&key[end - 1].as_str()) {
            end -= 1;
        }
        let key = &key[..end];
        if key.len() >= self.words.len() && key[key.len() - self.words.len()..] == self.words[..] {
            return true;
        }
        // One-word spellings: `apikey`, `xapikey`, `dbpassword`.
        match key.last() {
            Some(last) if self.joined.len() >= 5 => last.ends_with(&self.joined),
            Some(last) => *last == self.joined,
            None => false,
        }
    }
}

/// The default sensitive keys. `session_id` is deliberately absent: a session id groups a
/// conversation for analytics (Langfuse sessions, Braintrust threads); it grants no access.
pub const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "secret",
    "secrets",
    "secret_key",
    "token",
    "api_key",
    "api_keys",
    "access_key",
    "private_key",
    "signing_key",
    "encryption_key",
    "master_key",
    "authorization",
    "auth",
    "bearer",
    "credential",
    "credentials",
    "cookie",
    "cookies",
    "ssn",
    "credit_card",
    "card_number",
    "cvv",
    "cvc",
    "jwt",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sensitive(key: &str) -> bool {
        let words = key_words(key);
        DEFAULT_SENSITIVE_KEYS
            .iter()
            .filter_map(|r| KeyRule::new(r))
            .any(|r| r.matches(&words))
    }

    #[test]
    fn splits_on_separators_case_and_digits() {
        assert_eq!(key_words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(key_words("apiKey"), ["api", "key"]);
        assert_eq!(key_words("API_KEY"), ["api", "key"]);
        assert_eq!(
            key_words("XMLHttpAPIKey2"),
            ["xml", "http", "api", "key", "2"]
        );
        assert_eq!(
            key_words("gen_ai.usage.input_tokens"),
            ["gen", "ai", "usage", "input", "tokens"]
        );
        assert_eq!(key_words("  "), Vec::<String>::new());
    }

    #[test]
    fn the_issue_list_matches() {
        for key in [
            "apiKey",
            "API-KEY",
            "api_key",
            "x-api-key",
            "authToken",
            "client_secret",
            "db_password",
            "password",
            "Token",
            "SECRET",
            "AUTHORIZATION",
            "access_token",
            "refresh_token",
            "id_token",
            "apikey",
            "xapikey",
            "Authorization",
            "set-cookie",
            "Cookie",
            "ssn",
            "creditCard",
            "card_number",
            "cvv",
            "jwt",
            "private_key",
            "privateKey",
            "credentials",
            "bearer",
            "password_hash",
            "stripeSecretKey",
            "aws_secret_access_key",
            "dbpassword",
            "passwd",
        ] {
            assert!(sensitive(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn usage_parameter_and_innocent_keys_never_match() {
        for key in [
            "prompt_tokens",
            "input_tokens",
            "output_tokens",
            "max_tokens",
            "completion_tokens",
            "total_tokens",
            "promptTokens",
            "gen_ai.usage.input_tokens",
            "llm.token_count.prompt",
            "gen_ai.token.type",
            "keyword",
            "tokenizer",
            "keystone",
            "monkey",
            "sessionId",
            "session_id",
            "agentId",
            "model",
            "temperature",
            "Content-Type",
            "secret_name",
            "access_key_id",
            "oauth_provider",
            "author",
            "authority",
            "cookie_consent_given_at",
        ] {
            assert!(!sensitive(key), "{key} should not be sensitive");
        }
    }

    #[test]
    fn mastra_misses_are_caught() {
        // Mastra normalizes (lowercase, strip non-alphanumerics) then compares exactly against its 15
        // names, so these compounds slip through there.
        for key in [
            "authToken",
            "x-api-key",
            "db_password",
            "client_secret",
            "stripeSecretKey",
        ] {
            assert!(sensitive(key), "{key}");
        }
    }
}
