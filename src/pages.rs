//! Template structs, one per page. Page text lives in templates/, in both languages.

use crate::dashboard::{Counts, Summary};
use crate::db::rows::{InviteRow, ProductRow, UserRow};
use crate::pickup::ReserveForm;
use crate::provenance::{OrgView, Provenance, Step};
use askama::Template;

#[derive(Template)]
#[template(path = "provenance.html")]
pub struct ProvenancePage<'a> {
    pub zh: bool,
    pub lang_switch: String,
    pub p: &'a Provenance,
    pub product_name: String,
    pub uri: String,
    pub lot_path: String,
    /// schema.org JSON-LD, with `<`, `>` and `&` escaped so no text can close the script element.
    pub json_ld: String,
    pub buy_url: Option<String>,
    pub pickup_url: String,
    pub oembed_url: String,
}

#[derive(Template)]
#[template(path = "product.html")]
pub struct ProductPage<'a> {
    pub zh: bool,
    pub lang_switch: String,
    pub product: &'a ProductRow,
    pub product_name: String,
    pub uri: String,
    /// (lot code, its page's path)
    pub lots: Vec<(String, String)>,
}

/// A printable sheet of QR labels for one lot.
#[derive(Template, askama_web::WebTemplate)]
#[template(path = "labels.html")]
pub struct LabelsPage {
    pub name: String,
    pub name_zh: Option<String>,
    pub gtin: String,
    pub lot: String,
    pub uri: String,
    pub qr: String,
    pub count: u32,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub zh: bool,
    pub lang_switch: String,
    pub status: u16,
    pub detail: String,
}

/// A product as the shop lists it.
#[derive(Debug, Clone)]
pub struct ShopItem {
    pub gtin: String,
    pub name: String,
    /// The name in the other language, when there is one.
    pub other_name: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub price: Option<String>,
    /// The farms its latest lot came from.
    pub origins: Vec<OrgView>,
    /// Whether every record of its latest lot verifies; None when it has no lot yet.
    pub verified: Option<bool>,
    /// (lot code, provenance page) of its latest lot.
    pub latest_lot: Option<(String, String)>,
    pub store_count: usize,
    pub buy_href: Option<String>,
    pub href: String,
    pub pickup_href: String,
}

#[derive(Template)]
#[template(path = "shop.html")]
pub struct ShopPage {
    pub zh: bool,
    pub lang_switch: String,
    pub items: Vec<ShopItem>,
}

/// One store's stock of a product.
#[derive(Debug, Clone)]
pub struct StoreStock {
    pub store: OrgView,
    pub on_hand: Option<String>,
    pub lots: Vec<String>,
    pub href: String,
    pub pickup_href: String,
}

#[derive(Template)]
#[template(path = "shop_product.html")]
pub struct ShopProductPage {
    pub zh: bool,
    pub lang_switch: String,
    pub item: ShopItem,
    pub stores: Vec<StoreStock>,
    /// (lot code, provenance page)
    pub lots: Vec<(String, String)>,
}

pub struct StoreLine {
    pub product_name: String,
    pub gtin: String,
    pub lot: String,
    pub href: String,
    pub on_hand: Option<String>,
    pub since: String,
    pub shelf_tag: String,
    pub pickup_href: String,
}

#[derive(Template)]
#[template(path = "store.html")]
pub struct StorePage {
    pub zh: bool,
    pub lang_switch: String,
    pub store: OrgView,
    pub gln: Option<String>,
    pub lines: Vec<StoreLine>,
}

#[derive(Template)]
#[template(path = "pickup_form.html")]
pub struct PickupFormPage {
    pub zh: bool,
    pub lang_switch: String,
    pub product_name: String,
    pub gtin: String,
    pub stores: Vec<StoreStock>,
    pub form: ReserveForm,
    pub csrf: String,
    pub error: Option<String>,
    pub max_units: i64,
    pub minutes: u32,
}

/// A reservation as pages show it.
#[derive(Debug, Clone)]
pub struct ReservationView {
    pub code: String,
    pub code_display: String,
    pub href: String,
    pub product_name: String,
    pub gtin: String,
    pub lot: String,
    pub quantity: i64,
    pub unit: String,
    pub customer_name: String,
    pub customer_phone: String,
    /// reserved, expired, handing_over, picked_up or cancelled
    pub standing: &'static str,
    pub created: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "reservation.html")]
pub struct ReservationPage {
    pub zh: bool,
    pub lang_switch: String,
    pub r: ReservationView,
    pub store: OrgView,
    pub store_href: String,
    /// An SVG QR code of the staff link, made by the qrcode crate.
    pub qr_svg: String,
    /// Only the first character of the name is shown on a page reachable by its code.
    pub first_name: String,
}

#[derive(Template)]
#[template(path = "staff_pickups.html")]
pub struct StaffPickupsPage {
    pub zh: bool,
    pub lang_switch: String,
    pub store: OrgView,
    pub recent: Vec<ReservationView>,
    /// For the cancel buttons of reservations still held.
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "staff_pickup.html")]
pub struct StaffPickupPage {
    pub zh: bool,
    pub lang_switch: String,
    pub r: ReservationView,
    pub csrf: String,
    pub can_confirm: bool,
    pub message: Option<String>,
    pub error: Option<String>,
    pub sell_record: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub zh: bool,
    pub lang_switch: String,
    pub csrf: String,
    pub next: String,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub zh: bool,
    pub lang_switch: String,
    pub csrf: String,
    pub org: OrgView,
    pub email: String,
    pub name: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub zh: bool,
    pub lang_switch: String,
    pub user: UserRow,
    pub org: OrgView,
    pub is_store: bool,
    pub hosted_key: Option<String>,
    pub staff: Vec<UserRow>,
    pub invites: Vec<InviteRow>,
    pub new_invite: Option<String>,
    pub error: Option<String>,
    pub csrf: String,
}

/// Where one of an organization's lots is now.
pub struct WentRow {
    pub product: String,
    pub lot: String,
    pub href: String,
    pub holder: Option<OrgView>,
    pub is_store: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub zh: bool,
    pub lang_switch: String,
    pub org: OrgView,
    pub days: u32,
    pub s: Summary,
    /// (product name, lot, counts)
    pub lot_rows: Vec<(String, String, Counts)>,
    /// (store name, counts)
    pub store_rows: Vec<(String, Counts)>,
    pub went: Vec<WentRow>,
    pub reservations: Vec<ReservationView>,
    pub csrf: String,
}

/// The compact provenance card that lives in an iframe.
#[derive(Template)]
#[template(path = "embed.html")]
pub struct EmbedCard<'a> {
    pub zh: bool,
    pub p: &'a Provenance,
    pub product_name: String,
    pub image: Option<String>,
    pub price: Option<String>,
    pub buy_href: Option<String>,
    pub pickup_href: String,
    pub page_href: String,
    pub last_step: Option<Step>,
}

/// JSON for a `<script type="application/ld+json">` element: HTML-significant characters escaped.
pub fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let out = script_json(&serde_json::json!({"name": "</script><script>alert(1)</script>"}));
        assert!(!out.contains('<') && !out.contains('>'));
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script>");
    }
}
