//! Authentication: sessions shared by every login method (SPID, CIE, staff single sign-on,
//! the development login), completing a login in one place (`login`), and the SPID/CIE
//! assurance level a session was opened with.

pub mod cie;
pub mod login;
pub mod oidc;
pub mod session;
pub mod spid;
pub mod staff_sso;
pub mod view;

use serde::{Deserialize, Serialize};

/// `bytes` random bytes from the OS, as lowercase hex (tokens, message ids, RelayState).
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)
        .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(crate::text::hex(&buf))
}

/// SPID/CIE level of assurance (1 = password, 2 = two factors, 3 = hardware token/CIE card).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i32", into = "i32")]
pub struct AuthLevel(u8);

/// In the API: an integer from 1 to 3.
impl utoipa::PartialSchema for AuthLevel {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(3))
            .description(Some("SPID/CIE level of assurance (1–3)"))
            .into()
    }
}

impl utoipa::ToSchema for AuthLevel {}

impl AuthLevel {
    pub const L1: AuthLevel = AuthLevel(1);
    pub const L2: AuthLevel = AuthLevel(2);
    pub const L3: AuthLevel = AuthLevel(3);

    pub fn get(self) -> i32 {
        i32::from(self.0)
    }
}

impl TryFrom<i32> for AuthLevel {
    type Error = String;
    fn try_from(v: i32) -> Result<Self, String> {
        match v {
            1..=3 => Ok(Self(v as u8)),
            _ => Err(format!(
                "livello di autenticazione non valido: {v} (ammessi 1, 2, 3)"
            )),
        }
    }
}

impl From<AuthLevel> for i32 {
    fn from(l: AuthLevel) -> i32 {
        l.get()
    }
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Dev,
    Spid,
    Cie,
    StaffSso,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Spid => "spid",
            Self::Cie => "cie",
            Self::StaffSso => "staff_sso",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dev" => Some(Self::Dev),
            "spid" => Some(Self::Spid),
            "cie" => Some(Self::Cie),
            "staff_sso" => Some(Self::StaffSso),
            _ => None,
        }
    }
}
