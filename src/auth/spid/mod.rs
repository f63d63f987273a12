//! SPID (SAML2) service provider: the SP certificate (`certificate`), signed metadata
//! (`metadata`) and the registry of identity providers (`idp`). AuthnRequest, ACS and
//! single logout come next.

pub mod certificate;
pub mod idp;
pub mod metadata;
