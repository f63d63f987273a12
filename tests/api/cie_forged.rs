//! CIE negative cases with tokens the test forges: a small federation served here (a Trust
//! Anchor and an OP on 127.0.0.1, with their own keys) answers the real callback flow with ID
//! tokens and userinfo that are wrong in one way each. Every one is refused with a clear
//! problem and no session; the untouched scenario logs in (so the fake is faithful).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};
use sportello::auth::cie::jose;
use sportello::auth::cie::keys::{b64url, RpKey, RpKeys};

use crate::cie_login::{cie_settings, jwt_payload, rp_keys};
use crate::helpers::*;

#[derive(Debug, Clone, Default)]
struct Scenario {
    statement_expired: bool,
    /// OP → intermediate → TA instead of OP → TA.
    via_intermediate: bool,
    /// The TA's `constraints.max_path_length`.
    max_path_length: Option<u64>,
    /// A `metadata_policy` the superior of the OP applies to it.
    policy: Option<Value>,
    nonce: Option<String>,
    aud: Option<Value>,
    expired_id_token: bool,
    acr: Option<String>,
    userinfo_sub: Option<String>,
    /// The userinfo JWS payload as raw JSON text (so it can name a member twice).
    userinfo_payload: Option<String>,
    alg_none: bool,
    /// Nonce of the last authorization request seen.
    seen_nonce: String,
}

struct Fake {
    base: String,
    ta: RpKey,
    int: RpKey,
    op_fed: RpKey,
    op_sig: RpKey,
    rp_enc: Value,
    scenario: Mutex<Scenario>,
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn jwks(k: &RpKey) -> Value {
    json!({ "keys": [Value::Object(k.public.as_ref().clone())] })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn jwt(res: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/entity-statement+jwt")
        .body(res)
}

/// The entity configuration of the TA (`ta`) or the intermediate (`int`).
fn authority_ec(f: &Fake, who: &str) -> HttpResponse {
    let me = format!("{}/{who}", f.base);
    let key = if who == "ta" { &f.ta } else { &f.int };
    let s = f.scenario.lock().unwrap().clone();
    let mut claims = json!({
        "iss": me, "sub": me, "iat": now(), "exp": now() + 3600, "jwks": jwks(key),
        "metadata": {"federation_entity": {"federation_fetch_endpoint": format!("{me}/fetch")}},
    });
    if who == "ta" {
        if let Some(max) = s.max_path_length {
            claims["constraints"] = json!({ "max_path_length": max });
        }
    } else {
        claims["authority_hints"] = json!([format!("{}/ta", f.base)]);
    }
    jwt(jose::sign(key, Some("entity-statement+jwt"), &obj(claims)).unwrap())
}

/// What an authority states about its subordinate `sub` (the OP, or the intermediate).
fn authority_fetch(f: &Fake, who: &str, req: &HttpRequest) -> HttpResponse {
    let s = f.scenario.lock().unwrap().clone();
    let sub = serde_urlencoded_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "sub")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let op = format!("{}/op", f.base);
    let subject_key = if sub == op { &f.op_fed } else { &f.int };
    let exp = if s.statement_expired {
        now() - 600
    } else {
        now() + 3600
    };
    let mut claims = json!({
        "iss": format!("{}/{who}", f.base), "sub": sub,
        "iat": now() - 1200, "exp": exp, "jwks": jwks(subject_key),
    });
    if sub == op {
        if let Some(p) = &s.policy {
            claims["metadata_policy"] = json!({ "openid_provider": p });
        }
    }
    let key = if who == "ta" { &f.ta } else { &f.int };
    jwt(jose::sign(key, Some("entity-statement+jwt"), &obj(claims)).unwrap())
}

async fn ta_ec(f: web::Data<Fake>) -> HttpResponse {
    authority_ec(&f, "ta")
}

async fn int_ec(f: web::Data<Fake>) -> HttpResponse {
    authority_ec(&f, "int")
}

async fn ta_fetch(f: web::Data<Fake>, req: HttpRequest) -> HttpResponse {
    authority_fetch(&f, "ta", &req)
}

async fn int_fetch(f: web::Data<Fake>, req: HttpRequest) -> HttpResponse {
    authority_fetch(&f, "int", &req)
}

async fn op_ec(f: web::Data<Fake>) -> HttpResponse {
    let op = format!("{}/op", f.base);
    let superior = if f.scenario.lock().unwrap().via_intermediate {
        "int"
    } else {
        "ta"
    };
    jwt(jose::sign(
        &f.op_fed,
        Some("entity-statement+jwt"),
        &obj(json!({
            "iss": op, "sub": op, "iat": now(), "exp": now() + 3600, "jwks": jwks(&f.op_fed),
            "authority_hints": [format!("{}/{superior}", f.base)],
            "metadata": {"openid_provider": {
                "issuer": op,
                "authorization_endpoint": format!("{op}/authorize"),
                "token_endpoint": format!("{op}/token"),
                "userinfo_endpoint": format!("{op}/userinfo"),
                "revocation_endpoint": format!("{op}/revoke"),
                "jwks": jwks(&f.op_sig),
            }},
        })),
    )
    .unwrap())
}

/// Answers at once: back to the RP with a code.
async fn op_authorize(f: web::Data<Fake>, req: HttpRequest) -> HttpResponse {
    let q: Vec<(String, String)> = serde_urlencoded_pairs(req.query_string());
    let request = q
        .iter()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.clone())
        .unwrap();
    let ro = jwt_payload(&request);
    f.scenario.lock().unwrap().seen_nonce = ro["nonce"].as_str().unwrap().to_owned();
    let redirect = format!(
        "{}?code=forged-code&state={}&iss={}",
        ro["redirect_uri"].as_str().unwrap(),
        ro["state"].as_str().unwrap(),
        sportello::auth::spid::redirect::encode(&format!("{}/op", f.base)),
    );
    HttpResponse::Found()
        .insert_header(("location", redirect))
        .finish()
}

fn serde_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.to_owned(),
                sportello::auth::spid::redirect::decode(v).unwrap(),
            )
        })
        .collect()
}

async fn op_token(f: web::Data<Fake>, body: String) -> HttpResponse {
    let form = serde_urlencoded_pairs(&body);
    let client_id = form
        .iter()
        .find(|(k, _)| k == "client_id")
        .unwrap()
        .1
        .clone();
    assert!(form.iter().any(|(k, _)| k == "client_assertion"));
    let s = f.scenario.lock().unwrap().clone();
    let op = format!("{}/op", f.base);
    let claims = obj(json!({
        "iss": op,
        "sub": "forged-subject",
        "aud": s.aud.clone().unwrap_or_else(|| json!([client_id])),
        "iat": now() - if s.expired_id_token { 3600 } else { 0 },
        "exp": now() + if s.expired_id_token { -1800 } else { 600 },
        "nonce": s.nonce.clone().unwrap_or(s.seen_nonce.clone()),
        "acr": s.acr.clone().unwrap_or_else(|| "https://www.spid.gov.it/SpidL2".into()),
        "given_name": "Mario",
        "family_name": "Rossi",
    }));
    let id_token = if s.alg_none {
        let enc = |v: &Value| b64url(v.to_string().as_bytes());
        format!(
            "{}.{}.",
            enc(&json!({"alg": "none"})),
            enc(&Value::Object(claims))
        )
    } else {
        jose::sign(&f.op_sig, None, &claims).unwrap()
    };
    HttpResponse::Ok().json(json!({
        "access_token": "forged-access-token", "token_type": "Bearer", "id_token": id_token,
    }))
}

async fn op_userinfo(f: web::Data<Fake>) -> HttpResponse {
    let s = f.scenario.lock().unwrap().clone();
    let inner = match &s.userinfo_payload {
        Some(raw) => {
            let signer = josekit::jws::RS256.signer_from_pem(&f.op_sig.pem).unwrap();
            let mut h = josekit::jws::JwsHeader::new();
            h.set_key_id(&f.op_sig.kid);
            josekit::jws::serialize_compact(raw.as_bytes(), &h, &signer).unwrap()
        }
        None => jose::sign(
            &f.op_sig,
            None,
            &obj(json!({
                "sub": s.userinfo_sub.clone().unwrap_or_else(|| "forged-subject".into()),
                "https://attributes.eid.gov.it/fiscal_number": "TINIT-RSSMRA85T10A562S",
                "given_name": "Mario", "family_name": "Rossi", "email": "mario.rossi@example.org",
            })),
        )
        .unwrap(),
    };
    let jwk = josekit::jwk::Jwk::from_map(f.rp_enc.as_object().unwrap().clone()).unwrap();
    let mut h = josekit::jwe::JweHeader::new();
    h.set_content_encryption("A256CBC-HS512");
    h.set_content_type("JWT");
    h.set_key_id(jwk.key_id().unwrap());
    let encrypter = josekit::jwe::RSA_OAEP.encrypter_from_jwk(&jwk).unwrap();
    let jwe = josekit::jwe::serialize_compact(inner.as_bytes(), &h, &encrypter).unwrap();
    HttpResponse::Ok().content_type("application/jwt").body(jwe)
}

/// Starts the fake federation; returns it and the TA's JWKS file.
async fn fake_federation(rp_keys_dir: &std::path::Path) -> (Arc<web::Data<Fake>>, PathBuf) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let a = RpKeys::load(&rp_keys()).unwrap();
    let b = RpKeys::load(&rp_keys()).unwrap();
    let rp = RpKeys::load(rp_keys_dir).unwrap();
    let fake = web::Data::new(Fake {
        base,
        ta: a.federation.clone(),
        int: b.signing.clone(),
        op_sig: a.signing.clone(),
        op_fed: b.federation.clone(),
        rp_enc: Value::Object(rp.encryption.public.as_ref().clone()),
        scenario: Mutex::new(Scenario::default()),
    });
    let ta_file =
        std::env::temp_dir().join(format!("sportello-fake-ta-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&ta_file, jwks(&fake.ta).to_string()).unwrap();
    let data = fake.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/ta/.well-known/openid-federation", web::get().to(ta_ec))
            .route("/ta/fetch", web::get().to(ta_fetch))
            .route("/int/.well-known/openid-federation", web::get().to(int_ec))
            .route("/int/fetch", web::get().to(int_fetch))
            .route("/op/.well-known/openid-federation", web::get().to(op_ec))
            .route("/op/authorize", web::get().to(op_authorize))
            .route("/op/token", web::post().to(op_token))
            .route("/op/userinfo", web::get().to(op_userinfo))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (Arc::new(fake), ta_file)
}

async fn app_for(fake: &Fake, keys: PathBuf, ta_file: PathBuf) -> TestApp {
    let port = free_port();
    let ta = format!("{}/ta", fake.base);
    let op = format!("{}/op", fake.base);
    spawn_app_with(|s| {
        s.server.port = port;
        s.server.public_url = format!("http://127.0.0.1:{port}");
        s.cie = cie_settings(keys, &ta, ta_file, &op);
    })
    .await
}

/// The whole flow against the fake; returns the callback's response.
async fn login(app: &TestApp, browser: &reqwest::Client) -> reqwest::Response {
    let res = browser.get(app.url("/cie/login")).send().await.unwrap();
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap());
    let to_op = location(&res);
    let res = browser.get(&to_op).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let callback = location(&res);
    get_accepting_json(browser, &callback).await
}

#[tokio::test]
async fn forged_id_tokens_and_userinfo_are_refused_and_open_no_session() {
    let keys = rp_keys();
    let (fake, ta_file) = fake_federation(&keys).await;
    let app = app_for(&fake, keys, ta_file).await;

    // The faithful scenario logs in: the fake is a real OP as far as the RP can tell.
    let browser = new_client();
    let res = login(&app, &browser).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        app.get_json(&browser, "/api/v1/me").await["codice_fiscale"],
        "RSSMRA85T10A562S"
    );

    let cases: Vec<(&str, Scenario)> = vec![
        (
            "wrong nonce",
            Scenario {
                nonce: Some("n".repeat(43)),
                ..Default::default()
            },
        ),
        (
            "wrong audience",
            Scenario {
                aud: Some(json!(["https://another-rp.example"])),
                ..Default::default()
            },
        ),
        (
            "expired ID token",
            Scenario {
                expired_id_token: true,
                ..Default::default()
            },
        ),
        (
            "lower acr",
            Scenario {
                acr: Some("https://www.spid.gov.it/SpidL1".into()),
                ..Default::default()
            },
        ),
        (
            "unknown acr",
            Scenario {
                acr: Some("urn:example:loa:high".into()),
                ..Default::default()
            },
        ),
        (
            "userinfo sub mismatch",
            Scenario {
                userinfo_sub: Some("someone-else".into()),
                ..Default::default()
            },
        ),
        (
            "alg none",
            Scenario {
                alg_none: true,
                ..Default::default()
            },
        ),
        (
            "fiscal_number twice in userinfo",
            Scenario {
                userinfo_payload: Some(
                    r#"{"sub":"forged-subject",
                        "https://attributes.eid.gov.it/fiscal_number":"TINIT-BNCGPP80A01H501X",
                        "https://attributes.eid.gov.it/fiscal_number":"TINIT-RSSMRA85T10A562S"}"#
                        .into(),
                ),
                ..Default::default()
            },
        ),
        (
            "sub twice in userinfo",
            Scenario {
                userinfo_payload: Some(
                    r#"{"sub":"someone-else","sub":"forged-subject",
                        "https://attributes.eid.gov.it/fiscal_number":"TINIT-RSSMRA85T10A562S"}"#
                        .into(),
                ),
                ..Default::default()
            },
        ),
        (
            "fiscal_number as an array",
            Scenario {
                userinfo_payload: Some(
                    r#"{"sub":"forged-subject",
                        "https://attributes.eid.gov.it/fiscal_number":
                            ["TINIT-RSSMRA85T10A562S","TINIT-BNCGPP80A01H501X"]}"#
                        .into(),
                ),
                ..Default::default()
            },
        ),
    ];
    for (name, scenario) in cases {
        *fake.scenario.lock().unwrap() = scenario;
        let browser = new_client();
        let res = login(&app, &browser).await;
        let body = assert_problem(res, 403, "cie-response-invalid").await;
        assert!(
            body["detail"].as_str().unwrap().contains("non è valida"),
            "{name}"
        );
        assert_eq!(
            app.get_as(&browser, "/api/v1/me").await.status(),
            401,
            "{name}"
        );
    }
    assert_eq!(
        app.count("sessions"),
        1,
        "only the faithful login has a session"
    );
}

#[tokio::test]
async fn an_expired_subordinate_statement_breaks_the_chain() {
    let keys = rp_keys();
    let (fake, ta_file) = fake_federation(&keys).await;
    fake.scenario.lock().unwrap().statement_expired = true;
    let app = app_for(&fake, keys, ta_file).await;
    let res = get_accepting_json(&app.client, &app.url("/cie/login")).await;
    assert_problem(res, 502, "cie-provider-untrusted").await;
    assert_eq!(app.count("oidc_authorizations"), 0);
    assert_eq!(app.count("sessions"), 0);
}

#[test]
fn userinfo_with_a_refused_encryption_algorithm_is_not_opened() {
    let keys = RpKeys::load(&rp_keys()).unwrap();
    // RSA1_5 and `dir` are refused before any key is used.
    for alg in ["RSA1_5", "dir", "none"] {
        let header = json!({"alg": alg, "enc": "A128CBC-HS256"}).to_string();
        let h = b64url(header.as_bytes());
        let token = format!("{h}.AAAA.AAAA.AAAA.AAAA");
        let err = jose::decrypt(&token, &keys.encryption)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not allowed"), "{alg}: {err}");
    }
}

#[tokio::test]
async fn an_op_without_a_required_trust_mark_is_refused() {
    let keys = rp_keys();
    let (fake, ta_file) = fake_federation(&keys).await;
    let port = free_port();
    let (ta, op) = (format!("{}/ta", fake.base), format!("{}/op", fake.base));
    let app = spawn_app_with(|s| {
        s.server.port = port;
        s.server.public_url = format!("http://127.0.0.1:{port}");
        s.cie = cie_settings(keys, &ta, ta_file, &op);
        s.cie.required_trust_marks = vec!["https://www.spid.gov.it/certification/op".into()];
    })
    .await;
    let res = get_accepting_json(&app.client, &app.url("/cie/login")).await;
    assert_problem(res, 502, "cie-provider-untrusted").await;
    assert_eq!(app.count("oidc_authorizations"), 0);
}

/// Every algorithm the profile allows opens: RSA-OAEP-256 with A128CBC-HS256 around PS256
/// and ES256 signatures, as well as RSA-OAEP with A256CBC-HS512 around RS256.
#[test]
fn userinfo_opens_with_every_allowed_algorithm() {
    use josekit::jwe::{self, JweHeader};
    use josekit::jws::{self, JwsHeader};
    use sportello::auth::cie::open_userinfo;

    let rp = RpKeys::load(&rp_keys()).unwrap();
    // Our key advertises RSA-OAEP; an OP using RSA-OAEP-256 ignores that hint.
    let mut enc_map = rp.encryption.public.as_ref().clone();
    enc_map.remove("alg");
    let enc_jwk = josekit::jwk::Jwk::from_map(enc_map).unwrap();
    let rsa = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).unwrap();
    let ec =
        josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
    let mut rsa_pub = rsa.to_jwk_public_key();
    rsa_pub.set_key_id("op-rsa");
    let mut ec_pub = ec.to_jwk_public_key();
    ec_pub.set_key_id("op-ec");
    let op_jwks = json!({"keys": [
        Value::Object(rsa_pub.as_ref().clone()),
        Value::Object(ec_pub.as_ref().clone()),
    ]});
    let claims = json!({"sub": "s-1", "https://attributes.eid.gov.it/fiscal_number": "TINIT-RSSMRA85T10A562S"})
        .to_string();
    let signed = |alg: &str| -> String {
        let mut h = JwsHeader::new();
        let (kid, signer): (&str, Box<dyn jws::JwsSigner>) = match alg {
            "PS256" => (
                "op-rsa",
                Box::new(
                    jws::PS256
                        .signer_from_jwk(&rsa.to_jwk_private_key())
                        .unwrap(),
                ),
            ),
            "ES256" => (
                "op-ec",
                Box::new(
                    jws::ES256
                        .signer_from_jwk(&ec.to_jwk_private_key())
                        .unwrap(),
                ),
            ),
            _ => (
                "op-rsa",
                Box::new(
                    jws::RS256
                        .signer_from_jwk(&rsa.to_jwk_private_key())
                        .unwrap(),
                ),
            ),
        };
        h.set_key_id(kid);
        jws::serialize_compact(claims.as_bytes(), &h, signer.as_ref()).unwrap()
    };
    for (sig, alg, enc) in [
        ("PS256", "RSA-OAEP-256", "A128CBC-HS256"),
        ("ES256", "RSA-OAEP-256", "A256CBC-HS512"),
        ("RS256", "RSA-OAEP", "A128CBC-HS256"),
    ] {
        let mut h = JweHeader::new();
        h.set_content_encryption(enc);
        h.set_content_type("JWT");
        let inner = signed(sig);
        let token = if alg == "RSA-OAEP" {
            jwe::serialize_compact(
                inner.as_bytes(),
                &h,
                &jwe::RSA_OAEP.encrypter_from_jwk(&enc_jwk).unwrap(),
            )
        } else {
            jwe::serialize_compact(
                inner.as_bytes(),
                &h,
                &jwe::RSA_OAEP_256.encrypter_from_jwk(&enc_jwk).unwrap(),
            )
        }
        .unwrap();
        let got = open_userinfo(&token, &rp, &op_jwks, "s-1")
            .unwrap_or_else(|e| panic!("{sig}/{alg}/{enc}: {e:#}"));
        assert_eq!(
            got["https://attributes.eid.gov.it/fiscal_number"],
            "TINIT-RSSMRA85T10A562S"
        );
        assert!(
            open_userinfo(&token, &rp, &op_jwks, "s-2").is_err(),
            "sub mismatch accepted"
        );
    }
}

#[tokio::test]
async fn a_callback_opened_in_another_browser_is_refused() {
    let keys = rp_keys();
    let (fake, ta_file) = fake_federation(&keys).await;
    let app = app_for(&fake, keys, ta_file).await;
    let attacker = new_client();
    let res = attacker.get(app.url("/cie/login")).send().await.unwrap();
    let to_op = location(&res);
    let res = attacker.get(&to_op).send().await.unwrap();
    let callback = location(&res);
    let victim = new_client();
    let res = get_accepting_json(&victim, &callback).await;
    assert_problem(res, 403, "login-browser-mismatch").await;
    assert_eq!(app.count("sessions"), 0);
}

#[tokio::test]
async fn a_chain_through_an_intermediate_respects_max_path_length_and_policies() {
    // OP → intermediate → TA, the intermediate's statement narrowing the OP's metadata.
    let keys = rp_keys();
    let (fake, ta_file) = fake_federation(&keys).await;
    {
        let mut s = fake.scenario.lock().unwrap();
        s.via_intermediate = true;
        s.max_path_length = Some(1);
        // A policy the OP's metadata cannot meet: the chain is refused.
        s.policy = Some(json!({"token_endpoint": {"one_of": ["https://elsewhere.example/token"]}}));
    }
    let app = app_for(&fake, keys.clone(), ta_file.clone()).await;
    let res = get_accepting_json(&app.client, &app.url("/cie/login")).await;
    assert_problem(res, 502, "cie-provider-untrusted").await;

    // A policy it meets (and a `default` it adds): the whole login works through the chain.
    fake.scenario.lock().unwrap().policy =
        Some(json!({"acr_values_supported": {"default": ["https://www.spid.gov.it/SpidL2"]}}));
    let app = app_for(&fake, keys.clone(), ta_file.clone()).await;
    let browser = new_client();
    let res = login(&app, &browser).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());

    // One intermediate where the anchor allows none.
    fake.scenario.lock().unwrap().max_path_length = Some(0);
    let app = app_for(&fake, keys, ta_file).await;
    let res = get_accepting_json(&app.client, &app.url("/cie/login")).await;
    assert_problem(res, 502, "cie-provider-untrusted").await;
}
