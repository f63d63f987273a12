DROP TABLE spid_logout_requests;
DROP TABLE spid_sessions;
DROP TABLE spid_assertions;
DROP TABLE spid_authn_requests;
