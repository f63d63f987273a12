//! SPID (SAML2) service provider: the SP certificate (`certificate`) and signed metadata
//! (`metadata`). AuthnRequest, ACS and single logout come next.

pub mod certificate;
pub mod metadata;
