//! schema.org `Product` JSON-LD for the pages that show a product: a lot's provenance page and
//! the product's shop page. Search engines and shopping sites read it, so every URL in it is
//! absolute, the brand is named, and the offer says where the product can be had now.

use crate::db::rows::ProductRow;
use serde_json::{Value, json};

/// What a page knows of the product it shows.
pub struct ProductLd<'a> {
    /// The server's public URL, for the URLs the product row keeps relative (its image).
    pub public_url: &'a str,
    /// The page's own address, absolute.
    pub url: &'a str,
    /// The product's GS1 Digital Link (the lot's, on a provenance page).
    pub digital_link: &'a str,
    pub name: &'a str,
    pub gtin: &'a str,
    pub product: Option<&'a ProductRow>,
    /// The name of the organization whose brand the product bears.
    pub brand: Option<&'a str>,
    /// Whether a store holds units that are not under a recall.
    pub in_stores: bool,
    /// Whether a recall in force covers what the page shows: then nothing is offered.
    pub recalled: bool,
}

/// `href` as an absolute URL: a path is taken to be on this server.
pub fn absolute(public_url: &str, href: &str) -> String {
    if href.starts_with('/') && !href.starts_with("//") {
        format!("{public_url}{href}")
    } else {
        href.to_owned()
    }
}

impl ProductLd<'_> {
    pub fn to_json(&self) -> Value {
        let mut ld = json!({
            "@context": "https://schema.org",
            "@type": "Product",
            "@id": self.url,
            "name": self.name,
            "gtin": self.gtin,
            "hasGS1DigitalLink": self.digital_link,
            "url": self.url,
        });
        if let Some(brand) = self.brand {
            ld["brand"] = json!({"@type": "Brand", "name": brand});
        }
        let Some(row) = self.product else {
            return ld;
        };
        if let Some(d) = &row.description {
            ld["description"] = json!(d);
        }
        if let Some(img) = &row.image_url {
            ld["image"] = json!(absolute(self.public_url, img));
        }
        if let Some(offer) = self.offer(row) {
            ld["offers"] = offer;
        }
        ld
    }

    /// The offer: online at the listing, in the stores that hold it, or out of stock; none for a
    /// product without a price, nor while a recall is in force.
    fn offer(&self, row: &ProductRow) -> Option<Value> {
        let price = row.price.as_ref()?;
        if self.recalled {
            return None;
        }
        let availability = match (row.listing_url.is_some(), self.in_stores) {
            (true, true) => "InStock",
            (true, false) => "OnlineOnly",
            (false, true) => "InStoreOnly",
            (false, false) => "OutOfStock",
        };
        Some(json!({
            "@type": "Offer",
            "price": price,
            "priceCurrency": row.currency.as_deref().unwrap_or("TWD"),
            "availability": format!("https://schema.org/{availability}"),
            "url": row.listing_url.as_deref().unwrap_or(self.url),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rice() -> ProductRow {
        ProductRow {
            gtin: "04712345000022".into(),
            name: "Chishang rice 2 kg".into(),
            name_zh: None,
            description: Some("Single-origin rice".into()),
            image_url: Some("/static/img/rice.svg".into()),
            price: Some("380".into()),
            currency: Some("TWD".into()),
            listing_url: Some("https://shop.example.com/rice".into()),
            brand_org: Some("org-mill".into()),
            created_at: chrono::NaiveDateTime::default(),
        }
    }

    fn ld(product: &ProductRow, in_stores: bool, recalled: bool) -> Value {
        ProductLd {
            public_url: "https://trace.example",
            url: "https://trace.example/shop/04712345000022",
            digital_link: "https://trace.example/01/04712345000022",
            name: "Chishang rice 2 kg",
            gtin: "04712345000022",
            product: Some(product),
            brand: Some("Chishang Rice Mill"),
            in_stores,
            recalled,
        }
        .to_json()
    }

    #[test]
    fn urls_are_absolute_and_the_brand_is_named() {
        let found = ld(&rice(), true, false);
        assert_eq!(found["image"], "https://trace.example/static/img/rice.svg");
        assert_eq!(found["brand"]["name"], "Chishang Rice Mill");
        assert_eq!(found["offers"]["url"], "https://shop.example.com/rice");
        assert_eq!(
            absolute("https://trace.example", "//elsewhere.example/x.png"),
            "//elsewhere.example/x.png"
        );
    }

    #[test]
    fn availability_follows_the_listing_and_the_stores() {
        let mut product = rice();
        let availability =
            |p: &ProductRow, in_stores| ld(p, in_stores, false)["offers"]["availability"].clone();
        assert_eq!(availability(&product, true), "https://schema.org/InStock");
        assert_eq!(
            availability(&product, false),
            "https://schema.org/OnlineOnly"
        );
        product.listing_url = None;
        assert_eq!(
            availability(&product, true),
            "https://schema.org/InStoreOnly"
        );
        assert_eq!(
            availability(&product, false),
            "https://schema.org/OutOfStock"
        );
        assert_eq!(
            ld(&product, false, false)["offers"]["url"],
            "https://trace.example/shop/04712345000022"
        );
    }

    #[test]
    fn nothing_is_offered_under_a_recall_or_without_a_price() {
        assert!(ld(&rice(), true, true).get("offers").is_none());
        let mut product = rice();
        product.price = None;
        assert!(ld(&product, true, false).get("offers").is_none());
    }
}
