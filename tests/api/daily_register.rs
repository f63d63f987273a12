//! The daily register (registro giornaliero di protocollo): produced by the housekeeping job
//! under a database lease, the same bytes when produced again, one row per day and format
//! with two app instances, catch-up of missed days, the CLI, the clerks' endpoints.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::{json, Value};
use sportello::db::schema::{aoo, daily_registers as dr, protocol_registrations as pr};
use sportello::domain::calendar::rome_date;
use sportello::protocol::daily_register::{self as register, Format};

use crate::helpers::*;

const AOO: &str = "AOO_CX000";
const WHY: &str = "Registrazione duplicata";
const ACT: &str = "Determinazione n. 12 del 02/12/2026";

async fn submitted(app: &TestApp) -> String {
    app.login_citizen(CITIZEN_CF).await;
    let id = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    let res = app.submit(&id, None).await;
    assert_eq!(res.status(), 201);
    let sub: Value = res.json().await.unwrap();
    sub["protocol"]["number"].as_str().unwrap().to_owned()
}

/// Every registration: number, registered_at, annulled_at.
fn registrations(app: &TestApp) -> Vec<(String, NaiveDateTime, Option<NaiveDateTime>)> {
    let rows: Vec<(i64, NaiveDateTime, Option<NaiveDateTime>)> = pr::table
        .order(pr::id)
        .select((pr::number, pr::registered_at, pr::annulled_at))
        .load(&mut *app.conn())
        .unwrap();
    rows.into_iter()
        .map(|(n, r, a)| (format!("{n:07}"), r, a))
        .collect()
}

fn aoo_id(app: &TestApp) -> i64 {
    aoo::table
        .filter(aoo::code.eq(AOO))
        .select(aoo::id)
        .first(&mut *app.conn())
        .unwrap()
}

/// The produced days and how many rows each has.
fn produced_days(app: &TestApp) -> Vec<(NaiveDate, i64)> {
    let mut days: Vec<(NaiveDate, i64)> = Vec::new();
    let rows: Vec<NaiveDate> = dr::table
        .order(dr::register_date)
        .select(dr::register_date)
        .load(&mut *app.conn())
        .unwrap();
    for d in rows {
        match days.last_mut() {
            Some(last) if last.0 == d => last.1 += 1,
            _ => days.push((d, 1)),
        }
    }
    days
}

async fn annul(app: &TestApp, c: &reqwest::Client, at: NaiveDateTime, number: &str) {
    use chrono::Datelike;
    let year = rome_date(at).year();
    let res = c
        .post(app.url(&format!(
            "/api/v1/protocol/{AOO}/registrations/{year}/{number}/annul"
        )))
        .json(&json!({"reason": WHY, "act": ACT}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

fn day_path(date: NaiveDate) -> String {
    format!(
        "/api/v1/protocol/{AOO}/daily-registers/{}",
        date.format("%Y-%m-%d")
    )
}

async fn download(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
) -> (reqwest::header::HeaderMap, String) {
    let res = c.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let headers = res.headers().clone();
    (headers, res.text().await.unwrap())
}

/// Asserts that `body` conforms to the OpenAPI document's schema `name` (what schemathesis
/// checks, for answers it cannot reach: it never has a produced register to download).
async fn assert_conforms(app: &TestApp, name: &str, body: &Value) {
    let doc: Value = app.get_json(&app.client, "/api/openapi.json").await;
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    let validator = jsonschema::draft202012::new(&schema).expect("schema");
    assert!(
        !validator.is_valid(&json!({})),
        "the {name} schema must reject an empty object"
    );
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
}

#[tokio::test]
async fn the_day_s_register_lists_its_entries_and_annulments_and_never_changes() {
    let app = spawn_app().await;
    let a = submitted(&app).await;
    let b = submitted(&app).await;
    let clerk = app.staff_browser("protocollista").await;
    let regs = registrations(&app);
    annul(&app, &clerk, regs[0].1, &a).await;
    let regs = registrations(&app);
    let day = rome_date(regs[0].1);
    let annulled_on = rome_date(regs[0].2.unwrap());

    // Not produced while the day is on.
    let res = clerk.get(app.url(&day_path(day))).send().await.unwrap();
    assert_problem(res, 404, "not-found").await;

    // The next day the job produces it.
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    let list: Value = app
        .get_json(
            &clerk,
            &format!(
                "/api/v1/protocol/{AOO}/daily-registers?from={day}&to={day}",
                day = day.format("%Y-%m-%d")
            ),
        )
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let of_day: Vec<&String> = regs
        .iter()
        .filter(|r| rome_date(r.1) == day)
        .map(|r| &r.0)
        .collect();
    assert_eq!(items[0]["entries_count"], of_day.len());
    let docs = items[0]["documents"].as_array().unwrap();
    assert_eq!(docs.len(), 2);

    // The JSON: the day's entries by number, the same-day annulment on its entry and in the
    // day's annulments; ETag, Digest and the listed digest are the bytes' SHA-256.
    let (headers, text) = download(&app, &clerk, &format!("{}.json", day_path(day))).await;
    let sha = sportello::text::sha256_hex(text.as_bytes());
    assert_eq!(headers["etag"], format!("\"{sha}\"").as_str());
    assert_eq!(headers["x-content-sha256"], sha.as_str());
    let raw: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&sha[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        headers["digest"],
        format!("sha-256={}", openssl::base64::encode_block(&raw)).as_str()
    );
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let json_doc = docs.iter().find(|d| d["format"] == "json").unwrap();
    assert_eq!(json_doc["sha256"], sha.as_str());
    assert_eq!(json_doc["size"], text.len());
    assert_eq!(json_doc["href"], format!("{}.json", day_path(day)).as_str());
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_conforms(&app, "DailyRegister", &doc).await;
    assert_conforms(&app, "DailyRegisterList", &list).await;
    assert_eq!(doc["document"], "registro giornaliero di protocollo");
    assert_eq!(doc["aoo"]["code"], AOO);
    assert_eq!(doc["date"], day.format("%Y-%m-%d").to_string());
    let numbers: Vec<&str> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        of_day.iter().map(|s| s.as_str()).collect::<Vec<_>>()
    );
    let first = &doc["entries"][0];
    assert_eq!(first["direction"], "in");
    assert_eq!(first["attachments_count"], 0);
    assert_eq!(first["document_digest"].as_str().unwrap().len(), 64);
    assert!(first["instance_id"].is_string());
    if annulled_on == day {
        assert_eq!(first["number"], a.as_str());
        assert_eq!(first["annulment"]["reason"], WHY);
        assert_eq!(first["annulment"]["act"], ACT);
        assert_eq!(first["annulment"]["annulled_by"], "protocollista");
        assert_eq!(doc["annulments"][0]["number"], a.as_str());
        assert_eq!(doc["annulments_count"], 1);
    }

    // The CSV: by extension, by `format`, the same bytes; a header and a row per record.
    let (h, csv) = download(&app, &clerk, &format!("{}.csv", day_path(day))).await;
    let (_, csv2) = download(&app, &clerk, &format!("{}?format=csv", day_path(day))).await;
    assert_eq!(csv, csv2);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let registrations_rows = rows.iter().filter(|r| &r[0] == "registrazione").count();
    assert_eq!(registrations_rows, of_day.len());
    if annulled_on == day {
        assert!(rows
            .iter()
            .any(|r| &r[0] == "annullamento" && &r[2] == a.as_str() && &r[16] == WHY));
    }
    let (_, default_format) = download(&app, &clerk, &day_path(day)).await;
    assert_eq!(default_format, text);

    // Produced again: the same bytes, no new row.
    let rows_before = app.count("daily_registers");
    let again = register::produce(
        &mut app.conn(),
        aoo_id(&app),
        day,
        "test",
        app.state.clock.now(),
    )
    .unwrap();
    assert!(!again.new);
    assert_eq!(again.documents[0].content, text);
    assert_eq!(app.count("daily_registers"), rows_before);

    // `b` annulled the day after: the day's register does not change, rebuilt from the
    // database it is still the same bytes, and the annulment is in the next day's register.
    // The entries arrived classified by their service (XI.2); the day's register says so.
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["entries"][1]["classification"]["code"], "XI.2");
    assert_eq!(
        parsed["entries"][1]["classification"]["description"],
        "Anagrafe e certificazioni"
    );
    let later = app.state.clock.now();
    // A clerk corrects `b`'s class a day later: that day's register still says XI.2.
    let year = chrono::Datelike::year(&rome_date(regs[1].1));
    let res = clerk
        .put(app.url(&format!(
            "/api/v1/protocol/{AOO}/registrations/{year}/{b}/classification"
        )))
        .json(&serde_json::json!({"classification": "XI.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    annul(&app, &clerk, regs[1].1, &b).await;
    let (_, rebuilt) = register::render(&mut app.conn(), aoo_id(&app), day).unwrap();
    assert_eq!(rebuilt[0], (Format::Json, text.clone()));
    assert_eq!(rebuilt[1], (Format::Csv, csv.clone()));
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    let (_, unchanged) = download(&app, &clerk, &format!("{}.json", day_path(day))).await;
    assert_eq!(unchanged, text);
    let b_day = rome_date(registrations(&app)[1].2.unwrap());
    assert!(b_day > day && b_day <= rome_date(later) + Duration::days(1));
    let (_, next) = download(&app, &clerk, &format!("{}.json", day_path(b_day))).await;
    let next: Value = serde_json::from_str(&next).unwrap();
    assert_eq!(next["annulments"][0]["number"], b.as_str());
    assert_eq!(next["annulments"][0]["reason"], WHY);

    // The database keeps it as written.
    for sql in [
        "UPDATE daily_registers SET content = 'x'",
        "DELETE FROM daily_registers",
    ] {
        let refused = diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut *app.conn());
        assert!(refused.is_err(), "{sql}: {refused:?}");
    }
}

#[tokio::test]
async fn a_stored_register_that_no_longer_matches_its_digest_is_not_served() {
    let app = spawn_app().await;
    submitted(&app).await;
    let day = rome_date(registrations(&app)[0].1);
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    // Someone with the database's owner rights goes around the guard.
    match app.backend() {
        sportello::db::Backend::Sqlite => {
            app.exec("DROP TRIGGER daily_registers_no_update");
        }
        sportello::db::Backend::Postgres => {
            app.exec("ALTER TABLE daily_registers DISABLE TRIGGER daily_registers_guard_rows");
        }
    }
    app.exec("UPDATE daily_registers SET content = content || ' ' WHERE format = 'json'");
    let clerk = app.staff_browser("protocollista").await;
    let res = clerk
        .get(app.url(&format!("{}.json", day_path(day))))
        .send()
        .await
        .unwrap();
    assert_problem(res, 500, "internal").await;
    let (_, csv) = download(&app, &clerk, &format!("{}.csv", day_path(day))).await;
    assert!(csv.starts_with("record,"));
}

/// Runs the job on the app's database at its clock, on a thread of its own.
fn job_on(
    app: &TestApp,
    barrier: std::sync::Arc<std::sync::Barrier>,
) -> std::thread::JoinHandle<register::JobReport> {
    let db = app.db.clone();
    let now = app.state.clock.now();
    std::thread::spawn(move || {
        let mut conn = db.get().unwrap();
        let holder = uuid::Uuid::new_v4().to_string();
        barrier.wait();
        register::run_job(&mut conn, now, &holder).unwrap()
    })
}

#[tokio::test]
async fn two_app_instances_produce_each_day_once_and_catch_up_missed_days() {
    let app = spawn_app().await;
    submitted(&app).await;
    let url = app.db_url.clone();
    let other = spawn_app_with(move |s| {
        s.database.url = Some(sportello::config::Secret::new(url));
    })
    .await;
    let created: NaiveDateTime = aoo::table
        .filter(aoo::code.eq(AOO))
        .select(aoo::created_at)
        .first(&mut *app.conn())
        .unwrap();
    let first = rome_date(created.min(registrations(&app)[0].1));

    // Three days later, both instances run the job at the same moment.
    for a in [&app, &other] {
        a.state.clock.advance(Duration::days(3));
    }
    let yesterday = app.state.clock.today() - Duration::days(1);
    let expected = usize::try_from((yesterday - first).num_days() + 1).unwrap();
    assert!(expected >= 3);
    let mut total = 0;
    for _ in 0..3 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let one = job_on(&app, barrier.clone());
        let two = job_on(&other, barrier);
        let (one, two) = (one.join().unwrap(), two.join().unwrap());
        total += one.produced + two.produced;
    }
    assert_eq!(total, expected, "each day produced by exactly one run");
    // And their housekeeping at once, too.
    tokio::join!(
        sportello::startup::housekeeping(&app.state),
        sportello::startup::housekeeping(&other.state)
    );
    let days = produced_days(&app);
    assert_eq!(days.len(), expected, "{days:?}");
    assert!(days.iter().all(|(_, n)| *n == 2), "{days:?}");
    assert_eq!(days[0].0, first);
    assert_eq!(days.last().unwrap().0, yesterday);
    // Days without registrations have their (empty) register.
    let empty: i32 = dr::table
        .filter(dr::register_date.eq(yesterday))
        .filter(dr::format.eq("json"))
        .select(dr::entries_count)
        .first(&mut *app.conn())
        .unwrap();
    assert_eq!(empty, 0);

    // Two more days missed: the next run catches up exactly those.
    app.state.clock.advance(Duration::days(2));
    let report = register::run_job(&mut app.conn(), app.state.clock.now(), "later").unwrap();
    assert_eq!(report.produced, 2);
    let days = produced_days(&app);
    assert_eq!(days.len(), expected + 2);
    assert_eq!(
        app.count("daily_registers"),
        2 * i64::try_from(expected + 2).unwrap()
    );
}

#[tokio::test]
async fn the_lease_has_one_holder_until_it_runs_out_or_is_given_back() {
    let app = spawn_app().await;
    let t0 = app.state.clock.now();
    let mut conn = app.conn();
    let claim = |conn: &mut sportello::db::DbConn, who: &str, at: NaiveDateTime| {
        sportello::db::claim_lease(conn, "test-job", who, at, at + Duration::minutes(10)).unwrap()
    };
    assert!(claim(&mut conn, "a", t0));
    assert!(!claim(&mut conn, "b", t0 + Duration::minutes(1)));
    assert!(
        claim(&mut conn, "a", t0 + Duration::minutes(2)),
        "the holder renews"
    );
    assert!(!claim(&mut conn, "b", t0 + Duration::minutes(11)));
    assert!(claim(&mut conn, "b", t0 + Duration::minutes(12)), "ran out");
    sportello::db::release_lease(&mut conn, "test-job", "b", t0 + Duration::minutes(13)).unwrap();
    assert!(
        claim(&mut conn, "c", t0 + Duration::minutes(13)),
        "given back"
    );
}

fn sportello_cli(app: &TestApp) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"));
    c.current_dir(repo_dir())
        .env("SPORTELLO_CONFIG_DIR", repo_dir().join("config"))
        .env("SPORTELLO_ENV", "test")
        .env("SPORTELLO__DATABASE__URL", &app.db_url);
    c
}

#[tokio::test]
async fn the_cli_gives_the_same_bytes_as_the_api_and_stores_once() {
    let app = spawn_app().await;
    submitted(&app).await;
    let day = rome_date(registrations(&app)[0].1);
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    let clerk = app.staff_browser("protocollista").await;
    for format in ["json", "csv"] {
        let (_, api) = download(&app, &clerk, &format!("{}.{format}", day_path(day))).await;
        let out = sportello_cli(&app)
            .args(["protocol", "daily-register", "--aoo", AOO, "--date"])
            .arg(day.format("%Y-%m-%d").to_string())
            .args(["--format", format])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), api);
    }

    // A day before the AOO existed, never produced: the CLI produces it (empty), once.
    let before = day - Duration::days(10);
    let rows = app.count("daily_registers");
    let file = std::env::temp_dir().join(format!("register-{}.csv", uuid::Uuid::new_v4()));
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let out = sportello_cli(&app)
            .args([
                "protocol",
                "daily-register",
                "--aoo",
                AOO,
                "--format",
                "csv",
                "--date",
            ])
            .arg(before.format("%Y-%m-%d").to_string())
            .arg("--out")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = String::from_utf8(out.stdout).unwrap();
        assert!(summary.contains("0 entries"), "{summary}");
        outputs.push(std::fs::read(&file).unwrap());
    }
    let _ = std::fs::remove_file(&file);
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(app.count("daily_registers"), rows + 2);
    let (_, api) = download(&app, &clerk, &format!("{}.csv", day_path(before))).await;
    assert_eq!(api.as_bytes(), outputs[0].as_slice());

    // A day not over yet (for the real clock: tomorrow), or an unknown AOO: one line, exit 1.
    for (aoo, date) in [(AOO, day + Duration::days(2)), ("NESSUNA", before)] {
        let out = sportello_cli(&app)
            .args(["protocol", "daily-register", "--aoo", aoo, "--date"])
            .arg(date.format("%Y-%m-%d").to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert_eq!(app.count("daily_registers"), rows + 2);
}

#[tokio::test]
async fn only_the_aoo_s_clerks_and_administrators_read_the_registers() {
    let app = spawn_app().await;
    submitted(&app).await;
    let day = rome_date(registrations(&app)[0].1);
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;
    let list = format!("/api/v1/protocol/{AOO}/daily-registers");
    let doc = format!("{}.json", day_path(day));

    // The citizen: not staff.
    for path in [&list, &doc] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(res, 403, "forbidden").await;
    }
    // An operator: not theirs.
    let op = app.staff_browser("operatore.anagrafe").await;
    for path in [&list, &doc] {
        let res = op.get(app.url(path)).send().await.unwrap();
        assert_problem(res, 404, "not-found").await;
    }
    // No session.
    let res = new_client().get(app.url(&list)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // The administrator reads.
    let admin = app.staff_browser("amministratore").await;
    let (_, text) = download(&app, &admin, &doc).await;
    assert!(text.contains(AOO));

    let clerk = app.staff_browser("protocollista").await;
    // Unknown AOO, day not produced, a format that does not exist, a bad date.
    for path in [
        "/api/v1/protocol/NESSUNA/daily-registers".to_owned(),
        format!(
            "/api/v1/protocol/NESSUNA/daily-registers/{}.json",
            day.format("%Y-%m-%d")
        ),
        format!("{}.json", day_path(day - Duration::days(30))),
        format!("{}.pdf", day_path(day)),
        format!("/api/v1/protocol/{AOO}/daily-registers/ieri"),
    ] {
        let res = clerk.get(app.url(&path)).send().await.unwrap();
        assert_problem(res, 404, "not-found").await;
    }
    for path in [
        format!("{list}?from=ieri"),
        format!("{list}?from=2026-12-10&to=2026-12-01"),
        format!("{list}?from=2024-01-01&to=2026-12-01"),
        format!("{}.json?format=csv", day_path(day)),
    ] {
        let res = clerk.get(app.url(&path)).send().await.unwrap();
        assert_problem(res, 400, "bad-request").await;
    }
    // The default period ends yesterday and holds the day.
    let v: Value = app.get_json(&clerk, &list).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["items"][0]["date"], day.format("%Y-%m-%d").to_string());
}

/// The demo bundle with the Ufficio Tributi in an AOO of its own (`AOO_TRIB`), its own clerk,
/// and the demo clerk on both AOOs; the second AOO's register has its own code.
fn two_aoo_bundle() -> std::path::PathBuf {
    let dir = tempdir().join("bundle");
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let ente = std::fs::read_to_string(dir.join("ente.toml")).unwrap();
    let tributi = "code = \"tributi\"\nname = \"Ufficio Tributi\"\naoo = \"AOO_CX000\"\n";
    let clerk = "roles = [{ role = \"protocol_clerk\", aoo = \"AOO_CX000\", annul = true }]\n";
    assert!(ente.contains(tributi) && ente.contains(clerk));
    let ente = ente
        .replacen(
            tributi,
            "code = \"tributi\"\nname = \"Ufficio Tributi\"\naoo = \"AOO_TRIB\"\n",
            1,
        )
        .replacen(
            clerk,
            "roles = [{ role = \"protocol_clerk\", aoo = \"AOO_CX000\", annul = true }, \
             { role = \"protocol_clerk\", aoo = \"AOO_TRIB\" }]\n",
            1,
        )
        .replacen(
            "[[offices]]",
            "[[aoo]]\ncode = \"AOO_TRIB\"\nname = \"Comune di Esempio – Area Tributi\"\n\
             register_code = \"PROT_TRIB\"\n\n[[offices]]",
            1,
        );
    std::fs::write(
        dir.join("ente.toml"),
        format!(
            "{ente}\n[[staff]]\nusername = \"protocollista.tributi\"\nfull_name = \"Elena Galli\"\n\
             email = \"elena.galli@comune.esempio.example\"\n\
             roles = [{{ role = \"protocol_clerk\", aoo = \"AOO_TRIB\" }}]\n"
        ),
    )
    .unwrap();
    dir
}

#[tokio::test]
async fn with_two_aoo_each_has_its_own_daily_register_with_its_own_entries() {
    let app = spawn_empty_app_with(|_| {}).await;
    app.load_bundle(&two_aoo_bundle());
    let a = submitted(&app).await;
    app.submit_valid("tari-inizio-occupazione").await;
    let b = submitted(&app).await;
    // Each AOO numbers its own register from 1.
    assert_eq!((a.as_str(), b.as_str()), ("0000001", "0000002"));
    let regs = registrations(&app);
    assert_eq!(
        regs[1].0, "0000001",
        "the TARI declaration, first of AOO_TRIB"
    );
    let day = rome_date(regs[0].1);
    app.state.clock.advance(Duration::days(1));
    sportello::startup::housekeeping(&app.state).await;

    let clerk = app.staff_browser("protocollista").await;
    let tributi = app.staff_browser("protocollista.tributi").await;
    let of = |aoo: &str| {
        format!(
            "/api/v1/protocol/{aoo}/daily-registers/{}.json",
            day.format("%Y-%m-%d")
        )
    };
    let (_, text) = download(&app, &clerk, &of(AOO)).await;
    let main: Value = serde_json::from_str(&text).unwrap();
    let (_, text) = download(&app, &tributi, &of("AOO_TRIB")).await;
    let trib: Value = serde_json::from_str(&text).unwrap();
    let (_, same) = download(&app, &clerk, &of("AOO_TRIB")).await;
    assert_eq!(same, text, "one register, whoever reads it");
    assert_eq!(main["aoo"]["code"], AOO);
    assert_eq!(trib["aoo"]["code"], "AOO_TRIB");
    let numbers = |d: &Value| -> Vec<(String, String)> {
        d["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["number"].as_str().unwrap().to_owned(),
                    e["subject"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let main_entries = numbers(&main);
    let trib_entries = numbers(&trib);
    assert_eq!(main_entries.len(), 2, "{main}");
    assert_eq!(trib_entries.len(), 1, "{trib}");
    assert_eq!(main_entries[0].0, "0000001");
    assert_eq!(main_entries[1].0, "0000002");
    assert_eq!(trib_entries[0].0, "0000001");
    assert!(
        main_entries.iter().all(|(_, s)| !s.contains("TARI")),
        "{main}"
    );
    assert!(trib_entries[0].1.contains("TARI"), "{trib}");
    assert_conforms(&app, "DailyRegister", &trib).await;
    // Two AOOs, one register each per format; each clerk reads only their own AOO's.
    assert_eq!(
        dr::table
            .filter(dr::register_date.eq(day))
            .count()
            .get_result::<i64>(&mut *app.conn())
            .unwrap(),
        4
    );
    // (another AOO's register is not theirs: not found, as for an operator)
    let res = tributi.get(app.url(&of(AOO))).send().await.unwrap();
    assert_problem(res, 404, "not-found").await;
}
