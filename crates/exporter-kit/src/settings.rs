//! Validation of the settings every HTTP exporter takes, from code or from the environment, at build
//! time: an invalid one is an error naming the setting the user set, never a batch that fails later.

use std::time::Duration;

use aitrace_core::ConfigError;

/// Checks that `url` is an absolute `http(s)` URL with a host (`http://bad host` is not).
pub fn validate_http_url(setting: &str, url: &str) -> Result<(), ConfigError> {
    let bad =
        |why: &str| ConfigError::new(setting, format!("{url:?} is not an http(s) URL: {why}"));
    let trimmed = url.trim();
    if !trimmed.contains("://") && !trimmed.is_empty() && !trimmed.starts_with('/') {
        // `localhost:4318` parses as scheme `localhost`: say what was meant.
        let scheme = if trimmed.starts_with("localhost") || trimmed.starts_with("127.") {
            "http"
        } else {
            "https"
        };
        return Err(bad(&format!(
            "it has no scheme; did you mean \"{scheme}://{trimmed}\"?"
        )));
    }
    let authority = url.trim().split_once("://").map_or("", |(_, rest)| rest);
    if authority.is_empty() || authority.starts_with('/') {
        return Err(bad("it has no host"));
    }
    let parsed = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.trim().chars().any(char::is_whitespace) {
        return Err(bad("it contains whitespace"));
    }
    Ok(())
}

/// A timeout in milliseconds (the OTLP variables' unit); zero is refused (every request would fail).
pub fn parse_timeout_ms(setting: &str, value: &str) -> Result<Duration, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError::new(
            setting,
            format!("expected a positive number of milliseconds, got {value:?}"),
        )),
    }
}

/// Checks a request header given in code or by a variable.
pub fn validate_header(setting: &str, name: &str, value: &str) -> Result<(), ConfigError> {
    http::header::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| ConfigError::new(setting, format!("{name:?} is not a valid header name")))?;
    http::header::HeaderValue::from_str(value.trim()).map_err(|_| {
        ConfigError::new(
            setting,
            format!("the value of header {name:?} is not a valid header value"),
        )
    })?;
    Ok(())
}

/// Parses a W3C-baggage-style list (`key1=value1,key2=value2`, values percent-encoded), the format of
/// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`. Every entry must have a key and `=`.
pub fn parse_key_values(setting: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((k, v)) = entry.split_once('=') else {
            return Err(ConfigError::new(
                setting,
                format!("{entry:?} is not a key=value pair"),
            ));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(ConfigError::new(setting, format!("{entry:?} has no key")));
        }
        let v = percent_decode(v.trim()).ok_or_else(|| {
            ConfigError::new(
                setting,
                format!("{entry:?}: the value is not valid percent-encoded UTF-8"),
            )
        })?;
        out.push((k.to_string(), v));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The first of `names` that is set (and not blank), with its value: the signal-specific variable
/// (`OTEL_EXPORTER_OTLP_TRACES_*`) before the general one, so an error names the one the user set.
pub fn first_set(
    names: &[&'static str],
    get: impl Fn(&str) -> Option<String>,
) -> Option<(&'static str, String)> {
    names
        .iter()
        .find_map(|n| get(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_timeouts_and_lists_are_checked_strictly() {
        for good in [
            "http://localhost:4318/v1/traces",
            "https://api.braintrust.dev",
            "http://[::1]:3000",
        ] {
            validate_http_url("x", good).unwrap();
        }
        for bad in [
            "http://bad host",
            "localhost:4318",
            "ftp://x",
            "http://",
            "https:///path",
            "",
        ] {
            let e = validate_http_url("THE_VAR", bad).expect_err(bad);
            assert_eq!(e.setting, "THE_VAR", "{bad}");
        }
        // A missing scheme names the URL that was meant.
        let e = validate_http_url("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318").unwrap_err();
        assert!(e.to_string().contains("\"http://localhost:4318\""), "{e}");
        let e = validate_http_url("x", "cloud.langfuse.com").unwrap_err();
        assert!(
            e.to_string().contains("\"https://cloud.langfuse.com\""),
            "{e}"
        );
        assert_eq!(
            parse_timeout_ms("T", "2500").unwrap(),
            Duration::from_millis(2500)
        );
        for bad in ["soon", "0", "-1", "1.5"] {
            assert_eq!(parse_timeout_ms("T", bad).unwrap_err().setting, "T");
        }
        assert_eq!(
            parse_key_values("H", "a=1, b = x%20y ,").unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
        for bad in ["novalue", "=x", "a=%zz"] {
            assert_eq!(
                parse_key_values("H", bad).unwrap_err().setting,
                "H",
                "{bad}"
            );
        }
        validate_header("H", "x-api-key", "abc").unwrap();
        assert!(validate_header("H", "bad name", "v").is_err());
        assert!(validate_header("H", "k", "line\nbreak").is_err());
    }
}
