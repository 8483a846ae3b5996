//! 様式I as .xlsx: any bytes (a ZIP archive or not) are refused or read without a panic, and
//! the upload path's format detection agrees (a ZIP is always read as xlsx).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switch::forms::{detect_format, read_survey, read_survey_xlsx, SurveyFormat};

fuzz_target!(|data: &[u8]| {
    let _ = read_survey_xlsx(data, None);
    if data.starts_with(b"PK\x03\x04") {
        assert_eq!(detect_format(data, None).ok(), Some(SurveyFormat::Xlsx));
    }
    let _ = read_survey(data, Some("様式I.xlsx"), None);
});
