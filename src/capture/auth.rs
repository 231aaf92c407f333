//! HTTP basic auth for a page (`basic_auth`): while the page's first document loads, Fetch
//! pauses the page origin's document requests and answers their `401` challenges with the
//! configured user and password — only for the page's own origin (a challenge from any
//! other host, a third party or the attacker's, is cancelled: credentials never leave for
//! it). Chromium's auth cache then sends them with the origin's later requests. Interception
//! ends once the page has loaded, before the journey and the shopper (which use Fetch too).

use chromiumoxide::cdp::browser_protocol::fetch::{
    AuthChallengeResponse, AuthChallengeResponseResponse, AuthChallengeSource, ContinueRequestParams,
    ContinueWithAuthParams, DisableParams, EnableParams, EventAuthRequired, EventRequestPaused, RequestPattern,
    RequestStage,
};
use chromiumoxide::cdp::browser_protocol::network::ResourceType;
use chromiumoxide::Page;
use futures::StreamExt;
use tokio_util::task::AbortOnDropHandle;

/// Answers challenges until [`Challenges::stop`].
pub(super) struct Challenges {
    page: Page,
    _task: AbortOnDropHandle<()>,
}

/// Starts answering `origin`'s challenges (`http://host:port`) with `user` and `password`.
pub(super) async fn answer(page: &Page, origin: &str, user: &str, password: &str) -> chromiumoxide::Result<Challenges> {
    let mut paused = page.event_listener::<EventRequestPaused>().await?;
    let mut challenged = page.event_listener::<EventAuthRequired>().await?;
    let enable = EnableParams {
        patterns: Some(vec![RequestPattern {
            url_pattern: Some(format!("{origin}/*")),
            resource_type: Some(ResourceType::Document),
            request_stage: Some(RequestStage::Request),
        }]),
        handle_auth_requests: Some(true),
    };
    page.execute(enable).await?;
    let (p, origin, user, password) = (page.clone(), origin.to_string(), user.to_string(), password.to_string());
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(ev) = paused.next() => {
                    let _ = p.execute(ContinueRequestParams::new(ev.request_id.clone())).await;
                }
                Some(ev) = challenged.next() => {
                    let ours = ev.auth_challenge.origin == origin
                        && ev.auth_challenge.source != Some(AuthChallengeSource::Proxy);
                    let response = if ours {
                        AuthChallengeResponse {
                            response: AuthChallengeResponseResponse::ProvideCredentials,
                            username: Some(user.clone()),
                            password: Some(password.clone()),
                        }
                    } else {
                        tracing::warn!(challenger = %ev.auth_challenge.origin, "an HTTP auth challenge from another origin was cancelled");
                        AuthChallengeResponse { response: AuthChallengeResponseResponse::CancelAuth, username: None, password: None }
                    };
                    let _ = p.execute(ContinueWithAuthParams::new(ev.request_id.clone(), response)).await;
                }
                else => return,
            }
        }
    });
    Ok(Challenges { page: page.clone(), _task: AbortOnDropHandle::new(task) })
}

impl Challenges {
    /// Ends the interception (paused requests go on).
    pub(super) async fn stop(self) {
        let _ = self.page.execute(DisableParams::default()).await;
    }
}
