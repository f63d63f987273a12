DROP TABLE payments;
DROP TABLE payment_counters;
ALTER TABLE services DROP COLUMN fee;
ALTER TABLE enti DROP COLUMN pagopa_segregation_code;
