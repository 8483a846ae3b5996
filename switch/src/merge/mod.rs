//! Merging municipal points into a shopping street's own points (合算, F36–F39, manual §III).
//!
//! - [`file`]: the merge file of F39 (the manual's AES-128/MD5 v1 and an AES-GCM v2), made and
//!   read back; its layout and test vectors are in `MERGE_FILE.md`.
//! - [`street`]: the shopping streets this switch takes files from (`merge.streets_file`).
//! - [`apply`]: a street's file checked whole, then each line through the citizen's wallet once
//!   (journal key `G<street>:<取引済番号>`).
//! - [`cli`]: `switch merge-file make|decrypt|verify`, the street's side for testing without the cloud.

pub mod apply;
pub mod cli;
pub mod file;
pub mod street;
