//! The segnatura informatica (AgID Linee guida 2021, Allegato 6): every segnatura produced is
//! valid against the official schema (read from `SPORTELLO_AGID_PROTOCOLLO_XSD_DIR`, by default
//! `../shared/standards/agid-protocollo`; never copied here), its signature verifies with
//! xmlsec1, and its XAdES signed properties name the signing time and the AOO's certificate.

use std::path::PathBuf;
use std::process::Command;

use crate::backoffice::{act_ok, upload_doc, PDF};
use crate::helpers::*;
use crate::instances::upload;
use serde_json::json;

const AOO: &str = "AOO_CX000";

fn xsd_dir() -> PathBuf {
    std::env::var_os("SPORTELLO_AGID_PROTOCOLLO_XSD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_dir().join("../shared/standards/agid-protocollo"))
}

/// The test configuration's key directory, with the demo AOO's test pair (made once).
fn signing_key_dir() -> PathBuf {
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = MADE.lock().unwrap();
    let dir = repo_dir().join("target/test-data/segnatura-keys");
    let (key, _) = sportello::protocol::segnatura::SigningKey::paths(&dir, AOO);
    if !key.exists() {
        sportello::protocol::segnatura::make_test_pair(&dir, AOO, "Comune di Esempio", 3650)
            .unwrap();
    }
    dir
}

fn tmp_file(bytes: &[u8], ext: &str) -> PathBuf {
    let p = tempdir().join(format!("segnatura.{ext}"));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `xmllint --schema` against the official XSD: (passed, what it said).
fn schema_valid(xml: &[u8]) -> (bool, String) {
    let file = tmp_file(xml, "xml");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd_dir().join("segnatura_protocollo.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint (Debian libxml2-utils) runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `xmlsec1 --verify` with the AOO's certificate as the only trusted one.
fn signature_verifies(xml: &[u8], cert: &std::path::Path) -> (bool, String) {
    let file = tmp_file(xml, "xml");
    let out = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--id-attr:Id")
        .arg("http://uri.etsi.org/01903/v1.3.2#:SignedProperties")
        .arg("--trusted-pem")
        .arg(cert)
        .arg(&file)
        .output()
        .expect("xmlsec1 runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The text of the first element named `local` (any prefix) in `xml`.
fn text_of<'a>(xml: &'a str, local: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = xml[from..].find(&format!(":{local}")) {
        let at = from + i;
        from = at + 1;
        let after = xml[at + local.len() + 1..].chars().next()?;
        let tag_start = xml[..at].rfind('<')?;
        if !matches!(after, ' ' | '>') || xml[tag_start..].starts_with("</") {
            continue;
        }
        let open_end = at + xml[at..].find('>')? + 1;
        let close = open_end + xml[open_end..].find("</")?;
        return Some(&xml[open_end..close]);
    }
    None
}

fn b64_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    openssl::base64::encode_block(&sha2::Sha256::digest(bytes))
}

fn b64_of_hex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    openssl::base64::encode_block(&bytes)
}

/// Every registration's (year, number, document digest, attachments count).
fn registrations(app: &TestApp) -> Vec<(i32, i64, String, i32)> {
    use diesel::prelude::*;
    use sportello::db::schema::protocol_registrations as pr;
    pr::table
        .order(pr::number)
        .select((
            pr::year,
            pr::number,
            pr::document_digest,
            pr::attachments_count,
        ))
        .load(&mut *app.conn())
        .unwrap()
}

/// The register's subject and Italian date (`YYYY-MM-DD`) of registration `number`.
fn subject_and_date(app: &TestApp, number: i64) -> (String, String) {
    use diesel::prelude::*;
    use sportello::db::schema::protocol_registrations as pr;
    let (subject, at): (String, chrono::NaiveDateTime) = pr::table
        .filter(pr::number.eq(number))
        .select((pr::subject, pr::registered_at))
        .first(&mut *app.conn())
        .unwrap();
    (
        subject,
        sportello::domain::calendar::rome_date(at)
            .format("%Y-%m-%d")
            .to_string(),
    )
}

/// XAdES baseline B (EN 319 132-1 §6.3): a `DataObjectFormat` with its MIME type for the
/// signed data object (the segnatura, the enveloped reference), naming that reference's Id.
fn assert_data_object_format(xml: &str) {
    let format = &xml[xml
        .find("<xades:SignedDataObjectProperties><xades:DataObjectFormat ObjectReference=\"#")
        .unwrap_or_else(|| panic!("no DataObjectFormat: {xml}"))..];
    let reference = format.split("ObjectReference=\"#").nth(1).unwrap();
    let reference = reference.split('"').next().unwrap();
    assert!(
        xml.contains(&format!("<ds:Reference Id=\"{reference}\" URI=\"\">")),
        "the DataObjectFormat names the reference to the segnatura: {xml}"
    );
    assert_eq!(text_of(format, "MimeType"), Some("application/xml"));
}

/// The signed segnatura of one registration, checked against the schema and by xmlsec1.
async fn valid_segnatura(
    app: &TestApp,
    clerk: &reqwest::Client,
    year: i32,
    number: i64,
    cert: &std::path::Path,
) -> String {
    let url = format!("/api/v1/protocol/{AOO}/registrations/{year}/{number}/segnatura.xml");
    let res = app.get_as(clerk, &url).await;
    assert_eq!(res.status(), 200, "{url}");
    let bytes = res.bytes().await.unwrap().to_vec();
    let xml = String::from_utf8(bytes.clone()).unwrap();
    let (valid, said) = schema_valid(&bytes);
    assert!(valid, "segnatura {number} not valid: {said}\n{xml}");
    let (verified, said) = signature_verifies(&bytes, cert);
    assert!(verified, "segnatura {number}: xmlsec1 refused it: {said}");
    assert_data_object_format(&xml);
    xml
}

#[tokio::test]
async fn the_foia_acts_and_a_booking_have_their_segnatura_with_the_aoo_register_code() {
    use crate::backoffice::{act, act_ok, staff_get};
    use crate::foia;
    let keys = signing_key_dir();
    let (_, cert_path) = sportello::protocol::segnatura::SigningKey::paths(&keys, AOO);
    let dir = tempdir().join("bundle");
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let ente = std::fs::read_to_string(dir.join("ente.toml")).unwrap();
    let aoo_name = "name = \"Comune di Esempio – Area organizzativa omogenea unica\"\n";
    assert!(ente.contains(aoo_name));
    std::fs::write(
        dir.join("ente.toml"),
        ente.replacen(
            aoo_name,
            &format!("{aoo_name}register_code = \"REG_PROT-1\"\n"),
            1,
        ),
    )
    .unwrap();
    crate::booking::register_cie_bookings(&dir);
    let app = spawn_empty_app_with(|s| s.segnatura.key_dir = Some(keys.clone())).await;
    app.load_bundle(&dir);

    // FOIA: the request (1), the notices to two parties (2, 3), the first one's answer (4);
    // a second request (5) refused (6), its review (7) and the officer's decision (8); a
    // booking (9).
    let id = foia::foia_request(&app, foia::valid()).await;
    let op = app.staff_browser(foia::OP).await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    let (_, etag) = staff_get(&app, &op, &id).await;
    let res = act(&app, &op, &id, "counterparties", &etag, foia::parties()).await;
    assert_eq!(res.status(), 200);
    let res = foia::answer(
        &app,
        &op,
        &id,
        1,
        json!({"opposed": false, "text": "Nessuna opposizione."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let refused = foia::refused(&app, &op, foia::valid()).await;
    assert_eq!(
        foia::review(&app, &refused, "Dati aggregati.")
            .await
            .status(),
        201
    );
    let rpct = app.staff_browser(foia::RPCT).await;
    let res = foia::decide_review(
        &app,
        &rpct,
        &refused,
        json!({"outcome": "accolta", "motivation": "Accesso consentito."}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let booking = crate::booking::book_first_cie_slot(&app).await;
    let regs = registrations(&app);
    assert_eq!(regs.len(), 9, "{regs:?}");
    let clerk = app.staff_browser("protocollista").await;
    let mut xmls = Vec::new();
    for (year, number, digest, _) in &regs {
        let xml = valid_segnatura(&app, &clerk, *year, *number, &cert_path).await;
        assert_eq!(text_of(&xml, "CodiceRegistro"), Some("REG_PROT-1"));
        let primary = &xml[xml.find("DocumentoPrimario").unwrap()..];
        assert_eq!(
            text_of(primary, "Impronta"),
            Some(b64_of_hex(digest).as_str())
        );
        xmls.push(xml);
    }
    let file = |xml: &str| {
        let at = xml.find("<prot:DocumentoPrimario ").unwrap();
        xml[at..]
            .split("prot:nomeFile=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    // The notice goes out to the party, known by name only; its answer comes from it.
    assert_eq!(file(&xmls[1]), "comunicazione-controinteressato-1.json");
    assert!(xmls[1].contains(
        "<prot:Destinatario><prot:PersonaGiuridica><prot:Denominazione>Associazione Sportiva \
         Esempio</prot:Denominazione></prot:PersonaGiuridica></prot:Destinatario>"
    ));
    assert_eq!(file(&xmls[2]), "comunicazione-controinteressato-2.json");
    assert_eq!(file(&xmls[3]), "risposta-controinteressato-1.json");
    assert!(xmls[3].contains(
        "<prot:Mittente><prot:PersonaGiuridica><prot:Denominazione>Associazione Sportiva \
         Esempio</prot:Denominazione>"
    ));
    // The review comes from the citizen, its decision goes to them.
    assert_eq!(file(&xmls[6]), "richiesta-riesame.json");
    assert!(xmls[6].contains("<prot:Mittente><prot:PersonaFisica>"));
    assert_eq!(file(&xmls[7]), "decisione-riesame.json");
    assert!(xmls[7].contains("<prot:Destinatario><prot:PersonaFisica>"));
    // The booking comes from its citizen.
    assert_eq!(
        file(&xmls[8]),
        format!("prenotazione-{}.json", booking["code"].as_str().unwrap())
    );
    assert!(xmls[8].contains(&format!(
        "<prot:CodiceFiscale>{CITIZEN_CF}</prot:CodiceFiscale>"
    )));
}

#[tokio::test]
async fn every_segnatura_is_valid_against_the_schema_and_its_xades_signature_verifies() {
    let keys = signing_key_dir();
    let app = spawn_app_with(|s| s.segnatura.key_dir = Some(keys.clone())).await;
    let (_, cert_path) = sportello::protocol::segnatura::SigningKey::paths(&keys, AOO);
    let cert_der = openssl::x509::X509::from_pem(&std::fs::read(&cert_path).unwrap())
        .unwrap()
        .to_der()
        .unwrap();

    // A change of residence with two attachments, taken through integration and decision:
    // four registrations, in and out, each with its own documents.
    app.login_citizen(CITIZEN_CF).await;
    let mut data = form_fixture("cambio-di-residenza", "valid");
    data["contatti"]["email"] = json!("cittadino.segnatura@example.org");
    let id = app.ready_draft("cambio-di-residenza", data).await;
    let contract = b"%PDF-1.7\n% contratto di locazione & <registrato>\n%%EOF\n".to_vec();
    assert_eq!(
        upload(
            &app,
            &id,
            "contratto.pdf",
            contract.clone(),
            Some("Contratto \"registrato\"")
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        upload(&app, &id, "nota.txt", b"Nota del cittadino".to_vec(), None)
            .await
            .status(),
        201
    );
    assert_eq!(app.submit(&id, None).await.status(), 201);
    let op = app.staff_browser("operatore.anagrafe").await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    let doc = upload_doc(
        &app,
        &op,
        &format!("/api/v1/staff/instances/{id}/documents"),
        "modulo.pdf",
        PDF,
    )
    .await;
    act_ok(
        &app,
        &op,
        &id,
        "integration-request",
        json!({"text": "Manca il contratto.", "days": 10, "documents": [doc["id"]]}),
    )
    .await;
    let answer = upload_doc(
        &app,
        &app.client,
        &format!("/api/v1/instances/{id}/documents"),
        "contratto-firmato.pdf",
        PDF,
    )
    .await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/instances/{id}/integration")))
        .json(&json!({"text": "Allego il contratto.", "documents": [answer["id"]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    act_ok(
        &app,
        &op,
        &id,
        "decision",
        json!({"outcome": "accolta", "motivation": "Requisiti verificati."}),
    )
    .await;
    // A FOIA request, classified and filed by the clerk; an appointment, not classified.
    app.submit_valid("accesso-civico-generalizzato").await;
    app.submit_valid("richiesta-appuntamento").await;
    let clerk = app.staff_browser("protocollista").await;
    let regs = registrations(&app);
    assert_eq!(regs.len(), 6);
    let year = regs[0].0;
    let foia = regs[4].1;
    let res = clerk
        .post(app.url(&format!("/api/v1/protocol/{AOO}/fascicoli")))
        .json(&json!({"class": "I.8", "subject": "Accessi civici & richieste <2026>", "office": "urp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = clerk
        .put(app.url(&format!(
            "/api/v1/protocol/{AOO}/registrations/{year}/{foia}/fascicolo"
        )))
        .json(&json!({"fascicolo": {"year": year, "class": "I.8", "number": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // And one annulled: its segnatura is still there.
    let res = clerk
        .post(app.url(&format!(
            "/api/v1/protocol/{AOO}/registrations/{year}/{}/annul",
            regs[5].1
        )))
        .json(&json!({"reason": "Prova", "act": "Determinazione n. 1/2026"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    for (year, number, digest, attachments) in &regs {
        let url = format!("/api/v1/protocol/{AOO}/registrations/{year}/{number}/segnatura.xml");
        let res = app.get_as(&clerk, &url).await;
        assert_eq!(res.status(), 200, "{url}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml"));
        let bytes = res.bytes().await.unwrap().to_vec();
        let xml = String::from_utf8(bytes.clone()).unwrap();
        let (valid, said) = schema_valid(&bytes);
        assert!(
            valid,
            "segnatura {number} not valid against the schema: {said}\n{xml}"
        );
        let (verified, said) = signature_verifies(&bytes, &cert_path);
        assert!(
            verified,
            "segnatura {number}: xmlsec1 refused the signature: {said}"
        );

        // What it says.
        let padded = format!("{number:07}");
        assert_eq!(text_of(&xml, "NumeroRegistrazione"), Some(padded.as_str()));
        let (subject, date) = subject_and_date(&app, *number);
        assert_eq!(text_of(&xml, "DataRegistrazione"), Some(date.as_str()));
        assert_eq!(
            text_of(&xml, "Oggetto").map(|o| o.replace("&amp;", "&")),
            Some(subject.replace("&amp;", "&"))
        );
        assert_eq!(text_of(&xml, "CodiceAOO"), Some(AOO));
        assert_eq!(text_of(&xml, "CodiceAmministrazione"), Some("c_x000"));
        let primary = &xml[xml.find("DocumentoPrimario").unwrap()..];
        assert_eq!(
            text_of(primary, "Impronta"),
            Some(b64_of_hex(digest).as_str())
        );
        assert_eq!(
            xml.matches("<prot:Allegato ").count(),
            usize::try_from(*attachments).unwrap(),
            "{xml}"
        );
        // XAdES baseline B: the signed properties are referenced by the signature, with the
        // signing time and the digest of the certificate in KeyInfo.
        assert!(xml.contains("Type=\"http://uri.etsi.org/01903#SignedProperties\""));
        let props_id = xml.split("<xades:SignedProperties ").nth(1).unwrap();
        let props_id = props_id
            .split("Id=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(xml.contains(&format!("URI=\"#{props_id}\"")));
        assert_data_object_format(&xml);
        assert_eq!(text_of(&xml, "CodiceRegistro"), Some("PROTOCOLLO"));
        let signing_time = text_of(&xml, "SigningTime").unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(signing_time).is_ok(),
            "{signing_time}"
        );
        let cert_digest = &xml[xml.find("<xades:CertDigest>").unwrap()..];
        assert_eq!(
            text_of(cert_digest, "DigestValue"),
            Some(b64_sha256(&cert_der).as_str())
        );
        assert_eq!(
            text_of(&xml, "X509Certificate").map(|c| c.replace(['\n', '\r'], "")),
            Some(openssl::base64::encode_block(&cert_der).replace('\n', ""))
        );

        // Tampering with what it says breaks the signature (the check can fail).
        let tampered = xml.replacen(&format!(">{padded}<"), ">9999999<", 1);
        assert_ne!(tampered, xml);
        let (verified, _) = signature_verifies(tampered.as_bytes(), &cert_path);
        assert!(!verified, "a tampered segnatura {number} verified");
    }

    // The submission's segnatura names both attachments with their digests.
    let url = format!(
        "/api/v1/protocol/{AOO}/registrations/{}/{}/segnatura.xml",
        regs[0].0, regs[0].1
    );
    let xml = app.get_as(&clerk, &url).await.text().await.unwrap();
    let allegato = &xml[xml.find("prot:nomeFile=\"contratto.pdf\"").unwrap()..];
    assert_eq!(
        text_of(allegato, "Impronta"),
        Some(b64_sha256(&contract).as_str())
    );
    assert_eq!(
        text_of(allegato, "Descrizione"),
        Some("Contratto \"registrato\"")
    );
    assert!(xml.contains("<prot:Mittente><prot:PersonaFisica>"), "{xml}");
    assert!(xml.contains(&format!(
        "<prot:CodiceFiscale>{CITIZEN_CF}</prot:CodiceFiscale>"
    )));
    assert_eq!(text_of(&xml, "CodiceFlat"), Some("XI.2"));
    // The decision goes out: the office sends, the citizen receives.
    let url = format!(
        "/api/v1/protocol/{AOO}/registrations/{}/{}/segnatura.xml",
        regs[3].0, regs[3].1
    );
    let xml = app.get_as(&clerk, &url).await.text().await.unwrap();
    assert!(
        xml.contains("<prot:Mittente><prot:Amministrazione>"),
        "{xml}"
    );
    assert!(
        xml.contains("<prot:Destinatario><prot:PersonaFisica>"),
        "{xml}"
    );
    // The filed FOIA request carries its fascicolo.
    let url = format!("/api/v1/protocol/{AOO}/registrations/{year}/{foia}/segnatura.xml");
    let xml = app.get_as(&clerk, &url).await.text().await.unwrap();
    assert_eq!(
        text_of(&xml, "CodiceFascicolo"),
        Some(format!("{year}/I.8/1").as_str())
    );
    assert_eq!(text_of(&xml, "CodiceFlat"), Some("I.8"));

    // Operators and citizens: not theirs.
    let res = app.get_as(&op, &url).await;
    assert_problem(res, 404, "not-found").await;
    let res = app.get(&url).await;
    assert_problem(res, 403, "forbidden").await;
}

#[tokio::test]
async fn without_a_signing_key_the_segnatura_is_unavailable_and_says_why() {
    let app = spawn_app_with(|s| s.segnatura.key_dir = None).await;
    app.login_citizen(CITIZEN_CF).await;
    let sub = app.submit_valid("accesso-civico-generalizzato").await;
    let number = sub["protocol"]["number"].as_str().unwrap();
    let clerk = app.staff_browser("protocollista").await;
    let year = registrations(&app)[0].0;
    let res = app
        .get_as(
            &clerk,
            &format!("/api/v1/protocol/{AOO}/registrations/{year}/{number}/segnatura.xml"),
        )
        .await;
    let p = assert_problem(res, 503, "unavailable").await;
    assert!(p["detail"].as_str().unwrap().contains("segnatura.key_dir"));
}

#[test]
fn the_command_line_makes_a_test_pair_and_never_overwrites_it() {
    let dir = tempdir();
    let bin = env!("CARGO_BIN_EXE_sportello");
    let run = || {
        Command::new(bin)
            .args([
                "protocol",
                "make-signing-key",
                "--aoo",
                "AOO_PROVA",
                "--organization",
                "Comune di Prova",
                "--out-dir",
            ])
            .arg(&dir)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = sportello::protocol::segnatura::SigningKey::for_aoo(&dir, "AOO_PROVA");
    assert!(key.is_ok(), "{key:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("AOO_PROVA.key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = run();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not overwritten"));
}
