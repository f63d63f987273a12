use crate::helpers::*;

fn set_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_owned()
}

#[tokio::test]
async fn dev_login_opens_a_citizen_session() {
    let app = spawn_app().await;
    assert_problem(app.me().await, 401, "unauthorized").await;

    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .json(&serde_json::json!({
            "codice_fiscale": "tinit-rssmra85t10a562s",
            "given_name": "Mario",
            "family_name": "Rossi",
            "email": "mario.rossi@example.org",
            "level": 3
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = set_cookie(&res);
    assert!(cookie.starts_with("sportello_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["kind"], "citizen");
    assert_eq!(body["codice_fiscale"], CITIZEN_CF);

    let me: serde_json::Value = app.me().await.json().await.unwrap();
    assert_eq!(me["kind"], "citizen");
    assert_eq!(me["codice_fiscale"], CITIZEN_CF);
    assert_eq!(me["given_name"], "Mario");
    assert_eq!(me["email"], "mario.rossi@example.org");
    assert_eq!(me["auth_method"], "dev");
    assert_eq!(me["auth_level"], 3);
    assert_eq!(app.count("citizens"), 1);
    assert_eq!(app.count("sessions"), 1);
}

#[tokio::test]
async fn the_cookie_is_secure_when_configured() {
    let app = spawn_app_with(|s| s.session.cookie_secure = true).await;
    let res = app.login_citizen(CITIZEN_CF).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie(&res).contains("Secure"));
}

#[tokio::test]
async fn dev_login_refuses_invalid_input_and_creates_nothing() {
    let app = spawn_app().await;
    let res = app.login_citizen("RSSMRA85T10A562X").await;
    let body = assert_problem(res, 422, "validation").await;
    assert_eq!(body["errors"][0]["pointer"], "/codice_fiscale");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("codice fiscale"));

    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .json(&serde_json::json!({ "codice_fiscale": CITIZEN_CF, "email": "non-una-mail", "level": 7 }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422, "validation").await;
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/level", "/email"]);

    let res = app
        .client
        .post(app.url("/auth/dev/login"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation").await;

    let res = app.login_staff("nessuno").await;
    let body = assert_problem(res, 422, "validation").await;
    assert_eq!(body["errors"][0]["pointer"], "/staff_username");

    assert_eq!(app.count("citizens"), 0);
    assert_eq!(app.count("sessions"), 0);
    assert_problem(app.me().await, 401, "unauthorized").await;
}

#[tokio::test]
async fn dev_login_opens_a_staff_session_with_roles() {
    let app = spawn_app().await;
    let res = app.login_staff("operatore.anagrafe").await;
    assert_eq!(res.status(), 200);
    let me: serde_json::Value = app.me().await.json().await.unwrap();
    assert_eq!(me["kind"], "staff");
    assert_eq!(me["username"], "operatore.anagrafe");
    assert_eq!(
        me["roles"],
        serde_json::json!([{ "role": "operator", "office": "anagrafe" }])
    );

    let clerk = new_client();
    clerk
        .post(app.url("/auth/dev/login"))
        .json(&serde_json::json!({ "staff_username": "protocollista" }))
        .send()
        .await
        .unwrap();
    let me: serde_json::Value = app.get_as(&clerk, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(
        me["roles"],
        serde_json::json!([{ "role": "protocol_clerk", "aoo": "AOO_CX000", "annul": true }])
    );
}

#[tokio::test]
async fn an_inactive_staff_user_cannot_log_in() {
    let app = spawn_app().await;
    app.exec("UPDATE staff_users SET active = false WHERE username = 'operatore.tributi'");
    let res = app.login_staff("operatore.tributi").await;
    assert_problem(res, 422, "validation").await;
    // Refused, and nothing was opened for it.
    assert_eq!(app.count("sessions"), 0);
    assert_eq!(app.me().await.status(), 401);
}

#[tokio::test]
async fn dev_login_does_not_exist_when_disabled() {
    let app = spawn_app_with(|s| s.auth.dev_login = false).await;
    let res = app.login_citizen(CITIZEN_CF).await;
    assert_problem(res, 404, "not-found").await;
    assert_eq!(app.count("sessions"), 0);
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let res = app.login_citizen(CITIZEN_CF).await;
    let cookie = set_cookie(&res);
    let cookie_pair = cookie.split(';').next().unwrap().to_owned();

    let res = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let removal = set_cookie(&res);
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_problem(app.me().await, 401, "unauthorized").await;
    assert_eq!(app.count("sessions"), 0);

    // The old cookie, replayed by someone who copied it, is dead too.
    let res = new_client()
        .get(app.url("/api/v1/me"))
        .header("cookie", cookie_pair)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthorized").await;

    // Logging out again is harmless.
    let res = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn every_login_gets_a_new_session_id() {
    let app = spawn_app().await;
    let first = set_cookie(&app.login_citizen(CITIZEN_CF).await);
    let second = set_cookie(&app.login_citizen(OTHER_CF).await);
    assert_ne!(first, second);
    // The first session was ended by the second login of the same browser.
    assert_eq!(app.count("sessions"), 1);
    let res = new_client()
        .get(app.url("/api/v1/me"))
        .header("cookie", first.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let me: serde_json::Value = app.me().await.json().await.unwrap();
    assert_eq!(me["codice_fiscale"], OTHER_CF);
}

#[tokio::test]
async fn a_forged_cookie_is_ignored() {
    let app = spawn_app().await;
    let res = app.login_citizen(CITIZEN_CF).await;
    let cookie = set_cookie(&res);
    let pair = cookie.split(';').next().unwrap().to_owned();
    let me_with = |cookie: String| {
        new_client()
            .get(app.url("/api/v1/me"))
            .header("cookie", cookie)
            .send()
    };
    // The real cookie, sent by another client, is the session…
    assert_eq!(me_with(pair.clone()).await.unwrap().status(), 200);
    // …and the same cookie with one character of its value changed is nothing: the value is
    // encrypted and authenticated with the server key.
    let (name, value) = pair.split_once('=').unwrap();
    let mut chars: Vec<char> = value.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let forged = format!("{name}={}", chars.into_iter().collect::<String>());
    assert_ne!(forged, pair);
    let res = me_with(forged).await.unwrap();
    assert_problem(res, 401, "unauthorized").await;
    // A raw token (not encrypted with the server key) is not a session either.
    let res = me_with(format!("{name}={}", "0".repeat(64))).await.unwrap();
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    assert_eq!(app.me().await.status(), 200);
    // 29 minutes idle: still alive (idle timeout is 30 minutes).
    app.exec(&age_sql(&app, "last_seen_at", 29));
    assert_eq!(app.me().await.status(), 200);
    // 31 minutes idle: gone, and deleted from the database.
    app.exec(&age_sql(&app, "last_seen_at", 31));
    assert_problem(app.me().await, 401, "unauthorized").await;
    assert_eq!(app.count("sessions"), 0);
}

#[tokio::test]
async fn a_session_expires_at_its_absolute_limit_even_if_used() {
    let app = spawn_app().await;
    app.login_citizen(CITIZEN_CF).await;
    app.exec(&age_sql(&app, "expires_at", 1));
    assert_problem(app.me().await, 401, "unauthorized").await;
    assert_eq!(app.count("sessions"), 0);
}

/// SQL that moves a session timestamp `minutes` into the past from now.
fn age_sql(app: &TestApp, column: &str, minutes: i64) -> String {
    let ts = (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f");
    match app.backend() {
        sportello::db::Backend::Sqlite => format!("UPDATE sessions SET {column} = '{ts}'"),
        sportello::db::Backend::Postgres => {
            format!("UPDATE sessions SET {column} = TIMESTAMP '{ts}'")
        }
    }
}

#[tokio::test]
async fn a_session_is_valid_only_for_its_own_ente() {
    let app = spawn_app_with(|s| {
        s.tenancy
            .hosts
            .insert("sportello.comune-b.example".into(), "c_b000".into());
    })
    .await;
    app.load_bundle(&repo_dir().join("tests/fixtures/ente-b"));
    let res = app.login_citizen(CITIZEN_CF).await;
    let cookie = set_cookie(&res);
    let pair = cookie.split(';').next().unwrap().to_owned();
    let res = new_client()
        .get(app.url("/api/v1/me"))
        .header("host", "sportello.comune-b.example")
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthorized").await;
    // Same staff username in both enti: each login stays in its ente.
    let b = new_client();
    let res = b
        .post(app.url("/auth/dev/login"))
        .header("host", "sportello.comune-b.example")
        .json(&serde_json::json!({ "staff_username": "operatore.urp" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["full_name"], "Operatore di Bilancia");
}
