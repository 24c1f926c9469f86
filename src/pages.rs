//! Template structs, one per page. Page text lives in templates/, in both languages.

use crate::db::rows::ProductRow;
use crate::provenance::Provenance;
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
