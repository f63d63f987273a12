//! Appointment booking end to end (issue #14) on the demo calendars: availability within the
//! window, booking with its code and iCalendar e-mail, the per-citizen limit, cancel and move
//! until the deadline, the waiting list and its race, the office's agenda, attendance and
//! cancellations, the reminder once across a restart, and never overbooking under load.

use crate::helpers::*;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};
use sportello::domain::codice_fiscale::CodiceFiscale;

const ANAGRAFE: &str = "appuntamento-anagrafe";
const SINDACO: &str = "incontro-sindaco";

/// The `n`-th of a family of valid codici fiscali (distinct for n < 10,000).
fn cf(n: usize) -> String {
    let first = format!("VRDLGU{:02}A01A{:03}", 50 + n / 1000, n % 1000);
    CodiceFiscale::complete(&first)
        .expect("a valid code")
        .to_string()
}

async fn availability(app: &TestApp, slug: &str, from: NaiveDate, to: NaiveDate) -> Value {
    let res = app
        .get(&format!(
            "/api/v1/services/{slug}/availability?from={from}&to={to}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The first day from tomorrow with at least `n` free slots in `calendar`, and those slots.
pub(crate) async fn open_day(
    app: &TestApp,
    slug: &str,
    calendar: &str,
    n: usize,
) -> (NaiveDate, Vec<Value>) {
    let today = app.state.clock.today();
    let a = availability(
        app,
        slug,
        today + Duration::days(3),
        today + Duration::days(40),
    )
    .await;
    for d in a["days"].as_array().unwrap() {
        let slots: Vec<Value> = d["slots"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["calendar"] == calendar)
            .cloned()
            .collect();
        if slots.len() >= n {
            return (d["date"].as_str().unwrap().parse().unwrap(), slots);
        }
    }
    panic!("no day with {n} free slots in {calendar}: {a}");
}

pub(crate) async fn book(
    app: &TestApp,
    c: &reqwest::Client,
    slug: &str,
    calendar: &str,
    starts_at: &Value,
) -> reqwest::Response {
    c.post(app.url("/api/v1/bookings"))
        .json(&json!({
            "service": slug,
            "calendar": calendar,
            "starts_at": starts_at,
            "reason": "Rinnovo della carta d'identità",
        }))
        .send()
        .await
        .unwrap()
}

/// The demo citizen books the first free slot of the CIE desk; the booking's view.
pub(crate) async fn book_first_cie_slot(app: &TestApp) -> Value {
    let citizen = app.citizen_browser(CITIZEN_CF).await;
    let (_, slots) = open_day(app, "appuntamento-anagrafe", "anagrafe-cie", 1).await;
    let res = book(
        app,
        &citizen,
        "appuntamento-anagrafe",
        "anagrafe-cie",
        &slots[0]["starts_at"],
    )
    .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Has the bundle in `dir` register each CIE appointment in the protocol.
pub(crate) fn register_cie_bookings(dir: &std::path::Path) {
    let svc = dir.join("services/appuntamento-anagrafe.toml");
    let text = std::fs::read_to_string(&svc).unwrap();
    assert!(text.contains("register_in_protocol = false"));
    std::fs::write(
        &svc,
        text.replace(
            "register_in_protocol = false",
            "register_in_protocol = true",
        ),
    )
    .unwrap();
}

async fn post(app: &TestApp, c: &reqwest::Client, path: &str, body: Value) -> reqwest::Response {
    c.post(app.url(path)).json(&body).send().await.unwrap()
}

fn free_at(a: &Value, starts_at: &Value, calendar: &str) -> i64 {
    a["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["slots"].as_array().unwrap().iter())
        .find(|s| s["starts_at"] == *starts_at && s["calendar"] == calendar)
        .map_or(0, |s| s["free"].as_i64().unwrap())
}

/// A citizen's browser with an e-mail address on file.
async fn citizen_with_mail(app: &TestApp, code: &str, email: &str) -> reqwest::Client {
    let c = app.citizen_browser(code).await;
    app.exec(&format!(
        "UPDATE citizens SET email = '{email}' WHERE codice_fiscale = '{code}'"
    ));
    c
}

#[tokio::test]
async fn availability_follows_the_calendars_the_window_and_the_closed_days() {
    let app = spawn_app().await;
    let today = app.state.clock.today();
    let a = availability(&app, ANAGRAFE, today, today + Duration::days(91)).await;
    assert_eq!(a["calendars"].as_array().unwrap().len(), 2);
    assert_eq!(a["calendars"][0]["code"], "anagrafe-cie");
    assert_eq!(a["calendars"][0]["capacity"], 2);
    let days = a["days"].as_array().unwrap();
    assert_eq!(days.len(), 92);
    let earliest = app.state.clock.now() + Duration::hours(2);
    let latest = app.state.clock.now() + Duration::days(60);
    for d in days {
        let date: NaiveDate = d["date"].as_str().unwrap().parse().unwrap();
        for s in d["slots"].as_array().unwrap() {
            let at = chrono::DateTime::parse_from_rfc3339(s["starts_at"].as_str().unwrap())
                .unwrap()
                .naive_utc();
            assert!(at >= earliest && at <= latest, "outside the window: {s}");
            assert_eq!(sportello::domain::calendar::rome_date(at), date);
            let offset = if s["starts_at"].as_str().unwrap().ends_with("+02:00") {
                2
            } else {
                1
            };
            assert_eq!(
                sportello::domain::calendar::rome_offset_hours(at),
                offset,
                "Italian time in {s}"
            );
        }
        // National holidays and the ente's days off are closed, with the reason.
        if sportello::domain::calendar::is_national_holiday(date) {
            assert_eq!(d["closed"], "festività nazionale", "{d}");
            assert!(d["slots"].as_array().unwrap().is_empty());
        }
        if date.format("%m-%d").to_string() == "06-24" {
            assert_eq!(d["closed"], "festa del santo patrono");
        }
        if date > today + Duration::days(61) {
            assert!(
                d["slots"].as_array().unwrap().is_empty(),
                "past max_days_ahead"
            );
        }
    }
    // Saturdays only the certificates' desk, every 10 minutes from 09:00 to 11:00.
    let saturday = days
        .iter()
        .find(|d| {
            let date: NaiveDate = d["date"].as_str().unwrap().parse().unwrap();
            chrono::Datelike::weekday(&date) == chrono::Weekday::Sat
                && date > today + Duration::days(1)
                && d["closed"].is_null()
                && date < today + Duration::days(50)
        })
        .expect("a Saturday");
    let times: Vec<&str> = saturday["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["calendar"], "anagrafe-certificati");
            s["time"].as_str().unwrap()
        })
        .collect();
    assert_eq!(times.len(), 12, "{saturday}");
    assert_eq!(times[0], "09:00");
    assert_eq!(times[11], "10:50");

    // The service card names its booking entry point; the on-request one has none.
    let card: Value = app
        .get(&format!("/api/v1/services/{ANAGRAFE}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["booking"]["bookable"], true);
    assert_eq!(
        card["booking"]["availability_url"],
        format!("/api/v1/services/{ANAGRAFE}/availability")
    );
    assert_eq!(card["booking"]["calendars"].as_array().unwrap().len(), 2);
    let res = app
        .get(&format!(
            "/api/v1/services/{ANAGRAFE}/availability?from={today}&to={}",
            today + Duration::days(92)
        ))
        .await;
    assert_problem(res, 422, "validation").await;
    let res = app
        .get("/api/v1/services/richiesta-appuntamento/availability")
        .await;
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn a_booking_is_confirmed_with_a_code_and_an_icalendar_and_the_limit_holds() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    let c = citizen_with_mail(&app, CITIZEN_CF, "prenota@example.org").await;
    let (day, slots) = open_day(&app, ANAGRAFE, "anagrafe-cie", 2).await;
    let res = book(&app, &c, ANAGRAFE, "anagrafe-cie", &slots[0]["starts_at"]).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let b: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/me/bookings/{}", b["id"].as_str().unwrap())
    );
    assert_eq!(b["status"], "confirmed");
    assert_eq!(b["status_label"], "confermata");
    let code = b["code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(code
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(b["starts_at"], slots[0]["starts_at"]);
    assert_eq!(b["calendar"]["code"], "anagrafe-cie");

    // One place fewer; the citizen's area lists it; its iCalendar file.
    let a = availability(&app, ANAGRAFE, day, day).await;
    assert_eq!(free_at(&a, &slots[0]["starts_at"], "anagrafe-cie"), 1);
    let mine = app.get_json(&c, "/api/v1/me/bookings").await;
    assert_eq!(mine["bookings"][0]["code"], code);
    let res = app.get_as(&c, b["ical_url"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    // Unfolded (RFC 5545 folds lines at 75 octets).
    let ics = res.text().await.unwrap().replace("\r\n ", "");
    assert!(
        ics.contains("BEGIN:VEVENT\r\n") && ics.contains("METHOD:REQUEST\r\n"),
        "{ics}"
    );
    assert!(ics.contains(code));

    // The confirmation e-mail carries the same file.
    let mail = smtp.wait_for(1, 20).await;
    let m = &mail[0];
    assert_eq!(m["envelope_to"][0], "prenota@example.org");
    assert!(m["subject"].as_str().unwrap().contains(code), "{m}");
    assert!(m["body"].as_str().unwrap().contains(code));
    let att = &m["attachments"][0];
    assert_eq!(att["filename"], "appuntamento.ics");
    assert_eq!(att["content_type"], "text/calendar");
    assert!(att["content"].as_str().unwrap().contains("DTSTART:"));

    // One active booking per citizen for this service.
    let res = book(&app, &c, ANAGRAFE, "anagrafe-cie", &slots[1]["starts_at"]).await;
    let p = assert_problem(res, 409, "booking-limit").await;
    assert!(
        p["detail"].as_str().unwrap().contains("al massimo 1"),
        "{p}"
    );
    // Wrong requests answer with the field.
    let res = book(
        &app,
        &c,
        ANAGRAFE,
        "anagrafe-cie",
        &json!("2026-13-01T25:00:00Z"),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    assert_eq!(p["errors"][0]["pointer"], "/starts_at");
    let off_grid = slots[0]["starts_at"]
        .as_str()
        .unwrap()
        .replace(":00+", ":05+");
    let res = book(&app, &c, ANAGRAFE, "anagrafe-cie", &json!(off_grid)).await;
    let p = assert_problem(res, 422, "validation").await;
    assert!(p["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("non è tra quelli"));
    let res = book(
        &app,
        &app.client,
        ANAGRAFE,
        "anagrafe-cie",
        &slots[1]["starts_at"],
    )
    .await;
    assert_eq!(res.status(), 401, "not logged in");
}

#[tokio::test]
async fn cancel_and_move_until_the_deadline_and_not_after() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    let c = citizen_with_mail(&app, CITIZEN_CF, "sposta@example.org").await;
    let (day, slots) = open_day(&app, ANAGRAFE, "anagrafe-cie", 3).await;
    let b: Value = book(&app, &c, ANAGRAFE, "anagrafe-cie", &slots[0]["starts_at"])
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap();
    // Move to the third slot: the old place is free again, the new one taken.
    let res = post(
        &app,
        &c,
        &format!("/api/v1/me/bookings/{id}/move"),
        json!({ "starts_at": slots[2]["starts_at"] }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let moved: Value = res.json().await.unwrap();
    assert_eq!(moved["starts_at"], slots[2]["starts_at"]);
    assert_eq!(moved["code"], b["code"], "same booking, same code");
    let a = availability(&app, ANAGRAFE, day, day).await;
    assert_eq!(free_at(&a, &slots[0]["starts_at"], "anagrafe-cie"), 2);
    assert_eq!(free_at(&a, &slots[2]["starts_at"], "anagrafe-cie"), 1);
    let mail = smtp.wait_for(2, 20).await;
    assert!(mail.iter().any(|m| m["subject"]
        .as_str()
        .unwrap()
        .starts_with("Prenotazione spostata")
        && m["attachments"][0]["content"]
            .as_str()
            .unwrap()
            .contains("SEQUENCE:1")));

    // Within 24 hours of the appointment: neither cancel nor move.
    let starts = chrono::DateTime::parse_from_rfc3339(moved["starts_at"].as_str().unwrap())
        .unwrap()
        .naive_utc();
    let ahead = starts - app.state.clock.now() - Duration::hours(23);
    app.state.clock.advance(ahead);
    let res = post(
        &app,
        &c,
        &format!("/api/v1/me/bookings/{id}/cancel"),
        json!({}),
    )
    .await;
    let p = assert_problem(res, 409, "conflict").await;
    assert!(
        p["detail"].as_str().unwrap().contains("contatti l'ufficio"),
        "{p}"
    );
    let res = post(
        &app,
        &c,
        &format!("/api/v1/me/bookings/{id}/move"),
        json!({ "starts_at": slots[1]["starts_at"] }),
    )
    .await;
    assert_problem(res, 409, "conflict").await;
    // Another citizen's booking is not found.
    let other = app.citizen_browser(&cf(1)).await;
    let res = post(
        &app,
        &other,
        &format!("/api/v1/me/bookings/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn a_cancelled_booking_frees_its_place_and_the_citizen_may_book_again() {
    let app = spawn_app().await;
    let c = app.citizen_browser(CITIZEN_CF).await;
    let (_, slots) = open_day(&app, SINDACO, "sindaco", 2).await;
    let b: Value = book(&app, &c, SINDACO, "sindaco", &slots[0]["starts_at"])
        .await
        .json()
        .await
        .unwrap();
    let res = post(
        &app,
        &c,
        &format!("/api/v1/me/bookings/{}/cancel", b["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "cancelled");
    let res = book(&app, &c, SINDACO, "sindaco", &slots[1]["starts_at"]).await;
    assert_eq!(res.status(), 201, "the quota came back");
    let res = post(
        &app,
        &c,
        &format!("/api/v1/me/bookings/{}/cancel", b["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_problem(res, 409, "conflict").await;
}

#[tokio::test]
async fn a_full_day_has_a_waiting_list_and_a_freed_place_goes_to_whoever_books_first() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    let (day, slots) = open_day(&app, SINDACO, "sindaco", 4).await;
    assert_eq!(slots.len(), 4, "10:00–12:00, half an hour each");
    // Four citizens take the four places; a fifth finds the place taken.
    let mut bookers = Vec::new();
    for (i, s) in slots.iter().enumerate() {
        let c = app.citizen_browser(&cf(i)).await;
        let res = book(&app, &c, SINDACO, "sindaco", &s["starts_at"]).await;
        assert_eq!(res.status(), 201);
        let b: Value = res.json().await.unwrap();
        bookers.push((c, b));
    }
    let late = citizen_with_mail(&app, &cf(10), "in.attesa@example.org").await;
    let res = book(&app, &late, SINDACO, "sindaco", &slots[0]["starts_at"]).await;
    let p = assert_problem(res, 409, "slot-taken").await;
    assert_eq!(p["title"], "Posto non più disponibile");
    let a = availability(&app, SINDACO, day, day).await;
    assert_eq!(a["days"][0]["full"], true);

    // The waiting list: only for a full day.
    let res = post(
        &app,
        &late,
        &format!("/api/v1/services/{SINDACO}/waiting-list"),
        json!({ "date": day }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let second = citizen_with_mail(&app, &cf(11), "secondo@example.org").await;
    let res = post(
        &app,
        &second,
        &format!("/api/v1/services/{SINDACO}/waiting-list"),
        json!({ "date": day }),
    )
    .await;
    assert_eq!(res.status(), 201);

    // A cancellation offers the place to the first in line, by e-mail…
    let (c0, b0) = &bookers[0];
    let res = post(
        &app,
        c0,
        &format!("/api/v1/me/bookings/{}/cancel", b0["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mine = app.get_json(&late, "/api/v1/me/bookings").await;
    assert_eq!(mine["waiting"][0]["status"], "offered");
    let mine2 = app.get_json(&second, "/api/v1/me/bookings").await;
    assert_eq!(
        mine2["waiting"][0]["status"], "waiting",
        "only the first is told"
    );
    let mail = smtp.wait_for(1, 20).await;
    let offer = mail
        .iter()
        .find(|m| m["envelope_to"][0] == "in.attesa@example.org")
        .expect("the offer");
    assert!(offer["subject"]
        .as_str()
        .unwrap()
        .starts_with("Si è liberato un posto"));
    // …but the place is not held: the second books first and gets it; the first finds it
    // taken; nobody overbooks.
    let res = book(&app, &second, SINDACO, "sindaco", &slots[0]["starts_at"]).await;
    assert_eq!(res.status(), 201);
    let res = book(&app, &late, SINDACO, "sindaco", &slots[0]["starts_at"]).await;
    assert_problem(res, 409, "slot-taken").await;
    let booked: i64 = scalar(
        &app,
        "SELECT CAST(COALESCE(MAX(booked), 0) AS BIGINT) AS n FROM booking_slots",
    );
    assert_eq!(booked, 1);
}

#[tokio::test]
async fn the_office_sees_its_agenda_cancels_a_slot_or_a_day_and_every_citizen_is_told() {
    let smtp = SmtpSink::start();
    let app = spawn_app_with(|s| mail_to(s, smtp.port)).await;
    let (day, slots) = open_day(&app, ANAGRAFE, "anagrafe-cie", 2).await;
    let a = citizen_with_mail(&app, &cf(1), "uno@example.org").await;
    let b = citizen_with_mail(&app, &cf(2), "due@example.org").await;
    let c = citizen_with_mail(&app, &cf(3), "tre@example.org").await;
    for who in [&a, &b] {
        assert_eq!(
            book(&app, who, ANAGRAFE, "anagrafe-cie", &slots[0]["starts_at"])
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        book(&app, &c, ANAGRAFE, "anagrafe-cie", &slots[1]["starts_at"])
            .await
            .status(),
        201
    );
    let _ = smtp.wait_for(3, 20).await;

    let op = app.staff_browser("operatore.anagrafe").await;
    let agenda = app
        .get_json(
            &op,
            &format!("/api/v1/staff/calendars/anagrafe-cie/agenda?date={day}"),
        )
        .await;
    let first = agenda["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["starts_at"] == slots[0]["starts_at"])
        .unwrap();
    assert_eq!(first["booked"], 2);
    assert_eq!(first["bookings"].as_array().unwrap().len(), 2);
    assert_eq!(first["bookings"][0]["codice_fiscale"], cf(1));
    // Another office's operator and a citizen cannot.
    let other = app.staff_browser("operatore.tributi").await;
    let res = app
        .get_as(
            &other,
            &format!("/api/v1/staff/calendars/anagrafe-cie/agenda?date={day}"),
        )
        .await;
    assert_problem(res, 404, "not-found").await;
    let res = app
        .get_as(
            &a,
            &format!("/api/v1/staff/calendars/anagrafe-cie/agenda?date={day}"),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;

    // Cancel the first slot: both citizens told, the slot gone from availability.
    let res = post(
        &app,
        &op,
        "/api/v1/staff/calendars/anagrafe-cie/cancellations",
        json!({ "starts_at": slots[0]["starts_at"], "reason": "guasto alla postazione" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["cancelled"], 2);
    let mail = smtp.wait_for(5, 20).await;
    for to in ["uno@example.org", "due@example.org"] {
        let m = mail
            .iter()
            .find(|m| {
                m["envelope_to"][0] == to
                    && m["subject"]
                        .as_str()
                        .unwrap()
                        .starts_with("Appuntamento annullato dall'ufficio")
            })
            .unwrap_or_else(|| panic!("{to} told"));
        assert!(m["body"]
            .as_str()
            .unwrap()
            .contains("guasto alla postazione"));
        assert!(m["attachments"][0]["content"]
            .as_str()
            .unwrap()
            .contains("METHOD:CANCEL"));
    }
    let av = availability(&app, ANAGRAFE, day, day).await;
    assert_eq!(free_at(&av, &slots[0]["starts_at"], "anagrafe-cie"), 0);

    // Close the whole day: the third citizen told; the day closed; twice is a conflict.
    let res = post(
        &app,
        &op,
        "/api/v1/staff/calendars/anagrafe-cie/cancellations",
        json!({ "date": day, "reason": "sciopero" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["cancelled"], 1);
    let mail = smtp.wait_for(6, 20).await;
    assert!(mail.iter().any(|m| m["envelope_to"][0] == "tre@example.org"
        && m["body"].as_str().unwrap().contains("sciopero")));
    let av = availability(&app, ANAGRAFE, day, day).await;
    assert!(av["days"][0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["calendar"] != "anagrafe-cie"));
    // The database holds the closure too: every slot of the day has its row, cancelled, so a
    // booking that read the calendar before the closure still finds no place.
    let rows = |cancelled: &str| {
        scalar(
            &app,
            &format!(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM booking_slots WHERE cancelled_at IS \
                 {cancelled} AND calendar_id = (SELECT id FROM calendars WHERE code = 'anagrafe-cie')"
            ),
        )
    };
    assert_eq!(rows("NOT NULL"), i64::try_from(slots.len()).unwrap());
    assert_eq!(rows("NULL"), 0);
    let res = post(
        &app,
        &op,
        "/api/v1/staff/calendars/anagrafe-cie/cancellations",
        json!({ "date": day, "reason": "sciopero" }),
    )
    .await;
    assert_problem(res, 409, "conflict").await;
    let res = post(
        &app,
        &op,
        "/api/v1/staff/calendars/anagrafe-cie/cancellations",
        json!({ "reason": "niente" }),
    )
    .await;
    assert_problem(res, 422, "validation").await;
}

#[tokio::test]
async fn attendance_is_marked_from_the_start_and_ends_the_active_booking() {
    let app = spawn_app().await;
    let c = app.citizen_browser(CITIZEN_CF).await;
    let (_, slots) = open_day(&app, SINDACO, "sindaco", 2).await;
    let b: Value = book(&app, &c, SINDACO, "sindaco", &slots[0]["starts_at"])
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap();
    let op = app.staff_browser("operatore.urp").await;
    let path = format!("/api/v1/staff/bookings/{id}/attendance");
    let res = post(&app, &op, &path, json!({ "attendance": "attended" })).await;
    let p = assert_problem(res, 409, "conflict").await;
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("non è ancora iniziato"));
    let starts = chrono::DateTime::parse_from_rfc3339(b["starts_at"].as_str().unwrap())
        .unwrap()
        .naive_utc();
    app.state
        .clock
        .advance(starts - app.state.clock.now() + Duration::minutes(5));
    let res = post(&app, &op, &path, json!({ "attendance": "no_show" })).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "no_show");
    let mine = app.get_json(&c, &format!("/api/v1/me/bookings/{id}")).await;
    assert_eq!(mine["status"], "no_show");
    assert_eq!(
        scalar(
            &app,
            "SELECT CAST(active AS BIGINT) AS n FROM booking_limits"
        ),
        0,
        "no longer an active booking"
    );
    let res = post(&app, &op, &path, json!({ "attendance": "attended" })).await;
    assert_problem(res, 409, "conflict").await;
}

#[tokio::test]
async fn the_reminder_is_queued_once_even_across_a_restart() {
    let app = spawn_app().await;
    let c = citizen_with_mail(&app, CITIZEN_CF, "promemoria@example.org").await;
    let (_, slots) = open_day(&app, ANAGRAFE, "anagrafe-cie", 1).await;
    let b: Value = book(&app, &c, ANAGRAFE, "anagrafe-cie", &slots[0]["starts_at"])
        .await
        .json()
        .await
        .unwrap();
    let reminders = "SELECT COUNT(*) AS n FROM outbox WHERE dedupe_key LIKE 'booking:%:reminder:%'";
    sportello::startup::housekeeping(&app.state).await;
    assert_eq!(scalar(&app, reminders), 0, "not yet due");
    let starts = chrono::DateTime::parse_from_rfc3339(b["starts_at"].as_str().unwrap())
        .unwrap()
        .naive_utc();
    let ahead = starts - app.state.clock.now() - Duration::hours(23);
    app.state.clock.advance(ahead);
    sportello::startup::housekeeping(&app.state).await;
    assert_eq!(scalar(&app, reminders), 1);
    sportello::startup::housekeeping(&app.state).await;
    // A second instance on the same database (a restart) finds it done.
    let url = app.db_url.clone();
    let again = spawn_app_with(move |s| {
        s.database.url = Some(sportello::config::Secret::new(url));
    })
    .await;
    again.state.clock.advance(ahead);
    sportello::startup::housekeeping(&again.state).await;
    assert_eq!(scalar(&app, reminders), 1);
    let payload = text(
        &app,
        "SELECT payload AS t FROM outbox WHERE dedupe_key LIKE 'booking:%:reminder:%'",
    )
    .unwrap();
    let p: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(p["to"], "promemoria@example.org");
    assert!(p["subject"]
        .as_str()
        .unwrap()
        .starts_with("Promemoria appuntamento"));
}

/// A bundle with one service whose calendar has 50 slots of 2 places on one day (from 08:00
/// to 16:20, every 10 minutes, every day of the week).
fn click_day_bundle() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-click-{}", uuid::Uuid::new_v4()));
    copy_dir(&repo_dir().join("config/demo"), &dir);
    std::fs::write(
        dir.join("services/click-day.toml"),
        r#"slug = "click-day"
title = "Prenotazione CIE – giornata straordinaria"
category = "appuntamenti"
office = "anagrafe"
summary = "Giornata straordinaria di emissione della carta d'identità."
description = "Cinquanta turni di dieci minuti, due sportelli."
who_can_apply = "Residenti."
legal_term_days = 1
min_auth_level = 1

[booking]
max_active_per_citizen = 1
min_notice_hours = 0
max_days_ahead = 366

[[calendar]]
code = "click-day"
name = "Sportelli CIE"
office = "anagrafe"
slot_minutes = 10
capacity = 2
hours = [{ days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from = "08:00", to = "16:20" }]
"#,
    )
    .unwrap();
    dir
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

/// Every slot's counter equals its active bookings and never exceeds its places; no citizen
/// holds more than one active booking.
fn assert_never_overbooked(app: &TestApp) {
    assert_eq!(
        scalar(
            app,
            "SELECT COUNT(*) AS n FROM booking_slots s WHERE s.booked > s.capacity \
             OR s.booked <> (SELECT COUNT(*) FROM bookings b WHERE b.slot_id = s.id \
             AND b.status IN ('confirmed', 'pending_payment'))"
        ),
        0
    );
    assert_eq!(
        scalar(
            app,
            "SELECT COUNT(*) AS n FROM (SELECT citizen_id FROM bookings \
             WHERE status IN ('confirmed', 'pending_payment') \
             GROUP BY citizen_id HAVING COUNT(*) > 1) x"
        ),
        0
    );
}

/// Logs citizen `n` in with the shared client and returns the session cookie (one client
/// for thousands of citizens: a client per citizen costs more than the booking itself).
async fn session_cookie(app: &TestApp, http: &reqwest::Client, n: usize) -> String {
    let res = http
        .post(app.url("/auth/dev/login"))
        .json(&json!({ "codice_fiscale": cf(n) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn post_as(
    app: &TestApp,
    http: &reqwest::Client,
    cookie: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let res = http
        .post(app.url(path))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_attempts_for_a_hundred_places_never_overbook() {
    use futures_util::StreamExt;
    // Every client is 127.0.0.1, as behind the reverse proxy: no per-address cap on bodies
    // in flight (docs/operations.md).
    let app = spawn_app_with(|s| s.server.max_slow_bodies_per_client = 0).await;
    app.load_bundle(&click_day_bundle());
    let (_, slots) = open_day(&app, "click-day", "click-day", 50).await;
    assert_eq!(slots.len(), 50);
    let slots: Vec<Value> = slots.iter().map(|s| s["starts_at"].clone()).collect();
    let http = reqwest::Client::builder()
        .pool_idle_timeout(sportello::startup::KEEP_ALIVE / 5)
        .build()
        .unwrap();
    let cookies: Vec<String> = futures_util::stream::iter(0..2300)
        .map(|i| {
            let (app, http) = (&app, &http);
            async move { session_cookie(app, http, i).await }
        })
        .buffered(32)
        .collect()
        .await;
    let booking = |k: usize| {
        json!({
            "service": "click-day",
            "starts_at": slots[k % 50],
            "reason": "Carta d'identità",
        })
    };
    // Two thousand citizens at once (256 requests in flight), forty on each slot.
    let results: Vec<(usize, u16, Value)> = futures_util::stream::iter(0..2000)
        .map(|i| {
            let (app, http, cookie, body) = (&app, &http, &cookies[i], booking(i));
            async move {
                let (s, v) = post_as(app, http, cookie, "/api/v1/bookings", body).await;
                (i, s, v)
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let confirmed: Vec<&(usize, u16, Value)> = results.iter().filter(|r| r.1 == 201).collect();
    assert_eq!(confirmed.len(), 100);
    for (_, status, body) in &results {
        if *status != 201 {
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["type"], "urn:sportello:problem:slot-taken", "{body}");
            assert_eq!(body["title"], "Posto non più disponibile");
        }
    }
    assert_never_overbooked(&app);

    // Moves and cancellations mixed with 300 new attempts: the counters still hold.
    let mut mixed: Vec<(usize, String, Value)> = Vec::new();
    for (n, (i, _, body)) in confirmed.iter().enumerate().take(60) {
        let id = body["id"].as_str().unwrap();
        if n % 2 == 0 {
            mixed.push((*i, format!("/api/v1/me/bookings/{id}/cancel"), json!({})));
        } else {
            mixed.push((
                *i,
                format!("/api/v1/me/bookings/{id}/move"),
                json!({ "starts_at": slots[(i + 7) % 50] }),
            ));
        }
    }
    for i in 2000..2300 {
        mixed.push((i, "/api/v1/bookings".to_owned(), booking(i)));
    }
    let statuses: Vec<(u16, Value)> = futures_util::stream::iter(mixed)
        .map(|(i, path, body)| {
            let (app, http, cookie) = (&app, &http, &cookies[i]);
            async move { post_as(app, http, cookie, &path, body).await }
        })
        .buffer_unordered(128)
        .collect()
        .await;
    for (s, body) in &statuses {
        assert!(
            [200, 201, 409].contains(s),
            "only successes and clear conflicts: {s} {body}"
        );
    }
    assert!(
        statuses.iter().any(|(s, _)| *s == 201),
        "freed places were booked"
    );
    assert_never_overbooked(&app);
    assert!(
        scalar(
            &app,
            "SELECT COUNT(*) AS n FROM bookings WHERE status = 'confirmed'"
        ) <= 100
    );
}
