//! ID-link exchange files (ID連携, F84, F85): a partner uploads a file of requests — its
//! customer id (a service ID the citizen linked), points, optionally a municipality or event
//! code — and the switch credits each line through the citizen's wallet, writing one result
//! row per line to a result file the partner downloads. Layout and codes: `ID_LINK_FILES.md`
//! beside the HTTP handlers (`switch/src/api/partners/`).
//!
//! - [`encoding`]: which text encoding a file is in (UTF-8 checked while it streams in, or
//!   Shift_JIS), and decoding one line;
//! - [`lines`]: reading a file line by line with a bounded line length;
//! - [`request`]: one line → a request or the reason it is not one (pure);
//! - [`results`]: the result file's rows, its writer with checkpoints, and its conversion for
//!   download;
//! - [`spool`]: where uploads and results are kept;
//! - [`process`]: one upload from its checkpoint to the end, exactly once per line;
//! - [`worker`]: the thread that processes unfinished uploads, at start and when woken.
//!
//! Exactly once: every line is credited with the journal idempotency key `B<upload>:<line>`.
//! Results are appended in line order and checkpointed (fsync, then the store records lines
//! done and the result file's length); after a crash the result file is cut back to the
//! checkpoint and processing resumes there. Lines that were applied after the checkpoint meet
//! their key in the journal and are answered from the stored entry, so they come out OK again
//! with the same 取引済番号 and nothing is credited twice.

pub mod encoding;
pub mod lines;
pub mod process;
pub mod request;
pub mod results;
pub mod spool;
pub mod worker;

pub use process::IdLinkDeps;
pub use spool::Spool;
