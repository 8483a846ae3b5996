//! Just enough of the Prometheus text exposition format to read back the switch's own
//! `GET /metrics` text: one [`Sample`] per metric line; comments, blank lines and lines that do
//! not parse are skipped (the dashboard shows what it can read rather than nothing).

/// One metric line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of a label, if the line has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Every metric line of an exposition, in order.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

/// One line, or `None` for a comment, a blank line or a line that does not parse.
pub fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(after_brace)?;
        labels = parsed;
        rest = after;
    }
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(Sample { name: name.to_string(), labels, value })
}

/// Labels after the opening brace; returns them and the text after the closing brace.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.push((key, value));
        s = &s[end + 1..];
    }
}

/// A sample value, including the format's `+Inf`, `-Inf` and `NaN`.
pub fn parse_value(token: &str) -> Option<f64> {
    match token {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        t => t.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_and_without_labels() {
        let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{type=\"redeem\",result=\"ok\"} 12\n\nup 1 1712345678000\ng -3.5\nh_bucket{le=\"+Inf\"} 7\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].name, "x_total");
        assert_eq!(samples[0].label("type"), Some("redeem"));
        assert_eq!(samples[0].label("result"), Some("ok"));
        assert_eq!(samples[0].value, 12.0);
        assert_eq!((samples[1].name.as_str(), samples[1].value), ("up", 1.0));
        assert_eq!(samples[2].value, -3.5);
        assert_eq!(samples[3].label("le"), Some("+Inf"));
        assert_eq!(samples[3].value, 7.0);
    }

    #[test]
    fn escaped_label_values_and_junk() {
        let s = parse_line(r#"m{a="x\"y\\z",b="line\nnext", c = "}"} NaN"#).unwrap();
        assert_eq!(s.label("a"), Some("x\"y\\z"));
        assert_eq!(s.label("b"), Some("line\nnext"));
        assert_eq!(s.label("c"), Some("}"));
        assert!(s.value.is_nan());
        assert_eq!(parse_line("m{a=\"unterminated} 1"), None);
        assert_eq!(parse_line("m{a=\"x\"} not-a-number"), None);
        assert_eq!(parse_line("only_a_name"), None);
        assert_eq!(parse_value("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_value("1e-4"), Some(0.0001));
    }
}
