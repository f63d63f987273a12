//! Black-box API tests: the real app on a random port, a fresh database per test, on the
//! backend chosen by SPORTELLO_TEST_DATABASE (see helpers.rs).

mod annulment;
mod attachments;
mod audit;
mod auth;
mod backoffice;
mod booking;
mod bundle;
mod catalog;
mod cie_forged;
mod cie_login;
mod cli;
mod config;
mod crash;
mod daily_register;
mod export;
mod external_pec;
mod external_protocol;
mod foia;
mod health;
mod helpers;
mod http;
mod instances;
mod mail;
mod metrics;
mod personal_data;
mod procedures;
mod protocol;
mod review;
mod segnatura;
mod spid_certificate;
mod spid_login;
mod spid_metadata;
mod staff_sso;
mod tokens;
mod transparency;
