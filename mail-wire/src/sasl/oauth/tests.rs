//! The OAuth mechanisms' tests: RFC 7628's examples, Google's XOAUTH2 form, malformed input.

use super::*;
use crate::Secret;
use crate::sasl::{ClientMechanism, ServerMechanism};
use crate::sasl::{
    ClientResponse, MAX_DECODED_LEN, decode_challenge, decode_initial_response, decode_response,
    encode_challenge, encode_initial_response, encode_response,
};
use alloc::boxed::Box;
use proptest::prelude::*;

const TOKEN: &str = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";

fn oauth(authzid: Option<&str>, token: &str, host: Option<&str>, port: Option<u16>) -> Credentials {
    Credentials::OAuth {
        authzid: authzid.map(String::from),
        token: Secret::new(token.into()),
        host: host.map(String::from),
        port,
    }
}

fn response(line: &str) -> Vec<u8> {
    match decode_response(line.as_bytes(), MAX_DECODED_LEN).unwrap() {
        ClientResponse::Data(data) => data.into_inner(),
        ClientResponse::Cancel => panic!("cancelled"),
    }
}

#[test]
fn rfc7628_4_1_imap_and_smtp() {
    // RFC 7628 section 4.1, the wrapped base64 lines joined.
    for (port, line) in [
        (
            143,
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB",
        ),
        (
            587,
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB",
        ),
    ] {
        let mut client = OAuthBearerClient::new(Some("user@example.com"), TOKEN)
            .unwrap()
            .with_host("server.example.com")
            .unwrap()
            .with_port(port)
            .unwrap();
        let initial = client.initial_response().unwrap();
        let argument = encode_initial_response(initial.expose_secret());
        assert_eq!(argument.expose_secret(), line);

        let decoded = decode_initial_response(line.as_bytes(), MAX_DECODED_LEN).unwrap();
        let mut server = OAuthBearerServer::new();
        let expected = oauth(
            Some("user@example.com"),
            TOKEN,
            Some("server.example.com"),
            Some(port),
        );
        assert_eq!(
            server.start(Some(decoded.expose_secret())),
            Ok(ServerStep::Done(expected))
        );
    }
}

#[test]
fn rfc7628_4_3_failed_exchange() {
    let initial =
        "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=";
    let error = oauth_error(
        "invalid_token",
        Some("example_scope"),
        Some("https://example.com/.well-known/openid-configuration"),
    );
    let challenge = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";

    // Server: an empty auth is parsed (the client is asking for the scope)...
    let decoded = decode_initial_response(initial.as_bytes(), MAX_DECODED_LEN).unwrap();
    let mut server = OAuthBearerServer::new();
    let expected = oauth(
        Some("user@example.com"),
        "",
        Some("server.example.com"),
        Some(143),
    );
    assert_eq!(
        server.start(Some(decoded.expose_secret())),
        Ok(ServerStep::Done(expected))
    );
    // ...the application refuses it, and the error goes out as a challenge...
    let Ok(ServerStep::Challenge(sent)) = server.reject(&error) else {
        panic!("no error challenge")
    };
    assert_eq!(encode_challenge(&sent), challenge);
    // ...the client answers with the dummy AQ== and the exchange fails.
    let mut client = OAuthBearerClient::new(Some("user@example.com"), TOKEN).unwrap();
    let dummy = client
        .respond(&decode_challenge(challenge.as_bytes(), MAX_DECODED_LEN).unwrap())
        .unwrap();
    assert_eq!(
        encode_response(dummy.expose_secret()).expose_secret(),
        "AQ=="
    );
    assert_eq!(server.step(&response("AQ==")), Ok(ServerStep::Failed));
    assert!(server.step(b"\x01").is_err_and(|error| error.is_misuse()));
}

#[test]
fn rfc7628_4_4_smtp_failure() {
    // RFC 7628 section 4.4 uses "n,user=...," where RFC 5801 wants "n,a=...,": the
    // example does not follow the grammar, and the server says so.
    let initial = "bix1c2VyPXNvbWV1c2VyQGV4YW1wbGUuY29tLAFhdXRoPUJlYXJlciB2RjlkZnQ0cW1UYzJOdmIzUmxja0JoZEhSaGRtbHpkR0V1WTI5dENnPT0BAQ==";
    let decoded = decode_initial_response(initial.as_bytes(), MAX_DECODED_LEN).unwrap();
    assert_eq!(
        OAuthBearerServer::new().start(Some(decoded.expose_secret())),
        Err(malformed(OAUTHBEARER, "invalid gs2 authzid"))
    );
    // The error challenge and the dummy answer from the same example.
    let challenge = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciBtYWMiLCJzY29wZSI6Imh0dHBzOi8vbWFpbC5leGFtcGxlLmNvbS8ifQ==";
    let error = decode_challenge(challenge.as_bytes(), MAX_DECODED_LEN).unwrap();
    let mut client = OAuthBearerClient::new(None, TOKEN).unwrap();
    let dummy = client.respond(&error).unwrap();
    assert_eq!(
        encode_response(dummy.expose_secret()).expose_secret(),
        "AQ=="
    );
}

#[test]
fn oauthbearer_without_initial_response() {
    let mut server = OAuthBearerServer::new();
    let mut client: Box<dyn ClientMechanism> =
        Box::new(OAuthBearerClient::new(None, "tok").unwrap());
    assert_eq!(client.name(), OAUTHBEARER);
    assert_eq!(server.start(None), Ok(ServerStep::Challenge(Vec::new())));
    let message = client.respond(b"").unwrap().into_inner();
    assert_eq!(message, b"n,,\x01auth=Bearer tok\x01\x01");
    assert_eq!(
        server.step(&message),
        Ok(ServerStep::Done(oauth(None, "tok", None, None)))
    );
    // Accepted: nothing more to do; reject is still possible until then.
    assert!(server.step(b"").is_err_and(|error| error.is_misuse()));
}

#[test]
fn oauthbearer_lone_kvsep_fails() {
    assert_eq!(
        OAuthBearerServer::new().start(Some(b"\x01")),
        Ok(ServerStep::Failed)
    );
}

#[test]
fn oauthbearer_default_error_and_bad_dummy() {
    let mut server = OAuthBearerServer::new();
    let _ = server.start(Some(b"n,,\x01auth=Bearer tok\x01\x01"));
    assert_eq!(
        server.reject(b""),
        Ok(ServerStep::Challenge(DEFAULT_OAUTH_ERROR.to_vec()))
    );
    assert!(server.reject(b"").is_err_and(|error| error.is_misuse()));
    assert_eq!(
        server.step(b"x"),
        Err(malformed(
            OAUTHBEARER,
            "expected %x01 after the error challenge"
        ))
    );
}

#[test]
fn saslname_escapes() {
    let client = OAuthBearerClient::new(Some("a,b=c"), "tok").unwrap();
    let message = client.message().into_inner();
    assert_eq!(message, b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01");
    let mut server = OAuthBearerServer::new();
    assert_eq!(
        server.start(Some(&message)),
        Ok(ServerStep::Done(oauth(Some("a,b=c"), "tok", None, None)))
    );
}

#[test]
fn oauthbearer_malformed() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "missing gs2 header"),
        (b"n", "missing gs2 header"),
        (b"n,", "missing gs2 header"),
        (b"n,,", "missing %x01 after the gs2 header"),
        (
            b"x,,\x01auth=Bearer t\x01\x01",
            "invalid gs2 channel binding flag",
        ),
        (
            b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
            "channel binding is not supported",
        ),
        (b"n,b=user,\x01auth=Bearer t\x01\x01", "invalid gs2 authzid"),
        (b"n,a=,\x01auth=Bearer t\x01\x01", "empty gs2 authzid"),
        (
            b"n,a=x=2,\x01auth=Bearer t\x01\x01",
            "invalid escape in gs2 authzid",
        ),
        (
            b"n,a=x=41,\x01auth=Bearer t\x01\x01",
            "invalid escape in gs2 authzid",
        ),
        (b"n,,\x01auth=Bearer t\x01", "missing final %x01"),
        (b"n,,\x01auth=Bearer t", "missing final %x01"),
        (b"n,,\x01\x01", "missing auth"),
        (
            b"n,,\x01auth=Bearer t\x01\x01junk",
            "data after the final %x01",
        ),
        (b"n,,\x01auth\x01\x01", "key without value"),
        (b"n,,\x01=x\x01auth=Bearer t\x01\x01", "invalid key"),
        (b"n,,\x01k2=x\x01auth=Bearer t\x01\x01", "invalid key"),
        (
            b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
            "duplicate key",
        ),
        (
            b"n,,\x01auth=Bearer \x00\x01\x01",
            "invalid character in a value",
        ),
        (
            b"n,,\x01auth=Basic dXNlcjpwdw==\x01\x01",
            "auth scheme is not Bearer",
        ),
        (b"n,,\x01auth=Bearer\x01\x01", "auth scheme is not Bearer"),
        (b"n,,\x01auth=Bearer  \x01\x01", "invalid bearer token"),
        (b"n,,\x01auth=Bearer a b\x01\x01", "invalid bearer token"),
        (b"n,,\x01port=0143\x01auth=Bearer t\x01\x01", "invalid port"),
        (b"n,,\x01port=0\x01auth=Bearer t\x01\x01", "invalid port"),
        (
            b"n,,\x01port=65536\x01auth=Bearer t\x01\x01",
            "invalid port",
        ),
        (b"n,,\x01port=+1\x01auth=Bearer t\x01\x01", "invalid port"),
        (b"n,,\x01auth=Bearer t\xff\x01\x01", "not UTF-8"),
    ];
    for (message, reason) in cases {
        let got = OAuthBearerServer::new().start(Some(message));
        assert_eq!(got, Err(malformed(OAUTHBEARER, reason)), "{message:?}");
    }
    // Unknown keys are ignored, the scheme is case-insensitive, "y" is a valid flag.
    let got = OAuthBearerServer::new().start(Some(b"y,,\x01mthd=POST\x01auth=bEaReR t\x01\x01"));
    assert_eq!(got, Ok(ServerStep::Done(oauth(None, "t", None, None))));
}

#[test]
fn xoauth2_exchange() {
    let mut client = XOAuth2Client::new(
        "someuser@example.com",
        "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
    )
    .unwrap();
    let message = client.initial_response().unwrap().into_inner();
    assert_eq!(
        message,
        b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
    );
    // The form Google documents, base64 encoded.
    assert_eq!(
        encode_initial_response(&message).expose_secret(),
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
    );
    let mut server = XOAuth2Server::new();
    let expected = oauth(
        Some("someuser@example.com"),
        "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        None,
        None,
    );
    assert_eq!(server.start(Some(&message)), Ok(ServerStep::Done(expected)));

    // Refused: the error challenge, an empty answer, failure.
    let error = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
    assert_eq!(
        server.reject(error),
        Ok(ServerStep::Challenge(error.to_vec()))
    );
    let answer = client.respond(error).unwrap().into_inner();
    assert_eq!(encode_response(&answer).expose_secret(), "");
    assert_eq!(server.step(&answer), Ok(ServerStep::Failed));
}

#[test]
fn xoauth2_without_initial_response() {
    let mut client = XOAuth2Client::new("u", "t").unwrap();
    let mut server: Box<dyn ServerMechanism> = Box::new(XOAuth2Server::new());
    assert_eq!(server.name(), XOAUTH2);
    assert_eq!(server.start(None), Ok(ServerStep::Challenge(Vec::new())));
    let message = client.respond(b"").unwrap().into_inner();
    assert_eq!(
        server.step(&message),
        Ok(ServerStep::Done(oauth(Some("u"), "t", None, None)))
    );
}

#[test]
fn xoauth2_malformed() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "missing final %x01"),
        (b"\x01", "missing user"),
        (b"user=\x01auth=Bearer t\x01\x01", "missing user"),
        (b"user=u\x01\x01", "missing auth"),
        (b"user=u\x01auth=Bearer t\x01", "missing final %x01"),
        (b"user=u\x01auth=t\x01\x01", "auth scheme is not Bearer"),
        (
            b"user=u\x01user=v\x01auth=Bearer t\x01\x01",
            "duplicate key",
        ),
    ];
    for (message, reason) in cases {
        let got = XOAuth2Server::new().start(Some(message));
        assert_eq!(got, Err(malformed(XOAUTH2, reason)), "{message:?}");
    }
    // OAUTHBEARER's keys mean nothing to XOAUTH2.
    let got = XOAuth2Server::new().start(Some(b"host=h\x01user=u\x01auth=Bearer t\x01\x01"));
    assert_eq!(got, Ok(ServerStep::Done(oauth(Some("u"), "t", None, None))));
}

#[test]
fn client_validation() {
    assert!(XOAuth2Client::new("", "t").is_err());
    assert!(XOAuth2Client::new("u\x01", "t").is_err());
    assert!(XOAuth2Client::new("ü", "t").is_err());
    assert!(XOAuth2Client::new("u", String::new()).is_err());
    assert!(XOAuth2Client::new("u", "t\x01").is_err());
    assert!(XOAuth2Client::new("u", "t t").is_err());
    assert!(OAuthBearerClient::new(Some(""), "t").is_err());
    assert!(OAuthBearerClient::new(Some("a\0"), "t").is_err());
    let client = OAuthBearerClient::new(None, "t").unwrap();
    assert!(client.clone().with_host("").is_err());
    assert!(client.clone().with_host("a b").is_err());
    assert!(client.clone().with_host("a\x01").is_err());
    assert!(client.with_port(0).is_err_and(|error| error.is_misuse()));
}

#[test]
fn error_json() {
    assert_eq!(
        oauth_error("invalid_token", None, None),
        DEFAULT_OAUTH_ERROR
    );
    assert_eq!(
        oauth_error("a\"b\\c\n", Some("s"), None),
        br#"{"status":"a\"b\\c\u000a","scope":"s"}"#
    );
}

#[test]
fn debug_does_not_leak() {
    let client = OAuthBearerClient::new(None, TOKEN).unwrap();
    let server_side = oauth(None, TOKEN, None, None);
    let shown = alloc::format!("{client:?} {server_side:?}");
    assert!(!shown.contains("vF9dft"), "{shown}");
}

#[test]
fn the_named_user_is_a_claimed_authzid_not_the_identity() {
    // OAUTHBEARER: the gs2 `a=` is what the client asks to act as.
    let message = b"n,a=bob@example.com,\x01auth=Bearer token-of-alice\x01\x01";
    let Ok(ServerStep::Done(credentials)) = OAuthBearerServer::new().start(Some(message)) else {
        panic!("not done")
    };
    assert_eq!(credentials.authzid(), Some("bob@example.com"));
    assert_eq!(credentials.username(), None);
    assert!(credentials.verify_token(b"token-of-alice"));

    // XOAUTH2: `user=` is a claim just the same.
    let message = b"user=bob@example.com\x01auth=Bearer token-of-alice\x01\x01";
    let Ok(ServerStep::Done(credentials)) = XOAuth2Server::new().start(Some(message)) else {
        panic!("not done")
    };
    assert_eq!(credentials.authzid(), Some("bob@example.com"));
    assert_eq!(credentials.username(), None);

    // Without `a=` there is no claim, and still no user.
    let message = b"n,,\x01auth=Bearer token-of-alice\x01\x01";
    let Ok(ServerStep::Done(credentials)) = OAuthBearerServer::new().start(Some(message)) else {
        panic!("not done")
    };
    assert_eq!(credentials.authzid(), None);
    assert_eq!(credentials.username(), None);
}

#[test]
fn oauthbearer_client_answers_one_error_only() {
    let unexpected = Err(SaslError::UnexpectedChallenge {
        mechanism: OAUTHBEARER,
    });
    let error = DEFAULT_OAUTH_ERROR;

    // After the initial response: one error, then nothing.
    let mut client = OAuthBearerClient::new(None, "tok").unwrap();
    let _ = client.initial_response();
    assert_eq!(client.respond(error).unwrap().expose_secret(), b"\x01");
    assert_eq!(client.respond(error), unexpected);
    assert_eq!(client.respond(b""), unexpected);

    // Without it: the message once, one error, then nothing.
    let mut client = OAuthBearerClient::new(None, "tok").unwrap();
    let message = client.respond(b"").unwrap();
    assert_eq!(message.expose_secret(), b"n,,\x01auth=Bearer tok\x01\x01");
    assert_eq!(client.respond(b""), unexpected);
    assert_eq!(client.respond(error).unwrap().expose_secret(), b"\x01");
    assert_eq!(client.respond(error), unexpected);
}

#[test]
fn xoauth2_client_answers_one_error_only() {
    let unexpected = Err(SaslError::UnexpectedChallenge { mechanism: XOAUTH2 });
    let error = DEFAULT_OAUTH_ERROR;

    let mut client = XOAuth2Client::new("u", "tok").unwrap();
    assert!(client.respond(b"").is_ok());
    assert_eq!(client.respond(b""), unexpected);
    assert_eq!(client.respond(error).unwrap().expose_secret(), b"");
    assert_eq!(client.respond(error), unexpected);
    assert_eq!(client.respond(b""), unexpected);
}

#[test]
fn hostile_server_cannot_keep_a_client_going() {
    // A bounded loop: every built-in token client gives up within a few challenges.
    let clients: [Box<dyn ClientMechanism>; 2] = [
        Box::new(OAuthBearerClient::new(None, "tok").unwrap()),
        Box::new(XOAuth2Client::new("u", "tok").unwrap()),
    ];
    for mut client in clients {
        let answered = (0..100)
            .take_while(|round| {
                let challenge: &[u8] = if round % 2 == 0 { b"" } else { b"{}" };
                client.respond(challenge).is_ok()
            })
            .count();
        assert!(answered <= 2, "{} answered {answered}", client.name());
    }
}

#[test]
fn reject_only_after_done() {
    for mut server in [
        Box::new(OAuthBearerServer::new()) as Box<dyn ServerMechanism>,
        Box::new(XOAuth2Server::new()),
    ] {
        assert!(server.reject(b"").is_err_and(|error| error.is_misuse()));
        let _ = server.start(None);
        assert!(server.reject(b"").is_err_and(|error| error.is_misuse()));
    }
    // A lone %x01 fails at once: nothing to reject afterwards.
    let mut server = OAuthBearerServer::new();
    assert_eq!(server.start(Some(b"\x01")), Ok(ServerStep::Failed));
    assert!(server.reject(b"").is_err_and(|error| error.is_misuse()));
}

#[test]
fn outgoing_messages_are_secret() {
    let mut bearer = OAuthBearerClient::new(Some("u"), TOKEN).unwrap();
    let mut xoauth2 = XOAuth2Client::new("u", TOKEN).unwrap();
    let shown = alloc::format!(
        "{:?} {:?} {:?} {:?}",
        bearer.message(),
        bearer.initial_response(),
        xoauth2.message(),
        xoauth2.respond(b""),
    );
    assert!(!shown.contains("vF9dft"), "{shown}");
}

proptest! {
    #[test]
    fn oauthbearer_round_trip(
        user in proptest::option::of("[^\0]{1,30}"),
        token in "[!-~]{1,40}",
        host in proptest::option::of("[!-~]{1,30}"),
        port in proptest::option::of(1_u16..),
    ) {
        let mut client = OAuthBearerClient::new(user.as_deref(), token.clone()).unwrap();
        if let Some(host) = &host {
            client = client.with_host(host).unwrap();
        }
        if let Some(port) = port {
            client = client.with_port(port).unwrap();
        }
        let message = client.initial_response().unwrap().into_inner();
        let expected = oauth(user.as_deref(), &token, host.as_deref(), port);
        prop_assert_eq!(OAuthBearerServer::new().start(Some(&message)), Ok(ServerStep::Done(expected)));
    }

    #[test]
    fn xoauth2_round_trip(user in "[ -~]{1,30}", token in "[!-~]{1,40}") {
        let mut client = XOAuth2Client::new(&user, token.clone()).unwrap();
        let message = client.initial_response().unwrap().into_inner();
        let got = XOAuth2Server::new().start(Some(&message));
        prop_assert_eq!(got, Ok(ServerStep::Done(oauth(Some(&user), &token, None, None))));
    }

    #[test]
    fn servers_never_panic(message in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = OAuthBearerServer::new().start(Some(&message));
        let _ = XOAuth2Server::new().start(Some(&message));
    }

    #[test]
    fn servers_never_panic_on_near_misses(message in "[naypuserthotk=,\x01 0-9]{0,40}") {
        let _ = OAuthBearerServer::new().start(Some(message.as_bytes()));
        let _ = XOAuth2Server::new().start(Some(message.as_bytes()));
    }
}
