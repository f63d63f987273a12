//! Sportello: the online citizen-services desk of Italian municipalities.
//!
//! The library holds everything; the `sportello` binary is a thin CLI over it. See
//! docs/architecture.md for the map of modules.

pub mod auth;
pub mod backoffice;
pub mod bundle;
pub mod catalog;
pub mod citizens;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod instances;
pub mod notify;
pub mod org;
pub mod protocol;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod text;
