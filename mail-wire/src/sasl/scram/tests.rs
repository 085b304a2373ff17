use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::*;
use crate::sasl::{ClientMechanism, Credentials, ServerMechanism, ServerStep};

// RFC 7677 section 3.
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_secret() -> ScramSecret {
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    ScramSecret::derive("pencil", &salt, 4096).unwrap()
}

fn unknown_users() -> ScramUnknownUsers {
    ScramUnknownUsers::new(b"server-wide secret key").unwrap()
}

fn malformed(reason: &'static str) -> SaslError {
    SaslError::Malformed {
        mechanism: SCRAM_SHA_256,
        reason,
    }
}

fn challenge(step: Result<ServerStep, SaslError>) -> Vec<u8> {
    match step {
        Ok(ServerStep::Challenge(challenge)) => challenge,
        other => panic!("no challenge: {other:?}"),
    }
}

/// A server that has sent the RFC's server-first-message.
fn rfc_server_after_first() -> ScramSha256Server {
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    let step = server.start(Some(CLIENT_FIRST)).unwrap();
    assert_eq!(
        step,
        ServerStep::Lookup {
            username: "user".into()
        }
    );
    assert_eq!(
        challenge(server.provide_secret(Some(rfc_secret()))),
        SERVER_FIRST
    );
    server
}

#[test]
fn rfc7677_section3_client_side() {
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
    assert_eq!(client.name(), SCRAM_SHA_256);
    assert_eq!(
        client.initial_response().unwrap().expose_secret(),
        CLIENT_FIRST
    );
    assert_eq!(client.initial_response(), None, "only once");
    assert_eq!(
        client.respond(SERVER_FIRST).unwrap().expose_secret(),
        CLIENT_FINAL
    );
    assert!(!client.is_server_verified());
    assert!(
        client
            .respond(SERVER_FINAL)
            .unwrap()
            .expose_secret()
            .is_empty()
    );
    assert!(client.is_server_verified());
    assert_eq!(
        client.respond(b""),
        Err(SaslError::UnexpectedChallenge {
            mechanism: SCRAM_SHA_256
        })
    );
    // The password stays out of logs.
    assert!(!format!("{client:?}").contains("pencil"));
}

#[test]
fn rfc7677_section3_server_side() {
    let mut server = rfc_server_after_first();
    assert_eq!(challenge(server.step(CLIENT_FINAL)), SERVER_FINAL);
    let Ok(ServerStep::Done(credentials)) = server.step(b"") else {
        panic!("not done")
    };
    assert_eq!(
        credentials,
        Credentials::Scram {
            authcid: "user".into(),
            authzid: None
        }
    );
    assert!(credentials.is_verified());
    assert_eq!(credentials.username(), Some("user"));
    // Authorization is the application's: it may still refuse.
    assert_eq!(server.reject(b""), Ok(ServerStep::Failed));
    assert!(server.reject(b"").is_err_and(|e| e.is_misuse()));
}

#[test]
fn rfc5802_section3_secret_derivation() {
    let secret = rfc_secret();
    assert_eq!(secret.iterations(), 4096);
    assert_eq!(secret.salt().len(), 16);
    let again = ScramSecret::new(
        secret.salt().to_vec(),
        4096,
        *secret.stored_key().expose_secret(),
        *secret.server_key().expose_secret(),
    )
    .unwrap();
    assert_eq!(again, secret);
    assert!(!format!("{secret:?}").contains("stored"));
    assert!(ScramSecret::new(Vec::new(), 4096, [0; 32], [0; 32]).is_err_and(|e| e.is_misuse()));
    assert!(ScramSecret::new(b"s".to_vec(), 0, [0; 32], [0; 32]).is_err_and(|e| e.is_misuse()));
    assert!(ScramSecret::derive("pencil", b"", 4096).is_err());
}

#[test]
fn rfc5802_section5_without_initial_response() {
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    assert_eq!(challenge(server.start(None)), b"");
    let first = client.respond(b"").unwrap();
    assert_eq!(first.expose_secret(), CLIENT_FIRST);
    assert!(matches!(
        server.step(first.expose_secret()),
        Ok(ServerStep::Lookup { .. })
    ));
}

#[test]
fn rfc5802_section5_1_names_are_escaped_and_authzid_carried() {
    let mut client =
        ScramSha256Client::new(Some("b=ob,x"), "al,ice=", "pw", "clientnonce").unwrap();
    let first = client.initial_response().unwrap();
    assert_eq!(
        first.expose_secret(),
        b"n,a=b=3Dob=2Cx,n=al=2Cice=3D,r=clientnonce"
    );
    let mut server = ScramSha256Server::new("servernonce", &unknown_users()).unwrap();
    assert_eq!(
        server.start(Some(first.expose_secret())),
        Ok(ServerStep::Lookup {
            username: "al,ice=".into()
        })
    );
    let secret = ScramSecret::derive("pw", b"0123456789abcdef", 4096).unwrap();
    let server_first = challenge(server.provide_secret(Some(secret)));
    let last = client.respond(&server_first).unwrap();
    // The channel binding repeats the gs2 header, authzid included.
    let expected = format!("c={},", STANDARD.encode("n,a=b=3Dob=2Cx,"));
    assert!(last.expose_secret().starts_with(expected.as_bytes()));
    let server_final = challenge(server.step(last.expose_secret()));
    assert!(client.respond(&server_final).is_ok());
    let Ok(ServerStep::Done(credentials)) = server.step(b"") else {
        panic!("not done")
    };
    assert_eq!(credentials.username(), Some("al,ice="));
    assert_eq!(credentials.authzid(), Some("b=ob,x"));
}

#[test]
fn rfc5802_section9_wrong_password_fails_without_a_signature() {
    let mut client = ScramSha256Client::new(None, "user", "pencil!", CLIENT_NONCE).unwrap();
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    let _ = server.start(
        client
            .initial_response()
            .as_ref()
            .map(|m| m.expose_secret().as_slice()),
    );
    let server_first = challenge(server.provide_secret(Some(rfc_secret())));
    let last = client.respond(&server_first).unwrap();
    assert_eq!(server.step(last.expose_secret()), Ok(ServerStep::Failed));
    assert!(server.step(b"").is_err_and(|e| e.is_misuse()));
}

#[test]
fn rfc5802_section9_unknown_users_look_like_known_ones() {
    let exchange = |username: &str, nonce: &str| {
        let mut server = ScramSha256Server::new(nonce, &unknown_users()).unwrap();
        let mut client = ScramSha256Client::new(None, username, "pw", "cn").unwrap();
        let first = client.initial_response().unwrap();
        let _ = server.start(Some(first.expose_secret()));
        let server_first = challenge(server.provide_secret(None));
        let last = client.respond(&server_first).unwrap();
        // The proof is checked for form, then the exchange fails as for a wrong password.
        assert_eq!(server.step(last.expose_secret()), Ok(ServerStep::Failed));
        String::from_utf8(server_first).unwrap()
    };
    let salt = |first: &str| String::from(first.split(',').nth(1).unwrap());
    let one = exchange("nobody", "sn1");
    let two = exchange("nobody", "sn2");
    let other = exchange("someone", "sn1");
    assert!(one.starts_with("r=cnsn1,s="), "{one}");
    assert!(one.ends_with(",i=4096"), "{one}");
    // Same salt across attempts, as a real user's; another user gets another.
    assert_eq!(salt(&one), salt(&two));
    assert_ne!(salt(&one), salt(&other));
    assert_eq!(STANDARD.decode(&salt(&one)[2..]).unwrap().len(), 16);
}

#[test]
fn rfc5802_section6_channel_binding_flags() {
    // `y`: the client could bind but believes the server cannot; fine without -PLUS.
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    assert!(matches!(
        server.start(Some(b"y,,n=user,r=abc")),
        Ok(ServerStep::Lookup { .. })
    ));
    let server_first = challenge(server.provide_secret(Some(rfc_secret())));
    let nonce = String::from_utf8(server_first).unwrap();
    let nonce = &nonce[2..nonce.find(',').unwrap()];
    // The binding must repeat `y,,`, not `n,,`.
    let last = format!("c=biws,r={nonce},p={}", STANDARD.encode([0; 32]));
    assert_eq!(
        server.step(last.as_bytes()),
        Err(malformed("channel binding differs from the gs2 header"))
    );
    // `p=`: channel binding asked for, which is not offered.
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    assert_eq!(
        server.start(Some(b"p=tls-unique,,n=user,r=abc")),
        Err(malformed("channel binding (p=) is not supported"))
    );
}

#[test]
fn malformed_client_first_messages() {
    let invalid = |field, reason| SaslError::InvalidField {
        mechanism: SCRAM_SHA_256,
        field,
        reason,
    };
    let long_name = format!("n,,n={},r=abc", "u".repeat(256));
    let long_nonce = format!("n,,n=user,r={}", "r".repeat(256));
    let cases: Vec<(&[u8], SaslError)> = alloc::vec![
        (b"", malformed("gs2 flag is not n, y or p=")),
        (b"x,,n=user,r=abc", malformed("gs2 flag is not n, y or p=")),
        (b"n", malformed("gs2 header is not closed with ','")),
        (b"n,", malformed("gs2 header is not closed with ','")),
        (b"n,b=x,n=user,r=abc", malformed("authzid is not a=")),
        (b"n,a=,n=user,r=abc", invalid("authzid", "empty")),
        (
            b"n,,m=ext,n=user,r=abc",
            malformed("mandatory extension (m=) not supported")
        ),
        (b"n,,r=abc,n=user", malformed("no user name (n=)")),
        (b"n,,n=user", malformed("no nonce (r=)")),
        (b"n,,n=user,x=abc", malformed("no nonce (r=)")),
        (b"n,,n=,r=abc", invalid("username", "empty")),
        (
            b"n,,n=us=2Ber,r=abc",
            invalid("username", "'=' not followed by 2C or 3D")
        ),
        (
            b"n,,n=user=,r=abc",
            invalid("username", "'=' not followed by 2C or 3D")
        ),
        (b"n,,n=us\0er,r=abc", invalid("username", "contains NUL")),
        (b"n,,n=user,r=", invalid("nonce", "empty")),
        (
            b"n,,n=user,r=a b",
            invalid("nonce", "not printable ASCII without ','")
        ),
        (
            b"n,,n=user,r=abc,junk",
            malformed("extension is not attr=value")
        ),
        (b"n,,n=\xff,r=abc", malformed("not UTF-8")),
        (
            long_name.as_bytes(),
            SaslError::FieldTooLong {
                mechanism: SCRAM_SHA_256,
                field: "username",
                limit: 255,
            },
        ),
        (
            long_nonce.as_bytes(),
            SaslError::FieldTooLong {
                mechanism: SCRAM_SHA_256,
                field: "nonce",
                limit: 255,
            },
        ),
    ];
    for (message, expected) in cases {
        let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
        assert_eq!(server.start(Some(message)), Err(expected), "{message:?}");
        // A failed exchange stays failed.
        assert!(server.provide_secret(None).is_err_and(|e| e.is_misuse()));
    }
    // Extensions are ignored; a bigger limit lets longer names through.
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    assert!(matches!(
        server.start(Some(b"n,,n=user,r=abc,x=ext")),
        Ok(ServerStep::Lookup { .. })
    ));
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users())
        .unwrap()
        .with_max_field_len(300);
    assert!(matches!(
        server.start(Some(long_name.as_bytes())),
        Ok(ServerStep::Lookup { .. })
    ));
}

#[test]
fn malformed_client_final_messages() {
    let proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    let nonce = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let cases: Vec<(String, SaslError)> = alloc::vec![
        (String::new(), malformed("client-final: no proof (p=)")),
        (
            format!("c=biws,{nonce}"),
            malformed("client-final: no proof (p=)")
        ),
        (
            format!("c=biws,{nonce},p=AAAA"),
            malformed("proof is not base64 of 32 octets")
        ),
        (
            format!("c=biws,{nonce},p=!!!"),
            malformed("proof is not base64 of 32 octets")
        ),
        (
            format!("{nonce},{proof}"),
            malformed("no channel binding (c=)")
        ),
        (
            format!("c=bixx,{nonce},{proof}"),
            malformed("channel binding differs from the gs2 header")
        ),
        (
            format!("c=biws,{proof}"),
            malformed("client-final: no nonce (r=)")
        ),
        (
            format!("c=biws,r=rOprNGfwEbeRWgbNEkqO,{proof}"),
            malformed("nonce differs from the server-first-message's")
        ),
        (
            format!("c=biws,{nonce},junk,{proof}"),
            malformed("extension is not attr=value")
        ),
    ];
    for (message, expected) in cases {
        let mut server = rfc_server_after_first();
        assert_eq!(server.step(message.as_bytes()), Err(expected), "{message}");
    }
    // A tampered proof fails as a wrong password does; an extension is fine.
    let mut server = rfc_server_after_first();
    let tampered = format!("c=biws,{nonce},p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    assert_eq!(server.step(tampered.as_bytes()), Ok(ServerStep::Failed));
    // The answer to the server-final-message must be empty.
    let mut server = rfc_server_after_first();
    let _ = challenge(server.step(CLIENT_FINAL));
    assert_eq!(
        server.step(b"x"),
        Err(malformed("answer to the server-final-message is not empty"))
    );
}

#[test]
fn client_refuses_bad_server_messages() {
    let cases: &[(&[u8], SaslError)] = &[
        (
            b"m=x,r=rOprNGfwEbeRWgbNEkqOsn,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            malformed("mandatory extension (m=) not supported"),
        ),
        (
            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            malformed("server-first: no nonce (r=)"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            malformed("server nonce does not extend the client's"),
        ),
        (
            b"r=otherNonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            malformed("server nonce does not extend the client's"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,i=4096",
            malformed("server-first: no salt (s=)"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,s=,i=4096",
            malformed("salt is not base64 of 1 to 256 octets"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,s=W22Z*,i=4096",
            malformed("salt is not base64 of 1 to 256 octets"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,s=W22ZaJ0SNY7soEsUEjb6gQ==",
            malformed("server-first: no iteration count (i=)"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
            malformed("iteration count is not a number"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
            malformed("iteration count is not a number"),
        ),
        // RFC 7677 section 4: at least 4096.
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
            malformed("iteration count out of the accepted range"),
        ),
        (
            b"r=rOprNGfwEbeRWgbNEkqOsn,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001",
            malformed("iteration count out of the accepted range"),
        ),
        (b"\xff", malformed("not UTF-8")),
    ];
    for (message, expected) in cases {
        let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
        let _ = client.initial_response();
        assert_eq!(
            client.respond(message).as_ref().err(),
            Some(expected),
            "{message:?}"
        );
        // Failed for good.
        assert!(client.respond(SERVER_FIRST).is_err());
    }
    let salt_too_long = format!(
        "r=rOprNGfwEbeRWgbNEkqOsn,s={},i=4096",
        STANDARD.encode([1; 257])
    );
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
    let _ = client.initial_response();
    assert_eq!(
        client.respond(salt_too_long.as_bytes()).err(),
        Some(malformed("salt is not base64 of 1 to 256 octets"))
    );

    let finals: &[(&[u8], SaslError)] = &[
        (
            b"e=invalid-proof",
            malformed("the server reported an error (e=)"),
        ),
        (b"", malformed("server-final: no verifier (v=)")),
        (
            b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            malformed("server signature does not verify"),
        ),
        (b"v=AAAA", malformed("verifier is not base64 of 32 octets")),
    ];
    for (message, expected) in finals {
        let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
        let _ = client.initial_response();
        let _ = client.respond(SERVER_FIRST).unwrap();
        assert_eq!(
            client.respond(message).as_ref().err(),
            Some(expected),
            "{message:?}"
        );
        assert!(!client.is_server_verified());
    }
    // A lower cap is honoured.
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE)
        .unwrap()
        .with_max_iterations(4095);
    let _ = client.initial_response();
    assert!(client.respond(SERVER_FIRST).is_err());
    // Only an empty challenge before the first message.
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
    assert!(client.respond(SERVER_FIRST).is_err());
}

#[test]
fn argument_checks() {
    let misuse = |result: Result<(), SaslError>| assert!(result.is_err_and(|e| e.is_misuse()));
    misuse(ScramSha256Client::new(None, "", "pw", "n").map(drop));
    misuse(ScramSha256Client::new(None, "u\0", "pw", "n").map(drop));
    misuse(ScramSha256Client::new(Some("a\0"), "u", "pw", "n").map(drop));
    misuse(ScramSha256Client::new(None, "u", "pw", "").map(drop));
    misuse(ScramSha256Client::new(None, "u", "pw", "a,b").map(drop));
    misuse(ScramSha256Server::new("", &unknown_users()).map(drop));
    misuse(ScramSha256Server::new("a b", &unknown_users()).map(drop));
    misuse(ScramSha256Server::new(&"n".repeat(256), &unknown_users()).map(drop));
}

#[test]
fn server_out_of_order() {
    let mut server: Box<dyn ServerMechanism> =
        Box::new(ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap());
    assert_eq!(server.name(), SCRAM_SHA_256);
    assert!(server.step(CLIENT_FIRST).is_err_and(|e| e.is_misuse()));
    assert!(server.provide_secret(None).is_err_and(|e| e.is_misuse()));
    assert!(server.reject(b"").is_err_and(|e| e.is_misuse()));
    let _ = server.start(Some(CLIENT_FIRST));
    assert!(
        server
            .start(Some(CLIENT_FIRST))
            .is_err_and(|e| e.is_misuse())
    );
    // Waiting for the secret: a client line is out of order, and the lookup still stands.
    assert_eq!(
        server.step(CLIENT_FINAL),
        Err(SaslError::OutOfOrder {
            mechanism: SCRAM_SHA_256,
            reason: "waiting for the user's secret"
        })
    );
    assert_eq!(
        challenge(server.provide_secret(Some(rfc_secret()))),
        SERVER_FIRST
    );
    assert!(server.provide_secret(None).is_err_and(|e| e.is_misuse()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn client_and_server_agree(
        username in "[^\0]{1,20}",
        password in "[ -~]{0,20}",
        authzid in proptest::option::of("[^\0]{1,20}"),
        client_nonce in "[!-+--~]{1,30}",
        server_nonce in "[!-+--~]{1,30}",
    ) {
        let mut client =
            ScramSha256Client::new(authzid.as_deref(), &username, password.clone(), &client_nonce).unwrap();
        let mut server = ScramSha256Server::new(&server_nonce, &unknown_users()).unwrap();
        let first = client.initial_response().unwrap();
        let step = server.start(Some(first.expose_secret())).unwrap();
        prop_assert_eq!(step, ServerStep::Lookup { username: username.clone() });
        let secret = ScramSecret::derive(&password, b"salt", 4096).unwrap();
        let server_first = challenge(server.provide_secret(Some(secret)));
        let last = client.respond(&server_first).unwrap();
        let server_final = challenge(server.step(last.expose_secret()));
        prop_assert!(client.respond(&server_final).unwrap().expose_secret().is_empty());
        let Ok(ServerStep::Done(credentials)) = server.step(b"") else { panic!("not done") };
        prop_assert_eq!(credentials.username(), Some(username.as_str()));
        prop_assert_eq!(credentials.authzid(), authzid.as_deref());
    }

    #[test]
    fn server_never_panics(
        first in proptest::collection::vec(any::<u8>(), 0..120),
        last in proptest::collection::vec(any::<u8>(), 0..160),
    ) {
        let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
        let _ = server.start(Some(&first));
        let _ = server.provide_secret(Some(rfc_secret()));
        let _ = server.step(&last);
        let _ = server.step(b"");
    }

    #[test]
    fn client_never_panics(
        first in proptest::collection::vec(any::<u8>(), 0..120),
        last in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
        let _ = client.initial_response();
        let _ = client.respond(&first);
        let _ = client.respond(&last);
    }
}

fn binding(data: u8) -> crate::sasl::ChannelBinding {
    crate::sasl::ChannelBinding::tls_exporter([data; 32])
}

/// A PLUS exchange between a client bound to `client` and a server bound to `server`.
fn plus_exchange(
    client: crate::sasl::ChannelBinding,
    server: crate::sasl::ChannelBinding,
) -> Result<ServerStep, SaslError> {
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE)
        .unwrap()
        .with_channel_binding(client);
    assert_eq!(client.name(), SCRAM_SHA_256_PLUS);
    let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users())
        .unwrap()
        .with_channel_binding(server);
    assert_eq!(server.name(), SCRAM_SHA_256_PLUS);
    let first = client.initial_response().unwrap();
    assert!(
        first
            .expose_secret()
            .starts_with(b"p=tls-exporter,,n=user,")
    );
    let _ = server.start(Some(first.expose_secret()))?;
    let server_first = challenge(server.provide_secret(Some(rfc_secret())));
    let last = client.respond(&server_first).unwrap();
    let step = server.step(last.expose_secret())?;
    let ServerStep::Challenge(server_final) = step else {
        return Ok(step);
    };
    assert!(client.respond(&server_final).is_ok());
    assert!(client.is_server_verified());
    server.step(b"")
}

#[test]
fn rfc5802_section6_plus_binds_the_exchange_to_the_connection() {
    let done = plus_exchange(binding(7), binding(7)).unwrap();
    assert!(matches!(done, ServerStep::Done(Credentials::Scram { .. })));
    // Relayed onto another TLS connection: the binding data differ.
    assert_eq!(
        plus_exchange(binding(7), binding(8)),
        Err(malformed("channel binding differs from the gs2 header"))
    );
    // The client's `c=` is the gs2 header and the data (RFC 5802 section 7, cbind-input).
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE)
        .unwrap()
        .with_channel_binding(binding(1));
    let _ = client.initial_response();
    let last = client.respond(SERVER_FIRST).unwrap();
    let mut cbind_input = b"p=tls-exporter,,".to_vec();
    cbind_input.extend_from_slice(&[1; 32]);
    let expected = format!("c={},", STANDARD.encode(&cbind_input));
    assert!(last.expose_secret().starts_with(expected.as_bytes()));
}

#[test]
fn rfc5802_section6_gs2_flags_against_what_the_server_offers() {
    let start = |server: ScramSha256Server, message: &[u8]| {
        let mut server = server;
        server.start(Some(message)).map(|_| ())
    };
    let plain = || ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    let offered = || plain().with_binding_offered();
    let plus = || plain().with_channel_binding(binding(7));
    // SCRAM-SHA-256 alone: `n` and `y` are fine, `p=` is not.
    assert_eq!(start(plain(), b"n,,n=user,r=abc"), Ok(()));
    assert_eq!(start(plain(), b"y,,n=user,r=abc"), Ok(()));
    // With -PLUS offered too: `y` is a downgrade.
    assert_eq!(start(offered(), b"n,,n=user,r=abc"), Ok(()));
    assert_eq!(
        start(offered(), b"y,,n=user,r=abc"),
        Err(malformed(
            "gs2 flag y, but the server offers channel binding"
        ))
    );
    assert_eq!(
        start(offered(), b"p=tls-exporter,,n=user,r=abc"),
        Err(malformed("channel binding (p=) is not supported"))
    );
    // -PLUS: only `p=` with its type.
    assert_eq!(start(plus(), b"p=tls-exporter,,n=user,r=abc"), Ok(()));
    assert_eq!(
        start(plus(), b"p=tls-unique,,n=user,r=abc"),
        Err(malformed("channel binding type not supported"))
    );
    for flag in ["n", "y"] {
        let message = format!("{flag},,n=user,r=abc");
        assert_eq!(
            start(plus(), message.as_bytes()),
            Err(malformed("SCRAM-SHA-256-PLUS needs channel binding (p=)"))
        );
    }
    assert!(crate::sasl::ChannelBinding::new("", alloc::vec![1]).is_err_and(|e| e.is_misuse()));
    assert!(crate::sasl::ChannelBinding::new("tls exporter", alloc::vec![1]).is_err());
    assert!(crate::sasl::ChannelBinding::new("tls-unique", Vec::new()).is_err());
    let custom =
        crate::sasl::ChannelBinding::new("tls-server-end-point", alloc::vec![1, 2]).unwrap();
    assert_eq!(custom.kind(), "tls-server-end-point");
    assert_eq!(custom.data(), [1, 2]);
    assert_eq!(
        format!("{custom:?}"),
        r#"ChannelBinding { kind: "tls-server-end-point", data_len: 2 }"#
    );
}

/// RFC 5802 section 9: through the registry, with a fresh nonce per exchange as the docs
/// require, an unknown user sees the same salt and iteration count on every attempt, shaped
/// like a real user's (the review's `review2_registry_unknown_user_salt_is_stable`).
#[test]
fn rfc5802_section9_registry_unknown_user_answers_are_stable_and_look_real() {
    use crate::sasl::{Context, ServerMechanisms};
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicU32, Ordering};

    let real = ScramSecret::derive("pw", b"a real salt of 24 octets", 10_000).unwrap();
    let counter = Arc::new(AtomicU32::new(0));
    let nonces = Arc::clone(&counter);
    let offered = ServerMechanisms::new()
        .scram_sha_256(unknown_users().like(&real).unwrap(), move || {
            format!("srvnonce{}", nonces.fetch_add(1, Ordering::Relaxed))
        });
    let context = Context::new(true, None);
    // The salt and iteration count of the server-first-message.
    let answer = |user: &str, secret: Option<ScramSecret>| {
        let mut server = offered.start(SCRAM_SHA_256, &context).unwrap();
        let first = format!("n,,n={user},r=cn");
        assert!(matches!(
            server.start(Some(first.as_bytes())),
            Ok(ServerStep::Lookup { .. })
        ));
        let server_first = String::from_utf8(challenge(server.provide_secret(secret))).unwrap();
        let mut parts = server_first.split(',').skip(1);
        let salt = STANDARD
            .decode(parts.next().unwrap().strip_prefix("s=").unwrap())
            .unwrap();
        let iterations = String::from(parts.next().unwrap());
        (salt, iterations)
    };
    let known = answer("alice", Some(real.clone()));
    assert_eq!(known, answer("alice", Some(real.clone())));
    let unknown = answer("nobody", None);
    assert_eq!(unknown, answer("nobody", None), "stable across attempts");
    assert_ne!(unknown, answer("someone", None), "one salt per user name");
    assert_eq!(unknown.0.len(), known.0.len(), "salt length of real users");
    assert_eq!(unknown.1, known.1, "iteration count of real users");
    assert_eq!(
        counter.load(Ordering::Relaxed),
        5,
        "a fresh nonce each time"
    );
}

#[test]
fn unknown_users_arguments() {
    let misuse = |result: Result<ScramUnknownUsers, SaslError>| {
        assert!(result.is_err_and(|e| e.is_misuse()));
    };
    misuse(ScramUnknownUsers::new(b"fifteen octets!"));
    misuse(unknown_users().with_iterations(0));
    misuse(unknown_users().with_salt_len(0));
    misuse(unknown_users().with_salt_len(257));
    let long = unknown_users().with_salt_len(256).unwrap();
    assert_eq!(long.salt_len(), 256);
    assert!(!format!("{long:?}").contains("secret"));
    // A long made-up salt comes out whole.
    let mut server = ScramSha256Server::new(SERVER_NONCE, &long).unwrap();
    let _ = server.start(Some(b"n,,n=nobody,r=cn"));
    let server_first = String::from_utf8(challenge(server.provide_secret(None))).unwrap();
    let salt = server_first.split(',').nth(1).unwrap();
    assert_eq!(STANDARD.decode(&salt[2..]).unwrap().len(), 256);
}

/// RFC 5802 section 9: an unknown user's proof is checked as a wrong password's is, and
/// fails the same way; the exchange then accepts nothing more.
#[test]
fn rfc5802_section9_unknown_user_fails_like_a_wrong_password() {
    let run = |secret: Option<ScramSecret>| {
        let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
        let mut server = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
        let first = client.initial_response().unwrap();
        let _ = server.start(Some(first.expose_secret()));
        let server_first = challenge(server.provide_secret(secret));
        let last = client.respond(&server_first).unwrap();
        (server.step(last.expose_secret()), server.step(b""))
    };
    let wrong = ScramSecret::derive("not pencil", b"0123456789abcdef", 4096).unwrap();
    let (unknown, unknown_after) = run(None);
    let (wrong, wrong_after) = run(Some(wrong));
    assert_eq!(unknown, Ok(ServerStep::Failed));
    assert_eq!(unknown, wrong);
    assert_eq!(unknown_after, wrong_after);
}

/// RFC 5802 section 6: a client that could bind but sees no -PLUS offered sends `y`; a
/// server without -PLUS completes the exchange, one offering -PLUS refuses it (downgrade).
#[test]
fn rfc5802_section6_client_sends_y_when_it_could_bind() {
    let exchange = |server: ScramSha256Server| {
        let mut server = server;
        let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE)
            .unwrap()
            .with_binding_supported();
        assert_eq!(client.name(), SCRAM_SHA_256);
        let first = client.initial_response().unwrap();
        assert!(first.expose_secret().starts_with(b"y,,n=user,"));
        let _lookup = server.start(Some(first.expose_secret()))?;
        let server_first = challenge(server.provide_secret(Some(rfc_secret())));
        let last = client.respond(&server_first).unwrap();
        // `c=` repeats the gs2 header, `y,,`.
        let expected = format!("c={},", STANDARD.encode("y,,"));
        assert!(last.expose_secret().starts_with(expected.as_bytes()));
        let server_final = challenge(server.step(last.expose_secret()));
        client.respond(&server_final).unwrap();
        assert_eq!(client.complete(), Ok(()));
        server.step(b"")
    };
    let plain = ScramSha256Server::new(SERVER_NONCE, &unknown_users()).unwrap();
    assert!(matches!(exchange(plain.clone()), Ok(ServerStep::Done(_))));
    assert_eq!(
        exchange(plain.with_binding_offered()).map(drop),
        Err(malformed(
            "gs2 flag y, but the server offers channel binding"
        ))
    );
    // With binding data, `p=` wins over `y`.
    let mut bound = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE)
        .unwrap()
        .with_binding_supported()
        .with_channel_binding(binding(1));
    assert!(
        bound
            .initial_response()
            .unwrap()
            .expose_secret()
            .starts_with(b"p=tls-exporter,,")
    );
}

/// RFC 5802 section 5 and RFC 4422 section 3.6: the client's exchange is complete only
/// once the server's signature verified; success reported earlier is a failure.
#[test]
fn rfc5802_section5_client_complete_only_after_the_server_signature() {
    let mut client = ScramSha256Client::new(None, "user", "pencil", CLIENT_NONCE).unwrap();
    let incomplete = Err(SaslError::Incomplete {
        mechanism: SCRAM_SHA_256,
    });
    assert_eq!(client.clone().complete(), incomplete);
    let _ = client.initial_response();
    assert_eq!(client.clone().complete(), incomplete);
    let _ = client.respond(SERVER_FIRST).unwrap();
    // A server that says "success" here, without `v=`, has not proved itself.
    let mut impostor = client.clone();
    assert_eq!(impostor.complete(), incomplete);
    assert!(!impostor.is_server_verified());
    assert!(impostor.respond(SERVER_FINAL).is_err(), "failed for good");
    let _ = client.respond(SERVER_FINAL).unwrap();
    assert_eq!(client.complete(), Ok(()));
}
