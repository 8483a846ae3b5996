//! Domain and actors of the municipal point switch.
pub mod demo;
