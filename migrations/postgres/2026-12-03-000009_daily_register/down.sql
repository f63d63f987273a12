DROP TABLE job_leases;
DROP TABLE daily_registers;
DROP FUNCTION daily_registers_guard();
