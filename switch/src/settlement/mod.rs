//! Settlement for the people who check it (精算金等のチェック, F71–F75): the reports 参考82, 参考84,
//! 参考86 and 参考88 built from the settlement windows and lines the store keeps as batches
//! commit, written as CSV or xlsx, and the books a period's close covers (`switch settle`,
//! the close endpoints). The rules themselves (books, periods, closing) are
//! `actors::settlement`; here are names, layouts and bytes.
//!
//! - [`range`]: the period a report covers, checked against today.
//! - [`report`]: a report's subject, summary (集計表) and detail rows (明細表).
//! - [`render`]: CSV (UTF-8 with BOM, Shift_JIS) and xlsx.
//! - [`closing`]: which books a close covers, and what it answers.

pub mod closing;
pub mod range;
pub mod render;
pub mod report;

pub use range::ReportRange;
pub use report::{Names, ReportKind, Subject, Summary};
