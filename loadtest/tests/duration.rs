//! The `--duration` / `--timeout` parser.

use std::time::Duration;

use loadtest::parse_duration;

#[test]
fn accepts_units_and_sums() {
    let cases = [
        ("10s", Duration::from_secs(10)),
        ("500ms", Duration::from_millis(500)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("1m30s", Duration::from_secs(90)),
        ("0s", Duration::ZERO),
        (" 3s ", Duration::from_secs(3)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), Ok(want), "{text}");
    }
}

#[test]
fn refuses_malformed_input_with_a_reason() {
    for (text, reason) in [
        ("", "empty"),
        ("10", "missing unit"),
        ("s", "expected a number"),
        ("10x", "unknown unit"),
        ("1.5s", "unknown unit"),
        ("-1s", "expected a number"),
        ("99999999999999999999s", "number too large"),
        ("9999999999999999999h", "too long"),
    ] {
        let err = parse_duration(text).unwrap_err();
        assert_eq!(err.reason, reason, "{text}");
        assert!(err.to_string().contains("examples"), "{err}");
    }
}
