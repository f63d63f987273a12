//! The citizen's own data (GDPR art. 15 and 20): one ZIP with an index and every file, holding
//! their data and nobody else's.

use std::io::Read;

use crate::helpers::*;
use crate::instances::upload;
use serde_json::Value;

fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.insert(f.name().to_owned(), b);
    }
    out
}

#[tokio::test]
async fn the_citizen_downloads_their_data_and_nobody_elses() {
    let app = spawn_app().await;
    // Another citizen's instance, submitted with an attachment.
    app.login_citizen(OTHER_CF).await;
    let theirs = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    let secret_pdf = b"%PDF-1.7\n% someone else's lease\n%%EOF\n".to_vec();
    assert_eq!(
        upload(&app, &theirs, "altrui.pdf", secret_pdf, None)
            .await
            .status(),
        201
    );
    assert_eq!(app.submit(&theirs, None).await.status(), 201);

    // The citizen: one submitted instance with an attachment, one draft.
    app.login_citizen(CITIZEN_CF).await;
    let mine = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    let pdf = crate::backoffice::PDF.to_vec();
    assert_eq!(
        upload(&app, &mine, "contratto.pdf", pdf.clone(), None)
            .await
            .status(),
        201
    );
    assert_eq!(app.submit(&mine, None).await.status(), 201);
    let draft = app.create_draft("cambio-di-residenza").await;

    let res = app.get("/api/v1/me/data").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/zip");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"dati-personali-c_x000-RSSMRA85T10A562S-"),
        "{disposition}"
    );
    let files = unzip(&res.bytes().await.unwrap());
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index["format"], "sportello-personal-data/1");
    assert_eq!(index["profile"]["codice_fiscale"], CITIZEN_CF);
    assert_eq!(index["ente"]["code"], "c_x000");
    let ids: Vec<&str> = index["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.as_str(), draft.as_str()]);
    assert!(index["bookings"].is_object());
    // Their logins of the last 12 months from the audit log: their one, not the other's.
    let logins = index["logins"].as_array().unwrap();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0]["action"], "login_succeeded");
    assert_eq!(logins[0]["actor_kind"], "citizen");
    // Every file the index names is in the ZIP with that digest, and the ZIP holds nothing
    // else: the frozen document and the attachment of the submitted instance.
    let named: Vec<&Value> = index["instances"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["files"].as_array().unwrap())
        .collect();
    assert_eq!(named.len(), 2, "{named:?}");
    for f in &named {
        let path = f["path"].as_str().unwrap();
        let bytes = files.get(path).unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(f["sha256"], sportello::text::sha256_hex(bytes), "{path}");
    }
    assert_eq!(files.len(), named.len() + 1, "{:?}", files.keys());
    let attachment = named.iter().find(|f| f["kind"] == "attachment").unwrap();
    assert_eq!(files[attachment["path"].as_str().unwrap()], pdf);
    assert!(attachment["path"]
        .as_str()
        .unwrap()
        .ends_with("/contratto.pdf"));
    // Nobody else's data anywhere in it.
    for (name, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(OTHER_CF), "{name} names the other citizen");
        assert!(
            !text.contains(&theirs),
            "{name} names the other citizen's instance"
        );
        assert!(
            !text.contains("someone else"),
            "{name} holds the other citizen's file"
        );
    }

    // The download itself is in the audit log.
    assert_eq!(
        app.exec("UPDATE citizens SET updated_at = updated_at WHERE id IN (SELECT CAST(actor_id AS BIGINT) FROM audit_log WHERE action = 'personal_data_export')"),
        1
    );

    // Staff and anonymous callers get no ZIP.
    let staff = app.staff_browser("amministratore").await;
    let res = get_accepting_json(&staff, &app.url("/api/v1/me/data")).await;
    assert_problem(res, 403, "forbidden").await;
    let res = get_accepting_json(&new_client(), &app.url("/api/v1/me/data")).await;
    assert_problem(res, 401, "unauthorized").await;
}
