//! Routing rules as data: an ordered list of `{when: <JSON Pointer>, equals|in: values,
//! office}`; the first rule whose pointer's value is one of its values wins, otherwise the
//! default office. The rule that matched is recorded in the instance history.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rules as stored on the service, with offices resolved to ids.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Routing {
    pub default_office_id: Option<i64>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    /// JSON Pointer into the instance data.
    pub when: String,
    /// The rule matches when the value there equals one of these.
    pub values: Vec<Value>,
    pub office_id: i64,
    pub office_code: String,
}

/// Where an instance goes and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDecision {
    pub office_id: i64,
    /// 1-based index of the matching rule; None when the default office was used.
    pub rule: Option<usize>,
    pub reason: String,
}

impl Routing {
    pub fn route(&self, data: &Value, fallback_office_id: i64) -> RouteDecision {
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(v) = data.pointer(&rule.when) {
                if rule.values.contains(v) {
                    return RouteDecision {
                        office_id: rule.office_id,
                        rule: Some(i + 1),
                        reason: format!(
                            "regola {}: {} = {} → ufficio {}",
                            i + 1,
                            rule.when,
                            v,
                            rule.office_code
                        ),
                    };
                }
            }
        }
        RouteDecision {
            office_id: self.default_office_id.unwrap_or(fallback_office_id),
            rule: None,
            reason: "nessuna regola applicabile: ufficio predefinito del servizio".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Routing {
        Routing {
            default_office_id: Some(1),
            rules: vec![
                Rule {
                    when: "/ufficio".into(),
                    values: vec![json!("tributi")],
                    office_id: 2,
                    office_code: "tributi".into(),
                },
                Rule {
                    when: "/ambito".into(),
                    values: vec![json!("anagrafe"), json!("stato_civile")],
                    office_id: 3,
                    office_code: "anagrafe".into(),
                },
                Rule {
                    when: "/ufficio".into(),
                    values: vec![json!("tributi"), json!("urp")],
                    office_id: 4,
                    office_code: "urp".into(),
                },
            ],
        }
    }

    #[test]
    fn first_match_wins() {
        let d = rules().route(&json!({"ufficio": "tributi"}), 9);
        assert_eq!((d.office_id, d.rule), (2, Some(1)));
        let d = rules().route(&json!({"ufficio": "urp"}), 9);
        assert_eq!((d.office_id, d.rule), (4, Some(3)));
        let d = rules().route(&json!({"ambito": "stato_civile", "ufficio": "urp"}), 9);
        assert_eq!((d.office_id, d.rule), (3, Some(2)));
    }

    #[test]
    fn default_office_when_nothing_matches() {
        let d = rules().route(&json!({"ufficio": "altro"}), 9);
        assert_eq!((d.office_id, d.rule), (1, None));
        let d = Routing::default().route(&json!({}), 9);
        assert_eq!(d.office_id, 9);
    }
}
