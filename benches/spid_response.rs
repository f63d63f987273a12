//! Verify + validate one signed SPID Response, per second on one core: Sportello's ACS checks
//! (`auth::spid::response::validate`: shape, both signatures with libxmlsec1 in-process,
//! reduction to the signed content, every SPID rule) against pysaml2 (what spid-django,
//! djangosaml2 and SATOSA run), on the same Response, in one run.
//!
//!   cargo bench --bench spid_response -- [--seconds 10]
//!
//! Needs the test virtualenv (`SPORTELLO_TEST_PYTHON`, made by `./scripts/test`): the Response
//! is produced by `tests/peers/spid_idp.py` (spid-sp-test's "case 1", signed by xmlsec1) for
//! an AuthnRequest signed here, and `benches/spid_pysaml2.py` measures pysaml2 on it.
//! Without `--bench` (under `cargo test`) it runs a short round and checks both sides accept
//! the Response.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use openssl::pkey::PKey;
use sportello::auth::spid::certificate::{generate, write, CertificateRequest};
use sportello::auth::spid::idp::IdpRegistry;
use sportello::auth::spid::messages::authn_request;
use sportello::auth::spid::metadata::{sp_metadata, SpConfig};
use sportello::auth::spid::redirect::{signed_query, url_with_query};
use sportello::auth::spid::response::{validate, Expected};
use sportello::auth::AuthLevel;

const SP: &str = "https://sportello.comune.example.it";
const IDP: &str = "https://localhost:8443";

fn python() -> PathBuf {
    PathBuf::from(std::env::var("SPORTELLO_TEST_PYTHON").unwrap_or_else(|_| {
        eprintln!("SPORTELLO_TEST_PYTHON is not set: run ./scripts/test once to make the venv");
        std::process::exit(2)
    }))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn main() {
    let mut seconds = 10u64;
    let mut bench = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => bench = true,
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds N"),
            _ => {}
        }
    }
    if !bench {
        seconds = 1;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("sportello-spid-bench-{}", uuid::Uuid::new_v4()));

    // The SP: key, certificate, signed metadata.
    let (key_path, cert_path) = write(
        &dir,
        &generate(&CertificateRequest {
            entity_id: SP.into(),
            ipa_code: "c_x000".into(),
            organization_name: "Comune di Esempio".into(),
            common_name: "Comune di Esempio".into(),
            locality: "Esempio".into(),
            key_bits: 2048,
            days: 30,
            digest: "sha256".into(),
        })
        .expect("SP certificate"),
    )
    .expect("write SP certificate");
    let key_pem = std::fs::read(&key_path).unwrap();
    let cert_pem = std::fs::read(&cert_path).unwrap();
    let md = sp_metadata(
        &SpConfig {
            entity_id: SP.into(),
            base_url: SP.into(),
            service_name: "Sportello".into(),
            organization_name: "Comune di Esempio".into(),
            organization_display_name: "Comune di Esempio".into(),
            organization_url: "https://www.comune.example.it".into(),
            ipa_code: "c_x000".into(),
            contact_email: "protocollo@comune.example.it".into(),
            contact_phone: None,
        },
        &key_pem,
        &cert_pem,
    )
    .expect("SP metadata");
    let md_file = dir.join("sp-metadata.xml");
    std::fs::write(&md_file, md).unwrap();

    // The IdP: a fresh key pair and spid-sp-test's IdP metadata for it.
    let idp_certs = dir.join("idp-cert");
    std::fs::create_dir_all(&idp_certs).unwrap();
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=spid-sp-test IdP", "-keyout"])
        .arg(idp_certs.join("private.key"))
        .arg("-out")
        .arg(idp_certs.join("public.cert")));
    let tool = python().parent().unwrap().join("spid_sp_test");
    let idp_md = run(Command::new(tool)
        .arg("--idp-metadata")
        .env("IDP_CERT_PATH", &idp_certs));
    let idp_dir = dir.join("idps");
    std::fs::create_dir_all(&idp_dir).unwrap();
    let idp_md_file = idp_dir.join("idp.xml");
    std::fs::write(&idp_md_file, &idp_md).unwrap();
    let registry = IdpRegistry::load_dir(&idp_dir).expect("IdP registry");
    let idp = registry.get(IDP).expect("test IdP");

    // A signed AuthnRequest (level 2), answered by the IdP peer.
    let issued = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now().naive_utc(), 0);
    let request_id = "_bench0123456789abcdef";
    let destination = idp.sso_redirect.clone().unwrap();
    let xml = authn_request(request_id, issued, &destination, SP, AuthLevel::L2);
    let key = PKey::private_key_from_pem(&key_pem).unwrap();
    let query = signed_query("SAMLRequest", &xml, Some("bench"), &key).unwrap();
    let answer: serde_json::Value = serde_json::from_str(&run(Command::new(python())
        .arg(repo.join("tests/peers/spid_idp.py"))
        .args(["response", "--sp-metadata"])
        .arg(&md_file)
        .args(["--authn-url", &url_with_query(&destination, &query)])
        .env("IDP_CERT_PATH", &idp_certs)))
    .expect("peer JSON");
    let b64 = answer["SAMLResponse"].as_str().unwrap().to_owned();
    let response_file = dir.join("response.b64");
    std::fs::write(&response_file, &b64).unwrap();
    let xml = openssl::base64::decode_block(&b64).unwrap();

    // Sportello: one thread, in-process.
    let acs = format!("{SP}/spid/acs");
    let check = || {
        let now = chrono::Utc::now().naive_utc();
        let exp = Expected {
            sp_entity_id: SP,
            acs_url: &acs,
            request_id,
            request_issued: issued,
            idp,
            level: AuthLevel::L2,
            now,
            skew: chrono::Duration::seconds(60),
        };
        let login = validate(&xml, &exp).expect("Sportello accepts the Response");
        assert_eq!(login.attributes["fiscalNumber"], "TINIT-GDASDV00A01H501J");
    };
    for _ in 0..3 {
        check();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        check();
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let ours = n as f64 / secs;
    println!(
        "{{\"implementation\": \"sportello {}\", \"iterations\": {n}, \"seconds\": {secs:.3}, \"per_second\": {ours:.1}, \"mean_ms\": {:.3}}}",
        env!("CARGO_PKG_VERSION"),
        1000.0 / ours
    );

    // pysaml2 on the same Response.
    let theirs = run(Command::new(python())
        .arg(repo.join("benches/spid_pysaml2.py"))
        .arg("--response")
        .arg(&response_file)
        .args(["--in-response-to", request_id, "--sp-metadata"])
        .arg(&md_file)
        .arg("--sp-key")
        .arg(&key_path)
        .arg("--sp-cert")
        .arg(&cert_path)
        .arg("--idp-metadata")
        .arg(&idp_md_file)
        .args(["--seconds", &seconds.to_string()]));
    print!("{theirs}");
    let theirs: serde_json::Value = serde_json::from_str(theirs.trim()).expect("pysaml2 JSON");
    let per_second = theirs["per_second"].as_f64().expect("per_second");
    println!("sportello / pysaml2: {:.1}x", ours / per_second);
    let _ = std::fs::remove_dir_all(&dir);
}
