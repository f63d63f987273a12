//! A click day through the whole booking path — HTTP, session, the schedule and window checks,
//! the slot's and the citizen's counters, the booking row, the confirmation e-mail in the
//! outbox — side by side with the same writes issued straight to the database, and the
//! availability latency of 60 days × 10 calendars.
//!
//! `cargo bench --bench booking -- [--backend sqlite|postgres] [--clients 64]
//!  [--citizens 10000] [--pool 16]`
//! PostgreSQL: `SPORTELLO_BENCH_PG_URL=postgres://user@127.0.0.1:port/postgres`.
//! Without `--bench` (under `cargo test`) it runs a small round and checks that exactly the
//! places were confirmed and every other attempt was 409.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use diesel::RunQueryDsl;
use sportello::bundle::Bundle;
use sportello::config::{self, Environment, Secret, SqliteSynchronous};
use sportello::domain::codice_fiscale::CodiceFiscale;
use sportello::startup::Application;

struct Args {
    backend: String,
    clients: usize,
    citizens: usize,
    pool: u32,
    bench: bool,
}

fn args() -> Args {
    let mut a = Args {
        backend: "sqlite".into(),
        clients: 64,
        citizens: 10_000,
        pool: 16,
        bench: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => a.bench = true,
            "--backend" => a.backend = it.next().unwrap_or_default(),
            "--clients" => a.clients = it.next().and_then(|v| v.parse().ok()).unwrap_or(64),
            "--citizens" => a.citizens = it.next().and_then(|v| v.parse().ok()).unwrap_or(10_000),
            "--pool" => a.pool = it.next().and_then(|v| v.parse().ok()).unwrap_or(16),
            _ => {}
        }
    }
    if !a.bench {
        a.clients = 8;
        a.citizens = 1_200;
        a.pool = 4;
    }
    a
}

/// The demo bundle plus a click-day service: 10 calendars of 50 ten-minute slots a day with one
/// place each (500 places a day), open every day.
fn bundle_dir(repo: &std::path::Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-bench-{}", uuid::Uuid::new_v4()));
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo.join("config/demo"))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(copy.success());
    let mut file = String::from(
        "slug = \"click-day\"\ntitle = \"CIE – giornata straordinaria\"\ncategory = \"appuntamenti\"\n\
         office = \"anagrafe\"\nsummary = \"Click day.\"\ndescription = \"Dieci sportelli.\"\n\
         who_can_apply = \"Residenti.\"\nlegal_term_days = 1\nmin_auth_level = 1\n\n\
         [booking]\nmin_notice_hours = 0\nmax_days_ahead = 90\n",
    );
    for c in 0..10 {
        file.push_str(&format!(
            "\n[[calendar]]\ncode = \"desk-{c}\"\nname = \"Sportello {c}\"\noffice = \"anagrafe\"\n\
             slot_minutes = 10\ncapacity = 1\nhours = [{{ days = [\"mon\", \"tue\", \"wed\", \
             \"thu\", \"fri\", \"sat\", \"sun\"], from = \"08:00\", to = \"16:20\" }}]\n"
        ));
    }
    std::fs::write(dir.join("services/click-day.toml"), file).expect("write");
    dir
}

fn cf(n: usize) -> String {
    let first = format!("VRDLGU{:02}A01A{:03}", 10 + n / 1000, n % 1000);
    CodiceFiscale::complete(&first).expect("code").to_string()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

use common::{database_url, percentile};

fn main() {
    let a = args();
    let backend = if std::env::var("SPORTELLO_TEST_DATABASE")
        .is_ok_and(|u| u.starts_with("postgres"))
        && !a.bench
    {
        "postgres".to_owned()
    } else {
        a.backend.clone()
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut settings = config::load(&repo.join("config"), Environment::Test).expect("config");
    settings.server.port = 0;
    settings.server.max_slow_bodies_per_client = 0;
    settings.database.url = Some(Secret::new(database_url(&backend)));
    settings.database.pool_size = a.pool;
    settings.database.sqlite_synchronous = SqliteSynchronous::Full;
    settings.telemetry.filter = "error".into();
    sportello::telemetry::init(&settings.telemetry);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let app = Application::build(settings.clone()).expect("app");
        let port = app.port();
        let db = app.state().db.clone();
        let today = app.state().clock.today();
        tokio::spawn(app.run());
        let base = format!("http://127.0.0.1:{port}");
        Bundle::read(&bundle_dir(&repo))
            .expect("bundle")
            .load(&mut db.get().expect("conn"))
            .expect("load");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(a.clients)
            .build()
            .expect("client");

        // The click day: tomorrow's 500 places (the slots' start times from the availability).
        let day = today + chrono::Duration::days(1);
        let avail: serde_json::Value = client
            .get(format!("{base}/api/v1/services/click-day/availability?from={day}&to={day}"))
            .send()
            .await
            .expect("availability")
            .json()
            .await
            .expect("json");
        let slots: Vec<(String, String)> = avail["days"][0]["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .map(|s| {
                (
                    s["calendar"].as_str().unwrap().to_owned(),
                    s["starts_at"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(slots.len(), 500);

        // Sessions of the citizens (not measured).
        let n = a.citizens;
        let prep = Instant::now();
        let mut cookies = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            let logins = chunk.iter().map(|&i| {
                let (client, base) = (client.clone(), base.clone());
                async move {
                    let res = client
                        .post(format!("{base}/auth/dev/login"))
                        .json(&serde_json::json!({ "codice_fiscale": cf(i), "level": 2 }))
                        .send()
                        .await
                        .expect("login");
                    let c = res.headers()["set-cookie"].to_str().unwrap();
                    c.split(';').next().unwrap().to_owned()
                }
            });
            cookies.extend(futures_util::future::join_all(logins).await);
        }
        let prep = prep.elapsed();

        // Every citizen tries once, the i-th on the i-th place (each place twenty times over).
        let cookies = Arc::new(cookies);
        let slots = Arc::new(slots);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..a.clients)
            .map(|_| {
                let (client, cookies, slots, next, base) =
                    (client.clone(), cookies.clone(), slots.clone(), next.clone(), base.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let (mut ok, mut full) = (0usize, 0usize);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= cookies.len() {
                            break;
                        }
                        let (calendar, at) = &slots[i % slots.len()];
                        let t = Instant::now();
                        let res = client
                            .post(format!("{base}/api/v1/bookings"))
                            .header("cookie", &cookies[i])
                            .json(&serde_json::json!({
                                "service": "click-day", "calendar": calendar,
                                "starts_at": at, "reason": "Carta d'identità",
                            }))
                            .send()
                            .await
                            .expect("book");
                        let status = res.status().as_u16();
                        let _ = res.bytes().await;
                        lat.push(t.elapsed());
                        match status {
                            201 => ok += 1,
                            409 => full += 1,
                            other => panic!("booking answered {other}"),
                        }
                    }
                    (lat, ok, full)
                })
            })
            .collect();
        let (mut lat, mut ok, mut full) = (Vec::new(), 0, 0);
        for t in tasks {
            let (l, o, f) = t.await.expect("client");
            lat.extend(l);
            ok += o;
            full += f;
        }
        let wall = started.elapsed();
        lat.sort();
        assert_eq!(ok, slots.len().min(n), "confirmed bookings");
        assert_eq!(ok + full, n);
        println!(
            "backend={backend} clients={} citizens={n} places={} pool={} wall={:.2}s \
             attempts={:.0}/s confirmed={ok} refused={full} p50={:.1}ms p99={:.1}ms \
             (sessions made in {:.1}s)",
            a.clients,
            slots.len(),
            a.pool,
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            prep.as_secs_f64()
        );

        // The same writes straight to the database, from as many threads as clients: per
        // attempt one transaction with the slot row made on first use, the conditional
        // counter update and, when it took a place, the quota and the booking row (on a
        // second day's slots, so nothing is shared with the run above).
        let raw_day = today + chrono::Duration::days(2);
        let raw_next = Arc::new(AtomicUsize::new(0));
        let raw_started = Instant::now();
        let citizen_ids: Arc<Vec<i64>> = Arc::new({
            #[derive(diesel::QueryableByName)]
            struct Id {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                id: i64,
            }
            diesel::sql_query("SELECT id FROM citizens ORDER BY id")
                .load::<Id>(&mut *db.get().expect("conn"))
                .expect("citizens")
                .into_iter()
                .map(|c| c.id)
                .collect()
        });
        let raw_ok = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..a.clients.min(a.pool as usize))
            .map(|_| {
                let (db, next, ids, ok) =
                    (db.clone(), raw_next.clone(), citizen_ids.clone(), raw_ok.clone());
                std::thread::spawn(move || {
                    use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
                    let mut conn = db.get().expect("conn");
                    let start = sportello::domain::calendar::rome_day_start_utc(raw_day)
                        + chrono::Duration::hours(8);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= ids.len() {
                            break;
                        }
                        let slot = i % 500;
                        let code = format!("desk-{}", slot / 50);
                        let at = start + chrono::Duration::minutes(10 * (slot % 50) as i64);
                        let took = sportello::db::write_tx(&mut conn, |conn| {
                            diesel::sql_query(
                                "INSERT INTO booking_slots (calendar_id, starts_at, ends_at, \
                                 capacity, booked) VALUES ((SELECT id FROM calendars WHERE code = $1), \
                                 $2, $3, 1, 0) ON CONFLICT (calendar_id, starts_at) \
                                 DO NOTHING",
                            )
                            .bind::<Text, _>(&code)
                            .bind::<Timestamp, _>(at)
                            .bind::<Timestamp, _>(at + chrono::Duration::minutes(10))
                            .execute(conn)?;
                            let n = diesel::sql_query(
                                "UPDATE booking_slots SET booked = booked + 1 WHERE calendar_id = \
                                 (SELECT id FROM calendars WHERE code = $1) AND \
                                 starts_at = $2 AND booked < capacity AND cancelled_at IS NULL",
                            )
                            .bind::<Text, _>(&code)
                            .bind::<Timestamp, _>(at)
                            .execute(conn)?;
                            if n == 1 {
                                diesel::sql_query(
                                    "INSERT INTO booking_limits (citizen_id, service_id, active, \
                                     max_active) VALUES ($1, (SELECT id FROM services WHERE slug = \
                                     'click-day'), 1, 2) ON CONFLICT (citizen_id, service_id) DO \
                                     UPDATE SET active = booking_limits.active + 1, \
                                     max_active = booking_limits.max_active + 1",
                                )
                                .bind::<BigInt, _>(ids[i])
                                .execute(conn)?;
                                diesel::sql_query(
                                    "INSERT INTO bookings (id, ente_id, service_id, calendar_id, \
                                     slot_id, citizen_id, code, status, starts_at, ends_at, reason, \
                                     sequence, created_at, updated_at) SELECT $1, s.ente_id, \
                                     s.service_id, s.calendar_id, s.id, $2, $3, 'confirmed', \
                                     s.starts_at, s.ends_at, 'raw', $4, s.starts_at, s.starts_at \
                                     FROM (SELECT b.id, c.ente_id, c.service_id, b.calendar_id, \
                                     b.starts_at, b.ends_at FROM booking_slots b JOIN calendars c \
                                     ON c.id = b.calendar_id WHERE c.code = $5 AND \
                                     b.starts_at = $6) s",
                                )
                                .bind::<Text, _>(uuid::Uuid::new_v4().to_string())
                                .bind::<BigInt, _>(ids[i])
                                .bind::<Text, _>(format!("R{i:07}"))
                                .bind::<Integer, _>(0)
                                .bind::<Text, _>(&code)
                                .bind::<Timestamp, _>(at)
                                .execute(conn)?;
                            }
                            Ok::<_, diesel::result::Error>(n)
                        })
                        .expect("raw attempt");
                        ok.fetch_add(took, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let raw_wall = raw_started.elapsed();
        let raw_n = citizen_ids.len();
        println!(
            "backend={backend} database alone (same writes, {} threads): attempts={:.0}/s \
             confirmed={} of {raw_n}",
            a.clients.min(a.pool as usize),
            raw_n as f64 / raw_wall.as_secs_f64(),
            raw_ok.load(Ordering::Relaxed)
        );

        // Availability: 60 days × 10 calendars, one client, sequential.
        let rounds = if a.bench { 300 } else { 20 };
        let to = today + chrono::Duration::days(59);
        let mut alat = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            let res = client
                .get(format!("{base}/api/v1/services/click-day/availability?from={today}&to={to}"))
                .send()
                .await
                .expect("availability");
            assert_eq!(res.status(), 200);
            let _ = res.bytes().await;
            alat.push(t.elapsed());
        }
        alat.sort();
        println!(
            "backend={backend} availability 60 days x 10 calendars: p50={:.1}ms p99={:.1}ms \
             ({rounds} calls)",
            percentile(&alat, 0.50),
            percentile(&alat, 0.99)
        );
        let over: Count = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM booking_slots WHERE booked > capacity",
        )
        .get_result(&mut *db.get().expect("conn"))
        .expect("check");
        assert_eq!(over.n, 0, "overbooked");
        if !a.bench {
            println!("smoke round: {ok} confirmed of {n}, the rest 409");
        }
    });
}
