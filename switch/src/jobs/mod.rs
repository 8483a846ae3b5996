//! Background jobs of a running switch. Each is idempotent: it may run twice, or stop half-way
//! (crash, restart) and run again, and the journal's keys keep every movement single.

pub mod backoff;
pub mod point_expiry;
pub mod reserve_sweep;
pub mod ticket_expiry;
pub mod wakeup;
