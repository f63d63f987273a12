//! The relying party's keys, RSA ≥ 2048 bits, one PEM file each in `cie.keys_dir`:
//! `federation.key.pem` signs the entity configuration (federation key, never used for
//! OIDC), `signing.key.pem` signs request objects and client assertions, `encryption.key.pem`
//! decrypts the userinfo JWE. Made offline by `sportello keys generate`; key ids are RFC 7638
//! thumbprints, so a key keeps its `kid` wherever it is published.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::Jwk;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use sha2::{Digest, Sha256};

pub const FILES: [&str; 3] = [
    "federation.key.pem",
    "signing.key.pem",
    "encryption.key.pem",
];

/// One key pair with its public JWK.
#[derive(Clone)]
pub struct RpKey {
    pub kid: String,
    pub pem: Vec<u8>,
    pub public: Jwk,
}

impl std::fmt::Debug for RpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct RpKeys {
    pub federation: RpKey,
    pub signing: RpKey,
    pub encryption: RpKey,
}

pub fn b64url(data: &[u8]) -> String {
    let s = openssl::base64::encode_block(data);
    s.trim_end_matches('=').replace('+', "-").replace('/', "_")
}

/// RFC 7638 thumbprint of an RSA public JWK.
pub fn thumbprint(jwk: &Jwk) -> Result<String> {
    let e = jwk
        .parameter("e")
        .and_then(|v| v.as_str())
        .context("JWK without e")?;
    let n = jwk
        .parameter("n")
        .and_then(|v| v.as_str())
        .context("JWK without n")?;
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    Ok(b64url(&Sha256::digest(canonical.as_bytes())))
}

fn load_one(path: &Path, usage: &str, alg: &str) -> Result<RpKey> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let pair = RsaKeyPair::from_pem(&pem)
        .with_context(|| format!("{}: not an RSA private key (PEM)", path.display()))?;
    let bits = PKey::private_key_from_pem(&pem)?.bits();
    if bits < 2048 {
        bail!("{}: RSA key of {bits} bits (at least 2048)", path.display());
    }
    let mut public = pair.to_jwk_public_key();
    let kid = thumbprint(&public)?;
    public.set_key_id(&kid);
    public.set_key_use(usage);
    public.set_algorithm(alg);
    Ok(RpKey { kid, pem, public })
}

impl RpKeys {
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self {
            federation: load_one(&dir.join(FILES[0]), "sig", "RS256")?,
            signing: load_one(&dir.join(FILES[1]), "sig", "RS256")?,
            encryption: load_one(&dir.join(FILES[2]), "enc", "RSA-OAEP")?,
        })
    }

    /// The public keys of the OIDC relying party (signing and encryption).
    pub fn oidc_jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [
            serde_json::Value::Object(self.signing.public.as_ref().clone()),
            serde_json::Value::Object(self.encryption.public.as_ref().clone()),
        ]})
    }

    /// The public federation key(s).
    pub fn federation_jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [serde_json::Value::Object(self.federation.public.as_ref().clone())] })
    }
}

/// Writes the three key files (mode 0600) into `dir`; never overwrites. Returns the paths.
pub fn generate(dir: &Path, bits: u32) -> Result<Vec<PathBuf>> {
    if bits < 2048 {
        bail!("--bits must be at least 2048");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
    for p in &paths {
        if p.exists() {
            bail!("{} exists: refusing to overwrite a key", p.display());
        }
    }
    for p in &paths {
        let key = PKey::from_rsa(Rsa::generate(bits)?)?;
        let pem = key.private_key_to_pem_pkcs8()?;
        write_private(p, &pem)?;
    }
    Ok(paths)
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_with_distinct_thumbprints_and_are_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("sportello-keys-{}", uuid::Uuid::new_v4()));
        generate(&dir, 2048).unwrap();
        let keys = RpKeys::load(&dir).unwrap();
        assert_ne!(keys.federation.kid, keys.signing.kid);
        assert_ne!(keys.signing.kid, keys.encryption.kid);
        assert_eq!(keys.encryption.public.key_use(), Some("enc"));
        assert!(generate(&dir, 2048).is_err());
        assert!(generate(&dir.join("small"), 1024).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILES[0]))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
