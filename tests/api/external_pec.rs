//! External protocol systems, e-mail/PEC adapter (Allegato 6) against real servers on
//! 127.0.0.1: the SMTP test server receives Sportello's message, Dovecot (Debian
//! `dovecot-imapd`) keeps Sportello's mailbox, and the test plays the receiving protocol
//! system: it reads the message from the SMTP spool, checks the segnatura and the primary
//! document, and APPENDs a `ConfermaRicezione` (or `NotificaEccezione`), valid against
//! `pec_message.xsd`, to Sportello's mailbox by IMAP.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use crate::helpers::*;
use mail_parser::MimeHeaders;
use serde_json::{json, Value};
use sportello::notify::Worker;

const PROTOCOL_ADDRESS: &str = "protocollo@pec.comune.esempio.example";
const SPORTELLO_ADDRESS: &str = "sportello@pec.comune.esempio.example";
const IMAP_USER: &str = "sportello";
const IMAP_PASSWORD: &str = "casella-di-prova";

fn xsd_dir() -> PathBuf {
    std::env::var("SPORTELLO_AGID_PROTOCOLLO_XSD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_dir().join("../shared/standards/agid-protocollo"))
}

/// Dovecot on a free port with a static passdb and a Maildir in a temp dir, killed on drop.
/// It speaks implicit TLS (as a PEC provider's IMAPS) with a certificate made for the run
/// (`ca_file`, for 127.0.0.1), and nothing in clear.
struct Dovecot {
    child: Child,
    port: u16,
    dir: PathBuf,
    ca_file: PathBuf,
}

/// A self-signed certificate for 127.0.0.1 and its key (PEM), written to `dir`.
fn server_certificate(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    use openssl::{asn1, bn, hash, pkey, rsa, x509};
    let key = pkey::PKey::from_rsa(rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "127.0.0.1").unwrap();
    let name = name.build();
    let mut b = x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = bn::BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&asn1::Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let ctx = b.x509v3_context(None, None);
    let san = x509::extension::SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&ctx)
        .unwrap();
    b.append_extension(san).unwrap();
    b.append_extension(
        x509::extension::BasicConstraints::new()
            .critical()
            .ca()
            .build()
            .unwrap(),
    )
    .unwrap();
    b.sign(&key, hash::MessageDigest::sha256()).unwrap();
    let cert = dir.join("imap-cert.pem");
    let key_file = dir.join("imap-key.pem");
    std::fs::write(&cert, b.build().to_pem().unwrap()).unwrap();
    std::fs::write(&key_file, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert, key_file)
}

impl Dovecot {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("sportello-imap-{}", uuid::Uuid::new_v4()));
        let mail = dir.join("mail");
        std::fs::create_dir_all(dir.join("run")).unwrap();
        std::fs::create_dir_all(&mail).unwrap();
        // Dovecot refuses uid 0 for mail processes: as root (CI, this machine) the mailbox
        // belongs to Debian's unprivileged `dovecot` user; otherwise to the current user.
        let (uid, gid) = match (unsafe_geteuid(), user_ids("dovecot")) {
            (0, Some(ids)) => ids,
            (0, None) => panic!("running as root needs the `dovecot` user (dovecot-imapd)"),
            (me, _) => (me, current_gid()),
        };
        std::os::unix::fs::chown(&mail, Some(uid), Some(gid)).unwrap();
        std::fs::write(
            dir.join("passwd"),
            format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n"),
        )
        .unwrap();
        let port = free_port();
        let (ca_file, key_file) = server_certificate(&dir);
        let d = dir.display();
        std::fs::write(
            dir.join("dovecot.conf"),
            format!(
                "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
                 log_path = {d}/dovecot.log\nssl = required\nssl_cert = <{cert}\nssl_key = <{key}\n\
                 disable_plaintext_auth = yes\n\
                 auth_mechanisms = plain login\nfirst_valid_uid = 1\n\
                 mail_location = maildir:{d}/mail/%u\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
                 userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/mail/%u\n}}\n\
                 service imap-login {{\n  inet_listener imap {{\n    port = 0\n  }}\n  \
                 inet_listener imaps {{\n    address = 127.0.0.1\n    port = {port}\n    ssl = yes\n  }}\n}}\n\
                 service stats {{\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n",
                cert = ca_file.display(),
                key = key_file.display(),
            ),
        )
        .unwrap();
        let dovecot = std::env::var("SPORTELLO_TEST_DOVECOT").unwrap_or_else(|_| {
            if std::path::Path::new("/usr/sbin/dovecot").exists() {
                "/usr/sbin/dovecot".into()
            } else {
                "dovecot".into()
            }
        });
        let child = Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .spawn()
            .expect("start dovecot (Debian dovecot-imapd: run ./scripts/test)");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "dovecot did not listen: {}",
                std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            dir,
            ca_file,
        }
    }

    /// A logged-in IMAPS session (the test's own: as the protocol system or an observer).
    fn session(&self) -> imap::Session<native_tls::TlsStream<std::net::TcpStream>> {
        let tls = sportello::protocol::pec::tls_connector(Some(&self.ca_file)).unwrap();
        let stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut client = imap::Client::new(tls.connect("127.0.0.1", stream).unwrap());
        client.read_greeting().unwrap();
        client
            .login(IMAP_USER, IMAP_PASSWORD)
            .map_err(|(e, _)| e)
            .unwrap()
    }

    /// APPENDs a message to Sportello's INBOX, as the protocol system's answer arriving.
    fn deliver(&self, raw: &[u8]) {
        let mut s = self.session();
        s.append("INBOX", raw).unwrap();
        s.logout().unwrap();
    }

    /// UIDs of the messages not yet seen.
    fn unseen(&self) -> usize {
        let mut s = self.session();
        s.select("INBOX").unwrap();
        let n = s.uid_search("UNSEEN").unwrap().len();
        s.logout().unwrap();
        n
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unsafe_geteuid() -> u32 {
    // The owner of a file we just created is our effective uid (no libc call needed).
    use std::os::unix::fs::MetadataExt;
    let p = std::env::temp_dir().join(format!("sportello-uid-{}", uuid::Uuid::new_v4()));
    std::fs::write(&p, b"").unwrap();
    let uid = std::fs::metadata(&p).unwrap().uid();
    let _ = std::fs::remove_file(&p);
    uid
}

fn current_gid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let p = std::env::temp_dir().join(format!("sportello-gid-{}", uuid::Uuid::new_v4()));
    std::fs::write(&p, b"").unwrap();
    let gid = std::fs::metadata(&p).unwrap().gid();
    let _ = std::fs::remove_file(&p);
    gid
}

fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

/// The demo bundle with its AOO's register reached by PEC, the mailbox at `imap` over TLS
/// (trusting the run's certificate when `trust` is set; the system's authorities otherwise).
fn pec_bundle(imap: &Dovecot, trust: bool) -> PathBuf {
    let imap_port = imap.port;
    let ca = if trust {
        format!("imap_ca_file = \"{}\"\n", imap.ca_file.display())
    } else {
        String::new()
    };
    let dir = std::env::temp_dir().join(format!("sportello-pec-{}", uuid::Uuid::new_v4()));
    copy_dir(&repo_dir().join("config/demo"), &dir);
    let pw = dir.join("imap-password");
    std::fs::write(&pw, format!("{IMAP_PASSWORD}\n")).unwrap();
    let ente = std::fs::read_to_string(dir.join("ente.toml")).unwrap();
    let aoo_name = "name = \"Comune di Esempio – Area organizzativa omogenea unica\"\n";
    let ente = ente.replacen(
        aoo_name,
        &format!(
            "{aoo_name}register = \"external\"\n\n[aoo.external]\nadapter = \"pec\"\n\
             protocol_address = \"{PROTOCOL_ADDRESS}\"\nfrom_address = \"{SPORTELLO_ADDRESS}\"\n\
             imap_host = \"127.0.0.1\"\nimap_port = {imap_port}\nimap_security = \"tls\"\n{ca}\
             imap_user = \"{IMAP_USER}\"\nimap_password_file = \"{}\"\n",
            pw.display()
        ),
        1,
    );
    std::fs::write(dir.join("ente.toml"), ente).unwrap();
    dir
}

/// A fresh directory with the demo AOO's segnatura signing pair.
fn key_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sportello-keys-{}", uuid::Uuid::new_v4()));
    sportello::protocol::segnatura::make_test_pair(&dir, "AOO_CX000", "Comune di Esempio", 30)
        .unwrap();
    dir
}

/// The AOO's signing key pair, made once for the whole test binary.
fn keys() -> &'static PathBuf {
    static KEYS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KEYS.get_or_init(key_dir)
}

/// `xmlsec1` verifies the segnatura's signature with the AOO's certificate (its
/// XAdES `SignedProperties` referenced by `Id`).
fn assert_signature_verifies(xml: &str) {
    let (_, cert) = sportello::protocol::segnatura::SigningKey::paths(keys(), "AOO_CX000");
    let file = std::env::temp_dir().join(format!("sportello-pec-{}.xml", uuid::Uuid::new_v4()));
    std::fs::write(&file, xml).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .arg("--verify")
        .arg("--id-attr:Id")
        .arg("http://uri.etsi.org/01903/v1.3.2#:SignedProperties")
        .arg("--trusted-pem")
        .arg(&cert)
        .arg(&file)
        .output()
        .expect("xmlsec1 runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "the PEC segnatura's signature does not verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn work(app: &TestApp, smtp_port: u16) -> usize {
    let mut s = test_settings();
    s.mail.smtp_port = smtp_port;
    let w = Worker::new(app.db.clone(), &s.mail)
        .unwrap()
        .with_segnatura_keys(Some(keys().clone()))
        .with_attachment_store(app.state.store.clone());
    tokio::task::spawn_blocking(move || w.run_once())
        .await
        .unwrap()
        .unwrap()
}

async fn poll(app: &TestApp) -> usize {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        sportello::protocol::pec::poll(&mut conn).unwrap()
    })
    .await
    .unwrap()
}

/// What the protocol system read in Sportello's message.
struct Received {
    message_id: String,
    /// The segnatura's Identificatore, as XML (prot: namespace), for MessaggioRicevuto.
    identificatore: String,
    request_number: String,
}

/// A message Sportello sent the protocol system, as the receiving system reads it.
struct Sent {
    received: Received,
    segnatura: String,
    /// The primary document's file name and bytes.
    primary: (String, Vec<u8>),
    /// Every MIME attachment by name.
    parts: Vec<(String, Vec<u8>)>,
}

impl Sent {
    fn part(&self, name: &str) -> &[u8] {
        &self
            .parts
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    }

    /// The value of an XPath over the segnatura (prefix `p:` for the protocol namespace).
    fn xpath(&self, x: &str) -> String {
        let doc = libxml::parser::Parser::default()
            .parse_string(&self.segnatura)
            .expect("the segnatura is XML");
        let mut ctx = libxml::xpath::Context::new(&doc).unwrap();
        ctx.register_namespace("p", "http://www.agid.gov.it/protocollo/")
            .unwrap();
        ctx.findvalue(x, None).unwrap()
    }
}

/// Plays the receiving protocol system's first half: the `nth` message to the protocol
/// mailbox the SMTP server got, checked (addresses, the segnatura's signature, schema and
/// identifiers, the primary document's digest).
fn read_sent(smtp: &SmtpSink, nth: usize) -> Sent {
    let mut emls: Vec<PathBuf> = std::fs::read_dir(&smtp.spool)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    emls.sort();
    let raw = emls
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|raw| {
            let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
            msg.to().unwrap().first().unwrap().address() == Some(PROTOCOL_ADDRESS)
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("no message {nth} to the protocol system"));
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        msg.from().unwrap().first().unwrap().address().unwrap(),
        SPORTELLO_ADDRESS
    );
    let message_id = msg.message_id().unwrap().to_owned();
    let parts: Vec<(String, Vec<u8>)> = msg
        .attachments()
        .filter_map(|a| Some((a.attachment_name()?.to_owned(), a.contents().to_vec())))
        .collect();
    let mut sent = Sent {
        received: Received {
            message_id,
            identificatore: String::new(),
            request_number: String::new(),
        },
        segnatura: String::new(),
        primary: (String::new(), Vec::new()),
        parts,
    };
    sent.segnatura = String::from_utf8(sent.part("Segnatura.xml").to_vec()).unwrap();
    assert_signature_verifies(&sent.segnatura);
    // The whole segnatura is valid against the published schema (signature included).
    assert_valid(&sent.segnatura, "segnatura_protocollo.xsd");
    assert!(sent.segnatura.contains("<ds:SignatureValue>"));
    let id = "/p:SegnaturaInformatica/p:Intestazione/p:Identificatore/p:";
    assert_eq!(sent.xpath(&format!("{id}CodiceAOO")), "AOO_CX000");
    assert_eq!(sent.xpath(&format!("{id}CodiceRegistro")), "PROTOCOLLO");
    let request_number = sent.xpath(&format!("{id}NumeroRegistrazione"));
    assert_eq!(request_number.len(), 7, "{request_number}");
    let date = sent.xpath(&format!("{id}DataRegistrazione"));
    let amm = sent.xpath(&format!("{id}CodiceAmministrazione"));
    // The primary document travels with its digest in the segnatura.
    let primary_name =
        sent.xpath("/p:SegnaturaInformatica/p:Descrizione/p:DocumentoPrimario/@p:nomeFile");
    let primary = sent.part(&primary_name).to_vec();
    assert_eq!(
        sent.xpath("/p:SegnaturaInformatica/p:Descrizione/p:DocumentoPrimario/p:Impronta"),
        openssl::base64::encode_block(&openssl::sha::sha256(&primary))
    );
    sent.primary = (primary_name, primary);
    sent.received.identificatore = format!(
        "<Identificatore><prot:CodiceAmministrazione>{amm}</prot:CodiceAmministrazione>\
         <prot:CodiceAOO>AOO_CX000</prot:CodiceAOO><prot:CodiceRegistro>PROTOCOLLO</prot:CodiceRegistro>\
         <prot:NumeroRegistrazione>{request_number}</prot:NumeroRegistrazione>\
         <prot:DataRegistrazione>{date}</prot:DataRegistrazione></Identificatore>"
    );
    sent.received.request_number = request_number;
    sent
}

/// The `nth` submission sent to the protocol system: its primary document is the frozen
/// instance, and its attachment travels as uploaded, named and fingerprinted.
fn read_request(smtp: &SmtpSink, nth: usize) -> Received {
    let sent = read_sent(smtp, nth);
    assert_eq!(sent.primary.0, "istanza.json");
    let json: Value = serde_json::from_slice(&sent.primary.1).unwrap();
    assert_eq!(json["type"], "istanza");
    let contract = sent.part(ATTACHMENT_NAME);
    assert_eq!(contract, attachment_bytes());
    assert_eq!(
        sent.xpath("/p:SegnaturaInformatica/p:Descrizione/p:Allegato/@p:nomeFile"),
        ATTACHMENT_NAME
    );
    assert_eq!(
        sent.xpath("/p:SegnaturaInformatica/p:Descrizione/p:Allegato/p:Impronta"),
        openssl::base64::encode_block(&openssl::sha::sha256(contract))
    );
    sent.received
}

/// Validates an answer against `pec_message.xsd` as published.
fn assert_valid_answer(xml: &str) {
    assert_valid(xml, "pec_message.xsd");
}

fn assert_valid(xml: &str, schema: &str) {
    let xsd = xsd_dir().join(schema);
    assert!(xsd.exists(), "schemas not found at {}", xsd.display());
    let mut parser = libxml::schemas::SchemaParserContext::from_file(xsd.to_str().unwrap());
    let mut validator =
        libxml::schemas::SchemaValidationContext::from_parser(&mut parser).expect("schema");
    let doc = libxml::parser::Parser::default().parse_string(xml).unwrap();
    if let Err(errors) = validator.validate_document(&doc) {
        panic!(
            "not valid against {schema}: {:?}",
            errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>()
        );
    }
}

const NS: &str = "xmlns=\"http://www.agid.gov.it/protocollo/pec/\" \
                  xmlns:pec=\"http://www.agid.gov.it/protocollo/pec/\" \
                  xmlns:prot=\"http://www.agid.gov.it/protocollo/\" pec:versione=\"3.0.0\" pec:lang=\"it\"";

fn conferma(r: &Received, number: &str) -> String {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ConfermaRicezione {NS}>\
         <Identificatore><prot:CodiceAmministrazione>c_x000</prot:CodiceAmministrazione>\
         <prot:CodiceAOO>AOO_CX000</prot:CodiceAOO><prot:CodiceRegistro>PG</prot:CodiceRegistro>\
         <prot:NumeroRegistrazione>{number}</prot:NumeroRegistrazione>\
         <prot:DataRegistrazione>2026-12-03</prot:DataRegistrazione>\
         <prot:OraRegistrazione>09:41:00</prot:OraRegistrazione></Identificatore>\
         <MessaggioRicevuto>{}</MessaggioRicevuto></ConfermaRicezione>",
        r.identificatore
    );
    assert_valid_answer(&xml);
    xml
}

fn eccezione(r: &Received, motivo: &str) -> String {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><NotificaEccezione {NS}>\
         <MessaggioRicevuto>{}</MessaggioRicevuto><Motivo>{motivo}</Motivo></NotificaEccezione>",
        r.identificatore
    );
    assert_valid_answer(&xml);
    xml
}

/// The protocol system's reply message carrying `xml`, replying to Sportello's message.
fn reply(r: &Received, name: &str, xml: String) -> Vec<u8> {
    use lettre::message::{header::ContentType, Attachment, MultiPart, SinglePart};
    lettre::Message::builder()
        .from(PROTOCOL_ADDRESS.parse().unwrap())
        .to(SPORTELLO_ADDRESS.parse().unwrap())
        .subject(format!("{name}: SPORTELLO {}", r.request_number))
        .in_reply_to(format!("<{}>", r.message_id))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(format!("{name} in allegato.")))
                .singlepart(
                    Attachment::new(format!("{name}.xml"))
                        .body(xml, ContentType::parse("application/xml").unwrap()),
                ),
        )
        .unwrap()
        .formatted()
}

const ATTACHMENT_NAME: &str = "Contratto di locazione.pdf";

fn attachment_bytes() -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..4000u32).map(|i| b'a' + u8::try_from(i % 26).unwrap()));
    b.extend_from_slice(b"\n%%EOF\n");
    b
}

async fn submitted(imap: &Dovecot) -> (TestApp, String) {
    let app = spawn_app().await;
    app.load_bundle(&pec_bundle(imap, true));
    app.login_citizen(CITIZEN_CF).await;
    let mut data = form_fixture("cambio-di-residenza", "valid");
    data["contatti"]["email"] = json!("cittadino.pec@example.org");
    let id = app.ready_draft("cambio-di-residenza", data).await;
    let res = crate::instances::upload(
        &app,
        &id,
        ATTACHMENT_NAME,
        attachment_bytes(),
        Some("Contratto registrato"),
    )
    .await;
    assert_eq!(res.status(), 201);
    let res = app.submit(&id, None).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["protocol_pending"], "in attesa di protocollazione");
    (app, id)
}

#[tokio::test]
async fn pec_register_numbers_the_submission_once_and_the_receipt_follows() {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let (app, id) = submitted(&imap).await;

    // The message goes out; the request waits for the answer.
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(smtp.wait_for(1, 20).await.len(), 1);
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("sent")
    );
    assert_eq!(
        text(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("sent")
    );
    let received = read_request(&smtp, 0);
    assert_eq!(
        text(&app, "SELECT message_id AS t FROM protocol_requests"),
        Some(format!("<{}>", received.message_id))
    );
    // Nothing in the mailbox yet: nothing recorded.
    assert_eq!(poll(&app).await, 0);
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol_pending"], "in attesa di protocollazione");

    // The protocol system confirms; the same answer arrives twice (a resend).
    let answer = reply(
        &received,
        "ConfermaRicezione",
        conferma(&received, "0004242"),
    );
    imap.deliver(&answer);
    imap.deliver(&answer);
    assert_eq!(imap.unseen(), 2);
    assert_eq!(poll(&app).await, 1, "two copies, one registration");
    assert_eq!(imap.unseen(), 0, "both marked seen after the commit");
    assert_eq!(poll(&app).await, 0);
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(
        text(
            &app,
            "SELECT external_system AS t FROM protocol_registrations"
        )
        .as_deref(),
        Some("pec")
    );
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol"]["number"], "0004242", "{view}");
    assert_eq!(view["protocol"]["year"], 2026);
    assert!(view["protocol"]["registered_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-12-03T09:41:00"));

    // Only now the receipt, with the protocol system's number.
    assert_eq!(work(&app, smtp.port).await, 2);
    let mail = smtp.wait_for(3, 20).await;
    let receipt = mail
        .iter()
        .find(|m| m["envelope_to"][0] == "cittadino.pec@example.org")
        .expect("receipt");
    assert!(receipt["subject"]
        .as_str()
        .unwrap()
        .contains("Prot. n. 0004242"));
}

#[tokio::test]
async fn the_mailbox_is_read_over_tls_and_an_untrusted_certificate_reads_nothing() {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let (app, _) = submitted(&imap).await;
    assert_eq!(work(&app, smtp.port).await, 1);
    let received = read_request(&smtp, 0);
    imap.deliver(&reply(
        &received,
        "ConfermaRicezione",
        conferma(&received, "0000011"),
    ));
    // The same mailbox without the run's authority: the certificate is not trusted, the
    // password is never sent, nothing is read or marked.
    app.load_bundle(&pec_bundle(&imap, false));
    assert_eq!(poll(&app).await, 0);
    assert_eq!(imap.unseen(), 1);
    assert_eq!(app.count("protocol_registrations"), 0);
    // Trusted: read over TLS and recorded.
    app.load_bundle(&pec_bundle(&imap, true));
    assert_eq!(poll(&app).await, 1);
    assert_eq!(imap.unseen(), 0);
    assert_eq!(app.count("protocol_registrations"), 1);
}

#[tokio::test]
async fn an_answer_read_again_after_a_crash_records_nothing_new() {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let (app, _) = submitted(&imap).await;
    assert_eq!(work(&app, smtp.port).await, 1);
    let received = read_request(&smtp, 0);
    imap.deliver(&reply(
        &received,
        "ConfermaRicezione",
        conferma(&received, "0000077"),
    ));
    // A poller recorded the answer and died before marking it seen: the message is still
    // unseen; the next pass reads it and records nothing new.
    let request_id: i64 = text(&app, "SELECT CAST(id AS TEXT) AS t FROM protocol_requests")
        .unwrap()
        .parse()
        .unwrap();
    let n = sportello::protocol::pec::parse_answer(&conferma(&received, "0000077"))
        .unwrap()
        .unwrap();
    let sportello::protocol::pec::Answer::Confirmed { number, .. } = n else {
        panic!()
    };
    assert!(
        sportello::protocol::external::record(&mut app.conn(), request_id, "pec", number).unwrap()
    );
    assert_eq!(imap.unseen(), 1);
    assert_eq!(poll(&app).await, 0);
    assert_eq!(imap.unseen(), 0);
    assert_eq!(app.count("protocol_registrations"), 1);
    assert_eq!(
        work(&app, smtp.port).await,
        2,
        "one receipt, one office notice"
    );
}

#[tokio::test]
async fn a_notifica_eccezione_is_a_visible_failure_an_administrator_retries() {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let (app, id) = submitted(&imap).await;
    assert_eq!(work(&app, smtp.port).await, 1);
    let first = read_request(&smtp, 0);
    imap.deliver(&reply(
        &first,
        "NotificaEccezione",
        eccezione(&first, "Casella non abilitata alla ricezione"),
    ));
    assert_eq!(poll(&app).await, 1);
    assert_eq!(app.count("protocol_registrations"), 0);
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("failed")
    );
    let admin = app.staff_browser("amministratore").await;
    let dead: Value = app
        .get_as(&admin, "/api/v1/admin/outbox?status=dead")
        .await
        .json()
        .await
        .unwrap();
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{dead}");
    assert_eq!(items[0]["kind"], "protocol-request");
    assert!(items[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("Casella non abilitata"));
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol_pending"], "in attesa di protocollazione");

    // Retried: sent again (same request, same identifiers), confirmed this time.
    let res = admin
        .post(app.url(&format!("/api/v1/admin/outbox/{}/retry", items[0]["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(smtp.wait_for(2, 20).await.len(), 2);
    let second = read_request(&smtp, 1);
    assert_eq!(second.request_number, first.request_number);
    imap.deliver(&reply(
        &second,
        "ConfermaRicezione",
        conferma(&second, "0000101"),
    ));
    assert_eq!(poll(&app).await, 1);
    let view = app
        .get_json(&app.client, &format!("/api/v1/instances/{id}"))
        .await;
    assert_eq!(view["protocol"]["number"], "0000101");
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("registered")
    );
}

#[tokio::test]
async fn an_altered_attachment_is_never_sent_and_the_request_is_a_visible_failure() {
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let (app, _) = submitted(&imap).await;
    let key = text(&app, "SELECT storage_key AS t FROM attachments").unwrap();
    app.state
        .store
        .put(&key, b"%PDF-1.7\nsomething else\n%%EOF\n")
        .unwrap();
    assert_eq!(work(&app, smtp.port).await, 1);
    assert_eq!(
        text(&app, "SELECT status AS t FROM protocol_requests").as_deref(),
        Some("failed")
    );
    let error = text(&app, "SELECT last_error AS t FROM outbox").unwrap();
    assert!(
        error.contains(ATTACHMENT_NAME) && error.contains("SHA-256"),
        "{error}"
    );
    assert_eq!(
        text(&app, "SELECT status AS t FROM outbox").as_deref(),
        Some("dead")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 0, "nothing went out");
}

#[tokio::test]
async fn a_later_act_goes_by_pec_too_and_its_mail_waits_for_the_confirmed_number() {
    use crate::backoffice::act_ok;
    let imap = Dovecot::start();
    let smtp = SmtpSink::start();
    let (app, id) = submitted(&imap).await;
    assert_eq!(work(&app, smtp.port).await, 1);
    smtp.wait_for(1, 20).await;
    let first = read_request(&smtp, 0);
    imap.deliver(&reply(
        &first,
        "ConfermaRicezione",
        conferma(&first, "0004242"),
    ));
    assert_eq!(poll(&app).await, 1);
    assert_eq!(work(&app, smtp.port).await, 2, "receipt and office notice");
    smtp.wait_for(3, 20).await;

    // The office asks for an integration: done at once, numbered by the protocol system.
    let op = app.staff_browser("operatore.anagrafe").await;
    act_ok(&app, &op, &id, "take", json!({})).await;
    let v = act_ok(
        &app,
        &op,
        &id,
        "integration-request",
        json!({ "text": "Manca la planimetria dell'alloggio.", "days": 10 }),
    )
    .await;
    assert_eq!(v["status"], "awaiting_integration");
    let waiting = |v: &Value| {
        v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == "integration_request")
            .cloned()
            .unwrap()
    };
    assert_eq!(waiting(&v)["registration_pending"], true);
    assert_eq!(work(&app, smtp.port).await, 1);
    smtp.wait_for(4, 20).await;

    // The protocol system reads an outgoing act to the applicant, with its JSON as primary.
    let sent = read_sent(&smtp, 1);
    assert_eq!(sent.primary.0, "documento.json");
    let act: Value = serde_json::from_slice(&sent.primary.1).unwrap();
    assert_eq!(act["type"], "richiesta_integrazione");
    assert_eq!(act["text"], "Manca la planimetria dell'alloggio.");
    assert!(sent
        .segnatura
        .contains("<prot:Mittente><prot:Amministrazione>"));
    assert!(sent
        .segnatura
        .contains("<prot:Destinatario><prot:PersonaFisica>"));
    assert_eq!(
        app.count("protocol_registrations"),
        1,
        "nothing numbered before the answer"
    );
    let citizen_mails = |smtp: &SmtpSink| {
        smtp.messages()
            .into_iter()
            .filter(|m| {
                m["subject"]
                    .as_str()
                    .unwrap()
                    .starts_with("Richiesta di integrazione")
            })
            .collect::<Vec<_>>()
    };
    assert!(
        citizen_mails(&smtp).is_empty(),
        "the e-mail waits for the number"
    );

    // Its ConfermaRicezione carries the number; the act, the history and the e-mail get it.
    imap.deliver(&reply(
        &sent.received,
        "ConfermaRicezione",
        conferma(&sent.received, "0004243"),
    ));
    assert_eq!(poll(&app).await, 1);
    assert_eq!(app.count("protocol_registrations"), 2);
    let (v, _) = crate::backoffice::staff_get(&app, &op, &id).await;
    let asked = waiting(&v);
    assert_eq!(asked["registration_pending"], false);
    assert_eq!(asked["protocol"]["number"], "0004243", "{asked}");
    assert_eq!(work(&app, smtp.port).await, 1);
    smtp.wait_for(5, 20).await;
    let told = citizen_mails(&smtp);
    assert_eq!(told.len(), 1);
    let subject = told[0]["subject"].as_str().unwrap();
    assert!(subject.contains("Prot. n. 0004243 del "), "{subject}");
    assert_eq!(work(&app, smtp.port).await, 0);
}
