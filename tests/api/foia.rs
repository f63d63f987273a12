//! FOIA in the back office (issue #13 §3): counter-interested parties and the suspension of
//! the term (with the app's clock), the decision's art. 5-bis limit, the review (riesame) to
//! the transparency officer, and the public registro degli accessi — JSON, CSV, and no
//! personal data in it.

use crate::backoffice::{act, act_ok, staff_get};
use crate::helpers::*;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};
use sportello::domain::terms::{self, Suspension, TermRule, TermUnit, WorkCalendar};

const FOIA: &str = "accesso-civico-generalizzato";
pub(crate) const OP: &str = "operatore.urp";
pub(crate) const RPCT: &str = "responsabile.trasparenza";
const GIVEN: &str = "Mario";
const FAMILY: &str = "Rossi";
const EMAIL: &str = "mario.rossi@example.org";

/// The demo citizen (with names, as SPID gives them) submits a FOIA request; returns its id.
pub(crate) async fn foia_request(app: &TestApp, data: Value) -> String {
    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .json(&json!({
            "codice_fiscale": CITIZEN_CF,
            "given_name": GIVEN,
            "family_name": FAMILY,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let id = app.ready_draft(FOIA, data).await;
    let res = app.submit(&id, None).await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    id
}

pub(crate) fn valid() -> Value {
    form_fixture(FOIA, "valid")
}

/// The term of the demo FOIA service (30 calendar days) with these suspensions.
fn due(submitted: NaiveDate, suspensions: &[Suspension]) -> NaiveDate {
    terms::due_date(
        submitted,
        TermRule {
            days: 30,
            unit: TermUnit::CalendarDays,
        },
        suspensions,
        &WorkCalendar::for_ente(Some("06-24")),
    )
    .unwrap()
}

fn due_of(v: &Value) -> NaiveDate {
    v["terms"]["due_date"].as_str().unwrap().parse().unwrap()
}

pub(crate) fn parties() -> Value {
    json!({
        "counterparties": [
            { "name": "Associazione Sportiva Esempio", "address": "Via Roma 1, 56010 Esempio", "email": "asd.esempio@example.org" },
            { "name": "Giovanna Controinteressata" },
        ],
        "text": "I dati richiesti riguardano i contributi a voi concessi.",
    })
}

fn registrations(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    use diesel::prelude::*;
    use sportello::db::schema::protocol_registrations as pr;
    pr::table
        .order(pr::number)
        .select((pr::direction, pr::subject, pr::recipient))
        .load(&mut *app.conn())
        .unwrap()
}

fn outbox_keys(app: &TestApp) -> Vec<String> {
    use diesel::prelude::*;
    use sportello::db::schema::outbox;
    outbox::table
        .order(outbox::id)
        .select(outbox::dedupe_key)
        .load(&mut *app.conn())
        .unwrap()
}

pub(crate) async fn answer(
    app: &TestApp,
    c: &reqwest::Client,
    id: &str,
    position: i32,
    body: Value,
) -> reqwest::Response {
    let (_, etag) = staff_get(app, c, id).await;
    c.post(app.url(&format!(
        "/api/v1/staff/instances/{id}/counterparties/{position}/answer"
    )))
    .header("if-match", etag)
    .json(&body)
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn counterparties_suspend_the_term_until_the_last_one_answers() {
    let app = spawn_app().await;
    let submitted_on = app.state.clock.today();
    let id = foia_request(&app, valid()).await;
    let op = app.staff_browser(OP).await;
    let v = act_ok(&app, &op, &id, "take", json!({})).await;
    assert_eq!(due_of(&v), due(submitted_on, &[]));
    assert_eq!(v["terms"]["legal_term_days"], 30);
    assert!(v["allowed_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("notify_counterparties")));
    let before = registrations(&app).len();

    // Two days in, the office notifies two parties.
    app.state.clock.advance(Duration::days(2));
    let notified_on = app.state.clock.today();
    let v = act_ok(&app, &op, &id, "counterparties", parties()).await;
    assert_eq!(v["status"], "awaiting_counterparties");
    assert_eq!(v["terms"]["suspended"], true);
    assert!(!v["allowed_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("notify_counterparties")));
    let regs = registrations(&app);
    assert_eq!(
        regs.len(),
        before + 2,
        "one outgoing registration per party"
    );
    for (dir, subject, _) in &regs[before..] {
        assert_eq!(dir, "out");
        assert!(
            subject.contains("comunicazione ai controinteressati"),
            "{subject}"
        );
    }
    assert_eq!(
        regs[before].2.as_deref(),
        Some("Associazione Sportiva Esempio – Via Roma 1, 56010 Esempio")
    );
    assert_eq!(
        regs[before + 1].2.as_deref(),
        Some("Giovanna Controinteressata")
    );
    let keys = outbox_keys(&app);
    assert!(
        keys.contains(&format!("foia-counterparty:{id}:1")),
        "{keys:?}"
    );
    assert!(
        !keys.contains(&format!("foia-counterparty:{id}:2")),
        "no address, no e-mail"
    );
    assert!(
        keys.contains(&format!("foia-counterparties:{id}")),
        "{keys:?}"
    );

    // The FOIA view: the parties for staff, only the suspension for the citizen.
    let f = app
        .get_json(&op, &format!("/api/v1/staff/instances/{id}/foia"))
        .await;
    assert_eq!(f["kind"], "generalizzato");
    assert_eq!(f["counterparties"]["notified"], 2);
    assert_eq!(f["counterparties"]["answered"], 0);
    assert_eq!(
        f["counterparties"]["answer_by"],
        (notified_on + Duration::days(10)).to_string()
    );
    assert_eq!(
        f["counterparty_list"][0]["name"],
        "Associazione Sportiva Esempio"
    );
    let mine = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{id}/foia"))
        .await;
    assert_eq!(mine["counterparties"]["notified"], 2);
    assert!(mine.get("counterparty_list").is_none(), "{mine}");
    assert!(!mine.to_string().contains("Controinteressata"));

    // Suspended: no decision now.
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = act(
        &app,
        &op,
        &id,
        "decision",
        &etag,
        json!({"outcome": "accolta", "motivation": "Dati pubblicabili."}),
    )
    .await;
    let p = assert_problem(res, 409, "transition-not-allowed").await;
    assert_eq!(p["current_status"], "awaiting_counterparties");

    // Three days later the first answers (no opposition): still suspended.
    app.state.clock.advance(Duration::days(3));
    let res = answer(
        &app,
        &op,
        &id,
        1,
        json!({"opposed": false, "text": "Nessuna opposizione."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "awaiting_counterparties");
    // The same answer again is refused.
    let res = answer(
        &app,
        &op,
        &id,
        1,
        json!({"opposed": true, "text": "Ci ripenso."}),
    )
    .await;
    assert_problem(res, 409, "conflict").await;

    // One more day: the second opposes; the term runs again from today.
    app.state.clock.advance(Duration::days(1));
    let resumed_on = app.state.clock.today();
    let res = answer(
        &app,
        &op,
        &id,
        2,
        json!({"opposed": true, "text": "Mi oppongo: i dati riguardano la mia attività."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "in_progress");
    assert_eq!(v["terms"]["suspended"], false);
    let suspension = Suspension {
        from: notified_on,
        until: Some(resumed_on),
    };
    assert_eq!(due_of(&v), due(submitted_on, &[suspension]));
    assert_eq!(v["terms"]["days_suspended"], 4);
    assert!(due_of(&v) > due(submitted_on, &[]));
    let regs = registrations(&app);
    assert_eq!(regs.len(), before + 4);
    assert_eq!(regs[before + 3].0, "in");
    assert!(regs[before + 3]
        .1
        .contains("opposizione del controinteressato"));
    let f = app
        .get_json(&op, &format!("/api/v1/staff/instances/{id}/foia"))
        .await;
    assert_eq!(f["counterparties"]["resumed_because"], "answers");
    assert_eq!(f["counterparties"]["resumed_on"], resumed_on.to_string());
    assert_eq!(f["counterparty_list"][1]["opposed"], true);
    let kinds: Vec<String> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    for k in [
        "counterparties_notified",
        "counterparty_answered",
        "counterparties_resumed",
    ] {
        assert!(kinds.contains(&k.to_owned()), "{k} in {kinds:?}");
    }
}

#[tokio::test]
async fn counterparties_silent_for_10_days_the_housekeeping_resumes_the_term_once() {
    let app = spawn_app().await;
    let submitted_on = app.state.clock.today();
    let id = foia_request(&app, valid()).await;
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    act_ok(&app, &op, &id, "counterparties", parties()).await;

    // Ten days: the last day to answer is today, nothing moves yet.
    app.state.clock.advance(Duration::days(10));
    sportello::startup::housekeeping(&app.state).await;
    let (v, _) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "awaiting_counterparties");

    // The day after, the term runs again, from that day.
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    let (v, _) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "in_progress");
    let suspension = Suspension {
        from: submitted_on,
        until: Some(submitted_on + Duration::days(11)),
    };
    assert_eq!(due_of(&v), due(submitted_on, &[suspension]));
    assert_eq!(v["terms"]["days_suspended"], 11);
    let version = v["version"].clone();
    // Idempotent: another run changes nothing.
    sportello::startup::housekeeping(&app.state).await;
    let (v, _) = staff_get(&app, &op, &id).await;
    assert_eq!(v["version"], version);
    let resumed: Vec<&Value> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "counterparties_resumed")
        .collect();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["details"]["because"], "expiry");
    // A late answer is still recorded, and the term stays as it is.
    let res = answer(
        &app,
        &op,
        &id,
        1,
        json!({"opposed": true, "text": "Opposizione tardiva."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "in_progress");
    assert_eq!(due_of(&v), due(submitted_on, &[suspension]));
}

#[tokio::test]
async fn counterparties_refused_for_wrong_role_state_service_and_input() {
    let app = spawn_app().await;
    let id = foia_request(&app, valid()).await;
    let op = app.staff_browser(OP).await;

    // Another office's operator does not even see it.
    let other = app.staff_browser("operatore.anagrafe").await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = act(&app, &other, &id, "counterparties", &etag, parties()).await;
    assert_problem(res, 404, "not-found").await;
    // The citizen has no staff session.
    let res = act(&app, &app.client, &id, "counterparties", &etag, parties()).await;
    assert!(
        matches!(res.status().as_u16(), 401 | 403),
        "{}",
        res.status()
    );
    // Not taken yet: not in this state.
    let res = act(&app, &op, &id, "counterparties", &etag, parties()).await;
    let p = assert_problem(res, 409, "transition-not-allowed").await;
    assert_eq!(p["current_status"], "submitted");

    act_ok(&app, &op, &id, "take", json!({})).await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    // Bad input: field errors, nothing changes.
    let res = act(
        &app,
        &op,
        &id,
        "counterparties",
        &etag,
        json!({"counterparties": []}),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/counterparties");
    let res = act(
        &app,
        &op,
        &id,
        "counterparties",
        &etag,
        json!({"counterparties": [{"name": " "}, {"name": "Ditta", "email": "non-una-mail"}]}),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["/counterparties/0/name", "/counterparties/1/email"]
    );
    let (v, etag2) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "in_progress");
    assert_eq!(etag2, etag);
    assert_eq!(app.count("foia_counterparties"), 0);

    // Once only.
    act_ok(&app, &op, &id, "counterparties", parties()).await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = answer(&app, &op, &id, 9, json!({"opposed": false, "text": "?"})).await;
    assert_problem(res, 404, "not-found").await;
    let res = answer(&app, &op, &id, 1, json!({"opposed": false, "text": ""})).await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/text");
    let r = answer(
        &app,
        &op,
        &id,
        1,
        json!({"opposed": false, "text": "Va bene."}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = answer(
        &app,
        &op,
        &id,
        2,
        json!({"opposed": false, "text": "Va bene."}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (_, etag) = {
        let _ = etag;
        staff_get(&app, &op, &id).await
    };
    let res = act(&app, &op, &id, "counterparties", &etag, parties()).await;
    assert_problem(res, 409, "transition-not-allowed").await;

    // A service that is not FOIA has no counter-interested parties.
    app.login_citizen(CITIZEN_CF).await;
    let res_id = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    assert_eq!(app.submit(&res_id, None).await.status(), 201);
    let anagrafe = app.staff_browser("operatore.anagrafe").await;
    let v = act_ok(&app, &anagrafe, &res_id, "take", json!({})).await;
    assert!(!v["allowed_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("notify_counterparties")));
    let (_, etag) = staff_get(&app, &anagrafe, &res_id).await;
    let res = act(&app, &anagrafe, &res_id, "counterparties", &etag, parties()).await;
    assert_problem(res, 409, "transition-not-allowed").await;
    let res = app
        .get_as(&anagrafe, &format!("/api/v1/staff/instances/{res_id}/foia"))
        .await;
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn a_foia_decision_cites_its_art_5_bis_limit_and_deferral_is_foia_only() {
    let app = spawn_app().await;
    let id = foia_request(&app, valid()).await;
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    for outcome in ["respinta", "parzialmente_accolta", "differita"] {
        let res = act(
            &app,
            &op,
            &id,
            "decision",
            &etag,
            json!({"outcome": outcome, "motivation": "Motivi."}),
        )
        .await;
        let p = assert_problem(res, 422, "validation").await;
        assert_eq!(p["errors"][0]["pointer"], "/foia_limit", "{outcome}");
        assert_eq!(
            p["errors"][0]["message"],
            "Il rifiuto, l'accoglimento parziale e il differimento devono indicare il limite \
             dell'art. 5-bis D.Lgs. 33/2013 su cui si fondano.",
            "{outcome}"
        );
    }
    // A limit outside the closed list is not read at all.
    let res = act(
        &app,
        &op,
        &id,
        "decision",
        &etag,
        json!({"outcome": "respinta", "motivation": "Motivi.", "foia_limit": "c4"}),
    )
    .await;
    assert!(
        matches!(res.status().as_u16(), 400 | 422),
        "{}",
        res.status()
    );
    let res = act(
        &app,
        &op,
        &id,
        "decision",
        &etag,
        json!({"outcome": "accolta", "motivation": "Ok.", "foia_limit": "c2_a"}),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/foia_limit");
    assert_eq!(
        p["errors"][0]["message"],
        "Un accoglimento totale non cita limiti dell'art. 5-bis: togliere il limite o \
         scegliere l'accoglimento parziale."
    );
    let (v, etag2) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "in_progress", "nothing changed");
    assert_eq!(etag, etag2);

    let v = act_ok(
        &app,
        &op,
        &id,
        "decision",
        json!({"outcome": "differita", "motivation": "Indagini in corso fino al 2027.", "foia_limit": "c1_f"}),
    )
    .await;
    assert_eq!(v["status"], "decided");
    assert_eq!(v["decision"]["outcome"], "differita");
    let f = app
        .get_json(&op, &format!("/api/v1/staff/instances/{id}/foia"))
        .await;
    assert_eq!(f["foia_limit"], "c1_f");
    assert_eq!(f["outcome"], "differita");

    // On a service that is not FOIA, neither deferral nor a limit.
    app.login_citizen(CITIZEN_CF).await;
    let res_id = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    assert_eq!(app.submit(&res_id, None).await.status(), 201);
    let anagrafe = app.staff_browser("operatore.anagrafe").await;
    act_ok(&app, &anagrafe, &res_id, "take", json!({})).await;
    let (_, etag) = staff_get(&app, &anagrafe, &res_id).await;
    let res = act(
        &app,
        &anagrafe,
        &res_id,
        "decision",
        &etag,
        json!({"outcome": "differita", "motivation": "Più tardi.", "foia_limit": "c1_a"}),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/outcome");
    let res = act(
        &app,
        &anagrafe,
        &res_id,
        "decision",
        &etag,
        json!({"outcome": "respinta", "motivation": "No.", "foia_limit": "c1_a"}),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/foia_limit");
    let v = act_ok(
        &app,
        &anagrafe,
        &res_id,
        "decision",
        json!({"outcome": "respinta", "motivation": "Requisiti mancanti."}),
    )
    .await;
    assert_eq!(v["decision"]["outcome"], "respinta");
}

pub(crate) async fn refused(app: &TestApp, op: &reqwest::Client, data: Value) -> String {
    let id = foia_request(app, data).await;
    act_ok(app, op, &id, "take", json!({})).await;
    act_ok(
        app,
        op,
        &id,
        "decision",
        json!({
            "outcome": "respinta",
            "motivation": format!("I dati riguardano il sig. {FAMILY}: tutela della riservatezza."),
            "foia_limit": "c2_a",
        }),
    )
    .await;
    id
}

pub(crate) async fn review(app: &TestApp, id: &str, reason: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/instances/{id}/review")))
        .json(&json!({ "reason": reason }))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn decide_review(
    app: &TestApp,
    c: &reqwest::Client,
    id: &str,
    body: Value,
) -> reqwest::Response {
    c.post(app.url(&format!("/api/v1/staff/foia/reviews/{id}/decision")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refused_citizen_asks_the_rpct_for_review_who_decides_within_20_days() {
    let app = spawn_app().await;
    let op = app.staff_browser(OP).await;
    let id = refused(&app, &op, valid()).await;
    let mine = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{id}/foia"))
        .await;
    assert_eq!(mine["review_ground"], "refused");
    assert!(mine["review"].is_null());

    let res = review(&app, &id, "").await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/reason");

    let asked_on = app.state.clock.today();
    let before = registrations(&app).len();
    let res = review(&app, &id, "I dati sono aggregati: nessun dato personale.").await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    let expected_due = terms::due_date(
        asked_on,
        TermRule {
            days: 20,
            unit: TermUnit::CalendarDays,
        },
        &[],
        &WorkCalendar::for_ente(Some("06-24")),
    )
    .unwrap();
    assert_eq!(v["review"]["due_date"], expected_due.to_string());
    assert_eq!(v["review"]["ground"], "refused");
    assert!(v["review"]["days_left"].as_i64().unwrap() >= 20);
    let regs = registrations(&app);
    assert_eq!(regs.len(), before + 1);
    assert_eq!(regs[before].0, "in");
    assert!(regs[before].1.contains("richiesta di riesame"));
    assert!(outbox_keys(&app).contains(&format!("foia-review:{id}")));
    // Once.
    let res = review(&app, &id, "Di nuovo.").await;
    assert_problem(res, 409, "conflict").await;

    // The office's operator is not the transparency officer.
    let body = json!({"outcome": "accolta", "motivation": "Accesso consentito: dati aggregati."});
    let res = decide_review(&app, &op, &id, body.clone()).await;
    assert_problem(res, 403, "forbidden").await;
    let res = app.get_as(&op, "/api/v1/staff/foia/reviews").await;
    assert_problem(res, 403, "forbidden").await;

    let rpct = app.staff_browser(RPCT).await;
    let list = app.get_json(&rpct, "/api/v1/staff/foia/reviews").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["instance_id"], id);
    assert_eq!(list[0]["review"]["due_date"], expected_due.to_string());
    // The officer sees the request though not an operator of its office.
    let f = app
        .get_json(&rpct, &format!("/api/v1/staff/instances/{id}/foia"))
        .await;
    assert_eq!(
        f["review"]["reason"],
        "I dati sono aggregati: nessun dato personale."
    );

    // Ten days later, within the term: confirming needs the limit.
    app.state.clock.advance(Duration::days(10));
    let res = decide_review(
        &app,
        &rpct,
        &id,
        json!({"outcome": "respinta", "motivation": "Confermo."}),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/foia_limit");
    let res = decide_review(&app, &rpct, &id, body.clone()).await;
    assert_eq!(res.status(), 200);
    let f: Value = res.json().await.unwrap();
    assert_eq!(f["review"]["outcome"], "accolta");
    assert!(f["review"]["days_left"].is_null());
    assert!(outbox_keys(&app).contains(&format!("foia-review-decision:{id}")));
    assert!(outbox_keys(&app).contains(&format!("foia-review-decision-office:{id}")));
    let res = decide_review(&app, &rpct, &id, body).await;
    assert_problem(res, 409, "conflict").await;
    let mine = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{id}/foia"))
        .await;
    assert_eq!(mine["review"]["outcome"], "accolta");
    let timeline = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{id}"))
        .await;
    let kinds: Vec<&str> = timeline["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert!(kinds.contains(&"review_requested") && kinds.contains(&"review_decided"));
}

#[tokio::test]
async fn review_is_refused_after_a_grant_and_allowed_once_the_term_passed_unanswered() {
    let app = spawn_app().await;
    let op = app.staff_browser(OP).await;
    let granted = foia_request(&app, valid()).await;
    act_ok(&app, &op, &granted, "take", json!({})).await;
    act_ok(
        &app,
        &op,
        &granted,
        "decision",
        json!({"outcome": "accolta", "motivation": "Dati trasmessi."}),
    )
    .await;
    let res = review(&app, &granted, "Perché no.").await;
    assert_problem(res, 409, "conflict").await;

    // Another request, never answered: not before the term ends …
    let silent = foia_request(&app, valid()).await;
    let res = review(&app, &silent, "Nessuna risposta.").await;
    assert_problem(res, 409, "conflict").await;
    // … and after it.
    app.state.clock.advance(Duration::days(35));
    let mine = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{silent}/foia"))
        .await;
    assert_eq!(mine["review_ground"], "no_answer");
    let res = review(&app, &silent, "Nessuna risposta nei 30 giorni.").await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["review"]["ground"], "no_answer");

    // Not a FOIA request: no review.
    app.login_citizen(CITIZEN_CF).await;
    let res_id = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    assert_eq!(app.submit(&res_id, None).await.status(), 201);
    let res = review(&app, &res_id, "Riesame.").await;
    assert_problem(res, 409, "conflict").await;
    // Someone else's request is not found.
    let other = app.citizen_browser(OTHER_CF).await;
    let res = other
        .post(app.url(&format!("/api/v1/instances/{silent}/review")))
        .json(&json!({"reason": "Mia?"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
}

async fn public_register(app: &TestApp, query: &str, accept: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/public/enti/c_x000/foia-register{query}")));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_public_register_lists_every_request_as_json_and_csv_without_personal_data() {
    let app = spawn_app().await;
    let op = app.staff_browser(OP).await;
    // 1. Refused (art. 5-bis c. 2 a), with counter-interested parties, reviewed and granted.
    let mut data = valid();
    data["oggetto_richiesta"] = json!(format!(
        "Copia della pratica edilizia di {GIVEN} {FAMILY}, codice fiscale {OTHER_CF}, scrivere a {EMAIL}."
    ));
    let first = foia_request(&app, data).await;
    act_ok(&app, &op, &first, "take", json!({})).await;
    act_ok(&app, &op, &first, "counterparties", parties()).await;
    for p in [1, 2] {
        let r = answer(
            &app,
            &op,
            &first,
            p,
            json!({"opposed": true, "text": "Mi oppongo, sono Giovanna."}),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    act_ok(
        &app,
        &op,
        &first,
        "decision",
        json!({
            "outcome": "respinta",
            "motivation": format!("Contiene dati personali di {GIVEN} {FAMILY} ({OTHER_CF})."),
            "foia_limit": "c2_a",
        }),
    )
    .await;
    let res = review(
        &app,
        &first,
        &format!("Sono {GIVEN} {FAMILY}, chiedo il riesame."),
    )
    .await;
    assert_eq!(res.status(), 201);
    let rpct = app.staff_browser(RPCT).await;
    let r = decide_review(
        &app,
        &rpct,
        &first,
        json!({"outcome": "accolta", "motivation": format!("Accesso a {GIVEN} {FAMILY} consentito.")}),
    )
    .await;
    assert_eq!(r.status(), 200);
    // 2. Granted; the office writes a subject line for the register.
    let second = foia_request(&app, valid()).await;
    act_ok(&app, &op, &second, "take", json!({})).await;
    act_ok(
        &app,
        &op,
        &second,
        "decision",
        json!({"outcome": "accolta", "motivation": format!("Gentile {FAMILY}, ecco i dati.")}),
    )
    .await;
    let put = |body: Value| {
        let op = op.clone();
        let url = app.url(&format!(
            "/api/v1/staff/instances/{second}/foia/public-subject"
        ));
        async move { op.put(url).json(&body).send().await.unwrap() }
    };
    for (subject, what) in [
        (format!("Pratica di {FAMILY}"), "nome"),
        (format!("Atti chiesti da {CITIZEN_CF}"), "codice fiscale"),
        (format!("Scrivere a {EMAIL}"), "e-mail"),
        ("ab".to_owned(), "caratteri"),
    ] {
        let p = assert_problem(put(json!({ "subject": subject })).await, 422, "validation").await;
        assert_eq!(p["errors"][0]["pointer"], "/subject");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains(what),
            "{p}"
        );
    }
    let res = put(json!({"subject": "Contributi alle associazioni sportive 2024-2025"})).await;
    assert_eq!(res.status(), 200);
    let f: Value = res.json().await.unwrap();
    assert_eq!(f["public_subject_edited"], true);
    // Another office's operator may not edit it; the RPCT may.
    let other = app.staff_browser("operatore.anagrafe").await;
    let res = other
        .put(app.url(&format!(
            "/api/v1/staff/instances/{second}/foia/public-subject"
        )))
        .json(&json!({"subject": "Altro oggetto"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    // Nor a counter-interested party's name, nor a codice fiscale glued to other text.
    for (subject, what) in [
        ("Opposizione di Giovanna", "controinteressato"),
        ("Atti cf:RSSMRA85T10A562S", "codice fiscale"),
    ] {
        let res = rpct
            .put(app.url(&format!(
                "/api/v1/staff/instances/{first}/foia/public-subject"
            )))
            .json(&json!({ "subject": subject }))
            .send()
            .await
            .unwrap();
        let p = assert_problem(res, 422, "validation").await;
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains(what),
            "{p}"
        );
    }
    let res = rpct
        .put(app.url(&format!(
            "/api/v1/staff/instances/{first}/foia/public-subject"
        )))
        .json(&json!({"subject": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // 3. Pending: an accesso documentale whose motivation names people.
    let mut data = form_fixture(FOIA, "documentale.valid");
    data["motivazione"] = json!(format!(
        "Sono {GIVEN} {FAMILY} ({CITIZEN_CF}), confinante di Giovanna, e devo valutare un ricorso."
    ));
    let third = foia_request(&app, data).await;
    let _ = third;

    let year = app.state.clock.today().format("%Y").to_string();
    let res = public_register(&app, &format!("?year={year}"), None).await;
    assert_eq!(res.status(), 200);
    let reg: Value = res.json().await.unwrap();
    assert_eq!(reg["ente"]["code"], "c_x000");
    let entries = reg["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{reg}");
    let e = &entries[0];
    assert_eq!(e["kind"], "generalizzato");
    assert_eq!(
        e["subject"],
        "Accesso civico e accesso agli atti (FOIA) – accesso civico generalizzato"
    );
    assert_eq!(e["counterparties"], true);
    assert_eq!(e["status"], "decided");
    assert_eq!(e["outcome"], "respinta");
    assert_eq!(
        e["motivation"],
        "Art. 5-bis c. 2 lett. a D.Lgs. 33/2013 – protezione dei dati personali"
    );
    assert_eq!(e["review_requested"], true);
    assert_eq!(e["review_outcome"], "accolta");
    assert_eq!(e["requested_on"], app.state.clock.today().to_string());
    assert_eq!(e["decided_on"], app.state.clock.today().to_string());
    assert_eq!(e["protocol_number"].as_str().unwrap().len(), 7);
    let e = &entries[1];
    assert_eq!(e["kind"], "generalizzato");
    assert_eq!(
        e["subject"],
        "Contributi alle associazioni sportive 2024-2025"
    );
    assert_eq!(e["outcome"], "accolta");
    assert!(e["motivation"].is_null());
    assert_eq!(e["counterparties"], false);
    assert_eq!(e["review_requested"], false);
    assert_eq!(entries[2]["kind"], "documentale");
    assert_eq!(entries[2]["status"], "pending");
    assert!(entries[2]["outcome"].is_null());

    // CSV, by Accept and by format, the documented columns.
    let res = public_register(&app, "", Some("text/csv")).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "protocol_number,kind,subject,requested_on,counterparties,status,outcome,decided_on,\
         motivation,review_requested,review_outcome,review_decided_on"
    );
    assert_eq!(lines.len(), 4);
    assert!(lines[1].contains(",generalizzato,"), "{}", lines[1]);
    assert!(lines[1].contains(",true,decided,respinta,"), "{}", lines[1]);
    assert!(lines[2].contains("Contributi alle associazioni sportive 2024-2025"));
    assert!(lines[3].contains(",documentale,"), "{}", lines[3]);
    let by_format = public_register(&app, &format!("?year={year}&format=csv"), None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(by_format, csv);

    // No personal data, in either form: no codice fiscale, name, e-mail, nor any free text
    // of the citizen, the office or the counter-interested parties.
    let json_text = reg.to_string();
    let original = valid()["oggetto_richiesta"].as_str().unwrap().to_owned();
    for (text, label) in [(&json_text, "JSON"), (&csv, "CSV")] {
        let lower = text.to_lowercase();
        for forbidden in [
            CITIZEN_CF,
            OTHER_CF,
            GIVEN,
            FAMILY,
            EMAIL,
            "@",
            "Giovanna",
            "Associazione Sportiva Esempio",
            "Copia della pratica edilizia",
            "Copia del permesso di costruire",
            "devo valutare un ricorso",
            original.as_str(),
            "Mi oppongo",
            "riesame",
            "Contiene dati personali",
            "ecco i dati",
        ] {
            assert!(
                !lower.contains(&forbidden.to_lowercase()),
                "{label} register contains «{forbidden}»: {text}"
            );
        }
    }

    // Another year is empty; a bad year is refused.
    let res = public_register(&app, "?year=2001", None).await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["entries"], json!([]));
    let res = public_register(&app, "?year=1800", None).await;
    assert_problem(res, 400, "bad-request").await;
    let res = public_register(&app, "?year=abc", None).await;
    assert_eq!(res.status(), 400);
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/public/enti/nessuno/foia-register"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn the_transparency_officer_must_be_a_staff_member_of_the_bundle() {
    let dir = tempdir();
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let path = dir.join("ente.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "transparency_officer = \"responsabile.trasparenza\"",
        "transparency_officer = \"nessuno\"",
    );
    std::fs::write(&path, text).unwrap();
    let err = sportello::bundle::Bundle::read(&dir).unwrap_err();
    assert!(
        format!("{err:#}").contains("ente.transparency_officer: `nessuno`"),
        "{err:#}"
    );
    // Without one, nobody decides reviews.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("transparency_officer = \"nessuno\"", "");
    std::fs::write(&path, text).unwrap();
    let app = spawn_empty_app_with(|_| {}).await;
    app.load_bundle(&dir);
    let rpct = app.staff_browser(RPCT).await;
    let res = app.get_as(&rpct, "/api/v1/staff/foia/reviews").await;
    assert_problem(res, 403, "forbidden").await;
}
