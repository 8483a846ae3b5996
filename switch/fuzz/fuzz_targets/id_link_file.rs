//! ID-link request files as the worker reads them: the streaming UTF-8 check (fed in the
//! chunks the input's first byte chooses), the bounded line reader, each line decoded in the
//! detected encoding and parsed. No panic; the streaming check agrees with checking the whole
//! file at once; no line is longer than the reader's bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switch::id_link::encoding::Utf8Check;
use switch::id_link::lines::{LineReader, LINE_MAX_BYTES};
use switch::id_link::request::parse_line;

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, data)) = input.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut check = Utf8Check::default();
    for piece in data.chunks(chunk) {
        check.feed(piece);
    }
    assert_eq!(check.is_valid(), std::str::from_utf8(data).is_ok(), "streaming UTF-8 check disagrees");
    let encoding = check.detected();
    let mut reader = LineReader::new(std::io::BufReader::with_capacity(chunk, data));
    let mut line = Vec::new();
    let mut first = true;
    while let Some(read) = reader.next_line(&mut line).expect("reading from memory") {
        assert!(line.len() <= LINE_MAX_BYTES);
        if let Some(text) = encoding.decode_line(&line, first) {
            if !read.too_long {
                let _ = parse_line(&text, first);
            }
        }
        first = false;
    }
});
