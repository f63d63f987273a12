//! The citizen's satisfaction rating of a service, as in the Designers Italia rating
//! component: 1–5 stars, then one reason picked from a list that depends on the stars (what
//! went wrong for 1–3, what went well for 4–5), then an optional short comment.
//!
//! Pure: the reasons, their Italian labels, and when an instance may be rated.

use serde::{Deserialize, Serialize};

use super::{FieldError, InstanceStatus};

/// The longest comment, in characters (the database checks it too).
pub const MAX_COMMENT_CHARS: usize = 200;

/// Why the citizen gave the stars they gave. Stored as its [`as_str`](Self::as_str) slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // 1–3 stars.
    IstruzioniPocoChiare,
    TempiLunghi,
    DifficoltaTecniche,
    // 4–5 stars.
    IstruzioniChiare,
    TempiRapidi,
    FacileDaUsare,
    // Either.
    Altro,
}

impl Reason {
    /// Every reason, in the order published.
    pub const ALL: [Self; 7] = [
        Self::IstruzioniPocoChiare,
        Self::TempiLunghi,
        Self::DifficoltaTecniche,
        Self::IstruzioniChiare,
        Self::TempiRapidi,
        Self::FacileDaUsare,
        Self::Altro,
    ];

    const LOW: [Self; 4] = [
        Self::IstruzioniPocoChiare,
        Self::TempiLunghi,
        Self::DifficoltaTecniche,
        Self::Altro,
    ];

    const HIGH: [Self; 4] = [
        Self::IstruzioniChiare,
        Self::TempiRapidi,
        Self::FacileDaUsare,
        Self::Altro,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IstruzioniPocoChiare => "istruzioni_poco_chiare",
            Self::TempiLunghi => "tempi_lunghi",
            Self::DifficoltaTecniche => "difficolta_tecniche",
            Self::IstruzioniChiare => "istruzioni_chiare",
            Self::TempiRapidi => "tempi_rapidi",
            Self::FacileDaUsare => "facile_da_usare",
            Self::Altro => "altro",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// As the citizen reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::IstruzioniPocoChiare => "A volte le indicazioni non erano chiare",
            Self::TempiLunghi => "I tempi sono stati lunghi",
            Self::DifficoltaTecniche => "Ho avuto problemi tecnici",
            Self::IstruzioniChiare => "Le indicazioni erano chiare",
            Self::TempiRapidi => "I tempi sono stati rapidi",
            Self::FacileDaUsare => "Il servizio è facile da usare",
            Self::Altro => "Altro",
        }
    }

    /// The reasons offered for a number of stars (none outside 1–5).
    pub fn allowed_for(stars: i32) -> &'static [Self] {
        match stars {
            1..=3 => &Self::LOW,
            4 | 5 => &Self::HIGH,
            _ => &[],
        }
    }
}

/// A rating as the citizen sent it, checked: 1–5 stars, a reason offered for those stars, a
/// comment of at most [`MAX_COMMENT_CHARS`] characters (blank is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rating {
    stars: i32,
    reason: Reason,
    comment: Option<String>,
}

impl Rating {
    /// Every wrong field is reported, each with its JSON Pointer and an Italian message.
    pub fn parse(stars: i64, reason: &str, comment: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let stars = match i32::try_from(stars) {
            Ok(s) if (1..=5).contains(&s) => Some(s),
            _ => {
                errors.push(FieldError::new(
                    "/stars",
                    "«Valutazione»: indicare da 1 a 5 stelle.",
                ));
                None
            }
        };
        let reason = match (stars, Reason::parse(reason)) {
            (Some(s), Some(r)) if Reason::allowed_for(s).contains(&r) => Some(r),
            (Some(s), _) => {
                errors.push(FieldError::new(
                    "/reason",
                    format!(
                        "«Motivo»: valore non ammesso per {s} stelle; valori possibili: {}.",
                        Reason::allowed_for(s)
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
                None
            }
            (None, _) => None,
        };
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
            errors.push(FieldError::new(
                "/comment",
                format!("«Commento»: al massimo {MAX_COMMENT_CHARS} caratteri."),
            ));
        }
        match (stars, reason) {
            (Some(stars), Some(reason)) if errors.is_empty() => Ok(Self {
                stars,
                reason,
                comment: comment.map(str::to_owned),
            }),
            _ => Err(errors),
        }
    }

    pub fn stars(&self) -> i32 {
        self.stars
    }

    pub fn reason(&self) -> Reason {
        self.reason
    }

    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
}

/// An instance may be rated once the office has answered: decided, closed, or granted by
/// silence.
pub fn may_be_rated(status: InstanceStatus) -> bool {
    matches!(
        status,
        InstanceStatus::Decided | InstanceStatus::Closed | InstanceStatus::SilenceAssent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_depend_on_the_stars() {
        for stars in 1..=3 {
            assert_eq!(
                Reason::allowed_for(stars)
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>(),
                [
                    "istruzioni_poco_chiare",
                    "tempi_lunghi",
                    "difficolta_tecniche",
                    "altro"
                ]
            );
        }
        for stars in 4..=5 {
            assert_eq!(
                Reason::allowed_for(stars)
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>(),
                [
                    "istruzioni_chiare",
                    "tempi_rapidi",
                    "facile_da_usare",
                    "altro"
                ]
            );
        }
        assert!(Reason::allowed_for(0).is_empty());
        assert!(Reason::allowed_for(6).is_empty());
    }

    #[test]
    fn every_reason_has_a_slug_and_an_italian_label() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::Value::from(r.as_str())
            );
            assert!(!r.label().is_empty());
        }
        assert_eq!(Reason::parse("Altro"), None);
    }

    #[test]
    fn a_rating_is_checked_whole() {
        let ok = Rating::parse(2, "tempi_lunghi", Some("  Troppa attesa.  ")).unwrap();
        assert_eq!(
            (ok.stars(), ok.reason(), ok.comment()),
            (2, Reason::TempiLunghi, Some("Troppa attesa."))
        );
        assert_eq!(
            Rating::parse(5, "altro", Some("   ")).unwrap().comment(),
            None
        );
        // A reason of the other group.
        let e = Rating::parse(5, "tempi_lunghi", None).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].pointer, "/reason");
        assert!(
            e[0].message.contains("istruzioni_chiare"),
            "{}",
            e[0].message
        );
        let e = Rating::parse(0, "altro", None).unwrap_err();
        assert_eq!(e[0].pointer, "/stars");
        let e = Rating::parse(6, "nessuno", Some(&"è".repeat(201))).unwrap_err();
        let pointers: Vec<_> = e.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(pointers, ["/stars", "/comment"]);
        // 200 characters (not bytes) are fine.
        assert!(Rating::parse(4, "facile_da_usare", Some(&"è".repeat(200))).is_ok());
        assert!(Rating::parse(i64::MAX, "altro", None).is_err());
    }

    #[test]
    fn only_answered_instances_may_be_rated() {
        let rated: Vec<_> = InstanceStatus::ALL
            .into_iter()
            .filter(|s| may_be_rated(*s))
            .collect();
        assert_eq!(
            rated,
            [
                InstanceStatus::Decided,
                InstanceStatus::Closed,
                InstanceStatus::SilenceAssent
            ]
        );
    }
}
