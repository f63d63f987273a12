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
    /// The database this app runs on (to start a second app on it).
    pub db_url: String,
    pub db: Db,
    /// A client with a cookie store: it behaves like one browser.
    pub client: reqwest::Client,
    /// The running app's state (to run its housekeeping, read its store).
    pub state: actix_web::web::Data<sportello::http::extract::AppState>,
    /// The Prometheus listener's port, when `server.metrics_listen` is set.
    pub metrics_port: Option<u16>,
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        // The server closes a connection idle for KEEP_ALIVE. A pooled connection reused just
        // then fails with IncompleteMessage; on a busy machine the client may not have seen the
        // close yet. Reusing only connections idle well under that removes the race.
        .pool_idle_timeout(sportello::startup::KEEP_ALIVE / 5)
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
    let db_url = settings
        .database
        .url
        .as_ref()
        .map(|u| u.expose().to_owned())
        .unwrap_or_default();
    let application = Application::build(settings).expect("build app");
    let port = application.port();
    let metrics_port = application.metrics_port();
    let db = application.state().db.clone();
    let state = application.state();
    tokio::spawn(application.run());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        db_url,
        db,
        state,
        client: new_client(),
        metrics_port,
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

    /// A separate browser logged in through the development login with `body`.
    pub async fn browser_logged_in(&self, body: serde_json::Value) -> reqwest::Client {
        let c = new_client();
        let res = c
            .post(self.url("/auth/dev/login"))
            .json(&body)
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200, "login {body}");
        c
    }

    pub async fn staff_browser(&self, username: &str) -> reqwest::Client {
        self.browser_logged_in(serde_json::json!({ "staff_username": username }))
            .await
    }

    pub async fn citizen_browser(&self, cf: &str) -> reqwest::Client {
        self.browser_logged_in(serde_json::json!({ "codice_fiscale": cf }))
            .await
    }

    /// GET with `client` (another browser).
    pub async fn get_as(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.expect("request")
    }

    /// GET with `client`, answer as JSON.
    pub async fn get_json(&self, client: &reqwest::Client, path: &str) -> serde_json::Value {
        client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON answer")
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

pub const SERVICES: [&str; 4] = [
    "cambio-di-residenza",
    "tari-inizio-occupazione",
    "accesso-civico-generalizzato",
    "richiesta-appuntamento",
];

/// A sample instance document from tests/fixtures/forms (`valid` or `invalid`).
pub fn form_fixture(service: &str, which: &str) -> serde_json::Value {
    let path = repo_dir().join(format!("tests/fixtures/forms/{service}.{which}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

impl TestApp {
    /// A new draft of `service` for the logged-in citizen; returns its id.
    pub async fn create_draft_with(&self, client: &reqwest::Client, service: &str) -> String {
        let res = client
            .post(self.url("/api/v1/instances"))
            .json(&serde_json::json!({ "service": service }))
            .send()
            .await
            .expect("create draft");
        assert_eq!(res.status(), 201, "create draft of {service}");
        let body: serde_json::Value = res.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_draft(&self, service: &str) -> String {
        self.create_draft_with(&self.client, service).await
    }

    pub async fn patch_draft(&self, id: &str, data: &serde_json::Value) -> reqwest::Response {
        self.client
            .patch(self.url(&format!("/api/v1/instances/{id}")))
            .header("content-type", "application/merge-patch+json")
            .json(data)
            .send()
            .await
            .expect("patch")
    }

    pub async fn submit(&self, id: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(&format!("/api/v1/instances/{id}/submit")));
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        req.send().await.expect("submit")
    }

    /// A complete draft of `service` filled with its valid fixture (optionally changed).
    pub async fn ready_draft(&self, service: &str, data: serde_json::Value) -> String {
        let id = self.create_draft(service).await;
        let res = self.patch_draft(&id, &data).await;
        assert_eq!(
            res.status(),
            200,
            "{}",
            res.text().await.unwrap_or_default()
        );
        id
    }

    /// Logs in, fills and submits `service`; returns the submission answer.
    pub async fn submit_valid(&self, service: &str) -> serde_json::Value {
        let id = self
            .ready_draft(service, form_fixture(service, "valid"))
            .await;
        let res = self.submit(&id, None).await;
        assert_eq!(res.status(), 201, "submit");
        res.json().await.unwrap()
    }
}

/// A real SMTP server (aiosmtpd, see tests/peers/smtp_sink.py) on 127.0.0.1, killed on drop.
pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    pub spool: PathBuf,
}

/// GET as an API client would (asking for problem+json rather than an HTML page).
pub async fn get_accepting_json(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .expect("request")
}

/// The `Location` of a redirect.
pub fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_on(free_port(), None)
    }

    /// Starts on `port`, writing into `spool` (a new directory when None).
    pub fn start_on(port: u16, spool: Option<PathBuf>) -> Self {
        use std::io::BufRead;
        let spool = spool.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("sportello-smtp-{}", uuid::Uuid::new_v4()))
        });
        let python = std::env::var("SPORTELLO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = std::process::Command::new(&python)
            .arg(repo_dir().join("tests/peers/smtp_sink.py"))
            .args(["--port", &port.to_string(), "--spool"])
            .arg(&spool)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the SMTP test server (python3 with aiosmtpd: run ./scripts/test)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("SMTP server output");
        assert!(
            line.starts_with("READY"),
            "the SMTP test server did not start (needs aiosmtpd; run ./scripts/test): {line:?}"
        );
        Self { child, port, spool }
    }

    /// Every message received so far, in arrival order, decoded: `to`, `subject`,
    /// `message_id`, `body`, `envelope_to`.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.spool)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        files
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("spool file"))
                    .expect("spool JSON")
            })
            .collect()
    }

    /// Waits until at least `n` messages arrived (at most `secs` seconds).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let m = self.messages();
            if m.len() >= n || std::time::Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Configures the app to deliver mail to `port` with the in-process worker.
pub fn mail_to(s: &mut Settings, port: u16) {
    s.mail.smtp_port = port;
    s.mail.worker = sportello::config::WorkerMode::InProcess;
}

/// The files the attachment store holds for one instance (the test store is a directory).
pub fn stored_files(instance_id: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = repo_dir().join(test_settings().storage.local_dir);
    let mut all = Vec::new();
    walk(&root, &mut all);
    all.retain(|p| p.to_string_lossy().contains(instance_id));
    all
}

/// A new empty directory under the system's temporary directory.
pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-bundle-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies a directory tree.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The one text column (named `t`) of the one row `sql` answers.
pub fn text(app: &TestApp, sql: &str) -> Option<String> {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        t: Option<String>,
    }
    diesel::RunQueryDsl::get_result::<T>(diesel::sql_query(sql), &mut *app.conn())
        .unwrap()
        .t
}

/// A test peer (a Python script under `tests/peers/`, run with the test virtualenv's Python)
/// on a free port of 127.0.0.1: started with `--port <port>` and `args`, ready once it printed
/// `READY`, read through `GET /_state` and steered through `POST /_control`; killed on drop.
pub struct PyPeer {
    child: std::process::Child,
    pub port: u16,
    http: reqwest::Client,
}

impl PyPeer {
    pub fn start(script: &str, args: &[&std::ffi::OsStr]) -> Self {
        use std::io::BufRead;
        let port = free_port();
        let python = std::env::var("SPORTELLO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = std::process::Command::new(python)
            .arg(repo_dir().join("tests/peers").join(script))
            .args(["--port", &port.to_string()])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start the peer {script}: {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("peer output");
        assert!(
            line.starts_with("READY"),
            "the peer {script} did not start: {line:?}"
        );
        Self {
            child,
            port,
            http: reqwest::Client::new(),
        }
    }

    pub async fn state(&self) -> serde_json::Value {
        self.http
            .get(format!("http://127.0.0.1:{}/_state", self.port))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn control(&self, body: serde_json::Value) {
        let r = self
            .http
            .post(format!("http://127.0.0.1:{}/_control", self.port))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
