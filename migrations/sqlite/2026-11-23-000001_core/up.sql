-- Core tables: enti, AOO, offices, staff, citizens, catalog, sessions.
-- Keep in step with migrations/postgres/2026-11-23-000001_core/up.sql: same tables, same
-- columns, types that mean the same on both backends (see docs/database.md).

CREATE TABLE enti (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    fiscal_code TEXT,
    ipa_code TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE aoo (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, code)
);

CREATE TABLE offices (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    aoo_id BIGINT NOT NULL REFERENCES aoo (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, code)
);

CREATE TABLE staff_users (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    username TEXT NOT NULL,
    full_name TEXT NOT NULL,
    email TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, username)
);

CREATE TABLE staff_roles (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    staff_user_id BIGINT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('operator', 'protocol_clerk', 'admin')),
    office_id BIGINT REFERENCES offices (id),
    aoo_id BIGINT REFERENCES aoo (id),
    created_at TIMESTAMP NOT NULL,
    CHECK (
        (role = 'operator' AND office_id IS NOT NULL AND aoo_id IS NULL)
        OR (role = 'protocol_clerk' AND aoo_id IS NOT NULL AND office_id IS NULL)
        OR (role = 'admin' AND office_id IS NULL AND aoo_id IS NULL)
    )
);
CREATE INDEX staff_roles_user ON staff_roles (staff_user_id);

CREATE TABLE citizens (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    codice_fiscale TEXT NOT NULL,
    given_name TEXT,
    family_name TEXT,
    email TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, codice_fiscale)
);

CREATE TABLE service_categories (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, slug)
);

CREATE TABLE services (
    id INTEGER PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    category_id BIGINT NOT NULL REFERENCES service_categories (id),
    office_id BIGINT NOT NULL REFERENCES offices (id),
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    who_can_apply TEXT NOT NULL,
    requirements TEXT NOT NULL,
    legal_term_days INTEGER NOT NULL CHECK (legal_term_days > 0),
    min_auth_level INTEGER NOT NULL CHECK (min_auth_level BETWEEN 1 AND 3),
    needs_appointment BOOLEAN NOT NULL,
    needs_payment BOOLEAN NOT NULL,
    published BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (ente_id, slug)
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    ente_id BIGINT NOT NULL REFERENCES enti (id),
    citizen_id BIGINT REFERENCES citizens (id) ON DELETE CASCADE,
    staff_user_id BIGINT REFERENCES staff_users (id) ON DELETE CASCADE,
    auth_method TEXT NOT NULL,
    auth_level INTEGER NOT NULL CHECK (auth_level BETWEEN 1 AND 3),
    idp TEXT,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    CHECK ((citizen_id IS NULL) <> (staff_user_id IS NULL))
);
CREATE INDEX sessions_expires ON sessions (expires_at);
