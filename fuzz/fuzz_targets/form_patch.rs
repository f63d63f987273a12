//! A draft's life as `PATCH /api/v1/instances/{id}` sees it: a stored draft, a JSON merge
//! patch from the citizen (`merge_patch`, RFC 7396), then the validation of the result
//! against a real form (`findings`, `step_states`), the demo "cambio di residenza" form.
//!
//! Input: `draft JSON`, a NUL byte, `patch JSON` (NUL cannot occur in JSON text, so the split
//! is unambiguous); without a NUL the whole input is the patch of an empty draft. Properties:
//! - applying the same patch twice gives what applying it once gave (RFC 7396 patches are
//!   idempotent);
//! - the result has every member the patch sets, none the patch nulls, and every member of
//!   the draft the patch does not name;
//! - findings are sorted by pointer, each a JSON Pointer, without duplicates; each step's
//!   state agrees with its errors, which are findings of that step.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use sportello::catalog::forms::{merge_patch, CompiledForm, FormDefinition, StepStatus};

const FORM: &str = include_str!("../../config/demo/forms/cambio-di-residenza.json");

fn form() -> &'static CompiledForm {
    static FORM_COMPILED: OnceLock<CompiledForm> = OnceLock::new();
    FORM_COMPILED.get_or_init(|| {
        FormDefinition::parse(FORM)
            .and_then(|d| d.compile())
            .expect("the demo form compiles")
    })
}

/// What RFC 7396 says the result of `patch` on `draft` holds.
fn check_merged(draft: &Value, patch: &Value, merged: &Value) {
    let Value::Object(p) = patch else {
        assert_eq!(merged, patch, "a non-object patch replaces the target");
        return;
    };
    let Value::Object(m) = merged else {
        panic!("an object patch gave a non-object: {merged}");
    };
    let empty = Map::new();
    let d = draft.as_object().unwrap_or(&empty);
    for (k, v) in p {
        match (v, m.get(k)) {
            (Value::Null, None) => {}
            (Value::Null, Some(left)) => panic!("member {k:?} nulled by the patch left as {left}"),
            (_, None) => panic!("member {k:?} set by the patch is missing"),
            (_, Some(got)) => check_merged(d.get(k).unwrap_or(&Value::Null), v, got),
        }
    }
    for (k, v) in d {
        if !p.contains_key(k) {
            assert_eq!(m.get(k), Some(v), "member {k:?} not in the patch changed");
        }
    }
    let keys = d
        .keys()
        .chain(p.keys())
        .collect::<std::collections::BTreeSet<_>>();
    let nulled = p
        .iter()
        .filter(|(k, v)| v.is_null() && !m.contains_key(*k))
        .count();
    assert_eq!(
        m.len() + nulled,
        keys.len(),
        "members appeared from nowhere"
    );
}

fuzz_target!(|data: &[u8]| {
    let (draft, patch) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"{}"[..], data),
    };
    let (Ok(draft), Ok(patch)) = (
        serde_json::from_slice::<Value>(draft),
        serde_json::from_slice::<Value>(patch),
    ) else {
        return;
    };

    let mut once = draft.clone();
    merge_patch(&mut once, &patch);
    check_merged(&draft, &patch, &once);
    let mut twice = once.clone();
    merge_patch(&mut twice, &patch);
    assert_eq!(once, twice, "the patch is not idempotent");

    let form = form();
    let findings = form.findings(&once);
    for pair in findings.windows(2) {
        assert!(
            pair[0].error.pointer <= pair[1].error.pointer,
            "findings out of order"
        );
    }
    for (i, f) in findings.iter().enumerate() {
        let p = &f.error.pointer;
        assert!(
            p.is_empty() || p.starts_with('/'),
            "not a JSON Pointer: {p:?}"
        );
        assert!(!f.error.message.is_empty());
        assert!(
            !findings[..i].iter().any(|g| g.error == f.error),
            "duplicate finding {:?}",
            f.error
        );
    }
    let states = form.step_states(&findings);
    assert_eq!(states.len(), form.definition.steps.len());
    for (state, step) in states.iter().zip(&form.definition.steps) {
        assert_eq!(state.id, step.id);
        let mine: Vec<_> = findings
            .iter()
            .filter(|f| state.errors.contains(&f.error))
            .collect();
        assert_eq!(
            mine.len(),
            state.errors.len(),
            "a step error that is no finding"
        );
        let expected = if mine.iter().any(|f| !f.missing) {
            StepStatus::Invalid
        } else if mine.is_empty() {
            StepStatus::Complete
        } else {
            StepStatus::Incomplete
        };
        assert_eq!(
            state.status, expected,
            "step {} in the wrong state",
            step.id
        );
    }
});
