DROP INDEX protocol_registrations_annulled;
DROP INDEX protocol_registrations_registered;
DROP TABLE job_leases;
DROP TRIGGER daily_registers_no_delete;
DROP TRIGGER daily_registers_no_update;
DROP TABLE daily_registers;
