//! What the instances capability answers with: typed views of an instance, its history and
//! its receipt. They serialize to the API's JSON (and describe it in the OpenAPI document);
//! web pages, exports and the audit log read the same types.
//!
//! Views carry no route of their own: where a view links to something (a receipt, an
//! attachment's file), the link comes from the [`Links`] the caller gives, which the HTTP
//! edge implements with its routes.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::catalog::forms::StepStatus;
use crate::domain::protocol_number::ProtocolNumber;
use crate::domain::{FieldError, InstanceStatus, Outcome, Transition};

/// The addresses views link to; implemented by the HTTP edge with its routes.
pub trait Links: Send + Sync {
    /// The citizen's view of an instance (also the link in the e-mails, after the public URL).
    fn instance(&self, instance_id: &str) -> String;
    /// The receipt of a submitted instance.
    fn receipt(&self, instance_id: &str) -> String;
    /// The file of an attachment.
    fn attachment(&self, instance_id: &str, attachment_id: &str) -> String;
    /// The file of a document outside the submission (a reply, an integration's file).
    fn document(&self, instance_id: &str, document_id: &str) -> String;
}

/// An attachment of an instance (without its bytes).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentInfo {
    pub id: String,
    pub filename: String,
    pub description: Option<String>,
    /// The kind recognised from the content (e.g. `pdf`, `png`).
    pub kind: String,
    pub mime: String,
    pub size_bytes: i64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Where the citizen downloads the file.
    pub download_url: String,
}

/// The service an instance belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceRef {
    pub slug: String,
    pub title: String,
    /// The SPID/CIE level the service asks for (in the full view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_auth_level: Option<i32>,
}

/// One step of the form, with how far the citizen is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepView {
    pub id: String,
    pub title: String,
    pub help: Option<String>,
    /// The top-level properties of the schema filled in this step.
    pub properties: Vec<String>,
    pub status: StepStatus,
    pub errors: Vec<FieldError>,
}

/// The form of an instance, in the version it was started with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FormView {
    pub version: i32,
    pub title: String,
    /// The JSON Schema (2020-12) of the data.
    #[schema(value_type = Object)]
    pub schema: Value,
    pub steps: Vec<StepView>,
}

/// Where a submitted instance was registered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProtocolRef {
    /// The protocol number, seven digits.
    #[schema(value_type = String, example = "0000042")]
    pub number: ProtocolNumber,
    pub year: i32,
    /// Italian local time with its offset.
    #[schema(format = DateTime)]
    pub registered_at: String,
}

/// The office an instance was routed to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OfficeRef {
    pub code: String,
    pub name: String,
}

/// What a submitted instance has beyond a draft: protocol, office, digest, due date.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubmissionSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<ProtocolRef>,
    /// Set while the AOO's external protocol system has not yet given the number:
    /// "in attesa di protocollazione" (then `protocol` appears and this goes away).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "in attesa di protocollazione")]
    pub protocol_pending: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<OfficeRef>,
    #[schema(format = DateTime)]
    pub submitted_at: Option<String>,
    /// SHA-256 of the frozen primary document, lowercase hex.
    pub document_digest: Option<String>,
    /// The legal term of the procedure.
    pub due_date: Option<NaiveDate>,
}

/// One entry of an instance's history: what happened, when, and who did it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    #[schema(format = DateTime)]
    pub at: String,
    /// `citizen`, `system`, or the staff member.
    pub actor: String,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened to an instance, with its details. Stored as `kind` + `details` JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "event", content = "details", rename_all = "snake_case")]
pub enum Event {
    Created {
        service: String,
    },
    AttachmentAdded {
        attachment: String,
        filename: String,
        sha256: String,
    },
    AttachmentRemoved {
        attachment: String,
    },
    Submitted {
        document_digest: String,
    },
    Registered {
        protocol_number: String,
        year: i32,
        #[schema(format = DateTime)]
        registered_at: String,
    },
    /// The AOO's register is an external protocol system: the request for a number is queued
    /// (`system`: `rest` or `pec`); `registered` follows when the system answers — or, for a
    /// later act of the instance (`message`: the one it registers), `message_registered`.
    RegistrationRequested {
        system: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<i64>,
        /// Another later act (a FOIA act: `foia-counterparty:<n>`, `foia-counterparty-answer:<n>`,
        /// `foia-review`, `foia-review-decision`); `act_registered` follows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        act: Option<String>,
    },
    /// The external protocol system numbered a later act of the instance (the message).
    MessageRegistered {
        message: i64,
        protocol_number: String,
        year: i32,
        #[schema(format = DateTime)]
        registered_at: String,
    },
    /// The external protocol system numbered another later act of the instance (`act` as in
    /// `registration_requested`).
    ActRegistered {
        act: String,
        protocol_number: String,
        year: i32,
        #[schema(format = DateTime)]
        registered_at: String,
    },
    Routed {
        office: String,
        /// 1-based index of the routing rule that matched; none for the default office.
        rule: Option<usize>,
        reason: String,
    },
    NotificationsQueued {
        messages: Vec<String>,
    },
    /// An operator took the instance (the actor).
    Taken {},
    /// Assigned to a colleague (internal).
    Assigned {
        to: String,
    },
    /// Handed over to another office.
    HandedOver {
        from: String,
        to: String,
        reason: String,
    },
    /// An internal note (internal; the text is in the notes).
    NoteAdded {
        note: i64,
    },
    /// A message to the citizen (the text is in the messages).
    MessageSent {
        message: i64,
    },
    IntegrationRequested {
        /// None while an external register has not numbered it (`message_registered` follows).
        protocol_number: Option<String>,
        year: Option<i32>,
        days: i32,
        answer_by: NaiveDate,
    },
    IntegrationAnswered {
        /// None while an external register has not numbered it (`message_registered` follows).
        protocol_number: Option<String>,
        year: Option<i32>,
        document_digest: String,
        /// The new due date, the term running again.
        due_date: Option<NaiveDate>,
    },
    IntegrationExpired {
        answer_by: NaiveDate,
        due_date: Option<NaiveDate>,
    },
    Decided {
        outcome: Outcome,
        /// None while an external register has not numbered it (`message_registered` follows).
        protocol_number: Option<String>,
        year: Option<i32>,
    },
    Closed {
        automatic: bool,
    },
    Withdrawn {
        /// None while an external register has not numbered it (`message_registered` follows).
        protocol_number: Option<String>,
        year: Option<i32>,
    },
    SilenceAssent {
        due_date: NaiveDate,
    },
    /// The office sent a preavviso di rigetto (L. 241/1990 art. 10-bis; the text is in the
    /// messages): the silence-assent is suspended; observations until `observations_by`.
    RefusalNotice {
        message: i64,
        observations_by: NaiveDate,
    },
    /// A registration of the instance was annulled (DPR 445/2000 art. 54); when it was the
    /// submission's, the instance is annulled with it.
    RegistrationAnnulled {
        protocol_number: String,
        year: i32,
        reason: String,
        act: String,
    },
    /// FOIA: the counter-interested parties were notified (one outgoing registration each);
    /// the term is suspended until they answer or `answer_by` passes.
    CounterpartiesNotified {
        parties: usize,
        /// Empty while an external register has not numbered them (`act_registered` follows
        /// for each).
        protocol_numbers: Vec<String>,
        year: i32,
        answer_by: NaiveDate,
    },
    /// FOIA: a counter-interested party's answer was recorded (an incoming registration).
    CounterpartyAnswered {
        position: i32,
        opposed: bool,
        /// None while an external register has not numbered it (`act_registered` follows).
        protocol_number: Option<String>,
        year: Option<i32>,
    },
    /// FOIA: the term runs again (`because`: `answers` or `expiry`).
    CounterpartiesResumed {
        because: String,
        due_date: Option<NaiveDate>,
    },
    /// FOIA: the citizen asked the transparency officer for a review (riesame).
    ReviewRequested {
        /// None while an external register has not numbered it (`act_registered` follows).
        protocol_number: Option<String>,
        year: Option<i32>,
        due_date: NaiveDate,
    },
    /// FOIA: the transparency officer decided the review.
    ReviewDecided {
        outcome: Outcome,
        /// None while an external register has not numbered it (`act_registered` follows).
        protocol_number: Option<String>,
        year: Option<i32>,
    },
}

impl Event {
    /// The stored kind (the `event` member).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::AttachmentAdded { .. } => "attachment_added",
            Self::AttachmentRemoved { .. } => "attachment_removed",
            Self::Submitted { .. } => "submitted",
            Self::Registered { .. } => "registered",
            Self::RegistrationRequested { .. } => "registration_requested",
            Self::MessageRegistered { .. } => "message_registered",
            Self::ActRegistered { .. } => "act_registered",
            Self::Routed { .. } => "routed",
            Self::NotificationsQueued { .. } => "notifications_queued",
            Self::Taken { .. } => "taken",
            Self::Assigned { .. } => "assigned",
            Self::HandedOver { .. } => "handed_over",
            Self::NoteAdded { .. } => "note_added",
            Self::MessageSent { .. } => "message_sent",
            Self::IntegrationRequested { .. } => "integration_requested",
            Self::IntegrationAnswered { .. } => "integration_answered",
            Self::IntegrationExpired { .. } => "integration_expired",
            Self::Decided { .. } => "decided",
            Self::Closed { .. } => "closed",
            Self::Withdrawn { .. } => "withdrawn",
            Self::SilenceAssent { .. } => "silence_assent",
            Self::RefusalNotice { .. } => "refusal_notice",
            Self::RegistrationAnnulled { .. } => "registration_annulled",
            Self::CounterpartiesNotified { .. } => "counterparties_notified",
            Self::CounterpartyAnswered { .. } => "counterparty_answered",
            Self::CounterpartiesResumed { .. } => "counterparties_resumed",
            Self::ReviewRequested { .. } => "review_requested",
            Self::ReviewDecided { .. } => "review_decided",
        }
    }

    /// Only for the office: never in the citizen's timeline.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Assigned { .. } | Self::NoteAdded { .. })
    }

    /// The stored details (the `details` member), as JSON text.
    pub fn details_json(&self) -> String {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => m.remove("details").unwrap_or(Value::Null).to_string(),
            _ => "null".to_owned(),
        }
    }

    /// An event as stored; `None` when the stored row is not one (logged by the caller).
    pub fn from_stored(kind: &str, details: &str) -> Result<Self, serde_json::Error> {
        let details: Value = serde_json::from_str(details)?;
        serde_json::from_value(serde_json::json!({ "event": kind, "details": details }))
    }
}

/// The full picture of one instance for its citizen.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceView {
    pub id: String,
    pub status: InstanceStatus,
    pub service: ServiceRef,
    pub form: FormView,
    /// The data entered so far: the citizen's JSON, valid against `form.schema` when
    /// `complete`.
    #[schema(value_type = Object)]
    pub data: Value,
    /// True when every step is complete (the instance can be submitted).
    pub complete: bool,
    pub attachments: Vec<AttachmentInfo>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// When an untouched draft is deleted; none once submitted.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Present once submitted.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub submission: Option<SubmissionSummary>,
    /// The history, once submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEntry>>,
    /// The receipt, once submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
    /// What the citizen may do now besides editing a draft (`withdraw`,
    /// `answer_integration`).
    pub allowed_actions: Vec<Transition>,
    /// Messages between the office and the citizen (internal notes never appear).
    pub messages: Vec<super::procedure::MessageView>,
    /// The request for integration, if the office made one.
    pub integration: Option<super::procedure::IntegrationView>,
    /// The decision, once decided.
    pub decision: Option<super::procedure::DecisionView>,
    /// The citizen has already rated the service for this instance.
    pub rated: bool,
    /// What the service's procedure adds (docs/procedures.md): the residence terms, the
    /// TARI estimate. Absent for a service without a procedure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procedure: Option<crate::procedures::ProcedureView>,
}

/// One instance in the citizen's list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceSummary {
    pub id: String,
    pub status: InstanceStatus,
    pub service: ServiceRef,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub submission: Option<SubmissionSummary>,
}

/// A page of the citizen's instances, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstancePage {
    pub items: Vec<InstanceSummary>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// The answer to a submission, the same every time it is asked for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubmissionResult {
    pub id: String,
    pub status: InstanceStatus,
    pub receipt_url: String,
    #[serde(flatten)]
    pub summary: SubmissionSummary,
}

/// A file listed on a receipt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceiptFile {
    pub filename: String,
    pub sha256: String,
}

/// The receipt of a submitted instance: what the e-mail says, plus the primary document
/// itself, so that anyone can recompute its digest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    #[serde(flatten)]
    pub result: SubmissionResult,
    /// "Ricevuta di presentazione".
    pub title: String,
    /// The service's title.
    pub service: String,
    pub attachments: Vec<ReceiptFile>,
    /// The frozen primary document (RFC 8785 canonical JSON) whose SHA-256 is
    /// `document_digest`.
    pub document: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_stored_as_kind_and_details_and_read_back() {
        let e = Event::Routed {
            office: "ANAGRAFE".into(),
            rule: Some(2),
            reason: "why".into(),
        };
        assert_eq!(e.kind(), "routed");
        let details = e.details_json();
        assert_eq!(
            serde_json::from_str::<Value>(&details).unwrap(),
            serde_json::json!({"office": "ANAGRAFE", "rule": 2, "reason": "why"})
        );
        assert_eq!(Event::from_stored(e.kind(), &details).unwrap(), e);
        assert!(Event::from_stored("exploded", "{}").is_err());
    }

    #[test]
    fn a_timeline_entry_has_event_and_details_beside_at_and_actor() {
        let t = TimelineEntry {
            at: "2026-12-01T10:00:00Z".into(),
            actor: "citizen".into(),
            event: Event::Created {
                service: "tari".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({
                "at": "2026-12-01T10:00:00Z", "actor": "citizen",
                "event": "created", "details": {"service": "tari"}
            })
        );
    }
}
