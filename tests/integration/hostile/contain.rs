//! The browser and the secrets are contained: no secrets in Chromium's environment, no metadata requests, STARTTLS, masked and one-line page-derived text.
