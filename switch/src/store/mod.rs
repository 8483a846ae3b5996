//! Storage engines behind `actors::store::Store`. The embedded SQLite store is the default.

pub mod sqlite;

pub use sqlite::SqliteStore;
