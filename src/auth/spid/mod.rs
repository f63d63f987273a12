//! SPID (SAML2) service provider. For now: the SP certificate (`certificate`); metadata,
//! AuthnRequest, ACS and single logout follow.

pub mod certificate;
