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

/// A raw connection, to send requests byte by byte.
async fn raw(app: &TestApp) -> tokio::net::TcpStream {
    let addr = app.address.trim_start_matches("http://").to_owned();
    tokio::net::TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection or `limit` passes; returns what arrived and
/// whether the connection was closed.
async fn read_until_closed(
    s: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: std::time::Duration,
) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

const SLOW_HEAD: &str = "POST /auth/dev/login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n";

#[tokio::test]
async fn a_body_sent_a_byte_at_a_time_is_answered_408_and_closed() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|s| {
        s.server.body_timeout_secs = 2;
        s.server.body_min_bytes_per_sec = 1024;
    })
    .await;
    let mut s = raw(&app).await;
    s.write_all(SLOW_HEAD.as_bytes()).await.unwrap();
    // One byte every 300 ms, in the background, until the server hangs up.
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if wr.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });
    let (text, closed) = read_until_closed(&mut rd, std::time::Duration::from_secs(10)).await;
    trickle.abort();
    let text = text.to_lowercase();
    assert!(closed, "the connection stayed open: {text}");
    assert!(text.starts_with("http/1.1 408"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.contains("urn:sportello:problem:request-timeout"),
        "{text}"
    );
    assert!(text.contains("x-request-id"), "{text}");
}

#[tokio::test]
async fn a_body_at_the_minimum_rate_is_read_whole() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|s| {
        s.server.body_timeout_secs = 1;
        s.server.body_min_bytes_per_sec = 100;
    })
    .await;
    let body = serde_json::json!({"codice_fiscale": CITIZEN_CF, "given_name": "Mario", "family_name": "Rossi"})
        .to_string();
    let body = format!("{body:<300}");
    let mut s = raw(&app).await;
    s.write_all(
        format!(
            "POST /auth/dev/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // 300 bytes over about 2 s: longer than the grace, but faster than 100 bytes a second.
    for chunk in body.as_bytes().chunks(30) {
        s.write_all(chunk).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (text, _) = read_until_closed(&mut s, std::time::Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn too_many_bodies_in_flight_from_one_address_are_refused() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|s| {
        s.server.body_timeout_secs = 30;
        s.server.max_slow_bodies_per_client = 2;
    })
    .await;
    // Four bodies that never come, from one address: whichever two the server sees first
    // are read (and wait), the other two are refused at once and closed.
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut s = raw(&app).await;
        s.write_all(SLOW_HEAD.as_bytes()).await.unwrap();
        conns.push(s);
    }
    let reads = conns.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let (text, closed) = read_until_closed(&mut s, std::time::Duration::from_secs(4)).await;
            (text, closed, s)
        })
    });
    let mut refused = Vec::new();
    let mut held = Vec::new();
    for r in reads.collect::<Vec<_>>() {
        let (text, closed, s) = r.await.unwrap();
        if text.is_empty() {
            assert!(!closed, "a body in flight was closed");
            held.push(s);
        } else {
            refused.push((text, closed));
        }
    }
    assert_eq!(held.len(), 2, "{refused:?}");
    for (text, closed) in &refused {
        assert!(text.starts_with("HTTP/1.1 429"), "{text}");
        assert!(*closed, "{text}");
        assert!(
            text.contains("urn:sportello:problem:too-many-requests"),
            "{text}"
        );
    }
    // When the held ones go, the address may send again.
    drop(held);
    let mut ok = false;
    for _ in 0..50 {
        let res = app
            .client
            .post(app.url("/auth/dev/login"))
            .json(&serde_json::json!({"codice_fiscale": CITIZEN_CF, "given_name": "Mario", "family_name": "Rossi"}))
            .send()
            .await
            .unwrap();
        if res.status() != 429 {
            assert_eq!(res.status(), 200);
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the address stayed refused after its bodies ended");
}

#[tokio::test]
async fn a_connection_stays_open_after_a_handler_that_ignores_its_body() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let mut s = raw(&app).await;
    // POST /auth/logout reads no body; the (small, complete) body must not end the connection.
    s.write_all(
        b"POST /auth/logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n\
          Content-Length: 5\r\n\r\nhello\
          GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let (text, closed) = read_until_closed(&mut s, std::time::Duration::from_secs(10)).await;
    assert!(closed);
    assert_eq!(text.matches("HTTP/1.1 ").count(), 2, "{text}");
    assert!(text.contains("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn the_test_client_never_reuses_a_connection_the_server_is_closing() {
    // What made single-logout tests fail on a busy machine: a test blocks its runtime (a
    // Python peer run with std::process) for longer than the server's keep-alive, the server
    // closes the idle connection meanwhile, and the client, not having seen the close, sends
    // the next request on it (hyper: IncompleteMessage). The tests' client does not reuse
    // connections idle that long.
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status(), 200);
    std::thread::sleep(sportello::startup::KEEP_ALIVE + std::time::Duration::from_secs(1));
    let res = app.client.get(app.url("/health/live")).send().await;
    assert_eq!(
        res.map(|r| r.status()).map_err(|e| format!("{e:?}")),
        Ok(reqwest::StatusCode::OK)
    );
}

#[tokio::test]
async fn malformed_requests_are_logged_below_error() {
    // The real server process, with its production log format: nobody outside may fill the
    // error log by sending garbage.
    use std::io::Write as _;
    let port = free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"))
        .current_dir(repo_dir())
        .env("SPORTELLO_ENV", "test")
        .env("SPORTELLO_CONFIG_DIR", repo_dir().join("config"))
        .env("SPORTELLO__DATABASE__URL", fresh_database_url())
        .env("SPORTELLO__SERVER__PORT", port.to_string())
        .env("SPORTELLO__TELEMETRY__FORMAT", "json")
        .env("SPORTELLO__TELEMETRY__FILTER", "info")
        .env_remove("RUST_LOG")
        .args(["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sportello serve");
    // Stopped even when an assertion fails before the end.
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.0.to_string()])
                .status();
        }
    }
    let stop = Stop(child.id());
    let client = reqwest::Client::new();
    let mut ready = false;
    // Up to 30 s: migrations on a fresh database, on a machine busy with the other tests.
    for _ in 0..600 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/health/live"))
            .send()
            .await
        {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server did not start");
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
        b"POST /auth/logout HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /\x01\x02 HTTP/1.1\r\n\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(garbage).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut answer);
        // A 400, or the connection simply closed: never a fault of the service.
        assert!(
            !answer.starts_with(b"HTTP/1.1 5"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    drop(stop);
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let errors: Vec<&serde_json::Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert!(
        errors.is_empty(),
        "ERROR lines for client faults: {errors:?}"
    );
    let faults = lines
        .iter()
        .filter(|l| l["target"] == "sportello::http::edge" && l["level"] == "INFO")
        .count();
    assert!(faults >= 3, "client faults not logged at INFO:\n{log}");
}

/// Found by schemathesis on PostgreSQL (which cannot store a NUL in a text): a NUL in the
/// address or in a JSON string is the client's mistake, never a 500.
#[tokio::test]
async fn a_nul_character_in_the_request_is_refused_not_a_server_error() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/services?category=%00").await;
    let body = assert_problem(res, 400, "bad-request").await;
    assert!(body["detail"].as_str().unwrap().contains("nullo"));
    let res = app.get("/api/v1/services/a%00b").await;
    assert_problem(res, 400, "bad-request").await;

    let citizen = app.citizen_browser("RSSMRA80A01H501U").await;
    let res = citizen
        .post(app.url("/api/v1/instances"))
        .json(&serde_json::json!({ "service": "x\u{0}y" }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    // SQLite stores the NUL and finds no such service (422); PostgreSQL refuses it (400).
    assert!(
        status == 400 || status == 422,
        "a NUL in a JSON string answered {status}"
    );
}

#[tokio::test]
async fn the_openapi_document_and_its_viewer_are_served() {
    let app = spawn_app().await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/instances/{id}/submit"]["post"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["in"],
        "cookie"
    );
    let res = app.get("/api/docs").await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/api/docs/");
    let res = app.get("/api/docs/").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(page.contains("swagger-initializer.js"));
    let res = app.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("/api/openapi.json"));
    assert_problem(app.get("/api/docs/no-such-file.js").await, 404, "not-found").await;
}
