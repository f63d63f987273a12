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
        patron_day -> Nullable<Text>,
        transparency_officer -> Nullable<Text>,
        pagopa_segregation_code -> Nullable<Text>,
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
        register -> Text,
        external -> Nullable<Text>,
        register_code -> Text,
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
        can_annul -> Bool,
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
        routing -> Text,
        legal_term_unit -> Text,
        silence_assent -> Bool,
        default_class -> Nullable<Text>,
        procedure_kind -> Nullable<Text>,
        procedure_settings -> Nullable<Text>,
        booking -> Nullable<Text>,
        fee -> Nullable<Text>,
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

diesel::table! {
    form_definitions (id) {
        id -> BigInt,
        ente_id -> BigInt,
        service_id -> BigInt,
        version -> Integer,
        definition -> Text,
        digest -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    protocol_counters (aoo_id, year) {
        aoo_id -> BigInt,
        year -> Integer,
        last_number -> BigInt,
    }
}

diesel::table! {
    protocol_registrations (id) {
        id -> BigInt,
        ente_id -> BigInt,
        aoo_id -> BigInt,
        year -> Integer,
        number -> BigInt,
        registered_at -> Timestamp,
        direction -> Text,
        sender -> Text,
        subject -> Text,
        document_digest -> Text,
        attachments_count -> Integer,
        attachments_description -> Text,
        instance_id -> Nullable<Text>,
        annulled_at -> Nullable<Timestamp>,
        annulled_by -> Nullable<Text>,
        annulment_reason -> Nullable<Text>,
        recipient -> Nullable<Text>,
        annulment_act -> Nullable<Text>,
        classification -> Nullable<Text>,
        fascicolo_id -> Nullable<BigInt>,
        reviewed_at -> Nullable<Timestamp>,
        reviewed_by -> Nullable<BigInt>,
        external_system -> Nullable<Text>,
    }
}

diesel::table! {
    protocol_requests (id) {
        id -> BigInt,
        ente_id -> BigInt,
        aoo_id -> BigInt,
        instance_id -> Nullable<Text>,
        idempotency_key -> Text,
        adapter -> Text,
        payload -> Text,
        status -> Text,
        message_id -> Nullable<Text>,
        registration_id -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        booking_id -> Nullable<Text>,
    }
}

diesel::table! {
    instances (id) {
        id -> Text,
        ente_id -> BigInt,
        service_id -> BigInt,
        form_id -> BigInt,
        citizen_id -> BigInt,
        status -> Text,
        data -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        submitted_at -> Nullable<Timestamp>,
        office_id -> Nullable<BigInt>,
        document -> Nullable<Text>,
        document_digest -> Nullable<Text>,
        registration_id -> Nullable<BigInt>,
        due_date -> Nullable<Date>,
        submit_key -> Nullable<Text>,
        version -> BigInt,
        assignee_id -> Nullable<BigInt>,
        outcome -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        suspended_days -> Integer,
        integration_expired -> Bool,
        rated -> Bool,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        instance_id -> Text,
        ente_id -> BigInt,
        filename -> Text,
        description -> Nullable<Text>,
        kind -> Text,
        mime -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        storage_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    instance_events (id) {
        id -> BigInt,
        instance_id -> Text,
        at -> Timestamp,
        kind -> Text,
        actor -> Text,
        details -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        ente_id -> BigInt,
        kind -> Text,
        dedupe_key -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        locked_by -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    spid_authn_requests (id) {
        id -> Text,
        relay_state -> Text,
        ente_id -> BigInt,
        idp -> Text,
        level -> Integer,
        next_path -> Text,
        browser_binding -> Text,
        issue_instant -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    spid_assertions (idp, assertion_id) {
        idp -> Text,
        assertion_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    spid_sessions (session_id_hash) {
        session_id_hash -> Text,
        idp -> Text,
        name_id -> Text,
        name_qualifier -> Nullable<Text>,
        session_index -> Nullable<Text>,
    }
}

diesel::table! {
    spid_logout_requests (id) {
        id -> Text,
        relay_state -> Text,
        idp -> Text,
        next_path -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    oidc_authorizations (state) {
        state -> Text,
        kind -> Text,
        ente_id -> BigInt,
        provider -> Text,
        nonce -> Text,
        code_verifier -> Text,
        level -> Integer,
        next_path -> Text,
        browser_binding -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    cie_sessions (session_id_hash) {
        session_id_hash -> Text,
        provider -> Text,
        subject -> Text,
        access_token -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        ente_id -> BigInt,
        seq -> BigInt,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Text,
        action -> Text,
        object_kind -> Text,
        object_id -> Text,
        client_ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_heads (ente_id) {
        ente_id -> BigInt,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        ente_id -> BigInt,
        name -> Text,
        prefix -> Text,
        secret_sha256 -> Text,
        scopes -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(aoo -> enti (ente_id));
diesel::joinable!(form_definitions -> services (service_id));
diesel::joinable!(instances -> services (service_id));
diesel::joinable!(instances -> citizens (citizen_id));
diesel::table! {
    instance_notes (id) {
        id -> BigInt,
        instance_id -> Text,
        ente_id -> BigInt,
        staff_user_id -> BigInt,
        at -> Timestamp,
        body -> Text,
    }
}

diesel::table! {
    instance_messages (id) {
        id -> BigInt,
        instance_id -> Text,
        ente_id -> BigInt,
        at -> Timestamp,
        sender -> Text,
        staff_user_id -> Nullable<BigInt>,
        kind -> Text,
        body -> Text,
        data -> Nullable<Text>,
        registration_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    integration_requests (instance_id) {
        instance_id -> Text,
        ente_id -> BigInt,
        requested_at -> Timestamp,
        requested_by -> BigInt,
        days -> Integer,
        suspended_from -> Date,
        answer_by -> Date,
        message_id -> BigInt,
        answered_at -> Nullable<Timestamp>,
        answer_message_id -> Nullable<BigInt>,
        answer_document -> Nullable<Text>,
        answer_digest -> Nullable<Text>,
        expired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    instance_documents (id) {
        id -> Text,
        instance_id -> Text,
        ente_id -> BigInt,
        uploaded_by -> Text,
        filename -> Text,
        mime -> Text,
        size_bytes -> BigInt,
        sha256 -> Text,
        storage_key -> Text,
        created_at -> Timestamp,
        message_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    service_ratings (id) {
        id -> Text,
        ente_id -> BigInt,
        service_id -> BigInt,
        month -> Text,
        stars -> Integer,
        reason -> Text,
        comment -> Nullable<Text>,
    }
}

diesel::joinable!(instances -> offices (office_id));
diesel::joinable!(instances -> staff_users (assignee_id));
diesel::table! {
    daily_registers (id) {
        id -> BigInt,
        ente_id -> BigInt,
        aoo_id -> BigInt,
        register_date -> Date,
        format -> Text,
        sha256 -> Text,
        entries_count -> Integer,
        annulments_count -> Integer,
        content -> Text,
        produced_at -> Timestamp,
        produced_by -> Text,
    }
}

diesel::table! {
    job_leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(instance_notes -> instances (instance_id));
diesel::joinable!(instance_notes -> staff_users (staff_user_id));
diesel::joinable!(instance_messages -> instances (instance_id));
diesel::joinable!(integration_requests -> instances (instance_id));
diesel::joinable!(instance_documents -> instances (instance_id));
diesel::joinable!(service_ratings -> services (service_id));
diesel::joinable!(instances -> protocol_registrations (registration_id));
diesel::joinable!(api_tokens -> staff_users (created_by));
diesel::joinable!(protocol_requests -> aoo (aoo_id));
diesel::joinable!(protocol_requests -> instances (instance_id));
diesel::joinable!(instances -> form_definitions (form_id));
diesel::joinable!(attachments -> instances (instance_id));
diesel::joinable!(instance_events -> instances (instance_id));
diesel::joinable!(offices -> aoo (aoo_id));
diesel::joinable!(daily_registers -> aoo (aoo_id));
diesel::joinable!(staff_roles -> staff_users (staff_user_id));
diesel::joinable!(services -> service_categories (category_id));
diesel::joinable!(services -> offices (office_id));
diesel::joinable!(protocol_registrations -> fascicoli (fascicolo_id));
diesel::joinable!(fascicoli -> offices (office_id));
diesel::joinable!(sessions -> enti (ente_id));
diesel::joinable!(citizens -> enti (ente_id));
diesel::joinable!(spid_authn_requests -> enti (ente_id));
diesel::joinable!(spid_sessions -> sessions (session_id_hash));
diesel::joinable!(cie_sessions -> sessions (session_id_hash));
diesel::joinable!(oidc_authorizations -> enti (ente_id));

diesel::table! {
    calendars (id) {
        id -> BigInt,
        ente_id -> BigInt,
        service_id -> BigInt,
        office_id -> BigInt,
        code -> Text,
        name -> Text,
        location -> Nullable<Text>,
        slot_minutes -> Integer,
        capacity -> Integer,
        hours -> Text,
        closures -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    calendar_closures (id) {
        id -> BigInt,
        calendar_id -> BigInt,
        day -> Date,
        reason -> Text,
        created_by -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    booking_slots (id) {
        id -> BigInt,
        calendar_id -> BigInt,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        capacity -> Integer,
        booked -> Integer,
        cancelled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    booking_limits (citizen_id, service_id) {
        citizen_id -> BigInt,
        service_id -> BigInt,
        active -> Integer,
        max_active -> Integer,
    }
}

diesel::table! {
    bookings (id) {
        id -> Text,
        ente_id -> BigInt,
        service_id -> BigInt,
        calendar_id -> BigInt,
        slot_id -> BigInt,
        citizen_id -> BigInt,
        code -> Text,
        status -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        reason -> Text,
        notes -> Nullable<Text>,
        email -> Nullable<Text>,
        hold_until -> Nullable<Timestamp>,
        sequence -> Integer,
        reminder_queued_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        cancelled_by -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        registration_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    booking_waitlist (id) {
        id -> BigInt,
        ente_id -> BigInt,
        calendar_id -> BigInt,
        day -> Date,
        citizen_id -> BigInt,
        email -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        offered_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(calendars -> services (service_id));
diesel::joinable!(calendars -> offices (office_id));
diesel::joinable!(calendar_closures -> calendars (calendar_id));
diesel::joinable!(booking_slots -> calendars (calendar_id));
diesel::joinable!(bookings -> calendars (calendar_id));
diesel::joinable!(bookings -> services (service_id));
diesel::joinable!(bookings -> citizens (citizen_id));
diesel::joinable!(booking_waitlist -> calendars (calendar_id));

diesel::allow_tables_to_appear_in_same_query!(
    payments,
    payment_counters,
    calendars,
    calendar_closures,
    booking_slots,
    booking_limits,
    bookings,
    booking_waitlist,
    enti,
    aoo,
    offices,
    staff_users,
    staff_roles,
    citizens,
    service_categories,
    services,
    sessions,
    form_definitions,
    protocol_counters,
    protocol_registrations,
    instances,
    attachments,
    instance_events,
    outbox,
    spid_authn_requests,
    spid_assertions,
    spid_sessions,
    spid_logout_requests,
    oidc_authorizations,
    cie_sessions,
    instance_notes,
    instance_messages,
    integration_requests,
    instance_documents,
    service_ratings,
    protocol_requests,
    classes,
    fascicolo_counters,
    fascicoli,
    registration_filing_history,
    daily_registers,
    job_leases,
    refusal_notices,
    foia_requests,
    foia_counterparty_notices,
    foia_counterparties,
    foia_reviews,
    api_tokens,
    audit_log,
    audit_heads,
);

diesel::table! {
    foia_requests (instance_id) {
        instance_id -> Text,
        ente_id -> BigInt,
        public_subject -> Nullable<Text>,
        subject_edited_by -> Nullable<BigInt>,
        subject_edited_at -> Nullable<Timestamp>,
        decision_limit -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    foia_counterparty_notices (instance_id) {
        instance_id -> Text,
        ente_id -> BigInt,
        notified_at -> Timestamp,
        notified_by -> BigInt,
        suspended_from -> Date,
        answer_by -> Date,
        resumed_on -> Nullable<Date>,
        resumed_because -> Nullable<Text>,
    }
}

diesel::table! {
    foia_counterparties (id) {
        id -> BigInt,
        instance_id -> Text,
        ente_id -> BigInt,
        position -> Integer,
        name -> Text,
        address -> Nullable<Text>,
        email -> Nullable<Text>,
        registration_id -> Nullable<BigInt>,
        answered_at -> Nullable<Timestamp>,
        opposed -> Nullable<Bool>,
        answer_text -> Nullable<Text>,
        answer_registration_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    foia_reviews (instance_id) {
        instance_id -> Text,
        ente_id -> BigInt,
        requested_at -> Timestamp,
        ground -> Text,
        reason -> Text,
        due_date -> Date,
        registration_id -> Nullable<BigInt>,
        decided_at -> Nullable<Timestamp>,
        decided_by -> Nullable<BigInt>,
        outcome -> Nullable<Text>,
        decision_limit -> Nullable<Text>,
        motivation -> Nullable<Text>,
        decision_registration_id -> Nullable<BigInt>,
    }
}

diesel::joinable!(foia_requests -> instances (instance_id));
diesel::joinable!(foia_counterparty_notices -> instances (instance_id));
diesel::joinable!(foia_reviews -> instances (instance_id));

diesel::table! {
    classes (id) {
        id -> BigInt,
        ente_id -> BigInt,
        code -> Text,
        title -> Text,
        parent_code -> Nullable<Text>,
        position -> Integer,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    fascicolo_counters (ente_id, year, class_code) {
        ente_id -> BigInt,
        year -> Integer,
        class_code -> Text,
        last_number -> BigInt,
    }
}

diesel::table! {
    fascicoli (id) {
        id -> BigInt,
        ente_id -> BigInt,
        aoo_id -> BigInt,
        year -> Integer,
        class_code -> Text,
        number -> BigInt,
        subject -> Text,
        office_id -> BigInt,
        created_at -> Timestamp,
        created_by -> BigInt,
    }
}

diesel::table! {
    registration_filing_history (id) {
        id -> BigInt,
        registration_id -> BigInt,
        at -> Timestamp,
        staff_user_id -> BigInt,
        field -> Text,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
    }
}

diesel::table! {
    refusal_notices (instance_id) {
        instance_id -> Text,
        ente_id -> BigInt,
        sent_at -> Timestamp,
        sent_by -> BigInt,
        observations_by -> Date,
        message_id -> BigInt,
    }
}

diesel::joinable!(refusal_notices -> instances (instance_id));

diesel::table! {
    payment_counters (ente_id) {
        ente_id -> BigInt,
        next_base -> BigInt,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        ente_id -> BigInt,
        booking_id -> Nullable<Text>,
        instance_id -> Nullable<Text>,
        iupd -> Text,
        iuv -> Text,
        notice_number -> Text,
        amount_cents -> BigInt,
        description -> Text,
        items -> Text,
        payer_fiscal_code -> Text,
        payer_name -> Text,
        due_at -> Timestamp,
        status -> Text,
        last_error -> Nullable<Text>,
        receipt -> Nullable<Text>,
        paid_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(payments -> bookings (booking_id));
diesel::joinable!(payments -> enti (ente_id));
