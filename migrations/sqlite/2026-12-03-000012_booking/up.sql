-- Appointment booking (issue #14): calendars of bookable services, slots with a capacity the
-- database enforces, bookings, one-off closures, waiting lists. Keep in step with
-- migrations/postgres/2026-12-03-000012_booking.

-- A bookable service's own rules (JSON: per-citizen limit, cancellation deadline, reminder,
-- window, protocol, payment hold), NULL for a service without calendars.
ALTER TABLE services ADD COLUMN booking TEXT;

CREATE TABLE calendars (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    office_id BIGINT NOT NULL REFERENCES offices (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    location TEXT,
    slot_minutes INTEGER NOT NULL CHECK (slot_minutes BETWEEN 5 AND 480),
    capacity INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 100),
    -- Weekly opening hours (JSON: [{days, from, to}]) and the ente's days off (JSON dates).
    hours TEXT NOT NULL,
    closures TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, code)
);

-- Closures staff enter (a whole day of one calendar).
CREATE TABLE calendar_closures (
    id INTEGER PRIMARY KEY,
    calendar_id BIGINT NOT NULL REFERENCES calendars (id),
    day DATE NOT NULL,
    reason TEXT NOT NULL,
    created_by BIGINT NOT NULL REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (calendar_id, day)
);

-- A slot exists as a row from its first booking on: its counter is what stops overbooking.
CREATE TABLE booking_slots (
    id INTEGER PRIMARY KEY,
    calendar_id BIGINT NOT NULL REFERENCES calendars (id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    capacity INTEGER NOT NULL,
    booked INTEGER NOT NULL DEFAULT 0,
    -- Cancelled by staff: nobody may book it any more.
    cancelled_at TIMESTAMP,
    CHECK (booked >= 0 AND booked <= capacity),
    UNIQUE (calendar_id, starts_at)
);

-- How many active bookings a citizen holds for a service, and how many they may.
CREATE TABLE booking_limits (
    citizen_id BIGINT NOT NULL REFERENCES citizens (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    active INTEGER NOT NULL DEFAULT 0,
    max_active INTEGER NOT NULL,
    CHECK (active >= 0 AND active <= max_active),
    PRIMARY KEY (citizen_id, service_id)
);

CREATE TABLE bookings (
    id TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    service_id BIGINT NOT NULL REFERENCES services (id),
    calendar_id BIGINT NOT NULL REFERENCES calendars (id),
    slot_id BIGINT NOT NULL REFERENCES booking_slots (id),
    citizen_id BIGINT NOT NULL REFERENCES citizens (id),
    -- Short code the citizen shows at the desk.
    code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('confirmed', 'pending_payment', 'cancelled', 'expired', 'attended', 'no_show')),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    notes TEXT,
    email TEXT,
    -- A booking waiting for its payment holds its place until then.
    hold_until TIMESTAMP,
    -- Changes of time (the iCalendar SEQUENCE).
    sequence INTEGER NOT NULL DEFAULT 0,
    reminder_queued_at TIMESTAMP,
    cancelled_at TIMESTAMP,
    cancelled_by TEXT,
    cancel_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, code)
);
CREATE INDEX bookings_citizen ON bookings (citizen_id, starts_at);
CREATE INDEX bookings_calendar ON bookings (calendar_id, starts_at);
CREATE INDEX bookings_reminder ON bookings (status, reminder_queued_at, starts_at);

-- Citizens waiting for a place on a full day.
CREATE TABLE booking_waitlist (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    calendar_id BIGINT NOT NULL REFERENCES calendars (id),
    day DATE NOT NULL,
    citizen_id BIGINT NOT NULL REFERENCES citizens (id),
    email TEXT,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'offered', 'withdrawn')),
    created_at TIMESTAMP NOT NULL,
    offered_at TIMESTAMP,
    UNIQUE (calendar_id, day, citizen_id)
);
