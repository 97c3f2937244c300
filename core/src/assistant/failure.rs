//! Every way a call to Gemini can fail, each with a sentence for the person who asked and a
//! metric label (`hostdeck_gemini_failures_total{kind}`).

use std::time::Duration;

/// Why the model gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeminiError {
    /// `promptFeedback.blockReason`: the question itself was refused.
    #[error("the prompt was blocked ({0})")]
    Blocked(String),
    /// `finishReason` SAFETY, BLOCKLIST, PROHIBITED_CONTENT or SPII.
    #[error("the answer was stopped by a safety filter ({0})")]
    Safety(String),
    /// `finishReason` RECITATION.
    #[error("the answer was stopped for reciting a source")]
    Recitation,
    /// No candidate, no content or only empty parts (`finishReason` OTHER and the like).
    #[error("the model answered with no content ({0})")]
    NoContent(String),
    /// `finishReason` MAX_TOKENS: the budget ran out (often on thinking) before the answer.
    #[error("the answer ran out of tokens")]
    MaxTokens,
    /// 404: the configured model is unknown or retired.
    #[error("the model is not found: {0}")]
    UnknownModel(String),
    /// 400 API_KEY_INVALID, 401 or 403: the key is wrong or the API is not enabled.
    #[error("the API key was refused: {0}")]
    BadKey(String),
    /// 429, after the retries the time allowed.
    #[error("rate limited by Gemini")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, after the retries the time allowed.
    #[error("Gemini is unavailable (HTTP {0})")]
    Unavailable(u16),
    /// Another 4xx: a request Gemini does not accept.
    #[error("Gemini refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    /// No answer within the time allowed.
    #[error("Gemini did not answer in time")]
    Timeout,
    /// No connection at all.
    #[error("Gemini cannot be reached: {0}")]
    Unreachable(String),
    /// An answer that is not the JSON it should be (the envelope or the structured answer).
    #[error("Gemini's answer could not be read: {0}")]
    Malformed(String),
}

impl GeminiError {
    /// The metric label, one word per kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Blocked(_) => "blocked",
            Self::Safety(_) => "safety",
            Self::Recitation => "recitation",
            Self::NoContent(_) => "no_content",
            Self::MaxTokens => "max_tokens",
            Self::UnknownModel(_) => "unknown_model",
            Self::BadKey(_) => "bad_key",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Refused { .. } => "refused",
            Self::Timeout => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Malformed(_) => "malformed",
        }
    }

    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unavailable(_) | Self::Timeout | Self::Unreachable(_)
        )
    }

    /// What the person who asked is told; never the key, the model's text or Google's message.
    pub fn for_person(&self) -> &'static str {
        match self {
            Self::Blocked(_) | Self::Safety(_) => {
                "I can't answer that question as it is written. Try rephrasing it, or open a \
                 ticket and a person will help."
            }
            Self::Recitation | Self::NoContent(_) | Self::MaxTokens | Self::Malformed(_) => {
                "I couldn't put an answer together this time. Try asking again in other words, \
                 or open a ticket."
            }
            Self::RateLimited { .. } => {
                "The assistant is busy right now. Try again in a minute, or open a ticket."
            }
            Self::Unavailable(_) | Self::Timeout | Self::Unreachable(_) => {
                "The assistant is unavailable right now. Try again in a few minutes, or open a \
                 ticket."
            }
            Self::UnknownModel(_) | Self::BadKey(_) | Self::Refused { .. } => {
                "The assistant is not set up correctly; the team has been told. Meanwhile, open \
                 a ticket and a person will help."
            }
        }
    }

    /// Counts this failure.
    pub fn count(&self) {
        metrics::counter!("hostdeck_gemini_failures_total", "kind" => self.kind()).increment(1);
    }
}

/// A `google.rpc.Status` duration such as `"15s"` or `"0.5s"`.
pub fn parse_retry_delay(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_read_as_google_writes_them() {
        assert_eq!(parse_retry_delay("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_retry_delay("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_delay("soon"), None);
        assert_eq!(parse_retry_delay("-1s"), None);
    }
}
