//! The tables, for both backends (migrations/sqlite and migrations/postgres keep them alike).

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        name_zh -> Nullable<Text>,
        roles -> Text,
        gln -> Nullable<Text>,
        created_at -> Timestamp,
        address -> Nullable<Text>,
        phone -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        org_id -> Text,
        label -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        created_by -> Nullable<Text>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    org_locations (org_id, name) {
        org_id -> Text,
        name -> Text,
        gln -> Nullable<Text>,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (keyid) {
        keyid -> Text,
        org_id -> Text,
        public_key -> Binary,
        hosted -> Bool,
        enrolled_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        device -> Bool,
    }
}

diesel::table! {
    devices (keyid) {
        keyid -> Text,
        org_id -> Text,
        user_id -> Text,
        label -> Text,
        public_key -> Binary,
        created_at -> Timestamp,
        approved_at -> Nullable<Timestamp>,
        approved_by -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    products (gtin) {
        gtin -> Text,
        name -> Text,
        name_zh -> Nullable<Text>,
        description -> Nullable<Text>,
        image_url -> Nullable<Text>,
        price -> Nullable<Text>,
        currency -> Nullable<Text>,
        listing_url -> Nullable<Text>,
        brand_org -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    records (log_index) {
        log_index -> BigInt,
        id -> Text,
        payload -> Binary,
        keyid -> Text,
        sig -> Binary,
        event -> Text,
        actor -> Text,
        event_time -> Timestamp,
        accepted_at -> Timestamp,
    }
}

diesel::table! {
    record_lots (log_index, position) {
        log_index -> BigInt,
        position -> Integer,
        gtin -> Text,
        lot -> Text,
        prev -> Nullable<Text>,
    }
}

diesel::table! {
    lots (gtin, lot) {
        gtin -> Text,
        lot -> Text,
        custodian -> Text,
        head -> Text,
        head_time -> Timestamp,
        shipped_to -> Nullable<Text>,
        created_log_index -> BigInt,
    }
}

diesel::table! {
    lot_inputs (gtin, lot, input_gtin, input_lot) {
        gtin -> Text,
        lot -> Text,
        input_gtin -> Text,
        input_lot -> Text,
        log_index -> BigInt,
    }
}

diesel::table! {
    ledger_state (id) {
        id -> Integer,
        next_index -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    invites (token_hash) {
        token_hash -> Text,
        org_id -> Text,
        email -> Text,
        is_admin -> Bool,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        accepted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    hosted_keys (org_id) {
        org_id -> Text,
        keyid -> Text,
        nonce -> Binary,
        sealed_seed -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    reservations (code) {
        code -> Text,
        store_org -> Text,
        gtin -> Text,
        lot -> Text,
        quantity -> BigInt,
        unit -> Text,
        customer_name -> Text,
        customer_phone -> Text,
        channel -> Text,
        status -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        updated_at -> Timestamp,
        confirmed_by -> Nullable<Text>,
        sell_record -> Nullable<Text>,
        holder_phone -> Text,
        holder_browser -> Text,
        holder_address -> Text,
        cancelled_by -> Nullable<Text>,
    }
}

diesel::table! {
    activity_daily (day, gtin, lot, store, kind, channel) {
        day -> Date,
        gtin -> Text,
        lot -> Text,
        store -> Text,
        kind -> Text,
        channel -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    embed_origins (org_id, origin) {
        org_id -> Text,
        origin -> Text,
    }
}

diesel::table! {
    dashboard_daily (org, day, kind, channel) {
        org -> Text,
        day -> Date,
        kind -> Text,
        channel -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    dashboard_running (org, gtin, lot, store, kind, day) {
        org -> Text,
        gtin -> Text,
        lot -> Text,
        store -> Text,
        kind -> Text,
        day -> Date,
        total -> BigInt,
    }
}

diesel::table! {
    dashboard_series (org, gtin, lot, store, kind) {
        org -> Text,
        gtin -> Text,
        lot -> Text,
        store -> Text,
        kind -> Text,
        total -> BigInt,
        last_day -> Date,
    }
}

diesel::table! {
    recall_lots (log_index, gtin, lot) {
        log_index -> BigInt,
        gtin -> Text,
        lot -> Text,
        actor -> Text,
        lifted_log_index -> Nullable<BigInt>,
    }
}

diesel::table! {
    epcis_events (actor, event_id) {
        actor -> Text,
        event_id -> Text,
        log_index -> BigInt,
    }
}

diesel::joinable!(signing_keys -> organizations (org_id));
diesel::joinable!(epcis_events -> records (log_index));
diesel::joinable!(record_lots -> records (log_index));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    devices,
    organizations,
    signing_keys,
    products,
    records,
    record_lots,
    lots,
    lot_inputs,
    ledger_state,
    users,
    sessions,
    invites,
    hosted_keys,
    reservations,
    activity_daily,
    embed_origins,
    org_locations,
    api_tokens,
    dashboard_daily,
    dashboard_running,
    dashboard_series,
    recall_lots,
    epcis_events,
    log_tiles,
    log_checkpoint,
);

diesel::table! {
    log_tiles (level, idx) {
        level -> Integer,
        idx -> BigInt,
        hashes -> Binary,
        root -> Binary,
    }
}

diesel::table! {
    log_checkpoint (id) {
        id -> Integer,
        tree_size -> BigInt,
        note -> Text,
        signed_at -> Timestamp,
    }
}
