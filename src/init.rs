//! `sportello init`: the files a new ente starts from — a commented production configuration
//! that `sportello config check` accepts, an ente bundle skeleton that `sportello load`
//! accepts (the ente, one AOO, two offices, one administrator), a session secret, and, when
//! asked, the SPID certificate and the CIE relying party's keys — and the next steps.
//!
//! Nothing is ever overwritten: the output directory must not exist or be empty.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::text::write_new_file;

/// What `sportello init` was asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    /// The ente's IPA code (`c_h501`), its code in Sportello.
    pub ente_code: String,
    /// "Comune di Esempio".
    pub name: String,
    /// Where the files go (created; must be empty).
    pub out: PathBuf,
    /// What citizens type, `https://…`.
    pub public_url: String,
    /// Where the service keeps its SQLite database and attachments.
    pub data_dir: PathBuf,
    /// The AOO's code in IPA.
    pub aoo_code: String,
    /// The administrator's username and e-mail address.
    pub admin: String,
    pub admin_email: String,
    /// The ente's seat, for the SPID certificate (`localityName`).
    pub locality: String,
    pub with_spid: bool,
    pub with_cie: bool,
}

/// What was written, and what to do next.
#[derive(Debug, Clone)]
pub struct Initialized {
    /// The configuration directory (give it as `--config-dir`, or copy it to /etc/sportello).
    pub config_dir: PathBuf,
    pub bundle_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub next_steps: Vec<String>,
}

fn check(req: &InitRequest) -> anyhow::Result<()> {
    let code = &req.ente_code;
    if code.is_empty()
        || code.len() > 32
        || !code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        bail!("--ente-code `{code}`: the ente's IPA code, lowercase letters, digits and `_` (e.g. c_h501)");
    }
    if req.name.trim().is_empty() || req.name.contains('"') || req.name.contains('\n') {
        bail!("--name: the ente's name, on one line and without quotes");
    }
    if !req.public_url.starts_with("https://") {
        bail!("--public-url must be an https:// URL (what citizens type)");
    }
    if !req
        .aoo_code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        || req.aoo_code.is_empty()
    {
        bail!("--aoo-code `{}`: letters, digits, `_` or `-`", req.aoo_code);
    }
    if !is_slugish(&req.admin) {
        bail!(
            "--admin `{}`: a username (letters, digits, `.`, `_`, `-`)",
            req.admin
        );
    }
    crate::domain::email::Email::parse(&req.admin_email)
        .map_err(|e| anyhow::anyhow!("--admin-email: {e}"))?;
    if !req.data_dir.is_absolute() {
        bail!("--data-dir must be an absolute path for a production configuration");
    }
    Ok(())
}

fn is_slugish(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
}

/// The host part of the public URL (for the sender address's domain).
fn host_of(url: &str) -> &str {
    let rest = url.trim_start_matches("https://");
    rest.split(['/', ':']).next().unwrap_or(rest)
}

fn production_toml(req: &InitRequest, dir: &Path) -> String {
    let d = dir.display();
    let data = req.data_dir.display();
    let host = host_of(&req.public_url);
    let domain = host.strip_prefix("sportello.").unwrap_or(host);
    let name = &req.name;
    let code = &req.ente_code;
    let spid = if req.with_spid {
        format!(
            r#"
[spid]
# SPID service provider. The key and certificate below were made by `sportello init`
# (Avviso SPID n. 29 v3). Put the IdPs' metadata files (*.xml) in idp_metadata_dir, then set
# enabled = true and send AgID the URL of the signed metadata: {url}/spid/metadata
enabled = false
key_file = "{d}/spid/key.pem"
cert_file = "{d}/spid/crt.pem"
service_name = "Sportello online del cittadino"
organization_name = "{name}"
organization_url = "https://www.{domain}"
ipa_code = "{code}"
contact_email = "protocollo@{domain}"
idp_metadata_dir = "{d}/spid/idps"
"#,
            url = req.public_url,
        )
    } else {
        String::new()
    };
    let cie = if req.with_cie {
        format!(
            r#"
[cie]
# "Entra con CIE": relying party of the OpenID Connect Federation. The keys in keys_dir were
# made by `sportello init`. At onboarding give the Trust Anchor the federation public key (our
# entity configuration: {url}/.well-known/openid-federation), add the Trust Anchor below
# ([[cie.trust_anchors]]) and the trust mark it issues ([[cie.trust_marks]]), then set
# enabled = true.
enabled = false
keys_dir = "{d}/cie"
client_name = "Sportello online del {name}"
organization_name = "{name}"
homepage_uri = "https://www.{domain}"
contacts = ["protocollo@{domain}"]
"#,
            url = req.public_url,
        )
    } else {
        String::new()
    };
    format!(
        r#"# Production configuration of {name}, written by `sportello init`. Keys not set here keep
# the defaults compiled into the binary (config/default.toml in the sources); every key and
# its meaning: config/production.example.toml. Check it with
#   sportello config check --config-dir {d}
# Environment variables SPORTELLO__SECTION__KEY override anything here.

[server]
host = "127.0.0.1"                 # behind the reverse proxy (deploy/nginx.conf)
port = 8080
public_url = "{url}"   # what citizens type; https required

[database]
# SQLite suits a small comune on one server. For PostgreSQL (several instances, replicas):
#   url_file = "{d}/database-url"   (a file holding postgres://sportello:PASSWORD@host/sportello)
url = "sqlite://{data}/sportello.db"

[session]
secret_file = "{d}/session-secret"   # made by `sportello init`: keep it secret

[tenancy]
default_ente = "{code}"

[storage]
backend = "local"
local_dir = "{data}/attachments"

[mail]
# The ente's mail relay (receipts, notices, reminders). With a password:
#   username = "sportello"
#   password_file = "{d}/smtp-password"
transport = "smtp"
smtp_host = "localhost"
smtp_port = 25
tls = "none"                       # "starttls" or "tls" for a relay on another machine
from = "{name} <noreply@{domain}>"

[segnatura]
# The AOO's key and certificate for the segnatura informatica (<AOO>.key.pem, <AOO>.crt.pem):
# its qualified electronic seal, exported as PEM. Until then the segnatura is unavailable.
# key_dir = "{d}/segnatura"
{spid}{cie}"#,
        url = req.public_url,
    )
}

fn ente_toml(req: &InitRequest) -> String {
    let InitRequest {
        ente_code,
        name,
        aoo_code,
        admin,
        admin_email,
        ..
    } = req;
    let domain = host_of(&req.public_url);
    let domain = domain.strip_prefix("sportello.").unwrap_or(domain);
    format!(
        r#"# The bundle of {name}, written by `sportello init`: the ente, its AOO, its offices and
# staff, the categories and (in services/) the services of its catalog. Load it with
#   sportello load <this directory>
# (again after every change: loading is idempotent). Shape and keys: docs/catalog.md.

[ente]
code = "{ente_code}"
name = "{name}"
ipa_code = "{ente_code}"
# fiscal_code = "00000000000"       # the ente's codice fiscale (11 digits)
# patron_day = "06-24"              # the patron saint's day, MM-DD: no term ends on it
# transparency_officer = "{admin}"  # the RPCT (a username below): decides FOIA reviews

[[aoo]]
code = "{aoo_code}"
name = "{name} – Area organizzativa omogenea"
# register_code = "PROTOCOLLO"      # the register's code in the segnatura
# The register is Sportello's own; for the comune's protocol system see docs/protocol.md:
#   register = "external"
#   [aoo.external] …

[[offices]]
code = "protocollo"
name = "Ufficio Protocollo"
aoo = "{aoo_code}"
email = "protocollo@{domain}"

[[offices]]
code = "segreteria"
name = "Segreteria generale – URP"
aoo = "{aoo_code}"
email = "urp@{domain}"

[[staff]]
username = "{admin}"
full_name = "Amministratore di Sportello"
email = "{admin_email}"
roles = [{{ role = "admin" }}]

# A protocol clerk and an operator, for example:
# [[staff]]
# username = "protocollista"
# full_name = "…"
# email = "…"
# roles = [{{ role = "protocol_clerk", aoo = "{aoo_code}", annul = true }}]
#
# [[staff]]
# username = "operatore.urp"
# full_name = "…"
# email = "…"
# roles = [{{ role = "operator", office = "segreteria" }}]
"#
    )
}

/// Writes the files of a new ente into `req.out` and returns what was written and the next
/// steps. The configuration and the bundle are read back before returning: what `init`
/// writes, `config check` and `load` accept.
pub fn init(req: &InitRequest) -> anyhow::Result<Initialized> {
    check(req)?;
    let out = &req.out;
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("cannot read {}", out.display()))?
            .next()
            .is_some()
    {
        bail!("{} is not empty: init never overwrites", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let dir = out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", out.display()))?;
    let mut files = Vec::new();

    let mut secret = [0u8; 48];
    openssl::rand::rand_bytes(&mut secret)?;
    let secret_file = dir.join("session-secret");
    write_new_file(
        &secret_file,
        format!("{}\n", openssl::base64::encode_block(&secret)).as_bytes(),
        0o600,
    )?;
    files.push(secret_file);
    let config = dir.join("production.toml");
    write_new_file(&config, production_toml(req, &dir).as_bytes(), 0o640)?;
    files.push(config);

    let bundle_dir = dir.join("bundle");
    std::fs::create_dir_all(bundle_dir.join("services"))?;
    let ente = bundle_dir.join("ente.toml");
    write_new_file(&ente, ente_toml(req).as_bytes(), 0o644)?;
    files.push(ente);
    write_new_file(
        &bundle_dir.join("services/README.md"),
        b"One TOML file per service of the catalog (see docs/catalog.md and the demo's\n\
          config/demo/services/ in the sources). Its categories go in ente.toml ([[categories]]).\n",
        0o644,
    )?;

    let mut next = vec![
        format!(
            "Check the configuration: sportello config check --config-dir {}",
            dir.display()
        ),
        format!(
            "Edit {}/production.toml: the mail relay, the database (PostgreSQL beyond one machine).",
            dir.display()
        ),
        format!(
            "Add the services to {}/services/ and staff to ente.toml, then load the bundle: \
             sportello load {}",
            bundle_dir.display(),
            bundle_dir.display()
        ),
    ];
    if req.with_spid {
        use crate::auth::spid::certificate::{generate, write, CertificateRequest};
        let g = generate(&CertificateRequest {
            entity_id: req.public_url.clone(),
            ipa_code: req.ente_code.clone(),
            organization_name: req.name.clone(),
            common_name: req.name.clone(),
            locality: req.locality.clone(),
            key_bits: 3072,
            days: 730,
            digest: "sha256".to_owned(),
        })?;
        let (key, crt) = write(&dir.join("spid"), &g)?;
        std::fs::create_dir_all(dir.join("spid/idps"))?;
        files.extend([key, crt]);
        next.push(format!(
            "SPID: put the IdPs' metadata in {}/spid/idps, set spid.enabled = true, start the \
             service, and send AgID (the SPID onboarding) the metadata URL {}/spid/metadata \
             (signed with {}/spid/crt.pem).",
            dir.display(),
            req.public_url,
            dir.display()
        ));
    }
    if req.with_cie {
        let paths = crate::auth::cie::keys::generate(&dir.join("cie"), 3072)?;
        files.extend(paths);
        next.push(format!(
            "CIE: start the service and give the federation's Trust Anchor (onboarding at the \
             Ministero dell'Interno) the entity configuration {}/.well-known/openid-federation; \
             add its [[cie.trust_anchors]] and the trust mark it issues, set cie.enabled = true.",
            req.public_url
        ));
    }
    next.push(format!(
        "Start: `systemctl enable --now sportello` (the Debian package's service reads \
         /etc/sportello: write there with --out /etc/sportello, or set SPORTELLO_CONFIG_DIR={} \
         in the unit — the paths in production.toml name {}), or `sportello serve \
         --config-dir {}`; behind nginx (deploy/nginx.conf) with TLS for {}.",
        dir.display(),
        dir.display(),
        dir.display(),
        req.public_url
    ));

    // What was written must be accepted as it is.
    crate::config::load(&dir, crate::config::Environment::Production)
        .map_err(|e| anyhow::anyhow!("the written configuration is refused: {e}"))?;
    crate::bundle::Bundle::read(&bundle_dir).context("the written bundle is refused")?;
    Ok(Initialized {
        config_dir: dir,
        bundle_dir,
        files,
        next_steps: next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_domain_comes_from_the_public_url() {
        assert_eq!(
            host_of("https://sportello.comune.esempio.it/"),
            "sportello.comune.esempio.it"
        );
        assert_eq!(
            host_of("https://servizi.comune.it:8443/x"),
            "servizi.comune.it"
        );
    }
}
