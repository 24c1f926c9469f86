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

diesel::joinable!(signing_keys -> organizations (org_id));
diesel::joinable!(record_lots -> records (log_index));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    organizations,
    signing_keys,
    products,
    records,
    record_lots,
    lots,
    lot_inputs,
    ledger_state,
);
