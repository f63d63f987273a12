//! API tokens for the ente's other systems: created by administrators only, shown once and
//! stored hashed; scopes, expiry, revocation, and no use on another ente's host. Through
//! them: instances and their files, the protocol register, the catalog.

use crate::helpers::*;
use crate::instances::upload;
use chrono::Duration;
use serde_json::{json, Value};

const ADMIN: &str = "amministratore";
const B_HOST: &str = "sportello.comune-b.example";

async fn app_with_two_enti() -> TestApp {
    let app = spawn_app_with(|s| {
        s.tenancy.hosts.insert(B_HOST.into(), "c_b000".into());
    })
    .await;
    app.load_bundle(&repo_dir().join("tests/fixtures/ente-b"));
    app
}

/// Creates a token as the demo ente's administrator; returns (secret, id).
pub async fn token(
    app: &TestApp,
    admin: &reqwest::Client,
    scopes: &[&str],
    days: i64,
) -> (String, String) {
    let res = admin
        .post(app.url("/api/v1/admin/tokens"))
        .json(
            &json!({ "name": "Gestionale documentale", "scopes": scopes, "expires_in_days": days }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let secret = body["token"].as_str().unwrap().to_owned();
    (secret, body["details"]["id"].as_str().unwrap().to_owned())
}

pub async fn bearer_get(app: &TestApp, secret: &str, path: &str) -> reqwest::Response {
    new_client()
        .get(app.url(path))
        .bearer_auth(secret)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
}

/// The demo citizen submits a change of residence with one PDF attachment.
pub async fn submitted_with_attachment(app: &TestApp) -> (String, Vec<u8>) {
    app.login_citizen(CITIZEN_CF).await;
    let id = app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    let bytes = crate::backoffice::PDF.to_vec();
    let res = upload(app, &id, "contratto.pdf", bytes.clone(), None).await;
    assert_eq!(res.status(), 201);
    let res = app.submit(&id, None).await;
    assert_eq!(res.status(), 201);
    (id, bytes)
}

#[tokio::test]
async fn only_administrators_manage_tokens_and_the_secret_is_shown_once() {
    let app = spawn_app().await;
    // Anonymous: 401; a citizen: 403; an operator: 403.
    let res = get_accepting_json(&new_client(), &app.url("/api/v1/admin/tokens")).await;
    assert_problem(res, 401, "unauthorized").await;
    let citizen = app.citizen_browser(CITIZEN_CF).await;
    let res = get_accepting_json(&citizen, &app.url("/api/v1/admin/tokens")).await;
    assert_problem(res, 403, "forbidden").await;
    let operator = app.staff_browser("operatore.anagrafe").await;
    let res = operator
        .post(app.url("/api/v1/admin/tokens"))
        .json(&json!({ "name": "x", "scopes": ["instances:read"] }))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;

    let admin = app.staff_browser(ADMIN).await;
    // Invalid requests: every field named.
    let res = admin
        .post(app.url("/api/v1/admin/tokens"))
        .json(&json!({ "name": "", "scopes": ["instances:delete"], "expires_in_days": 0 }))
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
    assert_eq!(pointers, ["/name", "/scopes/0", "/expires_in_days"]);

    let (secret, id) = token(&app, &admin, &["instances:read", "catalog:read"], 30).await;
    assert!(secret.starts_with("spt_") && secret.len() == 68, "{secret}");
    // Stored hashed: the secret is nowhere in the database, its SHA-256 is.
    let hash = sportello::text::sha256_hex(secret.as_bytes());
    assert_eq!(
        app.exec(&format!(
            "UPDATE api_tokens SET name = name WHERE secret_sha256 = '{hash}' AND prefix = '{}'",
            &secret[..12]
        )),
        1
    );
    let list = app.get_json(&admin, "/api/v1/admin/tokens").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["status"], "active");
    assert_eq!(
        items[0]["scopes"],
        json!(["instances:read", "catalog:read"])
    );
    assert_eq!(items[0]["created_by"], ADMIN);
    assert!(
        !list.to_string().contains(&secret[12..]),
        "the list never shows the secret"
    );
}

#[tokio::test]
async fn a_token_reads_instances_their_files_and_the_register_within_its_scopes() {
    let app = spawn_app().await;
    let (id, bytes) = submitted_with_attachment(&app).await;
    let admin = app.staff_browser(ADMIN).await;
    let (reader, _) = token(&app, &admin, &["instances:read"], 30).await;
    let (clerk, _) = token(&app, &admin, &["protocol:read"], 30).await;

    // The list, in the order of change, with a cursor.
    let res = bearer_get(&app, &reader, "/api/v1/integration/instances?limit=1").await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"][0]["id"], id);
    assert_eq!(page["items"][0]["status"], "submitted");
    assert_eq!(page["items"][0]["service"], "cambio-di-residenza");
    assert!(page["items"][0]["protocol"]["year"].as_i64().is_some());
    assert!(page["next_cursor"].is_null(), "one instance: one page");
    // A second submission comes after the first; the cursor walks to it.
    app.submit_valid("cambio-di-residenza").await;
    let first: Value = bearer_get(&app, &reader, "/api/v1/integration/instances?limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second: Value = bearer_get(
        &app,
        &reader,
        &format!("/api/v1/integration/instances?limit=1&cursor={cursor}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(second["items"][0]["id"], first["items"][0]["id"]);
    assert!(second["next_cursor"].is_null());
    let res = bearer_get(
        &app,
        &reader,
        "/api/v1/integration/instances?cursor=garbage",
    )
    .await;
    assert_problem(res, 422, "validation").await;

    // The instance screen and its attachment, digest checked.
    let res = bearer_get(
        &app,
        &reader,
        &format!("/api/v1/integration/instances/{id}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("etag"));
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["applicant"]["codice_fiscale"], CITIZEN_CF);
    let url = view["attachments"][0]["download_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("/api/v1/integration/instances/"), "{url}");
    let res = bearer_get(&app, &reader, &url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);

    // Outside its scope: 403 insufficient-scope, with the bearer challenge.
    let res = bearer_get(
        &app,
        &reader,
        "/api/v1/integration/protocol/AOO_CX000/registrations",
    )
    .await;
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\""
    );
    assert_problem(res, 403, "insufficient-scope").await;
    let res = bearer_get(&app, &clerk, &format!("/api/v1/integration/instances/{id}")).await;
    assert_problem(res, 403, "insufficient-scope").await;

    // The register with protocol:read.
    let res = bearer_get(
        &app,
        &clerk,
        "/api/v1/integration/protocol/AOO_CX000/registrations",
    )
    .await;
    assert_eq!(res.status(), 200);
    let reg: Value = res.json().await.unwrap();
    assert_eq!(reg["total"], 2, "{reg}");
    let res = bearer_get(
        &app,
        &clerk,
        "/api/v1/integration/protocol/NOPE/registrations",
    )
    .await;
    assert_problem(res, 404, "not-found").await;

    // A session is not a token, and a token is not a session.
    let staff = app.staff_browser("operatore.anagrafe").await;
    let res = get_accepting_json(&staff, &app.url("/api/v1/integration/instances")).await;
    assert_problem(res, 401, "invalid-token").await;
    let res = bearer_get(&app, &reader, &format!("/api/v1/staff/instances/{id}")).await;
    assert_problem(res, 401, "unauthorized").await;
}

#[tokio::test]
async fn expired_revoked_unknown_and_foreign_tokens_are_refused() {
    let app = app_with_two_enti().await;
    let admin = app.staff_browser(ADMIN).await;
    let (short, _) = token(&app, &admin, &["catalog:read"], 1).await;
    let (revoked, revoked_id) = token(&app, &admin, &["catalog:read"], 30).await;
    let path = "/api/v1/integration/services";
    for secret in [&short, &revoked] {
        assert_eq!(bearer_get(&app, secret, path).await.status(), 200);
    }
    // Another ente's host: the token is not valid there.
    let res = new_client()
        .get(app.url(path))
        .header("host", B_HOST)
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_problem(res, 401, "invalid-token").await;

    // Revoked: refused at the next request; revoking again changes nothing.
    for _ in 0..2 {
        let res = admin
            .delete(app.url(&format!("/api/v1/admin/tokens/{revoked_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "revoked");
    }
    assert_problem(bearer_get(&app, &revoked, path).await, 401, "invalid-token").await;
    // On another ente's host the administrator's session is not valid: nothing to manage.
    let res = admin
        .get(app.url("/api/v1/admin/tokens"))
        .header("host", B_HOST)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthorized").await;

    // Expired: a day and a minute later.
    app.state
        .clock
        .advance(Duration::days(1) + Duration::minutes(1));
    assert_problem(bearer_get(&app, &short, path).await, 401, "invalid-token").await;
    let list = app.get_json(&admin, "/api/v1/admin/tokens").await;
    let states: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "expired").count(), 1);
    assert_eq!(states.iter().filter(|s| **s == "revoked").count(), 1);

    // Unknown, malformed, or none at all.
    let unknown = format!("spt_{}", "0".repeat(64));
    for secret in [unknown.as_str(), "not-a-token"] {
        assert_problem(bearer_get(&app, secret, path).await, 401, "invalid-token").await;
    }
    let res = get_accepting_json(&new_client(), &app.url(path)).await;
    assert_problem(res, 401, "invalid-token").await;
}

#[tokio::test]
async fn a_token_with_catalog_write_changes_and_withdraws_a_service() {
    let app = spawn_app().await;
    let admin = app.staff_browser(ADMIN).await;
    let (writer, _) = token(&app, &admin, &["catalog:read", "catalog:write"], 30).await;
    let (reader, _) = token(&app, &admin, &["catalog:read"], 30).await;
    let slug = "cambio-di-residenza";
    let patch = |secret: String, body: Value| {
        let url = app.url(&format!("/api/v1/integration/services/{slug}"));
        async move {
            new_client()
                .patch(url)
                .bearer_auth(secret)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = patch(reader.clone(), json!({ "published": false })).await;
    assert_problem(res, 403, "insufficient-scope").await;
    let res = patch(writer.clone(), json!({ "title": " " })).await;
    assert_problem(res, 422, "validation").await;

    let res = patch(
        writer.clone(),
        json!({ "title": "Dichiarazione di residenza", "requirements": ["Documento d'identità"], "published": false }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["published"], false);
    assert_eq!(v["card"]["title"], "Dichiarazione di residenza");
    assert_eq!(v["card"]["requirements"], json!(["Documento d'identità"]));
    // Citizens no longer see it; the catalog API still lists it, unpublished.
    let res = app.get(&format!("/api/v1/services/{slug}")).await;
    assert_eq!(res.status(), 404);
    let all: Value = bearer_get(&app, &reader, "/api/v1/integration/services")
        .await
        .json()
        .await
        .unwrap();
    let it = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["card"]["slug"] == slug)
        .unwrap();
    assert_eq!(it["published"], false);
    // Published again.
    let res = patch(writer, json!({ "published": true })).await;
    assert_eq!(res.status(), 200);
    let card: Value = app
        .get(&format!("/api/v1/services/{slug}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["title"], "Dichiarazione di residenza");
    let res = bearer_get(&app, &reader, "/api/v1/integration/services/nessuno").await;
    assert_problem(res, 404, "not-found").await;
}
