//! The consumer side as a person in Taiwan meets it: the home page that finds a lot, labels whose
//! codes count as package scans, amounts in words and times in the place's offset, the shop
//! without intermediate goods, and the staff pages' navigation.

use crate::helpers::*;
use crate::omo::{Browser, staff};
use crate::pages::{get_with, milled};
use serde_json::json;

#[test]
fn the_home_page_finds_a_lot_by_its_codes_and_says_what_is_wrong() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let mut en = Browser::new(app.address());
    let home = en.get("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"find-form\"") && home.body.contains("href=\"/shop\""));
    assert!(
        home.body.contains("src=\"/static/home.js\""),
        "the camera scanner"
    );
    // Found: to the lot's page (a 13-digit GTIN is padded; a pasted link is read).
    for query in [
        format!("gtin={RICE}&lot=R1"),
        format!("gtin={}&lot=R1", &RICE[1..]),
        format!("gtin=https%3A%2F%2Fexample.com%2F01%2F{RICE}%2F10%2FR1&lot="),
        format!("gtin=+{RICE}+&lot=+R1+"),
    ] {
        let found = en.get(&format!("/find?{query}"));
        assert_eq!(
            (found.status, found.location.as_str()),
            (303, format!("/01/{RICE}/10/R1").as_str()),
            "{query}"
        );
    }
    // Not found or not valid: the home page again, what was typed kept, the problem named.
    for (query, status, en_part, zh_part) in [
        (
            format!("gtin={RICE}&lot=NOPE"),
            404,
            "has no lot NOPE",
            "沒有批號 NOPE",
        ),
        (
            "gtin=04712345000039&lot=R1".to_owned(),
            404,
            "no product has the GTIN",
            "找不到 GTIN",
        ),
        (
            "gtin=04712345000023&lot=R1".to_owned(),
            400,
            "GTIN",
            "GTIN 無效",
        ),
        (
            format!("gtin={RICE}&lot=%E2%9C%93"),
            400,
            "lot code",
            "批號無效",
        ),
        ("gtin=&lot=".to_owned(), 400, "type both", "請輸入"),
    ] {
        let page = en.get(&format!("/find?{query}"));
        assert_eq!(page.status, status, "{query}: {}", page.body);
        assert!(
            page.body.contains(en_part) && page.body.contains("id=\"find-form\""),
            "{query}: {}",
            page.body
        );
        let zh = Browser::new(app.address())
            .zh()
            .get(&format!("/find?{query}"));
        assert!(zh.body.contains(zh_part), "{query}: {}", zh.body);
    }
    let kept = en.get(&format!("/find?gtin={RICE}&lot=NOPE"));
    assert!(kept.body.contains("value=\"NOPE\""));
}

#[test]
fn labels_mark_their_codes_and_print_the_element_strings_and_qr_codes_have_the_size_asked() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let (status, _, svg) = get_with(
        &app,
        &format!("/api/v1/lots/{RICE}/R1/qr.svg?size=200"),
        &[],
    );
    assert_eq!(status, 200);
    assert!(svg.contains(" width=\"200\" height=\"200\""), "{svg}");
    let mut png = agent()
        .get(&app.url(&format!("/api/v1/lots/{RICE}/R1/qr.png?size=333")))
        .call()
        .unwrap();
    let bytes = png.body_mut().read_to_vec().unwrap();
    // The IHDR chunk's width and height.
    assert_eq!(
        (&bytes[16..20], &bytes[20..24]),
        (&333u32.to_be_bytes()[..], &333u32.to_be_bytes()[..])
    );
    // A marked code differs from the plain one; a bad marker is refused.
    let (_, _, plain) = get_with(&app, &format!("/api/v1/lots/{RICE}/R1/qr.svg"), &[]);
    let (_, _, marked) = get_with(&app, &format!("/api/v1/lots/{RICE}/R1/qr.svg?src=qr"), &[]);
    assert_ne!(plain, marked);
    for bad in ["src=poster", "store=not-a-store"] {
        let (status, _, body) =
            get_with(&app, &format!("/api/v1/lots/{RICE}/R1/qr.svg?{bad}"), &[]);
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, _, sheet) = get_with(&app, &format!("/labels/01/{RICE}/10/R1?count=3"), &[]);
    assert_eq!(status, 200);
    assert!(
        sheet.contains(&format!(
            "/api/v1/lots/{RICE}/R1/qr.svg?size=240&#38;src=qr"
        )),
        "{sheet}"
    );
    assert!(sheet.contains(&format!(
        "<span class=\"ai\">(01) {RICE}</span> <span class=\"ai\">(10) <bdi>R1</bdi></span>"
    )));
    assert!(sheet.contains("package labels"));
    // Shelf tags for a store count for that store; not for an organization that is not one.
    let store = app.org("Green Leaf Xinyi", &["retailer"]);
    let (status, _, tags) = get_with(
        &app,
        &format!("/labels/01/{RICE}/10/R1?store={}", store.id),
        &[],
    );
    assert_eq!(status, 200);
    assert!(tags.contains(&format!("&#38;store={}", store.id)) && tags.contains("shelf tags"));
    let farm = app.org("A farm", &["producer"]);
    let not_a_store = format!("/labels/01/{RICE}/10/R1?store={}", farm.id);
    let (status, _, body) = get_with(&app, &not_a_store, &[("Accept-Language", "en")]);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("is not a store"));
    let (status, _, body) = get_with(&app, &format!("{not_a_store}&lang=zh-Hant"), &[]);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("不是門市"), "{body}");
}

#[test]
fn amounts_are_words_and_the_servers_times_are_in_the_places_offset() {
    let app = spawn_app(Backend::Sqlite);
    let (_, mill, milled_at) = milled(&app);
    let (_, _, zh) = get_with(
        &app,
        &format!("/01/{RICE}/10/R1"),
        &[("Accept-Language", "zh-TW")],
    );
    assert!(
        zh.contains("<code><bdi>R1</bdi></code>: 300 件"),
        "amounts in words"
    );
    let (_, _, en) = get_with(
        &app,
        &format!("/01/{RICE}/10/R1"),
        &[("Accept-Language", "en")],
    );
    assert!(en.contains("<code><bdi>R1</bdi></code>: 300 pcs"));
    for page in [&zh, &en] {
        assert!(!page.contains("300 H87") && !page.contains(" KGM<") && !page.contains("100 KGM"));
    }
    // A reservation's deadline, kept by the server in UTC, in Taiwan's offset.
    let store = app.org("Green Leaf Xinyi", &["retailer"]);
    assert_eq!(
        app.admin_post(&format!("/api/v1/orgs/{}/hosted-key", store.id), &json!({}))
            .status,
        201
    );
    let mut ship = on_lot("ship", &mill, RICE, "R1", &milled_at, 10);
    ship["to"] = json!(store.id);
    assert_eq!(app.submit(&sign(&mill.key, &ship)).status, 201);
    let receive = on_lot("receive", &store, RICE, "R1", &record_id(&ship), 11);
    assert_eq!(app.submit(&sign(&store.key, &receive)).status, 201);
    let mut consumer = Browser::new(app.address()).zh();
    let form = consumer.get(&format!("/shop/{RICE}/pickup"));
    let reserved = consumer.post(
        &format!("/shop/{RICE}/pickup"),
        &[
            ("csrf", &form.csrf()),
            ("store", &store.id),
            ("quantity", "2"),
            ("name", "林小姐"),
            ("phone", "0912-345-678"),
            ("ch", "qr"),
            ("lot", "R1"),
        ],
    );
    assert_eq!(reserved.status, 303, "{}", reserved.body);
    // A mistake in the form is said in the page's language.
    for (field, value, zh_part) in [
        ("phone", "12", "電話號碼"),
        ("name", " ", "取貨人姓名"),
        ("quantity", "0", "數量請填"),
        ("store", "nope", "門市清單"),
    ] {
        let mut fields = vec![
            ("csrf", form.csrf()),
            ("store", store.id.clone()),
            ("quantity", "1".into()),
            ("name", "林小姐".into()),
            ("phone", "0912-345-678".into()),
            ("ch", "qr".into()),
            ("lot", "R1".into()),
        ];
        for f in &mut fields {
            if f.0 == field {
                f.1 = value.to_owned();
            }
        }
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = consumer.post(&format!("/shop/{RICE}/pickup"), &borrowed);
        assert_eq!(refused.status, 422, "{field}: {}", refused.body);
        assert!(refused.body.contains(zh_part), "{field}: {}", refused.body);
    }
    let mine = consumer.get(&reserved.location);
    assert!(
        mine.body.contains("(UTC+08:00) 前到門市") && !mine.body.contains("(UTC)"),
        "{}",
        mine.body
    );
    assert!(mine.body.contains("2 件"), "{}", mine.body);
    let mut manager = staff(&app, &store, "manager@greenleaf.example");
    let counter = manager.get("/staff/pickups");
    assert!(
        counter.body.contains("class=\"staff-nav\"") && counter.body.contains("action=\"/logout\"")
    );
    assert!(
        counter.body.contains("href=\"/staff/pickups\""),
        "a store's nav has its counter"
    );
    assert!(counter.body.contains("(UTC+08:00)") && !counter.body.contains("(UTC)"));
}

#[test]
fn the_shop_leaves_out_what_is_made_into_other_products() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let (_, _, shop) = get_with(&app, "/shop", &[("Accept-Language", "en")]);
    assert!(shop.contains(&format!("data-gtin=\"{RICE}\"")));
    assert!(
        !shop.contains(&format!("data-gtin=\"{PADDY}\"")),
        "paddy is not offered"
    );
    let (status, _, page) = get_with(
        &app,
        &format!("/shop/{PADDY}"),
        &[("Accept-Language", "en")],
    );
    assert_eq!(status, 404);
    assert!(page.contains("is not sold to consumers"));
    let (_, _, zh) = get_with(
        &app,
        &format!("/shop/{PADDY}"),
        &[("Accept-Language", "zh-TW")],
    );
    assert!(zh.contains("不直接販售給消費者"));
}

/// The JSON-LD a page carries, parsed.
fn json_ld(page: &str) -> serde_json::Value {
    let start = page
        .find("<script type=\"application/ld+json\">")
        .expect("the page carries JSON-LD")
        + "<script type=\"application/ld+json\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

#[test]
fn shop_and_provenance_pages_describe_the_product_in_schema_org_terms() {
    let (_dir, base, _) = serve_demo();
    let agent = agent();
    let get = |path: &str| {
        let mut answer = agent.get(&format!("{base}{path}")).call().unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        answer.body_mut().read_to_string().unwrap()
    };
    for path in [
        format!("/shop/{RICE}"),
        format!("/01/{RICE}/10/RICE-2611-01"),
    ] {
        let ld = json_ld(&get(&path));
        assert_eq!(ld["@type"], "Product", "{path}: {ld}");
        assert_eq!(ld["gtin"], RICE);
        assert_eq!(
            ld["image"],
            format!("{base}/static/img/rice.svg"),
            "{path}: absolute"
        );
        assert_eq!(ld["brand"]["name"], "Chishang Rice Mill", "{path}: {ld}");
        // Sold online and held by the Xinyi and Da'an stores.
        assert_eq!(
            ld["offers"]["availability"], "https://schema.org/InStock",
            "{path}: {ld}"
        );
        assert_eq!(ld["offers"]["price"], "380");
        assert!(ld["url"].as_str().unwrap().starts_with(&base.to_string()));
    }
}

#[test]
fn a_chinese_page_names_a_missing_product_in_chinese_and_marks_an_english_detail() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    let zh = [("Accept-Language", "zh-TW")];
    let (status, _, page) = get_with(&app, "/shop/04712345000046", &zh);
    assert_eq!(status, 404);
    assert!(
        page.contains("沒有商品編號（GTIN）為 04712345000046 的產品"),
        "{page}"
    );
    let (status, _, page) = get_with(&app, "/embed/01/04712345000046", &zh);
    assert_eq!(status, 404);
    assert!(page.contains("沒有商品編號（GTIN）為 04712345000046 的產品"));
    let (status, _, page) = get_with(&app, &format!("/embed/01/{RICE}/10/NOPE"), &zh);
    assert_eq!(status, 404);
    assert!(page.contains("沒有批號 NOPE"), "{page}");
    // A GS1 syntax rule's detail is English: said to be, after the page's own words.
    let (status, _, page) = get_with(&app, "/01/04712345000023", &zh);
    assert_eq!(status, 400);
    assert!(
        page.contains("這個條碼連結無效") && page.contains("說明（英文）：<span lang=\"en\"><bdi>"),
        "{page}"
    );
    let (_, _, page) = get_with(&app, "/01/04712345000023", &[("Accept-Language", "en")]);
    assert!(!page.contains("說明"), "{page}");
    // Heading and advice fit who meets the page: a reservation's customer scanned no package.
    let (status, _, page) = get_with(&app, "/pickup/ABCDE-FGHJK", &zh);
    assert_eq!(status, 404);
    assert!(
        page.contains("找不到您要的資料")
            && page.contains("沒有這個代碼的預約")
            && page.contains("請回上一頁再試一次。")
            && !page.contains("QR 碼"),
        "{page}"
    );
}

#[test]
fn a_forged_form_is_refused_in_the_pages_language() {
    let app = spawn_app(Backend::Sqlite);
    milled(&app);
    for (language, words) in [
        ("zh-TW", "安全驗證碼（CSRF）遺失或不符"),
        ("en", "security token (CSRF) is missing or wrong"),
    ] {
        let mut answer = agent()
            .post(&app.url(&format!("/shop/{RICE}/pickup")))
            .header("Accept-Language", language)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send("store=x&quantity=1&name=A&phone=0912345678")
            .unwrap();
        assert_eq!(answer.status(), 403);
        let page = answer.body_mut().read_to_string().unwrap();
        assert!(page.contains(words), "{language}: {page}");
    }
}
