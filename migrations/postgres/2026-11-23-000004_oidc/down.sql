DROP TABLE cie_sessions;
DROP TABLE oidc_authorizations;
