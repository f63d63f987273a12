//! The protocol clerk's review: the list of automatic registrations, classification from the
//! titolario, fascicoli, review, and the filing history (DPR 445/2000 art. 56 and 64).

use crate::helpers::*;
use serde_json::{json, Value};

const AOO: &str = "AOO_CX000";

fn year() -> i32 {
    use chrono::Datelike;
    sportello::domain::calendar::rome_date(chrono::Utc::now().naive_utc()).year()
}

fn today() -> String {
    sportello::domain::calendar::rome_date(chrono::Utc::now().naive_utc()).to_string()
}

/// Submits a valid instance of each service; answers (service slug, protocol number).
async fn one_of_each(app: &TestApp) -> Vec<(String, String)> {
    app.login_citizen(CITIZEN_CF).await;
    let mut out = Vec::new();
    for service in SERVICES {
        let sub = app.submit_valid(service).await;
        out.push((
            service.to_owned(),
            sub["protocol"]["number"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

fn entry_path(number: &str) -> String {
    format!("/api/v1/protocol/{AOO}/registrations/{}/{number}", year())
}

async fn put(app: &TestApp, c: &reqwest::Client, path: &str, body: Value) -> reqwest::Response {
    c.put(app.url(path)).json(&body).send().await.unwrap()
}

async fn post(app: &TestApp, c: &reqwest::Client, path: &str, body: Value) -> reqwest::Response {
    c.post(app.url(path)).json(&body).send().await.unwrap()
}

async fn ok_json(res: reqwest::Response, status: u16) -> Value {
    let got = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

fn numbers(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_clerk_reviews_classifies_files_and_every_correction_is_in_the_history() {
    let app = spawn_app().await;
    let subs = one_of_each(&app).await;
    let number_of = |slug: &str| subs.iter().find(|s| s.0 == slug).unwrap().1.clone();
    let residence = number_of("cambio-di-residenza");
    let foia = number_of("accesso-civico-generalizzato");
    let appointment = number_of("richiesta-appuntamento");
    let clerk = app.staff_browser("protocollista").await;
    let list = format!("/api/v1/protocol/{AOO}/registrations");

    // Everything arrives unreviewed; most of it pre-classified by its service.
    let page = app
        .get_json(&clerk, &format!("{list}?reviewed=false"))
        .await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["to_review"], 4);
    let item = |page: &Value, n: &str| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["number"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(item(&page, &residence)["classification"], "XI.2");
    assert_eq!(item(&page, &residence)["office"], "anagrafe");
    assert_eq!(item(&page, &residence)["service"], "cambio-di-residenza");
    assert_eq!(item(&page, &foia)["classification"], "I.8");
    assert_eq!(item(&page, &appointment)["classification"], Value::Null);
    assert_eq!(item(&page, &residence)["reviewed"], false);

    // Filters: service, office, dates, paging.
    let by_service = app
        .get_json(&clerk, &format!("{list}?service=cambio-di-residenza"))
        .await;
    assert_eq!(numbers(&by_service), vec![residence.clone()]);
    let by_office = app.get_json(&clerk, &format!("{list}?office=urp")).await;
    assert_eq!(numbers(&by_office), vec![foia.clone()]);
    let nothing = app
        .get_json(&clerk, &format!("{list}?office=nessuno"))
        .await;
    assert_eq!(nothing["total"], 0);
    let today = today();
    let dated = app
        .get_json(&clerk, &format!("{list}?from={today}&to={today}"))
        .await;
    assert_eq!(dated["total"], 4);
    let tomorrow = (chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").unwrap()
        + chrono::Duration::days(1))
    .to_string();
    let later = app
        .get_json(&clerk, &format!("{list}?from={tomorrow}"))
        .await;
    assert_eq!(later["total"], 0);
    let res = app
        .get_as(&clerk, &format!("{list}?from={tomorrow}&to={today}"))
        .await;
    assert_problem(res, 422, "validation").await;
    let paged = app
        .get_json(&clerk, &format!("{list}?per_page=3&page=2"))
        .await;
    assert_eq!(paged["total"], 4);
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);
    let all = app.get_json(&clerk, &list).await;
    assert_eq!(
        numbers(&all),
        subs.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
        "oldest first"
    );

    // An unclassified entry cannot be marked reviewed.
    let review = |n: &str| format!("{}/review", entry_path(n));
    let res = post(&app, &clerk, &review(&appointment), json!({})).await;
    assert_problem(res, 422, "validation").await;
    // Not a class of the titolario: refused; a title with classes is not a class either.
    let classify = |n: &str| format!("{}/classification", entry_path(n));
    for wrong in ["XV.1", "XI", "anagrafe", ""] {
        let res = put(
            &app,
            &clerk,
            &classify(&appointment),
            json!({"classification": wrong}),
        )
        .await;
        assert_problem(res, 422, "validation").await;
    }
    let e = ok_json(
        put(
            &app,
            &clerk,
            &classify(&appointment),
            json!({"classification": "I.6"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(e["filing"]["classification"]["code"], "I.6");
    assert_eq!(e["filing"]["classification"]["title"], "Archivio generale");
    // Corrected: both changes in the history, with who.
    let e = ok_json(
        put(
            &app,
            &clerk,
            &classify(&appointment),
            json!({"classification": "I.8"}),
        )
        .await,
        200,
    )
    .await;
    let history = e["filing"]["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["field"], "classification");
    assert_eq!(history[0]["old"], Value::Null);
    assert_eq!(history[0]["new"], "I.6");
    assert_eq!(history[1]["old"], "I.6");
    assert_eq!(history[1]["new"], "I.8");
    assert_eq!(history[1]["by"], "protocollista");
    // The same class again: nothing to write.
    let e = ok_json(
        put(
            &app,
            &clerk,
            &classify(&appointment),
            json!({"classification": "I.8"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(e["filing"]["history"].as_array().unwrap().len(), 2);

    // Fascicoli: numbered per year and class.
    let fascicoli = format!("/api/v1/protocol/{AOO}/fascicoli");
    let f1 = ok_json(
        post(
            &app,
            &clerk,
            &fascicoli,
            json!({"class": "XI.2", "subject": "Residenze – via Roma", "office": "anagrafe"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(f1["number"], 1);
    assert_eq!(f1["year"], year());
    assert_eq!(f1["label"], format!("{}/XI.2/1", year()));
    assert_eq!(f1["created_by"], "protocollista");
    let f2 = ok_json(
        post(
            &app,
            &clerk,
            &fascicoli,
            json!({"class": "XI.2", "subject": "Residenze – via Garibaldi", "office": "anagrafe"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(f2["number"], 2);
    let other = ok_json(
        post(
            &app,
            &clerk,
            &fascicoli,
            json!({"class": "I.8", "subject": "Accessi civici", "office": "urp"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(other["number"], 1, "each class has its own sequence");
    let res = post(
        &app,
        &clerk,
        &fascicoli,
        json!({"class": "XX.1", "subject": " ", "office": "nessuno"}),
    )
    .await;
    let p = assert_problem(res, 422, "validation").await;
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/subject", "/class", "/office"]);
    let listed = app
        .get_json(&clerk, &format!("{fascicoli}?class=XI.2"))
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    // Filing: into fascicolo 2, then 1 (a correction), then out; the FOIA entry into a
    // fascicolo of another class takes that class.
    let file = |n: &str| format!("{}/fascicolo", entry_path(n));
    let fref = |class: &str, number: i64| json!({"fascicolo": {"year": year(), "class": class, "number": number}});
    let res = put(&app, &clerk, &file(&residence), fref("XI.2", 9)).await;
    assert_problem(res, 422, "validation").await;
    ok_json(
        put(&app, &clerk, &file(&residence), fref("XI.2", 2)).await,
        200,
    )
    .await;
    let e = ok_json(
        put(&app, &clerk, &file(&residence), fref("XI.2", 1)).await,
        200,
    )
    .await;
    assert_eq!(
        e["filing"]["fascicolo"]["label"],
        format!("{}/XI.2/1", year())
    );
    assert_eq!(e["filing"]["fascicolo"]["subject"], "Residenze – via Roma");
    let h = e["filing"]["history"].as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1]["field"], "fascicolo");
    assert_eq!(h[1]["old"], format!("{}/XI.2/2", year()));
    assert_eq!(h[1]["new"], format!("{}/XI.2/1", year()));
    let e = ok_json(put(&app, &clerk, &file(&foia), fref("XI.2", 2)).await, 200).await;
    assert_eq!(e["filing"]["classification"]["code"], "XI.2");
    let fields: Vec<&str> = e["filing"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["fascicolo", "classification"]);
    let e = ok_json(
        put(&app, &clerk, &file(&foia), json!({"fascicolo": null})).await,
        200,
    )
    .await;
    assert_eq!(e["filing"]["fascicolo"], Value::Null);
    assert_eq!(e["filing"]["history"].as_array().unwrap().len(), 3);

    // Review: once, and it takes the entry off the list of what is left.
    let e = ok_json(
        post(&app, &clerk, &review(&residence), json!({})).await,
        200,
    )
    .await;
    assert_eq!(e["filing"]["reviewed"]["by"], "protocollista");
    let at = e["filing"]["reviewed"]["at"].clone();
    let e = ok_json(
        post(&app, &clerk, &review(&residence), json!({})).await,
        200,
    )
    .await;
    assert_eq!(
        e["filing"]["reviewed"]["at"], at,
        "marking again changes nothing"
    );
    let left = app
        .get_json(&clerk, &format!("{list}?reviewed=false"))
        .await;
    assert_eq!(left["to_review"], 3);
    assert!(!numbers(&left).contains(&residence));
    let done = app.get_json(&clerk, &format!("{list}?reviewed=true")).await;
    assert_eq!(numbers(&done), vec![residence.clone()]);
    assert_eq!(done["items"][0]["fascicolo"], format!("{}/XI.2/1", year()));
    // A reviewed entry may still be corrected, and the correction is written.
    let e = ok_json(
        put(
            &app,
            &clerk,
            &classify(&residence),
            json!({"classification": "XI.1"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(e["filing"]["classification"]["code"], "XI.1");
    assert!(e["filing"]["reviewed"].is_object());

    // The register's own fields did not move.
    let read = app.get_json(&clerk, &entry_path(&residence)).await;
    assert_eq!(read["subject"], all["items"][0]["subject"]);
    assert_eq!(read["filing"]["history"].as_array().unwrap().len(), 4);
    // The history is append-only in the database itself.
    let refused = |sql: &str| {
        let err =
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut *app.conn()).expect_err(sql);
        assert!(
            err.to_string().contains("the filing history cannot change"),
            "{sql}: {err}"
        );
    };
    refused("UPDATE registration_filing_history SET new_value = 'X.1'");
    refused("DELETE FROM registration_filing_history");
    assert_eq!(app.count("registration_filing_history"), 9);

    // Annulling reviews the entry, and freezes its filing.
    let res = post(
        &app,
        &clerk,
        &format!("{}/annul", entry_path(&appointment)),
        json!({"reason": "Registrazione di prova", "act": "Determinazione n. 1/2026"}),
    )
    .await;
    let e = ok_json(res, 200).await;
    assert_eq!(e["filing"]["reviewed"]["by"], "protocollista");
    let res = put(
        &app,
        &clerk,
        &classify(&appointment),
        json!({"classification": "I.6"}),
    )
    .await;
    assert_problem(res, 409, "conflict").await;
    let left = app
        .get_json(&clerk, &format!("{list}?reviewed=false"))
        .await;
    assert_eq!(left["to_review"], 2);
    let annulled = item(&app.get_json(&clerk, &list).await, &appointment);
    assert_eq!(annulled["annulled"], true);
}

#[tokio::test]
async fn only_the_aoo_clerks_file_operators_citizens_and_administrators_cannot() {
    let app = spawn_app().await;
    let subs = one_of_each(&app).await;
    let number = subs[0].1.clone();
    let list = format!("/api/v1/protocol/{AOO}/registrations");
    let classify = format!("{}/classification", entry_path(&number));
    let file = format!("{}/fascicolo", entry_path(&number));
    let review = format!("{}/review", entry_path(&number));
    let fascicoli = format!("/api/v1/protocol/{AOO}/fascicoli");
    let new_fascicolo = json!({"class": "XI.2", "subject": "Prova", "office": "anagrafe"});

    // An operator: the register is not there (404), whatever they try.
    let op = app.staff_browser("operatore.anagrafe").await;
    for path in [
        &list,
        &fascicoli,
        &format!("/api/v1/protocol/{AOO}/titolario"),
    ] {
        assert_problem(app.get_as(&op, path).await, 404, "not-found").await;
    }
    assert_problem(
        put(&app, &op, &classify, json!({"classification": "XI.1"})).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(post(&app, &op, &review, json!({})).await, 404, "not-found").await;
    assert_problem(
        post(&app, &op, &fascicoli, new_fascicolo.clone()).await,
        404,
        "not-found",
    )
    .await;
    // A citizen: not a staff session.
    assert_problem(app.get(&list).await, 403, "forbidden").await;
    assert_problem(
        put(
            &app,
            &app.client,
            &classify,
            json!({"classification": "XI.1"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // An administrator reads the register, but does not file.
    let admin = app.staff_browser("amministratore").await;
    let page = app.get_json(&admin, &list).await;
    assert_eq!(page["total"], 4);
    assert_problem(
        put(&app, &admin, &classify, json!({"classification": "XI.1"})).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        put(&app, &admin, &file, json!({"fascicolo": null})).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(&app, &admin, &review, json!({})).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(&app, &admin, &fascicoli, new_fascicolo).await,
        403,
        "forbidden",
    )
    .await;
    // Another AOO's code: not found, for the clerk too.
    let clerk = app.staff_browser("protocollista").await;
    assert_problem(
        app.get_as(&clerk, "/api/v1/protocol/AOO_ALTRA/registrations")
            .await,
        404,
        "not-found",
    )
    .await;
    // Nothing was written.
    assert_eq!(app.count("registration_filing_history"), 0);
    assert_eq!(app.count("fascicoli"), 0);
    assert_eq!(
        app.count("protocol_registrations WHERE reviewed_at IS NOT NULL"),
        0
    );
}

#[tokio::test]
async fn the_standard_titolario_is_loaded_and_a_bundle_may_replace_it() {
    let app = spawn_app().await;
    let clerk = app.staff_browser("protocollista").await;
    let path = format!("/api/v1/protocol/{AOO}/titolario");
    let t = app.get_json(&clerk, &path).await;
    let entries = t["entries"].as_array().unwrap();
    let get = |entries: &[Value], code: &str| entries.iter().find(|e| e["code"] == code).cloned();
    assert_eq!(entries.iter().filter(|e| e["parent"].is_null()).count(), 14);
    assert_eq!(
        get(entries, "XI.2").unwrap()["title"],
        "Anagrafe e certificazioni"
    );
    assert_eq!(get(entries, "XI").unwrap()["classifies"], false);
    assert_eq!(get(entries, "XIV").unwrap()["classifies"], true);
    assert_eq!(entries[0]["code"], "I");
    assert_eq!(entries[1]["code"], "I.1");

    // An ente's own scheme: one class more, one retired (kept in the database, inactive).
    let dir = tempdir();
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let standard = std::fs::read_to_string(repo_dir().join("config/titolario/comuni-2005.toml"))
        .unwrap()
        .replace(
            "    { number = 4, title = \"Requisizioni per utilità militari\" },\n",
            "",
        )
        .replace(
            "    { number = 4, title = \"Polizia mortuaria e cimiteri\" },\n",
            "    { number = 4, title = \"Polizia mortuaria e cimiteri\" },\n    { number = 5, title = \"Toponomastica e numerazione civica\" },\n",
        );
    std::fs::write(dir.join("titolario.toml"), &standard).unwrap();
    app.load_bundle(&dir);
    let t = app.get_json(&clerk, &path).await;
    let entries = t["entries"].as_array().unwrap();
    assert_eq!(
        get(entries, "XI.5").unwrap()["title"],
        "Toponomastica e numerazione civica"
    );
    assert!(get(entries, "XIII.4").is_none());
    assert_eq!(
        app.count("classes WHERE code = 'XIII.4' AND active = FALSE"),
        1
    );
    // A retired class no longer classifies.
    let subs = one_of_each(&app).await;
    let res = put(
        &app,
        &clerk,
        &format!("{}/classification", entry_path(&subs[0].1)),
        json!({"classification": "XIII.4"}),
    )
    .await;
    assert_problem(res, 422, "validation").await;

    // A service naming a class the scheme does not have: the bundle is refused, and why.
    let services = dir.join("services/cambio-residenza.toml");
    let text = std::fs::read_to_string(&services)
        .unwrap()
        .replace("default_class = \"XI.2\"", "default_class = \"XI.9\"");
    std::fs::write(&services, text).unwrap();
    let err = sportello::bundle::Bundle::read(&dir).unwrap_err();
    assert!(
        format!("{err:#}").contains("default_class `XI.9` is not a class of the titolario"),
        "{err:#}"
    );
    // A broken scheme is refused too.
    std::fs::write(dir.join("titolario.toml"), "name = \"x\"\ntitles = []\n").unwrap();
    let err = sportello::bundle::Bundle::read(&dir).unwrap_err();
    assert!(format!("{err:#}").contains("no titles"), "{err:#}");
}

#[tokio::test]
async fn fascicoli_are_numbered_again_from_1_in_a_new_year() {
    use chrono::Datelike;
    let app = spawn_app().await;
    let clerk = app.staff_browser("protocollista").await;
    let fascicoli = format!("/api/v1/protocol/{AOO}/fascicoli");
    let open = |subject: &'static str| {
        let (app, clerk, path) = (&app, &clerk, fascicoli.clone());
        async move {
            ok_json(
                post(
                    app,
                    clerk,
                    &path,
                    json!({"class": "XI.2", "subject": subject, "office": "anagrafe"}),
                )
                .await,
                201,
            )
            .await
        }
    };
    let this_year = app.state.clock.today().year();
    assert_eq!(open("Residenze – via Roma").await["number"], 1);
    assert_eq!(open("Residenze – via Garibaldi").await["number"], 2);
    // 2 January of the next year, Italian time.
    let next = chrono::NaiveDate::from_ymd_opt(this_year + 1, 1, 2).unwrap();
    app.state.clock.advance(chrono::Duration::days(
        (next - app.state.clock.today()).num_days(),
    ));
    let f = open("Residenze – via Verdi").await;
    assert_eq!(f["year"], this_year + 1);
    assert_eq!(f["number"], 1, "{f}");
    assert_eq!(f["label"], format!("{}/XI.2/1", this_year + 1));
}
