//! The links every notification email carries when the blog has `[serve]`:
//! unsubscribe (the `List-Unsubscribe` header, RFC 8058 one-click, and the
//! footer) and, for subscribers who signed up themselves, manage. Both are
//! signed tokens naming the subscriber id, never the address; they do not
//! expire (mail is read years later) but die with the subscription: a
//! removed subscription's key is gone, a definition subscriber's opt-out is
//! remembered.

use crate::config::ServeConfig;
use crate::config::subscribers::{Origin, Subscriber};
use crate::token::{Claims, Purpose, Signer};

#[derive(Debug, Clone)]
pub struct Links {
    serve: ServeConfig,
    signer: Signer,
}

impl Links {
    /// `None` without `[serve]`; an error (the sentence to show) when its
    /// secret is missing or too short: mail must not go out with links
    /// the service would refuse.
    pub fn for_blog(
        serve: Option<&ServeConfig>,
        blog: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Links>, String> {
        let Some(serve) = serve else {
            return Ok(None);
        };
        let secret = serve.secret(env)?;
        Ok(Some(Links {
            serve: serve.clone(),
            signer: Signer::new(&secret, blog),
        }))
    }

    fn token(&self, purpose: Purpose, subscriber: &Subscriber) -> String {
        let key = match subscriber.origin {
            Origin::Serve { manage_key } => manage_key,
            Origin::Definition => 0,
        };
        self.signer.sign(&Claims {
            purpose,
            subscriber: subscriber.id.clone(),
            key,
            expires: None,
        })
    }

    pub fn unsubscribe(&self, blog: &str, subscriber: &Subscriber) -> String {
        let token = self.token(Purpose::Unsubscribe, subscriber);
        self.serve.page(blog, &format!("unsubscribe/{token}"))
    }

    /// Only subscribers of the service have choices to manage there.
    pub fn manage(&self, blog: &str, subscriber: &Subscriber) -> Option<String> {
        matches!(subscriber.origin, Origin::Serve { .. }).then(|| {
            let token = self.token(Purpose::Manage, subscriber);
            self.serve.page(blog, &format!("manage/{token}"))
        })
    }

    /// A keyed token for a configured `unsubscribe_url` template.
    pub fn unsubscribe_token(&self, subscriber: &Subscriber) -> String {
        self.token(Purpose::Unsubscribe, subscriber)
    }
}
