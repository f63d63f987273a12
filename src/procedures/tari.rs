//! TARI declarations (tassa sui rifiuti, L. 147/2013 art. 1 c. 639–705): the rules of the
//! four kinds of declaration a schema cannot express, the late flag for the office and the
//! yearly estimate by the normalized method of DPR 158/1999.
//!
//! The form's members (`config/demo/forms/tari-inizio-occupazione.json`):
//! - `/dichiarazione/tipo`: `inizio_occupazione`, `variazione`, `cessazione`, `riduzione`;
//!   `/dichiarazione/riduzione`: the reduction requested, one of the ente's
//!   (`[procedure.settings] reductions`);
//! - `/utenza`: `domestica` (with `numero_occupanti`) or `non_domestica` (with
//!   `denominazione`, `partita_iva`, `codice_ateco` and the DPR 158/1999 `categoria`);
//! - `/immobile`: `tipo_immobile` (`unita_urbana`, `area_scoperta`, `non_accatastato`),
//!   address, cadastral data (L. 147/2013 c. 685: required for an urban unit), `superficie_mq`;
//! - `/occupazione`: `data_inizio`, `data_fine`, title, `residente`, owner's data.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{date, missing, text, wrong, Finding, RuleCtx, Rules};
use crate::domain::calendar;

/// One reduction the ente grants (its regulation's list).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reduction {
    pub code: String,
    pub label: String,
    /// Percent off the whole tariff (0–100).
    pub percent: f64,
}

/// Tariffs of domestic users: by number of occupants (1, 2, …, 6 or more).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomesticTariffs {
    /// Fixed part, € per m² per year (Quf · Ka(n)), for 1…6+ occupants.
    pub fixed_per_m2: Vec<f64>,
    /// Variable part, € per year (Quv · Kb(n) · Cu), for 1…6+ occupants.
    pub variable: Vec<f64>,
}

/// Tariffs of one category of non-domestic users.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryTariff {
    /// Fixed part, € per m² per year (Qapf · Kc).
    pub fixed_per_m2: f64,
    /// Variable part, € per m² per year (Cu · Kd).
    pub variable_per_m2: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariffs {
    pub domestic: DomesticTariffs,
    /// By DPR 158/1999 category code ("1" … "30").
    #[serde(default)]
    pub non_domestic: std::collections::BTreeMap<String, CategoryTariff>,
}

/// `[procedure.settings]` of a TARI service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// How many days ahead of today a start or end date may be.
    #[serde(default = "default_margin")]
    pub future_margin_days: u32,
    /// A declaration filed later than this many days after its date is flagged late.
    #[serde(default = "default_deadline")]
    pub deadline_days: u32,
    #[serde(default = "default_max_surface")]
    pub max_surface_m2: f64,
    #[serde(default = "default_max_occupants")]
    pub max_occupants: u32,
    #[serde(default)]
    pub reductions: Vec<Reduction>,
    /// Without tariffs no estimate is shown.
    #[serde(default)]
    pub tariffs: Option<Tariffs>,
}

fn default_margin() -> u32 {
    30
}
fn default_deadline() -> u32 {
    90
}
fn default_max_surface() -> f64 {
    5000.0
}
fn default_max_occupants() -> u32 {
    20
}

impl Settings {
    pub fn read(v: &Value) -> anyhow::Result<Self> {
        let s: Self = serde_json::from_value(v.clone())
            .map_err(|e| anyhow::anyhow!("procedure.settings of a tari service: {e}"))?;
        if s.future_margin_days > 366 {
            anyhow::bail!("procedure.settings.future_margin_days must be 0–366");
        }
        if !(1..=730).contains(&s.deadline_days) {
            anyhow::bail!("procedure.settings.deadline_days must be 1–730");
        }
        if !(s.max_surface_m2 > 0.0 && s.max_surface_m2 <= 1_000_000.0) {
            anyhow::bail!("procedure.settings.max_surface_m2 must be above 0 and at most 1000000");
        }
        if !(1..=100).contains(&s.max_occupants) {
            anyhow::bail!("procedure.settings.max_occupants must be 1–100");
        }
        let mut codes = std::collections::BTreeSet::new();
        for r in &s.reductions {
            if r.code.trim().is_empty() || !codes.insert(r.code.as_str()) {
                anyhow::bail!(
                    "procedure.settings.reductions: codes must be non-empty and distinct"
                );
            }
            if !(0.0..=100.0).contains(&r.percent) {
                anyhow::bail!(
                    "procedure.settings.reductions.{}: percent must be 0–100",
                    r.code
                );
            }
        }
        if let Some(t) = &s.tariffs {
            let d = &t.domestic;
            if d.fixed_per_m2.len() != 6 || d.variable.len() != 6 {
                anyhow::bail!(
                    "procedure.settings.tariffs.domestic: fixed_per_m2 and variable need 6 values (1 to 6 or more occupants)"
                );
            }
            let all = d.fixed_per_m2.iter().chain(&d.variable).chain(
                t.non_domestic
                    .values()
                    .flat_map(|c| [&c.fixed_per_m2, &c.variable_per_m2]),
            );
            if all.into_iter().any(|x| !x.is_finite() || *x < 0.0) {
                anyhow::bail!("procedure.settings.tariffs: amounts must be numbers ≥ 0");
            }
        }
        Ok(s)
    }
}

/// The VAT number's check digit (the Luhn-like rule of DM 23/12/1976): 11 digits.
pub fn partita_iva_ok(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in b[..10].iter().enumerate() {
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 {
            d
        } else {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        };
    }
    (10 - sum % 10) % 10 == u32::from(b[10] - b'0')
}

/// An ATECO activity code (ISTAT, ATECO 2007 and 2025): a two-digit division, then up to two
/// groups of one or two digits: `56`, `56.1`, `56.10`, `56.10.1`, `56.10.11`.
pub fn ateco_ok(s: &str) -> bool {
    let mut parts = s.split('.');
    let Some(div) = parts.next() else {
        return false;
    };
    if div.len() != 2 || !div.bytes().all(|c| c.is_ascii_digit()) || div == "00" {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    rest.len() <= 2
        && rest
            .iter()
            .all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()))
}

/// The TARI rules.
pub struct Tari;

fn number(data: &Value, pointer: &str) -> Option<f64> {
    data.pointer(pointer).and_then(Value::as_f64)
}

impl Rules for Tari {
    fn check(&self, ctx: &RuleCtx<'_>, data: &Value) -> Vec<Finding> {
        let mut out = Vec::new();
        let Ok(s) = Settings::read(ctx.settings) else {
            return out;
        };
        let kind = text(data, "/dichiarazione/tipo");
        let domestic = text(data, "/utenza/tipo_utenza") == Some("domestica");
        let non_domestic = text(data, "/utenza/tipo_utenza") == Some("non_domestica");

        // Dates: not in the future beyond the margin; the end after the start.
        let latest = ctx.today + Duration::days(i64::from(s.future_margin_days));
        let start = date(data, "/occupazione/data_inizio");
        let end = date(data, "/occupazione/data_fine");
        for (pointer, label, d) in [
            ("/occupazione/data_inizio", "Data di inizio", start),
            ("/occupazione/data_fine", "Data di fine", end),
        ] {
            if d.is_some_and(|d| d > latest) {
                out.push(wrong(
                    pointer,
                    format!(
                        "«{label}»: la data non può essere successiva al {} ({} giorni da oggi).",
                        latest.format("%d/%m/%Y"),
                        s.future_margin_days
                    ),
                ));
            }
        }
        if let (Some(a), Some(b)) = (start, end) {
            if b <= a {
                out.push(wrong(
                    "/occupazione/data_fine",
                    "«Data di fine»: deve essere successiva alla data di inizio dell'occupazione.",
                ));
            }
        }
        if kind == Some("cessazione")
            && end.is_none()
            && text(data, "/occupazione/data_fine").is_none()
        {
            out.push(missing(
                "/occupazione/data_fine",
                "«Data di fine»: campo obbligatorio per la cessazione dell'occupazione.",
            ));
        }

        // Cadastral data for an urban unit (L. 147/2013 art. 1 c. 685); an uncovered area or
        // a property not yet registered has none.
        if text(data, "/immobile/tipo_immobile") == Some("unita_urbana") {
            for (field, label) in [
                ("foglio", "Foglio"),
                ("particella", "Particella o mappale"),
                ("categoria", "Categoria catastale"),
            ] {
                let pointer = format!("/immobile/dati_catastali/{field}");
                if text(data, &pointer).is_none() {
                    out.push(missing(
                        &pointer,
                        format!("«{label}»: campo obbligatorio per un'unità immobiliare iscritta al catasto edilizio urbano (art. 1 c. 685 L. 147/2013)."),
                    ));
                }
            }
        }

        // Surface and occupants within sane bounds.
        if let Some(m2) = number(data, "/immobile/superficie_mq") {
            if m2 <= 0.0 || m2 > s.max_surface_m2 {
                out.push(wrong(
                    "/immobile/superficie_mq",
                    format!(
                        "«Superficie calpestabile (m²)»: deve essere maggiore di 0 e al massimo {} m².",
                        s.max_surface_m2
                    ),
                ));
            }
        }
        if let Some(n) = data.pointer("/utenza/numero_occupanti") {
            match n.as_i64() {
                Some(n) if domestic && (1..=i64::from(s.max_occupants)).contains(&n) => {}
                Some(_) if domestic => out.push(wrong(
                    "/utenza/numero_occupanti",
                    format!(
                        "«Numero degli occupanti»: indicare da 1 a {} persone.",
                        s.max_occupants
                    ),
                )),
                Some(_) if non_domestic => out.push(wrong(
                    "/utenza/numero_occupanti",
                    "«Numero degli occupanti»: si indica solo per un'utenza domestica.",
                )),
                _ => {}
            }
        }

        // The company's identifiers.
        if let Some(piva) = text(data, "/utenza/partita_iva") {
            if !partita_iva_ok(piva) {
                out.push(wrong(
                    "/utenza/partita_iva",
                    "«Partita IVA o codice fiscale numerico»: il numero non è valido (11 cifre con la cifra di controllo corretta).",
                ));
            }
        }
        if let Some(code) = text(data, "/utenza/codice_ateco") {
            if !ateco_ok(code) {
                out.push(wrong(
                    "/utenza/codice_ateco",
                    "«Codice ATECO»: il formato non è valido (ad esempio 56.10.11).",
                ));
            }
        }

        // The reduction: from the ente's list, required for a request of reduction.
        match text(data, "/dichiarazione/riduzione") {
            Some(code) if !s.reductions.iter().any(|r| r.code == code) => {
                let list = s
                    .reductions
                    .iter()
                    .map(|r| r.label.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                out.push(wrong(
                    "/dichiarazione/riduzione",
                    if list.is_empty() {
                        "«Riduzione richiesta»: il Comune non prevede riduzioni.".to_owned()
                    } else {
                        format!("«Riduzione richiesta»: non prevista dal regolamento del Comune; riduzioni possibili: {list}.")
                    },
                ));
            }
            None if kind == Some("riduzione") => out.push(missing(
                "/dichiarazione/riduzione",
                "«Riduzione richiesta»: campo obbligatorio per una richiesta di riduzione.",
            )),
            _ => {}
        }
        out
    }
}

/// The yearly estimate of the tariff (DPR 158/1999), in euros.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Estimate {
    pub fixed: f64,
    pub variable: f64,
    /// The reduction applied, percent.
    pub reduction_percent: f64,
    pub total: f64,
    /// How it was computed, in Italian.
    pub basis: String,
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The estimate of a declaration, when the ente configured tariffs and the data is enough
/// (surface; occupants of a domestic user, the category of a non-domestic one).
pub fn estimate(s: &Settings, data: &Value) -> Option<Estimate> {
    let t = s.tariffs.as_ref()?;
    let m2 =
        number(data, "/immobile/superficie_mq").filter(|m| *m > 0.0 && *m <= s.max_surface_m2)?;
    let (fixed, variable, basis) = match text(data, "/utenza/tipo_utenza")? {
        "domestica" => {
            let n = data
                .pointer("/utenza/numero_occupanti")
                .and_then(Value::as_i64)
                .filter(|n| (1..=i64::from(s.max_occupants)).contains(n))?;
            let i = usize::try_from(n.min(6) - 1).ok()?;
            let f = *t.domestic.fixed_per_m2.get(i)?;
            let v = *t.domestic.variable.get(i)?;
            (
                f * m2,
                v,
                format!("Utenza domestica, {n} occupanti, {m2} m²: quota fissa {f} €/m², quota variabile {v} €."),
            )
        }
        "non_domestica" => {
            let cat = text(data, "/utenza/categoria")?;
            let c = t.non_domestic.get(cat)?;
            (
                c.fixed_per_m2 * m2,
                c.variable_per_m2 * m2,
                format!(
                    "Utenza non domestica, categoria {cat}, {m2} m²: quota fissa {} €/m², quota variabile {} €/m².",
                    c.fixed_per_m2, c.variable_per_m2
                ),
            )
        }
        _ => return None,
    };
    let reduction = text(data, "/dichiarazione/riduzione")
        .and_then(|code| s.reductions.iter().find(|r| r.code == code))
        .map(|r| r.percent)
        .unwrap_or(0.0);
    let (fixed, variable) = (cents(fixed), cents(variable));
    Some(Estimate {
        fixed,
        variable,
        reduction_percent: reduction,
        total: cents((fixed + variable) * (100.0 - reduction) / 100.0),
        basis,
    })
}

/// For the office: whether the declaration came after the ente's deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Filing {
    /// The date the deadline counts from (start, or end for a cessazione).
    pub from: NaiveDate,
    /// The last day to declare.
    pub deadline: NaiveDate,
    pub late: bool,
    /// Days after the deadline (0 when in time).
    pub days_late: i64,
}

/// The filing's lateness, as of its submission (a draft: as of today).
pub fn filing(
    s: &Settings,
    data: &Value,
    submitted_at: Option<NaiveDateTime>,
    today: NaiveDate,
) -> Option<Filing> {
    let from = if text(data, "/dichiarazione/tipo") == Some("cessazione") {
        date(data, "/occupazione/data_fine")
    } else {
        date(data, "/occupazione/data_inizio")
    }?;
    let filed = submitted_at.map(calendar::rome_date).unwrap_or(today);
    let deadline = from.checked_add_days(chrono::Days::new(u64::from(s.deadline_days)))?;
    let days_late = (filed - deadline).num_days().max(0);
    Some(Filing {
        from,
        deadline,
        late: days_late > 0,
        days_late,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::terms::WorkCalendar;
    use crate::procedures::EnteInfo;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn settings() -> Value {
        json!({
            "future_margin_days": 10,
            "deadline_days": 90,
            "reductions": [
                { "code": "compostaggio", "label": "Compostaggio domestico", "percent": 20.0 }
            ],
            "tariffs": {
                "domestic": {
                    "fixed_per_m2": [0.80, 0.94, 1.04, 1.12, 1.20, 1.26],
                    "variable": [60.0, 110.0, 140.0, 175.0, 215.0, 250.0]
                },
                "non_domestic": { "22": { "fixed_per_m2": 4.10, "variable_per_m2": 9.20 } }
            }
        })
    }

    fn base() -> Value {
        json!({
            "dichiarazione": { "tipo": "inizio_occupazione" },
            "utenza": { "tipo_utenza": "domestica", "numero_occupanti": 3 },
            "immobile": { "superficie_mq": 84.5 },
            "occupazione": { "data_inizio": "2026-11-01" }
        })
    }

    fn check(data: &Value, s: &Value) -> Vec<(String, String, bool)> {
        let e = EnteInfo {
            id: 1,
            name: "x".into(),
            calendar: WorkCalendar::default(),
        };
        let ctx = RuleCtx {
            today: d("2026-12-03"),
            settings: s,
            attachments: &[],
            ente: &e,
        };
        Tari.check(&ctx, data)
            .into_iter()
            .map(|f| (f.error.pointer, f.error.message, f.missing))
            .collect()
    }

    #[test]
    fn vat_numbers_and_ateco_codes() {
        assert!(partita_iva_ok("12345678903"));
        assert!(partita_iva_ok("00000000000"));
        assert!(!partita_iva_ok("12345678901"));
        assert!(!partita_iva_ok("1234567890"));
        assert!(!partita_iva_ok("1234567890a"));
        for ok in ["56", "56.1", "56.10", "56.10.1", "56.10.11", "01.11.00"] {
            assert!(ateco_ok(ok), "{ok}");
        }
        for bad in ["5", "561", "56.", "56.101", "56.10.11.1", "AB.10", "00", ""] {
            assert!(!ateco_ok(bad), "{bad}");
        }
    }

    #[test]
    fn a_complete_declaration_passes() {
        assert_eq!(check(&base(), &settings()), vec![]);
    }

    #[test]
    fn dates_are_not_too_far_ahead_and_end_after_start() {
        let mut v = base();
        v["occupazione"]["data_inizio"] = json!("2026-12-14");
        let f = check(&v, &settings());
        assert_eq!(f[0].0, "/occupazione/data_inizio");
        assert_eq!(
            f[0].1,
            "«Data di inizio»: la data non può essere successiva al 13/12/2026 (10 giorni da oggi)."
        );
        v["occupazione"]["data_inizio"] = json!("2026-12-13");
        assert_eq!(check(&v, &settings()), vec![]);
        let mut v = base();
        v["dichiarazione"]["tipo"] = json!("cessazione");
        let f = check(&v, &settings());
        assert_eq!((f[0].0.as_str(), f[0].2), ("/occupazione/data_fine", true));
        v["occupazione"]["data_fine"] = json!("2026-10-31");
        let f = check(&v, &settings());
        assert_eq!(f[0].0, "/occupazione/data_fine");
        assert!(f[0].1.contains("successiva alla data di inizio"));
        assert!(!f[0].2);
    }

    #[test]
    fn an_urban_unit_gives_its_cadastral_data_an_uncovered_area_does_not() {
        let mut v = base();
        v["immobile"]["tipo_immobile"] = json!("unita_urbana");
        v["immobile"]["dati_catastali"] = json!({ "foglio": "12" });
        let f = check(&v, &settings());
        let p: Vec<_> = f.iter().map(|x| (x.0.as_str(), x.2)).collect();
        assert_eq!(
            p,
            [
                ("/immobile/dati_catastali/particella", true),
                ("/immobile/dati_catastali/categoria", true)
            ]
        );
        assert_eq!(f[0].1, "«Particella o mappale»: campo obbligatorio per un'unità immobiliare iscritta al catasto edilizio urbano (art. 1 c. 685 L. 147/2013).");
        v["immobile"]["tipo_immobile"] = json!("area_scoperta");
        assert!(check(&v, &settings()).is_empty());
        v["immobile"]["dati_catastali"] =
            json!({ "foglio": "12", "particella": "345", "categoria": "A/2" });
        v["immobile"]["tipo_immobile"] = json!("unita_urbana");
        assert!(check(&v, &settings()).is_empty());
    }

    #[test]
    fn surface_occupants_and_company_data() {
        let mut v = base();
        v["immobile"]["superficie_mq"] = json!(9000);
        v["utenza"]["numero_occupanti"] = json!(0);
        let f = check(&v, &settings());
        let p: Vec<_> = f.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(p, ["/immobile/superficie_mq", "/utenza/numero_occupanti"]);
        let mut v = base();
        v["utenza"] = json!({
            "tipo_utenza": "non_domestica", "partita_iva": "12345678901", "codice_ateco": "56-10"
        });
        let f = check(&v, &settings());
        let p: Vec<_> = f.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(p, ["/utenza/partita_iva", "/utenza/codice_ateco"]);
    }

    #[test]
    fn reductions_come_from_the_entes_list() {
        let mut v = base();
        v["dichiarazione"] = json!({ "tipo": "riduzione" });
        let f = check(&v, &settings());
        assert_eq!(
            (f[0].0.as_str(), f[0].2),
            ("/dichiarazione/riduzione", true)
        );
        v["dichiarazione"]["riduzione"] = json!("nonna");
        let f = check(&v, &settings());
        assert!(f[0].1.contains("Compostaggio domestico"), "{f:?}");
        v["dichiarazione"]["riduzione"] = json!("compostaggio");
        assert_eq!(check(&v, &settings()), vec![]);
    }

    #[test]
    fn the_estimate_follows_the_normalized_method() {
        let s = Settings::read(&settings()).unwrap();
        let e = estimate(&s, &base()).unwrap();
        // 3 occupants: 1.04 €/m² × 84.5 m² = 87.88 + 140.
        assert_eq!((e.fixed, e.variable, e.total), (87.88, 140.0, 227.88));
        let mut v = base();
        v["utenza"]["numero_occupanti"] = json!(9);
        v["dichiarazione"]["riduzione"] = json!("compostaggio");
        let e = estimate(&s, &v).unwrap();
        assert_eq!((e.fixed, e.variable, e.total), (106.47, 250.0, 285.18));
        let v = json!({
            "utenza": { "tipo_utenza": "non_domestica", "categoria": "22" },
            "immobile": { "superficie_mq": 100 }
        });
        let e = estimate(&s, &v).unwrap();
        assert_eq!((e.fixed, e.variable, e.total), (410.0, 920.0, 1330.0));
        // No tariffs, no estimate; not enough data, none either.
        let none = Settings::read(&json!({})).unwrap();
        assert_eq!(estimate(&none, &base()), None);
        assert_eq!(
            estimate(&s, &json!({ "utenza": { "tipo_utenza": "domestica" } })),
            None
        );
        assert!(Settings::read(
            &json!({"tariffs": {"domestic": {"fixed_per_m2": [1], "variable": [1]}}})
        )
        .is_err());
    }

    #[test]
    fn late_filings_are_flagged() {
        let s = Settings::read(&settings()).unwrap();
        let at = |x: &str| d(x).and_hms_opt(10, 0, 0).unwrap();
        let f = filing(&s, &base(), Some(at("2027-01-30")), d("2027-01-30")).unwrap();
        assert_eq!(f.deadline, d("2027-01-30"));
        assert!(!f.late);
        let f = filing(&s, &base(), Some(at("2027-02-02")), d("2027-03-01")).unwrap();
        assert!(f.late);
        assert_eq!(f.days_late, 3);
    }
}
