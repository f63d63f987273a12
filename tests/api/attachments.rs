//! Attachments: accepted by content, limited per file, per instance and in number.

use crate::helpers::*;
use crate::instances::upload;
use serde_json::Value;

fn pdf(size: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.resize(size.saturating_sub(6), b' ');
    b.extend_from_slice(b"%%EOF\n");
    b
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

#[tokio::test]
async fn an_accepted_file_is_stored_with_its_digest_and_downloads_unchanged() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("cambio-di-residenza").await;
    let bytes = pdf(5000);
    let res = upload(
        &app,
        &id,
        "../../Contratto d'affitto.pdf",
        bytes.clone(),
        Some("Contratto"),
    )
    .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let a = &body["attachments"][0];
    assert_eq!(a["filename"], "Contratto d'affitto.pdf");
    assert_eq!(a["kind"], "pdf");
    assert_eq!(a["mime"], "application/pdf");
    assert_eq!(a["size_bytes"], 5000);
    assert_eq!(a["sha256"], sportello::text::sha256_hex(&bytes));
    assert_eq!(a["description"], "Contratto");

    let res = app.get(a["download_url"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);

    // The draft lists it; it can be removed while still a draft.
    let view: Value = app
        .get(&format!("/api/v1/instances/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["attachments"].as_array().unwrap().len(), 1);
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/instances/{id}/attachments/{}",
            a["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.count("attachments"), 0);
}

#[tokio::test]
async fn the_type_is_decided_by_content_not_by_name() {
    let app =
        spawn_app_with(|s| s.instances.allowed_types = vec!["pdf".into(), "txt".into()]).await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("cambio-di-residenza").await;
    // A PNG renamed to .pdf: an accepted name, a refused content.
    let res = upload(&app, &id, "documento.pdf", PNG.to_vec(), None).await;
    let body = assert_problem(res, 415, "unsupported-media-type").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("immagine PNG"), "{detail}");
    assert!(detail.contains("non è accettato"), "{detail}");
    // An executable renamed to .pdf: no known type at all.
    let res = upload(
        &app,
        &id,
        "fattura.pdf",
        b"MZ\x90\0\x03\0\0\0\x04\0".to_vec(),
        None,
    )
    .await;
    let body = assert_problem(res, 415, "unsupported-media-type").await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("il nome del file"));
    // HTML renamed to .txt is not text.
    let res = upload(
        &app,
        &id,
        "nota.txt",
        b"<html><script>alert(1)</script></html>".to_vec(),
        None,
    )
    .await;
    assert_problem(res, 415, "unsupported-media-type").await;
    // A real PDF named .png is fine: it is a PDF.
    let res = upload(&app, &id, "scansione.png", pdf(300), None).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["attachments"][0]["kind"], "pdf");
    assert_eq!(app.count("attachments"), 1);
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_and_nothing_is_stored() {
    let app = spawn_app_with(|s| s.instances.max_file_bytes = 4096).await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("cambio-di-residenza").await;
    let res = upload(&app, &id, "grande.pdf", pdf(5000), None).await;
    let body = assert_problem(res, 413, "payload-too-large").await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("dimensione massima"));
    assert_eq!(
        upload(&app, &id, "giusto.pdf", pdf(4096), None)
            .await
            .status(),
        201
    );
    assert_eq!(app.count("attachments"), 1);
}

#[tokio::test]
async fn the_total_per_instance_and_the_number_of_files_are_limited() {
    let app = spawn_app_with(|s| {
        s.instances.max_file_bytes = 4000;
        s.instances.max_total_bytes = 7000;
        s.instances.max_files = 3;
    })
    .await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("cambio-di-residenza").await;
    assert_eq!(
        upload(&app, &id, "a.pdf", pdf(3000), None).await.status(),
        201
    );
    assert_eq!(
        upload(&app, &id, "b.pdf", pdf(3000), None).await.status(),
        201
    );
    let res = upload(&app, &id, "c.pdf", pdf(3000), None).await;
    let body = assert_problem(res, 413, "payload-too-large").await;
    assert!(body["detail"].as_str().unwrap().contains("in totale"));
    assert_eq!(
        upload(&app, &id, "c.txt", b"breve nota".to_vec(), None)
            .await
            .status(),
        201
    );
    let res = upload(&app, &id, "d.txt", b"un'altra nota".to_vec(), None).await;
    let body = assert_problem(res, 422, "validation").await;
    assert_eq!(body["errors"][0]["pointer"], "/attachments");
    assert_eq!(app.count("attachments"), 3);
    // Another draft has its own allowance.
    let other = app.create_draft("cambio-di-residenza").await;
    assert_eq!(
        upload(&app, &other, "a.pdf", pdf(3000), None)
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn malformed_uploads_are_refused() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("cambio-di-residenza").await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/attachments")))
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported-media-type").await;
    let res = upload(&app, &id, "vuoto.pdf", Vec::new(), None).await;
    assert_problem(res, 422, "validation").await;
    let form = reqwest::multipart::Form::new().text("altro", "x");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/attachments")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "bad-request").await;
    assert_eq!(app.count("attachments"), 0);
}

#[tokio::test]
async fn a_refused_upload_stores_none_of_its_files() {
    let app = spawn_app_with(|s| s.instances.max_files = 3).await;
    app.login_citizen(CITIZEN_CF).await;
    let id = app.create_draft("cambio-di-residenza").await;
    let several = |names: &[&str]| {
        let mut form = reqwest::multipart::Form::new();
        for n in names {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(pdf(2000)).file_name(n.to_string()),
            );
        }
        app.client
            .post(app.url(&format!("/api/v1/instances/{id}/attachments")))
            .multipart(form)
            .send()
    };
    let events = app.count("instance_events");
    // Five files where three are allowed: none of them is kept, not even the first three.
    let res = several(&["1.pdf", "2.pdf", "3.pdf", "4.pdf", "5.pdf"])
        .await
        .unwrap();
    let body = assert_problem(res, 422, "validation").await;
    assert_eq!(body["errors"][0]["pointer"], "/attachments");
    assert_eq!(app.count("attachments"), 0);
    assert_eq!(stored_files(&id), Vec::<std::path::PathBuf>::new());
    assert_eq!(app.count("instance_events"), events);

    // Two kept, then two more where one fits: again all or nothing.
    assert_eq!(several(&["a.pdf", "b.pdf"]).await.unwrap().status(), 201);
    let res = several(&["c.pdf", "d.pdf"]).await.unwrap();
    assert_problem(res, 422, "validation").await;
    assert_eq!(app.count("attachments"), 2);
    assert_eq!(stored_files(&id).len(), 2);
    assert_eq!(several(&["c.pdf"]).await.unwrap().status(), 201);
    assert_eq!(stored_files(&id).len(), 3);
}
