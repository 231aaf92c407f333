//! Pages for skimwatch's known-bad recognition (docs/intel.md): a script served from a
//! domain on an indicator list, and an outdated jQuery. The listed domain is served by the
//! attacker's server; the browser reaches it through Chromium's host resolver rules
//! (`[browser] host_resolver_rules = "MAP <domain> 127.0.0.4"`), so nothing leaves loopback.

use super::attacks::{insert_before_last, Planted};
use super::{Origin, Resource, Shop};

/// Path of the outdated jQuery [`Shop::add_old_jquery`] serves on the shop.
pub const OLD_JQUERY_PATH: &str = "/static/js/jquery-1.8.1.min.js";

/// A stand-in for jQuery 1.8.1: its banner and file name, not the library (it defines a tiny
/// `jQuery` with the version, as the real one does).
const OLD_JQUERY: &str =
    "/*! jQuery v1.8.1 jquery.com | jquery.org/license */\n(function(w){var jQuery=function(){};jQuery.fn=jQuery.prototype={jquery:\"1.8.1\"};w.jQuery=w.$=jQuery})(window);\n";

/// What the script on the listed domain does: loads, and beacons that it did.
const LISTED_PAYLOAD: &str = "(function(){var i=new Image();i.src=\"{{EXFIL}}?t=listed\";})();\n";

impl Shop {
    /// Serves an outdated jQuery (1.8.1, by file name and banner) on the shop and loads it on
    /// `/checkout` before the shop's own scripts, as old Magento themes do.
    pub fn add_old_jquery(&self) -> Planted {
        self.set_resource(Origin::Shop, OLD_JQUERY_PATH, Resource::js(OLD_JQUERY));
        let tag = format!("<script src=\"{OLD_JQUERY_PATH}\"></script>\n");
        self.edit(Origin::Shop, "/checkout", |page| {
            insert_before_last(&mut page.body, "<script src=\"/static/js/vendor.min.js\"></script>", &tag)
        });
        Planted { modified: self.checkout_url(), added: Some(self.url(Origin::Shop, OLD_JQUERY_PATH)), code: tag }
    }

    /// Loads `http://<domain>:<attacker port>/js/stats.js` on `/checkout`; the attacker's server
    /// answers it. The browser needs `MAP <domain> 127.0.0.4` to find it.
    pub fn add_script_from_domain(&self, domain: &str) -> Planted {
        let path = "/js/stats.js";
        let body = LISTED_PAYLOAD.replace("{{EXFIL}}", &self.exfil_url());
        self.set_resource(Origin::Attacker, path, Resource::js(body.clone()));
        let port = self.host(Origin::Attacker).rsplit(':').next().unwrap_or_default().to_string();
        let url = format!("http://{domain}:{port}{path}");
        let tag = format!("<script src=\"{url}\"></script>\n");
        self.edit(Origin::Shop, "/checkout", |page| insert_before_last(&mut page.body, "</body>", &tag));
        Planted { modified: self.checkout_url(), added: Some(url), code: body }
    }
}
