//! Staff single sign-on against a real OpenID Provider: npm `oidc-provider` 9.x
//! (`tests/peers/oidc-provider/server.js`), started per test on 127.0.0.1. Code + PKCE with
//! `openidconnect`; a known staff user logs in, an unknown one is refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::helpers::*;

struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider() -> Provider {
    let script = std::env::var("SPORTELLO_TEST_OIDC_PROVIDER")
        .expect("SPORTELLO_TEST_OIDC_PROVIDER is not set: run ./scripts/test");
    let port = free_port();
    let mut child = Command::new("node")
        .arg(&script)
        .env("PORT", port.to_string())
        .env("OIDC_CLIENT_SECRET", "staff-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    while reader.read_line(&mut line).unwrap() > 0 {
        if line.starts_with("READY ") {
            break;
        }
        line.clear();
    }
    assert!(line.starts_with("READY "), "oidc-provider did not start");
    Provider {
        child,
        issuer: line.trim().trim_start_matches("READY ").to_owned(),
    }
}

async fn app_with_sso(issuer: &str, match_claim: &str) -> TestApp {
    let port = free_port();
    spawn_app_with(|s| {
        s.server.port = port;
        s.server.public_url = format!("http://127.0.0.1:{port}");
        s.staff_sso.enabled = true;
        s.staff_sso.issuer = Some(issuer.to_owned());
        s.staff_sso.client_id = Some("sportello-staff".into());
        s.staff_sso.client_secret = Some(sportello::config::Secret::new("staff-secret".into()));
        s.staff_sso.match_claim = match_claim.into();
    })
    .await
}

/// Logs in at the provider as `account`; returns the response of our callback.
async fn sso_login(
    app: &TestApp,
    op: &Provider,
    browser: &reqwest::Client,
    account: &str,
) -> reqwest::Response {
    let res = browser
        .get(app.url("/auth/staff/login?next=/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap());
    let auth = location(&res);
    assert!(auth.starts_with(&op.issuer), "{auth}");
    assert!(auth.contains("code_challenge_method=S256"), "{auth}");
    let res = browser.get(&auth).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let interaction = format!("{}{}", op.issuer, location(&res));
    let page = browser.get(&interaction).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let res = browser
        .post(format!("{interaction}/login"))
        .form(&[("login", account), ("password", "any")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "login at the provider");
    let res = browser.get(location(&res)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let callback = location(&res);
    assert!(
        callback.starts_with(&app.url("/auth/staff/callback?")),
        "{callback}"
    );
    get_accepting_json(browser, &callback).await
}

#[tokio::test]
async fn a_known_staff_user_logs_in_through_the_entes_provider() {
    let op = start_provider();
    let app = app_with_sso(&op.issuer, "email").await;
    let browser = new_client();
    let res = sso_login(&app, &op, &browser, "operatore.anagrafe").await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(location(&res), "/api/v1/me");
    let me: Value = app.get_json(&browser, "/api/v1/me").await;
    assert_eq!(me["kind"], "staff");
    assert_eq!(me["username"], "operatore.anagrafe");
    assert_eq!(me["auth_method"], "staff_sso");
    // The staff member works the office queue.
    assert_eq!(
        app.get_as(&browser, "/api/v1/offices/anagrafe/queue")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_unknown_user_of_the_provider_is_refused() {
    let op = start_provider();
    let app = app_with_sso(&op.issuer, "email").await;
    let browser = new_client();
    let res = sso_login(&app, &op, &browser, "sconosciuto").await;
    assert_problem(res, 403, "staff-unknown").await;
    assert_eq!(app.get_as(&browser, "/api/v1/me").await.status(), 401);
    assert_eq!(app.count("sessions"), 0);
}

#[tokio::test]
async fn staff_can_be_matched_by_preferred_username() {
    let op = start_provider();
    let app = app_with_sso(&op.issuer, "preferred_username").await;
    let browser = new_client();
    let res = sso_login(&app, &op, &browser, "protocollista").await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let me: Value = app.get_json(&browser, "/api/v1/me").await;
    assert_eq!(me["username"], "protocollista");
}
