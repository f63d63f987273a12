//! What the benches share: a fresh database for the run and latency percentiles.

use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

/// A fresh database on `backend` (`sqlite`, or `postgres` on the server of
/// `SPORTELLO_BENCH_PG_URL` / `SPORTELLO_TEST_DATABASE`).
pub fn database_url(backend: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    if backend == "postgres" {
        let admin = std::env::var("SPORTELLO_BENCH_PG_URL")
            .or_else(|_| std::env::var("SPORTELLO_TEST_DATABASE"))
            .ok()
            .filter(|u| u.starts_with("postgres"))
            .expect("set SPORTELLO_BENCH_PG_URL=postgres://…/postgres");
        let mut conn = PgConnection::establish(&admin).expect("connect");
        diesel::sql_query(format!("CREATE DATABASE \"bench_{id}\""))
            .execute(&mut conn)
            .expect("create database");
        format!(
            "{}/bench_{id}",
            admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)
        )
    } else {
        let dir = std::env::temp_dir().join("sportello-bench");
        std::fs::create_dir_all(&dir).expect("dir");
        format!("sqlite://{}", dir.join(format!("{id}.db")).display())
    }
}

/// The `p` percentile (0–1) of sorted latencies, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}
