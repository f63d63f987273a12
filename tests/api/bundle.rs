use crate::helpers::*;
use sportello::bundle::{Bundle, LoadReport};

const TABLES: [&str; 8] = [
    "enti",
    "aoo",
    "offices",
    "staff_users",
    "staff_roles",
    "service_categories",
    "services",
    "form_definitions",
];

#[tokio::test]
async fn loading_the_demo_twice_changes_nothing() {
    let app = spawn_app().await; // loads config/demo once
    let before: Vec<i64> = TABLES.iter().map(|t| app.count(t)).collect();
    assert_eq!(before, [1, 1, 4, 5, 5, 4, 4, 4]);
    let report = app.load_bundle(&repo_dir().join("config/demo"));
    assert_eq!(
        report,
        LoadReport {
            created: 0,
            updated: 0,
            unchanged: 1 + 1 + 4 + 5 + 4 + 4 + 4
        }
    );
    let after: Vec<i64> = TABLES.iter().map(|t| app.count(t)).collect();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_changed_file_updates_only_what_changed() {
    let app = spawn_app().await;
    let dir = tempdir();
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let path = dir.join("services/tari-inizio-occupazione.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("legal_term_days = 30", "legal_term_days = 60");
    std::fs::write(&path, text).unwrap();
    let report = app.load_bundle(&dir);
    assert_eq!(report.created, 0);
    assert_eq!(report.updated, 1);
    let card: serde_json::Value = app
        .get("/api/v1/services/tari-inizio-occupazione")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["legal_term_days"], 60);
}

#[tokio::test]
async fn an_invalid_bundle_is_refused_whole() {
    let app = spawn_empty_app_with(|_| {}).await;
    let dir = tempdir();
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let path = dir.join("services/cambio-residenza.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("office = \"anagrafe\"", "office = \"ufficio-fantasma\"");
    std::fs::write(&path, text).unwrap();
    let err = Bundle::read(&dir).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown office `ufficio-fantasma`"),
        "{err:#}"
    );
    assert_eq!(app.count("enti"), 0);
}

#[tokio::test]
async fn a_bundle_that_fails_half_way_leaves_nothing() {
    // The bundle is valid; the database refuses its services, which are written after the
    // ente, AOO, offices, staff and categories. One transaction: none of those remain.
    let app = spawn_empty_app_with(|_| {}).await;
    match app.backend() {
        sportello::db::Backend::Sqlite => {
            app.exec(
                "CREATE TRIGGER injected_failure BEFORE INSERT ON services \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
            );
        }
        sportello::db::Backend::Postgres => {
            app.exec(
                "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            );
            app.exec(
                "CREATE TRIGGER injected_failure BEFORE INSERT ON services \
                 FOR EACH ROW EXECUTE FUNCTION injected_failure()",
            );
        }
    }
    let bundle = Bundle::read(&repo_dir().join("config/demo")).unwrap();
    let err = bundle.load(&mut app.conn()).unwrap_err();
    assert!(format!("{err:#}").contains("injected failure"), "{err:#}");
    for table in [
        "enti",
        "aoo",
        "offices",
        "staff_users",
        "service_categories",
        "services",
    ] {
        assert_eq!(app.count(table), 0, "{table}");
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-bundle-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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
