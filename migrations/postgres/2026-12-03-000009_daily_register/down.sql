DROP INDEX protocol_registrations_annulled;
DROP INDEX protocol_registrations_registered;
DROP TABLE job_leases;
DROP TABLE daily_registers;
DROP FUNCTION daily_registers_guard();
