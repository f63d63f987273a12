//! `spawn_app()`: the real application on a random port with a fresh database.
//!
//! The backend comes from `SPORTELLO_TEST_DATABASE`: unset or `sqlite` gives a new SQLite file
//! per test; a `postgres://…` URL (an account allowed to create databases) gives a new
//! PostgreSQL database per test. `scripts/test` runs the whole suite once with each.

use std::path::{Path, PathBuf};
use std::sync::Once;

use diesel::{Connection, PgConnection, RunQueryDsl};
use sportello::bundle::Bundle;
use sportello::config::{self, Environment, Secret, Settings};
use sportello::db::{Backend, Db, DbConn};
use sportello::startup::Application;

pub const CITIZEN_CF: &str = "RSSMRA85T10A562S";
pub const OTHER_CF: &str = "BNCLRA80A41H501D";

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn test_settings() -> Settings {
    let mut s = config::load(&repo_dir().join("config"), Environment::Test).expect("test config");
    s.server.port = 0;
    s
}

fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut t = test_settings().telemetry;
        if let Ok(filter) = std::env::var("TEST_LOG") {
            t.filter = filter;
        }
        sportello::telemetry::init(&t);
    });
}

/// A fresh, empty database URL for one test on the backend under test.
pub fn fresh_database_url() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match std::env::var("SPORTELLO_TEST_DATABASE") {
        Ok(admin) if admin.starts_with("postgres") => {
            let name = format!("t_{id}");
            let mut conn = PgConnection::establish(&admin).expect("connect to the test PostgreSQL");
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .expect("create test database");
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            format!("{base}/{name}")
        }
        Ok(other) if !other.is_empty() && other != "sqlite" => {
            panic!("SPORTELLO_TEST_DATABASE must be `sqlite` or a postgres:// URL, not `{other}`")
        }
        _ => {
            let dir = std::env::temp_dir().join("sportello-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!("sqlite://{}", dir.join(format!("{id}.db")).display())
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub db: Db,
    /// A client with a cookie store: it behaves like one browser.
    pub client: reqwest::Client,
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The app with the demo bundle loaded.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_empty_app_with(customize).await;
    app.load_bundle(&repo_dir().join("config/demo"));
    app
}

/// The app on a migrated database with no ente at all.
pub async fn spawn_empty_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    init_tracing();
    let mut settings = test_settings();
    settings.database.url = Some(Secret::new(fresh_database_url()));
    customize(&mut settings);
    let application = Application::build(settings).expect("build app");
    let port = application.port();
    let db = application.state().db.clone();
    tokio::spawn(application.run());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db,
        client: new_client(),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    pub fn load_bundle(&self, dir: &Path) -> sportello::bundle::LoadReport {
        let bundle = Bundle::read(dir).expect("read bundle");
        let mut conn = self.db.get().expect("conn");
        bundle.load(&mut conn).expect("load bundle")
    }

    pub fn conn(&self) -> impl std::ops::DerefMut<Target = DbConn> {
        self.db.get().expect("conn")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Development login as a citizen with this browser (the app's client).
    pub async fn login_citizen(&self, cf: &str) -> reqwest::Response {
        self.client
            .post(self.url("/auth/dev/login"))
            .json(&serde_json::json!({ "codice_fiscale": cf }))
            .send()
            .await
            .expect("login")
    }

    pub async fn login_staff(&self, username: &str) -> reqwest::Response {
        self.client
            .post(self.url("/auth/dev/login"))
            .json(&serde_json::json!({ "staff_username": username }))
            .send()
            .await
            .expect("login")
    }

    pub async fn me(&self) -> reqwest::Response {
        self.get("/api/v1/me").await
    }

    /// Runs a statement directly on the test database (to age sessions, count rows…).
    pub fn exec(&self, sql: &str) -> usize {
        diesel::sql_query(sql)
            .execute(&mut *self.conn())
            .expect("exec")
    }

    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(&mut *self.conn())
            .expect("count")
            .n
    }
}

/// Asserts an RFC 9457 answer and returns its JSON.
pub async fn assert_problem(
    res: reqwest::Response,
    status: u16,
    type_slug: &str,
) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let body: serde_json::Value = res.json().await.expect("problem JSON");
    assert_eq!(
        body["type"],
        format!("urn:sportello:problem:{type_slug}"),
        "{body}"
    );
    assert_eq!(body["status"], status);
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["instance"], format!("urn:uuid:{request_id}"));
    body
}
