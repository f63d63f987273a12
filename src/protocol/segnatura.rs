//! The segnatura informatica of a registration (AgID Linee guida 2021, Allegato 6, schema
//! `segnatura_protocollo.xsd` version 3.0.0), signed as the schema's annotation asks: an
//! enveloped XML signature (RSA-SHA256, SHA-256 digests, exclusive canonicalisation) on the
//! XAdES baseline B profile (ETSI EN 319 132-1): `QualifyingProperties` with
//! `SignedProperties` (signing time, digest of the signing certificate) referenced by the
//! signature, the certificate in `KeyInfo`.
//!
//! The document is written directly in its canonical form (exclusive C14N 1.0: no whitespace
//! between elements, attributes in canonical order, every element with start and end tag, the
//! canonical escapes, the namespace declarations where exclusive C14N puts them), so that the
//! bytes digested are the bytes written: the document minus its `ds:Signature` for the first
//! reference, the `xades:SignedProperties` element for the second, `ds:SignedInfo` for the
//! signature. xmlsec1 verifies what this module signs (see tests/api/segnatura.rs), which is
//! the proof that the canonical forms are right.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::Direction;
use crate::db::schema::{
    aoo, attachments, bookings, citizens, classes, enti, fascicoli, foia_counterparties,
    foia_reviews, instance_documents, instance_messages, instances, protocol_registrations as pr,
};
use crate::db::DbConn;
use crate::domain::calendar;
use crate::domain::protocol_number::ProtocolNumber;

pub const NS_PROT: &str = "http://www.agid.gov.it/protocollo/";
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const SIGNED_PROPERTIES: &str = "http://uri.etsi.org/01903#SignedProperties";
/// The register's code in the segnatura (`CodiceRegistro`) unless the AOO names its own
/// (`register_code` in the bundle).
pub const REGISTER_CODE: &str = "PROTOCOLLO";

// ---------------------------------------------------------------------------------------------
// The data

/// An administration (ente and AOO) as the segnatura names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administration {
    /// The ente's IPA code.
    pub ipa_code: String,
    pub name: String,
    /// The ente's fiscal code, when it is the 11 digits the schema wants.
    pub fiscal_code: Option<String>,
    pub aoo_code: String,
    pub aoo_name: String,
    /// The register's code (`CodiceRegistro`, 1–16 of `A-Za-z0-9_.-`).
    pub register_code: String,
}

/// A person (the citizen) as the segnatura names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    /// A natural person with their names and codice fiscale (the applicant: SPID and CIE
    /// give all three).
    Natural {
        given_name: String,
        family_name: String,
        codice_fiscale: String,
    },
    /// A correspondent known by a name only (a FOIA counter-interested party, which the
    /// office names in one field whether a person or an organisation): written as
    /// `PersonaGiuridica` with its `Denominazione`, the schema's one name-only form.
    Named(String),
}

/// A document of the message: the primary one or an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRef {
    pub file_name: String,
    pub mime: String,
    pub description: Option<String>,
    /// SHA-256, hex.
    pub sha256_hex: String,
}

/// Everything a segnatura says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegnaturaData {
    pub administration: Administration,
    pub number: ProtocolNumber,
    /// UTC instant of registration (written as the Italian date and time).
    pub registered_at: NaiveDateTime,
    /// `In`: the person sends to the administration; `Out`: the opposite.
    pub direction: Direction,
    pub person: Person,
    pub subject: String,
    /// Class code and title ("XI.2", "Anagrafe e certificazioni"); `None`: not classified yet.
    pub classification: Option<(String, String)>,
    /// Fascicolo label and subject ("2026/XI.2/3", "Residenze – via Roma").
    pub fascicolo: Option<(String, String)>,
    pub primary: DocRef,
    pub attachments: Vec<DocRef>,
}

// ---------------------------------------------------------------------------------------------
// Canonical XML

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

/// An element written in canonical form. Namespace declarations are given explicitly, where
/// exclusive C14N renders them for the subtree that is digested.
#[derive(Debug, Clone, Default)]
struct El {
    name: String,
    ns: Vec<(&'static str, &'static str)>,
    /// (namespace URI or "", qualified name, value).
    attrs: Vec<(&'static str, String, String)>,
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    El(El),
    Text(String),
}

impl El {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    fn ns(mut self, prefix: &'static str, uri: &'static str) -> Self {
        self.ns.push((prefix, uri));
        self
    }

    fn attr(mut self, ns: &'static str, name: &str, value: impl Into<String>) -> Self {
        self.attrs.push((ns, name.to_owned(), value.into()));
        self
    }

    fn child(mut self, el: El) -> Self {
        self.children.push(Node::El(el));
        self
    }

    fn text(mut self, t: impl Into<String>) -> Self {
        self.children.push(Node::Text(t.into()));
        self
    }

    /// `<name>text</name>`.
    fn leaf(name: &str, t: impl Into<String>) -> Self {
        Self::new(name).text(t)
    }

    fn render(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        let mut ns = self.ns.clone();
        ns.sort();
        for (prefix, uri) in ns {
            out.push_str(" xmlns:");
            out.push_str(prefix);
            out.push_str("=\"");
            escape_attr(uri, out);
            out.push('"');
        }
        let mut attrs: Vec<&(&str, String, String)> = self.attrs.iter().collect();
        let local = |q: &str| q.rsplit(':').next().unwrap_or(q).to_owned();
        attrs.sort_by(|a, b| (a.0, local(&a.1)).cmp(&(b.0, local(&b.1))));
        for (_, name, value) in attrs {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            escape_attr(value, out);
            out.push('"');
        }
        out.push('>');
        for c in &self.children {
            match c {
                Node::El(e) => e.render(out),
                Node::Text(t) => escape_text(t, out),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    fn to_canonical(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }
}

fn hex_to_bytes(hex: &str) -> anyhow::Result<Vec<u8>> {
    if hex.len() % 2 != 0 {
        bail!("odd-length hex digest");
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16).with_context(|| format!("bad hex digest {hex}"))
        })
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
}

fn sha256(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(openssl::hash::hash(MessageDigest::sha256(), bytes)?.to_vec())
}

// ---------------------------------------------------------------------------------------------
// The segnatura

fn p(name: &str) -> El {
    El::new(&format!("prot:{name}"))
}

fn pleaf(name: &str, t: impl Into<String>) -> El {
    El::leaf(&format!("prot:{name}"), t)
}

fn ipa(name: &str, code: &str, description: &str) -> El {
    pleaf(name, code).attr(NS_PROT, "prot:descrizione", description)
}

fn administration(a: &Administration) -> El {
    let mut el = p("Amministrazione").child(pleaf("DenominazioneAmministrazione", &a.name));
    if let Some(cf) = a
        .fiscal_code
        .as_ref()
        .filter(|c| c.len() == 11 && c.bytes().all(|b| b.is_ascii_digit()))
    {
        el = el.child(pleaf("CFAmministrazione", cf));
    }
    el.child(ipa("CodiceIPAAmministrazione", &a.ipa_code, &a.name))
        .child(ipa("CodiceIPAAOO", &a.aoo_code, &a.aoo_name))
}

fn person(pr: &Person) -> El {
    match pr {
        Person::Natural {
            given_name,
            family_name,
            codice_fiscale,
        } => p("PersonaFisica")
            .child(pleaf("Nome", given_name))
            .child(pleaf("Cognome", family_name))
            .child(pleaf("CodiceFiscale", codice_fiscale)),
        Person::Named(name) => p("PersonaGiuridica").child(pleaf("Denominazione", name)),
    }
}

fn document(name: &str, d: &DocRef) -> anyhow::Result<El> {
    let mut el = p(name).attr(NS_PROT, "prot:nomeFile", &d.file_name).attr(
        NS_PROT,
        "prot:mimeType",
        &d.mime,
    );
    if let Some(descr) = d.description.as_ref().filter(|s| !s.trim().is_empty()) {
        el = el.child(pleaf("Descrizione", descr.trim()));
    }
    Ok(
        el.child(pleaf("Impronta", b64(&hex_to_bytes(&d.sha256_hex)?)).attr(
            NS_PROT,
            "prot:algoritmo",
            "SHA-256",
        )),
    )
}

/// The segnatura's root with Intestazione and Descrizione (no signature yet).
fn unsigned(d: &SegnaturaData) -> anyhow::Result<El> {
    let local = calendar::to_rome(d.registered_at);
    let offset = calendar::rome_offset_hours(d.registered_at);
    let a = &d.administration;
    let identificatore = p("Identificatore")
        .child(ipa("CodiceAmministrazione", &a.ipa_code, &a.name))
        .child(ipa("CodiceAOO", &a.aoo_code, &a.aoo_name))
        .child(pleaf("CodiceRegistro", &a.register_code))
        .child(pleaf("NumeroRegistrazione", d.number.to_string()))
        .child(pleaf(
            "DataRegistrazione",
            local.format("%Y-%m-%d").to_string(),
        ))
        .child(pleaf(
            "OraRegistrazione",
            format!("{}+{offset:02}:00", local.format("%H:%M:%S")),
        ));
    let (class_name, class_code) = match &d.classification {
        Some((code, title)) => (title.clone(), code.clone()),
        None => ("Da classificare".to_owned(), "-".to_owned()),
    };
    let mut intestazione = p("Intestazione")
        .child(identificatore)
        .child(pleaf("Oggetto", &d.subject))
        .child(
            p("Classifica")
                .child(pleaf("Denominazione", class_name))
                .child(pleaf("CodiceFlat", class_code)),
        );
    if let Some((label, subject)) = &d.fascicolo {
        intestazione = intestazione.child(
            p("Fascicolo")
                .child(pleaf("Denominazione", subject))
                .child(pleaf("CodiceFascicolo", label)),
        );
    }
    let (from, to) = match d.direction {
        Direction::In => (
            p("Mittente").child(person(&d.person)),
            p("Destinatario").child(administration(a)),
        ),
        Direction::Out => (
            p("Mittente").child(administration(a)),
            p("Destinatario").child(person(&d.person)),
        ),
    };
    let mut descrizione = p("Descrizione")
        .child(from)
        .child(to)
        .child(document("DocumentoPrimario", &d.primary)?);
    for att in &d.attachments {
        descrizione = descrizione.child(document("Allegato", att)?);
    }
    Ok(p("SegnaturaInformatica")
        .ns("prot", NS_PROT)
        .attr(NS_PROT, "prot:versione", "3.0.0")
        .attr(NS_PROT, "prot:lang", "it")
        .child(intestazione)
        .child(descrizione))
}

/// The unsigned segnatura (as canonical XML): what is digested for the document reference.
pub fn build(d: &SegnaturaData) -> anyhow::Result<String> {
    Ok(unsigned(d)?.to_canonical())
}

// ---------------------------------------------------------------------------------------------
// Signing

/// The AOO's signing key and certificate.
pub struct SigningKey {
    key: PKey<Private>,
    cert: X509,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("subject", &self.cert.subject_name())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn from_pem(key: &[u8], cert: &[u8]) -> anyhow::Result<Self> {
        let key = PKey::private_key_from_pem(key).context("not a PEM private key")?;
        let cert = X509::from_pem(cert).context("not a PEM certificate")?;
        if !cert.public_key()?.public_eq(&key) {
            bail!("the certificate is not the key's");
        }
        if key.rsa().is_err() {
            bail!("the segnatura is signed with an RSA key");
        }
        Ok(Self { key, cert })
    }

    pub fn from_pem_files(key: &Path, cert: &Path) -> anyhow::Result<Self> {
        let k = std::fs::read(key).with_context(|| format!("cannot read {}", key.display()))?;
        let c = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
        Self::from_pem(&k, &c).with_context(|| format!("{} / {}", key.display(), cert.display()))
    }

    /// The files of an AOO's pair in `dir`: `<AOO code>.key.pem` and `<AOO code>.crt.pem`.
    pub fn paths(dir: &Path, aoo_code: &str) -> (PathBuf, PathBuf) {
        (
            dir.join(format!("{aoo_code}.key.pem")),
            dir.join(format!("{aoo_code}.crt.pem")),
        )
    }

    /// The AOO's pair from `dir`.
    pub fn for_aoo(dir: &Path, aoo_code: &str) -> anyhow::Result<Self> {
        let (k, c) = Self::paths(dir, aoo_code);
        Self::from_pem_files(&k, &c)
    }

    pub fn cert_der(&self) -> anyhow::Result<Vec<u8>> {
        Ok(self.cert.to_der()?)
    }
}

fn ds(name: &str) -> El {
    El::new(&format!("ds:{name}"))
}

fn algorithm(name: &str, uri: &str) -> El {
    ds(name).attr("", "Algorithm", uri)
}

/// Signs the segnatura of `d` at `signing_time` (UTC): the whole document, signed.
pub fn sign(
    d: &SegnaturaData,
    key: &SigningKey,
    signing_time: NaiveDateTime,
) -> anyhow::Result<Vec<u8>> {
    let mut root = unsigned(d)?;
    let doc_digest = sha256(root.to_canonical().as_bytes())?;
    let id = format!(
        "segnatura-{}-{}",
        calendar::to_rome(d.registered_at).format("%Y"),
        d.number
    );
    let sig_id = format!("{id}-firma");
    let props_id = format!("{id}-xades");
    let doc_ref_id = format!("{id}-documento");
    let cert_der = key.cert_der()?;
    // The signed properties, with the declarations exclusive C14N renders on this subtree.
    let signed_props = El::new("xades:SignedProperties")
        .ns("xades", NS_XADES)
        .attr("", "Id", &props_id)
        .child(
            El::new("xades:SignedSignatureProperties")
                .child(El::leaf(
                    "xades:SigningTime",
                    format!("{}Z", signing_time.format("%Y-%m-%dT%H:%M:%S")),
                ))
                .child(
                    El::new("xades:SigningCertificateV2").child(
                        El::new("xades:Cert").child(
                            El::new("xades:CertDigest")
                                .child(algorithm("DigestMethod", SHA256).ns("ds", NS_DS))
                                .child(
                                    ds("DigestValue")
                                        .ns("ds", NS_DS)
                                        .text(b64(&sha256(&cert_der)?)),
                                ),
                        ),
                    ),
                ),
        )
        // Baseline B (EN 319 132-1 §6.3): the format of every signed data object other than
        // the signed properties — here the segnatura itself.
        .child(
            El::new("xades:SignedDataObjectProperties").child(
                El::new("xades:DataObjectFormat")
                    .attr("", "ObjectReference", format!("#{doc_ref_id}"))
                    .child(El::leaf("xades:MimeType", "application/xml")),
            ),
        );
    let props_digest = sha256(signed_props.to_canonical().as_bytes())?;
    let reference =
        |id: Option<&str>, uri: &str, kind: Option<&str>, transforms: Vec<El>, digest: &[u8]| {
            let mut r = ds("Reference");
            if let Some(id) = id {
                r = r.attr("", "Id", id);
            }
            r = r.attr("", "URI", uri);
            if let Some(t) = kind {
                r = r.attr("", "Type", t);
            }
            let mut ts = ds("Transforms");
            for t in transforms {
                ts = ts.child(t);
            }
            r.child(ts)
                .child(algorithm("DigestMethod", SHA256))
                .child(ds("DigestValue").text(b64(digest)))
        };
    let signed_info = ds("SignedInfo")
        .ns("ds", NS_DS)
        .child(algorithm("CanonicalizationMethod", EXC_C14N))
        .child(algorithm("SignatureMethod", RSA_SHA256))
        .child(reference(
            Some(&doc_ref_id),
            "",
            None,
            vec![
                algorithm("Transform", ENVELOPED),
                algorithm("Transform", EXC_C14N),
            ],
            &doc_digest,
        ))
        .child(reference(
            None,
            &format!("#{props_id}"),
            Some(SIGNED_PROPERTIES),
            vec![algorithm("Transform", EXC_C14N)],
            &props_digest,
        ));
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &key.key)?;
    signer.update(signed_info.to_canonical().as_bytes())?;
    let signature_value = signer.sign_to_vec()?;
    let signature = ds("Signature")
        .ns("ds", NS_DS)
        .attr("", "Id", &sig_id)
        .child(signed_info)
        .child(ds("SignatureValue").text(b64(&signature_value)))
        .child(
            ds("KeyInfo").child(ds("X509Data").child(ds("X509Certificate").text(b64(&cert_der)))),
        )
        .child(
            ds("Object").child(
                El::new("xades:QualifyingProperties")
                    .ns("xades", NS_XADES)
                    .attr("", "Target", format!("#{sig_id}"))
                    .child(signed_props),
            ),
        );
    root.children.push(Node::El(signature));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    root.render(&mut out);
    out.push('\n');
    Ok(out.into_bytes())
}

/// Makes a self-signed test pair for an AOO (RSA 3072, SHA-256, `days` valid) and writes it
/// into `dir` as `<AOO>.key.pem` (mode 0600) and `<AOO>.crt.pem`; never overwrites. A real
/// AOO signs with its qualified electronic seal instead.
pub fn make_test_pair(
    dir: &Path,
    aoo_code: &str,
    organization: &str,
    days: u32,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::x509::{X509NameBuilder, X509};
    let (key_path, cert_path) = SigningKey::paths(dir, aoo_code);
    for p in [&key_path, &cert_path] {
        if p.exists() {
            bail!("{} exists already: not overwritten", p.display());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let rsa = openssl::rsa::Rsa::generate(3072)?;
    let key = PKey::from_rsa(rsa)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("C", "IT")?;
    name.append_entry_by_text("O", organization)?;
    name.append_entry_by_text("CN", &format!("{organization} – AOO {aoo_code} (prova)"))?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (from, until) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(days)?);
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(&key, MessageDigest::sha256())?;
    let cert = b.build();
    crate::text::write_new_file(&key_path, &key.private_key_to_pem_pkcs8()?, 0o600)?;
    crate::text::write_new_file(&cert_path, &cert.to_pem()?, 0o644)?;
    Ok((key_path, cert_path))
}

// ---------------------------------------------------------------------------------------------
// From the database

type RegRow = (
    i64,
    i64,
    i64,
    NaiveDateTime,
    String,
    String,
    String,
    i32,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// What the segnatura of registration `id` says, read from the register and the documents it
/// registered. The attachments are the files registered with it: the submission's attachments
/// for an instance's own registration, the message's documents for a later one (their number
/// must be the register's `attachments_count`, or the data is refused as inconsistent).
pub fn for_registration(conn: &mut DbConn, id: i64) -> anyhow::Result<SegnaturaData> {
    let (reg_id, ente_id, aoo_id, at, direction, subject, digest, count, instance, class, fasc): RegRow =
        pr::table
            .find(id)
            .select((
                pr::id,
                pr::ente_id,
                pr::aoo_id,
                pr::registered_at,
                pr::direction,
                pr::subject,
                pr::document_digest,
                pr::attachments_count,
                pr::instance_id,
                pr::classification,
                pr::fascicolo_id,
            ))
            .first(conn)
            .with_context(|| format!("registration {id}"))?;
    let number: i64 = pr::table.find(id).select(pr::number).first(conn)?;
    let (ente_code, ente_name, ipa_code, fiscal_code): (
        String,
        String,
        Option<String>,
        Option<String>,
    ) = enti::table
        .find(ente_id)
        .select((enti::code, enti::name, enti::ipa_code, enti::fiscal_code))
        .first(conn)?;
    let (aoo_code, aoo_name, register_code): (String, String, String) = aoo::table
        .find(aoo_id)
        .select((aoo::code, aoo::name, aoo::register_code))
        .first(conn)?;
    let citizen = |conn: &mut DbConn, citizen_id: i64| -> anyhow::Result<Person> {
        let (cf, given, family): (String, Option<String>, Option<String>) = citizens::table
            .find(citizen_id)
            .select((
                citizens::codice_fiscale,
                citizens::given_name,
                citizens::family_name,
            ))
            .first(conn)?;
        Ok(Person::Natural {
            given_name: given.unwrap_or_else(|| "N.D.".into()),
            family_name: family.unwrap_or_else(|| "N.D.".into()),
            codice_fiscale: cf,
        })
    };
    let json_doc = |file_name: String, description: Option<&str>| DocRef {
        file_name,
        mime: "application/json".into(),
        description: description.map(str::to_owned),
        sha256_hex: digest.clone(),
    };
    type Files = Vec<(String, String, Option<String>, String)>;
    let (person, primary, attachments): (Person, DocRef, Files) = match instance {
        // A booking's registration (its service registers bookings).
        None => {
            let (code, citizen_id): (String, i64) = bookings::table
                .filter(bookings::registration_id.eq(reg_id))
                .select((bookings::code, bookings::citizen_id))
                .first(conn)
                .optional()?
                .with_context(|| format!("registration {id} belongs to no instance or booking"))?;
            (
                citizen(conn, citizen_id)?,
                json_doc(
                    format!("prenotazione-{code}.json"),
                    Some("Prenotazione di un appuntamento (documento informatico)"),
                ),
                Vec::new(),
            )
        }
        Some(instance_id) => {
            let (citizen_id, primary_reg): (i64, Option<i64>) = instances::table
                .find(&instance_id)
                .select((instances::citizen_id, instances::registration_id))
                .first(conn)?;
            let applicant = citizen(conn, citizen_id)?;
            let message: Option<(i64, String)> = instance_messages::table
                .filter(instance_messages::registration_id.eq(reg_id))
                .select((instance_messages::id, instance_messages::kind))
                .first(conn)
                .optional()?;
            if primary_reg == Some(reg_id) {
                let files: Files = attachments::table
                    .filter(attachments::instance_id.eq(&instance_id))
                    .order((attachments::created_at.asc(), attachments::id.asc()))
                    .select((
                        attachments::filename,
                        attachments::mime,
                        attachments::description,
                        attachments::sha256,
                    ))
                    .load(conn)?;
                (
                    applicant,
                    json_doc(
                        format!("istanza-{instance_id}.json"),
                        Some("Istanza presentata online (documento informatico)"),
                    ),
                    files,
                )
            } else if let Some((message_id, kind)) = message {
                let files: Vec<(String, String, String)> = instance_documents::table
                    .filter(instance_documents::message_id.eq(message_id))
                    .order((
                        instance_documents::created_at.asc(),
                        instance_documents::id.asc(),
                    ))
                    .select((
                        instance_documents::filename,
                        instance_documents::mime,
                        instance_documents::sha256,
                    ))
                    .load(conn)?;
                (
                    applicant,
                    json_doc(format!("{kind}-{message_id}.json"), None),
                    files.into_iter().map(|(f, m, s)| (f, m, None, s)).collect(),
                )
            } else {
                // A FOIA act: a notice to a counter-interested party or its answer (the
                // party is the correspondent), the request for review or its decision.
                let party: Option<(i32, String, Option<i64>)> = foia_counterparties::table
                    .filter(
                        foia_counterparties::registration_id
                            .eq(reg_id)
                            .or(foia_counterparties::answer_registration_id.eq(reg_id)),
                    )
                    .select((
                        foia_counterparties::position,
                        foia_counterparties::name,
                        foia_counterparties::registration_id,
                    ))
                    .first(conn)
                    .optional()?;
                let review: Option<Option<i64>> = foia_reviews::table
                    .filter(
                        foia_reviews::registration_id
                            .eq(reg_id)
                            .or(foia_reviews::decision_registration_id.eq(reg_id)),
                    )
                    .select(foia_reviews::registration_id)
                    .first(conn)
                    .optional()?;
                let (person, file) = match (party, review) {
                    (Some((n, name, notice)), _) => (
                        Person::Named(name),
                        if notice == Some(reg_id) {
                            format!("comunicazione-controinteressato-{n}.json")
                        } else {
                            format!("risposta-controinteressato-{n}.json")
                        },
                    ),
                    (None, Some(request)) => (
                        applicant,
                        if request == Some(reg_id) {
                            "richiesta-riesame.json".to_owned()
                        } else {
                            "decisione-riesame.json".to_owned()
                        },
                    ),
                    (None, None) => {
                        bail!("registration {id}: no act of instance {instance_id} names it")
                    }
                };
                (person, json_doc(file, None), Vec::new())
            }
        }
    };
    if attachments.len() != usize::try_from(count)? {
        bail!(
            "registration {id}: the register counts {count} attachments, {} found",
            attachments.len()
        );
    }
    let classification = match class {
        Some(code) => {
            let title: Option<String> = classes::table
                .filter(classes::ente_id.eq(ente_id))
                .filter(classes::code.eq(&code))
                .select(classes::title)
                .first(conn)
                .optional()?;
            Some((code, title.unwrap_or_default()))
        }
        None => None,
    };
    let fascicolo = match fasc {
        Some(f) => {
            let (year, class, n, subject): (i32, String, i64, String) = fascicoli::table
                .find(f)
                .select((
                    fascicoli::year,
                    fascicoli::class_code,
                    fascicoli::number,
                    fascicoli::subject,
                ))
                .first(conn)?;
            Some((format!("{year}/{class}/{n}"), subject))
        }
        None => None,
    };
    Ok(SegnaturaData {
        administration: Administration {
            ipa_code: ipa_code.unwrap_or(ente_code),
            name: ente_name,
            fiscal_code,
            aoo_code,
            aoo_name,
            register_code,
        },
        number: ProtocolNumber::new(number)?,
        registered_at: at,
        direction: Direction::parse(&direction)
            .ok_or_else(|| anyhow::anyhow!("registration with direction {direction:?}"))?,
        person,
        subject,
        classification,
        fascicolo,
        primary,
        attachments: attachments
            .into_iter()
            .map(|(file_name, mime, description, sha256_hex)| DocRef {
                file_name,
                mime,
                description,
                sha256_hex,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_attributes_escapes_and_never_self_closes() {
        let el = El::new("a:x")
            .ns("a", "urn:a")
            .attr("urn:a", "a:z", "1")
            .attr("", "b", "<\"&\n")
            .attr("urn:a", "a:m", "2")
            .child(El::new("a:empty"))
            .text("1 < 2 & 3 > 2\r");
        assert_eq!(
            el.to_canonical(),
            "<a:x xmlns:a=\"urn:a\" b=\"&lt;&quot;&amp;&#xA;\" a:m=\"2\" a:z=\"1\">\
             <a:empty></a:empty>1 &lt; 2 &amp; 3 &gt; 2&#xD;</a:x>"
        );
    }

    #[test]
    fn hex_digests_become_base64() {
        let bytes = hex_to_bytes("00ff10").unwrap();
        assert_eq!(bytes, [0, 255, 16]);
        assert_eq!(b64(&bytes), "AP8Q");
        assert!(hex_to_bytes("abc").is_err());
        assert!(hex_to_bytes("zz").is_err());
    }
}
