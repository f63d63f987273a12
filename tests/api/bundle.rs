use crate::helpers::*;
use sportello::bundle::{Bundle, LoadReport};

const TABLES: [&str; 9] = [
    "enti",
    "aoo",
    "offices",
    "staff_users",
    "staff_roles",
    "service_categories",
    "services",
    "form_definitions",
    "calendars",
];

#[tokio::test]
async fn loading_the_demo_twice_changes_nothing() {
    let app = spawn_app().await; // loads config/demo once
    let before: Vec<i64> = TABLES.iter().map(|t| app.count(t)).collect();
    assert_eq!(before, [1, 1, 4, 7, 7, 4, 6, 4, 3]);
    let report = app.load_bundle(&repo_dir().join("config/demo"));
    assert_eq!(
        report,
        LoadReport {
            created: 0,
            updated: 0,
            unchanged: 1 + 1 + 4 + 7 + 4 + 6 + 4 + 3
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
async fn term_rules_and_the_patron_day_come_from_the_files_and_bad_values_are_refused() {
    let app = spawn_app().await;
    let row = |app: &TestApp| {
        use diesel::prelude::*;
        use sportello::db::schema::{enti, services};
        let patron: Option<String> = enti::table
            .filter(enti::code.eq("c_x000"))
            .select(enti::patron_day)
            .first(&mut *app.conn())
            .unwrap();
        let terms: Vec<(String, String, bool)> = services::table
            .order(services::slug)
            .select((
                services::slug,
                services::legal_term_unit,
                services::silence_assent,
            ))
            .load(&mut *app.conn())
            .unwrap();
        (patron, terms)
    };
    let (patron, terms) = row(&app);
    assert_eq!(patron.as_deref(), Some("06-24"));
    let unit_of = |terms: &[(String, String, bool)], slug: &str| {
        terms
            .iter()
            .find(|t| t.0 == slug)
            .map(|t| (t.1.clone(), t.2))
            .unwrap()
    };
    assert_eq!(
        unit_of(&terms, "cambio-di-residenza"),
        ("calendar_days".to_owned(), true)
    );
    assert_eq!(
        unit_of(&terms, "richiesta-appuntamento"),
        ("working_days".to_owned(), false)
    );
    // Defaults: a file that says nothing is calendar days without silence-assent.
    assert_eq!(
        unit_of(&terms, "tari-inizio-occupazione"),
        ("calendar_days".to_owned(), false)
    );

    // A changed file changes the rows; a patron day taken out becomes NULL.
    let dir = tempdir();
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("ente.toml", "patron_day = \"06-24\"", "");
    edit(
        "services/tari-inizio-occupazione.toml",
        "legal_term_days = 30",
        "legal_term_days = 30\nlegal_term_unit = \"working_days\"\nsilence_assent = true",
    );
    let report = app.load_bundle(&dir);
    assert_eq!(report.updated, 2, "{report}");
    let (patron, terms) = row(&app);
    assert_eq!(patron, None);
    assert_eq!(
        unit_of(&terms, "tari-inizio-occupazione"),
        ("working_days".to_owned(), true)
    );

    // Bad values: the whole bundle is refused with a clear message.
    for (file, from, to, message) in [
        (
            "ente.toml",
            "patron_day = \"06-24\"",
            "patron_day = \"31-12\"",
            "ente.patron_day: `31-12` is not a day written MM-DD",
        ),
        (
            "services/cambio-residenza.toml",
            "legal_term_unit = \"calendar_days\"",
            "legal_term_unit = \"giorni_lavorativi\"",
            "service `cambio-di-residenza`: legal_term_unit `giorni_lavorativi` is neither",
        ),
        (
            "services/cambio-residenza.toml",
            "silence_assent = true",
            "silence_assent = \"si\"",
            "silence_assent",
        ),
        (
            // The form offers a reduction the ente's settings no longer grant.
            "services/tari-inizio-occupazione.toml",
            "    { code = \"abitazione_stagionale\"",
            "    # { code = \"abitazione_stagionale\"",
            "the form's reductions (/dichiarazione/riduzione: abitazione_stagionale, compostaggio, \
             unico_occupante) are not the settings' reductions (compostaggio, unico_occupante)",
        ),
    ] {
        let dir = tempdir();
        copy_dir(&repo_dir().join("config/demo"), &dir);
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let err = Bundle::read(&dir).unwrap_err();
        assert!(format!("{err:#}").contains(message), "{err:#}");
    }
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

#[tokio::test]
async fn every_table_follows_its_file_and_a_removed_value_becomes_null() {
    // One change in each table a bundle keeps in step, including optional values taken out
    // of the file: each changed row is updated in place, the rest are left as they are.
    let app = spawn_app().await;
    let dir = tempdir();
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let edit = |file: &str, pairs: &[(&str, &str)]| {
        let path = dir.join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in pairs {
            assert!(text.contains(from), "{file}: {from}");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(&path, text).unwrap();
    };
    edit(
        "ente.toml",
        &[
            ("name = \"Comune di Esempio\"\n", "name = \"Comune di Prova\"\n"),
            ("fiscal_code = \"00000000000\"\n", ""),
            ("Area organizzativa omogenea unica", "AOO unica"),
            ("email = \"tributi@comune.esempio.example\"\n", ""),
            ("email = \"giuseppe.verdi@comune.esempio.example\"\n", ""),
            (
                "full_name = \"Anna Neri\"\nemail = \"anna.neri@comune.esempio.example\"\nroles = [{ role = \"operator\", office = \"urp\" }]",
                "full_name = \"Anna Neri Rossi\"\nemail = \"anna.neri@comune.esempio.example\"\nroles = [{ role = \"operator\", office = \"tributi\" }]",
            ),
            ("full_name = \"Luca Russo\"\n", "full_name = \"Luca Russo\"\nactive = false\n"),
            (
                "Residenza, cambi di indirizzo",
                "Residenza e cambi di indirizzo",
            ),
        ],
    );
    edit(
        "services/tari-inizio-occupazione.toml",
        &[("legal_term_days = 30", "legal_term_days = 60")],
    );
    let report = app.load_bundle(&dir);
    // ente, AOO, one office, three staff (e-mail gone; name and roles; deactivated), one
    // category, one service; of 30 rows with their forms and calendars.
    assert_eq!(
        report,
        LoadReport {
            created: 0,
            updated: 8,
            unchanged: 22
        }
    );
    for (rows, n) in [
        (
            "enti WHERE name = 'Comune di Prova' AND fiscal_code IS NULL",
            1,
        ),
        ("enti WHERE ipa_code = 'c_x000'", 1),
        ("aoo WHERE name = 'Comune di Esempio – AOO unica'", 1),
        ("offices WHERE email IS NULL", 1),
        ("offices WHERE code = 'tributi' AND email IS NULL", 1),
        ("staff_users WHERE email IS NULL", 1),
        (
            "staff_users WHERE username = 'operatore.tributi' AND email IS NULL",
            1,
        ),
        ("staff_users WHERE NOT active", 1),
        (
            "staff_users WHERE username = 'protocollista' AND NOT active",
            1,
        ),
        ("staff_users WHERE full_name = 'Anna Neri Rossi'", 1),
        ("staff_roles", 7),
        (
            "staff_roles r JOIN staff_users s ON s.id = r.staff_user_id \
             JOIN offices o ON o.id = r.office_id \
             WHERE s.username = 'operatore.urp' AND o.code = 'tributi'",
            1,
        ),
        (
            "service_categories WHERE description LIKE 'Residenza e cambi%'",
            1,
        ),
        ("services WHERE legal_term_days = 60", 1),
        ("form_definitions", 4),
    ] {
        assert_eq!(app.count(rows), n, "{rows}");
    }
    let again = app.load_bundle(&dir);
    assert_eq!(
        again,
        LoadReport {
            created: 0,
            updated: 0,
            unchanged: 30
        }
    );
}
