//! SPID login end to end: AgID's `spid-sp-test` drives `/spid/login` and posts its 111
//! response cases to `/spid/acs`; a SAML identity provider built on pysaml2 and
//! spid-sp-test's templates (`tests/peers/spid_idp.py`) answers our own scenarios (replay,
//! levels, single logout both ways, session fixation).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::helpers::*;
use crate::spid_metadata::{keys, run_spid_sp_test, spid_settings};

pub const TEST_IDP: &str = "https://localhost:8443";

/// The app with SPID on, reachable at its public URL, trusting spid-sp-test's IdP.
pub struct SpidApp {
    pub app: TestApp,
    /// The IdP's key pair directory (`IDP_CERT_PATH`).
    pub idp_cert_path: PathBuf,
    /// The SP metadata, saved for the peers.
    pub metadata_file: PathBuf,
}

pub async fn spid_app() -> SpidApp {
    spid_app_with(|_| {}).await
}

pub async fn spid_app_with(customize: impl FnOnce(&mut sportello::config::Settings)) -> SpidApp {
    let (key, cert) = keys();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let spid = spid_settings(&key, &cert);
    let idp_cert_path = spid.idp_metadata_dir.clone().unwrap().join("idp-cert");
    let app = spawn_app_with(|s| {
        s.server.port = port;
        s.server.public_url = base.clone();
        s.spid = spid;
        customize(s);
    })
    .await;
    let md = app.get("/spid/metadata").await.text().await.unwrap();
    let metadata_file = key.with_file_name("sp-metadata.xml");
    std::fs::write(&metadata_file, md).unwrap();
    SpidApp {
        app,
        idp_cert_path,
        metadata_file,
    }
}

/// Runs spid_sp_test against the app; returns (executed, failed, output).
fn spid_sp_test(sa: &SpidApp, args: &[&str]) -> (u32, u32, String) {
    let (executed, failed, text) =
        run_spid_sp_test(&sa.metadata_file, Some(&sa.idp_cert_path), args);
    let what = if args.contains(&"-tr") {
        "responses (-tr)"
    } else {
        "AuthnRequest (--extra)"
    };
    report(&format!(
        "{what}: executed {executed} tests, {failed} failed"
    ));
    (executed, failed, text)
}

/// Appends a conformance line for `./scripts/test`'s summary.
pub fn report(line: &str) {
    use std::io::Write;
    let dir = repo_dir().join("target/conformance");
    std::fs::create_dir_all(&dir).unwrap();
    let backend = match std::env::var("SPORTELLO_TEST_DATABASE") {
        Ok(v) if v.starts_with("postgres") => "postgresql",
        _ => "sqlite",
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("spid-sp-test-{backend}.txt")))
        .unwrap();
    writeln!(f, "  [{backend}] {line}").unwrap();
}

fn failures(text: &str) -> String {
    text.lines()
        .filter(|l| l.contains('❌') || l.to_lowercase().contains("fail") || l.contains("ERROR"))
        .take(60)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn spid_sp_test_authn_request_checks_pass() {
    let sa = spid_app().await;
    let url = sa.app.url(&format!("/spid/login?idp={TEST_IDP}"));
    let (executed, failed, text) = spid_sp_test(&sa, &["--authn-url", &url, "--extra"]);
    assert!(executed >= 100, "only {executed} checks ran: {text}");
    assert_eq!(failed, 0, "{}\n{text}", failures(&text));
}

#[tokio::test]
async fn spid_sp_test_all_response_cases_pass() {
    let sa = spid_app().await;
    let url = sa.app.url(&format!("/spid/login?idp={TEST_IDP}"));
    let (executed, failed, text) = spid_sp_test(&sa, &["--authn-url", &url, "-tr"]);
    let responses = text.matches("Test [").count();
    println!("spid-sp-test response cases run: {responses}");
    report(&format!("response cases run: {responses}"));
    assert!(executed >= 111, "only {executed} checks ran: {text}");
    assert_eq!(failed, 0, "{}\n{text}", failures(&text));
}

fn peer(sa: &SpidApp, args: &[&str]) -> std::process::Output {
    let python = std::env::var("SPORTELLO_TEST_PYTHON").expect("SPORTELLO_TEST_PYTHON");
    Command::new(python)
        .arg(repo_dir().join("tests/peers/spid_idp.py"))
        .args(args)
        .args(["--sp-metadata", &path_of(&sa.metadata_file)])
        .env("IDP_CERT_PATH", &sa.idp_cert_path)
        .output()
        .expect("run the SPID IdP peer")
}

/// Runs the IdP peer and returns its JSON answer.
fn idp(sa: &SpidApp, args: &[&str]) -> Value {
    let out = peer(sa, args);
    assert!(
        out.status.success(),
        "IdP peer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("peer JSON")
}

fn path_of(p: &Path) -> String {
    p.display().to_string()
}

/// `GET /spid/login?…` with this browser; returns the IdP URL it is sent to.
async fn start_login(sa: &SpidApp, client: &reqwest::Client, query: &str) -> String {
    let res = client
        .get(sa.app.url(&format!("/spid/login?idp={TEST_IDP}{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "{}", res.text().await.unwrap());
    let loc = location(&res);
    assert!(
        loc.starts_with("https://localhost:8443/samlsso?SAMLRequest="),
        "{loc}"
    );
    loc
}

async fn post_acs(sa: &SpidApp, client: &reqwest::Client, answer: &Value) -> reqwest::Response {
    client
        .post(sa.app.url("/spid/acs"))
        .header("accept", "application/json")
        .form(&[
            ("SAMLResponse", answer["SAMLResponse"].as_str().unwrap()),
            ("RelayState", answer["RelayState"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
}

/// A whole SPID login with this browser; returns the IdP's answer (ids, session index).
async fn spid_login(sa: &SpidApp, client: &reqwest::Client, query: &str, extra: &[&str]) -> Value {
    let loc = start_login(sa, client, query).await;
    let mut args = vec!["response", "--authn-url", &loc];
    args.extend_from_slice(extra);
    let answer = idp(sa, &args);
    let res = post_acs(sa, client, &answer).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    answer
}

async fn me(sa: &SpidApp, client: &reqwest::Client) -> reqwest::Response {
    sa.app.get_as(client, "/api/v1/me").await
}

#[tokio::test]
async fn a_spid_login_opens_the_citizen_session_and_goes_on_to_next() {
    let sa = spid_app().await;
    let browser = new_client();
    let loc = start_login(&sa, &browser, "&level=2&next=/api/v1/me/instances").await;
    // The RelayState is opaque, never the address the browser returns to.
    assert!(!loc.contains("instances"), "{loc}");
    let answer = idp(
        &sa,
        &[
            "response",
            "--authn-url",
            &loc,
            "--name",
            "Maria",
            "--family-name",
            "Rossi",
        ],
    );
    let res = post_acs(&sa, &browser, &answer).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/api/v1/me/instances");
    let me = me(&sa, &browser).await.json::<Value>().await.unwrap();
    assert_eq!(me["kind"], "citizen");
    assert_eq!(me["codice_fiscale"], "GDASDV00A01H501J");
    assert_eq!(me["given_name"], "Maria");
    assert_eq!(me["family_name"], "Rossi");
    assert_eq!(me["email"], "spid.tech@agid.gov.it");
    assert_eq!(me["auth_method"], "spid");
    assert_eq!(me["auth_level"], 2);
    assert_eq!(me["idp"], TEST_IDP);
    // The login request was answered once and is gone; the assertion is remembered.
    assert_eq!(sa.app.count("spid_authn_requests"), 0);
    assert_eq!(sa.app.count("spid_assertions"), 1);
    assert_eq!(sa.app.count("spid_sessions"), 1);
}

#[tokio::test]
async fn a_replayed_response_or_assertion_is_refused() {
    let sa = spid_app().await;
    let browser = new_client();
    let first = spid_login(&sa, &browser, "", &[]).await;
    // The same Response again: its request has been answered.
    let attacker = new_client();
    let res = post_acs(&sa, &attacker, &first).await;
    assert_problem(res, 403, "spid-login-unknown").await;
    assert_eq!(me(&sa, &attacker).await.status(), 401);
    // A new request answered with an assertion already used: refused as a replay.
    let loc = start_login(&sa, &attacker, "").await;
    let assertion_id = first["assertion_id"].as_str().unwrap();
    let again = idp(
        &sa,
        &[
            "response",
            "--authn-url",
            &loc,
            "--assertion-id",
            assertion_id,
        ],
    );
    let res = post_acs(&sa, &attacker, &again).await;
    assert_problem(res, 403, "spid-response-replayed").await;
    assert_eq!(me(&sa, &attacker).await.status(), 401);
}

#[tokio::test]
async fn unknown_idps_and_bad_login_links_are_refused() {
    let sa = spid_app().await;
    let browser = &sa.app.client;
    let res = browser
        .get(sa.app.url("/spid/login?idp=https://idp.evil.example"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "spid-unknown-idp").await;
    for (query, slug) in [
        ("&next=https://evil.example/", "invalid-next"),
        ("&next=//evil.example/", "invalid-next"),
        ("&level=4", "invalid-level"),
    ] {
        let res = browser
            .get(sa.app.url(&format!("/spid/login?idp={TEST_IDP}{query}")))
            .send()
            .await
            .unwrap();
        assert_problem(res, 400, slug).await;
    }
    assert_eq!(sa.app.count("spid_authn_requests"), 0);
    // A response signed by a key the IdP's metadata does not have.
    let loc = start_login(&sa, browser, "").await;
    let other = std::env::temp_dir().join(format!("sportello-other-idp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&other).unwrap();
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=forger",
        ])
        .arg("-keyout")
        .arg(other.join("private.key"))
        .arg("-out")
        .arg(other.join("public.cert"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    let forger = SpidApp {
        app: TestApp {
            address: sa.app.address.clone(),
            db_url: sa.app.db_url.clone(),
            db: sa.app.db.clone(),
            state: sa.app.state.clone(),
            client: new_client(),
            metrics_port: None,
        },
        idp_cert_path: other,
        metadata_file: sa.metadata_file.clone(),
    };
    let forged = idp(&forger, &["response", "--authn-url", &loc]);
    assert_problem(
        post_acs(&sa, browser, &forged).await,
        403,
        "spid-response-invalid",
    )
    .await;
    assert_eq!(me(&sa, browser).await.status(), 401);
    // Responses that are not SAML at all.
    let res = browser
        .post(sa.app.url("/spid/acs"))
        .header("accept", "application/json")
        .form(&[("SAMLResponse", "bm90IHhtbA=="), ("RelayState", "x")])
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "spid-response-invalid").await;
}

#[tokio::test]
async fn a_failed_authentication_shows_an_italian_page_with_a_4xx_status() {
    let sa = spid_app().await;
    let browser = &sa.app.client;
    let loc = start_login(&sa, browser, "").await;
    let answer = idp(&sa, &["response", "--authn-url", &loc, "--level", "1"]);
    let res = browser
        .post(sa.app.url("/spid/acs"))
        .header("accept", "text/html")
        .form(&[
            ("SAMLResponse", answer["SAMLResponse"].as_str().unwrap()),
            ("RelayState", answer["RelayState"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(page.contains("Accesso con SPID non riuscito"), "{page}");
    assert!(
        !page.contains("level 1 returned"),
        "the reason is for the log only"
    );
}

#[tokio::test]
async fn a_login_always_gets_a_new_session() {
    let sa = spid_app().await;
    let browser = &sa.app.client;
    let res = sa.app.login_citizen(CITIZEN_CF).await;
    let old_cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    spid_login(&sa, browser, "", &[]).await;
    let me_now = me(&sa, browser).await.json::<Value>().await.unwrap();
    assert_eq!(me_now["codice_fiscale"], "GDASDV00A01H501J");
    // The session the browser had before is over: its cookie opens nothing.
    let res = new_client()
        .get(sa.app.url("/api/v1/me"))
        .header("cookie", &old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(sa.app.count("sessions"), 1);
}

#[tokio::test]
async fn each_service_asks_for_its_spid_level() {
    let sa = spid_app().await;
    let browser = sa.app.client.clone();
    spid_login(&sa, &browser, "&level=1", &["--level", "1"]).await;
    assert_eq!(
        me(&sa, &browser).await.json::<Value>().await.unwrap()["auth_level"],
        1
    );
    // Residence requires level 2: refused, with the level to log in at.
    let id = sa
        .app
        .ready_draft(
            "cambio-di-residenza",
            form_fixture("cambio-di-residenza", "valid"),
        )
        .await;
    let body = assert_problem(sa.app.submit(&id, None).await, 403, "login-level").await;
    assert_eq!(body["required_level"], 2);
    // A new login at level 2 (the IdP may even answer 3) and the same draft goes through.
    spid_login(&sa, &browser, "&level=2", &["--level", "3"]).await;
    assert_eq!(
        me(&sa, &browser).await.json::<Value>().await.unwrap()["auth_level"],
        3
    );
    assert_eq!(sa.app.submit(&id, None).await.status(), 201);
}

#[tokio::test]
async fn single_logout_started_here_reaches_the_idp_and_comes_back() {
    let sa = spid_app().await;
    let browser = &sa.app.client;
    let answer = spid_login(&sa, browser, "", &["--session-index", "_sess-42"]).await;
    let res = browser
        .post(sa.app.url("/spid/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let loc = location(&res);
    assert!(
        loc.starts_with("https://localhost:8443/samlsso?SAMLRequest="),
        "{loc}"
    );
    // Ended here at once.
    assert_eq!(me(&sa, browser).await.status(), 401);
    // The IdP reads a signed LogoutRequest about that NameID and session.
    let req = idp(&sa, &["parse-logout-request", "--url", &loc]);
    assert_eq!(req["name_id"], answer["name_id"]);
    assert_eq!(req["session_indexes"], serde_json::json!(["_sess-42"]));
    assert_eq!(req["destination"], "https://localhost:8443/samlsso");
    // Its LogoutResponse brings the browser back to the page after logout.
    let rs = req["relay_state"].as_str().unwrap();
    let id = req["id"].as_str().unwrap();
    let back = idp(
        &sa,
        &[
            "logout-response",
            "--in-response-to",
            id,
            "--relay-state",
            rs,
        ],
    );
    let url = back["url"].as_str().unwrap();
    assert!(url.starts_with(&sa.app.url("/spid/slo?")), "{url}");
    let res = browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    // Answered once.
    let res = get_accepting_json(browser, url).await;
    assert_problem(res, 403, "spid-logout-invalid").await;
    // A LogoutResponse to a request never sent is refused.
    let stray = idp(
        &sa,
        &[
            "logout-response",
            "--in-response-to",
            "_never-sent",
            "--relay-state",
            rs,
        ],
    );
    let res = get_accepting_json(browser, stray["url"].as_str().unwrap()).await;
    assert_problem(res, 403, "spid-logout-invalid").await;
}

#[tokio::test]
async fn single_logout_started_by_the_idp_ends_the_session_both_bindings() {
    let sa = spid_app().await;
    for binding in ["redirect", "post"] {
        let browser = new_client();
        let answer = spid_login(&sa, &browser, "", &[]).await;
        let name_id = answer["name_id"].as_str().unwrap();
        let session_index = answer["session_index"].as_str().unwrap();
        let req = idp(
            &sa,
            &[
                "logout-request",
                "--name-id",
                name_id,
                "--session-index",
                session_index,
                "--binding",
                binding,
            ],
        );
        let front_channel = new_client();
        let res = if binding == "redirect" {
            front_channel
                .get(req["url"].as_str().unwrap())
                .send()
                .await
                .unwrap()
        } else {
            let form: Vec<(String, String)> = req["form"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            front_channel
                .post(req["url"].as_str().unwrap())
                .form(&form)
                .send()
                .await
                .unwrap()
        };
        assert_eq!(
            res.status(),
            302,
            "{binding}: {}",
            res.text().await.unwrap()
        );
        let loc = location(&res);
        assert!(
            loc.starts_with("https://localhost:8443/samlsso?SAMLResponse="),
            "{loc}"
        );
        let resp = idp(&sa, &["parse-logout-response", "--url", &loc]);
        assert_eq!(resp["in_response_to"], req["id"], "{binding}");
        assert_eq!(resp["status"], "urn:oasis:names:tc:SAML:2.0:status:Success");
        // The user's browser is logged out on the server.
        assert_eq!(me(&sa, &browser).await.status(), 401, "{binding}");
    }
    assert_eq!(sa.app.count("spid_sessions"), 0);
}

#[tokio::test]
async fn unsigned_or_forged_logout_requests_end_nothing() {
    let sa = spid_app().await;
    let browser = new_client();
    let answer = spid_login(&sa, &browser, "", &[]).await;
    let name_id = answer["name_id"].as_str().unwrap();
    let session_index = answer["session_index"].as_str().unwrap();
    let req = idp(
        &sa,
        &[
            "logout-request",
            "--name-id",
            name_id,
            "--session-index",
            session_index,
        ],
    );
    let url = req["url"].as_str().unwrap();
    // Without its signature, or with another RelayState than the one signed.
    let unsigned = url.split("&SigAlg=").next().unwrap().to_owned();
    let tampered = if url.contains("RelayState=") {
        url.replacen("RelayState=", "RelayState=x", 1)
    } else {
        format!(
            "{}&RelayState=x&SigAlg={}",
            unsigned,
            url.split("&SigAlg=").nth(1).unwrap()
        )
    };
    for bad in [unsigned, tampered] {
        let res = get_accepting_json(&new_client(), &bad).await;
        assert_problem(res, 403, "spid-logout-invalid").await;
    }
    assert_eq!(me(&sa, &browser).await.status(), 200);
}

#[tokio::test]
async fn a_response_brought_by_another_browser_is_refused() {
    // Login CSRF: the attacker starts a login with their own identity and makes the victim's
    // browser post the response. The victim's browser does not hold the login's cookie.
    let sa = spid_app().await;
    let attacker = new_client();
    let loc = start_login(&sa, &attacker, "").await;
    let answer = idp(&sa, &["response", "--authn-url", &loc]);
    let victim = new_client();
    let res = post_acs(&sa, &victim, &answer).await;
    assert_problem(res, 403, "login-browser-mismatch").await;
    assert_eq!(me(&sa, &victim).await.status(), 401);
    assert_eq!(sa.app.count("sessions"), 0);
}

#[tokio::test]
async fn a_response_whose_identity_can_be_read_two_ways_is_refused() {
    // Correctly signed, but which codice fiscale is it? Two fiscalNumber attributes, or one
    // with two values: no login, whichever value a parser would keep.
    let sa = spid_app().await;
    for extra in [
        [
            "--duplicate-attribute",
            "fiscalNumber=TINIT-RSSMRA85T10A562S",
        ],
        ["--extra-value", "fiscalNumber=TINIT-RSSMRA85T10A562S"],
        ["--duplicate-attribute", "email=someone.else@example.org"],
    ] {
        let browser = new_client();
        let loc = start_login(&sa, &browser, "").await;
        let mut args = vec!["response", "--authn-url", &loc];
        args.extend_from_slice(&extra);
        let answer = idp(&sa, &args);
        let res = post_acs(&sa, &browser, &answer).await;
        assert_problem(res, 403, "spid-response-invalid").await;
        assert_eq!(me(&sa, &browser).await.status(), 401, "{extra:?}");
    }
    assert_eq!(sa.app.count("sessions"), 0);
    assert_eq!(sa.app.count("citizens"), 0);
}

#[tokio::test]
async fn an_entity_bomb_in_any_encoding_is_refused_before_anything_else() {
    // The review's attack at the ACS: a big internal entity referenced a thousand times,
    // encoded so that a byte search for "<!DOCTYPE" does not see it.
    let sa = spid_app().await;
    let browser = new_client();
    let loc = start_login(&sa, &browser, "").await;
    let answer = idp(&sa, &["response", "--authn-url", &loc]);
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\
         <!DOCTYPE samlp:Response [<!ENTITY big \"{}\">]>\
         <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_1\" \
         InResponseTo=\"{}\"><saml:Issuer>{}</saml:Issuer></samlp:Response>",
        "A".repeat(40_000),
        answer["in_response_to"].as_str().unwrap(),
        "&big;".repeat(1000)
    );
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(doc.encode_utf16().flat_map(u16::to_le_bytes));
    let mut bomb = answer.clone();
    bomb["SAMLResponse"] = openssl::base64::encode_block(&utf16).into();
    let res = post_acs(&sa, &browser, &bomb).await;
    assert_problem(res, 403, "spid-response-invalid").await;
    // Refused before the pending login was even looked up: the real answer still works.
    let res = post_acs(&sa, &browser, &answer).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
}
