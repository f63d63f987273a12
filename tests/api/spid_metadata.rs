//! `GET /spid/metadata`: signed SP metadata that passes AgID's `spid-sp-test`
//! (profile spid-sp-public, --extra) and `xmlsec1 --verify`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;
use sportello::auth::spid::certificate::{generate, write, CertificateRequest};
use sportello::config::SpidSettings;

const ENTITY: &str = "https://sportello.comune.example.it";

fn keys() -> (PathBuf, PathBuf) {
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

pub fn spid_settings(key: &Path, cert: &Path) -> SpidSettings {
    SpidSettings {
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
    }
}

fn venv_tool(name: &str) -> PathBuf {
    let python = std::env::var("SPORTELLO_TEST_PYTHON")
        .expect("SPORTELLO_TEST_PYTHON (the test virtualenv): run ./scripts/test");
    Path::new(&python).parent().expect("venv bin").join(name)
}

/// Runs spid-sp-test's metadata checks; returns (executed, failed, output).
fn spid_sp_test(file: &Path) -> (u32, u32, String) {
    let out = Command::new(venv_tool("spid_sp_test"))
        .args(["--metadata-url", &format!("file://{}", file.display())])
        .args(["--profile", "spid-sp-public", "--extra"])
        .output()
        .expect("run spid_sp_test");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let summary = text
        .lines()
        .find(|l| l.contains("executed") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no summary from spid_sp_test: {text}"))
        .to_owned();
    println!("spid-sp-test metadata: {summary}");
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
    bad.spid.contact_phone = Some("06 1234".into());
    assert_eq!(bad.validate().unwrap_err().key, "spid.contact_phone");
    // A key that does not belong to the certificate is refused when the metadata is built.
    let (other_key, _) = keys();
    let mut bad = s.clone();
    bad.spid.key_file = Some(other_key);
    let e = bad.spid.build_metadata("https://x.example").unwrap_err();
    assert_eq!(e.key, "spid.key_file");
    assert!(e.message.contains("does not belong"), "{e}");
}
