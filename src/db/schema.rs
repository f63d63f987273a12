//! The one diesel schema shared by both backends. Written by hand: every column uses a SQL
//! type that means the same on SQLite and PostgreSQL (see docs/database.md).

diesel::table! {
    enti (id) {
        id -> BigInt,
        code -> Text,
        name -> Text,
        fiscal_code -> Nullable<Text>,
        ipa_code -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    aoo (id) {
        id -> BigInt,
        ente_id -> BigInt,
        code -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    offices (id) {
        id -> BigInt,
        ente_id -> BigInt,
        aoo_id -> BigInt,
        code -> Text,
        name -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_users (id) {
        id -> BigInt,
        ente_id -> BigInt,
        username -> Text,
        full_name -> Text,
        email -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_roles (id) {
        id -> BigInt,
        ente_id -> BigInt,
        staff_user_id -> BigInt,
        role -> Text,
        office_id -> Nullable<BigInt>,
        aoo_id -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    citizens (id) {
        id -> BigInt,
        ente_id -> BigInt,
        codice_fiscale -> Text,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    service_categories (id) {
        id -> BigInt,
        ente_id -> BigInt,
        slug -> Text,
        name -> Text,
        description -> Text,
        position -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    services (id) {
        id -> BigInt,
        ente_id -> BigInt,
        category_id -> BigInt,
        office_id -> BigInt,
        slug -> Text,
        title -> Text,
        summary -> Text,
        description -> Text,
        who_can_apply -> Text,
        requirements -> Text,
        legal_term_days -> Integer,
        min_auth_level -> Integer,
        needs_appointment -> Bool,
        needs_payment -> Bool,
        published -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        ente_id -> BigInt,
        citizen_id -> Nullable<BigInt>,
        staff_user_id -> Nullable<BigInt>,
        auth_method -> Text,
        auth_level -> Integer,
        idp -> Nullable<Text>,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(aoo -> enti (ente_id));
diesel::joinable!(offices -> aoo (aoo_id));
diesel::joinable!(staff_roles -> staff_users (staff_user_id));
diesel::joinable!(services -> service_categories (category_id));
diesel::joinable!(services -> offices (office_id));
diesel::joinable!(sessions -> enti (ente_id));

diesel::allow_tables_to_appear_in_same_query!(
    enti,
    aoo,
    offices,
    staff_users,
    staff_roles,
    citizens,
    service_categories,
    services,
    sessions,
);
