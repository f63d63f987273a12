//! The open export (docs/export.md): one ente's rows only, a valid Data Package, the same
//! CSV after a round trip through the other backend, import only into an empty database,
//! and the administrators' ZIP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sportello::config::Secret;
use sportello::db::Db;
use sportello::export;
use sportello::storage::LocalDirStore;

use crate::helpers::*;
use crate::instances::upload;

fn pdf(size: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.resize(size.saturating_sub(6), b'x');
    b.extend_from_slice(b"%%EOF\n");
    b
}

/// The demo ente with a submitted instance and a draft with an attachment, plus ente B.
async fn app_with_data() -> TestApp {
    let app = spawn_app().await;
    app.load_bundle(&repo_dir().join("tests/fixtures/ente-b"));
    app.login_citizen(CITIZEN_CF).await;
    app.submit_valid("cambio-di-residenza").await;
    let id = app.create_draft("cambio-di-residenza").await;
    let res = upload(&app, &id, "contratto.pdf", pdf(3000), Some("Contratto")).await;
    assert_eq!(res.status(), 201);
    app
}

fn db_at(url: &str) -> Db {
    let mut settings = test_settings();
    settings.database.url = Some(Secret::new(url.to_owned()));
    let db = Db::connect(&settings.database).expect("connect");
    db.migrate().expect("migrate");
    db
}

fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join("sportello-tests");
    std::fs::create_dir_all(&dir).unwrap();
    format!(
        "sqlite://{}",
        dir.join(format!("{}.db", uuid::Uuid::new_v4())).display()
    )
}

fn export_of(db: &Db, store: &LocalDirStore, code: &str) -> PathBuf {
    let out = tempdir().join("export");
    export::export_ente(&mut db.get().unwrap(), store, code, &out, &mut |_, _| {}).expect("export");
    out
}

/// Every file of an export but datapackage.json, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn csv_rows(dir: &Path, table: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join(format!("{table}.csv"))).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Imports `dir` into a new database at `url` and exports it again.
fn round_trip(dir: &Path, url: &str, code: &str) -> PathBuf {
    let db = db_at(url);
    let store = LocalDirStore::new(tempdir()).unwrap();
    let report =
        export::import_dir(&mut db.get().unwrap(), &store, dir, &mut |_, _| {}).expect("import");
    assert!(report.rows > 0 && report.attachments == 1, "{report}");
    // The audit log arrives as it was: its chain still verifies on the new database.
    let v = sportello::audit::verify(&mut db.get().unwrap(), Some(code)).unwrap();
    assert!(v.first_break.is_none(), "{:?}", v.first_break);
    assert!(v.enti[0].1 > 0, "no audit entries imported: {:?}", v.enti);
    export_of(&db, &store, code)
}

fn assert_same_export(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (name, bytes) in &fa {
        if name == "datapackage.json" {
            continue;
        }
        assert!(
            bytes == &fb[name],
            "{name} differs:\n{}\n---\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&fb[name])
        );
    }
}

#[tokio::test]
async fn an_export_survives_a_round_trip_through_the_other_backend_unchanged() {
    let app = app_with_data().await;
    let store = LocalDirStore::new(repo_dir().join(test_settings().storage.local_dir)).unwrap();
    let first = export_of(&app.db, &store, "c_x000");
    assert_eq!(csv_rows(&first, "attachments").len(), 1);
    let listed = std::fs::read_to_string(first.join(export::BLOBS_FILE)).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    match app.backend() {
        sportello::db::Backend::Postgres => {
            // PostgreSQL → SQLite → PostgreSQL.
            let via_sqlite = round_trip(&first, &sqlite_url(), "c_x000");
            assert_same_export(&first, &via_sqlite);
            let back = round_trip(&via_sqlite, &fresh_database_url(), "c_x000");
            assert_same_export(&via_sqlite, &back);
        }
        sportello::db::Backend::Sqlite => {
            println!(
                "SKIP (PostgreSQL part): this step runs on SQLite only; the cross-backend round \
                 trip runs in the PostgreSQL step. Round trip through a second SQLite database."
            );
            let again = round_trip(&first, &sqlite_url(), "c_x000");
            assert_same_export(&first, &again);
        }
    }
}

#[tokio::test]
async fn the_export_holds_one_entes_rows_and_no_other() {
    let app = app_with_data().await;
    let store = LocalDirStore::new(repo_dir().join(test_settings().storage.local_dir)).unwrap();
    let out = export_of(&app.db, &store, "c_b000");
    let enti = csv_rows(&out, "enti");
    assert_eq!(enti.len(), 1);
    assert_eq!(enti[0]["code"], "c_b000");
    let b_id = enti[0]["id"].clone();
    let (tables, _) = export::plan(&mut app.conn()).unwrap();
    let mut checked = 0;
    for t in &tables {
        let rows = csv_rows(&out, &t.name);
        if t.column("ente_id").is_some() {
            assert!(rows.iter().all(|r| r["ente_id"] == b_id), "{}", t.name);
            let n = app.count(&format!("{} WHERE ente_id = {b_id}", t.name));
            assert_eq!(rows.len() as i64, n, "{}", t.name);
            checked += 1;
        }
    }
    assert!(checked > 20, "tables with ente_id: {checked}");
    assert!(!csv_rows(&out, "staff_users").is_empty());
    assert!(csv_rows(&out, "instances").is_empty());
    assert!(csv_rows(&out, "attachments").is_empty());
    // And ente A's export has its instances, none of B's staff.
    let a = export_of(&app.db, &store, "c_x000");
    assert_eq!(csv_rows(&a, "instances").len(), 2);
    assert!(csv_rows(&a, "staff_users")
        .iter()
        .all(|r| r["ente_id"] != b_id));
}

#[tokio::test]
async fn every_table_is_exported_or_excluded_with_a_reason() {
    let app = spawn_app().await;
    let tables = sportello::db::catalog::tables(&mut app.conn()).unwrap();
    let reaches = export::reach(&tables).unwrap_or_else(|missing| {
        panic!("tables with no rule to reach their ente: {missing:?} (docs/export.md)")
    });
    assert_eq!(reaches.len(), tables.len());
    // The exclusions name tables that exist, so the list does not rot.
    for (name, _) in export::EXCLUDED {
        assert!(tables.iter().any(|t| t.name == *name), "{name} is no table");
    }
    // docs/export.md lists every table.
    let doc = std::fs::read_to_string(repo_dir().join("docs/export.md")).unwrap();
    for t in &tables {
        assert!(
            doc.contains(&format!("`{}`", t.name)),
            "docs/export.md misses {}",
            t.name
        );
    }
}

#[tokio::test]
async fn the_data_package_is_valid_for_frictionless() {
    let Ok(python) = std::env::var("SPORTELLO_TEST_PYTHON") else {
        panic!("SPORTELLO_TEST_PYTHON (the test virtualenv): run ./scripts/test");
    };
    let app = app_with_data().await;
    let store = LocalDirStore::new(repo_dir().join(test_settings().storage.local_dir)).unwrap();
    let out = export_of(&app.db, &store, "c_x000");
    let frictionless = Path::new(&python).with_file_name("frictionless");
    let res = std::process::Command::new(&frictionless)
        .arg("validate")
        .arg(out.join("datapackage.json"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", frictionless.display()));
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "frictionless validate failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        stdout.contains("VALID") && !stdout.contains("INVALID"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_import_refuses_a_database_that_is_not_empty() {
    let app = app_with_data().await;
    let store = LocalDirStore::new(repo_dir().join(test_settings().storage.local_dir)).unwrap();
    let out = export_of(&app.db, &store, "c_b000");
    let before = app.count("enti");
    let err = export::import_dir(&mut app.conn(), &store, &out, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err:#}");
    assert_eq!(app.count("enti"), before);
}

async fn export_zip(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    client
        .post(app.url("/api/v1/admin/export"))
        .send()
        .await
        .unwrap()
}

fn zip_file(bytes: &[u8], name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
    text
}

#[tokio::test]
async fn administrators_download_their_entes_export_as_a_zip() {
    let app = spawn_app_with(|s| {
        s.tenancy
            .hosts
            .insert("sportello.comune-b.example".into(), "c_b000".into());
    })
    .await;
    app.load_bundle(&repo_dir().join("tests/fixtures/ente-b"));
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("cambio-di-residenza").await;
    let res = upload(&app, &id, "contratto.pdf", pdf(3000), None).await;
    assert_eq!(res.status(), 201);
    let admin = app.staff_browser("amministratore").await;
    let res = export_zip(&app, &admin).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let bytes = res.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let package: serde_json::Value =
        serde_json::from_reader(zip.by_name("datapackage.json").unwrap()).unwrap();
    assert_eq!(package["profile"], "tabular-data-package");
    assert_eq!(package["sportello"]["ente"], "c_x000");
    let mut enti = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("enti.csv").unwrap(), &mut enti).unwrap();
    assert!(
        enti.contains("c_x000") && !enti.contains("c_b000"),
        "{enti}"
    );
    assert!(zip.file_names().any(|n| n.starts_with("attachments/")));
    // The export is in the ente's audit log, by the administrator, after its snapshot.
    let mut audit = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("audit_log.csv").unwrap(), &mut audit).unwrap();
    assert!(!audit.contains(",export,"), "{audit}");
    let res = admin
        .get(app.url("/api/v1/admin/audit?action=export"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let entries: Vec<serde_json::Value> = res
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_id"], "amministratore", "{entries:?}");
    let details: serde_json::Value =
        serde_json::from_str(entries[0]["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["via"], "api", "{entries:?}");

    // An operator is no administrator; nor is an operator of ente B.
    let operator = app.staff_browser("operatore.anagrafe").await;
    assert_problem(export_zip(&app, &operator).await, 403, "forbidden").await;
    let no_session = new_client();
    assert_eq!(export_zip(&app, &no_session).await.status(), 401);

    // Ente B's operator is refused; made administrator, gets B's rows and none of A's.
    let b = new_client();
    let res = b
        .post(app.url("/auth/dev/login"))
        .header("host", "sportello.comune-b.example")
        .json(&serde_json::json!({ "staff_username": "operatore.urp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let export_b = |client: &reqwest::Client| {
        client
            .post(app.url("/api/v1/admin/export"))
            .header("host", "sportello.comune-b.example")
            .send()
    };
    assert_problem(export_b(&b).await.unwrap(), 403, "forbidden").await;
    app.exec(
        "INSERT INTO staff_roles (ente_id, staff_user_id, role, created_at, can_annul) \
         SELECT ente_id, id, 'admin', created_at, FALSE FROM staff_users \
         WHERE username = 'operatore.urp' AND ente_id = (SELECT id FROM enti WHERE code = 'c_b000')",
    );
    let res = export_b(&b).await.unwrap();
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    let enti = zip_file(&bytes, "enti.csv");
    assert!(
        enti.contains("c_b000") && !enti.contains("c_x000"),
        "{enti}"
    );
    assert_eq!(zip_file(&bytes, "instances.csv").lines().count(), 1);
    assert_eq!(zip_file(&bytes, export::BLOBS_FILE).lines().count(), 1);
}

#[test]
fn the_commands_export_import_and_refuse_a_full_database() {
    let sportello = |url: &str, store: &Path| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"));
        c.current_dir(repo_dir())
            .env("SPORTELLO_CONFIG_DIR", repo_dir().join("config"))
            .env("SPORTELLO_ENV", "test")
            .env("SPORTELLO__DATABASE__URL", url)
            .env("SPORTELLO__STORAGE__LOCAL_DIR", store);
        c
    };
    let run = |c: &mut std::process::Command| {
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (source, store) = (fresh_database_url(), tempdir());
    let (code, _, err) = run(sportello(&source, &store).arg("load").arg("config/demo"));
    assert_eq!(code, Some(0), "{err}");
    let out = tempdir().join("export");
    let (code, stdout, err) = run(sportello(&source, &store)
        .args(["export", "--ente", "c_x000", "--out"])
        .arg(&out));
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("ente c_x000 exported"), "{stdout}");
    // Not a terminal: no progress bar on stderr.
    assert!(!err.contains("rows ("), "{err}");
    assert!(out.join("datapackage.json").is_file());

    let (target, target_store) = (fresh_database_url(), tempdir());
    let (code, stdout, err) = run(sportello(&target, &target_store).arg("import").arg(&out));
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.contains("imported"), "{stdout}");
    let (code, _, err) = run(sportello(&target, &target_store).arg("import").arg(&out));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not empty"), "{err}");
    let (code, _, err) = run(sportello(&source, &store)
        .args(["export", "--ente", "nessuno", "--out"])
        .arg(tempdir().join("x")));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no ente with code nessuno"), "{err}");
}
