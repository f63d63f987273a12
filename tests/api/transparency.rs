//! Transparency and satisfaction: the procedure times an ente publishes (computed on known
//! instances), the citizen's rating after a decision (once, anonymous), and the published
//! rating aggregates. JSON and CSV.
//!
//! The back-office API that decides instances is not part of this suite: instances are
//! submitted through the API, then given their decision directly in the database.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};
use sportello::db::schema::{citizens, enti, instances as inst, service_ratings, services};

use crate::helpers::*;

const TARI: &str = "tari-inizio-occupazione";
const RESIDENZA: &str = "cambio-di-residenza";
const ACCESSO: &str = "accesso-civico-generalizzato";

fn utc(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Submits `service` as the app's logged-in citizen; returns the instance id.
async fn submitted(app: &TestApp, service: &str) -> String {
    app.submit_valid(service).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Gives a submitted instance a decision: when it was submitted and decided (UTC), the days
/// its term was suspended, its due date.
fn decide(
    app: &TestApp,
    id: &str,
    submitted_at: &str,
    decided_at: &str,
    suspended: i32,
    due: &str,
) {
    let n = diesel::update(inst::table.find(id))
        .set((
            inst::status.eq("decided"),
            inst::outcome.eq(Some("accolta")),
            inst::submitted_at.eq(Some(utc(submitted_at))),
            inst::decided_at.eq(Some(utc(decided_at))),
            inst::suspended_days.eq(suspended),
            inst::due_date.eq(Some(day(due))),
        ))
        .execute(&mut *app.conn())
        .expect("decide");
    assert_eq!(n, 1);
}

fn set_status(app: &TestApp, id: &str, status: &str) {
    let decided = status != "submitted" && status != "in_progress";
    diesel::update(inst::table.find(id))
        .set((
            inst::status.eq(status),
            inst::outcome.eq(decided.then_some("accolta")),
            inst::decided_at.eq(decided.then(|| utc("2026-11-02 10:00"))),
        ))
        .execute(&mut *app.conn())
        .expect("status");
}

fn service_of<'a>(body: &'a Value, slug: &str) -> &'a Value {
    body["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == slug)
        .unwrap_or_else(|| panic!("no {slug} in {body}"))
}

async fn get_with_accept(app: &TestApp, path: &str, accept: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("accept", accept)
        .send()
        .await
        .unwrap()
}

fn content_type(res: &reqwest::Response) -> String {
    res.headers()["content-type"].to_str().unwrap().to_owned()
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

const TIMES: &str = "/api/v1/public/enti/c_x000/procedure-times";

/// The known data: TARI (30 calendar days) decided three times in the first half of 2026 —
/// 10 days; 50 days with 15 suspended = 35, after its due date; 20 days — and once at 00:30 of
/// 1 July in Rome (22:30 UTC of 30 June), which is outside a period ending 30 June. Residence
/// decided twice: 4 days, and 5 days from a submission at 00:30 of 1 February in Rome (23:30
/// UTC of 31 January). Access decided in December 2025 (outside), and one TARI instance
/// submitted but not decided.
async fn app_with_known_decisions() -> TestApp {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let mut ids = Vec::new();
    for service in [TARI, TARI, TARI, TARI, RESIDENZA, RESIDENZA, ACCESSO, TARI] {
        ids.push(submitted(&app, service).await);
    }
    decide(
        &app,
        &ids[0],
        "2026-02-02 10:00",
        "2026-02-12 10:00",
        0,
        "2026-03-04",
    );
    decide(
        &app,
        &ids[1],
        "2026-03-02 10:00",
        "2026-04-21 10:00",
        15,
        "2026-04-16",
    );
    decide(
        &app,
        &ids[2],
        "2026-05-04 10:00",
        "2026-05-24 10:00",
        0,
        "2026-06-03",
    );
    decide(
        &app,
        &ids[3],
        "2026-06-01 10:00",
        "2026-06-30 22:30",
        0,
        "2026-07-01",
    );
    decide(
        &app,
        &ids[4],
        "2026-01-10 10:00",
        "2026-01-14 10:00",
        0,
        "2026-02-24",
    );
    decide(
        &app,
        &ids[5],
        "2026-01-31 23:30",
        "2026-02-06 10:00",
        0,
        "2026-03-18",
    );
    decide(
        &app,
        &ids[6],
        "2025-11-10 10:00",
        "2025-12-31 10:00",
        0,
        "2025-12-10",
    );
    app
}

#[tokio::test]
async fn procedure_times_are_computed_per_service_net_of_suspensions() {
    let app = app_with_known_decisions().await;
    // No login needed: a fresh client.
    let anonymous = new_client();
    let res = app
        .get_as(
            &anonymous,
            &format!("{TIMES}?from=2026-01-01&to=2026-06-30"),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(content_type(&res).starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ente"]["code"], "c_x000");
    assert_eq!(body["from"], "2026-01-01");
    assert_eq!(body["to"], "2026-06-30");
    let slugs: Vec<&str> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, [ACCESSO, RESIDENZA, "richiesta-appuntamento", TARI]);

    let tari = service_of(&body, TARI);
    assert_eq!(tari["legal_term_days"], 30);
    assert_eq!(tari["legal_term_unit"], "calendar_days");
    assert_eq!(tari["decided"], 3, "{tari}");
    assert_eq!(tari["median_days"], 20.0);
    assert_eq!(tari["mean_days"], 21.67); // 65 / 3
    assert_eq!(tari["within_term_share"], 0.6667); // 2 of 3

    let residenza = service_of(&body, RESIDENZA);
    assert_eq!(residenza["legal_term_days"], 45);
    assert_eq!(residenza["decided"], 2);
    assert_eq!(residenza["median_days"], 4.5);
    assert_eq!(residenza["mean_days"], 4.5);
    assert_eq!(residenza["within_term_share"], 1.0);

    for slug in [ACCESSO, "richiesta-appuntamento"] {
        let s = service_of(&body, slug);
        assert_eq!(s["decided"], 0);
        assert!(s["median_days"].is_null() && s["mean_days"].is_null());
        assert!(s["within_term_share"].is_null());
    }
    assert_eq!(
        service_of(&body, "richiesta-appuntamento")["legal_term_unit"],
        "working_days"
    );

    // One more day takes in the decision of 1 July (Italian date): 30 days, on its due date.
    let body = app
        .get_json(
            &anonymous,
            &format!("{TIMES}?from=2026-01-01&to=2026-07-01"),
        )
        .await;
    let tari = service_of(&body, TARI);
    assert_eq!(tari["decided"], 4);
    assert_eq!(tari["median_days"], 25.0); // 10, 20, 30, 35
    assert_eq!(tari["mean_days"], 23.75);
    assert_eq!(tari["within_term_share"], 0.75);

    // A single day: only the decision of 12 February.
    let body = app
        .get_json(
            &anonymous,
            &format!("{TIMES}?from=2026-02-12&to=2026-02-12"),
        )
        .await;
    assert_eq!(service_of(&body, TARI)["decided"], 1);
    assert_eq!(service_of(&body, TARI)["median_days"], 10.0);
    assert_eq!(service_of(&body, RESIDENZA)["decided"], 0);

    // December 2025 holds the access decision: 51 days, after its due date.
    let body = app
        .get_json(
            &anonymous,
            &format!("{TIMES}?from=2025-12-01&to=2025-12-31"),
        )
        .await;
    let access = service_of(&body, ACCESSO);
    assert_eq!(access["decided"], 1);
    assert_eq!(access["median_days"], 51.0);
    assert_eq!(access["within_term_share"], 0.0);
}

#[tokio::test]
async fn procedure_times_as_csv_have_a_header_and_one_row_per_service() {
    let app = app_with_known_decisions().await;
    let path = format!("{TIMES}?from=2026-01-01&to=2026-06-30");
    let res = get_with_accept(&app, &path, "text/csv").await;
    assert_eq!(res.status(), 200);
    assert!(content_type(&res).starts_with("text/csv"), "{res:?}");
    let text = res.text().await.unwrap();
    let (header, rows) = parse_csv(&text);
    assert_eq!(
        header,
        [
            "service",
            "title",
            "legal_term_days",
            "legal_term_unit",
            "decided",
            "median_days",
            "mean_days",
            "within_term_share"
        ]
    );
    assert_eq!(rows.len(), 4, "{text}");
    let tari = rows.iter().find(|r| r[0] == TARI).unwrap();
    assert_eq!(tari[1], "Dichiarazione TARI");
    assert_eq!(
        tari[2..],
        ["30", "calendar_days", "3", "20", "21.67", "0.6667"]
    );
    let residenza = rows.iter().find(|r| r[0] == RESIDENZA).unwrap();
    assert_eq!(
        residenza[2..],
        ["45", "calendar_days", "2", "4.5", "4.5", "1"]
    );
    let access = rows.iter().find(|r| r[0] == ACCESSO).unwrap();
    assert_eq!(access[4..], ["0", "", "", ""]);

    // `format=csv` gives the same; `format=json` wins over Accept.
    let res = app.get(&format!("{path}&format=csv")).await;
    assert!(content_type(&res).starts_with("text/csv"));
    assert_eq!(res.text().await.unwrap(), text);
    let res = get_with_accept(&app, &format!("{path}&format=json"), "text/csv").await;
    assert!(content_type(&res).starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(service_of(&body, TARI)["decided"], 3);
    // A browser's usual Accept (no CSV) gets JSON.
    let res = get_with_accept(&app, &path, "application/json, */*").await;
    assert!(content_type(&res).starts_with("application/json"));
}

#[tokio::test]
async fn procedure_times_refuse_bad_periods_and_unknown_enti() {
    let app = spawn_app().await;
    for query in [
        "from=2026-02-30",
        "to=31-12-2026",
        "from=2026-1-1",
        "from=2026-07-01&to=2026-06-30",
        "format=xml",
        "unknown=1",
    ] {
        let res = app.get(&format!("{TIMES}?{query}")).await;
        let body = assert_problem(res, 400, "bad-request").await;
        assert!(body["detail"].is_string(), "{query}: {body}");
    }
    let res = app.get("/api/v1/public/enti/c_z999/procedure-times").await;
    assert_problem(res, 404, "not-found").await;
    let res = app.get("/api/v1/public/enti/c_z999/ratings").await;
    assert_problem(res, 404, "not-found").await;
    for query in ["from=2026-13", "to=2026-1", "from=2026-05&to=2026-04"] {
        let res = app
            .get(&format!("/api/v1/public/enti/c_x000/ratings?{query}"))
            .await;
        assert_problem(res, 400, "bad-request").await;
    }
}

#[tokio::test]
async fn the_default_period_is_the_365_days_to_today_of_the_apps_clock() {
    let app = spawn_app().await;
    let today = app.state.clock.today();
    let body = app.get_json(&app.client, TIMES).await;
    assert_eq!(body["to"], today.to_string());
    assert_eq!(
        body["from"],
        (today - chrono::Duration::days(364)).to_string()
    );
    app.state.clock.advance(chrono::Duration::days(400));
    let body = app.get_json(&app.client, TIMES).await;
    assert_eq!(
        body["to"],
        (today + chrono::Duration::days(400)).to_string()
    );
    // Another ente's figures are its own (ente B has no decisions).
    app.load_bundle(&repo_dir().join("tests/fixtures/ente-b"));
    let body = app
        .get_json(&app.client, "/api/v1/public/enti/c_b000/procedure-times")
        .await;
    assert_eq!(body["ente"]["code"], "c_b000");
    assert!(body["services"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["decided"] == 0));
}

// --- Ratings --------------------------------------------------------------------------------

async fn rate(app: &TestApp, client: &reqwest::Client, id: &str, body: Value) -> reqwest::Response {
    client
        .post(app.url(&format!("/api/v1/instances/{id}/rating")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_citizen_rates_once_after_the_decision_and_only_their_own_instance() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = submitted(&app, TARI).await;
    let good = json!({ "stars": 2, "reason": "tempi_lunghi", "comment": "Troppa attesa." });

    // Not decided yet: a draft, a submitted instance, one in progress.
    let draft = app.create_draft(TARI).await;
    let res = rate(&app, &app.client, &draft, good.clone()).await;
    assert_problem(res, 409, "conflict").await;
    let res = rate(&app, &app.client, &id, good.clone()).await;
    assert_problem(res, 409, "conflict").await;
    set_status(&app, &id, "in_progress");
    let res = rate(&app, &app.client, &id, good.clone()).await;
    assert_problem(res, 409, "conflict").await;
    assert_eq!(app.count("service_ratings"), 0);

    set_status(&app, &id, "decided");
    // Someone else's instance does not exist for them; no login is 401.
    let other = app.citizen_browser(OTHER_CF).await;
    let res = rate(&app, &other, &id, good.clone()).await;
    assert_problem(res, 404, "not-found").await;
    let res = rate(&app, &new_client(), &id, good.clone()).await;
    assert_problem(res, 401, "unauthorized").await;
    let res = rate(&app, &app.client, "no-such-instance", good.clone()).await;
    assert_problem(res, 404, "not-found").await;

    // Wrong ratings change nothing.
    for (bad, pointer) in [
        (json!({ "stars": 5, "reason": "tempi_lunghi" }), "/reason"),
        (
            json!({ "stars": 2, "reason": "facile_da_usare" }),
            "/reason",
        ),
        (json!({ "stars": 0, "reason": "altro" }), "/stars"),
        (json!({ "stars": 6, "reason": "altro" }), "/stars"),
        (
            json!({ "stars": 4, "reason": "altro", "comment": "x".repeat(201) }),
            "/comment",
        ),
    ] {
        let res = rate(&app, &app.client, &id, bad.clone()).await;
        let body = assert_problem(res, 422, "validation").await;
        assert_eq!(body["errors"][0]["pointer"], pointer, "{bad}: {body}");
    }
    let res = rate(
        &app,
        &app.client,
        &id,
        json!({ "stars": 4, "motivo": "altro" }),
    )
    .await;
    assert_problem(res, 400, "invalid-json").await;
    assert_eq!(app.count("service_ratings"), 0);

    // Rated: 204; a second time: 409, and still one rating.
    let res = rate(&app, &app.client, &id, good.clone()).await;
    assert_eq!(res.status(), 204);
    let res = rate(
        &app,
        &app.client,
        &id,
        json!({ "stars": 5, "reason": "altro" }),
    )
    .await;
    assert_problem(res, 409, "conflict").await;
    assert_eq!(app.count("service_ratings"), 1);
    let rated: bool = inst::table
        .find(&id)
        .select(inst::rated)
        .first(&mut *app.conn())
        .unwrap();
    assert!(rated);

    // Closed and silence-assent instances may be rated too; the other citizen rates theirs.
    for status in ["closed", "silence_assent"] {
        let id = submitted(&app, RESIDENZA).await;
        set_status(&app, &id, status);
        let res = rate(
            &app,
            &app.client,
            &id,
            json!({ "stars": 5, "reason": "tempi_rapidi" }),
        )
        .await;
        assert_eq!(res.status(), 204, "{status}");
    }
    let res = other
        .post(app.url("/api/v1/instances"))
        .json(&json!({ "service": TARI }))
        .send()
        .await
        .unwrap();
    let theirs: Value = res.json().await.unwrap();
    let theirs = theirs["id"].as_str().unwrap().to_owned();
    let res = rate(&app, &app.client, &theirs, good).await;
    assert_problem(res, 404, "not-found").await;
    assert_eq!(app.count("service_ratings"), 3);
}

/// A `service_ratings` row: id, ente, service, month, stars, reason, comment.
type RatingRow = (String, i64, i64, String, i32, String, Option<String>);

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[tokio::test]
async fn a_rating_names_neither_the_citizen_nor_the_instance() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = submitted(&app, TARI).await;
    set_status(&app, &id, "decided");
    let res = rate(
        &app,
        &app.client,
        &id,
        json!({ "stars": 4, "reason": "facile_da_usare", "comment": "Tutto bene" }),
    )
    .await;
    assert_eq!(res.status(), 204);

    // The table's columns, from the database's own catalog.
    let sql = match app.backend() {
        sportello::db::Backend::Sqlite => {
            "SELECT name FROM pragma_table_info('service_ratings') ORDER BY cid".to_owned()
        }
        sportello::db::Backend::Postgres => "SELECT column_name::text AS name \
             FROM information_schema.columns \
             WHERE table_name = 'service_ratings' AND table_schema = current_schema() \
             ORDER BY ordinal_position"
            .to_owned(),
    };
    let columns: Vec<String> = diesel::sql_query(sql)
        .load::<Column>(&mut *app.conn())
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        columns,
        [
            "id",
            "ente_id",
            "service_id",
            "month",
            "stars",
            "reason",
            "comment"
        ]
    );

    // The row: a random id, the ente's and service's ids, the month, the rating.
    let (citizen_id, cf): (i64, String) = citizens::table
        .filter(citizens::codice_fiscale.eq(CITIZEN_CF))
        .select((citizens::id, citizens::codice_fiscale))
        .first(&mut *app.conn())
        .unwrap();
    let ente_id: i64 = enti::table
        .filter(enti::code.eq("c_x000"))
        .select(enti::id)
        .first(&mut *app.conn())
        .unwrap();
    let service_id: i64 = services::table
        .filter(services::slug.eq(TARI))
        .select(services::id)
        .first(&mut *app.conn())
        .unwrap();
    let rows: Vec<RatingRow> = service_ratings::table
        .select((
            service_ratings::id,
            service_ratings::ente_id,
            service_ratings::service_id,
            service_ratings::month,
            service_ratings::stars,
            service_ratings::reason,
            service_ratings::comment,
        ))
        .load(&mut *app.conn())
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (rid, r_ente, r_service, month, stars, reason, r_comment) = rows[0].clone();
    assert_ne!(rid, id);
    assert_eq!(uuid::Uuid::parse_str(&rid).unwrap().get_version_num(), 4);
    // Every number is the ente's or the service's id, as it must be — none is there for
    // the citizen (whose id may happen to be equal to one of them).
    assert_eq!((r_ente, r_service), (ente_id, service_id));
    assert_eq!(month, sportello::ratings::month_of(app.state.clock.now()));
    assert_eq!((stars, reason.as_str()), (4, "facile_da_usare"));
    assert_eq!(r_comment.as_deref(), Some("Tutto bene"));
    let texts = [rid.as_str(), month.as_str(), reason.as_str(), "Tutto bene"];
    for value in texts {
        assert_ne!(value, id);
        assert_ne!(value, cf);
        assert_ne!(value, citizen_id.to_string());
        assert!(!value.contains(&id) && !value.contains(&cf), "{value}");
    }
}

#[tokio::test]
async fn rating_aggregates_per_service_and_month_publish_no_comment() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let first_month = sportello::ratings::month_of(app.state.clock.now());
    let ratings_now = [
        (TARI, 2, "tempi_lunghi"),
        (TARI, 5, "tempi_rapidi"),
        (TARI, 4, "altro"),
        (RESIDENZA, 1, "difficolta_tecniche"),
    ];
    for (service, stars, reason) in ratings_now {
        let id = submitted(&app, service).await;
        set_status(&app, &id, "decided");
        let res = rate(
            &app,
            &app.client,
            &id,
            json!({ "stars": stars, "reason": reason, "comment": "SEGRETO" }),
        )
        .await;
        assert_eq!(res.status(), 204);
    }
    app.state.clock.advance(chrono::Duration::days(32));
    let second_month = sportello::ratings::month_of(app.state.clock.now());
    assert_ne!(first_month, second_month);
    let id = submitted(&app, TARI).await;
    set_status(&app, &id, "decided");
    let res = rate(
        &app,
        &app.client,
        &id,
        json!({ "stars": 3, "reason": "altro" }),
    )
    .await;
    assert_eq!(res.status(), 204);

    let path = format!("/api/v1/public/enti/c_x000/ratings?from={first_month}&to={second_month}");
    let anonymous = new_client();
    let res = app.get_as(&anonymous, &path).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("SEGRETO"), "comments are not published");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["from"], first_month.as_str());
    assert_eq!(body["to"], second_month.as_str());
    let items = body["items"].as_array().unwrap();
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["service"].as_str().unwrap().to_owned(),
                i["month"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (RESIDENZA.to_owned(), first_month.clone()),
            (TARI.to_owned(), first_month.clone()),
            (TARI.to_owned(), second_month.clone()),
        ]
    );
    let stars = |i: &Value| -> Vec<i64> {
        i["by_stars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["count"].as_i64().unwrap())
            .collect()
    };
    let reason = |i: &Value, r: &str| -> i64 {
        i["by_reason"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["reason"] == r)
            .unwrap()["count"]
            .as_i64()
            .unwrap()
    };
    let (res_m1, tari_m1, tari_m2) = (&items[0], &items[1], &items[2]);
    assert_eq!(res_m1["count"], 1);
    assert_eq!(res_m1["mean_stars"], 1.0);
    assert_eq!(stars(res_m1), [1, 0, 0, 0, 0]);
    assert_eq!(reason(res_m1, "difficolta_tecniche"), 1);
    assert_eq!(tari_m1["title"], "Dichiarazione TARI");
    assert_eq!(tari_m1["count"], 3);
    assert_eq!(tari_m1["mean_stars"], 3.67); // 11 / 3
    assert_eq!(stars(tari_m1), [0, 1, 0, 1, 1]);
    for (r, n) in [
        ("tempi_lunghi", 1),
        ("tempi_rapidi", 1),
        ("altro", 1),
        ("istruzioni_chiare", 0),
        ("istruzioni_poco_chiare", 0),
        ("difficolta_tecniche", 0),
        ("facile_da_usare", 0),
    ] {
        assert_eq!(reason(tari_m1, r), n, "{r}");
    }
    assert_eq!(tari_m1["by_reason"].as_array().unwrap().len(), 7);
    let altro = tari_m1["by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["reason"] == "altro")
        .unwrap();
    assert_eq!(altro["label"], "Altro");
    assert_eq!(tari_m2["count"], 1);
    assert_eq!(tari_m2["mean_stars"], 3.0);
    assert_eq!(stars(tari_m2), [0, 0, 1, 0, 0]);

    // One month only.
    let body = app
        .get_json(
            &anonymous,
            &format!("/api/v1/public/enti/c_x000/ratings?from={second_month}&to={second_month}"),
        )
        .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    // By default: the 12 months to this one (of the app's clock).
    let body = app
        .get_json(&anonymous, "/api/v1/public/enti/c_x000/ratings")
        .await;
    assert_eq!(body["to"], second_month.as_str());
    assert_eq!(body["items"].as_array().unwrap().len(), 3);

    // CSV: a header row, one row per service and month.
    let res = get_with_accept(&app, &path, "text/csv").await;
    assert!(content_type(&res).starts_with("text/csv"));
    let text = res.text().await.unwrap();
    assert!(!text.contains("SEGRETO"));
    let (header, rows) = parse_csv(&text);
    assert_eq!(
        header,
        [
            "service",
            "title",
            "month",
            "count",
            "mean_stars",
            "stars_1",
            "stars_2",
            "stars_3",
            "stars_4",
            "stars_5",
            "reason_istruzioni_poco_chiare",
            "reason_tempi_lunghi",
            "reason_difficolta_tecniche",
            "reason_istruzioni_chiare",
            "reason_tempi_rapidi",
            "reason_facile_da_usare",
            "reason_altro"
        ]
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], TARI);
    assert_eq!(rows[1][2], first_month);
    assert_eq!(
        rows[1][3..],
        ["3", "3.67", "0", "1", "0", "1", "1", "0", "1", "0", "0", "1", "0", "1"]
    );
}

// --- Due dates at submission ------------------------------------------------------------------

#[tokio::test]
async fn the_due_date_follows_the_services_term_unit_and_the_entes_patron_day() {
    use sportello::domain::calendar::rome_date;
    use sportello::domain::terms::{due_date, TermRule, TermUnit, WorkCalendar};
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let due_of = |sub: &Value| -> (NaiveDate, NaiveDate) {
        let at = chrono::DateTime::parse_from_rfc3339(sub["submitted_at"].as_str().unwrap())
            .unwrap()
            .naive_utc();
        let due = day(sub["due_date"].as_str().unwrap());
        (rome_date(at), due)
    };
    // The appointment request: 5 working days of the demo ente (patron day 24 June).
    let five_working = TermRule {
        days: 5,
        unit: TermUnit::WorkingDays,
    };
    let (start, due) = due_of(&app.submit_valid("richiesta-appuntamento").await);
    let demo = WorkCalendar {
        patron_day: Some((6, 24)),
    };
    assert_eq!(Some(due), due_date(start, five_working, &[], &demo));
    assert!(demo.is_working_day(due));
    // TARI: 30 calendar days, moved to a working day.
    let (start, tari_due) = due_of(&app.submit_valid(TARI).await);
    let thirty = TermRule {
        days: 30,
        unit: TermUnit::CalendarDays,
    };
    assert_eq!(Some(tari_due), due_date(start, thirty, &[], &demo));
    assert!((tari_due - start).num_days() >= 30);

    // The ente's patron day falls on that due date: the next submission's term ends later.
    let patron = (chrono::Datelike::month(&due), chrono::Datelike::day(&due));
    diesel::update(enti::table.filter(enti::code.eq("c_x000")))
        .set(enti::patron_day.eq(Some(format!("{:02}-{:02}", patron.0, patron.1))))
        .execute(&mut *app.conn())
        .unwrap();
    let (start2, due2) = due_of(&app.submit_valid("richiesta-appuntamento").await);
    let moved = WorkCalendar {
        patron_day: Some(patron),
    };
    assert_eq!(Some(due2), due_date(start2, five_working, &[], &moved));
    if start2 == start {
        assert!(due2 > due, "{due2} after the patron day {due}");
    }
}
