//! One invalid field of what a person sent: where (a JSON Pointer) and what is wrong, in
//! Italian. Capabilities report validation failures as a list of these; the HTTP edge puts
//! them in the `errors` member of a `validation` problem.

use serde::Serialize;

/// One invalid field: where it is (JSON Pointer, RFC 6901) and what is wrong, in Italian.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}
