//! The declaration of residence (dichiarazione di residenza, DPR 223/1989 art. 13; DL 5/2012
//! art. 5): the rules of the Ministry of the Interior's form a schema cannot express, the two
//! terms the law sets, and the office's checks of each person moving.
//!
//! The form (`config/demo/forms/cambio-di-residenza.json`) names its parts; the pointers below
//! are its members:
//! - `/trasferimento/tipo`: `da_altro_comune`, `dall_estero`, `rientro_aire` (an Italian
//!   citizen registered in the AIRE coming back), `cambio_indirizzo` (inside the comune);
//! - `/richiedente`: the declarant; `/familiari/N`: the other people moving, with their
//!   `rapporto_parentela` to the declarant;
//! - `/composizione/modalita`: the whole family to a new address (`intera_famiglia`), some
//!   members forming a new family (`nuova_famiglia`), the whole family joining an existing one
//!   (`aggregazione_intera`), some members joining one (`aggregazione_parziale`), then
//!   `/composizione/famiglia_esistente`: the existing family's head;
//! - `/titolo_occupazione`: the title of occupancy (DL 47/2014 art. 5), with the lease's
//!   registration data for a tenant (or a free loan, which is registered too).
//!
//! Terms: the registration is due within 2 working days of the declaration; the declaration
//! is granted by silence-assent after the service's legal term (45 days) unless a preavviso di
//! rigetto (L. 241/1990 art. 10-bis, [`super::preavviso`]) was sent.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{age_on, date, labelled, missing, text, wrong, Finding, RuleCtx, Rules};
use crate::db::schema::{instances as inst, refusal_notices as rn, services};
use crate::db::DbConn;
use crate::domain::calendar;
use crate::domain::codice_fiscale::{CodiceFiscale, Sex};
use crate::domain::terms::{self, TermRule, TermUnit, WorkCalendar};
use crate::domain::InstanceStatus;
use crate::instances::InstanceRow;

/// `[procedure.settings]` of a residence service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Working days the office has to register the declaration (DL 5/2012 art. 5 c. 3: 2).
    #[serde(default = "default_registration_days")]
    pub registration_working_days: u32,
    /// Days the citizen has to answer a preavviso di rigetto (L. 241/1990 art. 10-bis: 10).
    #[serde(default = "default_observation_days")]
    pub observation_days: u32,
}

fn default_registration_days() -> u32 {
    2
}

fn default_observation_days() -> u32 {
    10
}

impl Settings {
    pub fn read(v: &Value) -> anyhow::Result<Self> {
        let s: Self = serde_json::from_value(v.clone())
            .map_err(|e| anyhow::anyhow!("procedure.settings of a residenza service: {e}"))?;
        if !(1..=10).contains(&s.registration_working_days) {
            anyhow::bail!("procedure.settings.registration_working_days must be 1–10");
        }
        if !(10..=30).contains(&s.observation_days) {
            anyhow::bail!(
                "procedure.settings.observation_days must be 10–30 (art. 10-bis: at least 10)"
            );
        }
        Ok(s)
    }
}

/// The residence rules.
pub struct Residenza;

/// Ways of moving that join an existing family (its head must be named).
const JOINING: [&str; 2] = ["aggregazione_intera", "aggregazione_parziale"];
/// Titles of occupancy whose contract is registered with the Agenzia delle Entrate.
const REGISTERED_TITLES: [&str; 2] = ["locatario", "comodatario"];

/// One person moving, as the rules read them.
struct Person<'v> {
    pointer: String,
    cf_text: Option<&'v str>,
    cf: Option<CodiceFiscale>,
    name: String,
    born: Option<NaiveDate>,
    relation: Option<&'v str>,
}

fn people<'v>(data: &'v Value, today: NaiveDate) -> Vec<Person<'v>> {
    let one = |pointer: String, v: &'v Value, relation: Option<&'v str>| {
        let cf_text = text(v, "/codice_fiscale");
        let cf = cf_text.and_then(|t| CodiceFiscale::parse(t).ok());
        let born = date(v, "/data_nascita")
            .or_else(|| cf.as_ref().and_then(|c| c.birth(today)).map(|(d, _)| d));
        let name = [text(v, "/nome"), text(v, "/cognome")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        Person {
            pointer,
            cf_text,
            cf,
            name,
            born,
            relation,
        }
    };
    let mut out = Vec::new();
    if let Some(r) = data.get("richiedente").filter(|r| r.is_object()) {
        out.push(one("/richiedente".to_owned(), r, None));
    }
    if let Some(list) = data.get("familiari").and_then(Value::as_array) {
        for (i, f) in list.iter().enumerate().filter(|(_, f)| f.is_object()) {
            out.push(one(
                format!("/familiari/{i}"),
                f,
                text(f, "/rapporto_parentela"),
            ));
        }
    }
    out
}

impl Person<'_> {
    fn is_declarant(&self) -> bool {
        self.pointer == "/richiedente"
    }

    fn adult(&self, today: NaiveDate) -> Option<bool> {
        self.born.map(|b| age_on(b, today) >= 18)
    }

    fn who(&self, n: usize) -> String {
        if self.name.is_empty() {
            format!("la persona n. {n}")
        } else {
            self.name.clone()
        }
    }
}

impl Rules for Residenza {
    fn check(&self, ctx: &RuleCtx<'_>, data: &Value) -> Vec<Finding> {
        let mut out = Vec::new();
        let today = ctx.today;
        let moving = people(data, today);

        // Valid and distinct codici fiscali.
        let mut seen: Vec<(String, &str)> = Vec::new();
        for p in &moving {
            let Some(t) = p.cf_text else { continue };
            let pointer = format!("{}/codice_fiscale", p.pointer);
            match CodiceFiscale::parse(t) {
                Err(e) => out.push(wrong(&pointer, labelled("Codice fiscale", &e.to_string()))),
                Ok(cf) => match seen.iter().find(|(c, _)| c == cf.as_str()) {
                    Some((_, first)) => out.push(wrong(
                        &pointer,
                        format!(
                            "«Codice fiscale»: è lo stesso di {first}; ogni persona che si trasferisce va indicata una sola volta."
                        ),
                    )),
                    None => seen.push((
                        cf.as_str().to_owned(),
                        if p.is_declarant() {
                            "chi dichiara"
                        } else {
                            "un'altra persona indicata"
                        },
                    )),
                },
            }
        }

        // The declarant is of age: for a minor, a parent declares.
        if let Some(d) = moving.iter().find(|p| p.is_declarant()) {
            if d.adult(today) == Some(false) {
                out.push(wrong(
                    "/richiedente/data_nascita",
                    "«Data di nascita»: chi dichiara deve essere maggiorenne; per un minore dichiara un genitore o il tutore.",
                ));
            }
        }

        // Every other adult consents (a signed declaration attached, naming their code).
        for (n, p) in moving.iter().enumerate().filter(|(_, p)| !p.is_declarant()) {
            if p.adult(today) != Some(true) {
                continue;
            }
            let Some(cf) = &p.cf else { continue };
            if !ctx.attachments.iter().any(|a| a.mentions(cf.as_str())) {
                out.push(missing(
                    &p.pointer,
                    format!(
                        "«Familiari che si trasferiscono con il richiedente»: manca la dichiarazione di consenso firmata da {} (maggiorenne); allegarla indicando nella descrizione il suo codice fiscale {}.",
                        p.who(n),
                        cf.as_str()
                    ),
                ));
            }
        }

        // Minors move with a parent.
        let relation_moving = |r: &str, adult: bool| {
            moving
                .iter()
                .filter(|q| !q.is_declarant())
                .any(|q| q.relation == Some(r) && (!adult || q.adult(today) == Some(true)))
        };
        for (n, p) in moving.iter().enumerate().filter(|(_, p)| !p.is_declarant()) {
            if p.adult(today) != Some(false) {
                continue;
            }
            let with_parent = match p.relation {
                // The declarant is the parent.
                Some("figlio") => true,
                // A brother or sister of the declarant: a parent of theirs moves too.
                Some("fratello_sorella") => relation_moving("genitore", false),
                // A grandchild: a child of the declarant (the minor's parent) moves too.
                Some("nipote") => relation_moving("figlio", true),
                _ => false,
            };
            if !with_parent {
                out.push(missing(
                    format!("{}/rapporto_parentela", p.pointer),
                    format!(
                        "«Rapporto di parentela con il richiedente»: {} è minorenne e può trasferirsi solo con almeno un genitore (o con chi ne esercita la responsabilità genitoriale).",
                        p.who(n)
                    ),
                ));
            }
        }

        // Joining an existing family: its head.
        if let Some(modalita) = text(data, "/composizione/modalita") {
            if JOINING.contains(&modalita) {
                let head = "/composizione/famiglia_esistente";
                for (field, label) in [
                    ("nome", "Nome dell'intestatario"),
                    ("cognome", "Cognome dell'intestatario"),
                    ("codice_fiscale", "Codice fiscale dell'intestatario"),
                ] {
                    if text(data, &format!("{head}/{field}")).is_none() {
                        out.push(missing(
                            format!("{head}/{field}"),
                            format!("«{label}»: campo obbligatorio per chi si aggrega a una famiglia già residente all'indirizzo."),
                        ));
                    }
                }
                if let Some(t) = text(data, &format!("{head}/codice_fiscale")) {
                    match CodiceFiscale::parse(t) {
                        Err(e) => out.push(wrong(
                            format!("{head}/codice_fiscale"),
                            labelled("Codice fiscale dell'intestatario", &e.to_string()),
                        )),
                        Ok(cf) if moving.iter().any(|p| p.cf.as_ref() == Some(&cf)) => {
                            out.push(wrong(
                                format!("{head}/codice_fiscale"),
                                "«Codice fiscale dell'intestatario»: l'intestatario della famiglia che accoglie è già residente all'indirizzo e non è tra chi si trasferisce.",
                            ))
                        }
                        Ok(_) => {}
                    }
                }
            }
        }

        // A tenant (or borrower) gives the contract's registration.
        if let Some(title) = text(data, "/titolo_occupazione/tipo") {
            if REGISTERED_TITLES.contains(&title) {
                for (field, label) in [
                    (
                        "ufficio_registrazione",
                        "Ufficio dell'Agenzia delle Entrate",
                    ),
                    ("data_registrazione", "Data di registrazione del contratto"),
                    (
                        "numero_registrazione",
                        "Numero di registrazione del contratto",
                    ),
                ] {
                    if text(data, &format!("/titolo_occupazione/{field}")).is_none() {
                        out.push(missing(
                            format!("/titolo_occupazione/{field}"),
                            format!("«{label}»: campo obbligatorio per chi occupa l'abitazione in affitto o in comodato: indicare gli estremi di registrazione del contratto (art. 5 DL 47/2014)."),
                        ));
                    }
                }
                if date(data, "/titolo_occupazione/data_registrazione").is_some_and(|d| d > today) {
                    out.push(wrong(
                        "/titolo_occupazione/data_registrazione",
                        "«Data di registrazione del contratto»: il contratto deve essere già registrato; la data non può essere futura.",
                    ));
                }
            }
        }
        out
    }
}

/// The preavviso di rigetto of an instance, as both sides read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefusalNoticeView {
    #[schema(format = DateTime)]
    pub sent_at: String,
    /// The last day (Italian date) for the citizen's observations.
    pub observations_by: NaiveDate,
    /// The message that carries the text.
    pub message: i64,
}

/// The two terms of a residence declaration.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResidenceTerms {
    /// The office registers the declaration by this day (2 working days, DL 5/2012 art. 5).
    pub registration_due: Option<NaiveDate>,
    /// Past this day without a preavviso di rigetto the declaration is granted by
    /// silence-assent; absent once a preavviso suspended it.
    pub silence_assent_on: Option<NaiveDate>,
    /// The preavviso di rigetto sent by the office (L. 241/1990 art. 10-bis), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal_notice: Option<RefusalNoticeView>,
}

/// The terms of a submitted declaration (`None` for a draft).
pub fn terms(
    conn: &mut DbConn,
    row: &InstanceRow,
    settings: &Value,
    cal: &WorkCalendar,
) -> anyhow::Result<Option<ResidenceTerms>> {
    let Some(submitted) = row.submitted_at else {
        return Ok(None);
    };
    let s = Settings::read(settings)?;
    let notice: Option<(NaiveDateTime, NaiveDate, i64)> = rn::table
        .find(&row.id)
        .select((rn::sent_at, rn::observations_by, rn::message_id))
        .first(conn)
        .optional()?;
    Ok(Some(ResidenceTerms {
        registration_due: registration_due(submitted, &s, cal),
        silence_assent_on: if notice.is_some() { None } else { row.due_date },
        refusal_notice: notice.map(|(at, by, message)| RefusalNoticeView {
            sent_at: crate::instances::iso(at),
            observations_by: by,
            message,
        }),
    }))
}

/// The day the registration is due: `registration_working_days` working days of the ente
/// after the Italian date of submission.
pub fn registration_due(
    submitted: NaiveDateTime,
    s: &Settings,
    cal: &WorkCalendar,
) -> Option<NaiveDate> {
    terms::due_date(
        calendar::rome_date(submitted),
        TermRule {
            days: i32::try_from(s.registration_working_days).unwrap_or(2),
            unit: TermUnit::WorkingDays,
        },
        &[],
        cal,
    )
}

/// The office's check of one person moving.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonCheck {
    /// Where the person is in the data (`/richiedente`, `/familiari/0`, …).
    pub pointer: String,
    pub name: String,
    pub codice_fiscale: Option<String>,
    /// The code is well formed and its check character right.
    pub codice_fiscale_valid: bool,
    /// Age today from the birth date the code encodes.
    pub age: Option<i32>,
    /// The birth date and sex written in the form agree with the code's.
    pub matches_codice_fiscale: Option<bool>,
    /// Other open declarations for the same address that name this person.
    pub duplicates: Vec<String>,
    /// The problems found, in Italian; empty when the data is consistent.
    pub problems: Vec<String>,
    pub consistent: bool,
}

/// Normalized address of a declaration: street, number, flat.
fn address_key(data: &Value) -> Option<String> {
    let part = |p: &str| {
        text(data, p)
            .map(|s| {
                s.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    let via = part("/nuovo_indirizzo/via");
    if via.is_empty() {
        return None;
    }
    Some(format!(
        "{via}|{}|{}",
        part("/nuovo_indirizzo/civico"),
        part("/nuovo_indirizzo/interno")
    ))
}

/// The codici fiscali (valid ones, uppercase) of the people moving in a declaration.
fn codes(data: &Value, today: NaiveDate) -> Vec<String> {
    people(data, today)
        .into_iter()
        .filter_map(|p| p.cf.map(|c| c.as_str().to_owned()))
        .collect()
}

/// For each person moving: codice fiscale, age and birth data from it, duplicates in the open
/// declarations of the same ente for the same address.
pub fn people_checks(
    conn: &mut DbConn,
    row: &InstanceRow,
    data: &Value,
    today: NaiveDate,
) -> anyhow::Result<Vec<PersonCheck>> {
    let open = [
        InstanceStatus::Submitted.as_str(),
        InstanceStatus::InProgress.as_str(),
        InstanceStatus::AwaitingIntegration.as_str(),
    ];
    let others: Vec<(String, String)> = match address_key(data) {
        Some(_) => inst::table
            .inner_join(services::table)
            .filter(inst::ente_id.eq(row.ente_id))
            .filter(services::procedure_kind.eq(super::ProcedureKind::Residenza.as_str()))
            .filter(inst::status.eq_any(open))
            .filter(inst::id.ne(&row.id))
            .select((inst::id, inst::data))
            .load(conn)?,
        None => Vec::new(),
    };
    let key = address_key(data);
    let same_address: Vec<(String, Vec<String>)> = others
        .into_iter()
        .filter_map(|(id, text)| {
            let v: Value = serde_json::from_str(&text).ok()?;
            (address_key(&v) == key).then(|| (id, codes(&v, today)))
        })
        .collect();
    let mut out = Vec::new();
    for p in people(data, today) {
        let mut problems = Vec::new();
        let parsed = p.cf_text.map(CodiceFiscale::parse);
        let (valid, birth) = match &parsed {
            Some(Ok(cf)) => (true, cf.birth(today)),
            Some(Err(e)) => {
                problems.push(e.to_string());
                (false, None)
            }
            None => {
                problems.push("Codice fiscale non indicato.".to_owned());
                (false, None)
            }
        };
        let person = data.pointer(&p.pointer);
        let written_date = person.and_then(|v| date(v, "/data_nascita"));
        let written_sex = person.and_then(|v| text(v, "/sesso"));
        let matches = birth.map(|(d, sex)| {
            let mut ok = true;
            if written_date.is_some_and(|w| w != d) {
                problems.push(format!(
                    "La data di nascita indicata non corrisponde a quella del codice fiscale ({}).",
                    d.format("%d/%m/%Y")
                ));
                ok = false;
            }
            let code_sex = match sex {
                Sex::M => "M",
                Sex::F => "F",
            };
            if written_sex.is_some_and(|w| w != code_sex) {
                problems.push(format!(
                    "Il sesso indicato non corrisponde a quello del codice fiscale ({code_sex})."
                ));
                ok = false;
            }
            ok
        });
        let cf = parsed.and_then(Result::ok).map(|c| c.as_str().to_owned());
        let duplicates: Vec<String> = match &cf {
            Some(code) => same_address
                .iter()
                .filter(|(_, cs)| cs.contains(code))
                .map(|(id, _)| id.clone())
                .collect(),
            None => Vec::new(),
        };
        if !duplicates.is_empty() {
            problems.push(format!(
                "È indicato anche in {} altra/e dichiarazione/i aperta/e per lo stesso indirizzo.",
                duplicates.len()
            ));
        }
        out.push(PersonCheck {
            pointer: p.pointer,
            name: p.name,
            codice_fiscale: cf,
            codice_fiscale_valid: valid,
            age: birth.map(|(d, _)| age_on(d, today)),
            matches_codice_fiscale: matches,
            duplicates,
            consistent: problems.is_empty(),
            problems,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedures::{AttachmentRef, EnteInfo};
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn ente() -> EnteInfo {
        EnteInfo {
            id: 1,
            name: "Comune di Esempio".into(),
            calendar: WorkCalendar::default(),
        }
    }

    fn base() -> Value {
        json!({
            "trasferimento": { "tipo": "da_altro_comune", "comune_provenienza": "Pisa (PI)" },
            "richiedente": {
                "nome": "Mario", "cognome": "Rossi", "codice_fiscale": "RSSMRA85T10A562S",
                "sesso": "M", "data_nascita": "1985-12-10"
            },
            "familiari": [{
                "rapporto_parentela": "figlio", "nome": "Luca", "cognome": "Rossi",
                "codice_fiscale": "RSSLCU17E03G702V", "sesso": "M", "data_nascita": "2017-05-03"
            }],
            "composizione": { "modalita": "intera_famiglia" },
            "titolo_occupazione": {
                "tipo": "locatario", "ufficio_registrazione": "Ufficio territoriale di Pisa",
                "data_registrazione": "2026-10-28", "numero_registrazione": "3T 004512"
            }
        })
    }

    fn spouse() -> Value {
        json!({
            "rapporto_parentela": "coniuge", "nome": "Giulia", "cognome": "Bianchi",
            "codice_fiscale": "BNCGLI88A55G702G", "sesso": "F", "data_nascita": "1988-01-15"
        })
    }

    fn check(data: &Value, attachments: &[AttachmentRef]) -> Vec<(String, String, bool)> {
        let e = ente();
        let ctx = RuleCtx {
            today: d("2026-12-03"),
            settings: &json!({}),
            attachments,
            ente: &e,
        };
        Residenza
            .check(&ctx, data)
            .into_iter()
            .map(|f| (f.error.pointer, f.error.message, f.missing))
            .collect()
    }

    #[test]
    fn a_complete_declaration_passes() {
        assert_eq!(check(&base(), &[]), vec![]);
    }

    #[test]
    fn codici_fiscali_are_valid_and_distinct() {
        let mut v = base();
        v["familiari"][0]["codice_fiscale"] = json!("RSSLCU17E03G702X");
        let f = check(&v, &[]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].0, "/familiari/0/codice_fiscale");
        assert_eq!(
            f[0].1,
            "«Codice fiscale»: il carattere di controllo del codice fiscale non è corretto."
        );
        assert!(!f[0].2);
        let mut v = base();
        v["familiari"][0]["codice_fiscale"] = json!("rssmra85t10a562s");
        let f = check(&v, &[]);
        assert_eq!(f[0].0, "/familiari/0/codice_fiscale");
        assert!(f[0].1.contains("è lo stesso di chi dichiara"), "{f:?}");
    }

    #[test]
    fn another_adult_consents_with_an_attachment_naming_them() {
        let mut v = base();
        v["familiari"].as_array_mut().unwrap().insert(0, spouse());
        let f = check(&v, &[]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].0, "/familiari/0");
        assert!(
            f[0].1.contains("consenso firmata da Giulia Bianchi"),
            "{f:?}"
        );
        assert!(f[0].2, "a draft may still lack it");
        let consent = AttachmentRef {
            filename: "consenso.pdf".into(),
            description: Some("Consenso BNCGLI88A55G702G".into()),
        };
        assert_eq!(check(&v, &[consent]), vec![]);
    }

    #[test]
    fn minors_move_with_a_parent_and_do_not_declare() {
        let mut v = base();
        v["familiari"][0]["rapporto_parentela"] = json!("altro_parente");
        let f = check(&v, &[]);
        assert_eq!(f[0].0, "/familiari/0/rapporto_parentela");
        assert!(f[0].1.contains("Luca Rossi è minorenne"), "{f:?}");
        // A younger sibling moves with a parent of the declarant.
        v["familiari"][0]["rapporto_parentela"] = json!("fratello_sorella");
        assert_eq!(check(&v, &[]).len(), 1);
        let mut parent = spouse();
        parent["rapporto_parentela"] = json!("genitore");
        v["familiari"].as_array_mut().unwrap().push(parent);
        let consent = AttachmentRef {
            filename: "BNCGLI88A55G702G.pdf".into(),
            description: None,
        };
        assert_eq!(check(&v, &[consent]), vec![]);
        // A minor declarant.
        let mut v = base();
        v["richiedente"]["data_nascita"] = json!("2010-01-01");
        let f = check(&v, &[]);
        assert!(
            f.iter().any(|x| x.0 == "/richiedente/data_nascita" && !x.2),
            "{f:?}"
        );
    }

    #[test]
    fn joining_an_existing_family_names_its_head() {
        let mut v = base();
        v["composizione"] = json!({ "modalita": "aggregazione_intera" });
        let f = check(&v, &[]);
        let ptrs: Vec<_> = f.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            ptrs,
            [
                "/composizione/famiglia_esistente/nome",
                "/composizione/famiglia_esistente/cognome",
                "/composizione/famiglia_esistente/codice_fiscale"
            ]
        );
        v["composizione"]["famiglia_esistente"] =
            json!({ "nome": "Anna", "cognome": "Ferri", "codice_fiscale": "RSSMRA85T10A562S" });
        let f = check(&v, &[]);
        assert_eq!(f.len(), 1);
        assert!(f[0].1.contains("non è tra chi si trasferisce"), "{f:?}");
        v["composizione"]["famiglia_esistente"]["codice_fiscale"] = json!("BNCGLI88A55G702G");
        assert_eq!(check(&v, &[]), vec![]);
    }

    #[test]
    fn a_tenant_gives_the_lease_registration() {
        let mut v = base();
        v["titolo_occupazione"] =
            json!({ "tipo": "locatario", "data_registrazione": "2027-01-10" });
        let f = check(&v, &[]);
        let ptrs: Vec<_> = f.iter().map(|x| (x.0.as_str(), x.2)).collect();
        assert_eq!(
            ptrs,
            [
                ("/titolo_occupazione/ufficio_registrazione", true),
                ("/titolo_occupazione/numero_registrazione", true),
                ("/titolo_occupazione/data_registrazione", false)
            ]
        );
        v["titolo_occupazione"] = json!({ "tipo": "proprietario" });
        assert_eq!(check(&v, &[]), vec![]);
    }

    #[test]
    fn the_registration_is_due_in_two_working_days() {
        let s = Settings::read(&json!({})).unwrap();
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let plain = WorkCalendar::default();
        // Friday 4 Dec 2026 → Monday 7, Wednesday 9 (Tuesday 8 is the Immacolata).
        assert_eq!(
            registration_due(at("2026-12-04 10:00:00"), &s, &plain),
            Some(d("2026-12-09"))
        );
        // Thursday 2 April 2026 → Friday 3, Tuesday 7 (Easter Monday 6).
        assert_eq!(
            registration_due(at("2026-04-02 10:00:00"), &s, &plain),
            Some(d("2026-04-07"))
        );
        // The ente's patron day (San Giovanni, 24 June 2026, a Wednesday).
        let patron = WorkCalendar::for_ente(Some("06-24"));
        assert_eq!(
            registration_due(at("2026-06-22 10:00:00"), &s, &patron),
            Some(d("2026-06-25"))
        );
        assert_eq!(
            registration_due(at("2026-06-22 10:00:00"), &s, &plain),
            Some(d("2026-06-24"))
        );
        // 23:30 UTC on Friday 4 Dec is already Saturday in Italy → Monday 7, Wednesday 9.
        assert_eq!(
            registration_due(at("2026-12-04 23:30:00"), &s, &plain),
            Some(d("2026-12-09"))
        );
        assert!(Settings::read(&json!({"registration_working_days": 0})).is_err());
        assert!(Settings::read(&json!({"observation_days": 5})).is_err());
    }
}
