//! [`ServerMechanisms`]: the mechanisms a server offers, each made afresh for every exchange.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{ChannelBinding, ExternalServer, SaslError, ServerMechanism};

/// What a server knows about the connection when a client starts an exchange: what a
/// mechanism factory may use to make (or refuse to make) its mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context<'a> {
    /// Whether TLS is up.
    pub tls: bool,
    /// The identity that a layer below SASL established (a TLS client certificate's subject,
    /// say), as the application set it on the server machine; what EXTERNAL logs in as.
    pub external_identity: Option<&'a str>,
    /// The connection's channel binding data, as the application set it on the server
    /// machine; what SCRAM-SHA-256-PLUS binds to.
    pub channel_binding: Option<&'a ChannelBinding>,
    /// Whether a `-PLUS` mechanism is available on this connection (set by
    /// [`ServerMechanisms::start`]): then SCRAM without binding refuses a client's `y` flag
    /// (RFC 5802 section 6).
    pub binding_offered: bool,
}

impl<'a> Context<'a> {
    /// The context of a connection.
    pub fn new(tls: bool, external_identity: Option<&'a str>) -> Self {
        Self {
            tls,
            external_identity,
            channel_binding: None,
            binding_offered: false,
        }
    }

    /// The same, with the connection's channel binding data.
    pub fn with_channel_binding(mut self, channel_binding: Option<&'a ChannelBinding>) -> Self {
        self.channel_binding = channel_binding;
        self
    }
}

/// A boxed server mechanism, as a factory makes it.
pub type BoxedServerMechanism = Box<dyn ServerMechanism + Send>;

/// Makes the server side of one mechanism for one exchange; `None` declines (the client then
/// hears that the mechanism is not available).
///
/// It is application code: it may read a clock or draw random numbers (for CRAM-MD5's
/// challenge, SCRAM's nonce), which the machines themselves never do.
pub type MechanismFactory = Arc<dyn Fn(&Context<'_>) -> Option<BoxedServerMechanism> + Send + Sync>;

/// The SASL mechanisms a server offers (SMTP AUTH, RFC 4954; POP3 AUTH, RFC 5034), in the
/// order it advertises them: a name and a factory each. Cloning is cheap (the factories are
/// shared).
///
/// Built in: [`plain`](Self::plain), [`login`](Self::login), [`xoauth2`](Self::xoauth2),
/// [`oauthbearer`](Self::oauthbearer), [`external`](Self::external),
/// [`cram_md5`](Self::cram_md5) (feature `cram-md5`),
/// [`scram_sha_256`](Self::scram_sha_256) and [`scram_sha_256_plus`](Self::scram_sha_256_plus)
/// (feature `scram`); anything else plugs in with [`with`](Self::with).
///
/// ```
/// use mail_wire::sasl::{ServerMechanisms, ServerMechanism, Context, PlainServer};
///
/// let mechanisms = ServerMechanisms::new()
///     .plain()
///     .external()
///     .with("X-MINE", |_: &Context<'_>| Some(Box::new(PlainServer::new()) as _))?;
/// assert_eq!(mechanisms.names().collect::<Vec<_>>(), ["PLAIN", "EXTERNAL", "X-MINE"]);
/// assert_eq!(format!("{mechanisms:?}"), r#"ServerMechanisms(["PLAIN", "EXTERNAL", "X-MINE"])"#);
///
/// // A server starting an exchange (names are case-insensitive):
/// let context = Context::new(true, None);
/// let mechanism = mechanisms.start("plain", &context).unwrap();
/// assert_eq!(mechanism.name(), "PLAIN");
/// assert!(mechanisms.start("LOGIN", &context).is_none()); // not offered
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[derive(Clone, Default)]
pub struct ServerMechanisms {
    offered: Vec<(String, MechanismFactory)>,
}

impl core::fmt::Debug for ServerMechanisms {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ServerMechanisms")
            .field(&self.names().collect::<Vec<_>>())
            .finish()
    }
}

impl ServerMechanisms {
    /// None offered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers `name` (RFC 4422 section 3.1: 1 to 20 of `A-Z 0-9 - _`; lower case is taken
    /// as upper case) with mechanisms from `factory`, after those offered so far. A name
    /// offered before keeps its place and gets the new factory.
    ///
    /// The factory's mechanism should report `name` as its [`ServerMechanism::name`].
    pub fn with<F>(self, name: &str, factory: F) -> Result<Self, SaslError>
    where
        F: Fn(&Context<'_>) -> Option<BoxedServerMechanism> + Send + Sync + 'static,
    {
        let valid = (1..=20).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SaslError::InvalidArgument {
                mechanism: "SASL",
                reason: "mechanism name is not 1 to 20 of A-Z, 0-9, '-', '_'",
            });
        }
        Ok(self.offer(name.to_ascii_uppercase(), Arc::new(factory)))
    }

    fn offer(mut self, name: String, factory: MechanismFactory) -> Self {
        match self.offered.iter_mut().find(|(known, _)| *known == name) {
            Some(entry) => entry.1 = factory,
            None => self.offered.push((name, factory)),
        }
        self
    }

    /// A built-in name, known to be valid.
    fn built_in<F>(self, name: &str, factory: F) -> Self
    where
        F: Fn(&Context<'_>) -> Option<BoxedServerMechanism> + Send + Sync + 'static,
    {
        self.offer(String::from(name), Arc::new(factory))
    }

    /// Offers PLAIN (RFC 4616): [`PlainServer`](super::PlainServer).
    pub fn plain(self) -> Self {
        self.built_in(super::PLAIN, |_| Some(Box::new(super::PlainServer::new())))
    }

    /// Offers LOGIN (draft-murchison-sasl-login): [`LoginServer`](super::LoginServer).
    pub fn login(self) -> Self {
        self.built_in(super::LOGIN, |_| Some(Box::new(super::LoginServer::new())))
    }

    /// Offers XOAUTH2: [`XOAuth2Server`](super::XOAuth2Server).
    pub fn xoauth2(self) -> Self {
        self.built_in(super::XOAUTH2, |_| {
            Some(Box::new(super::XOAuth2Server::new()))
        })
    }

    /// Offers OAUTHBEARER (RFC 7628): [`OAuthBearerServer`](super::OAuthBearerServer).
    pub fn oauthbearer(self) -> Self {
        self.built_in(super::OAUTHBEARER, |_| {
            Some(Box::new(super::OAuthBearerServer::new()))
        })
    }

    /// Offers EXTERNAL (RFC 4422 appendix A): [`ExternalServer`] with the
    /// [`Context::external_identity`]; without one, the exchange fails.
    pub fn external(self) -> Self {
        self.built_in(super::EXTERNAL, |context| {
            Some(Box::new(ExternalServer::new(context.external_identity)))
        })
    }

    /// Offers CRAM-MD5 (RFC 2195): [`CramMd5Server`](super::CramMd5Server) with a challenge
    /// from `challenge`, called for every exchange: RFC 2195 section 2 wants it unique,
    /// such as `<1896.697170952@postoffice.example.net>` (random digits, a timestamp, the
    /// host name). A challenge that is not printable ASCII declines the mechanism.
    #[cfg(feature = "cram-md5")]
    pub fn cram_md5<F>(self, challenge: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.built_in(super::CRAM_MD5, move |_| {
            let server = super::CramMd5Server::new(&challenge()).ok()?;
            Some(Box::new(server))
        })
    }

    /// Offers SCRAM-SHA-256 (RFC 5802, RFC 7677):
    /// [`ScramSha256Server`](super::ScramSha256Server) with a server nonce from `nonce`,
    /// called for every exchange (at least 18 random octets, printable ASCII without `,`:
    /// base64 of them does). The server machine then asks the application for the user's
    /// [`ScramSecret`](super::ScramSecret). An invalid nonce declines the mechanism.
    ///
    /// `unknown_users` holds the server's secret key for the made-up salts of unknown users
    /// and the iteration count and salt length of real users' secrets, so that an unknown
    /// user's answer looks like a real one's and stays the same from attempt to attempt (RFC
    /// 5802 section 9); keep the key the same across connections and restarts.
    #[cfg(feature = "scram")]
    pub fn scram_sha_256<F>(self, unknown_users: super::ScramUnknownUsers, nonce: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.built_in(super::SCRAM_SHA_256, move |context| {
            let mut server = super::ScramSha256Server::new(&nonce(), &unknown_users).ok()?;
            if context.binding_offered {
                server = server.with_binding_offered();
            }
            Some(Box::new(server))
        })
    }

    /// Offers SCRAM-SHA-256-PLUS (RFC 5802 section 6, RFC 7677), as
    /// [`scram_sha_256`](Self::scram_sha_256) but bound to the connection's
    /// [`Context::channel_binding`]: advertised ([`available`](Self::available)) and started
    /// only when the application set one on the server machine (for TLS 1.3,
    /// [`ChannelBinding::tls_exporter`]). `unknown_users` as for
    /// [`scram_sha_256`](Self::scram_sha_256) (pass the same).
    #[cfg(feature = "scram")]
    pub fn scram_sha_256_plus<F>(self, unknown_users: super::ScramUnknownUsers, nonce: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        self.built_in(super::SCRAM_SHA_256_PLUS, move |context| {
            let binding = context.channel_binding?.clone();
            let server = super::ScramSha256Server::new(&nonce(), &unknown_users).ok()?;
            Some(Box::new(server.with_channel_binding(binding)))
        })
    }

    /// Stops offering `name` (case-insensitive).
    pub fn without(mut self, name: &str) -> Self {
        self.offered
            .retain(|(known, _)| !known.eq_ignore_ascii_case(name));
        self
    }

    /// The names offered, in order, upper case.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.offered.iter().map(|(name, _)| name.as_str())
    }

    /// The names to advertise on a connection, in order: all of them, except the `-PLUS`
    /// ones (channel binding, RFC 5802 section 6) while the connection has no
    /// [`Context::channel_binding`].
    pub fn available<'a>(
        &'a self,
        context: &Context<'_>,
    ) -> impl Iterator<Item = &'a str> + use<'a> {
        let binding = context.channel_binding.is_some();
        self.names().filter(move |name| binding || !is_plus(name))
    }

    /// Whether none is offered.
    pub fn is_empty(&self) -> bool {
        self.offered.is_empty()
    }

    /// How many are offered.
    pub fn len(&self) -> usize {
        self.offered.len()
    }

    /// Whether `name` is offered (case-insensitive).
    pub fn offers(&self, name: &str) -> bool {
        self.names().any(|known| known.eq_ignore_ascii_case(name))
    }

    /// The server side of `name` (case-insensitive) for a new exchange; `None` if it is not
    /// [`available`](Self::available) or its factory declined.
    pub fn start(&self, name: &str, context: &Context<'_>) -> Option<BoxedServerMechanism> {
        if !self
            .available(context)
            .any(|known| known.eq_ignore_ascii_case(name))
        {
            return None;
        }
        let (_, factory) = self
            .offered
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))?;
        let mut context = *context;
        context.binding_offered = context.channel_binding.is_some() && self.names().any(is_plus);
        factory(&context)
    }
}

/// A mechanism with channel binding (RFC 5802 section 4: the `-PLUS` suffix).
fn is_plus(name: &str) -> bool {
    name.len() > 5
        && name
            .get(name.len() - 5..)
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case("-PLUS"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{Credentials, PlainServer, ServerStep};
    use alloc::format;
    use alloc::vec;

    #[cfg(feature = "scram")]
    pub(super) fn unknown_users() -> crate::sasl::ScramUnknownUsers {
        crate::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap()
    }

    #[test]
    fn rfc4422_section3_1_mechanism_names() {
        let factory = |_: &Context<'_>| Some(Box::new(PlainServer::new()) as BoxedServerMechanism);
        assert!(
            ServerMechanisms::new()
                .with("x-lower_case-9", factory)
                .is_ok()
        );
        assert!(
            ServerMechanisms::new()
                .with("ABCDEFGHIJKLMNOPQRST", factory)
                .is_ok()
        );
        for bad in ["", "ABCDEFGHIJKLMNOPQRSTU", "A B", "A,B", "É"] {
            assert!(
                ServerMechanisms::new()
                    .with(bad, factory)
                    .is_err_and(|e| e.is_misuse()),
                "{bad:?}"
            );
        }
        let lower = ServerMechanisms::new().with("x-mine", factory).unwrap();
        assert_eq!(lower.names().collect::<Vec<_>>(), ["X-MINE"]);
        assert!(lower.offers("X-Mine"));
    }

    #[test]
    fn order_is_kept_and_names_stay_unique() {
        let mechanisms = ServerMechanisms::new()
            .plain()
            .login()
            .xoauth2()
            .oauthbearer();
        assert_eq!(
            mechanisms.names().collect::<Vec<_>>(),
            ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]
        );
        // Offered again: same place, one entry.
        let again = mechanisms.clone().login().without("plain");
        assert_eq!(
            again.names().collect::<Vec<_>>(),
            ["LOGIN", "XOAUTH2", "OAUTHBEARER"]
        );
        assert_eq!(again.len(), 3);
        assert!(!again.is_empty());
        assert!(ServerMechanisms::new().is_empty());
        assert_eq!(
            format!("{:?}", ServerMechanisms::new()),
            "ServerMechanisms([])"
        );
    }

    #[test]
    fn each_exchange_gets_a_fresh_mechanism() {
        let mechanisms = ServerMechanisms::new().plain();
        let context = Context::new(true, None);
        for _ in 0..2 {
            let mut plain = mechanisms.start("PLAIN", &context).unwrap();
            assert!(matches!(
                plain.start(Some(b"\0tim\0pw")),
                Ok(ServerStep::Done(_))
            ));
        }
    }

    #[test]
    fn external_gets_the_context_identity() {
        let mechanisms = ServerMechanisms::new().external();
        let mut with = mechanisms
            .start("EXTERNAL", &Context::new(true, Some("CN=alice")))
            .unwrap();
        assert_eq!(
            with.start(Some(b"")),
            Ok(ServerStep::Done(Credentials::External {
                identity: "CN=alice".into(),
                authzid: None
            }))
        );
        let mut without = mechanisms
            .start("external", &Context::new(true, None))
            .unwrap();
        assert_eq!(without.start(Some(b"")), Ok(ServerStep::Failed));
    }

    #[test]
    fn factories_see_the_context_and_may_decline() {
        let seen = vec!["tls only"];
        let mechanisms = ServerMechanisms::new()
            .with("X-TLS-ONLY", move |context: &Context<'_>| {
                let _ = &seen;
                context
                    .tls
                    .then(|| Box::new(PlainServer::new()) as BoxedServerMechanism)
            })
            .unwrap();
        assert!(
            mechanisms
                .start("X-TLS-ONLY", &Context::new(true, None))
                .is_some()
        );
        assert!(
            mechanisms
                .start("X-TLS-ONLY", &Context::new(false, None))
                .is_none()
        );
        assert!(
            mechanisms
                .start("PLAIN", &Context::new(true, None))
                .is_none()
        );
    }

    #[cfg(feature = "cram-md5")]
    #[test]
    fn cram_md5_challenge_per_exchange() {
        use core::sync::atomic::{AtomicU32, Ordering};
        let counter = Arc::new(AtomicU32::new(0));
        let count = Arc::clone(&counter);
        let mechanisms = ServerMechanisms::new()
            .cram_md5(move || format!("<{}.1@example.org>", count.fetch_add(1, Ordering::Relaxed)));
        let context = Context::new(true, None);
        let challenges: Vec<_> = (0..2)
            .map(|_| {
                let mut server = mechanisms.start("CRAM-MD5", &context).unwrap();
                server.start(None).unwrap()
            })
            .collect();
        assert_eq!(
            challenges[0],
            ServerStep::Challenge(b"<0.1@example.org>".to_vec())
        );
        assert_eq!(
            challenges[1],
            ServerStep::Challenge(b"<1.1@example.org>".to_vec())
        );
        // A challenge the mechanism cannot send declines it.
        let bad = ServerMechanisms::new().cram_md5(String::new);
        assert!(bad.start("CRAM-MD5", &context).is_none());
    }

    #[cfg(feature = "scram")]
    #[test]
    fn scram_nonce_per_exchange() {
        let mechanisms =
            ServerMechanisms::new().scram_sha_256(unknown_users(), || String::from("srv"));
        let context = Context::new(true, None);
        let mut server = mechanisms.start("SCRAM-SHA-256", &context).unwrap();
        assert!(matches!(
            server.start(Some(b"n,,n=user,r=cli")),
            Ok(ServerStep::Lookup { .. })
        ));
        let ServerStep::Challenge(first) = server.provide_secret(None).unwrap() else {
            panic!("no challenge")
        };
        assert!(first.starts_with(b"r=clisrv,"));
        let bad = ServerMechanisms::new().scram_sha_256(unknown_users(), || String::from("a,b"));
        assert!(bad.start("SCRAM-SHA-256", &context).is_none());
    }
}

#[cfg(all(test, feature = "scram"))]
mod plus_tests {
    use super::*;
    use crate::sasl::{SCRAM_SHA_256, SCRAM_SHA_256_PLUS, ServerStep};
    use alloc::vec::Vec;

    use super::tests::unknown_users;

    #[test]
    fn rfc5802_section6_plus_only_with_a_channel_binding() {
        let mechanisms = ServerMechanisms::new()
            .scram_sha_256_plus(unknown_users(), || String::from("sn"))
            .scram_sha_256(unknown_users(), || String::from("sn"))
            .plain();
        let without = Context::new(true, None);
        assert_eq!(
            mechanisms.available(&without).collect::<Vec<_>>(),
            [SCRAM_SHA_256, "PLAIN"]
        );
        assert!(mechanisms.start(SCRAM_SHA_256_PLUS, &without).is_none());
        // Without binding data, SCRAM takes `y`: the server cannot bind here.
        let mut scram = mechanisms.start(SCRAM_SHA_256, &without).unwrap();
        assert!(matches!(
            scram.start(Some(b"y,,n=user,r=c")),
            Ok(ServerStep::Lookup { .. })
        ));

        let binding = ChannelBinding::tls_exporter([3; 32]);
        let with = Context::new(true, None).with_channel_binding(Some(&binding));
        assert_eq!(
            mechanisms.available(&with).collect::<Vec<_>>(),
            [SCRAM_SHA_256_PLUS, SCRAM_SHA_256, "PLAIN"]
        );
        let mut plus = mechanisms.start("scram-sha-256-plus", &with).unwrap();
        assert_eq!(plus.name(), SCRAM_SHA_256_PLUS);
        assert!(matches!(
            plus.start(Some(b"p=tls-exporter,,n=user,r=c")),
            Ok(ServerStep::Lookup { .. })
        ));
        // With -PLUS available, `y` to plain SCRAM is a downgrade (RFC 5802 section 6).
        let mut scram = mechanisms.start(SCRAM_SHA_256, &with).unwrap();
        assert!(scram.start(Some(b"y,,n=user,r=c")).is_err());
    }
}
