//! The procedures' legal rules end to end (docs/procedures.md): residence, TARI and access
//! requests submitted through the API; one failing case per rule, with its pointer and
//! message; the residence terms, the silence-assent with the app's clock and the preavviso di
//! rigetto that suspends it; the TARI estimate and late flag.

use crate::backoffice::{act, act_ok, staff_get, PDF};
use crate::helpers::*;
use crate::instances::upload;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

const RESIDENZA: &str = "cambio-di-residenza";
const TARI: &str = "tari-inizio-occupazione";
const FOIA: &str = "accesso-civico-generalizzato";
const OP: &str = "operatore.anagrafe";
const SPOUSE_CF: &str = "BNCGLI88A55G702G";

fn today() -> NaiveDate {
    sportello::domain::calendar::rome_date(chrono::Utc::now().naive_utc())
}

fn spouse() -> Value {
    json!({
        "rapporto_parentela": "coniuge", "nome": "Giulia", "cognome": "Bianchi",
        "codice_fiscale": SPOUSE_CF, "sesso": "F", "data_nascita": "1988-01-15",
        "luogo_nascita": "Pisa (PI)", "stato_civile": "coniugato", "cittadinanza": "italiana"
    })
}

/// PATCHes `data` into a new draft of `service` and expects 422 with exactly one error.
async fn refused_at_patch(app: &TestApp, service: &str, data: &Value) -> (String, String) {
    let id = app.create_draft(service).await;
    let body = assert_problem(app.patch_draft(&id, data).await, 422, "validation").await;
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    (
        errors[0]["pointer"].as_str().unwrap().to_owned(),
        errors[0]["message"].as_str().unwrap().to_owned(),
    )
}

/// A draft that saves (nothing wrong) but does not submit: the errors at submission.
async fn refused_at_submit(app: &TestApp, service: &str, data: Value) -> (String, Vec<Value>) {
    let id = app.ready_draft(service, data).await;
    let body = assert_problem(app.submit(&id, None).await, 422, "validation").await;
    (id, body["errors"].as_array().unwrap().clone())
}

/// JSON Merge Patch (RFC 7396), as the draft's PATCH applies it.
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn one(errors: &[Value]) -> (&str, &str) {
    assert_eq!(errors.len(), 1, "{errors:?}");
    (
        errors[0]["pointer"].as_str().unwrap(),
        errors[0]["message"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn a_residence_declaration_submits_with_both_terms_and_the_office_checks_each_person() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let sub = app.submit_valid(RESIDENZA).await;
    let id = sub["id"].as_str().unwrap().to_owned();
    let due: NaiveDate = sub["due_date"].as_str().unwrap().parse().unwrap();
    // The citizen sees both terms: registration within 2 working days, silence-assent on the
    // 45-day due date.
    let v = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    let terms = &v["procedure"]["residence"];
    assert_eq!(v["procedure"]["kind"], "residenza");
    assert_eq!(terms["silence_assent_on"], json!(due.to_string()));
    let reg: NaiveDate = terms["registration_due"].as_str().unwrap().parse().unwrap();
    let cal = sportello::domain::terms::WorkCalendar::for_ente(Some("06-24"));
    let expected = sportello::domain::terms::due_date(
        today(),
        sportello::domain::terms::TermRule {
            days: 2,
            unit: sportello::domain::terms::TermUnit::WorkingDays,
        },
        &[],
        &cal,
    )
    .unwrap();
    assert_eq!(reg, expected);
    assert!(
        v["procedure"].get("people").is_none(),
        "the checks are the office's"
    );

    // The office: each person moving, consistent, with the age the code gives.
    let op = app.staff_browser(OP).await;
    let (s, _) = staff_get(&app, &op, &id).await;
    let people = s["procedure"]["people"].as_array().unwrap();
    assert_eq!(people.len(), 2, "{people:?}");
    assert_eq!(people[0]["pointer"], "/richiedente");
    assert_eq!(people[0]["codice_fiscale"], CITIZEN_CF);
    assert_eq!(people[0]["codice_fiscale_valid"], true);
    assert_eq!(
        people[0]["age"],
        sportello::procedures::age_on(NaiveDate::from_ymd_opt(1985, 12, 10).unwrap(), today())
    );
    assert_eq!(people[1]["consistent"], true, "{people:?}");
    assert_eq!(
        s["procedure"]["residence"]["registration_due"],
        json!(reg.to_string())
    );

    // A second open declaration for the same address naming the same people: duplicates;
    // a birth date that disagrees with the code: not consistent.
    let mut data = form_fixture(RESIDENZA, "valid");
    data["familiari"][0]["data_nascita"] = json!("2017-05-04");
    let other = app.ready_draft(RESIDENZA, data).await;
    assert_eq!(app.submit(&other, None).await.status(), 201);
    let (s, _) = staff_get(&app, &op, &other).await;
    let people = s["procedure"]["people"].as_array().unwrap();
    assert_eq!(people[0]["duplicates"], json!([id]));
    assert_eq!(people[1]["matches_codice_fiscale"], false);
    assert_eq!(people[1]["consistent"], false);
    assert!(
        people[1]["problems"][0]
            .as_str()
            .unwrap()
            .contains("non corrisponde a quella del codice fiscale (03/05/2017)"),
        "{people:?}"
    );
}

#[tokio::test]
async fn each_residence_rule_refuses_with_its_pointer_and_message() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let valid = form_fixture(RESIDENZA, "valid");

    // A wrong check character: refused as soon as the step is saved.
    let mut data = valid.clone();
    data["familiari"][0]["codice_fiscale"] = json!("RSSLCU17E03G702X");
    let (p, m) = refused_at_patch(&app, RESIDENZA, &data).await;
    assert_eq!(p, "/familiari/0/codice_fiscale");
    assert_eq!(
        m,
        "«Codice fiscale»: il carattere di controllo del codice fiscale non è corretto."
    );
    // The same person twice.
    let mut data = valid.clone();
    data["familiari"][0]["codice_fiscale"] = json!(CITIZEN_CF);
    let (p, m) = refused_at_patch(&app, RESIDENZA, &data).await;
    assert_eq!(p, "/familiari/0/codice_fiscale");
    assert_eq!(
        m,
        "«Codice fiscale»: è lo stesso di chi dichiara; ogni persona che si trasferisce va indicata una sola volta."
    );
    // A lease registered in the future.
    let mut data = valid.clone();
    data["titolo_occupazione"]["data_registrazione"] =
        json!((today() + Duration::days(5)).to_string());
    let (p, m) = refused_at_patch(&app, RESIDENZA, &data).await;
    assert_eq!(p, "/titolo_occupazione/data_registrazione");
    assert_eq!(
        m,
        "«Data di registrazione del contratto»: il contratto deve essere già registrato; la data non può essere futura."
    );
    // The declarant is of age (a parent or guardian declares for a minor).
    let mut data = valid.clone();
    data["richiedente"]["data_nascita"] = json!((today() - Duration::days(365 * 17)).to_string());
    let (p, m) = refused_at_patch(&app, RESIDENZA, &data).await;
    assert_eq!(p, "/richiedente/data_nascita");
    assert_eq!(
        m,
        "«Data di nascita»: chi dichiara deve essere maggiorenne; per un minore dichiara un genitore o il tutore."
    );

    // Another adult moving consents: the draft saves, the submission waits for the signed
    // declaration naming them; once attached, it submits.
    let mut data = valid.clone();
    data["familiari"]
        .as_array_mut()
        .unwrap()
        .insert(0, spouse());
    let (id, errors) = refused_at_submit(&app, RESIDENZA, data).await;
    let (p, m) = one(&errors);
    assert_eq!(p, "/familiari/0");
    assert_eq!(
        m,
        format!("«Familiari che si trasferiscono con il richiedente»: manca la dichiarazione di consenso firmata da Giulia Bianchi (maggiorenne); allegarla indicando nella descrizione il suo codice fiscale {SPOUSE_CF}.")
    );
    let v = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    let step = v["form"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "familiari")
        .unwrap()
        .clone();
    assert_eq!(step["status"], "incomplete", "{step}");
    let res = upload(
        &app,
        &id,
        "consenso.pdf",
        PDF.to_vec(),
        Some(&format!("Consenso al trasferimento di {SPOUSE_CF}")),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    assert_eq!(app.submit(&id, None).await.status(), 201);

    // A minor moves with a parent.
    let mut data = valid.clone();
    data["familiari"][0]["rapporto_parentela"] = json!("altro_parente");
    let (_, errors) = refused_at_submit(&app, RESIDENZA, data).await;
    let (p, m) = one(&errors);
    assert_eq!(p, "/familiari/0/rapporto_parentela");
    assert_eq!(m, "«Rapporto di parentela con il richiedente»: Luca Rossi è minorenne e può trasferirsi solo con almeno un genitore (o con chi ne esercita la responsabilità genitoriale).");

    // Joining an existing family names its head.
    let mut data = valid.clone();
    data["composizione"] = json!({ "modalita": "aggregazione_parziale" });
    let (_, errors) = refused_at_submit(&app, RESIDENZA, data).await;
    let pointers: Vec<&str> = errors
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/composizione/famiglia_esistente/codice_fiscale",
            "/composizione/famiglia_esistente/cognome",
            "/composizione/famiglia_esistente/nome"
        ]
    );
    assert_eq!(
        errors[2]["message"],
        "«Nome dell'intestatario»: campo obbligatorio per chi si aggrega a una famiglia già residente all'indirizzo."
    );
    // The head of the family that takes them in is already resident: not among those moving.
    let mut data = valid.clone();
    data["composizione"] = json!({
        "modalita": "aggregazione_parziale",
        "famiglia_esistente": { "nome": "Mario", "cognome": "Rossi", "codice_fiscale": CITIZEN_CF }
    });
    let (p, m) = refused_at_patch(&app, RESIDENZA, &data).await;
    assert_eq!(p, "/composizione/famiglia_esistente/codice_fiscale");
    assert_eq!(
        m,
        "«Codice fiscale dell'intestatario»: l'intestatario della famiglia che accoglie è già residente all'indirizzo e non è tra chi si trasferisce."
    );

    // A tenant gives the lease's registration.
    let mut data = valid.clone();
    data["titolo_occupazione"]
        .as_object_mut()
        .unwrap()
        .remove("numero_registrazione");
    let (_, errors) = refused_at_submit(&app, RESIDENZA, data).await;
    let (p, m) = one(&errors);
    assert_eq!(p, "/titolo_occupazione/numero_registrazione");
    assert_eq!(m, "«Numero di registrazione del contratto»: campo obbligatorio per chi occupa l'abitazione in affitto o in comodato: indicare gli estremi di registrazione del contratto (art. 5 DL 47/2014).");
    // So does a free loan (comodato).
    let mut data = valid.clone();
    data["titolo_occupazione"] = json!({ "tipo": "comodatario" });
    let (_, errors) = refused_at_submit(&app, RESIDENZA, data).await;
    let pointers: Vec<&str> = errors
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/titolo_occupazione/data_registrazione",
            "/titolo_occupazione/numero_registrazione",
            "/titolo_occupazione/ufficio_registrazione"
        ],
        "{errors:?}"
    );
    // An owner does not.
    let mut data = valid.clone();
    data["titolo_occupazione"] = json!({ "tipo": "proprietario" });
    let id = app.ready_draft(RESIDENZA, data).await;
    assert_eq!(app.submit(&id, None).await.status(), 201);
}

#[tokio::test]
async fn silence_assent_comes_after_45_days_unless_a_preavviso_di_rigetto_suspends_it() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    app.login_citizen(CITIZEN_CF).await;
    let mut data = form_fixture(RESIDENZA, "valid");
    data["contatti"]["email"] = json!("silenzio@example.org");
    let a = app.ready_draft(RESIDENZA, data.clone()).await;
    let res = app.submit(&a, None).await;
    assert_eq!(res.status(), 201);
    let due: NaiveDate = res.json::<Value>().await.unwrap()["due_date"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    data["contatti"]["email"] = json!("preavviso@example.org");
    let b = app.ready_draft(RESIDENZA, data).await;
    assert_eq!(app.submit(&b, None).await.status(), 201);

    // The office sends the preavviso on `b`: the 45 days stop, the citizen is told.
    let op = app.staff_browser(OP).await;
    act_ok(&app, &op, &b, "take", json!({})).await;
    let v = act_ok(
        &app,
        &op,
        &b,
        "refusal-notice",
        json!({ "text": "L'accertamento della polizia locale ha dato esito negativo." }),
    )
    .await;
    let r = &v["procedure"]["residence"];
    assert_eq!(r["silence_assent_on"], Value::Null, "{r}");
    assert_eq!(
        r["refusal_notice"]["observations_by"],
        json!((today() + Duration::days(10)).to_string())
    );
    assert!(v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "refusal_notice"));
    // Once only; and only on a residence declaration.
    let (_, etag) = staff_get(&app, &op, &b).await;
    let res = act(
        &app,
        &op,
        &b,
        "refusal-notice",
        &etag,
        json!({ "text": "Di nuovo." }),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(
        p["errors"][0]["message"],
        "Per questa pratica il preavviso di rigetto è già stato inviato."
    );
    let cv = app
        .get_json(&app.client, &format!("/api/v1/instances/{b}"))
        .await;
    assert!(cv["messages"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Preavviso di rigetto (art. 10-bis L. 241/1990)."));
    // Registered as an outgoing act, like every formal act of the office.
    assert!(
        cv["messages"][0]["protocol"]["year"].as_i64().is_some(),
        "{cv}"
    );
    assert_eq!(
        text(
            &app,
            "SELECT direction AS t FROM protocol_registrations WHERE subject LIKE '%preavviso di rigetto'"
        )
        .as_deref(),
        Some("out")
    );
    assert_eq!(
        cv["procedure"]["residence"]["silence_assent_on"],
        Value::Null
    );

    // On the due date itself the term is still running: nothing happens.
    app.state
        .clock
        .advance(Duration::days((due - today()).num_days()));
    sportello::startup::housekeeping(&app.state).await;
    let va = app
        .get_json(&app.client, &format!("/api/v1/instances/{a}"))
        .await;
    assert_ne!(va["status"], "silence_assent", "on the due date {due}");
    // The day after the due date, the daily job grants `a` (twice run: once done).
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    sportello::startup::housekeeping(&app.state).await;
    let va = app
        .get_json(&app.client, &format!("/api/v1/instances/{a}"))
        .await;
    assert_eq!(va["status"], "silence_assent");
    let events: Vec<&Value> = va["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "silence_assent")
        .collect();
    assert_eq!(events.len(), 1, "{}", va["timeline"]);
    assert_eq!(events[0]["details"]["due_date"], json!(due.to_string()));
    let vb = app
        .get_json(&app.client, &format!("/api/v1/instances/{b}"))
        .await;
    assert_eq!(vb["status"], "in_progress", "the preavviso suspends it");

    let _ = smtp.wait_for(3, 20).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let to = |addr: &str, subject: &str| {
        smtp.messages()
            .into_iter()
            .filter(|m| m["envelope_to"][0] == addr)
            .filter(|m| {
                m["subject"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(subject)
            })
            .count()
    };
    assert_eq!(
        to(
            "silenzio@example.org",
            "Pratica accolta per silenzio-assenso"
        ),
        1
    );
    assert_eq!(
        to(
            "preavviso@example.org",
            "Pratica accolta per silenzio-assenso"
        ),
        0
    );
    assert_eq!(to("preavviso@example.org", "Preavviso di rigetto"), 1);
}

#[tokio::test]
async fn a_tari_declaration_shows_its_estimate_before_submitting_and_the_office_sees_lateness() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    // Started 10 days ago: well within the deadline, whatever today is.
    let mut data = form_fixture(TARI, "valid");
    data["occupazione"]["data_inizio"] = json!((today() - Duration::days(10)).to_string());
    let id = app.ready_draft(TARI, data).await;
    // DPR 158/1999 with the demo tariffs: 3 occupants, 84.5 m² → 1.04 × 84.5 + 140.
    let v = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    let e = &v["procedure"]["tari_estimate"];
    assert_eq!(v["procedure"]["kind"], "tari");
    assert_eq!(
        (e["fixed"].as_f64(), e["variable"].as_f64()),
        (Some(87.88), Some(140.0))
    );
    assert_eq!(e["total"].as_f64(), Some(227.88));
    assert!(
        v["procedure"].get("tari_filing").is_none(),
        "lateness is the office's"
    );
    // A reduction from the ente's list lowers it.
    let res = app
        .patch_draft(
            &id,
            &json!({ "dichiarazione": { "riduzione": "compostaggio" } }),
        )
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v["procedure"]["tari_estimate"]["total"].as_f64(),
        Some(182.3)
    );
    assert_eq!(app.submit(&id, None).await.status(), 201);

    // Filed 100 days after the start: accepted, flagged 10 days late for the office.
    let mut data = form_fixture(TARI, "valid");
    data["occupazione"]["data_inizio"] = json!((today() - Duration::days(100)).to_string());
    let late = app.ready_draft(TARI, data).await;
    assert_eq!(app.submit(&late, None).await.status(), 201);
    let op = app.staff_browser("operatore.tributi").await;
    let (s, _) = staff_get(&app, &op, &late).await;
    assert_eq!(
        s["procedure"]["tari_filing"]["late"], true,
        "{}",
        s["procedure"]
    );
    assert_eq!(s["procedure"]["tari_filing"]["days_late"], 10);
    let (s, _) = staff_get(&app, &op, &id).await;
    assert_eq!(s["procedure"]["tari_filing"]["late"], false);
}

#[tokio::test]
async fn each_tari_rule_refuses_with_its_pointer_and_message() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let valid = form_fixture(TARI, "valid");
    let margin = today() + Duration::days(30);
    let cases: Vec<(Value, &str, String)> = vec![
        (
            json!({ "occupazione": { "data_inizio": (margin + Duration::days(1)).to_string() } }),
            "/occupazione/data_inizio",
            format!(
                "«Data di inizio»: la data non può essere successiva al {} (30 giorni da oggi).",
                margin.format("%d/%m/%Y")
            ),
        ),
        (
            json!({ "dichiarazione": { "tipo": "cessazione" }, "occupazione": { "data_fine": "2026-10-31" } }),
            "/occupazione/data_fine",
            "«Data di fine»: deve essere successiva alla data di inizio dell'occupazione.".into(),
        ),
        (
            json!({ "dichiarazione": { "tipo": "cessazione" }, "occupazione": { "data_fine": (margin + Duration::days(1)).to_string() } }),
            "/occupazione/data_fine",
            format!(
                "«Data di fine»: la data non può essere successiva al {} (30 giorni da oggi).",
                margin.format("%d/%m/%Y")
            ),
        ),
        (
            json!({ "immobile": { "superficie_mq": 5001 } }),
            "/immobile/superficie_mq",
            "«Superficie calpestabile (m²)»: deve essere maggiore di 0 e al massimo 5000 m².".into(),
        ),
        (
            json!({ "utenza": { "numero_occupanti": 0 } }),
            "/utenza/numero_occupanti",
            "«Numero degli occupanti»: indicare da 1 a 20 persone.".into(),
        ),
        (
            json!({ "utenza": {
                "tipo_utenza": "non_domestica", "numero_occupanti": 2, "denominazione": "Bar Sport",
                "partita_iva": "12345678903", "descrizione_attivita": "Bar", "categoria": "24"
            } }),
            "/utenza/numero_occupanti",
            "«Numero degli occupanti»: si indica solo per un'utenza domestica.".into(),
        ),
        (
            json!({ "immobile": { "superficie_mq": 0 } }),
            "/immobile/superficie_mq",
            "«Superficie calpestabile (m²)»: deve essere maggiore di 0 e al massimo 5000 m².".into(),
        ),
        (
            json!({ "utenza": { "numero_occupanti": 25 } }),
            "/utenza/numero_occupanti",
            "«Numero degli occupanti»: indicare da 1 a 20 persone.".into(),
        ),
        (
            json!({ "utenza": {
                "tipo_utenza": "non_domestica", "numero_occupanti": null, "denominazione": "Bar Sport",
                "partita_iva": "12345678901", "descrizione_attivita": "Bar", "categoria": "24"
            } }),
            "/utenza/partita_iva",
            "«Partita IVA o codice fiscale numerico»: il numero non è valido (11 cifre con la cifra di controllo corretta).".into(),
        ),
        (
            json!({ "utenza": {
                "tipo_utenza": "non_domestica", "numero_occupanti": null, "denominazione": "Bar Sport",
                "partita_iva": "12345678903", "descrizione_attivita": "Bar", "categoria": "24",
                "codice_ateco": "56-30"
            } }),
            "/utenza/codice_ateco",
            "«Codice ATECO»: il formato non è valido (ad esempio 56.10.11).".into(),
        ),
    ];
    for (patch, pointer, message) in cases {
        let mut data = valid.clone();
        merge(&mut data, &patch);
        let (p, m) = refused_at_patch(&app, TARI, &data).await;
        assert_eq!(
            (p.as_str(), m.as_str()),
            (pointer, message.as_str()),
            "{patch}"
        );
    }
    // What a draft may still lack: the end of a cessazione, the reduction of a request.
    let mut data = valid.clone();
    data["dichiarazione"]["tipo"] = json!("cessazione");
    let (_, errors) = refused_at_submit(&app, TARI, data).await;
    assert_eq!(
        one(&errors),
        (
            "/occupazione/data_fine",
            "«Data di fine»: campo obbligatorio per la cessazione dell'occupazione."
        )
    );
    let mut data = valid.clone();
    data["dichiarazione"]["tipo"] = json!("riduzione");
    let (_, errors) = refused_at_submit(&app, TARI, data).await;
    assert_eq!(
        one(&errors),
        (
            "/dichiarazione/riduzione",
            "«Riduzione richiesta»: campo obbligatorio per una richiesta di riduzione."
        )
    );
    // An urban unit gives its cadastral data; an uncovered area has none, and submits.
    let mut data = valid.clone();
    data["immobile"]
        .as_object_mut()
        .unwrap()
        .remove("dati_catastali");
    let (_, errors) = refused_at_submit(&app, TARI, data.clone()).await;
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("/immobile/dati_catastali/categoria", "«Categoria catastale»: campo obbligatorio per un'unità immobiliare iscritta al catasto edilizio urbano (art. 1 c. 685 L. 147/2013)."),
            ("/immobile/dati_catastali/foglio", "«Foglio»: campo obbligatorio per un'unità immobiliare iscritta al catasto edilizio urbano (art. 1 c. 685 L. 147/2013)."),
            ("/immobile/dati_catastali/particella", "«Particella o mappale»: campo obbligatorio per un'unità immobiliare iscritta al catasto edilizio urbano (art. 1 c. 685 L. 147/2013)."),
        ]
    );
    data["immobile"]["tipo_immobile"] = json!("area_scoperta");
    let id = app.ready_draft(TARI, data).await;
    assert_eq!(app.submit(&id, None).await.status(), 201);
    // A non-domestic user with a valid VAT number and ATECO code submits.
    let mut data = valid.clone();
    data["utenza"] = json!({
        "tipo_utenza": "non_domestica", "denominazione": "Bar Sport", "partita_iva": "12345678903",
        "descrizione_attivita": "Bar", "categoria": "24", "codice_ateco": "56.30"
    });
    let id = app.ready_draft(TARI, data).await;
    let v = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    // Category 24: (3.60 + 8.00) €/m² × 84.5 m².
    assert_eq!(
        v["procedure"]["tari_estimate"]["total"].as_f64(),
        Some(980.2)
    );
    assert_eq!(app.submit(&id, None).await.status(), 201);
}

#[tokio::test]
async fn access_requests_of_each_kind_and_the_documentale_motivation() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    // Generalizzato (the fixture) and semplice need no motivation; semplice goes to the
    // transparency officer's office.
    let sub = app.submit_valid(FOIA).await;
    assert_eq!(sub["office"]["code"], "urp");
    let mut data = form_fixture(FOIA, "valid");
    data["tipo_accesso"] = json!("semplice");
    data["area_competente"] = json!("tributi");
    let id = app.ready_draft(FOIA, data).await;
    let res = app.submit(&id, None).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.json::<Value>().await.unwrap()["office"]["code"], "urp");

    // Documentale: the motivation is required …
    let mut data = form_fixture(FOIA, "valid");
    data["tipo_accesso"] = json!("documentale");
    let (id, errors) = refused_at_submit(&app, FOIA, data.clone()).await;
    let (p, m) = one(&errors);
    assert_eq!(p, "/motivazione");
    assert_eq!(m, "«Motivazione»: campo obbligatorio per l'accesso documentale: indicare l'interesse diretto, concreto e attuale e la situazione giuridicamente tutelata collegata ai documenti (art. 22 L. 241/1990).");
    // … and must describe the interest.
    data["motivazione"] = json!("Mi serve.");
    let (p, m) = refused_at_patch(&app, FOIA, &data).await;
    assert_eq!(p, "/motivazione");
    assert_eq!(m, "«Motivazione»: troppo breve (almeno 30 caratteri): descrivere l'interesse diretto, concreto e attuale che si intende tutelare.");
    let res = app
        .patch_draft(
            &id,
            &json!({ "motivazione": "Sono il confinante del lotto e valuto un ricorso contro il permesso di costruire." }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.submit(&id, None).await.status(), 201);
    // A delivery preference outside the list is the schema's.
    let mut data = form_fixture(FOIA, "valid");
    data["consegna"] = json!({ "modalita": "piccione" });
    let (p, _) = refused_at_patch(&app, FOIA, &data).await;
    assert_eq!(p, "/consegna/modalita");
}

/// Every kind of each procedure has its valid fixture (`<service>.<kind>.valid.json`), which
/// submits; the per-rule invalid fixtures (`<service>.<rule>.invalid.json`) are refused with
/// their rule's pointer, at saving (a wrong value) or at submission (something missing).
#[tokio::test]
async fn each_kinds_fixture_submits_and_each_rules_fixture_is_refused() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let kinds = [
        (RESIDENZA, "valid", "da_altro_comune"),
        (RESIDENZA, "dall-estero.valid", "dall_estero"),
        (RESIDENZA, "rientro-aire.valid", "rientro_aire"),
        (RESIDENZA, "cambio-indirizzo.valid", "cambio_indirizzo"),
        (TARI, "valid", "inizio_occupazione"),
        (TARI, "variazione.valid", "variazione"),
        (TARI, "cessazione.valid", "cessazione"),
        (TARI, "riduzione.valid", "riduzione"),
        (FOIA, "valid", "generalizzato"),
        (FOIA, "semplice.valid", "semplice"),
        (FOIA, "documentale.valid", "documentale"),
    ];
    for (service, fixture, kind) in kinds {
        let data = form_fixture(service, fixture);
        let kind_of = data
            .pointer("/trasferimento/tipo")
            .or(data.pointer("/dichiarazione/tipo"))
            .or(data.pointer("/tipo_accesso"))
            .and_then(Value::as_str);
        assert_eq!(kind_of, Some(kind), "{service}.{fixture}");
        let id = app.ready_draft(service, data).await;
        let res = app.submit(&id, None).await;
        let status = res.status();
        assert_eq!(
            status,
            201,
            "{service}.{fixture}: {}",
            res.text().await.unwrap()
        );
    }
    // Refused at submission: what the draft still lacks.
    for (service, fixture, pointer) in [
        (RESIDENZA, "consenso-mancante.invalid", "/familiari/0"),
        (FOIA, "documentale.invalid", "/motivazione"),
    ] {
        let (_, errors) = refused_at_submit(&app, service, form_fixture(service, fixture)).await;
        assert_eq!(one(&errors).0, pointer, "{service}.{fixture}");
    }
    // Refused at saving: a wrong value.
    let (p, _) = refused_at_patch(&app, TARI, &form_fixture(TARI, "partita-iva.invalid")).await;
    assert_eq!(p, "/utenza/partita_iva");
    // Each kind's invalid fixture: refused where its rule says (at saving, or at submission
    // for what a draft may still lack), at that field only.
    for (service, fixture, pointer) in [
        (
            RESIDENZA,
            "cambio-indirizzo.invalid",
            "/familiari/0/rapporto_parentela",
        ),
        (
            RESIDENZA,
            "dall-estero.invalid",
            "/titolo_occupazione/numero_registrazione",
        ),
        (
            RESIDENZA,
            "rientro-aire.invalid",
            "/composizione/famiglia_esistente/codice_fiscale",
        ),
        (TARI, "variazione.invalid", "/immobile/superficie_mq"),
        (TARI, "cessazione.invalid", "/occupazione/data_fine"),
        (TARI, "riduzione.invalid", "/dichiarazione/riduzione"),
        (FOIA, "semplice.invalid", "/oggetto_richiesta"),
    ] {
        let id = app.create_draft(service).await;
        let res = app.patch_draft(&id, &form_fixture(service, fixture)).await;
        let body = if res.status() == 422 {
            res.json::<Value>().await.unwrap()
        } else {
            assert_eq!(res.status(), 200, "{service}.{fixture}");
            assert_problem(app.submit(&id, None).await, 422, "validation").await
        };
        let pointers: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert_eq!(pointers, [pointer], "{service}.{fixture}: {body}");
    }
}
