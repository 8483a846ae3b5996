//! The tables of `SPEC.md` §3 (message types, type families) and §6 (error codes), compared
//! with `MessageType` and `ErrorCode`, so that the document and the code cannot drift apart.

use std::collections::BTreeMap;

use protocol::{
    ErrorCode, MessageType, PROTOCOL_VERSION_1, PROTOCOL_VERSION_2, PROTOCOL_VERSION_3, PROTOCOL_VERSION_4,
    SUPPORTED_VERSIONS,
};

const SPEC: &str = include_str!("../SPEC.md");

/// The cells of every Markdown table row in SPEC.md (header and separator rows included).
fn table_rows() -> Vec<Vec<String>> {
    SPEC.lines()
        .map(str::trim)
        .filter(|line| line.starts_with('|') && line.ends_with('|') && line.len() > 1)
        .map(|line| line[1..line.len() - 1].split('|').map(|cell| cell.trim().trim_matches('`').to_owned()).collect())
        .collect()
}

fn parse_hex_u16(text: &str) -> Option<u16> {
    let digits = text.strip_prefix("0x")?;
    if digits.len() != 4 {
        return None;
    }
    u16::from_str_radix(digits, 16).ok()
}

fn yes_no(cell: &str) -> bool {
    match cell {
        "yes" => true,
        "no" => false,
        other => panic!("SPEC.md §6: expected yes or no, found {other:?}"),
    }
}

#[test]
fn error_code_table_lists_every_code_with_its_name_and_behaviour() {
    // Rows whose first cell is a 3-digit number are the §6 table.
    let rows: BTreeMap<u16, Vec<String>> = table_rows()
        .into_iter()
        .filter(|cells| cells[0].len() == 3 && cells[0].bytes().all(|b| b.is_ascii_digit()))
        .map(|cells| (cells[0].parse().unwrap(), cells))
        .collect();
    let numbers: Vec<u16> = rows.keys().copied().collect();
    let in_code: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.as_u16()).collect();
    assert_eq!(numbers, in_code, "SPEC.md §6 must list exactly the codes of ErrorCode::ALL");

    for code in ErrorCode::ALL {
        let cells = &rows[&code.as_u16()];
        assert_eq!(cells.len(), 6, "SPEC.md §6 row {code}: code | name | meaning | retryable | closes | display");
        assert_eq!(cells[1], code.name(), "SPEC.md §6 row {}: name", code.as_u16());
        assert!(!cells[2].is_empty(), "SPEC.md §6 row {code}: meaning is empty");
        assert_eq!(yes_no(&cells[3]), code.is_retryable(), "SPEC.md §6 row {code}: retryable");
        assert_eq!(yes_no(&cells[4]), code.closes_connection(), "SPEC.md §6 row {code}: closes");
        assert_eq!(cells[5], code.meaning_ja(), "SPEC.md §6 row {code}: display text");
    }
}

#[test]
fn message_type_table_matches_message_type() {
    // Rows whose first cell is one `0xNNNN` value are the §3.1 table:
    // type | message | direction | since | section.
    let rows: Vec<(u16, Vec<String>)> =
        table_rows().into_iter().filter_map(|cells| Some((parse_hex_u16(&cells[0])?, cells))).collect();
    assert_eq!(rows.len(), MessageType::ALL.len(), "SPEC.md §3.1 lists the 27 message types of v1, v2 and v3");
    for (value, cells) in &rows {
        let name = &cells[1];
        let t = MessageType::from_u16(*value).unwrap_or_else(|| panic!("SPEC.md §3.1: 0x{value:04X} is not a type"));
        assert_eq!(&format!("{t:?}"), name, "SPEC.md §3.1: name of 0x{value:04X}");
        assert_eq!(cells[3], t.since().to_string(), "SPEC.md §3.1: the version that defines {t:?}");
        if *value != MessageType::Error.as_u16() && MessageType::is_response(*value) {
            let request = MessageType::from_u16(value & 0x7FFF).expect("every response has a request");
            assert_eq!(format!("{request:?}Ok"), *name, "a response is its request | 0x8000");
            assert_eq!(request.since(), t.since(), "a response is defined with its request");
        }
    }
    for value in 0..=u16::MAX {
        if let Some(t) = MessageType::from_u16(value) {
            assert!(rows.iter().any(|(v, _)| *v == value), "SPEC.md §3.1 lacks {t:?} (0x{value:04X})");
        }
    }
}

#[test]
fn type_space_table_matches_message_type_family() {
    // Rows whose first cell is `0xNNNN–0xNNNN` are the §3.2 table; they must tile 0x0000–0x7FFF.
    let mut ranges: Vec<(u16, u16, String)> = table_rows()
        .into_iter()
        .filter_map(|cells| {
            let (lo, hi) = cells[0].split_once('–')?;
            Some((parse_hex_u16(lo)?, parse_hex_u16(hi)?, cells[1].clone()))
        })
        .collect();
    ranges.sort();
    assert!(!ranges.is_empty(), "SPEC.md §3.2 has no range rows");
    let mut next = 0u32;
    for (lo, hi, family) in &ranges {
        assert_eq!(u32::from(*lo), next, "SPEC.md §3.2 ranges must be contiguous from 0x0000");
        assert!(lo <= hi);
        for value in *lo..=*hi {
            assert_eq!(MessageType::family(value), family, "family of 0x{value:04X}");
            assert_eq!(MessageType::family(value | 0x8000), family, "family of response 0x{:04X}", value | 0x8000);
        }
        next = u32::from(*hi) + 1;
    }
    assert_eq!(next, 0x8000, "SPEC.md §3.2 ranges must end at 0x7FFF");
}

/// The low 15 bits each version defines (SPEC.md §3.2), besides 0xFFFF.
fn defined_in(version: u8, low: u16) -> bool {
    match version {
        PROTOCOL_VERSION_1 => (0x0001..=0x0005).contains(&low),
        PROTOCOL_VERSION_2 => (0x0001..=0x0007).contains(&low) || (0x0020..=0x0021).contains(&low),
        PROTOCOL_VERSION_3 => defined_in(PROTOCOL_VERSION_2, low) || (0x0010..=0x0013).contains(&low),
        // Version 4 changes the Error body and adds a code, no type.
        PROTOCOL_VERSION_4 => defined_in(PROTOCOL_VERSION_3, low),
        _ => false,
    }
}

#[test]
fn each_version_defines_exactly_its_types_and_no_reserved_one() {
    for version in 0..=u8::MAX {
        for value in 0..=u16::MAX {
            let expected =
                SUPPORTED_VERSIONS.contains(&version) && (value == 0xFFFF || defined_in(version, value & 0x7FFF));
            let defined = MessageType::from_u16_in(value, version).is_some();
            assert_eq!(defined, expected, "version {version}, type 0x{value:04X}");
        }
    }
}

#[test]
fn the_v1_types_are_unchanged_in_v2() {
    for t in MessageType::ALL.into_iter().filter(|t| t.since() == PROTOCOL_VERSION_1) {
        assert_eq!(MessageType::from_u16_in(t.as_u16(), PROTOCOL_VERSION_2), Some(t));
    }
}

#[test]
fn the_v1_and_v2_types_are_unchanged_in_v3() {
    for t in MessageType::ALL.into_iter().filter(|t| t.since() <= PROTOCOL_VERSION_2) {
        assert_eq!(MessageType::from_u16_in(t.as_u16(), PROTOCOL_VERSION_3), Some(t));
    }
}
