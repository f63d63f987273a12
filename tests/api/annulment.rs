//! Annulment of protocol registrations (DPR 445/2000 art. 54) by clerks with the right.

use crate::helpers::*;
use serde_json::{json, Value};

fn residence_for(email: &str) -> Value {
    let mut data = form_fixture("cambio-di-residenza", "valid");
    data["contatti"]["email"] = json!(email);
    data
}

async fn submitted(app: &TestApp, email: &str) -> (String, String) {
    app.login_citizen(CITIZEN_CF).await;
    let id = app
        .ready_draft("cambio-di-residenza", residence_for(email))
        .await;
    let res = app.submit(&id, None).await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    (id, sub["protocol"]["number"].as_str().unwrap().to_owned())
}

fn year() -> i32 {
    use chrono::Datelike;
    sportello::domain::calendar::rome_date(chrono::Utc::now().naive_utc()).year()
}

async fn annul(app: &TestApp, c: &reqwest::Client, number: &str, body: Value) -> reqwest::Response {
    c.post(app.url(&format!(
        "/api/v1/protocol/AOO_CX000/registrations/{}/{number}/annul",
        year()
    )))
    .json(&body)
    .send()
    .await
    .unwrap()
}

const WHY: &str = "Registrazione duplicata";
const ACT: &str = "Determinazione del responsabile del protocollo n. 12 del 02/12/2026";

#[tokio::test]
async fn a_clerk_with_the_right_annuls_and_the_instance_and_its_citizen_follow() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    let (id, number) = submitted(&app, "cittadino.annullo@example.org").await;
    let clerk = app.staff_browser("protocollista").await;

    let res = annul(&app, &clerk, &number, json!({"reason": WHY, "act": ""})).await;
    assert_problem(res, 422, "validation").await;
    let res = annul(&app, &clerk, &number, json!({"reason": " ", "act": ACT})).await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/reason", "{p}");
    let before = app.state.clock.now().and_utc();
    let res = annul(&app, &clerk, &number, json!({"reason": WHY, "act": ACT})).await;
    assert_eq!(res.status(), 200);
    let e: Value = res.json().await.unwrap();
    // When: the moment of the annulment, in RFC 3339 (to the second).
    let at = chrono::DateTime::parse_from_rfc3339(e["annulment"]["at"].as_str().unwrap())
        .expect("the annulment's date and time");
    let after = app.state.clock.now().and_utc();
    assert!(
        before - chrono::Duration::seconds(1) <= at && at <= after,
        "{at} not within {before}..{after}"
    );
    assert_eq!(e["number"], number.as_str());
    assert_eq!(e["instance_id"], id.as_str());
    assert_eq!(e["annulment"]["by"], "protocollista");
    assert_eq!(e["annulment"]["reason"], WHY);
    assert_eq!(e["annulment"]["act"], ACT);
    // Still readable, with the annulment.
    let again = app
        .get_json(
            &clerk,
            &format!(
                "/api/v1/protocol/AOO_CX000/registrations/{}/{number}",
                year()
            ),
        )
        .await;
    assert_eq!(again["annulment"]["act"], ACT);
    assert_eq!(again["subject"], e["subject"]);
    // Once.
    let res = annul(&app, &clerk, &number, json!({"reason": WHY, "act": ACT})).await;
    assert_problem(res, 409, "conflict").await;

    // The instance is annulled; the citizen sees it and is told by e-mail.
    let mine = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{id}"))
        .await;
    assert_eq!(mine["status"], "annulled");
    assert_eq!(mine["allowed_actions"], json!([]));
    let ev = mine["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "registration_annulled")
        .unwrap()
        .clone();
    assert_eq!(ev["details"]["act"], ACT);
    assert_eq!(ev["actor"], "office");
    // Receipt, office notice, annulment notice.
    let got = smtp.wait_for(3, 20).await;
    let notice: Vec<&Value> = got
        .iter()
        .filter(|m| {
            m["envelope_to"][0] == "cittadino.annullo@example.org"
                && m["subject"]
                    .as_str()
                    .unwrap()
                    .starts_with("Registrazione annullata")
        })
        .collect();
    assert_eq!(notice.len(), 1, "{got:?}");
    assert!(notice[0]["body"].as_str().unwrap().contains(ACT));
    // Nothing can be done on it any more but notes.
    let op = app.staff_browser("operatore.anagrafe").await;
    let res = op
        .get(app.url(&format!("/api/v1/staff/instances/{id}")))
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "annulled");
    assert_eq!(v["allowed_actions"], json!(["note"]));
}

#[tokio::test]
async fn only_a_clerk_with_the_right_may_annul() {
    let app = spawn_app().await;
    let (id, number) = submitted(&app, "a@example.org").await;
    // The citizen: not staff.
    let res = annul(
        &app,
        &app.client,
        &number,
        json!({"reason": WHY, "act": ACT}),
    )
    .await;
    assert_problem(res, 403, "forbidden").await;
    // An operator: the register is not theirs.
    let op = app.staff_browser("operatore.anagrafe").await;
    let res = annul(&app, &op, &number, json!({"reason": WHY, "act": ACT})).await;
    assert_problem(res, 404, "not-found").await;
    // The administrator may read the register but not annul.
    let admin = app.staff_browser("amministratore").await;
    let res = annul(&app, &admin, &number, json!({"reason": WHY, "act": ACT})).await;
    assert_problem(res, 403, "forbidden").await;
    // A clerk without the right.
    app.exec("UPDATE staff_roles SET can_annul = FALSE");
    let clerk = app.staff_browser("protocollista").await;
    let res = annul(&app, &clerk, &number, json!({"reason": WHY, "act": ACT})).await;
    assert_problem(res, 403, "forbidden").await;
    // Nothing changed.
    let mine = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{id}"))
        .await;
    assert_eq!(mine["status"], "submitted");
    assert_eq!(
        app.count("protocol_registrations WHERE annulled_at IS NOT NULL"),
        0
    );
    // The right is only for protocol clerks, in the database too.
    let refused = diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE staff_roles SET can_annul = TRUE WHERE role = 'operator'"),
        &mut *app.conn(),
    );
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn annulling_a_later_registration_leaves_the_instance_where_it_is() {
    let app = spawn_app().await;
    let (id, _) = submitted(&app, "a@example.org").await;
    let op = app.staff_browser("operatore.anagrafe").await;
    let etag = |c: &reqwest::Client| {
        let c = c.clone();
        let url = app.url(&format!("/api/v1/staff/instances/{id}"));
        async move {
            c.get(url).send().await.unwrap().headers()["etag"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let e = etag(&op).await;
    let res = op
        .post(app.url(&format!("/api/v1/staff/instances/{id}/take")))
        .header("if-match", e)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let e = etag(&op).await;
    let res = op
        .post(app.url(&format!("/api/v1/staff/instances/{id}/integration-request")))
        .header("if-match", e)
        .json(&json!({"text": "Serve un documento.", "days": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let clerk = app.staff_browser("protocollista").await;
    let res = annul(&app, &clerk, "0000002", json!({"reason": WHY, "act": ACT})).await;
    assert_eq!(res.status(), 200);
    let v: Value = op
        .get(app.url(&format!("/api/v1/staff/instances/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "awaiting_integration");
    assert!(v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "registration_annulled"));
    let annulled: Vec<bool> = v["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["annulled"].as_bool().unwrap())
        .collect();
    assert_eq!(annulled, vec![false, true]);
}
