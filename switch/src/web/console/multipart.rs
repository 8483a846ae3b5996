//! The body of the console's one upload form (様式I), `multipart/form-data` (RFC 7578), read
//! whole within a bound and split into its parts. A browser sends each field as a part with a
//! `Content-Disposition: form-data; name="…"` header (and `filename="…"` for a file); nothing
//! else of the format is needed here.

/// One part of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: &'a [u8],
}

/// Why a body is not a form this console sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The boundary a `multipart/form-data` content type names.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty() && v.len() <= 70).then(|| v.to_owned())
    })
}

/// The parts of `body`, split at `--boundary` lines.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, Malformed> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = body;
    // The preamble, up to the first delimiter.
    let start = find(rest, delimiter).ok_or(Malformed)?;
    rest = &rest[start + delimiter.len()..];
    let mut out = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(out); // the close delimiter
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(Malformed)?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(Malformed)?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| Malformed)?;
        rest = &rest[head_end + 4..];
        let mut next = Vec::with_capacity(delimiter.len() + 2);
        next.extend_from_slice(b"\r\n");
        next.extend_from_slice(delimiter);
        let end = find(rest, &next).ok_or(Malformed)?;
        let body = &rest[..end];
        rest = &rest[end + next.len()..];
        let mut part = Part { name: String::new(), filename: None, content_type: None, body };
        for line in head.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else { continue };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                for param in value.split(';').skip(1) {
                    if let Some((k, v)) = param.trim().split_once('=') {
                        let v = v.trim().trim_matches('"').to_owned();
                        match k.trim() {
                            "name" => part.name = v,
                            "filename" => part.filename = Some(v),
                            _ => {}
                        }
                    }
                }
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_owned());
            }
        }
        out.push(part);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browsers_upload_splits_into_its_fields() {
        let ct = "multipart/form-data; boundary=----WebKitFormBoundaryAbC";
        let b = boundary(ct).unwrap();
        let body = b"------WebKitFormBoundaryAbC\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
------WebKitFormBoundaryAbC\r\nContent-Disposition: form-data; name=\"survey\"; filename=\"form1.csv\"\r\n\
Content-Type: text/csv\r\n\r\na,b\r\n1,2\r\n------WebKitFormBoundaryAbC--\r\n";
        let parts = parts(body, &b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].body), ("csrf", &b"abc"[..]));
        assert_eq!(parts[1].filename.as_deref(), Some("form1.csv"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/csv"));
        assert_eq!(parts[1].body, b"a,b\r\n1,2");
    }

    #[test]
    fn anything_else_is_malformed_not_a_panic() {
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(parts(b"", "x"), Err(Malformed));
        assert_eq!(parts(b"--x\r\nno head end", "x"), Err(Malformed));
        assert_eq!(parts(b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated", "x"), Err(Malformed));
        assert_eq!(parts(b"--x--", "x"), Ok(vec![]));
    }
}
