//! The instance screen of the back office: one call gives everything the screen needs.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::work::{facts, load_for_staff, StaffCtx};
use super::{Applicant, BackofficeError};
use crate::catalog::forms::FormCache;
use crate::db::schema::{
    citizens, form_definitions as fd, instance_notes as notes, services, staff_users,
};
use crate::db::DbConn;
use crate::domain::{Actor, InstanceStatus, Transition};
use crate::instances::procedure::{
    self, DecisionView, DocumentInfo, IntegrationView, MessageView, RegistrationView, TermsView,
};
use crate::instances::view::{AttachmentInfo, OfficeRef, TimelineEntry};
use crate::instances::{attachments, iso, timeline, Links};

/// One value of the form, with its Italian label.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldValue {
    /// JSON Pointer into the data.
    pub pointer: String,
    pub label: String,
    #[schema(value_type = Object)]
    pub value: Value,
}

/// One step of the form with the values entered in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepData {
    pub id: String,
    pub title: String,
    pub fields: Vec<FieldValue>,
}

/// A staff member, as the screen names them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffRef {
    pub username: String,
    pub full_name: String,
}

/// An internal note.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoteView {
    pub id: i64,
    #[schema(format = DateTime)]
    pub at: String,
    pub author: StaffRef,
    pub text: String,
}

/// The service of an instance, as the office sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffServiceRef {
    pub slug: String,
    pub title: String,
    pub form_version: i32,
}

/// Everything the office's instance screen shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffInstanceView {
    pub id: String,
    pub status: InstanceStatus,
    /// The status in Italian.
    pub status_label: String,
    /// The version: the `ETag` to send back as `If-Match`.
    pub version: i64,
    pub service: StaffServiceRef,
    pub applicant: Applicant,
    pub office: OfficeRef,
    pub assignee: Option<StaffRef>,
    #[schema(format = DateTime)]
    pub submitted_at: Option<String>,
    /// The data step by step with the form's labels.
    pub steps: Vec<StepData>,
    /// The frozen primary document (RFC 8785 JSON) and its SHA-256.
    pub document: Option<String>,
    pub document_digest: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    pub documents: Vec<DocumentInfo>,
    /// Incoming, integration, outgoing: every registration of the instance.
    pub registrations: Vec<RegistrationView>,
    pub timeline: Vec<TimelineEntry>,
    pub messages: Vec<MessageView>,
    /// Never shown to the citizen.
    pub notes: Vec<NoteView>,
    pub integration: Option<IntegrationView>,
    /// The citizen did not answer the integration in time.
    pub integration_expired: bool,
    pub decision: Option<DecisionView>,
    pub terms: TermsView,
    /// What this staff member may do now (the state machine's answer).
    pub allowed_actions: Vec<Transition>,
    /// What the service's procedure adds (docs/procedures.md): the residence terms and the
    /// checks of each person moving, the TARI estimate and late flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procedure: Option<crate::procedures::ProcedureView>,
}

fn label_of(schema: &Value, prop: &str) -> String {
    schema
        .pointer(&format!("/properties/{prop}/title"))
        .and_then(Value::as_str)
        .unwrap_or(prop)
        .to_owned()
}

/// The values of a step: top-level properties; an object's members one level down, each
/// with its own label.
fn step_fields(schema: &Value, data: &Value, props: &[String]) -> Vec<FieldValue> {
    let mut out = Vec::new();
    for p in props {
        let Some(v) = data.get(p) else { continue };
        let label = label_of(schema, p);
        match v {
            Value::Object(m) => {
                let sub = schema
                    .pointer(&format!("/properties/{p}"))
                    .cloned()
                    .unwrap_or(Value::Null);
                for (k, sv) in m {
                    out.push(FieldValue {
                        pointer: format!("/{p}/{k}"),
                        label: format!("{label} – {}", label_of(&sub, k)),
                        value: sv.clone(),
                    });
                }
            }
            _ => out.push(FieldValue {
                pointer: format!("/{p}"),
                label,
                value: v.clone(),
            }),
        }
    }
    out
}

/// The instance screen for a staff member who may see it (else not found).
pub fn staff_view(
    conn: &mut DbConn,
    forms: &FormCache,
    links: &dyn Links,
    ctx: &StaffCtx,
    id: &str,
    now: NaiveDateTime,
) -> Result<StaffInstanceView, BackofficeError> {
    let row = load_for_staff(conn, ctx, id)?;
    let form = forms
        .get(conn, row.form_id)
        .map_err(BackofficeError::from)?;
    let data = row.data_value();
    let steps = form
        .definition
        .steps
        .iter()
        .map(|s| StepData {
            id: s.id.clone(),
            title: s.title.clone(),
            fields: step_fields(&form.definition.schema, &data, &s.properties),
        })
        .collect();
    let (slug, title, term_days): (String, String, i32) = services::table
        .find(row.service_id)
        .select((services::slug, services::title, services::legal_term_days))
        .first(conn)?;
    let version: i32 = fd::table
        .find(row.form_id)
        .select(fd::version)
        .first(conn)?;
    let (cf, given, family): (String, Option<String>, Option<String>) = citizens::table
        .find(row.citizen_id)
        .select((
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
        ))
        .first(conn)?;
    let summary = crate::instances::submission_summary(conn, &row)?;
    let assignee = match row.assignee_id {
        Some(uid) => staff_users::table
            .find(uid)
            .select((staff_users::username, staff_users::full_name))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(username, full_name)| StaffRef {
                username,
                full_name,
            }),
        None => None,
    };
    let note_rows: Vec<(i64, NaiveDateTime, String, String, String)> = notes::table
        .inner_join(staff_users::table)
        .filter(notes::instance_id.eq(&row.id))
        .order(notes::id)
        .select((
            notes::id,
            notes::at,
            staff_users::username,
            staff_users::full_name,
            notes::body,
        ))
        .load(conn)?;
    let f = facts(conn, &row.id)?;
    let today: NaiveDate = procedure::today(now);
    Ok(StaffInstanceView {
        id: row.id.clone(),
        status: row.status,
        status_label: row.status.label().to_owned(),
        version: row.version,
        service: StaffServiceRef {
            slug,
            title,
            form_version: version,
        },
        applicant: Applicant {
            codice_fiscale: cf,
            given_name: given,
            family_name: family,
        },
        office: summary.office.clone().unwrap_or(OfficeRef {
            code: String::new(),
            name: String::new(),
        }),
        assignee,
        submitted_at: row.submitted_at.map(iso),
        steps,
        document: row.document.clone(),
        document_digest: row.document_digest.clone(),
        attachments: attachments::list(conn, links, &row.id)?,
        documents: procedure::documents(conn, links, &row.id, false)?,
        registrations: procedure::registrations(conn, &row.id)?,
        timeline: timeline(conn, &row.id)?,
        messages: procedure::messages(conn, links, &row.id, false)?,
        notes: note_rows
            .into_iter()
            .map(|(id, at, username, full_name, text)| NoteView {
                id,
                at: iso(at),
                author: StaffRef {
                    username,
                    full_name,
                },
                text,
            })
            .collect(),
        integration: procedure::integration(conn, &row.id)?,
        integration_expired: row.integration_expired,
        decision: procedure::decision(conn, links, &row)?,
        terms: procedure::terms(&row, term_days, today),
        allowed_actions: row.status.allowed(Actor::Operator, f),
        procedure: crate::procedures::view(conn, &row, crate::procedures::Reader::Office, today)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_step_shows_its_values_with_the_schemas_labels_one_level_down() {
        let schema = json!({"properties": {
            "richiedente": {"title": "Richiedente", "properties": {
                "nome": {"title": "Nome"}, "cognome": {"title": "Cognome"}}},
            "note": {"title": "Note"},
            "senza_titolo": {}
        }});
        let data = json!({
            "richiedente": {"nome": "Mario", "cognome": "Rossi"},
            "note": "urgente",
            "senza_titolo": 3
        });
        let props = ["richiedente", "note", "senza_titolo", "assente"].map(String::from);
        let f = step_fields(&schema, &data, &props);
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|v| (v.pointer.as_str(), v.label.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/richiedente/nome", "Richiedente – Nome"),
                ("/richiedente/cognome", "Richiedente – Cognome"),
                ("/note", "Note"),
                ("/senza_titolo", "senza_titolo"),
            ]
        );
        assert_eq!(f[0].value, json!("Mario"));
    }
}
