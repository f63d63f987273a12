//! pagoPA fees (issue #18 §1) against a FAKE of the GPD (tests/peers/pagopa_peer.py), which
//! validates every request against the published GPD document
//! (`../shared/standards/pagopa/gpd-debt-positions-external-v1.json`, or
//! `SPORTELLO_PAGOPA_SPEC_DIR`): a booking of a service with a fee holds its place and makes a
//! payment whose debt position the outbox creates — once, through failures, timeouts and a
//! lost answer; a refusal is a dead letter; an unpaid booking expires with its payment.

use std::path::PathBuf;

use crate::helpers::*;
use serde_json::{json, Value};
use sportello::notify::Worker;

const KEY: &str = "chiave-gpd-di-prova";
const FEE_CENTS: i64 = 2221;
const IBAN: &str = "IT60X0542811101000000123456";

fn spec_dir() -> PathBuf {
    std::env::var_os("SPORTELLO_PAGOPA_SPEC_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("../shared/standards/pagopa"))
}

/// The fake of pagoPA (tests/peers/pagopa_peer.py).
struct Gpd(PyPeer);

impl std::ops::Deref for Gpd {
    type Target = PyPeer;
    fn deref(&self) -> &PyPeer {
        &self.0
    }
}

impl Gpd {
    fn start() -> Self {
        let spec = spec_dir();
        assert!(
            spec.join("gpd-debt-positions-external-v1.json").is_file(),
            "the pagoPA documents are missing: {}",
            spec.display()
        );
        Self(PyPeer::start(
            "pagopa_peer.py",
            &[
                "--key".as_ref(),
                KEY.as_ref(),
                "--spec-dir".as_ref(),
                spec.as_os_str(),
            ],
        ))
    }

    /// Nothing Sportello sent, nor anything the fake answered, broke the documents.
    async fn assert_conforms(&self) {
        let s = self.state().await;
        assert_eq!(
            s["violations"],
            json!([]),
            "outside the pagoPA documents: {s}"
        );
    }
}

/// The demo bundle with the CIE appointments charging the CIE fee, the ente with its
/// segregation code.
fn fee_bundle() -> PathBuf {
    let dir = tempdir().join("bundle");
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let ente = std::fs::read_to_string(dir.join("ente.toml")).unwrap();
    let cf = "fiscal_code = \"00000000000\"\n";
    assert!(ente.contains(cf));
    std::fs::write(
        dir.join("ente.toml"),
        ente.replacen(cf, &format!("{cf}pagopa_segregation_code = \"01\"\n"), 1),
    )
    .unwrap();
    let svc = dir.join("services/appuntamento-anagrafe.toml");
    let text = std::fs::read_to_string(&svc).unwrap();
    assert!(text.contains("needs_payment = false"));
    std::fs::write(
        &svc,
        format!(
            "{}\n[[fee]]\namount_cents = {FEE_CENTS}\ncategory = \"9/0101108TS/\"\n\
             remittance = \"Corrispettivo per il rilascio della carta d'identità elettronica\"\n\
             iban = \"{IBAN}\"\n",
            text.replace("needs_payment = false", "needs_payment = true")
        ),
    )
    .unwrap();
    dir
}

async fn app_with(gpd: &Gpd, key: &str) -> TestApp {
    let (port, key) = (gpd.port, key.to_owned());
    let app = spawn_empty_app_with(move |s| {
        s.pagopa.enabled = true;
        s.pagopa.gpd_base_url = Some(format!("http://127.0.0.1:{port}/"));
        s.pagopa.checkout_base_url = Some(format!("http://127.0.0.1:{port}"));
        s.pagopa.receipts_base_url = Some(format!("http://127.0.0.1:{port}"));
        s.pagopa.subscription_key = Some(sportello::config::Secret::new(key));
        s.pagopa.timeout_secs = 1;
    })
    .await;
    app.load_bundle(&fee_bundle());
    app
}

/// One round of the outbox worker, with the app's pagoPA settings.
async fn work(app: &TestApp) -> usize {
    let mut s = test_settings();
    s.mail.lease_secs = 1;
    let w = Worker::new(app.db.clone(), &s.mail)
        .unwrap()
        .with_pagopa(app.state.settings.pagopa.clone());
    tokio::task::spawn_blocking(move || w.run_once())
        .await
        .unwrap()
        .unwrap()
}

/// The outbox's retry is due now (instead of after its backoff).
fn due_now(app: &TestApp) {
    app.exec("UPDATE outbox SET next_attempt_at = created_at WHERE status = 'pending'");
}

fn text_of(app: &TestApp, sql: &str) -> Option<String> {
    text(app, sql)
}

#[tokio::test]
async fn a_booking_with_a_fee_makes_one_debt_position_through_failures_timeouts_and_a_lost_answer()
{
    let gpd = Gpd::start();
    let app = app_with(&gpd, KEY).await;
    let b = crate::booking::book_first_cie_slot(&app).await;

    // Held, not confirmed; the payment waits for its debt position.
    assert_eq!(b["status"], "pending_payment", "{b}");
    assert!(b["hold_until"].is_string());
    let p = &b["payment"];
    assert_eq!(p["status"], "creation_pending", "{b}");
    assert_eq!(p["amount_cents"], FEE_CENTS);
    assert_eq!(p["payee_fiscal_code"], "00000000000");
    let iuv = p["iuv"].as_str().unwrap().to_owned();
    assert!(
        iuv.starts_with("01"),
        "the ente's segregation code first: {iuv}"
    );
    assert!(sportello::payments::iuv::is_valid(&iuv), "{iuv}");
    assert_eq!(p["notice_number"], format!("3{iuv}"));
    assert_eq!(
        text_of(&app, "SELECT kind AS t FROM outbox").as_deref(),
        Some("pagopa-position")
    );

    // The platform fails (503), then times out, then creates it but the answer is lost:
    // every time the job is retried, and the payment stays `creation_pending`.
    gpd.control(json!({"fail": 1, "fail_status": 503})).await;
    assert_eq!(work(&app).await, 1);
    assert_eq!(
        text_of(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("pending")
    );
    assert!(text_of(&app, "SELECT last_error AS t FROM payments")
        .unwrap()
        .contains("503"));
    gpd.control(json!({"hold_secs": 3})).await;
    due_now(&app);
    assert_eq!(work(&app).await, 1);
    gpd.control(json!({"hold_secs": 0, "lose_answers": 1}))
        .await;
    due_now(&app);
    assert_eq!(work(&app).await, 1);
    assert_eq!(
        text_of(&app, "SELECT status AS t FROM payments").as_deref(),
        Some("creation_pending")
    );
    // The retry meets a 409 (the GPD has it), reads it back, and takes it as created.
    due_now(&app);
    assert_eq!(work(&app).await, 1);
    assert_eq!(
        text_of(&app, "SELECT status AS t FROM payments").as_deref(),
        Some("payment_pending")
    );
    assert_eq!(
        text_of(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("sent")
    );
    assert_eq!(work(&app).await, 0);

    // One position, as the document describes it: the citizen, the ente, the transfer.
    let state = gpd.state().await;
    let positions = state["positions"].as_object().unwrap();
    assert_eq!(positions.len(), 1, "never two positions: {state}");
    let (iupd, pos) = positions.iter().next().unwrap();
    assert_eq!(
        text_of(&app, "SELECT iupd AS t FROM payments").as_deref(),
        Some(iupd.as_str())
    );
    assert_eq!(pos["status"], "VALID", "published");
    assert_eq!(pos["organizationFiscalCode"], "00000000000");
    let option = &pos["paymentOption"][0];
    assert_eq!(option["iuv"], iuv.as_str());
    assert_eq!(option["nav"], format!("3{iuv}"));
    assert_eq!(option["amount"], FEE_CENTS);
    let sent = state["requests"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(sent["fiscalCode"], CITIZEN_CF);
    assert_eq!(sent["type"], "F");
    assert_eq!(sent["switchToExpired"], true);
    let transfer = &sent["paymentOption"][0]["transfer"][0];
    assert_eq!(transfer["iban"], IBAN);
    assert_eq!(transfer["category"], "9/0101108TS/");
    assert_eq!(transfer["organizationFiscalCode"], "00000000000");
    assert_eq!(transfer["amount"], FEE_CENTS);
    // Calls: the 503, the timeout, the lost answer, the 409 and its read-back.
    assert_eq!(state["calls"], 5, "{state}");
    gpd.assert_conforms().await;

    // The citizen sees the notice to pay with.
    let citizen = app.citizen_browser(CITIZEN_CF).await;
    let id = b["id"].as_str().unwrap();
    let v = app
        .get_json(&citizen, &format!("/api/v1/me/bookings/{id}"))
        .await;
    assert_eq!(v["payment"]["status"], "payment_pending", "{v}");
    assert_eq!(v["payment"]["notice_number"], format!("3{iuv}"));
}

#[tokio::test]
async fn a_refused_position_is_a_dead_letter_and_the_payment_says_so() {
    let gpd = Gpd::start();
    let app = app_with(&gpd, "chiave-sbagliata").await;
    let b = crate::booking::book_first_cie_slot(&app).await;
    assert_eq!(work(&app).await, 1);
    assert_eq!(
        text_of(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("dead")
    );
    assert_eq!(
        text_of(&app, "SELECT status AS t FROM payments").as_deref(),
        Some("creation_failed")
    );
    assert!(text_of(&app, "SELECT last_error AS t FROM payments")
        .unwrap()
        .contains("401"));
    let citizen = app.citizen_browser(CITIZEN_CF).await;
    let v = app
        .get_json(
            &citizen,
            &format!("/api/v1/me/bookings/{}", b["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(v["payment"]["status"], "creation_failed");
    assert!(gpd.state().await["positions"]
        .as_object()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_unpaid_booking_expires_with_its_payment_and_frees_its_place() {
    let gpd = Gpd::start();
    let app = app_with(&gpd, KEY).await;
    let b = crate::booking::book_first_cie_slot(&app).await;
    assert_eq!(work(&app).await, 1);
    let id = b["id"].as_str().unwrap();
    app.state.clock.advance(chrono::Duration::hours(2));
    sportello::startup::housekeeping(&app.state).await;
    let citizen = app.citizen_browser(CITIZEN_CF).await;
    let v = app
        .get_json(&citizen, &format!("/api/v1/me/bookings/{id}"))
        .await;
    assert_eq!(v["status"], "expired", "{v}");
    assert_eq!(v["payment"]["status"], "expired");
    // The place is free again: the citizen may book it.
    let res = crate::booking::book(
        &app,
        &citizen,
        "appuntamento-anagrafe",
        "anagrafe-cie",
        &b["starts_at"],
    )
    .await;
    assert_eq!(res.status(), 201);
}

#[test]
fn a_fee_pagopa_would_refuse_is_refused_by_the_bundle_loader() {
    let cases: [(&str, &str, &str); 5] = [
        (
            "needs_payment = true",
            "needs_payment = false",
            "needs_payment = true",
        ),
        (
            "iban = \"IT60X0542811101000000123456\"",
            "iban = \"IT60 X054\"",
            "iban",
        ),
        ("amount_cents = 2221", "amount_cents = 0", "amount_cents"),
        ("pagopa_segregation_code = \"01\"\n", "", "segregation code"),
        ("[[fee]]", "[[nofee]]", "unknown field"),
    ];
    for (from, to, why) in cases {
        let dir = fee_bundle();
        for f in ["ente.toml", "services/appuntamento-anagrafe.toml"] {
            let p = dir.join(f);
            let t = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, t.replacen(from, to, 1)).unwrap();
        }
        let err = sportello::bundle::Bundle::read(&dir).expect_err(to);
        assert!(format!("{err:#}").contains(why), "{to}: {err:#}");
    }
    // And a bookable service with needs_payment but no fee.
    let dir = fee_bundle();
    let p = dir.join("services/appuntamento-anagrafe.toml");
    let t = std::fs::read_to_string(&p).unwrap();
    let cut = t.find("[[fee]]").unwrap();
    std::fs::write(&p, &t[..cut]).unwrap();
    let err = sportello::bundle::Bundle::read(&dir).unwrap_err();
    assert!(format!("{err:#}").contains("needs its [[fee]]"), "{err:#}");
}

#[tokio::test]
async fn the_citizen_pays_through_checkout_the_receipt_comes_and_the_booking_is_confirmed() {
    let gpd = Gpd::start();
    let app = app_with(&gpd, KEY).await;
    let b = crate::booking::book_first_cie_slot(&app).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let citizen = app.citizen_browser(CITIZEN_CF).await;
    let checkout = format!("/api/v1/me/bookings/{id}/checkout");
    // Not before the position exists.
    let res = citizen.post(app.url(&checkout)).send().await.unwrap();
    let p = assert_problem(res, 409, "conflict").await;
    assert!(
        p["detail"].as_str().unwrap().contains("in preparazione"),
        "{p}"
    );
    assert_eq!(work(&app).await, 1);

    // The printable notice, to pay later anywhere: payee, amount, the QR code's content.
    let res = citizen
        .get(app.url(&format!("/api/v1/me/bookings/{id}/notice")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    let notice = b["payment"]["notice_number"].as_str().unwrap();
    let qr = format!("PAGOPA|002|{notice}|00000000000|{FEE_CENTS}");
    assert!(html.contains(&qr), "{html}");
    assert!(html.contains("22,21 euro"));
    assert!(html.contains("Comune di Esempio (codice fiscale 00000000000)"));
    assert!(html.contains(&sportello::payments::grouped(notice)));
    assert!(html.contains("<html lang=\"it\">"));
    let svg = &html[html.find("<svg").expect("the QR code")..html.find("</svg>").unwrap()];
    assert!(svg.contains("aria-labelledby=\"qr-text\""));
    // The same content makes the same code (the QR encodes exactly the notice's content).
    let again = qrcode::QrCode::with_error_correction_level(qr.as_bytes(), qrcode::EcLevel::M)
        .unwrap()
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let path = |s: &str| {
        s[s.find("<path").unwrap()..]
            .split("/>")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(path(svg), path(&again));

    // Checkout: a cart with the booking's notice; the platform's page to go to.
    let res = citizen.post(app.url(&checkout)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let url = v["checkout_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{}/checkout/", gpd.port)),
        "{url}"
    );
    let state = gpd.state().await;
    let cart = &state["carts"][0];
    assert_eq!(cart["paymentNotices"][0]["noticeNumber"], notice);
    assert_eq!(cart["paymentNotices"][0]["amount"], FEE_CENTS);
    assert_eq!(cart["paymentNotices"][0]["fiscalCode"], "00000000000");
    assert!(cart["returnUrls"]["returnOkUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/v1/me/bookings/{id}")));
    let v = app
        .get_json(&citizen, &format!("/api/v1/me/bookings/{id}"))
        .await;
    assert_eq!(v["payment"]["status"], "payment_started");
    assert_eq!(v["status"], "pending_payment");

    // Unpaid: the housekeeping asks for the receipt, there is none, nothing changes.
    sportello::startup::housekeeping(&app.state).await;
    assert_eq!(gpd.state().await["receipts_read"], 1);
    let v = app
        .get_json(&citizen, &format!("/api/v1/me/bookings/{id}"))
        .await;
    assert_eq!(v["status"], "pending_payment");

    // Paid on the platform: the receipt is fetched and stored, the booking confirmed, once.
    let iupd = text_of(&app, "SELECT iupd AS t FROM payments").unwrap();
    gpd.control(json!({ "pay": iupd })).await;
    sportello::startup::housekeeping(&app.state).await;
    let v = app
        .get_json(&citizen, &format!("/api/v1/me/bookings/{id}"))
        .await;
    assert_eq!(v["status"], "confirmed", "{v}");
    assert!(v["hold_until"].is_null());
    assert_eq!(v["payment"]["status"], "paid");
    let receipt = text_of(&app, "SELECT receipt AS t FROM payments").unwrap();
    assert!(
        receipt.contains(&format!("<noticeNumber>{notice}</noticeNumber>")),
        "{receipt}"
    );
    sportello::startup::housekeeping(&app.state).await;
    assert_eq!(
        gpd.state().await["receipts_read"],
        2,
        "a paid payment is not asked again"
    );
    // Paying again is refused, the notice too; the place stays taken after the hold would
    // have run out.
    let res = citizen.post(app.url(&checkout)).send().await.unwrap();
    assert_problem(res, 409, "conflict").await;
    let res = citizen
        .get(app.url(&format!("/api/v1/me/bookings/{id}/notice")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 409, "conflict").await;
    app.state.clock.advance(chrono::Duration::hours(2));
    sportello::startup::housekeeping(&app.state).await;
    let v = app
        .get_json(&citizen, &format!("/api/v1/me/bookings/{id}"))
        .await;
    assert_eq!(v["status"], "confirmed");
    gpd.assert_conforms().await;

    // The office sees it: in the day's agenda, and in the payments report of the period.
    let op = app.staff_browser("operatore.anagrafe").await;
    let day = &v["starts_at"].as_str().unwrap()[..10];
    let agenda = app
        .get_json(
            &op,
            &format!("/api/v1/staff/calendars/anagrafe-cie/agenda?date={day}"),
        )
        .await;
    let mine = agenda["slots"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["bookings"].as_array().unwrap().iter())
        .find(|x| x["id"] == id.as_str())
        .expect("the booking in the agenda")
        .clone();
    assert_eq!(mine["payment"], "paid");
    let today = app.state.clock.today();
    let report = app
        .get_json(
            &op,
            &format!(
                "/api/v1/staff/calendars/anagrafe-cie/payments?from={}&to={today}",
                today - chrono::Duration::days(1)
            ),
        )
        .await;
    assert_eq!(report["paid_cents"], FEE_CENTS, "{report}");
    assert_eq!(report["days"][0]["paid"], 1);
    assert_eq!(report["days"][0]["payments"], 1);
    // Another office's operator does not see the calendar; a reversed period is refused.
    let other = app.staff_browser("operatore.tributi").await;
    let res = app
        .get_as(&other, "/api/v1/staff/calendars/anagrafe-cie/payments")
        .await;
    assert_problem(res, 404, "not-found").await;
    let res = app
        .get_as(
            &op,
            "/api/v1/staff/calendars/anagrafe-cie/payments?from=2026-12-10&to=2026-12-01",
        )
        .await;
    assert_problem(res, 422, "validation").await;
}
