//! Pure domain types and rules: no I/O, testable without a database or HTTP. Types that must
//! be valid have private fields and a `parse` constructor.

pub mod calendar;
pub mod codice_fiscale;
pub mod email;
pub mod ente_code;
pub mod field_error;
pub mod instance_status;
pub mod protocol_number;
pub mod rating;
pub mod terms;

pub use field_error::FieldError;
pub use instance_status::{Actor, Facts, InstanceStatus, NotAllowed, Outcome, Transition};
