//! Merge files (合算, F39): any bytes are decrypted with a street's key (v1 AES-CBC or v2
//! AES-GCM, told apart by the magic) and any decrypted text is read line by line with its
//! hashes checked, without a panic. The input's first byte chooses which: most random
//! ciphertext fails its padding or tag, so the line reader gets inputs of its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switch::merge::file::{open, read_plain, Version};

const KEY: [u8; 16] = *b"0123456789abcdef";
const SECRET: &str = "fuzz-street-secret";

fuzz_target!(|input: &[u8]| {
    let Some((&choice, data)) = input.split_first() else { return };
    match choice % 3 {
        0 => {
            if let Ok((version, plain)) = open(&KEY, data) {
                let _ = read_plain(SECRET, &plain, version);
            }
        }
        1 => {
            let _ = read_plain(SECRET, data, Version::V1);
        }
        _ => {
            let _ = read_plain(SECRET, data, Version::V2);
        }
    }
});
