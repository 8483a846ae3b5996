//! Human durations on the command line: `500ms`, `10s`, `2m`, `1h`, and sums like `1m30s`.

use std::time::Duration;

/// A duration argument that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (examples: 500ms, 10s, 2m, 1m30s)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a sequence of `<integer><unit>` parts with units `ms`, `s`, `m`, `h`.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError { input: input.to_owned(), reason };
    let text = input.trim();
    if text.is_empty() {
        return Err(fail("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(fail("expected a number"));
        }
        let value: u64 = rest[..digits_end].parse().map_err(|_| fail("number too large"))?;
        rest = &rest[digits_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_end] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(|| fail("too long"))?),
            "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(|| fail("too long"))?),
            "" => return Err(fail("missing unit")),
            _ => return Err(fail("unknown unit")),
        };
        rest = &rest[unit_end..];
        total = total.checked_add(part).ok_or_else(|| fail("too long"))?;
    }
    Ok(total)
}
