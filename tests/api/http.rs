use crate::helpers::*;

#[tokio::test]
async fn unknown_route_is_a_problem_with_request_id_and_security_headers() {
    let app = spawn_app().await;
    let res = app.get("/non/esiste").await;
    let h = res.headers().clone();
    let body = assert_problem(res, 404, "not-found").await;
    assert_eq!(body["title"], "Risorsa non trovata");
    assert!(body["detail"].as_str().unwrap().contains("non esiste"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["cache-control"], "no-store");
    // Plain HTTP in tests: no HSTS.
    assert!(h.get("strict-transport-security").is_none());
}

#[tokio::test]
async fn hsts_is_sent_when_served_over_https() {
    let app = spawn_app_with(|s| s.server.public_url = "https://sportello.example".into()).await;
    let res = app.get("/health/live").await;
    assert!(res.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_proxy_id_is_kept() {
    let app = spawn_app().await;
    let a = app.get("/health/live").await;
    let b = app.get("/health/live").await;
    let id_a = a.headers()["x-request-id"].to_str().unwrap().to_owned();
    let id_b = b.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id_a, id_b);
    assert!(uuid::Uuid::parse_str(&id_a).is_ok());

    let res = app
        .client
        .get(app.url("/non/esiste"))
        .header("x-request-id", "nginx-abc123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "nginx-abc123");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["instance"], "urn:uuid:nginx-abc123");

    // A header that could be used to inject into logs is replaced.
    let res = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "evil value\twith spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "evil value\twith spaces");
}

#[tokio::test]
async fn wrong_method_is_405_problem() {
    let app = spawn_app().await;
    let res = app
        .client
        .delete(app.url("/api/v1/services"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 405, "method-not-allowed").await;
    let res = app.get_as(&app.client, "/auth/logout").await;
    assert_problem(res, 405, "method-not-allowed").await;
}

#[tokio::test]
async fn malformed_json_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .header("content-type", "application/json")
        .body("{\"codice_fiscale\": ")
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 400, "invalid-json").await;
    assert_eq!(body["title"], "Dati JSON non validi");

    // Well-formed JSON of the wrong shape (unknown field) is refused as well.
    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .json(&serde_json::json!({ "codice_fiscale": CITIZEN_CF, "admin": true }))
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "invalid-json").await;
    assert_eq!(app.count("sessions"), 0);
    assert_eq!(app.count("citizens"), 0);
}

#[tokio::test]
async fn json_endpoints_refuse_other_content_types() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .header("content-type", "text/plain")
        .body(format!("{{\"codice_fiscale\":\"{CITIZEN_CF}\"}}"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported-media-type").await;
    assert_eq!(app.count("sessions"), 0);
}

#[tokio::test]
async fn oversized_body_is_413_and_changes_nothing() {
    let app = spawn_app_with(|s| s.server.max_json_bytes = 4096).await;
    let big = "x".repeat(10_000);
    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .json(&serde_json::json!({ "codice_fiscale": CITIZEN_CF, "given_name": big }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 413, "payload-too-large").await;
    assert!(body["detail"].as_str().unwrap().contains("4096"));
    assert_eq!(app.count("citizens"), 0);

    // Without Content-Length (chunked), the limit holds as the body streams in.
    let chunks: Vec<Result<String, std::io::Error>> = vec![
        Ok(format!(
            "{{\"codice_fiscale\":\"{CITIZEN_CF}\",\"given_name\":\""
        )),
        Ok("y".repeat(8000)),
        Ok("\"}".into()),
    ];
    let stream = futures_util::stream::iter(chunks);
    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload-too-large").await;
    assert_eq!(app.count("citizens"), 0);
}

#[tokio::test]
async fn browsers_get_an_italian_html_page_for_errors() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/pagina-inesistente"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let page = res.text().await.unwrap();
    assert!(page.contains("<html lang=\"it\">"));
    assert!(page.contains("Risorsa non trovata"));
    assert!(page.contains(&id));
}
