//! Guided forms as data: a JSON Schema (draft 2020-12) for the instance data, plus steps a
//! front-end renders one after the other. Each step owns some top-level properties of the
//! schema; labels (`title`), help (`description`) and enum labels (`x-enum-labels`) are
//! Italian annotations in the schema itself, so one file describes both the data and its UI.
//!
//! Validation errors come out as `{pointer, message}` pairs: the JSON Pointer of the field
//! and a plain Italian sentence that names the field by its label.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use jsonschema::error::ValidationErrorKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::FieldError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Top-level properties of the schema filled in this step.
    pub properties: Vec<String>,
}

/// A form definition as stored (and versioned) per service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FormDefinition {
    pub title: String,
    pub steps: Vec<Step>,
    pub schema: Value,
}

/// How far a step is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Complete,
    /// Required fields are missing, nothing present is wrong.
    Incomplete,
    /// Some value present is wrong.
    Invalid,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepState {
    pub id: String,
    pub status: StepStatus,
    pub errors: Vec<FieldError>,
}

/// One validation finding.
#[derive(Debug, Clone)]
pub struct Finding {
    pub error: FieldError,
    /// True for a missing required value (a draft may lack it; a submission may not).
    pub missing: bool,
}

impl FormDefinition {
    /// Parses and checks a definition: the schema compiles as draft 2020-12, step ids are
    /// unique, and every top-level property belongs to exactly one step.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let def: FormDefinition = serde_json::from_str(text).context("invalid form definition")?;
        def.check()?;
        Ok(def)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.steps.is_empty() {
            bail!("a form needs at least one step");
        }
        let props: BTreeSet<&str> = self
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut ids = BTreeSet::new();
        let mut owned = BTreeMap::new();
        for step in &self.steps {
            if !ids.insert(step.id.as_str()) {
                bail!("duplicate step id `{}`", step.id);
            }
            for p in &step.properties {
                if !props.contains(p.as_str()) {
                    bail!(
                        "step `{}` lists `{p}`, which the schema does not define",
                        step.id
                    );
                }
                if let Some(other) = owned.insert(p.as_str(), step.id.as_str()) {
                    bail!("property `{p}` belongs to both `{other}` and `{}`", step.id);
                }
            }
        }
        if let Some(orphan) = props.iter().find(|p| !owned.contains_key(*p)) {
            bail!("property `{orphan}` belongs to no step");
        }
        self.compile().map(|_| ())
    }

    pub fn compile(&self) -> anyhow::Result<CompiledForm> {
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&self.schema)
            .map_err(|e| {
                anyhow::anyhow!("the form schema is not valid JSON Schema 2020-12: {e}")
            })?;
        let step_of = self
            .steps
            .iter()
            .flat_map(|s| s.properties.iter().map(move |p| (p.clone(), s.id.clone())))
            .collect();
        Ok(CompiledForm {
            definition: self.clone(),
            version: 0,
            validator,
            step_of,
        })
    }
}

/// A definition with its schema compiled, ready to validate many instances.
pub struct CompiledForm {
    pub definition: FormDefinition,
    /// The stored version number (set by [`FormCache`]; 0 for a form compiled from a file).
    pub version: i32,
    validator: jsonschema::Validator,
    step_of: BTreeMap<String, String>,
}

impl std::fmt::Debug for CompiledForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledForm")
            .field("title", &self.definition.title)
            .finish_non_exhaustive()
    }
}

fn escape_pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn unescape_pointer_token(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

impl CompiledForm {
    /// Every problem of `data`, in a stable order (by pointer).
    pub fn findings(&self, data: &Value) -> Vec<Finding> {
        let mut out: Vec<Finding> = Vec::new();
        for err in self.validator.iter_errors(data) {
            let base = err.instance_path().as_str().to_owned();
            match err.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property.as_str().unwrap_or_default();
                    let pointer = format!("{base}/{}", escape_pointer_token(name));
                    let message = format!("{}: campo obbligatorio.", self.label(&pointer));
                    out.push(Finding {
                        error: FieldError::new(pointer, message),
                        missing: true,
                    });
                }
                ValidationErrorKind::AdditionalProperties { unexpected }
                | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                    for name in unexpected {
                        out.push(Finding {
                            error: FieldError::new(
                                format!("{base}/{}", escape_pointer_token(name)),
                                format!("Il campo «{name}» non è previsto da questo modulo."),
                            ),
                            missing: false,
                        });
                    }
                }
                kind => {
                    let message = format!("{}: {}", self.label(&base), self.describe(kind, &base));
                    out.push(Finding {
                        error: FieldError::new(base, message),
                        missing: false,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.error.pointer.cmp(&b.error.pointer));
        out.dedup_by(|a, b| a.error == b.error);
        out
    }

    /// The subschema describing the value at `pointer` (through `properties` and `items`).
    fn subschema(&self, pointer: &str) -> Option<&Value> {
        let mut node = &self.definition.schema;
        for token in pointer.split('/').skip(1) {
            let token = unescape_pointer_token(token);
            node = if let Some(p) = node.get("properties").and_then(|p| p.get(&token)) {
                p
            } else if token.parse::<usize>().is_ok() {
                node.get("items")?
            } else {
                return None;
            };
        }
        Some(node)
    }

    /// «Label» of a field (its schema `title`), or its pointer when it has none.
    fn label(&self, pointer: &str) -> String {
        match self
            .subschema(pointer)
            .and_then(|s| s.get("title"))
            .and_then(Value::as_str)
        {
            Some(t) => format!("«{t}»"),
            None if pointer.is_empty() => "Il modulo".to_owned(),
            None => format!("«{pointer}»"),
        }
    }

    fn enum_labels(&self, pointer: &str, options: &Value) -> String {
        let labels = self.subschema(pointer).and_then(|s| s.get("x-enum-labels"));
        let items: Vec<String> = options
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| {
                        let key = v
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string());
                        labels
                            .and_then(|l| l.get(&key))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or(key)
                    })
                    .collect()
            })
            .unwrap_or_default();
        items.join(", ")
    }

    fn describe(&self, kind: &ValidationErrorKind, pointer: &str) -> String {
        use ValidationErrorKind as K;
        match kind {
            K::Type { kind } => format!("tipo di dato non valido (atteso: {}).", type_name(kind)),
            K::MinLength { limit } => format!("deve contenere almeno {limit} caratteri."),
            K::MaxLength { limit } => format!("può contenere al massimo {limit} caratteri."),
            K::Pattern { .. } => "il formato non è valido.".to_owned(),
            K::Format { format } => match format.as_str() {
                "date" => "la data non è valida (formato AAAA-MM-GG).".to_owned(),
                "email" => "l'indirizzo e-mail non è valido.".to_owned(),
                "date-time" => "data e ora non valide.".to_owned(),
                _ => "il formato non è valido.".to_owned(),
            },
            K::Enum { options } => format!(
                "valore non ammesso; valori possibili: {}.",
                self.enum_labels(pointer, options)
            ),
            K::Constant { expected_value } if expected_value.as_bool() == Some(true) => {
                "è necessario confermare questa dichiarazione.".to_owned()
            }
            K::Constant { .. } => "valore non ammesso.".to_owned(),
            K::Minimum { limit } => format!("il valore minimo è {limit}."),
            K::Maximum { limit } => format!("il valore massimo è {limit}."),
            K::ExclusiveMinimum { limit } => format!("deve essere maggiore di {limit}."),
            K::ExclusiveMaximum { limit } => format!("deve essere minore di {limit}."),
            K::MinItems { limit } => format!("indicare almeno {limit} elementi."),
            K::MaxItems { limit } => format!("indicare al massimo {limit} elementi."),
            K::UniqueItems => "gli elementi non devono ripetersi.".to_owned(),
            K::MultipleOf { .. } => "il valore non è tra quelli ammessi.".to_owned(),
            _ => "valore non valido.".to_owned(),
        }
    }

    /// The step a pointer belongs to.
    fn step_for(&self, pointer: &str) -> Option<&str> {
        let first = pointer.split('/').nth(1).map(unescape_pointer_token)?;
        self.step_of.get(&first).map(String::as_str)
    }

    /// The state of each step for a draft.
    pub fn step_states(&self, findings: &[Finding]) -> Vec<StepState> {
        self.definition
            .steps
            .iter()
            .map(|step| {
                let mine: Vec<&Finding> = findings
                    .iter()
                    .filter(|f| self.step_for(&f.error.pointer) == Some(step.id.as_str()))
                    .collect();
                let status = if mine.iter().any(|f| !f.missing) {
                    StepStatus::Invalid
                } else if mine.is_empty() {
                    StepStatus::Complete
                } else {
                    StepStatus::Incomplete
                };
                StepState {
                    id: step.id.clone(),
                    status,
                    errors: mine.into_iter().map(|f| f.error.clone()).collect(),
                }
            })
            .collect()
    }
}

fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    use jsonschema::error::TypeKind;
    let one = |t: &jsonschema::JsonType| {
        match t.to_string().as_str() {
            "string" => "testo",
            "integer" => "numero intero",
            "number" => "numero",
            "boolean" => "sì/no",
            "array" => "elenco",
            "object" => "gruppo di campi",
            "null" => "nessun valore",
            _ => "valore",
        }
        .to_owned()
    };
    match kind {
        TypeKind::Single(t) => one(t),
        TypeKind::Multiple(set) => set.iter().map(|t| one(&t)).collect::<Vec<_>>().join(" o "),
    }
}

/// RFC 7396 JSON Merge Patch: objects merge recursively, `null` removes a member, anything
/// else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form() -> CompiledForm {
        FormDefinition::parse(
            &json!({
                "title": "Prova",
                "steps": [
                    {"id": "a", "title": "Dati", "properties": ["nome", "eta"]},
                    {"id": "b", "title": "Contatti", "properties": ["contatti", "conferma", "tipo"]}
                ],
                "schema": {
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["nome", "contatti", "conferma"],
                    "properties": {
                        "nome": {"type": "string", "title": "Nome", "minLength": 2, "maxLength": 10},
                        "eta": {"type": "integer", "title": "Età", "minimum": 0},
                        "tipo": {"enum": ["a", "b"], "title": "Tipo", "x-enum-labels": {"a": "Alfa", "b": "Beta"}},
                        "conferma": {"type": "boolean", "const": true, "title": "Conferma"},
                        "contatti": {
                            "type": "object", "title": "Contatti", "additionalProperties": false,
                            "required": ["email"],
                            "properties": {"email": {"type": "string", "format": "email", "title": "E-mail"}}
                        }
                    }
                }
            })
            .to_string(),
        )
        .unwrap()
        .compile()
        .unwrap()
    }

    #[test]
    fn valid_data_has_no_findings() {
        let f = form();
        let data =
            json!({"nome": "Mario", "contatti": {"email": "m@example.org"}, "conferma": true});
        assert!(f.findings(&data).is_empty());
        assert!(f
            .step_states(&[])
            .iter()
            .all(|s| s.status == StepStatus::Complete));
    }

    #[test]
    fn each_rule_gives_an_italian_message_at_its_pointer() {
        let f = form();
        let data = json!({
            "nome": "M", "eta": -1, "tipo": "c", "conferma": false,
            "contatti": {"email": "non-valida"}, "extra": 1
        });
        let found: Vec<(String, String)> = f
            .findings(&data)
            .into_iter()
            .map(|x| (x.error.pointer, x.error.message))
            .collect();
        let pointers: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/conferma",
                "/contatti/email",
                "/eta",
                "/extra",
                "/nome",
                "/tipo"
            ]
        );
        let msg = |p: &str| found.iter().find(|(q, _)| q == p).unwrap().1.clone();
        assert_eq!(msg("/nome"), "«Nome»: deve contenere almeno 2 caratteri.");
        assert_eq!(msg("/eta"), "«Età»: il valore minimo è 0.");
        assert_eq!(
            msg("/contatti/email"),
            "«E-mail»: l'indirizzo e-mail non è valido."
        );
        assert_eq!(
            msg("/tipo"),
            "«Tipo»: valore non ammesso; valori possibili: Alfa, Beta."
        );
        assert_eq!(
            msg("/conferma"),
            "«Conferma»: è necessario confermare questa dichiarazione."
        );
        assert!(msg("/extra").contains("non è previsto"));
    }

    #[test]
    fn missing_fields_make_a_step_incomplete_wrong_ones_invalid() {
        let f = form();
        let findings = f.findings(&json!({"nome": "Mario"}));
        assert!(findings.iter().all(|x| x.missing));
        assert_eq!(findings[0].error.message, "«Conferma»: campo obbligatorio.");
        assert_eq!(findings[1].error.message, "«Contatti»: campo obbligatorio.");
        let states = f.step_states(&findings);
        assert_eq!(states[0].status, StepStatus::Complete);
        assert_eq!(states[1].status, StepStatus::Incomplete);
        let states = f.step_states(&f.findings(&json!({"nome": 5})));
        assert_eq!(states[0].status, StepStatus::Invalid);
        assert_eq!(
            states[0].errors[0].message,
            "«Nome»: tipo di dato non valido (atteso: testo)."
        );
    }

    #[test]
    fn definitions_with_uncovered_or_unknown_properties_are_refused() {
        let bad = json!({
            "title": "x",
            "steps": [{"id": "a", "title": "A", "properties": ["uno"]}],
            "schema": {"type": "object", "properties": {"uno": {}, "due": {}}}
        });
        let e = FormDefinition::parse(&bad.to_string()).unwrap_err();
        assert!(e.to_string().contains("`due` belongs to no step"), "{e}");
        let bad = json!({
            "title": "x",
            "steps": [{"id": "a", "title": "A", "properties": ["tre"]}],
            "schema": {"type": "object", "properties": {}}
        });
        assert!(FormDefinition::parse(&bad.to_string()).is_err());
        let bad = json!({"title": "x", "steps": [{"id": "a", "title": "A", "properties": []}],
                         "schema": {"type": "nonsense"}});
        assert!(FormDefinition::parse(&bad.to_string()).is_err());
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3], "n": {"x": 1}}));
        assert_eq!(t, json!({"a": [3], "n": {"x": 1}}));
    }
}

/// Compiled forms by `form_definitions.id`. A stored version never changes, so an entry
/// never goes stale; compiling a schema once per process keeps submissions cheap.
#[derive(Debug, Default)]
pub struct FormCache {
    forms: std::sync::RwLock<std::collections::HashMap<i64, std::sync::Arc<CompiledForm>>>,
}

impl FormCache {
    pub fn get(
        &self,
        conn: &mut crate::db::DbConn,
        form_id: i64,
    ) -> anyhow::Result<std::sync::Arc<CompiledForm>> {
        use crate::db::schema::form_definitions as fd;
        use diesel::prelude::*;
        if let Some(f) = self
            .forms
            .read()
            .ok()
            .and_then(|m| m.get(&form_id).cloned())
        {
            return Ok(f);
        }
        let (text, version): (String, i32) = fd::table
            .find(form_id)
            .select((fd::definition, fd::version))
            .first(conn)?;
        let mut compiled = FormDefinition::parse(&text)?.compile()?;
        compiled.version = version;
        let compiled = std::sync::Arc::new(compiled);
        if let Ok(mut m) = self.forms.write() {
            m.insert(form_id, compiled.clone());
        }
        Ok(compiled)
    }
}
