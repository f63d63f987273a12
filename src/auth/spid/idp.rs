//! The registry of SPID identity providers: read at start-up from a directory of metadata
//! files (`spid.idp_metadata_dir`) — the official IdPs' metadata from AgID's registry, or a
//! test IdP. Their signing certificates are what responses will be verified against; the
//! list feeds the "Entra con SPID" button (`GET /api/v1/auth/spid/idps`).
//!
//! A file may hold one `EntityDescriptor` or an `EntitiesDescriptor` aggregate. Entities
//! without an `IDPSSODescriptor` are skipped; an IdP without a signing certificate or a
//! single sign-on endpoint is refused (it could never be used), and so is an unreadable file.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context};
use openssl::x509::X509;
use samael::metadata::{EntityDescriptor, EntityDescriptorType};
use serde::Serialize;

pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// One identity provider, as its metadata describes it.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityProvider {
    pub entity_id: String,
    /// The organisation's display name (Italian when given), for the login button.
    pub name: String,
    #[serde(skip)]
    pub sso_redirect: Option<String>,
    #[serde(skip)]
    pub sso_post: Option<String>,
    /// Single logout endpoints by binding.
    #[serde(skip)]
    pub slo: Vec<(String, String)>,
    /// DER of each signing certificate.
    #[serde(skip)]
    pub signing_certificates: Vec<Vec<u8>>,
}

impl IdentityProvider {
    /// The single logout endpoint of the HTTP-Redirect binding.
    pub fn slo_redirect(&self) -> Option<String> {
        self.slo
            .iter()
            .find(|(binding, _)| binding == BINDING_REDIRECT)
            .map(|(_, location)| location.clone())
    }
}

#[derive(Debug, Clone, Default)]
pub struct IdpRegistry {
    idps: BTreeMap<String, IdentityProvider>,
}

fn display_name(e: &EntityDescriptor, entity_id: &str) -> String {
    let org = e.organization.as_ref();
    let names = org
        .and_then(|o| o.organization_display_names.clone())
        .or_else(|| org.and_then(|o| o.organization_names.clone()))
        .unwrap_or_default();
    names
        .iter()
        .find(|n| n.lang.as_deref() == Some("it"))
        .or_else(|| names.first())
        .map(|n| n.value.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| entity_id.to_owned())
}

fn from_entity(e: &EntityDescriptor) -> anyhow::Result<Option<IdentityProvider>> {
    let Some(idp) = e.idp_sso_descriptors.as_ref().and_then(|v| v.first()) else {
        return Ok(None);
    };
    let entity_id = e
        .entity_id
        .clone()
        .filter(|id| !id.trim().is_empty())
        .context("an IdP without entityID")?;
    let mut certs = Vec::new();
    for kd in &idp.key_descriptors {
        if kd.key_use.as_deref().is_some_and(|u| u != "signing") {
            continue;
        }
        for b64 in kd
            .key_info
            .x509_data
            .iter()
            .flat_map(|d| d.certificates.iter())
        {
            let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            let der = openssl::base64::decode_block(&clean)
                .with_context(|| format!("{entity_id}: certificate is not base64"))?;
            X509::from_der(&der)
                .with_context(|| format!("{entity_id}: not an X.509 certificate"))?;
            certs.push(der);
        }
    }
    if certs.is_empty() {
        bail!("{entity_id}: no signing certificate");
    }
    let endpoint = |binding: &str| {
        idp.single_sign_on_services
            .iter()
            .find(|s| s.binding == binding)
            .map(|s| s.location.clone())
    };
    let (sso_redirect, sso_post) = (endpoint(BINDING_REDIRECT), endpoint(BINDING_POST));
    if sso_redirect.is_none() && sso_post.is_none() {
        bail!("{entity_id}: no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding");
    }
    Ok(Some(IdentityProvider {
        name: display_name(e, &entity_id),
        sso_redirect,
        sso_post,
        slo: idp
            .single_logout_services
            .iter()
            .map(|s| (s.binding.clone(), s.location.clone()))
            .collect(),
        signing_certificates: certs,
        entity_id,
    }))
}

impl IdpRegistry {
    /// Reads every `*.xml` file of `dir` (sorted by name; a later file may not redefine an
    /// IdP already read).
    pub fn load_dir(dir: &Path) -> anyhow::Result<Self> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        files.sort();
        let mut reg = Self::default();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            reg.add_metadata(&text)
                .with_context(|| format!("IdP metadata {}", path.display()))?;
        }
        Ok(reg)
    }

    /// Adds the IdPs of one metadata document.
    pub fn add_metadata(&mut self, xml: &str) -> anyhow::Result<usize> {
        let doc = EntityDescriptorType::from_str(xml)
            .map_err(|e| anyhow::anyhow!("not SAML metadata: {e}"))?;
        let mut added = 0;
        for e in doc.iter() {
            if let Some(idp) = from_entity(e)? {
                if self.idps.contains_key(&idp.entity_id) {
                    bail!("IdP {} is defined twice", idp.entity_id);
                }
                self.idps.insert(idp.entity_id.clone(), idp);
                added += 1;
            }
        }
        Ok(added)
    }

    pub fn get(&self, entity_id: &str) -> Option<&IdentityProvider> {
        self.idps.get(entity_id)
    }

    /// The IdPs by name, for the login button.
    pub fn list(&self) -> Vec<&IdentityProvider> {
        let mut v: Vec<_> = self.idps.values().collect();
        v.sort_by_key(|i| i.name.to_lowercase());
        v
    }

    pub fn len(&self) -> usize {
        self.idps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idps.is_empty()
    }
}
