//! The tamper-evident audit log: what staff reads and logins write, the API for
//! administrators (JSON Lines, CSV, cursor), append-only on both backends, one chain per ente
//! under concurrent appends, and `sportello audit verify` naming an altered, a deleted and an
//! inserted entry.

use std::process::Command;

use crate::helpers::*;
use crate::tokens::{bearer_get, submitted_with_attachment, token};
use diesel::RunQueryDsl;
use serde_json::{json, Value};
use sportello::audit::{Action, Actor, Entry};
use sportello::db::Backend;

const ADMIN: &str = "amministratore";
const OP: &str = "operatore.anagrafe";

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

async fn audit(app: &TestApp, client: &reqwest::Client, query: &str) -> Vec<Value> {
    let res = client
        .get(app.url(&format!("/api/v1/admin/audit?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/jsonl");
    jsonl(&res.text().await.unwrap())
}

/// `sportello audit verify` on the app's database: (success, stdout, stderr).
fn verify(app: &TestApp) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sportello"))
        .current_dir(repo_dir())
        .env("SPORTELLO_CONFIG_DIR", repo_dir().join("config"))
        .env("SPORTELLO_ENV", "test")
        .env("SPORTELLO__DATABASE__URL", &app.db_url)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scalar(app: &TestApp, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql)
        .get_result::<N>(&mut *app.conn())
        .unwrap()
        .n
}

/// Lets the test change rows the database otherwise refuses to change.
fn bypass_guard(app: &TestApp) {
    match app.backend() {
        Backend::Sqlite => {
            app.exec("DROP TRIGGER audit_log_no_update");
            app.exec("DROP TRIGGER audit_log_no_delete");
        }
        Backend::Postgres => {
            app.exec("ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard_rows");
        }
    }
}

#[tokio::test]
async fn staff_reads_and_logins_are_in_the_log_for_administrators_only() {
    let app = spawn_app().await;
    let (id, _) = submitted_with_attachment(&app).await;
    let op = app.staff_browser(OP).await;
    let view = app
        .get_json(&op, &format!("/api/v1/staff/instances/{id}"))
        .await;
    let url = view["attachments"][0]["download_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let att = view["attachments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get_as(&op, &url).await.status(), 200);
    // A failed login: an unknown staff member.
    let res = new_client()
        .post(app.url("/auth/dev/login"))
        .json(&json!({ "staff_username": "nessuno" }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());

    let admin = app.staff_browser(ADMIN).await;
    let reads = audit(&app, &admin, "action=instance_read").await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["actor_kind"], "staff");
    assert_eq!(reads[0]["actor_id"], OP);
    assert_eq!(reads[0]["object_kind"], "instance");
    assert_eq!(reads[0]["object_id"], id);
    assert_eq!(reads[0]["client_ip"], "127.0.0.1");
    assert!(reads[0]["request_id"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(reads[0]["hash"].as_str().unwrap().len(), 64);
    let files = audit(
        &app,
        &admin,
        &format!("action=attachment_read&actor=staff:{OP}"),
    )
    .await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["object_id"], att);
    assert!(files[0]["details"].as_str().unwrap().contains(&id));
    // Logins: the citizen's and the operator's succeeded, with the method; the unknown one
    // failed.
    let ok = audit(&app, &admin, "action=login_succeeded").await;
    assert!(ok.iter().any(|e| e["actor_kind"] == "citizen"
        && e["details"]
            .as_str()
            .unwrap()
            .contains("\"method\":\"dev\"")));
    assert!(ok.iter().any(|e| e["actor_id"] == OP));
    let failed = audit(&app, &admin, "action=login_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["details"]
        .as_str()
        .unwrap()
        .contains("\"method\":\"dev\""));
    // The submission's history entries, by the citizen and the system.
    let events = audit(&app, &admin, "action=instance_event").await;
    assert!(events
        .iter()
        .any(|e| e["object_id"] == id && e["details"].as_str().unwrap().contains("submitted")));

    // CSV by Accept, with the same entries.
    let res = admin
        .get(app.url("/api/v1/admin/audit?action=instance_read"))
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header[0], "seq");
    assert_eq!(header.last().unwrap(), "hash");
    let recs: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 1);
    assert_eq!(&recs[0][7], id.as_str());

    // Pages: a cursor and a Link to the next one, which goes on from there.
    let res = admin
        .get(app.url("/api/v1/admin/audit?limit=2"))
        .send()
        .await
        .unwrap();
    let next = res.headers()["x-next-cursor"].to_str().unwrap().to_owned();
    let link = res.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains(&format!("cursor={next}")) && link.ends_with("rel=\"next\""),
        "{link}"
    );
    let first = jsonl(&res.text().await.unwrap());
    assert_eq!(first.len(), 2);
    let second = audit(&app, &admin, &format!("limit=2&cursor={next}")).await;
    assert_eq!(second[0]["seq"], first[1]["seq"].as_i64().unwrap() + 1);

    // Only administrators, or a token with audit:read.
    let res = get_accepting_json(&op, &app.url("/api/v1/admin/audit")).await;
    assert_problem(res, 403, "forbidden").await;
    let res = get_accepting_json(&new_client(), &app.url("/api/v1/admin/audit")).await;
    assert_problem(res, 401, "unauthorized").await;
    let (reader, _) = token(&app, &admin, &["instances:read"], 30).await;
    assert_problem(
        bearer_get(&app, &reader, "/api/v1/admin/audit").await,
        403,
        "insufficient-scope",
    )
    .await;
    let (auditor, auditor_id) = token(&app, &admin, &["audit:read"], 30).await;
    let res = bearer_get(&app, &auditor, "/api/v1/admin/audit?action=token_used").await;
    assert_eq!(res.status(), 200);
    let used = jsonl(&res.text().await.unwrap());
    assert!(used.iter().any(|e| e["actor_id"] == auditor_id), "{used:?}");
    let res = bearer_get(&app, &auditor, "/api/v1/admin/audit?action=nothing").await;
    assert_problem(res, 422, "validation").await;
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_entries() {
    let app = spawn_app().await;
    assert!(app.count("audit_log") >= 1, "the bundle load is recorded");
    for sql in [
        "UPDATE audit_log SET actor_id = 'intruso'",
        "DELETE FROM audit_log",
    ] {
        let err = diesel::sql_query(sql)
            .execute(&mut *app.conn())
            .expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if app.backend() == Backend::Postgres {
        let err = diesel::sql_query("TRUNCATE audit_log")
            .execute(&mut *app.conn())
            .expect_err("truncate");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}

#[tokio::test]
async fn concurrent_appends_make_one_unbroken_chain() {
    let app = spawn_app().await;
    let ente: i64 = scalar(&app, "SELECT id AS n FROM enti WHERE code = 'c_x000'");
    let before = app.count("audit_log");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db = app.db.clone();
            std::thread::spawn(move || {
                let mut conn = db.get().unwrap();
                for i in 0..25 {
                    sportello::audit::record(
                        &mut conn,
                        Entry::new(
                            ente,
                            Actor::System,
                            Action::Export,
                            "test",
                            format!("{t}-{i}"),
                        ),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(app.count("audit_log"), before + 200);
    let max = scalar(
        &app,
        &format!("SELECT MAX(seq) AS n FROM audit_log WHERE ente_id = {ente}"),
    );
    assert_eq!(max, before + 200, "gap-free seq");
    let (ok, out, err) = verify(&app);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!(
            "ente c_x000: {} entries, chain intact",
            before + 200
        )),
        "{out}"
    );
}

#[tokio::test]
async fn verify_names_an_altered_a_deleted_and_an_inserted_entry() {
    for case in ["altered", "deleted", "inserted"] {
        let app = spawn_app().await;
        for cf in [CITIZEN_CF, OTHER_CF, CITIZEN_CF] {
            app.login_citizen(cf).await;
        }
        let (ok, out, err) = verify(&app);
        assert!(ok, "{case}, before: {out}{err}");
        let ente: i64 = scalar(&app, "SELECT id AS n FROM enti WHERE code = 'c_x000'");
        let id_of = |seq: i64| {
            scalar(
                &app,
                &format!("SELECT id AS n FROM audit_log WHERE ente_id = {ente} AND seq = {seq}"),
            )
        };
        let (named, what) = match case {
            "altered" => {
                bypass_guard(&app);
                let id = id_of(2);
                app.exec(&format!(
                    "UPDATE audit_log SET actor_id = 'intruso' WHERE id = {id}"
                ));
                (format!("entry {id} (seq 2): altered"), "altered")
            }
            "deleted" => {
                bypass_guard(&app);
                let next = id_of(3);
                app.exec(&format!(
                    "DELETE FROM audit_log WHERE ente_id = {ente} AND seq = 2"
                ));
                (format!("entry {next} (seq 2): deleted"), "deleted")
            }
            _ => {
                // No bypass needed: the database lets rows in; the chain shows them.
                let last = scalar(
                    &app,
                    &format!("SELECT MAX(seq) AS n FROM audit_log WHERE ente_id = {ente}"),
                );
                app.exec(&format!(
                    "INSERT INTO audit_log (ente_id, seq, at, actor_kind, actor_id, action, \
                     object_kind, object_id, details, prev_hash, hash) \
                     SELECT ente_id, seq + 1, at, actor_kind, 'intruso', action, object_kind, \
                     object_id, details, hash, hash FROM audit_log \
                     WHERE ente_id = {ente} AND seq = {last}"
                ));
                let id = id_of(last + 1);
                (
                    format!("entry {id} (seq {}): inserted", last + 1),
                    "inserted",
                )
            }
        };
        let (ok, out, err) = verify(&app);
        assert!(!ok, "{case}: verify must fail: {out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("ente c_x000") && err.contains(&named),
            "{case}: {err}"
        );
        assert!(err.contains(what), "{err}");
    }
}
