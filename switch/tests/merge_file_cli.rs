//! `switch merge-file make|decrypt|verify` as a shopping street runs it (issue 13, F39): a file
//! made, verified and decrypted; a tampered, cut-off or wrongly keyed file refused with exit 1
//! and the reason; bad input lines named with nothing written.

use std::path::Path;
use std::process::{Command, Output};

const KEY: &str = "000102030405060708090a0b0c0d0e0f";
const SECRET: &str = "KAWASAKI-SHOTENGAI-2026";

fn merge_file(args: &[&str], key: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switch"))
        .arg("merge-file")
        .args(args)
        .env("SWITCH_MERGE_KEY", key)
        .env("SWITCH_MERGE_SECRET", SECRET)
        .output()
        .expect("switch runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_street_makes_verifies_and_decrypts_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("merges.csv");
    std::fs::write(&input, "SG0000012345,300,20261203101500000001\r\nMY123456,1500,20261203101501000002\r\n").unwrap();
    for version in ["1", "2"] {
        let sealed = dir.path().join(format!("merge-v{version}.bin"));
        let made = merge_file(&["make", "--version", version, path(&input), "--out", path(&sealed)], KEY);
        assert_eq!(made.status.code(), Some(0), "{}", text(&made.stderr));
        assert!(text(&made.stderr).contains("2 merges sealed"));

        let verified = merge_file(&["verify", path(&sealed)], KEY);
        assert_eq!(verified.status.code(), Some(0), "{}", text(&verified.stdout));
        assert!(text(&verified.stdout).contains(&format!("v{version} file, 2 lines, 0 bad; 1800 points")));

        let plain = merge_file(&["decrypt", path(&sealed)], KEY);
        assert_eq!(plain.status.code(), Some(0));
        assert_eq!(
            text(&plain.stdout),
            "SG0000012345,300,20261203101500000001,ad7e9700dc36cb231271cf7a0078ebc6\r\n\
             MY123456,1500,20261203101501000002,ecd77c40bbc088116a0237215f478946\r\n",
            "the hashes are MERGE_FILE.md's vectors"
        );

        // Another street's key: the whole file refused, exit 1, the reason named.
        let wrong = merge_file(&["verify", path(&sealed)], "ffeeddccbbaa99887766554433221100");
        assert_eq!(wrong.status.code(), Some(1));
        assert!(text(&wrong.stdout).contains("file refused: merge-file-"), "{}", text(&wrong.stdout));

        // Cut off: refused whole.
        let bytes = std::fs::read(&sealed).unwrap();
        let cut = dir.path().join("cut.bin");
        std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
        let refused = merge_file(&["verify", path(&cut)], KEY);
        assert_eq!(refused.status.code(), Some(1));
        assert!(
            text(&refused.stdout).contains("merge-file-truncated")
                || text(&refused.stdout).contains("merge-file-not-authentic")
        );
    }
}

#[test]
fn a_changed_figure_is_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    // The v1 vector with IV byte 13 changed: line 1's 300 reads 900 (CBC passes it through).
    let mut v1 =
        hex("101112131415161718191a1b1c1d1e1fb144a9434745f15de640d316bf0d3eeaee129cef87bcabbb7b27e6122dcf7b3e\
        0f6ffb1e20f481544100cd4549ba6e1bf60ec3d4408d80c861c20e8b365d32f331197385934147f13083643b21bcb191\
        34063df0c839547ecc3faa4e663625a7488882c8ce2ba87ca0ee3ff5b6346b03ab832a930fced4c921e7347d4c03da09\
        fb706e4fa7e760a42a68d24abacf1b0b");
    v1[13] ^= b'3' ^ b'9';
    let file = dir.path().join("tampered.bin");
    std::fs::write(&file, v1).unwrap();
    let out = merge_file(&["verify", path(&file)], KEY);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("line 1: merge-line-tampered"), "{report}");
    assert!(report.contains("2 lines, 1 bad; 1500 points on the good lines"), "{report}");
}

#[test]
fn bad_input_lines_are_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("merges.csv");
    std::fs::write(
        &input,
        "SG1,300,20261203101500000001\nSG2,0,20261203101500000002\nSG3,5,2026\nSG4,5,20261203101500000001\n",
    )
    .unwrap();
    let sealed = dir.path().join("merge.bin");
    let out = merge_file(&["make", path(&input), "--out", path(&sealed)], KEY);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stderr);
    for expected in [
        "line 2: points",
        "line 3: transaction number",
        "line 4: transaction number 20261203101500000001 is also on line 1",
        "nothing written",
    ] {
        assert!(report.contains(expected), "{expected:?} in {report}");
    }
    assert!(!sealed.exists());
    // A key that is not 32 hex digits is a usage error (exit 2).
    assert_eq!(merge_file(&["make", path(&input)], "abc").status.code(), Some(2));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
