DROP TABLE audit_heads;
DROP TABLE audit_log;
DROP FUNCTION audit_log_guard();
