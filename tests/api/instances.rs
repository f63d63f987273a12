//! Guided instances end to end: drafts, validation, attachments, submission (document,
//! protocol, routing, outbox, history), citizen area, office queue, isolation.

use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_draft_is_filled_step_by_step_with_per_step_state() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let res = app
        .client
        .post(app.url("/api/v1/instances"))
        .json(&json!({ "service": "richiesta-appuntamento" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let draft: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/instances/{}", draft["id"].as_str().unwrap())
    );
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["form"]["version"], 1);
    assert_eq!(draft["complete"], false);
    let steps = draft["form"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(steps.iter().all(|s| s["status"] == "incomplete"));
    assert!(draft["form"]["schema"]["properties"]["ufficio"]["title"].is_string());
    let id = draft["id"].as_str().unwrap().to_owned();

    // Step 1 only.
    let res = app
        .patch_draft(
            &id,
            &json!({ "ufficio": "tributi", "motivo": "Chiarimenti sull'avviso TARI 2026" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["form"]["steps"][0]["status"], "complete");
    assert_eq!(view["form"]["steps"][1]["status"], "incomplete");
    assert_eq!(view["data"]["ufficio"], "tributi");

    // A wrong value is refused with its pointer and an Italian message; nothing is saved.
    let res = app
        .patch_draft(&id, &json!({ "ufficio": "polizia", "motivo": null }))
        .await;
    let body = assert_problem(res, 422, "validation").await;
    assert_eq!(body["errors"][0]["pointer"], "/ufficio");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("«Ufficio»: valore non ammesso"));
    let view: Value = app
        .get(&format!("/api/v1/instances/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["data"]["ufficio"], "tributi");
    assert!(view["data"]["motivo"].is_string());

    // null removes a member (RFC 7396).
    let res = app.patch_draft(&id, &json!({ "motivo": null })).await;
    let view: Value = res.json().await.unwrap();
    assert!(view["data"].get("motivo").is_none());
    assert_eq!(view["form"]["steps"][0]["status"], "incomplete");
    assert_eq!(view["form"]["steps"][0]["errors"][0]["pointer"], "/motivo");
}

#[tokio::test]
async fn every_demo_form_accepts_its_valid_sample_and_reports_each_error_of_the_invalid_one() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    for service in SERVICES {
        // The invalid sample: submission refused, with exactly the expected pointers.
        let id = app.create_draft(service).await;
        let invalid = form_fixture(service, "invalid");
        // PATCH refuses the wrong values (not the missing one)…
        let res = app.patch_draft(&id, &invalid).await;
        let body = assert_problem(res, 422, "validation").await;
        let expected: Vec<String> =
            serde_json::from_value(form_fixture(service, "invalid.pointers")).unwrap();
        let got: Vec<String> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap().to_owned())
            .collect();
        for p in &got {
            assert!(
                expected.contains(p),
                "{service}: unexpected error at {p}: {body}"
            );
        }
        assert_eq!(got.len(), 2, "{service}: the two wrong values: {body}");
        for e in body["errors"].as_array().unwrap() {
            assert!(
                e["message"].as_str().unwrap().starts_with('«'),
                "{service}: {e}"
            );
        }
        // …and submitting an empty draft lists the missing fields.
        let res = app.submit(&id, None).await;
        let body = assert_problem(res, 422, "validation").await;
        assert!(!body["errors"].as_array().unwrap().is_empty());

        // The valid sample: complete, and it submits.
        let view: Value = app
            .patch_draft(&id, &form_fixture(service, "valid"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            view["complete"], true,
            "{service}: {}",
            view["form"]["steps"]
        );
        let res = app.submit(&id, None).await;
        assert_eq!(res.status(), 201, "{service}");
    }
    assert_eq!(app.count("protocol_registrations"), 4);
}

#[tokio::test]
async fn the_missing_field_of_each_invalid_sample_is_reported_at_submission() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    for service in SERVICES {
        let expected: Vec<String> =
            serde_json::from_value(form_fixture(service, "invalid.pointers")).unwrap();
        // Start from the valid sample and remove, one at a time, what the invalid one lacks.
        let valid = form_fixture(service, "valid");
        let invalid = form_fixture(service, "invalid");
        let missing: Vec<&String> = expected
            .iter()
            .filter(|p| invalid.pointer(p).is_none())
            .collect();
        assert_eq!(missing.len(), 1, "{service}");
        let mut data = valid.clone();
        let (parent, key) = missing[0].rsplit_once('/').unwrap();
        data.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .remove(key);
        let id = app.ready_draft(service, data).await;
        let body = assert_problem(app.submit(&id, None).await, 422, "validation").await;
        assert_eq!(
            body["errors"].as_array().unwrap().len(),
            1,
            "{service}: {body}"
        );
        assert_eq!(&body["errors"][0]["pointer"], missing[0].as_str());
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .ends_with("campo obbligatorio."));
    }
    assert_eq!(app.count("protocol_registrations"), 0);
}

#[tokio::test]
async fn submission_freezes_registers_routes_and_queues_in_one_go() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    let pdf = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
    let res = upload(
        &app,
        &id,
        "contratto.pdf",
        pdf.clone(),
        Some("Contratto di locazione"),
    )
    .await;
    assert_eq!(res.status(), 201);

    let res = app.submit(&id, Some("k-1")).await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["status"], "submitted");
    assert_eq!(sub["protocol"]["number"], "0000001");
    assert_eq!(
        sub["protocol"]["year"],
        chrono::Utc::now()
            .format("%Y")
            .to_string()
            .parse::<i64>()
            .unwrap()
    );
    assert_eq!(sub["office"]["code"], "anagrafe");
    assert!(sub["due_date"].is_string());
    let digest = sub["document_digest"].as_str().unwrap().to_owned();
    assert_eq!(digest.len(), 64);

    // The receipt carries the frozen document; its SHA-256 is the digest.
    let receipt: Value = app
        .get(&format!("/api/v1/me/instances/{id}/receipt"))
        .await
        .json()
        .await
        .unwrap();
    let document = receipt["document"].as_str().unwrap();
    assert_eq!(sportello::text::sha256_hex(document.as_bytes()), digest);
    let doc: Value = serde_json::from_str(document).unwrap();
    assert_eq!(doc["applicant"]["codice_fiscale"], CITIZEN_CF);
    assert_eq!(doc["service"]["slug"], "cambio-di-residenza");
    assert_eq!(doc["form_version"], 1);
    assert_eq!(
        doc["attachments"][0]["sha256"],
        sportello::text::sha256_hex(&pdf)
    );
    assert_eq!(doc["data"], form_fixture("cambio-di-residenza", "valid"));
    // Canonical (RFC 8785): re-canonicalising gives the same bytes.
    assert_eq!(serde_json_canonicalizer::to_string(&doc).unwrap(), document);

    // Registered with sender, subject, digest and attachments.
    #[derive(diesel::QueryableByName)]
    struct Reg {
        #[diesel(sql_type = diesel::sql_types::Text)]
        sender: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        subject: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        document_digest: String,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attachments_count: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        attachments_description: String,
    }
    let reg: Reg = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SELECT sender, subject, document_digest, attachments_count, attachments_description FROM protocol_registrations"),
        &mut *app.conn(),
    )
    .unwrap();
    assert!(reg.sender.contains(CITIZEN_CF));
    assert!(reg.subject.starts_with("Cambio di residenza"));
    assert_eq!(reg.document_digest, digest);
    assert_eq!(reg.attachments_count, 1);
    assert!(reg
        .attachments_description
        .contains("contratto.pdf (Contratto di locazione)"));

    // Outbox: receipt to the citizen, notice to the office.
    assert_eq!(app.count("outbox"), 2);
    // History.
    let view: Value = app
        .get(&format!("/api/v1/me/instances/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let events: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "created",
            "attachment_added",
            "submitted",
            "registered",
            "routed",
            "notifications_queued"
        ]
    );
    assert_eq!(view["protocol"]["number"], "0000001");

    // Submitted: no more changes.
    let res = app
        .patch_draft(&id, &json!({ "contatti": { "email": "x@example.org" } }))
        .await;
    assert_problem(res, 409, "conflict").await;
    let res = upload(&app, &id, "altro.pdf", pdf, None).await;
    assert_problem(res, 409, "conflict").await;
}

#[tokio::test]
async fn submitting_twice_returns_the_same_result_and_registers_nothing_new() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app
        .ready_draft(
            "tari-inizio-occupazione",
            form_fixture("tari-inizio-occupazione", "valid"),
        )
        .await;
    let first = app.submit(&id, Some("click-1")).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // Double click / retry with the same key, and without a key.
    let again = app.submit(&id, Some("click-1")).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let again = app.submit(&id, None).await;
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // Concurrent double submission.
    let id2 = app
        .ready_draft(
            "tari-inizio-occupazione",
            form_fixture("tari-inizio-occupazione", "valid"),
        )
        .await;
    let (a, b) = tokio::join!(app.submit(&id2, Some("k2")), app.submit(&id2, Some("k2")));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(app.count("protocol_registrations"), 2);
    assert_eq!(app.count("outbox"), 4);
    // The same key on another instance is refused.
    let id3 = app
        .ready_draft(
            "tari-inizio-occupazione",
            form_fixture("tari-inizio-occupazione", "valid"),
        )
        .await;
    let res = app.submit(&id3, Some("click-1")).await;
    let body = assert_problem(res, 422, "validation").await;
    assert_eq!(body["errors"][0]["pointer"], "/idempotency_key");
    assert_eq!(app.count("protocol_registrations"), 2);
}

/// Submits an appointment request for `office`; returns the office it was routed to and the
/// `routed` history entry.
async fn route_appointment(app: &TestApp, office: &str) -> (Value, Value) {
    let mut data = form_fixture("richiesta-appuntamento", "valid");
    data["ufficio"] = json!(office);
    let id = app.ready_draft("richiesta-appuntamento", data).await;
    let sub: Value = app.submit(&id, None).await.json().await.unwrap();
    let view: Value = app
        .get(&format!("/api/v1/me/instances/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let routed = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "routed")
        .unwrap()
        .clone();
    (sub["office"]["code"].clone(), routed)
}

#[tokio::test]
async fn routing_rules_pick_the_office_and_the_history_says_which() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let (office, routed) = route_appointment(&app, "tributi").await;
    assert_eq!(office, "tributi");
    assert_eq!(routed["details"]["office"], "tributi");
    assert_eq!(routed["details"]["rule"], 2);
    // No rule matches: the default office.
    let (office, routed) = route_appointment(&app, "urp").await;
    assert_eq!(office, "urp");
    assert!(routed["details"]["rule"].is_null());
}

#[tokio::test]
async fn a_citizen_never_sees_another_citizens_instances() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let draft = app.create_draft("accesso-civico-generalizzato").await;
    let submitted = app.submit_valid("accesso-civico-generalizzato").await;
    let submitted = submitted["id"].as_str().unwrap().to_owned();
    let att = {
        let id = app.create_draft("accesso-civico-generalizzato").await;
        let res = upload(&app, &id, "nota.txt", b"Nota del cittadino".to_vec(), None).await;
        let body: Value = res.json().await.unwrap();
        (
            id,
            body["attachments"][0]["id"].as_str().unwrap().to_owned(),
        )
    };

    let other = app.citizen_browser(OTHER_CF).await;
    for path in [
        format!("/api/v1/instances/{draft}"),
        format!("/api/v1/me/instances/{submitted}"),
        format!("/api/v1/me/instances/{submitted}/receipt"),
        format!("/api/v1/me/instances/{}/attachments/{}", att.0, att.1),
    ] {
        let res = app.get_as(&other, &path).await;
        assert_problem(res, 404, "not-found").await;
    }
    let res = other
        .patch(app.url(&format!("/api/v1/instances/{draft}")))
        .json(&json!({ "oggetto_richiesta": "Dati altrui, per favore" }))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    let res = other
        .post(app.url(&format!("/api/v1/instances/{draft}/submit")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    let res = other
        .delete(app.url(&format!(
            "/api/v1/instances/{}/attachments/{}",
            att.0, att.1
        )))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    let list = app.get_json(&other, "/api/v1/me/instances").await;
    assert_eq!(list["total"], 0);
    // Anonymous: 401; staff: 403 on citizen functions.
    let res = new_client()
        .get(app.url("/api/v1/me/instances"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthorized").await;
    let staff = app.staff_browser("operatore.urp").await;
    let res = app
        .get_as(&staff, &format!("/api/v1/me/instances/{submitted}"))
        .await;
    assert_problem(res, 403, "forbidden").await;
}

#[tokio::test]
async fn the_personal_area_lists_newest_first_with_paging() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let a = app.submit_valid("accesso-civico-generalizzato").await;
    let b = app.create_draft("richiesta-appuntamento").await;
    let c = app.submit_valid("tari-inizio-occupazione").await;
    let list: Value = app
        .get("/api/v1/me/instances?per_page=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 3);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], c["id"]);
    assert_eq!(items[0]["protocol"]["number"], "0000002");
    assert_eq!(items[0]["office"]["code"], "tributi");
    assert_eq!(items[1]["id"], b.as_str());
    assert_eq!(items[1]["status"], "draft");
    let page2: Value = app
        .get("/api/v1/me/instances?per_page=2&page=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page2["items"][0]["id"], a["id"]);
    let res = app.get("/api/v1/me/instances?page=abc").await;
    assert_problem(res, 400, "bad-request").await;
}

#[tokio::test]
async fn office_queues_are_for_their_office_staff_only() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let sub = app.submit_valid("cambio-di-residenza").await;
    app.submit_valid("tari-inizio-occupazione").await;

    let anagrafe = app.staff_browser("operatore.anagrafe").await;
    let queue = app
        .get_json(&anagrafe, "/api/v1/offices/anagrafe/queue")
        .await;
    assert_eq!(queue["total"], 1);
    let item = &queue["items"][0];
    assert_eq!(item["id"], sub["id"]);
    assert_eq!(item["status"], "submitted");
    assert_eq!(item["protocol"]["number"], "0000001");
    assert_eq!(item["applicant"]["codice_fiscale"], CITIZEN_CF);
    assert_eq!(item["service"]["slug"], "cambio-di-residenza");
    assert_eq!(item["due_date"], sub["due_date"]);
    // Filters.
    let q = app
        .get_json(
            &anagrafe,
            "/api/v1/offices/anagrafe/queue?service=tari-inizio-occupazione",
        )
        .await;
    assert_eq!(q["total"], 0);
    // Another office's operator: 404, as for an office that does not exist.
    let tributi = app.staff_browser("operatore.tributi").await;
    let res = app.get_as(&tributi, "/api/v1/offices/anagrafe/queue").await;
    assert_problem(res, 404, "not-found").await;
    let res = app.get_as(&tributi, "/api/v1/offices/nessuno/queue").await;
    assert_problem(res, 404, "not-found").await;
    let own = app
        .get_json(&tributi, "/api/v1/offices/tributi/queue")
        .await;
    assert_eq!(own["total"], 1);
    // The protocol clerk has no office queue; the administrator sees every office.
    let clerk = app.staff_browser("protocollista").await;
    let res = app.get_as(&clerk, "/api/v1/offices/anagrafe/queue").await;
    assert_problem(res, 404, "not-found").await;
    let admin = app.staff_browser("amministratore").await;
    let res = app.get_as(&admin, "/api/v1/offices/anagrafe/queue").await;
    assert_eq!(res.status(), 200);
    // A citizen: 403.
    let res = app.get("/api/v1/offices/anagrafe/queue").await;
    assert_problem(res, 403, "forbidden").await;
}

#[tokio::test]
async fn a_lower_login_level_cannot_submit() {
    let app = spawn_app().await;
    app.client
        .post(app.url("/auth/dev/login"))
        .json(&json!({ "codice_fiscale": CITIZEN_CF, "level": 1 }))
        .send()
        .await
        .unwrap();
    // Residence requires level 2.
    let id = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    let body = assert_problem(app.submit(&id, None).await, 403, "login-level").await;
    assert!(body["detail"].as_str().unwrap().contains("livello 2"));
    assert_eq!(body["required_level"], 2);
    assert_eq!(app.count("protocol_registrations"), 0);
    // FOIA requires level 1.
    let id = app
        .ready_draft(
            "accesso-civico-generalizzato",
            form_fixture("accesso-civico-generalizzato", "valid"),
        )
        .await;
    assert_eq!(app.submit(&id, None).await.status(), 201);
}

#[tokio::test]
async fn a_citizen_can_discard_a_draft_but_not_a_submitted_instance() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("accesso-civico-generalizzato").await;
    upload(&app, &id, "nota.txt", b"da buttare".to_vec(), None).await;
    let other = app.citizen_browser(OTHER_CF).await;
    let res = other
        .delete(app.url(&format!("/api/v1/instances/{id}")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/instances/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(
        app.get(&format!("/api/v1/instances/{id}")).await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(app.count("instances"), 0);
    assert_eq!(app.count("attachments"), 0);

    let sub = app.submit_valid("accesso-civico-generalizzato").await;
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/instances/{}",
            sub["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "conflict").await;
    assert_eq!(app.count("instances"), 1);
}

#[tokio::test]
async fn expired_drafts_disappear_and_are_purged_with_their_files() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("accesso-civico-generalizzato").await;
    upload(&app, &id, "nota.txt", b"testo".to_vec(), None).await;
    app.exec("UPDATE instances SET expires_at = created_at");
    let res = app.get(&format!("/api/v1/instances/{id}")).await;
    assert_problem(res, 404, "not-found").await;
    assert_eq!(stored_files(&id).len(), 1);
    // The housekeeping the server runs every few minutes: rows and files go.
    sportello::startup::housekeeping(&app.state).await;
    assert_eq!(app.count("instances"), 0);
    assert_eq!(app.count("attachments"), 0);
    assert_eq!(stored_files(&id), Vec::<std::path::PathBuf>::new());
}

#[tokio::test]
async fn protocol_registrations_are_immutable_in_the_database() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let sub = app.submit_valid("accesso-civico-generalizzato").await;
    let id = sub["id"].as_str().unwrap();
    let try_exec =
        |sql: &str| diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut *app.conn());
    // Refused by the database's own triggers (the same words on both backends), not by
    // whatever other error a statement could meet.
    let refused = |sql: &str, by: &str| match try_exec(sql) {
        Err(e) => assert!(e.to_string().contains(by), "{sql}: {e}"),
        Ok(n) => panic!("{sql}: accepted ({n} rows)"),
    };
    const IMMUTABLE: &str =
        "protocol registrations are immutable: only their filing and a first annulment may change";
    const FROZEN: &str = "the document of a submitted instance cannot change";
    // Every immutable column, one by one.
    for set in [
        "subject = 'altro'",
        "number = 99",
        "year = 1999",
        "registered_at = registered_at + INTERVAL '1 hour'",
        "direction = 'out'",
        "sender = 'altro'",
        "recipient = 'altro'",
        "document_digest = 'x'",
        "attachments_count = 9",
        "attachments_description = 'x'",
        "instance_id = 'x'",
        "aoo_id = aoo_id + 1",
        "ente_id = ente_id + 1",
        "id = id + 100",
        "external_system = 'rest'",
    ] {
        let set = match app.backend() {
            sportello::db::Backend::Sqlite => {
                set.replace("registered_at + INTERVAL '1 hour'", "'2000-01-01 00:00:00'")
            }
            sportello::db::Backend::Postgres => set.to_owned(),
        };
        refused(
            &format!("UPDATE protocol_registrations SET {set}"),
            IMMUTABLE,
        );
    }
    refused(
        "DELETE FROM protocol_registrations",
        "protocol registrations cannot be deleted",
    );
    refused(
        &format!("UPDATE instances SET document = '{{}}' WHERE id = '{id}'"),
        FROZEN,
    );
    refused(
        &format!("UPDATE instances SET data = '{{}}' WHERE id = '{id}'"),
        FROZEN,
    );
    // Classification, fascicolo and review are not among the immutable fields.
    assert_eq!(
        try_exec(
            "UPDATE protocol_registrations SET classification = 'I.1', reviewed_at = registered_at"
        )
        .unwrap(),
        1
    );
    // Annulment: allowed once, with reason, author and authorizing act.
    let annul = "UPDATE protocol_registrations SET annulled_at = registered_at, \
                 annulled_by = 'protocollista', annulment_reason = 'Registrazione duplicata', \
                 annulment_act = 'Determinazione n. 12/2026'";
    refused(
        "UPDATE protocol_registrations SET annulled_at = registered_at",
        IMMUTABLE,
    );
    refused(
        "UPDATE protocol_registrations SET annulled_at = registered_at, \
         annulled_by = 'protocollista', annulment_reason = 'Registrazione duplicata'",
        IMMUTABLE,
    );
    assert_eq!(try_exec(annul).unwrap(), 1);
    refused(annul, IMMUTABLE);
    refused(
        "UPDATE protocol_registrations SET annulment_act = 'altro atto'",
        IMMUTABLE,
    );
    // Once annulled, the filing is frozen too.
    refused(
        "UPDATE protocol_registrations SET classification = 'I.2'",
        IMMUTABLE,
    );
    assert_eq!(app.count("protocol_registrations"), 1);
}

pub async fn upload(
    app: &TestApp,
    id: &str,
    filename: &str,
    bytes: Vec<u8>,
    description: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
    );
    if let Some(d) = description {
        form = form.text("description", d.to_owned());
    }
    app.client
        .post(app.url(&format!("/api/v1/instances/{id}/attachments")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}
