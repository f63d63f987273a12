//! CIE login against the reference implementation of the SPID/CIE OIDC Federation
//! (`spid-cie-oidc==1.6.3`: Trust Anchor on 127.0.0.1:8000, CIE OP on 127.0.0.1:8002, started by
//! `./scripts/test`): onboarding in the TA, the whole login through the OP's login and consent
//! pages, the citizen session, replays and tampering refused, logout with revocation.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sportello::auth::cie::keys::{generate, RpKeys};
use sportello::config::{CieSettings, Settings, TrustAnchorSettings, TrustMarkSettings};

use crate::helpers::*;

pub const TA: &str = "http://127.0.0.1:8000";
pub const OP: &str = "http://127.0.0.1:8002/oidc/op";
/// The codice fiscale the test set-up gives the OP's test user `user`.
const OP_USER_CF: &str = "RSSMRA85T10A562S";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run ./scripts/test"))
}

/// A fresh RP key directory.
pub fn rp_keys() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-cie-keys-{}", uuid::Uuid::new_v4()));
    generate(&dir, 2048).unwrap();
    dir
}

/// Base64url-decodes a JWT's payload (no verification: test plumbing).
pub fn jwt_payload(token: &str) -> Value {
    let p = token.split('.').nth(1).unwrap();
    let mut t = p.replace('-', "+").replace('_', "/");
    while t.len() % 4 != 0 {
        t.push('=');
    }
    serde_json::from_slice(&openssl::base64::decode_block(&t).unwrap()).unwrap()
}

/// The TA's federation keys, "obtained out of band": written to a file for the config.
async fn ta_jwks_file() -> PathBuf {
    let ec = reqwest::get(format!("{TA}/.well-known/openid-federation"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let file = std::env::temp_dir().join(format!("sportello-ta-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, jwt_payload(&ec)["jwks"].to_string()).unwrap();
    file
}

/// Registers the RP in the TA; returns the trust mark it issues.
fn onboard(entity_id: &str, keys_dir: &std::path::Path) -> (String, String) {
    let keys = RpKeys::load(keys_dir).unwrap();
    let jwks = keys_dir.join("federation.jwks.json");
    std::fs::write(&jwks, keys.federation_jwks().to_string()).unwrap();
    let out = Command::new(env("SPORTELLO_TEST_CIE_PYTHON"))
        .arg(PathBuf::from(env("SPORTELLO_TEST_CIE_PEERS")).join("onboard_rp.py"))
        .arg(entity_id)
        .arg(&jwks)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "onboarding: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["trust_mark"].as_str().unwrap().to_owned(),
    )
}

pub fn cie_settings(
    keys_dir: PathBuf,
    anchor: &str,
    anchor_jwks: PathBuf,
    provider: &str,
) -> CieSettings {
    CieSettings {
        enabled: true,
        keys_dir: Some(keys_dir),
        client_name: Some("Sportello del Comune di Esempio".into()),
        organization_name: Some("Comune di Esempio".into()),
        homepage_uri: Some("https://www.comune.esempio.example".into()),
        contacts: vec!["protocollo@comune.esempio.example".into()],
        authority_hints: vec![anchor.into()],
        trust_anchors: vec![TrustAnchorSettings {
            entity_id: anchor.into(),
            jwks_file: anchor_jwks,
        }],
        providers: vec![provider.into()],
        ..CieSettings::default()
    }
}

/// The app as a CIE RP onboarded in the reference TA.
pub struct CieApp {
    pub app: TestApp,
    pub entity_id: String,
}

pub async fn cie_app_with(customize: impl FnOnce(&mut Settings)) -> CieApp {
    let port = free_port();
    let entity_id = format!("http://127.0.0.1:{port}");
    let keys = rp_keys();
    let (id, trust_mark) = onboard(&entity_id, &keys);
    let ta_jwks = ta_jwks_file().await;
    let app = spawn_app_with(|s| {
        s.server.port = port;
        s.server.public_url = entity_id.clone();
        let mut c = cie_settings(keys, TA, ta_jwks, OP);
        c.trust_marks = vec![TrustMarkSettings { id, trust_mark }];
        s.cie = c;
        customize(s);
    })
    .await;
    CieApp { app, entity_id }
}

/// An attribute of an HTML tag, quoted with `"` or `'`.
fn attr(tag: &str, name: &str) -> Option<String> {
    for q in ['"', '\''] {
        let key = format!("{name}={q}");
        if let Some(i) = tag.find(&key) {
            let v = i + key.len();
            let len = tag[v..].find(q)?;
            return Some(
                tag[v..v + len]
                    .replace("&amp;", "&")
                    .replace("&quot;", "\""),
            );
        }
    }
    None
}

/// The value of an `<input name=…>` in an HTML page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html
        .find(&format!("name=\"{name}\""))
        .or_else(|| html.find(&format!("name='{name}'")))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    attr(&html[start..end], "value")
}

fn form_action(html: &str) -> Option<String> {
    let at = html.find("<form")?;
    attr(&html[at..at + html[at..].find('>')?], "action")
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("{base}{location}")
    }
}

/// One login at the reference OP at a time: it keeps one session per user, so two tests
/// logging in as the test user at once invalidate each other's ("Invalid session on Consent
/// page", a 403 — seen when the machine was slow enough for the two flows to overlap).
static OP_LOGIN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Drives the OP's login and consent pages as the test user; returns the callback URL the
/// OP sends the browser to.
#[allow(
    clippy::await_holding_lock,
    reason = "each test has its own runtime: the lock only orders whole OP logins"
)]
pub async fn login_at_op(browser: &reqwest::Client, authorization_url: &str) -> String {
    let _one_at_a_time = OP_LOGIN.lock().unwrap_or_else(|e| e.into_inner());
    const OP_HOST: &str = "http://127.0.0.1:8002";
    let page = browser.get(authorization_url).send().await.unwrap();
    assert_eq!(page.status(), 200, "OP login page");
    let html = page.text().await.unwrap();
    let action = absolute(
        OP_HOST,
        &form_action(&html).unwrap_or_else(|| panic!("no login form: {html}")),
    );
    let mut form = vec![
        ("username".to_owned(), "user".to_owned()),
        ("password".to_owned(), "oidcuser".to_owned()),
    ];
    for field in ["csrfmiddlewaretoken", "authz_request_object"] {
        if let Some(v) = input_value(&html, field) {
            form.push((field.to_owned(), v));
        }
    }
    let res = browser
        .post(&action)
        .header("referer", authorization_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        302,
        "after the OP login: {}",
        res.text().await.unwrap()
    );
    let consent_url = absolute(OP_HOST, &location(&res));
    let consent = browser.get(&consent_url).send().await.unwrap();
    assert_eq!(consent.status(), 200, "OP consent page");
    let html = consent.text().await.unwrap();
    let action = absolute(
        OP_HOST,
        &form_action(&html).unwrap_or_else(|| "/oidc/op/consent".into()),
    );
    let res = browser
        .post(&action)
        .header("referer", &consent_url)
        .form(&[
            (
                "csrfmiddlewaretoken",
                input_value(&html, "csrfmiddlewaretoken").unwrap(),
            ),
            ("agree", "True".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        302,
        "after consent: {}",
        res.text().await.unwrap()
    );
    location(&res)
}

async fn start_login(ca: &CieApp, browser: &reqwest::Client, query: &str) -> String {
    let res = browser
        .get(ca.app.url(&format!("/cie/login{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap());
    let loc = location(&res);
    assert!(loc.starts_with(&format!("{OP}/authorization?")), "{loc}");
    loc
}

#[tokio::test]
async fn the_entity_configuration_is_signed_with_the_federation_key() {
    let ca = cie_app_with(|_| {}).await;
    let res = ca.app.get("/.well-known/openid-federation").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/entity-statement+jwt"
    );
    let jwt = res.text().await.unwrap();
    let header = jwt_payload(&format!("x.{}", jwt.split('.').next().unwrap()));
    let ec = jwt_payload(&jwt);
    assert_eq!(header["typ"], "entity-statement+jwt");
    assert_eq!(ec["iss"], ca.entity_id);
    assert_eq!(ec["sub"], ca.entity_id);
    assert!(ec["exp"].as_i64().unwrap() > ec["iat"].as_i64().unwrap());
    assert_eq!(ec["authority_hints"], serde_json::json!([TA]));
    assert_eq!(ec["trust_marks"].as_array().unwrap().len(), 1);
    // Signed with the federation key, which is not among the OIDC keys.
    let fed_kid = header["kid"].as_str().unwrap();
    assert_eq!(ec["jwks"]["keys"][0]["kid"], fed_kid);
    let rp = &ec["metadata"]["openid_relying_party"];
    let oidc_kids: Vec<&str> = rp["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(!oidc_kids.contains(&fed_kid));
    assert_eq!(
        rp["client_registration_types"],
        serde_json::json!(["automatic"])
    );
    assert_eq!(rp["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(rp["response_types"], serde_json::json!(["code"]));
    assert_eq!(
        rp["redirect_uris"],
        serde_json::json!([format!("{}/cie/callback", ca.entity_id)])
    );
    let uses: Vec<&str> = rp["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["use"].as_str().unwrap())
        .collect();
    assert_eq!(uses, ["sig", "enc"]);
    assert!(ec["metadata"]["federation_entity"]["organization_name"].is_string());
}

#[tokio::test]
async fn a_cie_login_through_the_reference_op_opens_the_citizen_session() {
    let ca = cie_app_with(|_| {}).await;
    let browser = new_client();
    let auth_url = start_login(&ca, &browser, "?level=2&next=/api/v1/me/instances").await;
    // A signed request object, PKCE S256, long state and nonce.
    let request = auth_url
        .split("request=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let ro = jwt_payload(&urldecode(request));
    assert_eq!(ro["iss"], ca.entity_id);
    assert_eq!(ro["client_id"], ca.entity_id);
    assert_eq!(ro["code_challenge_method"], "S256");
    assert!(ro["state"].as_str().unwrap().len() >= 32);
    assert!(ro["nonce"].as_str().unwrap().len() >= 32);
    assert_eq!(ro["acr_values"], "https://www.spid.gov.it/SpidL2");
    assert!(ro["claims"]["userinfo"]
        .get("https://attributes.eid.gov.it/fiscal_number")
        .is_some());

    let callback = login_at_op(&browser, &auth_url).await;
    assert!(
        callback.starts_with(&format!("{}/cie/callback?", ca.entity_id)),
        "{callback}"
    );
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(location(&res), "/api/v1/me/instances");
    let me: Value = ca.app.get_json(&browser, "/api/v1/me").await;
    assert_eq!(me["kind"], "citizen");
    assert_eq!(me["codice_fiscale"], OP_USER_CF);
    assert_eq!(me["auth_method"], "cie");
    assert_eq!(me["auth_level"], 2);
    assert_eq!(me["idp"], OP);
    assert_eq!(me["given_name"], "peppe");

    // The same callback again: its state was used.
    let res = get_accepting_json(&browser, &callback).await;
    assert_problem(res, 403, "login-unknown").await;

    // Logout ends the session and revokes the access token at the OP.
    let token: String = {
        use diesel::prelude::*;
        let mut conn = ca.app.conn();
        diesel::sql_query("SELECT access_token FROM cie_sessions")
            .load::<AccessToken>(&mut *conn)
            .unwrap()
            .remove(0)
            .access_token
    };
    let userinfo = |t: String| async move {
        reqwest::Client::new()
            .get(format!("{OP}/userinfo"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(userinfo(token.clone()).await, 200);
    let res = browser
        .post(ca.app.url("/cie/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(ca.app.get_as(&browser, "/api/v1/me").await.status(), 401);
    assert_ne!(
        userinfo(token).await,
        200,
        "the access token was not revoked"
    );
}

#[derive(diesel::QueryableByName)]
struct AccessToken {
    #[diesel(sql_type = diesel::sql_types::Text)]
    access_token: String,
}

fn urldecode(s: &str) -> String {
    sportello::auth::spid::redirect::decode(s).unwrap()
}

#[tokio::test]
async fn a_wrong_state_or_issuer_at_the_callback_opens_no_session() {
    let ca = cie_app_with(|_| {}).await;
    let browser = new_client();
    let auth_url = start_login(&ca, &browser, "").await;
    let callback = login_at_op(&browser, &auth_url).await;
    for (bad, slug) in [
        (
            replace_param(&callback, "state", "x".repeat(43).as_str()),
            "login-unknown",
        ),
        (callback.replace("&state=", "&nostate="), "login-unknown"),
        (
            replace_param(&callback, "iss", "http%3A%2F%2F127.0.0.1%3A9%2Fevil"),
            "cie-response-invalid",
        ),
    ] {
        let res = get_accepting_json(&browser, &bad).await;
        assert_problem(res, 403, slug).await;
        assert_eq!(ca.app.get_as(&browser, "/api/v1/me").await.status(), 401);
    }
    // The state was consumed by the wrong-issuer attempt: the genuine callback is now refused
    // too (a callback is answered once).
    let res = get_accepting_json(&browser, &callback).await;
    assert_problem(res, 403, "login-unknown").await;
    assert_eq!(ca.app.count("sessions"), 0);
}

fn replace_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let parts: Vec<String> = query
        .split('&')
        .map(|p| {
            if p.starts_with(&format!("{name}=")) {
                format!("{name}={value}")
            } else {
                p.to_owned()
            }
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[tokio::test]
async fn an_op_not_chained_to_the_configured_trust_anchor_is_refused() {
    // The same TA entity id, but keys that are not the TA's.
    let other = rp_keys();
    let fake_ta =
        std::env::temp_dir().join(format!("sportello-fake-ta-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &fake_ta,
        RpKeys::load(&other).unwrap().federation_jwks().to_string(),
    )
    .unwrap();
    let ca = cie_app_with(|s| {
        s.cie.trust_anchors[0].jwks_file = fake_ta.clone();
    })
    .await;
    let res = get_accepting_json(&ca.app.client, &ca.app.url("/cie/login")).await;
    assert_problem(res, 502, "cie-provider-untrusted").await;
    assert_eq!(ca.app.count("oidc_authorizations"), 0);
    // An OP that is not configured at all.
    let res = get_accepting_json(
        &ca.app.client,
        &ca.app.url("/cie/login?op=http://127.0.0.1:9/op"),
    )
    .await;
    assert_problem(res, 400, "cie-unknown-provider").await;
}
