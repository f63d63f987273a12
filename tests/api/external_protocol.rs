//! External protocol systems (issue #12 §5), REST adapter against a real peer on 127.0.0.1
//! (tests/peers/protocol_rest_peer.py): the submission is stored and queued for registration,
//! the number comes from the peer, the receipt follows it; a worker killed between the peer's
//! answer and the commit does not register twice; a refusal is a dead letter an administrator
//! retries.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::helpers::*;
use serde_json::{json, Value};
use sportello::config::Settings;
use sportello::notify::Worker;

const TOKEN: &str = "s3gret0-di-prova";

/// The attachment of the submission the REST tests make.
const CONTRACT: &[u8] = b"%PDF-1.7\n% contratto di locazione\n%%EOF\n";

/// The REST protocol peer (tests/peers/protocol_rest_peer.py), validating against the
/// contract.
struct RestPeer(PyPeer);

impl std::ops::Deref for RestPeer {
    type Target = PyPeer;
    fn deref(&self) -> &PyPeer {
        &self.0
    }
}

impl RestPeer {
    fn start() -> Self {
        let contract = repo_dir().join("docs/protocol-rest.openapi.yaml");
        Self(PyPeer::start(
            "protocol_rest_peer.py",
            &[
                "--token".as_ref(),
                TOKEN.as_ref(),
                "--contract".as_ref(),
                contract.as_os_str(),
            ],
        ))
    }

    /// Every request Sportello sent, and every answer the peer gave, conformed to the
    /// contract's schemas (docs/protocol-rest.openapi.yaml).
    async fn assert_conforms(&self) {
        let state = self.state().await;
        assert_eq!(
            state["contract_violations"],
            serde_json::json!([]),
            "requests or answers outside the REST contract"
        );
        assert!(
            state["calls"].as_i64().unwrap() > 0,
            "the peer was never called"
        );
    }
}

/// The demo bundle with its AOO's register at the REST peer; the token in a file beside it.
pub fn external_bundle(peer_port: u16) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-ext-{}", uuid::Uuid::new_v4()));
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let token_file = dir.join("protocol-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let ente = std::fs::read_to_string(dir.join("ente.toml")).unwrap();
    let aoo_name = "name = \"Comune di Esempio – Area organizzativa omogenea unica\"\n";
    assert!(ente.contains(aoo_name));
    let ente = ente.replacen(
        aoo_name,
        &format!(
            "{aoo_name}register = \"external\"\n\n[aoo.external]\nadapter = \"rest\"\n\
             base_url = \"http://127.0.0.1:{peer_port}/\"\ntoken_file = \"{}\"\n\
             timeout_secs = 20\n",
            token_file.display()
        ),
        1,
    );
    std::fs::write(dir.join("ente.toml"), ente).unwrap();
    dir
}

fn worker_settings(smtp_port: u16) -> Settings {
    let mut s = test_settings();
    s.mail.smtp_port = smtp_port;
    s.mail.lease_secs = 1;
    s
}

/// One round of an outbox worker (as `sportello worker` does), off the async executor.
async fn work(app: &TestApp, smtp_port: u16) -> usize {
    let w = Worker::new(app.db.clone(), &worker_settings(smtp_port).mail)
        .unwrap()
        .with_attachment_store(app.state.store.clone());
    tokio::task::spawn_blocking(move || w.run_once())
        .await
        .unwrap()
        .unwrap()
}

fn scalar(app: &TestApp, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct C {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::RunQueryDsl::get_result::<C>(diesel::sql_query(sql), &mut *app.conn())
        .unwrap()
        .n
}

/// An app on the demo bundle with an external (REST) register, and a submitted residence
/// change with the citizen's e-mail; returns the app, the instance id and the answer.
async fn submitted(peer: &RestPeer) -> (TestApp, String, Value) {
    let app = spawn_app().await;
    app.load_bundle(&external_bundle(peer.port));
    assert_eq!(
        text(&app, "SELECT register AS t FROM aoo").as_deref(),
        Some("external")
    );
    app.login_citizen(CITIZEN_CF).await;
    let mut data = form_fixture("cambio-di-residenza", "valid");
    data["contatti"]["email"] = json!("cittadino.esterno@example.org");
    let id = app.ready_draft("cambio-di-residenza", data).await;
    let res = crate::instances::upload(&app, &id, "contratto.pdf", CONTRACT.to_vec(), None).await;
    assert_eq!(res.status(), 201);
    let res = app.submit(&id, None).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (app, id, body)
}

#[tokio::test]
async fn rest_register_numbers_the_submission_and_the_receipt_follows() {
    let peer = RestPeer::start();
    let smtp = SmtpSink::start();
    let (app, id, sub) = submitted(&peer).await;

    // Committed and routed, no number yet: pending, with only the request in the outbox.
    assert_eq!(sub["status"], "submitted");
    assert!(sub.get("protocol").is_none(), "{sub}");
    assert_eq!(sub["protocol_pending"], "in attesa di protocollazione");
    assert_eq!(sub["office"]["code"], "anagrafe");
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(
        view["protocol_pending"], "in attesa di protocollazione",
        "{view}"
    );
    assert!(view.get("protocol").is_none());
    assert_eq!(app.count("protocol_registrations"), 0);
    assert_eq!(app.count("outbox"), 1);
    assert_eq!(
        text(&app, "SELECT kind AS t FROM outbox").as_deref(),
        Some("protocol-request")
    );
    assert_eq!(peer.state().await["calls"], 0);

    // The worker delivers the request; the peer numbers it.
    assert_eq!(work(&app, smtp.port).await, 1);
    let state = peer.state().await;
    assert_eq!(state["calls"], 1);
    let key = format!("{id}:submission");
    let given = &state["registrations"][&key];
    assert_eq!(given["number"], 1, "{state}");
    let sent = &state["bodies"][0];
    assert_eq!(sent["aoo"], "AOO_CX000");
    assert_eq!(sent["direction"], "in");
    assert_eq!(sent["document"]["sha256"], sub["document_digest"]);
    assert!(sent["sender"].as_str().unwrap().contains(CITIZEN_CF));
    // The attachment travels with its bytes, which match its digest.
    let att = &sent["attachments"][0];
    assert_eq!(att["filename"], "contratto.pdf");
    assert_eq!(
        openssl::base64::decode_block(att["content_base64"].as_str().unwrap()).unwrap(),
        CONTRACT
    );
    assert_eq!(att["sha256"], sportello::text::sha256_hex(CONTRACT));

    // Recorded: one registration marked with the system, the instance linked.
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(
        text(
            &app,
            "SELECT external_system AS t FROM protocol_registrations"
        )
        .as_deref(),
        Some("rest")
    );
    // Classified by its service, as a built-in registration would be.
    assert_eq!(
        text(
            &app,
            "SELECT classification AS t FROM protocol_registrations"
        )
        .as_deref(),
        Some("XI.2")
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM protocol_counters"),
        0,
        "the built-in counter is not touched"
    );
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol"]["number"], "0000001", "{view}");
    assert!(view.get("protocol_pending").is_none());
    let events: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.ends_with(&[
            "submitted",
            "registration_requested",
            "routed",
            "registered",
            "notifications_queued"
        ]),
        "{events:?}"
    );

    // The entry is the external system's: Sportello does not sign a segnatura for it.
    let clerk = app.staff_browser("protocollista").await;
    let res = clerk
        .get(app.url(&format!(
            "/api/v1/protocol/AOO_CX000/registrations/{}/1/segnatura.xml",
            view["protocol"]["year"]
        )))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 409, "conflict").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("sistema di protocollo dell'ente"),
        "{p}"
    );

    // Only now the receipt (and the office notice) — carrying the external number.
    assert!(smtp.messages().is_empty());
    assert_eq!(work(&app, smtp.port).await, 2);
    let mail = smtp.wait_for(2, 20).await;
    let receipt = mail
        .iter()
        .find(|m| m["envelope_to"][0] == "cittadino.esterno@example.org")
        .expect("receipt");
    assert!(
        receipt["subject"]
            .as_str()
            .unwrap()
            .contains("Prot. n. 0000001"),
        "{receipt}"
    );
    // Nothing else to do; the peer was called once.
    assert_eq!(work(&app, smtp.port).await, 0);
    assert_eq!(peer.state().await["calls"], 1);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM protocol_requests WHERE status = 'registered'"
        ),
        1
    );
    peer.assert_conforms().await;
}

/// The outbox rows whose dedupe key starts with `prefix`.
fn outbox_with(app: &TestApp, prefix: &str) -> i64 {
    scalar(
        app,
        &format!("SELECT COUNT(*) AS n FROM outbox WHERE dedupe_key LIKE '{prefix}%'"),
    )
}

/// The message of `kind` in a view of the instance.
fn message_of<'a>(view: &'a Value, kind: &str) -> &'a Value {
    view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} message in {view}"))
}

#[tokio::test]
async fn a_withdrawal_is_registered_by_the_external_system_never_by_the_built_in_counter() {
    let peer = RestPeer::start();
    let smtp = SmtpSink::start();
    let (app, id, _) = submitted(&peer).await;
    assert_eq!(work(&app, smtp.port).await, 1, "the submission's request");
    assert_eq!(work(&app, smtp.port).await, 2, "receipt and office notice");

    // The citizen withdraws: done at once, the registration waits for the system.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/withdraw")))
        .json(&json!({ "reason": "Ho trovato un'altra abitazione." }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "withdrawn");
    let withdrawal = message_of(&v, "withdrawal");
    assert_eq!(withdrawal["registration_pending"], true, "{withdrawal}");
    assert!(withdrawal["protocol"].is_null());
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM protocol_counters"),
        0,
        "the built-in counter is never used for an external AOO"
    );

    // The worker delivers it: incoming, from the applicant, the act's JSON as primary.
    assert_eq!(work(&app, smtp.port).await, 1);
    let state = peer.state().await;
    let key = format!("{id}:message:{}", withdrawal["id"]);
    assert_eq!(state["registrations"][&key]["number"], 2, "{state}");
    let sent = &state["bodies"][1];
    assert_eq!(sent["idempotency_key"], key.as_str());
    assert_eq!(sent["direction"], "in");
    let doc: Value = serde_json::from_str(sent["document"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(doc["type"], "ritiro");
    let v = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    let withdrawal = message_of(&v, "withdrawal");
    assert_eq!(withdrawal["registration_pending"], false, "{withdrawal}");
    assert_eq!(withdrawal["protocol"]["number"], "0000002", "{withdrawal}");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM protocol_registrations WHERE external_system = 'rest'"
        ),
        2
    );
    peer.assert_conforms().await;
}

#[tokio::test]
async fn the_later_acts_are_registered_by_the_external_system_and_their_mails_wait_for_it() {
    use crate::backoffice::{act_ok, upload_doc, PDF};
    let peer = RestPeer::start();
    let smtp = SmtpSink::start();
    let (app, id, _) = submitted(&peer).await;
    assert_eq!(work(&app, smtp.port).await, 1, "the submission's request");
    assert_eq!(work(&app, smtp.port).await, 2, "receipt and office notice");
    let op = app.staff_browser("operatore.anagrafe").await;
    act_ok(&app, &op, &id, "take", json!({})).await;

    // The request for integration is made at once (the term suspended), its number is the
    // external system's to give: no built-in number, the citizen's e-mail waits.
    let v = act_ok(
        &app,
        &op,
        &id,
        "integration-request",
        json!({ "text": "Manca la copia del contratto di locazione.", "days": 10 }),
    )
    .await;
    assert_eq!(v["status"], "awaiting_integration");
    assert_eq!(v["terms"]["suspended"], true);
    let asked = message_of(&v, "integration_request");
    assert_eq!(asked["registration_pending"], true, "{asked}");
    assert!(asked["protocol"].is_null());
    let last: Vec<&Value> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .collect();
    assert_eq!(last[0]["event"], "registration_requested", "{last:?}");
    assert_eq!(last[0]["details"]["message"], asked["id"]);
    assert_eq!(last[1]["event"], "integration_requested");
    assert!(last[1]["details"]["protocol_number"].is_null());
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(outbox_with(&app, "integration-request:"), 0);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM protocol_counters"),
        0,
        "the built-in counter is never used for an external AOO"
    );

    // The worker delivers it: outgoing, to the applicant, the act's JSON as primary.
    assert_eq!(work(&app, smtp.port).await, 1);
    let state = peer.state().await;
    let key = format!("{id}:message:{}", asked["id"]);
    assert_eq!(state["registrations"][&key]["number"], 2, "{state}");
    let sent = &state["bodies"][1];
    assert_eq!(sent["idempotency_key"], key.as_str());
    assert_eq!(sent["direction"], "out");
    assert!(sent["recipient"].as_str().unwrap().contains(CITIZEN_CF));
    assert_eq!(sent["document"]["filename"], "documento.json");
    let doc: Value = serde_json::from_str(sent["document"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(doc["type"], "richiesta_integrazione");
    assert_eq!(doc["text"], "Manca la copia del contratto di locazione.");
    let (v, _) = crate::backoffice::staff_get(&app, &op, &id).await;
    let asked = message_of(&v, "integration_request");
    assert_eq!(asked["registration_pending"], false);
    assert_eq!(asked["protocol"]["number"], "0000002", "{asked}");
    assert_eq!(
        v["timeline"].as_array().unwrap().last().unwrap()["event"],
        "notifications_queued"
    );
    assert!(v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "message_registered"
            && e["details"]["protocol_number"] == "0000002"
            && e["details"]["message"] == asked["id"]));
    // Only now the citizen's e-mail, quoting the external number.
    assert_eq!(outbox_with(&app, "integration-request:"), 1);
    assert_eq!(work(&app, smtp.port).await, 1);
    let mail = smtp.wait_for(3, 20).await;
    let told = mail
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Richiesta di integrazione")
        })
        .expect("the integration request e-mail");
    let subject = told["subject"].as_str().unwrap();
    assert!(subject.contains("Prot. n. 0000002 del "), "{subject}");
    assert!(!subject.contains('['), "no placeholder left: {subject}");

    // The citizen answers (incoming), the office decides with a reply PDF (outgoing, the PDF
    // is the primary document): both numbered by the system, in order.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/integration")))
        .json(&json!({ "text": "Allego il contratto." }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
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
    assert_eq!(message_of(&v, "decision")["registration_pending"], true);
    assert_eq!(outbox_with(&app, "decision:"), 0);
    assert_eq!(work(&app, smtp.port).await, 2, "two requests");
    let state = peer.state().await;
    let bodies = state["bodies"].as_array().unwrap();
    assert_eq!(bodies.len(), 4);
    assert_eq!(bodies[2]["direction"], "in");
    let answer: Value =
        serde_json::from_str(bodies[2]["document"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(answer["type"], "integrazione");
    assert_eq!(answer["in_reply_to"]["number"], "0000002");
    let decision = &bodies[3]["document"];
    assert_eq!(decision["filename"], "provvedimento.pdf");
    assert_eq!(decision["media_type"], "application/pdf");
    assert!(decision.get("content").is_none());
    let bytes =
        openssl::base64::decode_block(decision["content_base64"].as_str().unwrap()).unwrap();
    assert_eq!(bytes, PDF);
    assert_eq!(decision["sha256"], reply["sha256"]);
    let (v, _) = crate::backoffice::staff_get(&app, &op, &id).await;
    assert_eq!(
        message_of(&v, "integration_answer")["protocol"]["number"],
        "0000003"
    );
    assert_eq!(message_of(&v, "decision")["protocol"]["number"], "0000004");
    assert_eq!(v["registrations"].as_array().unwrap().len(), 4);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM protocol_registrations WHERE external_system = 'rest'"
        ),
        4
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM protocol_counters"),
        0
    );
    // The e-mails follow their numbers; nothing is delivered twice.
    assert_eq!(work(&app, smtp.port).await, 2);
    let mail = smtp.wait_for(5, 20).await;
    let decided = mail
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Esito della sua pratica")
        })
        .expect("the decision e-mail");
    assert!(decided["subject"]
        .as_str()
        .unwrap()
        .contains("Prot. n. 0000004 del "));
    assert_eq!(work(&app, smtp.port).await, 0);
    assert_eq!(peer.state().await["calls"], 4);
    peer.assert_conforms().await;
}

#[tokio::test]
async fn a_worker_killed_before_recording_the_answer_does_not_register_twice() {
    let peer = RestPeer::start();
    let smtp = SmtpSink::start();
    let (app, id, _) = submitted(&peer).await;
    // The peer registers at once but answers only after 30 s: time to kill the worker.
    peer.control(json!({ "hold_secs": 30 })).await;
    let mut worker = Command::new(env!("CARGO_BIN_EXE_sportello"))
        .current_dir(repo_dir())
        .env("SPORTELLO_ENV", "test")
        .env("SPORTELLO_CONFIG_DIR", repo_dir().join("config"))
        .env("SPORTELLO__DATABASE__URL", &app.db_url)
        .env("SPORTELLO__MAIL__SMTP_PORT", smtp.port.to_string())
        .env("SPORTELLO__MAIL__LEASE_SECS", "1")
        .arg("worker")
        .spawn()
        .expect("start sportello worker");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while peer.state().await["registrations"]
        .as_object()
        .unwrap()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never called the peer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The external system has registered; Sportello has not recorded it. SIGKILL.
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(app.count("protocol_registrations"), 0);
    assert_eq!(
        text(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("pending")
    );
    assert_eq!(smtp.messages().len(), 0, "no receipt without a number");

    // After the lease, another worker delivers again with the same key: same number, once.
    peer.control(json!({ "hold_secs": 0 })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(work(&app, smtp.port).await, 1);
    let state = peer.state().await;
    assert_eq!(state["calls"], 2, "{state}");
    let keys: Vec<&String> = state["registrations"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec![&format!("{id}:submission")]);
    assert_eq!(
        state["bodies"][0]["idempotency_key"],
        state["bodies"][1]["idempotency_key"]
    );
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(
        scalar(&app, "SELECT number AS n FROM protocol_registrations"),
        1
    );
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol"]["number"], "0000001");
    // Recording the same answer again is a no-op.
    let request_id = scalar(&app, "SELECT id AS n FROM protocol_requests");
    let again = sportello::protocol::external::record(
        &mut app.conn(),
        request_id,
        "rest",
        sportello::protocol::external::parse_number(1, 2026, "2026-12-03T10:00:00Z").unwrap(),
    )
    .unwrap();
    assert!(!again);
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(work(&app, smtp.port).await, 2);
    assert_eq!(smtp.wait_for(2, 20).await.len(), 2);
    assert_eq!(work(&app, smtp.port).await, 0);
    assert_eq!(smtp.messages().len(), 2, "one receipt, one office notice");
    peer.assert_conforms().await;
}

#[tokio::test]
async fn a_refused_request_is_a_dead_letter_an_administrator_retries() {
    let peer = RestPeer::start();
    let smtp = SmtpSink::start();
    let (app, id, _) = submitted(&peer).await;
    peer.control(json!({ "refuse": true })).await;
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(app.count("protocol_registrations"), 0);
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("failed")
    );
    // Still pending for the citizen.
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol_pending"], "in attesa di protocollazione");

    // Visible to the administrator as a dead message with the system's reason.
    let admin = app.staff_browser("amministratore").await;
    let dead: Value = app
        .get_as(&admin, "/api/v1/admin/outbox?status=dead")
        .await
        .json()
        .await
        .unwrap();
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{dead}");
    assert_eq!(items[0]["kind"], "protocol-request");
    assert_eq!(
        items[0]["dedupe_key"],
        format!("protocol-request:{id}:submission")
    );
    let error = items[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("422") && error.contains("Classificazione mancante"),
        "{error}"
    );
    // A worker round leaves it alone.
    assert_eq!(work(&app, smtp.port).await, 0);

    // The comune fixes its side; the administrator retries; the number comes.
    peer.control(json!({ "refuse": false })).await;
    let res = admin
        .post(app.url(&format!("/api/v1/admin/outbox/{}/retry", items[0]["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("registered")
    );
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol"]["number"], "0000001");
    assert_eq!(work(&app, smtp.port).await, 2);
    assert_eq!(smtp.wait_for(2, 20).await.len(), 2);
    peer.assert_conforms().await;
}

#[tokio::test]
async fn an_unreachable_system_is_retried_and_the_wrong_token_is_refused() {
    let peer = RestPeer::start();
    let smtp = SmtpSink::start();
    let (app, _, _) = submitted(&peer).await;
    // The wrong token: a permanent refusal (401), nothing registered.
    app.exec(&format!(
        "UPDATE aoo SET external = '{{\"adapter\":\"rest\",\"base_url\":\"http://127.0.0.1:{}\",\"token_file\":null,\"timeout_secs\":5}}'",
        peer.port
    ));
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(
        text(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("dead")
    );
    assert!(text(&app, "SELECT last_error AS t FROM outbox")
        .unwrap()
        .contains("401"));
    assert_eq!(peer.state().await["registrations"], json!({}));
    // Nobody listening: a temporary failure, retried later.
    app.exec(&format!(
        "UPDATE aoo SET external = '{{\"adapter\":\"rest\",\"base_url\":\"http://127.0.0.1:{}\",\"token_file\":null,\"timeout_secs\":5}}'",
        free_port()
    ));
    app.exec("UPDATE outbox SET status = 'pending', next_attempt_at = created_at");
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(
        text(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("pending")
    );
    assert!(text(&app, "SELECT last_error AS t FROM outbox")
        .unwrap()
        .contains("unreachable"));
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("pending")
    );
    // Its last attempt: the letter is dead and the request failed with it.
    let max = worker_settings(smtp.port).mail.max_attempts;
    app.exec(&format!(
        "UPDATE outbox SET attempts = {}, next_attempt_at = created_at",
        max - 1
    ));
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(
        text(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("dead")
    );
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("failed")
    );
    assert_eq!(app.count("protocol_registrations"), 0);
    peer.assert_conforms().await;
}

#[tokio::test]
async fn a_bundle_with_a_broken_external_register_or_register_code_is_refused() {
    for (extra, why) in [
        ("register = \"external\"\n", "needs [aoo.external]"),
        ("register = \"esterno\"\n", "must be"),
        (
            "register = \"external\"\n\n[aoo.external]\nadapter = \"rest\"\nbase_url = \"ftp://x\"\n",
            "http(s)",
        ),
        (
            "register = \"external\"\n\n[aoo.external]\nadapter = \"rest\"\nbase_url = \"https://x\"\ntoken = \"inline\"\n",
            "unknown field",
        ),
        // The segnatura's CodiceRegistro: 1 to 16 of A-Za-z0-9_.-
        ("register_code = \"\"\n", "register_code"),
        ("register_code = \"PROTOCOLLO GENERALE\"\n", "register_code"),
        ("register_code = \"ABCDEFGHIJKLMNOPQ\"\n", "register_code"),
    ] {
        let dir = std::env::temp_dir().join(format!("sportello-ext-{}", uuid::Uuid::new_v4()));
        copy_dir(&repo_dir().join("config/demo"), &dir);
        let ente = std::fs::read_to_string(dir.join("ente.toml")).unwrap();
        let aoo_name = "name = \"Comune di Esempio – Area organizzativa omogenea unica\"\n";
        std::fs::write(
            dir.join("ente.toml"),
            ente.replacen(aoo_name, &format!("{aoo_name}{extra}"), 1),
        )
        .unwrap();
        let err = sportello::bundle::Bundle::read(&dir).expect_err(extra);
        assert!(format!("{err:#}").contains(why), "{extra}: {err:#}");
    }
}

/// Rounds of the outbox worker until nothing is left to do; how many jobs they did.
async fn drain(app: &TestApp, smtp_port: u16) -> usize {
    let mut done = 0;
    loop {
        match work(app, smtp_port).await {
            0 => return done,
            n => done += n,
        }
    }
}

/// The peer's request bodies by idempotency key (the last one sent for each).
fn body_of<'a>(state: &'a Value, key: &str) -> &'a Value {
    state["bodies"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|b| b["idempotency_key"] == key)
        .unwrap_or_else(|| panic!("no request with key {key}: {state}"))
}

#[tokio::test]
async fn the_foia_acts_and_the_bookings_are_registered_by_the_external_system_too() {
    use crate::backoffice::{act, act_ok, staff_get};
    use crate::foia;
    let peer = RestPeer::start();
    let smtp = SmtpSink::start();
    let dir = external_bundle(peer.port);
    // The CIE appointments are registered as well.
    crate::booking::register_cie_bookings(&dir);
    let app = spawn_empty_app_with(|_| {}).await;
    app.load_bundle(&dir);

    // A FOIA request: submitted and numbered by the system.
    let id = foia::foia_request(&app, foia::valid()).await;
    drain(&app, smtp.port).await;
    assert_eq!(
        peer.state().await["registrations"][&format!("{id}:submission")]["number"],
        1
    );

    // The notice to the counter-interested parties is done at once (the term suspended);
    // each party's outgoing registration is the system's to give, their e-mails wait for it.
    let op = app.staff_browser(foia::OP).await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = act(&app, &op, &id, "counterparties", &etag, foia::parties()).await;
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let (v, _) = staff_get(&app, &op, &id).await;
    assert_eq!(v["status"], "awaiting_counterparties");
    let f = app
        .get_json(&op, &format!("/api/v1/staff/instances/{id}/foia"))
        .await;
    let list = f["counterparty_list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|p| p["protocol_number"].is_null()), "{f}");
    let requested: Vec<&Value> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "registration_requested" && e["details"]["act"].is_string())
        .collect();
    assert_eq!(requested.len(), 2, "{:?}", v["timeline"]);
    assert_eq!(requested[0]["details"]["act"], "foia-counterparty:1");
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(outbox_with(&app, "foia-counterparty:"), 0);

    // The worker delivers both; the numbers come back to the parties' rows and e-mails.
    drain(&app, smtp.port).await;
    let state = peer.state().await;
    let first = body_of(&state, &format!("{id}:foia-counterparty:1"));
    assert_eq!(first["direction"], "out");
    assert_eq!(first["instance_id"], id.as_str());
    assert!(first["recipient"]
        .as_str()
        .unwrap()
        .starts_with("Associazione Sportiva Esempio"));
    let doc: Value = serde_json::from_str(first["document"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(doc["type"], "comunicazione_controinteressati");
    assert_eq!(
        state["registrations"][&format!("{id}:foia-counterparty:2")]["number"],
        3
    );
    let f = app
        .get_json(&op, &format!("/api/v1/staff/instances/{id}/foia"))
        .await;
    assert_eq!(
        f["counterparty_list"][0]["protocol_number"], "0000002",
        "{f}"
    );
    assert_eq!(f["counterparty_list"][1]["protocol_number"], "0000003");
    let (v, _) = staff_get(&app, &op, &id).await;
    assert!(v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "act_registered"
            && e["details"]["act"] == "foia-counterparty:2"
            && e["details"]["protocol_number"] == "0000003"));
    let mail = smtp.wait_for(1, 20).await;
    let notice = mail
        .iter()
        .find(|m| m["envelope_to"][0] == "asd.esempio@example.org")
        .expect("the party's notice");
    let subject = notice["subject"].as_str().unwrap();
    assert!(subject.contains("Prot. n. 0000002 del "), "{subject}");
    assert!(!subject.contains('['), "no placeholder left: {subject}");

    // A party's answer (incoming, from the party) and the term runs again.
    let res = foia::answer(
        &app,
        &op,
        &id,
        1,
        json!({"opposed": true, "text": "Ci opponiamo: dati commerciali riservati."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    drain(&app, smtp.port).await;
    let state = peer.state().await;
    let answer = body_of(&state, &format!("{id}:foia-counterparty-answer:1"));
    assert_eq!(answer["direction"], "in");
    assert_eq!(answer["sender"], "Associazione Sportiva Esempio");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM foia_counterparties WHERE answer_registration_id IS NOT NULL"
        ),
        1
    );

    // A refused request, the citizen's request for review and the officer's decision.
    let refused = foia::refused(&app, &op, foia::valid()).await;
    assert_eq!(
        foia::review(&app, &refused, "I dati sono aggregati.")
            .await
            .status(),
        201
    );
    let rv = app
        .get_json(&app.client, &format!("/api/v1/me/instances/{refused}/foia"))
        .await;
    assert_eq!(rv["review"]["ground"], "refused");
    assert_eq!(
        outbox_with(&app, "foia-review:"),
        0,
        "the officer's e-mail waits"
    );
    drain(&app, smtp.port).await;
    let state = peer.state().await;
    let asked = body_of(&state, &format!("{refused}:foia-review"));
    assert_eq!(asked["direction"], "in");
    let rpct = app.staff_browser(foia::RPCT).await;
    let res = foia::decide_review(
        &app,
        &rpct,
        &refused,
        json!({"outcome": "accolta", "motivation": "Accesso consentito: dati aggregati."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(outbox_with(&app, "foia-review-decision"), 0);
    drain(&app, smtp.port).await;
    let state = peer.state().await;
    let decided = body_of(&state, &format!("{refused}:foia-review-decision"));
    assert_eq!(decided["direction"], "out");
    let number = state["registrations"][&format!("{refused}:foia-review-decision")]["number"]
        .as_i64()
        .unwrap();
    assert_eq!(outbox_with(&app, "foia-review-decision:"), 1);
    assert_eq!(outbox_with(&app, "foia-review-decision-office:"), 1);
    let mail = smtp.messages();
    let told = mail
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .starts_with("Esito del riesame")
        })
        .expect("the review's outcome e-mail");
    assert!(told["subject"]
        .as_str()
        .unwrap()
        .contains(&format!("Prot. n. {number:07} del ")));
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM foia_reviews \
             WHERE registration_id IS NOT NULL AND decision_registration_id IS NOT NULL"
        ),
        1
    );

    // A booking of a service that registers bookings: the system numbers it too.
    let booking = crate::booking::book_first_cie_slot(&app).await;
    let booking_id = booking["id"].as_str().unwrap();
    assert_eq!(
        scalar(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM protocol_requests WHERE booking_id = '{booking_id}'"
            )
        ),
        1
    );
    drain(&app, smtp.port).await;
    let state = peer.state().await;
    let booked = body_of(&state, &format!("booking:{booking_id}"));
    assert_eq!(booked["booking_id"], booking_id);
    assert!(booked.get("instance_id").is_none());
    assert_eq!(booked["direction"], "in");
    assert!(booked["subject"]
        .as_str()
        .unwrap()
        .contains(booking["code"].as_str().unwrap()));
    assert_eq!(
        text(
            &app,
            &format!(
                "SELECT r.external_system AS t FROM bookings b \
                 JOIN protocol_registrations r ON r.id = b.registration_id WHERE b.id = '{booking_id}'"
            )
        )
        .as_deref(),
        Some("rest")
    );

    // Every filing went to the ente's system, none to the built-in counter; once each.
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) AS n FROM protocol_counters"),
        0
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM protocol_registrations WHERE external_system = 'rest'"
        ),
        app.count("protocol_registrations")
    );
    let calls = peer.state().await["calls"].as_i64().unwrap();
    assert_eq!(app.count("protocol_registrations"), calls);
    assert_eq!(drain(&app, smtp.port).await, 0);
    peer.assert_conforms().await;
}
