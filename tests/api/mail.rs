//! Outbox and mail against a real SMTP server (aiosmtpd on 127.0.0.1).

use std::collections::HashSet;
use std::sync::Arc;

use crate::helpers::*;
use serde_json::{json, Value};

fn residence_for(email: &str) -> Value {
    let mut data = form_fixture("cambio-di-residenza", "valid");
    data["contatti"]["email"] = json!(email);
    data
}

async fn wait_until(app: &TestApp, sql_count: &str, want: i64, secs: u64) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct C {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let n =
            diesel::RunQueryDsl::get_result::<C>(diesel::sql_query(sql_count), &mut *app.conn())
                .unwrap()
                .n;
        if n >= want || std::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_receipt_and_the_office_notice_reach_the_smtp_server_once() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app
        .ready_draft(
            "cambio-di-residenza",
            residence_for("cittadino.ricevuta@example.org"),
        )
        .await;
    let sub: Value = app.submit(&id, None).await.json().await.unwrap();
    let number = sub["protocol"]["number"].as_str().unwrap().to_owned();

    let got = smtp.wait_for(2, 20).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let receipt = got
        .iter()
        .find(|m| m["envelope_to"][0] == "cittadino.ricevuta@example.org")
        .expect("receipt");
    let subject = receipt["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Ricevuta di presentazione – Cambio di residenza"),
        "{subject}"
    );
    assert!(subject.contains(&format!("Prot. n. {number}")), "{subject}");
    let body = receipt["body"].as_str().unwrap();
    assert!(body.contains(&format!("Protocollo n. {number}")), "{body}");
    assert!(
        body.contains(sub["document_digest"].as_str().unwrap()),
        "{body}"
    );
    assert!(body.contains("Servizi demografici – Anagrafe"), "{body}");
    assert!(receipt["from"]
        .as_str()
        .unwrap()
        .contains("noreply@comune.esempio.example"));
    let notice = got
        .iter()
        .find(|m| m["envelope_to"][0] == "anagrafe@comune.esempio.example")
        .expect("notice");
    assert!(notice["subject"]
        .as_str()
        .unwrap()
        .starts_with("Nuova istanza"));
    assert!(notice["body"].as_str().unwrap().contains(CITIZEN_CF));

    // Sent means sent: nothing more arrives, rows are marked.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(
        wait_until(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent' AND attempts = 1",
            2,
            5
        )
        .await,
        2
    );
}

#[tokio::test]
async fn mail_is_retried_after_the_smtp_server_was_down() {
    let port = free_port();
    let app = spawn_app_with(|s| mail_to(s, port)).await;
    app.login_citizen(CITIZEN_CF).await;
    app.submit_valid("tari-inizio-occupazione").await;
    // The server is down: attempts fail and are rescheduled.
    let failed = wait_until(
        &app,
        "SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending' AND attempts >= 1 AND last_error IS NOT NULL",
        2,
        15,
    )
    .await;
    assert_eq!(failed, 2);
    // It comes back on the same port: the retries deliver, once each.
    let smtp = SmtpSink::start_on(port, None);
    let got = smtp.wait_for(2, 30).await;
    assert_eq!(got.len(), 2);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(
        wait_until(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent' AND attempts >= 2",
            2,
            5
        )
        .await,
        2
    );
}

#[tokio::test]
async fn after_the_last_attempt_a_message_is_dead_and_an_administrator_can_retry_it() {
    let port = free_port();
    let app = spawn_app_with(|s| {
        mail_to(s, port);
        s.mail.max_attempts = 2;
    })
    .await;
    app.login_citizen(CITIZEN_CF).await;
    app.submit_valid("accesso-civico-generalizzato").await;
    assert_eq!(
        wait_until(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE status = 'dead'",
            2,
            20
        )
        .await,
        2
    );

    let admin = new_client();
    admin
        .post(app.url("/auth/dev/login"))
        .json(&json!({ "staff_username": "amministratore" }))
        .send()
        .await
        .unwrap();
    let dead: Value = app
        .get_as(&admin, "/api/v1/admin/outbox?status=dead")
        .await
        .json()
        .await
        .unwrap();
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items
        .iter()
        .all(|i| i["attempts"] == 2 && i["last_error"].is_string()));
    // Only administrators.
    let operator = new_client();
    operator
        .post(app.url("/auth/dev/login"))
        .json(&json!({ "staff_username": "operatore.urp" }))
        .send()
        .await
        .unwrap();
    let res = app.get_as(&operator, "/api/v1/admin/outbox").await;
    assert_problem(res, 403, "forbidden").await;

    let smtp = SmtpSink::start_on(port, None);
    for item in items {
        let res = admin
            .post(app.url(&format!("/api/v1/admin/outbox/{}/retry", item["id"])))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    assert_eq!(smtp.wait_for(2, 20).await.len(), 2);
    let res = admin
        .post(app.url("/api/v1/admin/outbox/999999/retry"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn two_workers_deliver_every_message_exactly_once() {
    let smtp = SmtpSink::start();
    // The server does not send (worker = external): two separate workers do.
    let app = spawn_app_with(|s| s.mail.smtp_port = smtp.port).await;
    app.login_citizen(CITIZEN_CF).await;
    for i in 0..25 {
        let id = app
            .ready_draft(
                "cambio-di-residenza",
                residence_for(&format!("c{i}@example.org")),
            )
            .await;
        assert_eq!(app.submit(&id, None).await.status(), 201);
    }
    assert_eq!(app.count("outbox"), 50);
    let mut settings = test_settings();
    settings.mail.smtp_port = smtp.port;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let w =
                Arc::new(sportello::notify::Worker::new(app.db.clone(), &settings.mail).unwrap());
            tokio::spawn(w.run(stop.clone()))
        })
        .collect();
    let got = smtp.wait_for(50, 60).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let got_after = smtp.messages();
    assert_eq!(got.len(), 50);
    assert_eq!(got_after.len(), 50, "a message was delivered twice");
    let ids: HashSet<&str> = got_after
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 50);
    assert_eq!(app.count("outbox"), 50);
    assert_eq!(
        wait_until(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent' AND attempts = 1",
            50,
            5
        )
        .await,
        50
    );
}
