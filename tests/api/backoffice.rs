//! The back office end to end: office staff take, integrate, decide and close; the citizen
//! answers and withdraws; ETag/If-Match; roles; terms with the app's clock; the daily job.

use crate::helpers::*;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

const OP: &str = "operatore.anagrafe";
const OP2: &str = "operatore2.anagrafe";

pub const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

/// A staff browser's view of an instance, with its ETag.
pub async fn staff_get(app: &TestApp, c: &reqwest::Client, id: &str) -> (Value, String) {
    let res = app
        .get_as(c, &format!("/api/v1/staff/instances/{id}"))
        .await;
    assert_eq!(res.status(), 200, "staff view");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let v: Value = res.json().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", v["version"]));
    (v, etag)
}

/// A staff action with `If-Match`.
pub async fn act(
    app: &TestApp,
    c: &reqwest::Client,
    id: &str,
    action: &str,
    etag: &str,
    body: Value,
) -> reqwest::Response {
    c.post(app.url(&format!("/api/v1/staff/instances/{id}/{action}")))
        .header("if-match", etag)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Acts with the current ETag and expects 200; returns the new view.
pub async fn act_ok(
    app: &TestApp,
    c: &reqwest::Client,
    id: &str,
    action: &str,
    body: Value,
) -> Value {
    let (_, etag) = staff_get(app, c, id).await;
    let res = act(app, c, id, action, &etag, body).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "{action}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn residence_for(email: &str) -> Value {
    let mut data = form_fixture("cambio-di-residenza", "valid");
    data["contatti"]["email"] = json!(email);
    data
}

/// The demo citizen submits a change of residence; returns the instance id.
async fn submitted(app: &TestApp, email: &str) -> String {
    app.login_citizen(CITIZEN_CF).await;
    let id = app
        .ready_draft("cambio-di-residenza", residence_for(email))
        .await;
    let res = app.submit(&id, None).await;
    assert_eq!(res.status(), 201);
    id
}

pub async fn upload_doc(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
    name: &str,
    bytes: &[u8],
) -> Value {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    );
    let res = c.post(app.url(path)).multipart(form).send().await.unwrap();
    assert_eq!(res.status(), 201, "upload {path}");
    res.json().await.unwrap()
}

fn registrations(app: &TestApp) -> Vec<(i64, String, String, Option<String>)> {
    use diesel::prelude::*;
    use sportello::db::schema::protocol_registrations as pr;
    pr::table
        .order(pr::number)
        .select((pr::number, pr::direction, pr::subject, pr::recipient))
        .load(&mut *app.conn())
        .unwrap()
}

#[tokio::test]
async fn take_integrate_answer_decide_and_close_with_every_registration_and_mail() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    let id = submitted(&app, "cittadino.pratica@example.org").await;
    let op = app.staff_browser(OP).await;

    // The screen: everything in one call, and what may be done.
    let (v, etag) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "submitted");
    assert_eq!(v["applicant"]["codice_fiscale"], CITIZEN_CF);
    assert_eq!(v["office"]["code"], "anagrafe");
    assert!(v["document_digest"].as_str().unwrap().len() == 64);
    assert!(!v["steps"].as_array().unwrap().is_empty());
    assert!(v["steps"][0]["fields"][0]["label"].as_str().is_some());
    assert_eq!(v["registrations"].as_array().unwrap().len(), 1);
    assert_eq!(v["terms"]["legal_term_days"], 45);
    assert!(v["allowed_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("take")));
    assert!(!v["allowed_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("decide")));

    // Take.
    let res = act(&app, &op, &id, "take", &etag, json!({})).await;
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "in_progress");
    assert_eq!(v["assignee"]["username"], OP);

    // Request for integration with an office document.
    let doc = upload_doc(
        &app,
        &op,
        &format!("/api/v1/staff/instances/{id}/documents"),
        "modulo.pdf",
        PDF,
    )
    .await;
    let v = act_ok(
        &app,
        &op,
        &id,
        "integration-request",
        json!({
            "text": "Manca la copia del contratto di locazione.",
            "days": 10,
            "fields": ["contratto_registrazione"],
            "documents": [doc["id"]],
        }),
    )
    .await;
    assert_eq!(v["status"], "awaiting_integration");
    assert_eq!(v["terms"]["suspended"], true);
    assert_eq!(v["integration"]["days"], 10);

    // The citizen sees it and answers with data and a document.
    let citizen = &app.client;
    let mine = app
        .get_json(citizen, &format!("/api/v1/me/instances/{id}"))
        .await;
    assert_eq!(mine["status"], "awaiting_integration");
    assert_eq!(
        mine["integration"]["text"],
        "Manca la copia del contratto di locazione."
    );
    assert_eq!(
        mine["allowed_actions"],
        json!(["withdraw", "answer_integration"])
    );
    let office_doc = &mine["messages"][0]["documents"][0];
    assert_eq!(office_doc["filename"], "modulo.pdf");
    let res = app
        .get_as(citizen, office_doc["download_url"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);
    let answer_doc = upload_doc(
        &app,
        citizen,
        &format!("/api/v1/instances/{id}/documents"),
        "contratto.pdf",
        PDF,
    )
    .await;
    let res = citizen
        .post(app.url(&format!("/api/v1/instances/{id}/integration")))
        .json(&json!({
            "text": "Allego il contratto.",
            "data": { "contratto_registrazione": "Reg. a Pisa il 01/02/2026 n. 1234" },
            "documents": [answer_doc["id"]],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mine: Value = res.json().await.unwrap();
    assert_eq!(mine["status"], "in_progress");
    assert!(mine["integration"]["answer_digest"].as_str().is_some());

    // Decide with a reply PDF.
    let reply = upload_doc(
        &app,
        &op,
        &format!("/api/v1/staff/instances/{id}/documents"),
        "provvedimento.pdf",
        PDF,
    )
    .await;
    let v = act_ok(
        &app,
        &op,
        &id,
        "decision",
        json!({
            "outcome": "accolta",
            "motivation": "Requisiti verificati.",
            "reply_document": reply["id"],
        }),
    )
    .await;
    assert_eq!(v["status"], "decided");
    assert_eq!(v["decision"]["outcome"], "accolta");
    assert_eq!(v["registrations"].as_array().unwrap().len(), 4);

    // The citizen sees the decision and downloads the reply.
    let mine = app
        .get_json(citizen, &format!("/api/v1/me/instances/{id}"))
        .await;
    assert_eq!(mine["status"], "decided");
    assert_eq!(mine["decision"]["motivation"], "Requisiti verificati.");
    let url = mine["decision"]["reply"]["download_url"].as_str().unwrap();
    let res = app.get_as(citizen, url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);
    let kinds: Vec<&str> = mine["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for k in [
        "taken",
        "integration_requested",
        "integration_answered",
        "decided",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }

    // Close.
    let v = act_ok(&app, &op, &id, "close", json!({})).await;
    assert_eq!(v["status"], "closed");

    // The register: gap-free, shared with submissions; in, out, in, out with recipients.
    let regs = registrations(&app);
    let numbers: Vec<i64> = regs.iter().map(|r| r.0).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    let dirs: Vec<&str> = regs.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(dirs, vec!["in", "out", "in", "out"]);
    assert!(regs[1].3.as_deref().unwrap().contains(CITIZEN_CF));
    assert!(regs[3].3.as_deref().unwrap().contains(CITIZEN_CF));
    assert!(regs[2].3.is_none());

    // Mail: the citizen gets the integration request and the decision, once each.
    let got = smtp.wait_for(5, 30).await;
    let to_citizen: Vec<&str> = got
        .iter()
        .filter(|m| m["envelope_to"][0] == "cittadino.pratica@example.org")
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(to_citizen.len(), 3, "{to_citizen:?}");
    assert_eq!(
        to_citizen
            .iter()
            .filter(|s| s.starts_with("Richiesta di integrazione"))
            .count(),
        1
    );
    assert_eq!(
        to_citizen
            .iter()
            .filter(|s| s.starts_with("Esito della sua pratica"))
            .count(),
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), got.len(), "nothing sent twice");
}

#[tokio::test]
async fn a_staff_action_needs_if_match_and_fails_on_a_stale_version() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let op = app.staff_browser(OP).await;
    let res = op
        .post(app.url(&format!("/api/v1/staff/instances/{id}/take")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 428, "precondition-required").await;
    let res = act(&app, &op, &id, "take", "*", json!({})).await;
    assert_problem(res, 412, "precondition-failed").await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    assert_eq!(
        act(&app, &op, &id, "take", &etag, json!({})).await.status(),
        200
    );
    // The same, stale ETag again: the colleague's change is not overwritten.
    let res = act(&app, &op, &id, "notes", &etag, json!({"text": "x"})).await;
    let p = assert_problem(res, 412, "precondition-failed").await;
    assert_eq!(p["current_version"], 1);
    assert_eq!(app.count("instance_notes"), 0);
}

#[tokio::test]
async fn two_operators_acting_at_once_on_the_same_version_never_both_succeed() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let a = app.staff_browser(OP).await;
    let b = app.staff_browser(OP2).await;
    for round in 0..8 {
        let (_, etag) = staff_get(&app, &a, &id).await;
        let (ra, rb) = tokio::join!(
            act(
                &app,
                &a,
                &id,
                "notes",
                &etag,
                json!({"text": format!("a{round}")})
            ),
            act(
                &app,
                &b,
                &id,
                "notes",
                &etag,
                json!({"text": format!("b{round}")})
            ),
        );
        let mut codes = [ra.status().as_u16(), rb.status().as_u16()];
        codes.sort();
        assert_eq!(codes, [200, 412], "round {round}");
    }
    assert_eq!(app.count("instance_notes"), 8);
    let (v, _) = staff_get(&app, &a, &id).await;
    assert_eq!(v["version"], 8);
    assert_eq!(v["notes"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn the_wrong_people_are_refused() {
    let app = spawn_app_with(|s| {
        s.tenancy
            .hosts
            .insert("sportello.comune-b.example".into(), "c_b000".into());
    })
    .await;
    app.load_bundle(&repo_dir().join("tests/fixtures/ente-b"));
    let id = submitted(&app, "a@example.org").await;
    let path = format!("/api/v1/staff/instances/{id}");
    // The citizen: the back office is for staff.
    let res = get_accepting_json(&app.client, &app.url(&path)).await;
    assert_problem(res, 403, "forbidden").await;
    // An operator of another office: not found.
    let tributi = app.staff_browser("operatore.tributi").await;
    let res = get_accepting_json(&tributi, &app.url(&path)).await;
    assert_problem(res, 404, "not-found").await;
    // Every action, by the wrong people: another office's operator (404), the citizen (403).
    for (action, body) in [
        ("take", json!({})),
        ("assign", json!({"username": OP2})),
        ("hand-over", json!({"office": "tributi", "reason": "x"})),
        ("notes", json!({"text": "x"})),
        ("messages", json!({"text": "x"})),
        ("integration-request", json!({"text": "x", "days": 5})),
        ("decision", json!({"outcome": "accolta", "motivation": "x"})),
        ("close", json!({})),
    ] {
        let res = act(&app, &tributi, &id, action, "\"0\"", body.clone()).await;
        assert_problem(res, 404, "not-found").await;
        let res = act(&app, &app.client, &id, action, "\"0\"", body).await;
        assert_problem(res, 403, "forbidden").await;
    }
    let res = app
        .client
        .post(app.url(&format!("/api/v1/staff/instances/{id}/documents")))
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("x.pdf"),
        ))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;
    // Staff of another ente: not found.
    let b = new_client();
    let res = b
        .post(app.url("/auth/dev/login"))
        .header("host", "sportello.comune-b.example")
        .json(&json!({ "staff_username": "operatore.urp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = b
        .get(app.url(&path))
        .header("host", "sportello.comune-b.example")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    let res = b
        .post(app.url(&format!("/api/v1/staff/instances/{id}/take")))
        .header("host", "sportello.comune-b.example")
        .header("if-match", "\"0\"")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    // Another citizen cannot withdraw it.
    let other = app.citizen_browser(OTHER_CF).await;
    let res = other
        .post(app.url(&format!("/api/v1/instances/{id}/withdraw")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    assert_eq!(app.count("instance_notes"), 0);
    assert_eq!(app.count("protocol_registrations"), 1);
    // The ente's administrator may act as an operator of every office.
    let admin = app.staff_browser("amministratore").await;
    let v = act_ok(&app, &admin, &id, "take", json!({})).await;
    assert_eq!(v["assignee"]["username"], "amministratore");
}

#[tokio::test]
async fn an_illegal_transition_answers_409_with_the_state_and_the_allowed_actions() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let op = app.staff_browser(OP).await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = act(
        &app,
        &op,
        &id,
        "decision",
        &etag,
        json!({"outcome": "respinta", "motivation": "No."}),
    )
    .await;
    let p = assert_problem(res, 409, "transition-not-allowed").await;
    assert_eq!(p["current_status"], "submitted");
    assert_eq!(
        p["allowed_actions"],
        json!(["take", "assign", "hand_over", "note", "message"])
    );
    // Nothing was written by the refusal.
    let (v, etag2) = staff_get(&app, &op, &id).await;
    assert_eq!(etag2, etag);
    assert_eq!(v["registrations"].as_array().unwrap().len(), 1);

    // The 30-day limit, and once only.
    act_ok(&app, &op, &id, "take", json!({})).await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    for days in [0, 31] {
        let res = act(
            &app,
            &op,
            &id,
            "integration-request",
            &etag,
            json!({"text": "Serve un documento.", "days": days}),
        )
        .await;
        assert_problem(res, 422, "validation").await;
    }
    act_ok(
        &app,
        &op,
        &id,
        "integration-request",
        json!({"text": "Serve un documento.", "days": 30}),
    )
    .await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/integration")))
        .json(&json!({"text": "Eccolo."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = act(
        &app,
        &op,
        &id,
        "integration-request",
        &etag,
        json!({"text": "Ancora.", "days": 5}),
    )
    .await;
    let p = assert_problem(res, 409, "transition-not-allowed").await;
    assert_eq!(p["current_status"], "in_progress");
    assert!(!p["allowed_actions"]
        .as_array()
        .unwrap()
        .contains(&json!("request_integration")));
    // A second answer is refused too.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/integration")))
        .json(&json!({"text": "Di nuovo."}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "transition-not-allowed").await;
}

fn due_of(v: &Value) -> NaiveDate {
    v["terms"]["due_date"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_term_is_suspended_by_the_integration_and_resumes_from_the_answer() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let op = app.staff_browser(OP).await;
    let v = act_ok(&app, &op, &id, "take", json!({})).await;
    let due = due_of(&v);
    assert!(v["terms"]["days_left"].as_i64().unwrap() >= 44);
    // Two days into the term, the office asks …
    app.state.clock.advance(Duration::days(2));
    act_ok(
        &app,
        &op,
        &id,
        "integration-request",
        json!({"text": "Serve la planimetria.", "days": 20}),
    )
    .await;
    // … and seven days later the citizen answers: those seven days do not count.
    app.state.clock.advance(Duration::days(7));
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/integration")))
        .json(&json!({"text": "Allegata."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (v, _) = staff_get(&app, &op, &id).await;
    assert_eq!(v["terms"]["days_suspended"], 7);
    let resumed = due_of(&v);
    assert!(
        resumed >= due + Duration::days(7) && resumed <= due + Duration::days(9),
        "{due} → {resumed}"
    );
    assert_eq!(v["terms"]["suspended"], false);
}

#[tokio::test]
async fn an_unanswered_integration_goes_back_to_the_operator_flagged() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    act_ok(
        &app,
        &op,
        &id,
        "integration-request",
        json!({"text": "Serve la planimetria.", "days": 3}),
    )
    .await;
    sportello::startup::housekeeping(&app.state).await;
    let (v, _) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "awaiting_integration", "not yet");
    app.state.clock.advance(Duration::days(4));
    sportello::startup::housekeeping(&app.state).await;
    sportello::startup::housekeeping(&app.state).await;
    let (v, _) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "in_progress");
    assert_eq!(v["integration_expired"], true);
    assert_eq!(v["integration"]["expired"], true);
    assert_eq!(v["terms"]["days_suspended"], 4);
    let expired = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "integration_expired")
        .count();
    assert_eq!(expired, 1, "once, however often the job runs");
    // Too late for the citizen.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/integration")))
        .json(&json!({"text": "Tardi."}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "transition-not-allowed").await;
}

#[tokio::test]
async fn assign_and_hand_over_move_the_instance_between_people_and_offices() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let op = app.staff_browser(OP).await;
    let v = act_ok(&app, &op, &id, "assign", json!({"username": OP2})).await;
    assert_eq!(v["assignee"]["username"], OP2);
    assert_eq!(v["status"], "in_progress");
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = act(
        &app,
        &op,
        &id,
        "assign",
        &etag,
        json!({"username": "operatore.tributi"}),
    )
    .await;
    assert_problem(res, 422, "validation").await;

    let res = act(
        &app,
        &op,
        &id,
        "hand-over",
        &etag,
        json!({"office": "tributi", "reason": "Riguarda la TARI."}),
    )
    .await;
    assert_eq!(res.status(), 204);
    // Out of the anagrafe's reach, into the tributi queue, unassigned.
    let res = get_accepting_json(&op, &app.url(&format!("/api/v1/staff/instances/{id}"))).await;
    assert_problem(res, 404, "not-found").await;
    let tributi = app.staff_browser("operatore.tributi").await;
    let q = app
        .get_json(&tributi, "/api/v1/offices/tributi/queue")
        .await;
    assert_eq!(q["total"], 1);
    assert_eq!(q["items"][0]["id"], id.as_str());
    let (v, _) = staff_get(&app, &tributi, &id).await;
    assert_eq!(v["status"], "submitted");
    assert!(v["assignee"].is_null());
    let h = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "handed_over")
        .unwrap()
        .clone();
    assert_eq!(h["details"]["from"], "anagrafe");
    assert_eq!(h["details"]["to"], "tributi");
    assert_eq!(h["actor"], format!("staff:{OP}"));
}

#[tokio::test]
async fn notes_stay_in_the_office_and_messages_reach_the_citizen() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    act_ok(&app, &op, &id, "notes", json!({"text": "Nota riservata."})).await;
    let v = act_ok(
        &app,
        &op,
        &id,
        "messages",
        json!({"text": "Stiamo verificando i dati."}),
    )
    .await;
    assert_eq!(v["notes"][0]["text"], "Nota riservata.");
    assert_eq!(v["notes"][0]["author"]["username"], OP);
    let res = app.get(&format!("/api/v1/me/instances/{id}")).await;
    let text = res.text().await.unwrap();
    assert!(!text.contains("Nota riservata"), "{text}");
    assert!(!text.contains("note_added"), "{text}");
    assert!(!text.contains(OP), "staff names stay in the office: {text}");
    let mine: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(mine["messages"][0]["text"], "Stiamo verificando i dati.");
    assert_eq!(mine["messages"][0]["sender"], "office");
    assert!(mine["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "message_sent" && e["actor"] == "office"));
}

#[tokio::test]
async fn the_citizen_withdraws_before_the_decision_and_not_after() {
    let app = spawn_app().await;
    let id = submitted(&app, "a@example.org").await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/withdraw")))
        .json(&json!({"reason": "Ho cambiato idea."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "withdrawn");
    let regs = registrations(&app);
    assert_eq!(regs.len(), 2);
    assert_eq!(regs[1].1, "in");
    assert!(regs[1].2.contains("ritiro"));
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/withdraw")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "transition-not-allowed").await;

    let id2 = submitted(&app, "a@example.org").await;
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &id2, "take", json!({})).await;
    act_ok(
        &app,
        &op,
        &id2,
        "decision",
        json!({"outcome": "respinta", "motivation": "Requisiti mancanti."}),
    )
    .await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id2}/withdraw")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 409, "transition-not-allowed").await;
    assert_eq!(p["current_status"], "decided");
}

#[tokio::test]
async fn decided_instances_close_by_themselves_and_each_office_gets_one_digest_a_day() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    let a = submitted(&app, "a@example.org").await;
    let b = submitted(&app, "b@example.org").await;
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &a, "take", json!({})).await;
    act_ok(
        &app,
        &op,
        &a,
        "decision",
        json!({"outcome": "parzialmente_accolta", "motivation": "In parte."}),
    )
    .await;
    // Two days before `b` is due (45-day term), well past `a`'s 30 days to closure.
    let (v, _) = staff_get(&app, &op, &b).await;
    let ahead = (due_of(&v) - chrono::Utc::now().date_naive()).num_days() - 2;
    assert!(ahead > 30);
    app.state.clock.advance(Duration::days(ahead));
    sportello::startup::housekeeping(&app.state).await;
    let (v, _) = staff_get(&app, &op, &a).await;
    assert_eq!(v["status"], "closed");
    let (v, _) = staff_get(&app, &op, &b).await;
    assert_eq!(v["terms"]["due_soon"], true, "{}", v["terms"]);
    let digests = || {
        smtp.messages()
            .into_iter()
            .filter(|m| {
                m["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("Scadenze del")
            })
            .collect::<Vec<_>>()
    };
    // Run again, and on a second app instance on the same database (a restart): one digest.
    sportello::startup::housekeeping(&app.state).await;
    let url = app.db_url.clone();
    let port = smtp.port;
    let again = spawn_app_with(move |s| {
        mail_to(s, port);
        s.database.url = Some(sportello::config::Secret::new(url));
    })
    .await;
    again.state.clock.advance(Duration::days(ahead));
    sportello::startup::housekeeping(&again.state).await;
    let _ = smtp.wait_for(1, 20).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let d = digests();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["envelope_to"][0], "anagrafe@comune.esempio.example");
    assert!(d[0]["body"].as_str().unwrap().contains(&b));
    // The next day, another one.
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(digests().len(), 2);
}

#[tokio::test]
async fn the_queue_filters_sorts_and_counts() {
    let app = spawn_app().await;
    let a = submitted(&app, "a@example.org").await;
    let b = submitted(&app, "b@example.org").await;
    let c = submitted(&app, "c@example.org").await;
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &a, "take", json!({})).await;
    act_ok(&app, &op, &b, "assign", json!({"username": OP2})).await;
    let q = |query: &'static str| {
        let app = &app;
        let op = &op;
        async move {
            let res = op
                .get(app.url(&format!("/api/v1/offices/anagrafe/queue?{query}")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{query}");
            res.json::<Value>().await.unwrap()
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = q("").await;
    assert_eq!(all["total"], 3);
    assert_eq!(
        ids(&all),
        vec![a.clone(), b.clone(), c.clone()],
        "due, then submission"
    );
    let counts = &all["counts"];
    let count_of = |s: &str| {
        counts
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["status"] == s)
            .map(|c| c["count"].as_i64().unwrap())
            .unwrap_or(0)
    };
    assert_eq!(count_of("in_progress"), 2);
    assert_eq!(count_of("submitted"), 1);
    assert_eq!(ids(&q("assignee=me").await), vec![a.clone()]);
    assert_eq!(ids(&q("assignee=nobody").await), vec![c.clone()]);
    assert_eq!(
        ids(&q("assignee=operatore2.anagrafe").await),
        vec![b.clone()]
    );
    assert_eq!(ids(&q("status=submitted").await), vec![c.clone()]);
    assert_eq!(q("status=in_progress&per_page=1").await["total"], 2);
    assert_eq!(ids(&q("sort=activity").await)[0], b, "latest change first");
    assert_eq!(q("overdue=true").await["total"], 0);
    assert_eq!(q("due_within=3").await["total"], 0);
    assert_eq!(q("due_within=60").await["total"], 3);
    assert_eq!(
        q("q=rssmra85").await["total"],
        3,
        "codice fiscale, any case"
    );
    assert_eq!(q("q=RESIDENZA").await["total"], 3);
    assert_eq!(q("q=nessuno%25").await["total"], 0);
    assert_eq!(ids(&q("protocol=0000002").await), vec![b.clone()]);
    assert_eq!(ids(&q("protocol=3").await), vec![c.clone()]);
    let today = chrono::Utc::now().date_naive();
    let res = op
        .get(app.url(&format!(
            "/api/v1/offices/anagrafe/queue?submitted_from={}&submitted_to={}",
            today - Duration::days(1),
            today + Duration::days(1)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["total"], 3);
    let res = op
        .get(app.url("/api/v1/offices/anagrafe/queue?assignee=sconosciuto"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation").await;
    // Time passes: all three overdue, flagged.
    app.state.clock.advance(Duration::days(60));
    let late = q("overdue=true").await;
    assert_eq!(late["total"], 3);
    assert_eq!(late["items"][0]["overdue"], true);
}
