//! `GET /spid/metadata`: signed SP metadata that passes AgID's `spid-sp-test`
//! (profile spid-sp-public, --extra) and `xmlsec1 --verify`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;
use sportello::auth::spid::certificate::{generate, write, CertificateRequest};
use sportello::config::SpidSettings;

const ENTITY: &str = "https://sportello.comune.example.it";

pub fn keys() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("sportello-spid-md-{}", uuid::Uuid::new_v4()));
    let g = generate(&CertificateRequest {
        entity_id: ENTITY.into(),
        ipa_code: "c_x000".into(),
        organization_name: "Comune di Esempio".into(),
        common_name: "Comune di Esempio".into(),
        locality: "Esempio".into(),
        key_bits: 2048,
        days: 365,
        digest: "sha256".into(),
    })
    .unwrap();
    write(&dir, &g).unwrap()
}

/// A self-signed certificate (PEM) and key (PEM) for a test IdP.
fn idp_keypair(cn: &str) -> (Vec<u8>, Vec<u8>) {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (
        b.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

/// A directory with the metadata of spid-sp-test's IdP (https://localhost:8443), made by
/// `spid_sp_test --idp-metadata` with a fresh key pair (its built-in certificate expired).
pub fn idp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-idps-{}", uuid::Uuid::new_v4()));
    let certs = dir.join("idp-cert");
    std::fs::create_dir_all(&certs).unwrap();
    let (cert, key) = idp_keypair("spid-sp-test IdP");
    std::fs::write(certs.join("public.cert"), cert).unwrap();
    std::fs::write(certs.join("private.key"), key).unwrap();
    let out = Command::new(venv_tool("spid_sp_test"))
        .arg("--idp-metadata")
        .env("IDP_CERT_PATH", &certs)
        .output()
        .expect("run spid_sp_test --idp-metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("spid-sp-test.xml"), &out.stdout).unwrap();
    dir
}

pub fn spid_settings(key: &Path, cert: &Path) -> SpidSettings {
    SpidSettings {
        idp_metadata_dir: Some(idp_dir()),
        enabled: true,
        entity_id: None,
        key_file: Some(key.to_owned()),
        cert_file: Some(cert.to_owned()),
        service_name: Some("Sportello online del cittadino".into()),
        organization_name: Some("Comune di Esempio".into()),
        organization_display_name: None,
        organization_url: Some("https://www.comune.esempio.example".into()),
        ipa_code: Some("c_x000".into()),
        contact_email: Some("protocollo@comune.esempio.example".into()),
        contact_phone: Some("+390612345678".into()),
        ..SpidSettings::default()
    }
}

pub fn venv_tool(name: &str) -> PathBuf {
    let python = std::env::var("SPORTELLO_TEST_PYTHON")
        .expect("SPORTELLO_TEST_PYTHON (the test virtualenv): run ./scripts/test");
    Path::new(&python).parent().expect("venv bin").join(name)
}

/// Runs AgID's spid_sp_test (profile spid-sp-public) on a metadata file, trusting the IdP key
/// pair in `idp_cert_path` when given; returns (executed, failed, output).
pub fn run_spid_sp_test(
    metadata: &Path,
    idp_cert_path: Option<&Path>,
    args: &[&str],
) -> (u32, u32, String) {
    let mut cmd = Command::new(venv_tool("spid_sp_test"));
    if let Some(dir) = idp_cert_path {
        cmd.env("IDP_CERT_PATH", dir);
    }
    let out = cmd
        .args(["--metadata-url", &format!("file://{}", metadata.display())])
        .args(["--profile", "spid-sp-public"])
        .args(args)
        .output()
        .expect("run spid_sp_test");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains("executed") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no summary from spid_sp_test: {text}"))
        .to_owned();
    println!("spid-sp-test {args:?}: {summary}");
    let number_before = |word: &str| -> u32 {
        let i = summary.find(word).unwrap_or_else(|| panic!("{summary}"));
        summary[..i]
            .split_whitespace()
            .last()
            .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .unwrap_or_else(|| panic!("{summary}"))
    };
    (number_before("tests"), number_before("failed"), text)
}

/// The metadata checks (`--extra`).
fn spid_sp_test(file: &Path) -> (u32, u32, String) {
    run_spid_sp_test(file, None, &["--extra"])
}

fn xmlsec_verifies(file: &Path, cert: &Path) -> bool {
    Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(cert)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
        ])
        .arg(file)
        .output()
        .expect("run xmlsec1")
        .status
        .success()
}

#[tokio::test]
async fn the_signed_metadata_passes_spid_sp_test_and_xmlsec() {
    let (key, cert) = keys();
    let app = spawn_app_with(|s| {
        s.server.public_url = ENTITY.into();
        s.spid = spid_settings(&key, &cert);
    })
    .await;
    let res = app.get("/spid/metadata").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let xml = res.text().await.unwrap();
    for needle in [
        &format!("entityID=\"{ENTITY}\""),
        "AuthnRequestsSigned=\"true\"",
        "WantAssertionsSigned=\"true\"",
        &format!("Location=\"{ENTITY}/spid/acs\""),
        "<spid:IPACode>c_x000</spid:IPACode>",
        "<spid:Public/>",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "<md:RequestedAttribute Name=\"fiscalNumber\"/>",
    ] {
        assert!(xml.contains(needle), "missing {needle}");
    }
    assert!(!xml.contains("#sha1"), "SHA-1 in the signature");

    let file = key.with_file_name("metadata.xml");
    std::fs::write(&file, &xml).unwrap();
    assert!(xmlsec_verifies(&file, &cert), "xmlsec1 --verify failed");
    let (executed, failed, text) = spid_sp_test(&file);
    assert!(executed >= 100, "only {executed} checks ran: {text}");
    assert_eq!(failed, 0, "{text}");
    crate::spid_login::report(&format!(
        "metadata (--extra): executed {executed} tests, {failed} failed"
    ));

    // A tampered copy fails both: the checks can fail.
    let tampered = key.with_file_name("tampered.xml");
    std::fs::write(
        &tampered,
        xml.replace(
            "Comune di Esempio</md:OrganizationName>",
            "Comune di Altrove</md:OrganizationName>",
        ),
    )
    .unwrap();
    assert!(!xmlsec_verifies(&tampered, &cert));
    let (_, failed, _) = spid_sp_test(&tampered);
    assert!(failed >= 1);
}

#[tokio::test]
async fn without_spid_there_is_no_metadata() {
    let app = spawn_app().await;
    assert_problem(app.get("/spid/metadata").await, 404, "not-found").await;
}

#[test]
fn spid_settings_are_checked() {
    let (key, cert) = keys();
    let mut s = test_settings();
    s.spid = spid_settings(&key, &cert);
    s.validate().expect("valid");
    let mut bad = s.clone();
    bad.spid.key_file = None;
    assert_eq!(bad.validate().unwrap_err().key, "spid.key_file");
    let mut bad = s.clone();
    bad.spid.ipa_code = None;
    assert_eq!(bad.validate().unwrap_err().key, "spid.ipa_code");
    let mut bad = s.clone();
    bad.spid.contact_email = Some("non-valida".into());
    assert_eq!(bad.validate().unwrap_err().key, "spid.contact_email");
    let mut bad = s.clone();
    bad.spid.idp_metadata_dir = None;
    assert_eq!(bad.validate().unwrap_err().key, "spid.idp_metadata_dir");
    let mut bad = s.clone();
    bad.spid.contact_phone = Some("06 1234".into());
    assert_eq!(bad.validate().unwrap_err().key, "spid.contact_phone");
    // A key that does not belong to the certificate is refused when the metadata is built.
    let (other_key, _) = keys();
    let mut bad = s.clone();
    bad.spid.key_file = Some(other_key);
    let e = sportello::auth::spid::metadata::build(&bad.spid, "https://x.example").unwrap_err();
    assert_eq!(e.key, "spid.key_file");
    assert!(e.message.contains("does not belong"), "{e}");
}

fn b64_der(pem: &[u8]) -> String {
    let c = openssl::x509::X509::from_pem(pem).unwrap();
    openssl::base64::encode_block(&c.to_der().unwrap())
}

fn idp_entity(entity_id: &str, name: &str, cert_pem: &[u8]) -> String {
    format!(
        r#"<md:EntityDescriptor entityID="{entity_id}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{entity_id}/slo"/><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{entity_id}/sso"/></md:IDPSSODescriptor><md:Organization><md:OrganizationName xml:lang="it">{name} S.p.A.</md:OrganizationName><md:OrganizationDisplayName xml:lang="it">{name}</md:OrganizationDisplayName><md:OrganizationURL xml:lang="it">{entity_id}</md:OrganizationURL></md:Organization></md:EntityDescriptor>"#,
        b64_der(cert_pem)
    )
}

#[tokio::test]
async fn identity_providers_are_read_from_their_metadata_and_listed() {
    let (key, cert) = keys();
    let mut settings_spid = spid_settings(&key, &cert);
    let dir = settings_spid.idp_metadata_dir.clone().unwrap();
    // An aggregate with two more IdPs, as AgID's registry publishes them.
    let (c1, _) = idp_keypair("idp one");
    let (c2, _) = idp_keypair("idp two");
    std::fs::write(
        dir.join("registry.xml"),
        format!(
            r#"<?xml version="1.0"?><md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{}{}</md:EntitiesDescriptor>"#,
            idp_entity("https://zeta.idp.example", "Zeta ID", &c1),
            idp_entity("https://alfa.idp.example", "Alfa ID", &c2)
        ),
    )
    .unwrap();
    settings_spid.entity_id = None;
    let app = spawn_app_with(|s| {
        s.server.public_url = ENTITY.into();
        s.spid = settings_spid.clone();
    })
    .await;
    let body: serde_json::Value = app
        .get("/api/v1/auth/spid/idps")
        .await
        .json()
        .await
        .unwrap();
    let idps = body["idps"].as_array().unwrap();
    let ids: Vec<&str> = idps
        .iter()
        .map(|i| i["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{body}");
    assert!(ids.contains(&"https://localhost:8443"), "{body}");
    let names: Vec<&str> = idps.iter().map(|i| i["name"].as_str().unwrap()).collect();
    let alfa = names.iter().position(|n| *n == "Alfa ID").unwrap();
    let zeta = names.iter().position(|n| *n == "Zeta ID").unwrap();
    assert!(alfa < zeta, "sorted by name: {names:?}");

    // What responses will be verified against.
    let reg = sportello::auth::spid::idp::IdpRegistry::load_dir(&dir).unwrap();
    let zeta = reg.get("https://zeta.idp.example").unwrap();
    assert_eq!(
        zeta.sso_redirect.as_deref(),
        Some("https://zeta.idp.example/sso")
    );
    assert_eq!(zeta.signing_certificates.len(), 1);
    let test_idp = reg.get("https://localhost:8443").unwrap();
    assert!(test_idp.sso_redirect.is_some() || test_idp.sso_post.is_some());
    assert!(!test_idp.signing_certificates.is_empty());
}

#[tokio::test]
async fn a_broken_idp_file_stops_the_start_naming_the_setting() {
    let (key, cert) = keys();
    let spid = spid_settings(&key, &cert);
    let dir = spid.idp_metadata_dir.clone().unwrap();
    let (c, _) = idp_keypair("x");
    // An IdP without any single sign-on endpoint cannot be used.
    let broken = idp_entity("https://rotto.idp.example", "Rotto", &c)
        .replace(r#"<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://rotto.idp.example/sso"/>"#, "");
    std::fs::write(
        dir.join("rotto.xml"),
        format!(r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{broken}</md:EntitiesDescriptor>"#),
    )
    .unwrap();
    let mut settings = test_settings();
    settings.database.url = Some(sportello::config::Secret::new(fresh_database_url()));
    settings.server.public_url = ENTITY.into();
    settings.spid = spid;
    let err = match sportello::startup::Application::build(settings) {
        Ok(_) => panic!("started with a broken IdP file"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("spid.idp_metadata_dir"), "{err}");
    assert!(err.contains("no SingleSignOnService"), "{err}");
}

#[tokio::test]
async fn without_spid_the_idp_list_is_empty() {
    let app = spawn_app().await;
    let body: serde_json::Value = app
        .get("/api/v1/auth/spid/idps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["idps"], serde_json::json!([]));
}
