//! The e-mail/PEC adapter: AOO-to-AOO interoperability (AgID guidelines, Allegato 6).
//!
//! Delivering a request sends one message by SMTP (the relay of `[mail]`) from Sportello's
//! mailbox to the protocol system's: a short text, the segnatura (`Segnatura.xml`), the
//! primary document (`istanza.json` for a submission; `documento.json` or the reply PDF for a
//! later act of the instance) and each attachment of the instance under its file name
//! (read from the attachment store and checked against its recorded SHA-256: an altered or
//! missing file is a permanent failure, never sent). The segnatura is `protocol::segnatura`'s, signed XAdES
//! with the AOO's key (`segnatura.key_dir`). The message's `Message-ID` is stable per request,
//! so a repeated delivery is recognisable by the receiving system as the same message, and the
//! segnatura's `Identificatore` names the request (`NumeroRegistrazione` = the request id):
//! that pair is the idempotency key the protocol system sees.
//!
//! The answer comes later: [`poll`] reads the unseen messages of Sportello's mailbox by IMAP,
//! finds a `ConfermaRicezione` (the number) or a `NotificaEccezione` (a refusal), matches it to
//! its request (`In-Reply-To`/`References` against the sent Message-ID, else the
//! `MessaggioRicevuto` identifiers), records it ([`super::external::record`] / `refuse`, both
//! keyed by the request) and only after the commit marks the message `\Seen`. A crash in
//! between leaves it unseen: the next pass reads it again and records nothing new.

use std::net::TcpStream;
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::prelude::*;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::external::{self, Delivered, ExternalConfig, ExternalRegister, ImapSecurity, Request};
use super::Direction;
use crate::db::schema::{aoo, protocol_requests as preq};
use crate::db::DbConn;
use crate::domain::calendar;
use crate::domain::protocol_number::ProtocolNumber;
use crate::notify::{Mailer, SendError};
use crate::storage::BlobStore;

const NS_PROT: &str = "http://www.agid.gov.it/protocollo/";
const NS_PEC: &str = "http://www.agid.gov.it/protocollo/pec/";

/// Sends requests as Allegato 6 messages.
pub struct PecRegister<'a> {
    mailer: &'a Mailer,
    protocol: Mailbox,
    from: Mailbox,
    key_dir: Option<&'a std::path::Path>,
    store: Option<&'a dyn BlobStore>,
}

impl<'a> PecRegister<'a> {
    pub fn new(
        config: &ExternalConfig,
        mailer: &'a Mailer,
        key_dir: Option<&'a std::path::Path>,
        store: Option<&'a dyn BlobStore>,
    ) -> anyhow::Result<Self> {
        let ExternalConfig::Pec {
            protocol_address,
            from_address,
            ..
        } = config
        else {
            anyhow::bail!("not a PEC configuration");
        };
        Ok(Self {
            mailer,
            protocol: protocol_address
                .parse()
                .context("external.protocol_address")?,
            from: from_address.parse().context("external.from_address")?,
            key_dir,
            store,
        })
    }

    /// The stable Message-ID of a request's message.
    pub fn message_id(&self, request_id: i64) -> String {
        format!(
            "<sportello.protocol-request.{request_id}@{}>",
            self.from.email.domain()
        )
    }
}

/// The request's number, as the segnatura's `NumeroRegistrazione` writes it.
pub fn request_number(request_id: i64) -> String {
    format!("{request_id:07}")
}

/// The segnatura of a request (`protocol::segnatura`, signed XAdES with the AOO's key): its
/// `Identificatore` is the request (number = the request id) in the AOO's register code —
/// an external AOO has no built-in registrations, so the pair cannot name anything else —
/// with subject, applicant, AOO, the digest of the primary document and each attachment.
pub fn segnatura(
    req: &Request,
    key: &super::segnatura::SigningKey,
    at: NaiveDateTime,
) -> anyhow::Result<Vec<u8>> {
    use super::segnatura::{sign, DocRef, SegnaturaData};
    let r = &req.payload.registration;
    let data = SegnaturaData {
        administration: req.administration.clone(),
        number: ProtocolNumber::new(req.id)?,
        registered_at: at,
        direction: r.direction,
        person: req.person.clone(),
        subject: r.subject.clone(),
        // Classification and fascicolo are the receiving system's: it registers.
        classification: None,
        fascicolo: None,
        primary: DocRef {
            file_name: req.primary.filename().to_owned(),
            mime: req.primary.mime().to_owned(),
            description: Some(primary_description(req).to_owned()),
            sha256_hex: r.document_digest.clone(),
        },
        attachments: req
            .attachments
            .iter()
            .map(|a| DocRef {
                file_name: a.filename.clone(),
                mime: a.mime.clone(),
                description: r.description_of(&a.filename).map(str::to_owned),
                sha256_hex: a.sha256.clone(),
            })
            .collect(),
    };
    sign(&data, key, at)
}

/// What the primary document is, in the segnatura and the message.
fn primary_description(req: &Request) -> &'static str {
    match (&req.payload.follow_up, &req.primary) {
        (None, _) => "Istanza presentata online (JSON, RFC 8785)",
        (Some(_), external::PrimaryDoc::Stored(_)) => "Provvedimento dell'ufficio",
        (Some(_), external::PrimaryDoc::Json { .. }) => {
            "Documento del procedimento (JSON, RFC 8785)"
        }
    }
}

impl ExternalRegister for PecRegister<'_> {
    fn deliver(&self, req: &Request) -> Result<Delivered, SendError> {
        let message_id = self.message_id(req.id);
        let dir = self.key_dir.ok_or_else(|| {
            SendError::Permanent(
                "segnatura.key_dir is not set: a PEC message carries the AOO's signed segnatura"
                    .to_owned(),
            )
        })?;
        let key = super::segnatura::SigningKey::for_aoo(dir, &req.aoo_code)
            .map_err(|e| SendError::Permanent(format!("the AOO's signing key: {e:#}")))?;
        let xml = segnatura(req, &key, crate::db::now())
            .map_err(|e| SendError::Permanent(format!("cannot sign the segnatura: {e:#}")))?;
        // The files before the message: a missing or altered one stops the delivery.
        let files = if req.attachments.is_empty() {
            Vec::new()
        } else {
            let store = self.store.ok_or_else(|| {
                SendError::Permanent(
                    "no attachment store: the message must carry the instance's attachments"
                        .to_owned(),
                )
            })?;
            req.attachments
                .iter()
                .map(|a| Ok((a, a.read(store)?)))
                .collect::<Result<Vec<_>, SendError>>()?
        };
        let r = &req.payload.registration;
        let listed = if files.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = files.iter().map(|(a, _)| a.filename.as_str()).collect();
            format!(" e gli allegati ({})", names.join(", "))
        };
        let what = match (req.payload.follow_up.is_some(), r.direction) {
            (false, _) => "di un'istanza presentata online",
            (true, Direction::Out) => "di un documento in uscita del procedimento",
            (true, Direction::In) => "di un documento in entrata del procedimento",
        };
        let primary = req.primary.bytes(self.store)?;
        let text = format!(
            "Richiesta di protocollazione {what}.\n\n\
             Oggetto: {}\nMittente: {}\n{}Identificativo: {} n. {}\n\n\
             In allegato la segnatura (Segnatura.xml), il documento primario ({}){listed}.\n",
            r.subject,
            r.sender,
            r.recipient
                .as_ref()
                .map(|d| format!("Destinatario: {d}\n"))
                .unwrap_or_default(),
            req.administration.register_code,
            request_number(req.id),
            req.primary.filename(),
        );
        let xml_type = ContentType::parse("application/xml")
            .map_err(|e| SendError::Permanent(format!("content type: {e}")))?;
        let primary_type = ContentType::parse(req.primary.mime())
            .or_else(|_| ContentType::parse("application/octet-stream"))
            .map_err(|e| SendError::Permanent(format!("content type: {e}")))?;
        let mut parts = MultiPart::mixed()
            .singlepart(SinglePart::plain(text))
            .singlepart(Attachment::new("Segnatura.xml".to_owned()).body(xml, xml_type))
            .singlepart(
                Attachment::new(req.primary.filename().to_owned()).body(primary, primary_type),
            );
        for (a, bytes) in files {
            let mime = ContentType::parse(&a.mime)
                .or_else(|_| ContentType::parse("application/octet-stream"))
                .map_err(|e| SendError::Permanent(format!("content type: {e}")))?;
            parts = parts.singlepart(Attachment::new(a.filename.clone()).body(bytes, mime));
        }
        let message = Message::builder()
            .from(self.from.clone())
            .to(self.protocol.clone())
            .subject(format!(
                "Protocollazione: {} [{} {}]",
                r.subject,
                req.administration.register_code,
                request_number(req.id)
            ))
            .message_id(Some(message_id.clone()))
            .multipart(parts)
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        self.mailer.send_message(&message)?;
        Ok(Delivered::Pending { message_id })
    }
}

/// What a protocol system answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `ConfermaRicezione`: registered with this number.
    Confirmed {
        number: external::ExternalNumber,
        /// `MessaggioRicevuto/Identificatore/NumeroRegistrazione` (our request number).
        received: Option<String>,
    },
    /// `NotificaEccezione`: refused, with the reason.
    Exception {
        reason: String,
        received: Option<String>,
    },
}

/// Reads a `ConfermaRicezione` or `NotificaEccezione` (namespace of `pec_message.xsd`);
/// None for any other XML.
pub fn parse_answer(xml: &str) -> anyhow::Result<Option<Answer>> {
    let doc = libxml::parser::Parser::default()
        .parse_string(xml)
        .map_err(|e| anyhow::anyhow!("not XML: {e:?}"))?;
    if doc.get_root_element().is_none() {
        anyhow::bail!("not XML (no root element)");
    }
    let mut ctx =
        libxml::xpath::Context::new(&doc).map_err(|()| anyhow::anyhow!("XPath context"))?;
    for (p, ns) in [("pec", NS_PEC), ("prot", NS_PROT)] {
        ctx.register_namespace(p, ns)
            .map_err(|()| anyhow::anyhow!("namespace"))?;
    }
    let mut value = |xpath: &str| -> Option<String> {
        ctx.findvalue(xpath, None)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let received = value("/*/pec:MessaggioRicevuto/pec:Identificatore/prot:NumeroRegistrazione");
    if value("/pec:ConfermaRicezione/pec:Identificatore/prot:NumeroRegistrazione").is_some() {
        let id = "/pec:ConfermaRicezione/pec:Identificatore/prot:";
        let number = value(&format!("{id}NumeroRegistrazione")).unwrap_or_default();
        let date = value(&format!("{id}DataRegistrazione")).unwrap_or_default();
        let time = value(&format!("{id}OraRegistrazione"));
        let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .with_context(|| format!("DataRegistrazione `{date}`"))?;
        let time = match time {
            Some(t) => NaiveTime::parse_from_str(&t, "%H:%M:%S")
                .with_context(|| format!("OraRegistrazione `{t}`"))?,
            None => NaiveTime::MIN,
        };
        let local = date.and_time(time);
        return Ok(Some(Answer::Confirmed {
            number: external::ExternalNumber {
                number: ProtocolNumber::parse(&number)?,
                year: chrono::Datelike::year(&date),
                registered_at: rome_to_utc(local),
            },
            received,
        }));
    }
    if let Some(reason) = value("/pec:NotificaEccezione/pec:Motivo") {
        return Ok(Some(Answer::Exception { reason, received }));
    }
    Ok(None)
}

/// The UTC instant of an Italian local date-time (the offset of the instant itself).
fn rome_to_utc(local: NaiveDateTime) -> NaiveDateTime {
    let guess = local - chrono::Duration::hours(calendar::rome_offset_hours(local));
    local - chrono::Duration::hours(calendar::rome_offset_hours(guess))
}

fn trim_id(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// The request an answer is for: by the Message-ID it replies to, else by our request number.
fn match_request(
    conn: &mut DbConn,
    aoo_id: i64,
    replies_to: &[String],
    received: Option<&str>,
) -> anyhow::Result<Option<i64>> {
    for id in replies_to {
        let found: Option<i64> = preq::table
            .filter(preq::aoo_id.eq(aoo_id))
            .filter(preq::message_id.eq(format!("<{}>", trim_id(id))))
            .select(preq::id)
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    if let Some(n) = received.and_then(|n| n.parse::<i64>().ok()) {
        return Ok(preq::table
            .filter(preq::aoo_id.eq(aoo_id))
            .filter(preq::id.eq(n))
            .filter(preq::adapter.eq("pec"))
            .select(preq::id)
            .first(conn)
            .optional()?);
    }
    Ok(None)
}

/// Reads every PEC-connected AOO's mailbox once; returns how many answers were recorded.
/// Blocking.
pub fn poll(conn: &mut DbConn) -> anyhow::Result<usize> {
    let rows: Vec<(i64, Option<String>)> = aoo::table
        .filter(aoo::register.eq("external"))
        .select((aoo::id, aoo::external))
        .load(conn)?;
    let mut n = 0;
    for (aoo_id, external) in rows {
        let Some(config) = external
            .as_deref()
            .and_then(|j| serde_json::from_str::<ExternalConfig>(j).ok())
        else {
            continue;
        };
        if let ExternalConfig::Pec { .. } = config {
            match poll_aoo(conn, aoo_id, &config) {
                Ok(k) => n += k,
                Err(e) => {
                    tracing::warn!(aoo_id, error = %format!("{e:#}"), "PEC mailbox not read")
                }
            }
        }
    }
    Ok(n)
}

fn poll_aoo(conn: &mut DbConn, aoo_id: i64, config: &ExternalConfig) -> anyhow::Result<usize> {
    let ExternalConfig::Pec {
        imap_host,
        imap_port,
        imap_security,
        imap_ca_file,
        imap_user,
        imap_password_file,
        imap_mailbox,
        ..
    } = config
    else {
        return Ok(0);
    };
    let password = std::fs::read_to_string(imap_password_file).with_context(|| {
        format!(
            "external.imap_password_file {}",
            imap_password_file.display()
        )
    })?;
    let stream = TcpStream::connect((imap_host.as_str(), *imap_port))
        .with_context(|| format!("IMAP {imap_host}:{imap_port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let login = |e: imap::error::Error| anyhow::anyhow!("IMAP login: {e}");
    match imap_security {
        ImapSecurity::Plain => {
            let mut client = imap::Client::new(stream);
            client.read_greeting().context("IMAP greeting")?;
            let mut session = client
                .login(imap_user, password.trim_end())
                .map_err(|(e, _)| login(e))?;
            read_answers(conn, aoo_id, &mut session, imap_mailbox)
        }
        ImapSecurity::Tls => {
            let tls = tls_connector(imap_ca_file.as_deref())?;
            let stream = tls
                .connect(imap_host, stream)
                .map_err(|e| anyhow::anyhow!("IMAP TLS with {imap_host}: {e}"))?;
            let mut client = imap::Client::new(stream);
            client.read_greeting().context("IMAP greeting")?;
            let mut session = client
                .login(imap_user, password.trim_end())
                .map_err(|(e, _)| login(e))?;
            read_answers(conn, aoo_id, &mut session, imap_mailbox)
        }
        ImapSecurity::Starttls => {
            let tls = tls_connector(imap_ca_file.as_deref())?;
            let mut client = imap::Client::new(stream);
            client.read_greeting().context("IMAP greeting")?;
            let client = client
                .secure(imap_host, &tls)
                .map_err(|e| anyhow::anyhow!("IMAP STARTTLS with {imap_host}: {e}"))?;
            let mut session = client
                .login(imap_user, password.trim_end())
                .map_err(|(e, _)| login(e))?;
            read_answers(conn, aoo_id, &mut session, imap_mailbox)
        }
    }
}

/// A TLS client that checks the server's certificate and name against the system's
/// authorities and, when given, those of `ca_file` (PEM).
pub fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<native_tls::TlsConnector> {
    let mut b = native_tls::TlsConnector::builder();
    b.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    if let Some(f) = ca_file {
        let pem =
            std::fs::read(f).with_context(|| format!("external.imap_ca_file {}", f.display()))?;
        let certs = openssl::x509::X509::stack_from_pem(&pem)
            .with_context(|| format!("external.imap_ca_file {}: not PEM", f.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "external.imap_ca_file {}: no certificate",
            f.display()
        );
        for c in certs {
            b.add_root_certificate(native_tls::Certificate::from_der(&c.to_der()?)?);
        }
    }
    Ok(b.build()?)
}

/// Reads the unseen messages of the mailbox and records the answers among them.
fn read_answers<S: std::io::Read + std::io::Write>(
    conn: &mut DbConn,
    aoo_id: i64,
    session: &mut imap::Session<S>,
    imap_mailbox: &str,
) -> anyhow::Result<usize> {
    session.select(imap_mailbox).context("IMAP select")?;
    let mut uids: Vec<u32> = session
        .uid_search("UNSEEN")
        .context("IMAP search")?
        .into_iter()
        .collect();
    uids.sort_unstable();
    let mut recorded = 0;
    for uid in uids {
        let fetched = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .context("IMAP fetch")?;
        let Some(raw) = fetched.iter().find_map(|f| f.body().map(<[u8]>::to_vec)) else {
            continue;
        };
        drop(fetched);
        match handle_message(conn, aoo_id, &raw) {
            Ok(done) => {
                recorded += usize::from(done);
                // Only now, after the commit: a crash before this reads it again next time.
                session
                    .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
                    .context("IMAP store")?;
            }
            Err(e) => {
                tracing::warn!(aoo_id, uid, error = %format!("{e:#}"), "PEC answer not recorded, will read it again");
            }
        }
    }
    let _ = session.logout();
    Ok(recorded)
}

/// One message of the mailbox. Ok(true) when it recorded something; Ok(false) for a message
/// that is not an answer of ours or was recorded before (it is marked seen either way).
fn handle_message(conn: &mut DbConn, aoo_id: i64, raw: &[u8]) -> anyhow::Result<bool> {
    let Some(msg) = mail_parser::MessageParser::default().parse(raw) else {
        return Ok(false);
    };
    let mut replies_to = Vec::new();
    for h in [msg.in_reply_to(), msg.references()] {
        if let Some(t) = h.as_text() {
            replies_to.push(t.to_owned());
        }
        if let Some(list) = h.as_text_list() {
            replies_to.extend(list.iter().map(|s| s.to_string()));
        }
    }
    let mut texts: Vec<String> = msg
        .attachments()
        .map(|p| String::from_utf8_lossy(p.contents()).into_owned())
        .collect();
    if let Some(body) = msg.body_text(0) {
        texts.push(body.into_owned());
    }
    for text in texts {
        if !(text.contains("ConfermaRicezione") || text.contains("NotificaEccezione")) {
            continue;
        }
        let Some(answer) = parse_answer(text.trim())? else {
            continue;
        };
        let received = match &answer {
            Answer::Confirmed { received, .. } | Answer::Exception { received, .. } => {
                received.clone()
            }
        };
        let Some(request_id) = match_request(conn, aoo_id, &replies_to, received.as_deref())?
        else {
            tracing::warn!(aoo_id, "a PEC answer for no request of ours");
            return Ok(false);
        };
        return match answer {
            Answer::Confirmed { number, .. } => external::record(conn, request_id, "pec", number),
            Answer::Exception { reason, .. } => external::refuse(conn, request_id, &reason),
        };
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let ok = format!(
            "<ConfermaRicezione xmlns=\"{NS_PEC}\" xmlns:prot=\"{NS_PROT}\" versione=\"3.0.0\" lang=\"it\">\
             <Identificatore><prot:CodiceAmministrazione>c_x000</prot:CodiceAmministrazione>\
             <prot:CodiceAOO>AOO</prot:CodiceAOO><prot:CodiceRegistro>REG</prot:CodiceRegistro>\
             <prot:NumeroRegistrazione>0000123</prot:NumeroRegistrazione>\
             <prot:DataRegistrazione>2026-12-03</prot:DataRegistrazione>\
             <prot:OraRegistrazione>10:30:00</prot:OraRegistrazione></Identificatore>\
             <MessaggioRicevuto><Identificatore><prot:CodiceAmministrazione>c</prot:CodiceAmministrazione>\
             <prot:CodiceAOO>A</prot:CodiceAOO><prot:CodiceRegistro>SPORTELLO</prot:CodiceRegistro>\
             <prot:NumeroRegistrazione>0000007</prot:NumeroRegistrazione>\
             <prot:DataRegistrazione>2026-12-03</prot:DataRegistrazione></Identificatore></MessaggioRicevuto>\
             </ConfermaRicezione>"
        );
        let Some(Answer::Confirmed { number, received }) = parse_answer(&ok).unwrap() else {
            panic!("not a confirmation");
        };
        assert_eq!(number.number.to_string(), "0000123");
        assert_eq!(number.year, 2026);
        assert_eq!(number.registered_at.to_string(), "2026-12-03 09:30:00");
        assert_eq!(received.as_deref(), Some("0000007"));
        let ko = format!(
            "<NotificaEccezione xmlns=\"{NS_PEC}\" versione=\"3.0.0\" lang=\"it\">\
             <MessaggioRicevuto><DescrizioneMessaggio>x</DescrizioneMessaggio></MessaggioRicevuto>\
             <Motivo>Segnatura non valida</Motivo></NotificaEccezione>"
        );
        assert_eq!(
            parse_answer(&ko).unwrap(),
            Some(Answer::Exception {
                reason: "Segnatura non valida".into(),
                received: None
            })
        );
        assert_eq!(parse_answer("<altro/>").unwrap(), None);
        assert!(parse_answer("non xml").is_err());
    }
}
