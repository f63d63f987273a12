//! Submissions per second through the whole pipeline — HTTP, session, full form validation,
//! RFC 8785 document and digest, routing, gap-free protocol registration, outbox, history —
//! with N concurrent clients, on SQLite or PostgreSQL, with latency percentiles.
//!
//! `cargo bench --bench submissions -- [--backend sqlite|postgres] [--clients 64]
//!  [--submissions 10000] [--pool 16]`
//! PostgreSQL: `SPORTELLO_BENCH_PG_URL=postgres://user@127.0.0.1:port/postgres` (an account
//! that may create databases; a fresh database is made for the run).
//! Without `--bench` (that is, under `cargo test`) it runs a small round and checks that every
//! submission succeeded with numbers 1..=n.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use diesel::RunQueryDsl;
use sportello::auth::AuthLevel;
use sportello::bundle::Bundle;
use sportello::catalog::forms::FormCache;
use sportello::config::{self, Environment, Secret, SqliteSynchronous};
use sportello::instances::{create_draft, patch_draft, CitizenCtx};
use sportello::startup::Application;

struct Args {
    backend: String,
    clients: usize,
    submissions: usize,
    pool: u32,
    bench: bool,
}

fn args() -> Args {
    let mut a = Args {
        backend: "sqlite".into(),
        clients: 64,
        submissions: 10_000,
        pool: 16,
        bench: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => a.bench = true,
            "--backend" => a.backend = it.next().unwrap_or_default(),
            "--clients" => a.clients = it.next().and_then(|v| v.parse().ok()).unwrap_or(64),
            "--submissions" => {
                a.submissions = it.next().and_then(|v| v.parse().ok()).unwrap_or(10_000)
            }
            "--pool" => a.pool = it.next().and_then(|v| v.parse().ok()).unwrap_or(16),
            _ => {}
        }
    }
    if !a.bench {
        a.clients = 8;
        a.submissions = 40;
        a.pool = 4;
    }
    a
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
    settings.database.url = Some(Secret::new(database_url(&backend)));
    settings.database.pool_size = a.pool;
    // Production durability on SQLite: fsync at every commit.
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
        tokio::spawn(app.run());
        let base = format!("http://127.0.0.1:{port}");
        Bundle::read(&repo.join("config/demo")).expect("bundle").load(&mut db.get().expect("conn")).expect("load");

        let client = reqwest::Client::builder().cookie_store(true).pool_max_idle_per_host(a.clients).build().expect("client");
        let me: serde_json::Value = client
            .post(format!("{base}/auth/dev/login"))
            .json(&serde_json::json!({ "codice_fiscale": "RSSMRA85T10A562S" }))
            .send().await.expect("login").json().await.expect("login json");
        assert_eq!(me["kind"], "citizen");

        // Drafts prepared through the library (not part of what is measured).
        let data: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo.join("tests/fixtures/forms/accesso-civico-generalizzato.valid.json")).expect("fixture"),
        ).expect("fixture json");
        let prep = Instant::now();
        let n = a.submissions;
        let ids: Vec<String> = {
            let db = db.clone();
            tokio::task::spawn_blocking(move || {
                #[derive(diesel::QueryableByName)]
                struct Ids {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    ente_id: i64,
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    id: i64,
                }
                let mut conn = db.get().expect("conn");
                let c: Ids = diesel::sql_query("SELECT ente_id, id FROM citizens").get_result(&mut *conn).expect("citizen");
                let ctx = CitizenCtx { ente_id: c.ente_id, citizen_id: c.id, level: AuthLevel::L2 };
                let forms = FormCache::default();
                (0..n)
                    .map(|_| {
                        let id = create_draft(&mut conn, ctx, "accesso-civico-generalizzato", 30).expect("draft");
                        patch_draft(&mut conn, &forms, ctx, &id, &data, 30, chrono::Utc::now().date_naive()).expect("patch");
                        id
                    })
                    .collect()
            })
            .await
            .expect("prepare")
        };
        let prep = prep.elapsed();

        let ids = Arc::new(ids);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..a.clients)
            .map(|_| {
                let (client, ids, next, base) = (client.clone(), ids.clone(), next.clone(), base.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut numbers = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= ids.len() {
                            break;
                        }
                        let t = Instant::now();
                        let res = client.post(format!("{base}/api/v1/instances/{}/submit", ids[i])).send().await.expect("submit");
                        let status = res.status();
                        let body: serde_json::Value = res.json().await.expect("json");
                        lat.push(t.elapsed());
                        assert_eq!(status, 201, "{body}");
                        numbers.push(body["protocol"]["number"].as_str().unwrap_or("0").parse::<u32>().unwrap_or(0));
                    }
                    (lat, numbers)
                })
            })
            .collect();
        let mut lat = Vec::new();
        let mut numbers = Vec::new();
        for t in tasks {
            let (l, nums) = t.await.expect("client");
            lat.extend(l);
            numbers.extend(nums);
        }
        let wall = started.elapsed();
        lat.sort();
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=n as u32).collect::<Vec<_>>(), "numbers are not 1..=n");
        let rate = n as f64 / wall.as_secs_f64();
        println!(
            "backend={backend} clients={} submissions={n} pool={} wall={:.2}s rate={rate:.0}/s p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms (drafts prepared in {:.1}s)",
            a.clients, a.pool, wall.as_secs_f64(), percentile(&lat, 0.50), percentile(&lat, 0.90), percentile(&lat, 0.99),
            percentile(&lat, 1.0), prep.as_secs_f64()
        );
        if !a.bench {
            println!("smoke round: {n} submissions, numbers 1..={n}, all 201");
        }
    });
}
