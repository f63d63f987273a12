//! The form rules of access requests: accesso civico semplice (D.Lgs. 33/2013 art. 5 c. 1),
//! generalizzato (art. 5 c. 2) and accesso documentale (L. 241/1990 art. 22). Only the form:
//! the office's side (counter-interested parties, decision, riesame, the register) is in the
//! back office.
//!
//! The form's members (`config/demo/forms/accesso-civico-generalizzato.json`):
//! `/tipo_accesso` (`semplice`, `generalizzato`, `documentale`), `/oggetto_richiesta`,
//! `/motivazione`, `/consegna/modalita` (`copia_elettronica`, `copia_cartacea_ritiro`,
//! `copia_cartacea_posta`, `visione`).

use serde::Deserialize;
use serde_json::Value;

use super::{missing, text, wrong, Finding, RuleCtx, Rules};

/// `[procedure.settings]` of an access service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The fewest characters of a documentale request's motivation.
    #[serde(default = "default_min_motivation")]
    pub min_motivation_chars: u32,
}

fn default_min_motivation() -> u32 {
    30
}

impl Settings {
    pub fn read(v: &Value) -> anyhow::Result<Self> {
        let s: Self = serde_json::from_value(v.clone())
            .map_err(|e| anyhow::anyhow!("procedure.settings of a foia service: {e}"))?;
        if !(1..=2000).contains(&s.min_motivation_chars) {
            anyhow::bail!("procedure.settings.min_motivation_chars must be 1–2000");
        }
        Ok(s)
    }
}

/// The kind of access requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    Semplice,
    Generalizzato,
    Documentale,
}

impl AccessKind {
    /// As written in the form's `/tipo_accesso`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Semplice => "semplice",
            Self::Generalizzato => "generalizzato",
            Self::Documentale => "documentale",
        }
    }

    /// The kind an instance's data asks for (the form's `/tipo_accesso`).
    pub fn of(data: &Value) -> Option<Self> {
        match text(data, "/tipo_accesso")? {
            "semplice" => Some(Self::Semplice),
            "generalizzato" => Some(Self::Generalizzato),
            "documentale" => Some(Self::Documentale),
            _ => None,
        }
    }
}

/// The access rules.
pub struct Foia;

impl Rules for Foia {
    fn check(&self, ctx: &RuleCtx<'_>, data: &Value) -> Vec<Finding> {
        let mut out = Vec::new();
        let Ok(s) = Settings::read(ctx.settings) else {
            return out;
        };
        if AccessKind::of(data) == Some(AccessKind::Documentale) {
            match text(data, "/motivazione") {
                None => out.push(missing(
                    "/motivazione",
                    "«Motivazione»: campo obbligatorio per l'accesso documentale: indicare l'interesse diretto, concreto e attuale e la situazione giuridicamente tutelata collegata ai documenti (art. 22 L. 241/1990).",
                )),
                Some(m) if m.chars().count() < s.min_motivation_chars as usize => {
                    out.push(wrong(
                        "/motivazione",
                        format!(
                            "«Motivazione»: troppo breve (almeno {} caratteri): descrivere l'interesse diretto, concreto e attuale che si intende tutelare.",
                            s.min_motivation_chars
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::terms::WorkCalendar;
    use crate::procedures::EnteInfo;
    use serde_json::json;

    fn check(data: &Value) -> Vec<(String, String, bool)> {
        let e = EnteInfo {
            id: 1,
            name: "x".into(),
            calendar: WorkCalendar::default(),
        };
        let ctx = RuleCtx {
            today: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
            settings: &json!({}),
            attachments: &[],
            ente: &e,
        };
        Foia.check(&ctx, data)
            .into_iter()
            .map(|f| (f.error.pointer, f.error.message, f.missing))
            .collect()
    }

    #[test]
    fn only_documentale_access_needs_a_motivation() {
        for kind in ["semplice", "generalizzato"] {
            assert_eq!(check(&json!({ "tipo_accesso": kind })), vec![], "{kind}");
        }
        let f = check(&json!({ "tipo_accesso": "documentale" }));
        assert_eq!((f[0].0.as_str(), f[0].2), ("/motivazione", true));
        assert!(f[0].1.contains("interesse diretto, concreto e attuale"));
        let f = check(&json!({ "tipo_accesso": "documentale", "motivazione": "Mi serve." }));
        assert_eq!((f[0].0.as_str(), f[0].2), ("/motivazione", false));
        assert!(
            f[0].1.contains("troppo breve (almeno 30 caratteri)"),
            "{f:?}"
        );
        for k in [
            AccessKind::Semplice,
            AccessKind::Generalizzato,
            AccessKind::Documentale,
        ] {
            assert_eq!(
                AccessKind::of(&json!({ "tipo_accesso": k.as_str() })),
                Some(k)
            );
        }
        assert_eq!(AccessKind::of(&json!({ "tipo_accesso": "altro" })), None);
        let ok = "Sono confinante del lotto e devo valutare un ricorso contro il permesso.";
        assert_eq!(
            check(&json!({ "tipo_accesso": "documentale", "motivazione": ok })),
            vec![]
        );
        assert!(Settings::read(&json!({ "min_motivation_chars": 0 })).is_err());
    }
}
