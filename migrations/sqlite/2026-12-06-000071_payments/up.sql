-- pagoPA (issue #18 §1): a service's fee, the ente's segregation code, the per-ente counter
-- of IUV bases, and the payments — one debt position each in the GPD, created through the
-- outbox (the `iupd` is its idempotency key). Keep in step with
-- migrations/postgres/2026-12-06-000071_payments/up.sql.

-- The ente's segregation code (codice di segregazione, 2 digits): the first digits of its IUVs.
ALTER TABLE enti ADD COLUMN pagopa_segregation_code TEXT
    CHECK (pagopa_segregation_code IS NULL OR length(pagopa_segregation_code) = 2);
-- The fee of a service (JSON: its items, each a transfer of the position).
ALTER TABLE services ADD COLUMN fee TEXT;

-- The next 13-digit IUV base of each ente: numbers are never reused.
CREATE TABLE payment_counters (
    ente_id BIGINT PRIMARY KEY REFERENCES enti (id),
    next_base BIGINT NOT NULL CHECK (next_base >= 1)
);

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    -- What is paid for: a booking (the instance case comes with the services that need it).
    booking_id TEXT REFERENCES bookings (id),
    instance_id TEXT REFERENCES instances (id),
    -- The debt position's id in the GPD, and the idempotency key of its creation.
    iupd TEXT NOT NULL UNIQUE,
    iuv TEXT NOT NULL CHECK (length(iuv) = 17),
    notice_number TEXT NOT NULL CHECK (length(notice_number) = 18),
    amount_cents BIGINT NOT NULL CHECK (amount_cents >= 1),
    description TEXT NOT NULL,
    -- The transfers (JSON), as sent.
    items TEXT NOT NULL,
    payer_fiscal_code TEXT NOT NULL,
    payer_name TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('creation_pending', 'creation_failed',
        'payment_pending', 'payment_started', 'paid', 'cancelled', 'expired')),
    last_error TEXT,
    -- The receipt (JSON) from the GPD payments API, once paid.
    receipt TEXT,
    paid_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, iuv),
    CHECK ((booking_id IS NULL) <> (instance_id IS NULL)),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
CREATE INDEX payments_booking ON payments (booking_id);
CREATE INDEX payments_status ON payments (status, updated_at);
