//! The guided procedures with their legal rules (issue #13).
//!
//! A form stays data (JSON Schema + steps, `catalog::forms`); a service may name its
//! **procedure kind** (`[procedure] kind = "residenza" | "tari" | "foia"` in its bundle file),
//! and the rules a schema cannot express live in `procedures::<kind>` as plain Rust behind one
//! trait, [`Rules`]. The kind's own settings (deadlines, tariffs, lists) are the service's
//! `[procedure.settings]` table, checked by [`ProcedureKind::check_settings`] when the bundle
//! is loaded and stored as JSON in `services.procedure_settings`.
//!
//! The rules run where the schema runs and answer the same way, `{pointer, message}` findings
//! ([`Finding`]): at step validation (a draft's `PATCH`, only for the steps it touches;
//! the step states of the draft's view) and at submission (everything). A finding marked
//! `missing` is something a draft may still lack (a consent attachment not uploaded yet, the
//! lease data of a tenant); any other finding is a wrong value and is refused at once.

pub mod foia;
pub mod preavviso;
pub mod residenza;
pub mod tari;

use chrono::NaiveDate;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::catalog::forms::Finding;
use crate::db::schema::{attachments as att, enti, services};
use crate::db::DbConn;
use crate::domain::terms::WorkCalendar;
use crate::domain::FieldError;

/// Which procedure's rules a service follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    /// Dichiarazione di residenza / cambio di indirizzo (DPR 223/1989, DL 5/2012 art. 5).
    Residenza,
    /// Dichiarazione TARI (L. 147/2013 art. 1 c. 641–668, 684–686).
    Tari,
    /// Accesso civico semplice e generalizzato, accesso documentale (D.Lgs. 33/2013 art. 5,
    /// L. 241/1990 art. 22).
    Foia,
}

impl ProcedureKind {
    pub const ALL: [Self; 3] = [Self::Residenza, Self::Tari, Self::Foia];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Residenza => "residenza",
            Self::Tari => "tari",
            Self::Foia => "foia",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Checks a service's `[procedure.settings]` for this kind when the bundle is loaded: each
    /// kind reads its own typed settings and refuses unknown keys and impossible values.
    pub fn check_settings(self, settings: &Value) -> anyhow::Result<()> {
        if !settings.is_object() {
            anyhow::bail!("procedure.settings must be a table");
        }
        match self {
            Self::Residenza => residenza::Settings::read(settings).map(|_| ()),
            Self::Tari => tari::Settings::read(settings).map(|_| ()),
            Self::Foia => foia::Settings::read(settings).map(|_| ()),
        }
    }

    /// Whether the service's form agrees with its settings where both name the same thing:
    /// the reductions a TARI form offers are the ones the ente's settings grant (else the form
    /// would offer one the rules refuse, or hide one the regulation has).
    pub fn check_form(self, settings: &Value, schema: &Value) -> anyhow::Result<()> {
        if self != Self::Tari {
            return Ok(());
        }
        let Some(offered) = schema
            .pointer("/properties/dichiarazione/properties/riduzione/enum")
            .and_then(Value::as_array)
        else {
            return Ok(());
        };
        let offered: std::collections::BTreeSet<&str> =
            offered.iter().filter_map(Value::as_str).collect();
        let s = tari::Settings::read(settings)?;
        let granted: std::collections::BTreeSet<&str> =
            s.reductions.iter().map(|r| r.code.as_str()).collect();
        if offered != granted {
            anyhow::bail!(
                "the form's reductions (/dichiarazione/riduzione: {}) are not the settings' \
                 reductions ({})",
                offered.into_iter().collect::<Vec<_>>().join(", "),
                granted.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(())
    }

    /// The rules of this kind.
    pub fn rules(self) -> &'static dyn Rules {
        match self {
            Self::Residenza => &residenza::Residenza,
            Self::Tari => &tari::Tari,
            Self::Foia => &foia::Foia,
        }
    }
}

/// An attachment of the instance as the rules see it: what the citizen called it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRef {
    pub filename: String,
    pub description: Option<String>,
}

impl AttachmentRef {
    /// Whether the description (or, lacking one, the file name) contains `needle`, ignoring
    /// case: how a consent is tied to the person who gives it (their codice fiscale).
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.to_uppercase();
        self.description
            .as_deref()
            .unwrap_or(&self.filename)
            .to_uppercase()
            .contains(&needle)
            || self.filename.to_uppercase().contains(&needle)
    }
}

/// The ente whose office receives the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnteInfo {
    pub id: i64,
    pub name: String,
    pub calendar: WorkCalendar,
}

/// What the rules may look at besides the data.
#[derive(Debug, Clone, Copy)]
pub struct RuleCtx<'a> {
    /// Today in Italy, from the service's controllable clock.
    pub today: NaiveDate,
    /// The service's `[procedure.settings]` (already checked by `check_settings`).
    pub settings: &'a Value,
    /// The instance's attachments, with their descriptions.
    pub attachments: &'a [AttachmentRef],
    pub ente: &'a EnteInfo,
}

/// The rules of one procedure kind that a JSON Schema cannot express. They see the whole data
/// (cross-field rules need it) and report every finding with its JSON Pointer; [`run`] keeps
/// those of the steps in scope. Messages are Italian and name the field by its label
/// («Codice fiscale»: …), like the schema's.
pub trait Rules: Sync {
    fn check(&self, ctx: &RuleCtx<'_>, data: &Value) -> Vec<Finding>;
}

/// Which part of the data is being validated.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everything (submission, the draft's step states).
    All,
    /// Only these top-level properties (the steps a `PATCH` touched).
    Properties(&'a [String]),
}

impl Scope<'_> {
    fn covers(&self, pointer: &str) -> bool {
        match self {
            Self::All => true,
            Self::Properties(props) => {
                let first = pointer.split('/').nth(1).unwrap_or_default();
                props.iter().any(|p| p == first)
            }
        }
    }
}

/// Runs a kind's rules on `data` and keeps the findings in `scope`, sorted by pointer.
pub fn run(kind: ProcedureKind, ctx: &RuleCtx<'_>, data: &Value, scope: Scope<'_>) -> Vec<Finding> {
    if !data.is_object() {
        return Vec::new();
    }
    let mut out: Vec<Finding> = kind
        .rules()
        .check(ctx, data)
        .into_iter()
        .filter(|f| scope.covers(&f.error.pointer))
        .collect();
    out.sort_by(|a, b| a.error.pointer.cmp(&b.error.pointer));
    out.dedup_by(|a, b| a.error == b.error);
    out
}

/// A wrong value.
pub(crate) fn wrong(pointer: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        error: FieldError::new(pointer, message),
        missing: false,
    }
}

/// Something a draft may still lack, required at submission.
pub(crate) fn missing(pointer: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        error: FieldError::new(pointer, message),
        missing: true,
    }
}

/// A string member at `pointer`, trimmed, `None` when absent or empty.
pub(crate) fn text<'v>(data: &'v Value, pointer: &str) -> Option<&'v str> {
    data.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A date member at `pointer` (`YYYY-MM-DD`); `None` when absent or not a date (the schema
/// reports a malformed one).
pub(crate) fn date(data: &Value, pointer: &str) -> Option<NaiveDate> {
    text(data, pointer).and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

/// Whole years from `born` to `on`.
pub fn age_on(born: NaiveDate, on: NaiveDate) -> i32 {
    use chrono::Datelike;
    let mut age = on.year() - born.year();
    if (on.month(), on.day()) < (born.month(), born.day()) {
        age -= 1;
    }
    age
}

/// A service's procedure: its kind and settings (`{}` when the bundle gives none).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceProcedure {
    pub kind: ProcedureKind,
    pub settings: Value,
}

/// The procedure of a service, None when it follows no kind's rules.
pub fn of_service(conn: &mut DbConn, service_id: i64) -> anyhow::Result<Option<ServiceProcedure>> {
    let (kind, settings): (Option<String>, Option<String>) = services::table
        .find(service_id)
        .select((services::procedure_kind, services::procedure_settings))
        .first(conn)?;
    let Some(kind) = kind else {
        return Ok(None);
    };
    let kind = ProcedureKind::parse(&kind)
        .ok_or_else(|| anyhow::anyhow!("services.procedure_kind `{kind}` is unknown"))?;
    let settings = match settings {
        Some(s) => serde_json::from_str(&s)?,
        None => Value::Object(Default::default()),
    };
    Ok(Some(ServiceProcedure { kind, settings }))
}

/// Everything the rules of an instance need from the database, read once.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub procedure: ServiceProcedure,
    pub attachments: Vec<AttachmentRef>,
    pub ente: EnteInfo,
}

impl Loaded {
    pub fn ctx(&self, today: NaiveDate) -> RuleCtx<'_> {
        RuleCtx {
            today,
            settings: &self.procedure.settings,
            attachments: &self.attachments,
            ente: &self.ente,
        }
    }

    /// Runs the rules on `data`.
    pub fn run(&self, today: NaiveDate, data: &Value, scope: Scope<'_>) -> Vec<Finding> {
        run(self.procedure.kind, &self.ctx(today), data, scope)
    }
}

/// Reads the procedure, attachments and ente of an instance; `None` when its service follows
/// no procedure.
pub fn load(
    conn: &mut DbConn,
    instance_id: &str,
    service_id: i64,
) -> anyhow::Result<Option<Loaded>> {
    let Some(procedure) = of_service(conn, service_id)? else {
        return Ok(None);
    };
    let attachments = att::table
        .filter(att::instance_id.eq(instance_id))
        .order((att::created_at, att::id))
        .select((att::filename, att::description))
        .load::<(String, Option<String>)>(conn)?
        .into_iter()
        .map(|(filename, description)| AttachmentRef {
            filename,
            description,
        })
        .collect();
    let (id, name, patron): (i64, String, Option<String>) = services::table
        .inner_join(enti::table.on(enti::id.eq(services::ente_id)))
        .filter(services::id.eq(service_id))
        .select((enti::id, enti::name, enti::patron_day))
        .first(conn)?;
    Ok(Some(Loaded {
        procedure,
        attachments,
        ente: EnteInfo {
            id,
            name,
            calendar: WorkCalendar::for_ente(patron.as_deref()),
        },
    }))
}

/// The schema's findings of an instance's data with its procedure's added (none for a
/// service without a procedure). A rule's finding at or below a field the schema already
/// refused is dropped: one message per wrong value, the schema's first.
pub fn with_rules(
    conn: &mut DbConn,
    row: &crate::instances::InstanceRow,
    today: NaiveDate,
    data: &Value,
    schema: Vec<Finding>,
    scope: Scope<'_>,
) -> anyhow::Result<Vec<Finding>> {
    let Some(loaded) = load(conn, &row.id, row.service_id)? else {
        return Ok(schema);
    };
    Ok(merge(schema, loaded.run(today, data, scope)))
}

/// The schema's findings and the rules', sorted by pointer (see [`with_rules`]).
pub fn merge(schema: Vec<Finding>, rules: Vec<Finding>) -> Vec<Finding> {
    let covered = |p: &str| {
        schema.iter().any(|f| {
            let s = f.error.pointer.as_str();
            p == s || p.strip_prefix(s).is_some_and(|rest| rest.starts_with('/'))
        })
    };
    let extra: Vec<Finding> = rules
        .into_iter()
        .filter(|f| !covered(&f.error.pointer))
        .collect();
    let mut out = schema;
    out.extend(extra);
    out.sort_by(|a, b| a.error.pointer.cmp(&b.error.pointer));
    out
}

/// What an instance's procedure adds to its views: the residence terms, the TARI estimate and
/// lateness, the staff's checks of the people moving. Members not relevant to the kind (or to
/// the reader: the checks are the office's) are absent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProcedureView {
    pub kind: ProcedureKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residence: Option<residenza::ResidenceTerms>,
    /// Office only: for each person moving, whether their data is consistent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people: Option<Vec<residenza::PersonCheck>>,
    /// The yearly TARI estimate (DPR 158/1999), when the ente configured its tariffs and the
    /// data is enough to compute it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tari_estimate: Option<tari::Estimate>,
    /// Office only: the TARI declaration was filed after the ente's deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tari_filing: Option<tari::Filing>,
}

/// Who reads the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Citizen,
    Office,
}

/// The procedure's part of an instance's view (`None` for a service without a procedure).
pub fn view(
    conn: &mut DbConn,
    row: &crate::instances::InstanceRow,
    reader: Reader,
    today: NaiveDate,
) -> anyhow::Result<Option<ProcedureView>> {
    let Some(loaded) = load(conn, &row.id, row.service_id)? else {
        return Ok(None);
    };
    let data = row.data_value();
    let mut v = ProcedureView {
        kind: loaded.procedure.kind,
        residence: None,
        people: None,
        tari_estimate: None,
        tari_filing: None,
    };
    match loaded.procedure.kind {
        ProcedureKind::Residenza => {
            v.residence =
                residenza::terms(conn, row, &loaded.procedure.settings, &loaded.ente.calendar)?;
            if reader == Reader::Office {
                v.people = Some(residenza::people_checks(conn, row, &data, today)?);
            }
        }
        ProcedureKind::Tari => {
            let settings = tari::Settings::read(&loaded.procedure.settings)?;
            v.tari_estimate = tari::estimate(&settings, &data);
            if reader == Reader::Office {
                v.tari_filing = tari::filing(&settings, &data, row.submitted_at, today);
            }
        }
        ProcedureKind::Foia => {}
    }
    Ok(Some(v))
}

/// The message of a codice fiscale error as a field message («Label»: lowercase sentence).
pub(crate) fn labelled(label: &str, sentence: &str) -> String {
    let mut chars = sentence.chars();
    let rest = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect::<String>(),
        None => String::new(),
    };
    format!("«{label}»: {rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_read_and_write_the_same_names() {
        for k in ProcedureKind::ALL {
            assert_eq!(ProcedureKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                Value::String(k.as_str().to_owned())
            );
            assert!(k.check_settings(&json!({})).is_ok(), "{k:?}");
            assert!(
                k.check_settings(&json!({"sconosciuto": 1})).is_err(),
                "{k:?}"
            );
        }
        assert_eq!(ProcedureKind::parse("anagrafe"), None);
        assert!(ProcedureKind::Tari.check_settings(&json!([])).is_err());
    }

    #[test]
    fn a_scope_keeps_the_findings_of_its_properties() {
        let s = ["familiari".to_owned()];
        let scope = Scope::Properties(&s);
        assert!(scope.covers("/familiari/0/codice_fiscale"));
        assert!(!scope.covers("/richiedente/codice_fiscale"));
        assert!(Scope::All.covers("/x"));
    }

    #[test]
    fn a_rule_says_nothing_where_the_schema_already_refused() {
        let f = |p: &str, missing: bool| Finding {
            error: FieldError::new(p, format!("m{p}")),
            missing,
        };
        let schema = vec![f("/familiari/0/codice_fiscale", false), f("/b", true)];
        let rules = vec![
            f("/familiari/0/codice_fiscale", false),
            f("/familiari/0", true),
            f("/b/c", true),
            f("/bb", false),
        ];
        let got: Vec<String> = merge(schema, rules)
            .into_iter()
            .map(|f| f.error.pointer)
            .collect();
        assert_eq!(
            got,
            ["/b", "/bb", "/familiari/0", "/familiari/0/codice_fiscale"]
        );
    }

    #[test]
    fn ages_count_whole_years() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(age_on(d("2008-12-03"), d("2026-12-03")), 18);
        assert_eq!(age_on(d("2008-12-04"), d("2026-12-03")), 17);
        assert_eq!(age_on(d("2008-02-29"), d("2026-02-28")), 17);
    }

    #[test]
    fn an_attachment_mentions_a_code_in_its_description_or_name() {
        let a = AttachmentRef {
            filename: "consenso.pdf".into(),
            description: Some("Consenso di bncgli88a55g702g".into()),
        };
        assert!(a.mentions("BNCGLI88A55G702G"));
        let b = AttachmentRef {
            filename: "BNCGLI88A55G702G.pdf".into(),
            description: None,
        };
        assert!(b.mentions("bncgli88a55g702g"));
        assert!(!b.mentions("RSSMRA85T10A562S"));
    }
}
