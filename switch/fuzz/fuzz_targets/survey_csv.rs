//! 様式I as CSV (UTF-8 with or without BOM, or Shift_JIS): any bytes are read and validated
//! without a panic, with and without the uploader's municipality.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switch::forms::{read_survey_csv, FormHeader};

fuzz_target!(|data: &[u8]| {
    let _ = read_survey_csv(data, None);
    let kawasaki = FormHeader { municipality_name: "川崎市".into(), municipality_code: "141305".parse().expect("川崎市の団体コード") };
    let _ = read_survey_csv(data, Some(&kawasaki));
});
