//! `config check`: a config read as every command reads it, and the alert templates it names
//! loaded and rendered on samples as the watch daemon does at startup, without scanning or
//! sending anything. A template problem is reported like a config error, at the
//! `[alerts] templates` key (file, line, column and key), followed by the template's own
//! message (its file and line).

use crate::alert::render::{RenderError, Renderer};
use crate::config::{read::error_at, Config, ConfigError, WebhookUrl};
use crate::model::Severity;
use std::path::{Path, PathBuf};

/// What a valid config sets up, for the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub config: Config,
    /// Where alerts go, one entry per destination (`email to 2 recipients, medium and above`).
    pub destinations: Vec<String>,
    /// The folder of template overrides, when one is configured (else the built-in ones).
    pub templates: Option<PathBuf>,
    /// Environment variables the config names that are not set here, with the key naming each
    /// (`password_env`, `alerts.webhook[0].secret_env`): not an error (the check may run where
    /// the daemon's secrets are not), but `watch` would refuse to start.
    pub unset_env: Vec<(String, String)>,
}

/// Reads the config at `path` and loads the templates it names.
pub fn check(path: &Path) -> Result<Checked, ConfigError> {
    let config = Config::load(path)?;
    let templates = config.alerts.templates.clone();
    if let Err(e) = Renderer::load(templates.as_deref(), path) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let message = match &e {
            // The message of a template names the file by its name; here by its path.
            RenderError::Template { name, message } => match &templates {
                Some(dir) if dir.join(name).is_file() => {
                    format!("alert template {}: {message}", dir.join(name).display())
                }
                _ => e.to_string(),
            },
            _ => e.to_string(),
        };
        return Err(error_at(&text, path, &["alerts", "templates"], message));
    }
    if let Err((rule, e)) = crate::intel::Intel::check_user_files(&config.intel) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        return Err(error_at(&text, path, &["intel", if rule { "rules" } else { "lists" }], e.to_string()));
    }
    let mut destinations = Vec::new();
    let mut unset_env = Vec::new();
    if let Some(email) = &config.alerts.email {
        let n = email.to.len();
        destinations.push(format!(
            "email to {n} recipient{} ({})",
            if n == 1 { "" } else { "s" },
            at_or_above(email.min_severity)
        ));
        if let Some(name) = &email.password_env {
            if std::env::var_os(name).is_none() {
                unset_env.push((name.clone(), "password_env".to_string()));
            }
        }
    }
    for (i, hook) in config.alerts.webhooks.iter().enumerate() {
        let target = match &hook.url {
            WebhookUrl::Literal(url) => crate::alert::webhook::redacted(url),
            WebhookUrl::Env(name) => format!("the URL in ${name}"),
        };
        let signed = if hook.secret_env.is_some() { ", signed" } else { "" };
        destinations.push(format!(
            "webhook {} ({}{signed}) to {target} ({})",
            hook.name,
            hook.kind,
            at_or_above(hook.min_severity)
        ));
        let vars = [("url_env", hook.url_env()), ("secret_env", hook.secret_env.as_deref())];
        for (key, name) in vars {
            if let Some(name) = name.filter(|n| std::env::var_os(n).is_none()) {
                unset_env.push((name.to_string(), format!("alerts.webhook[{i}].{key}")));
            }
        }
    }
    Ok(Checked { config, destinations, templates, unset_env })
}

fn at_or_above(s: Severity) -> String {
    match s {
        Severity::Critical => "critical only".to_string(),
        s => format!("{s} and above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "[[page]]\nname = \"checkout\"\nurl = \"https://shop.example/checkout\"\n";

    #[test]
    fn a_good_config_is_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skimwatch.toml");
        let email = "[alerts.email]\nsmtp = \"smtp://mail.example\"\nfrom = \"a@shop.example\"\nto = [\"b@shop.example\", \"c@shop.example\"]\nmin_severity = \"high\"\nusername = \"sw\"\npassword_env = \"SKIMWATCH_TEST_CHECK_UNSET_VARIABLE\"\n";
        std::fs::write(&path, format!("{PAGE}{email}")).unwrap();
        let c = check(&path).unwrap();
        assert_eq!(c.config.pages.len(), 1);
        assert_eq!(c.destinations, ["email to 2 recipients (high and above)"]);
        assert_eq!(c.unset_env, [("SKIMWATCH_TEST_CHECK_UNSET_VARIABLE".to_string(), "password_env".to_string())]);
        assert_eq!(c.templates, None);

        let hooks = "[[alerts.webhook]]\nname = \"siem\"\nurl = \"https://siem.example/hooks/sw?t=1\"\nkind = \"json\"\nsecret_env = \"SKIMWATCH_TEST_CHECK_UNSET_SECRET\"\n\
                     [[alerts.webhook]]\nurl_env = \"SKIMWATCH_TEST_CHECK_UNSET_URL\"\nkind = \"slack\"\nmin_severity = \"critical\"\n";
        std::fs::write(&path, format!("{PAGE}{hooks}")).unwrap();
        let c = check(&path).unwrap();
        assert_eq!(
            c.destinations,
            [
                "webhook siem (json, signed) to https://siem.example (medium and above)",
                "webhook slack (slack) to the URL in $SKIMWATCH_TEST_CHECK_UNSET_URL (critical only)"
            ]
        );
        let unset: Vec<(&str, &str)> = c.unset_env.iter().map(|(n, k)| (n.as_str(), k.as_str())).collect();
        assert_eq!(
            unset,
            [
                ("SKIMWATCH_TEST_CHECK_UNSET_SECRET", "alerts.webhook[0].secret_env"),
                ("SKIMWATCH_TEST_CHECK_UNSET_URL", "alerts.webhook[1].url_env")
            ]
        );
    }

    #[test]
    fn template_problems_point_at_the_templates_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skimwatch.toml");
        std::fs::write(&path, format!("{PAGE}\n[alerts]\ntemplates = \"mail\"\n")).unwrap();
        let e = check(&path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:6:13: alerts.templates: alert templates: ", path.display())), "{e}");
        assert!(e.contains("is not a folder"), "{e}");

        std::fs::create_dir(dir.path().join("mail")).unwrap();
        assert!(check(&path).is_ok(), "an empty folder: every template built in");
        std::fs::write(dir.path().join("mail/email.txt.j2"), "{% if %}").unwrap();
        let e = check(&path).unwrap_err().to_string();
        let file = dir.path().join("mail/email.txt.j2");
        assert!(
            e.starts_with(&format!(
                "{}:6:13: alerts.templates: alert template {}: line 1: ",
                path.display(),
                file.display()
            )),
            "{e}"
        );
    }
}
