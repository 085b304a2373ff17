//! SASL framing and server mechanisms: arbitrary lines never panic, and whatever a mechanism
//! accepts as credentials is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_wire::sasl::{self, ClientResponse, ServerMechanism};

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    let mut mechanism: Box<dyn ServerMechanism> = match selector % 7 {
        0 => Box::new(sasl::PlainServer::new()),
        1 => Box::new(sasl::LoginServer::new()),
        2 => Box::new(sasl::XOAuth2Server::new()),
        3 => Box::new(sasl::OAuthBearerServer::new()),
        4 => match sasl::CramMd5Server::new("<1896.697170952@postoffice.reston.mci.net>") {
            Ok(server) => Box::new(server),
            Err(_) => return,
        },
        5 => Box::new(sasl::ExternalServer::new(Some("CN=fuzz"))),
        _ => {
            let Ok(unknown_users) = sasl::ScramUnknownUsers::new(b"fuzz server-wide key") else {
                return;
            };
            match sasl::ScramSha256Server::new("fuzz-nonce", &unknown_users) {
                Ok(server) => Box::new(server),
                Err(_) => return,
            }
        }
    };
    // SCRAM's stored secret, cheap to use (one iteration); known or not as the input says.
    let secret = sasl::ScramSecret::new(b"salt".to_vec(), 1, [1; 32], [2; 32]).ok();
    let known = selector & 0x80 != 0;
    let mut lines = rest.split(|&b| b == b'\n');
    let initial = lines
        .next()
        .and_then(|line| sasl::decode_initial_response(line, sasl::MAX_DECODED_LEN).ok());
    let mut step = mechanism.start(
        initial
            .as_ref()
            .map(|secret| secret.expose_secret().as_slice()),
    );
    for line in lines {
        if let Ok(sasl::ServerStep::Lookup { .. }) = step {
            step = mechanism.provide_secret(secret.clone().filter(|_| known));
        }
        match step {
            Ok(sasl::ServerStep::Challenge(challenge)) => {
                let text = sasl::encode_challenge(&challenge);
                assert_eq!(
                    sasl::decode_challenge(text.as_bytes(), usize::MAX).unwrap(),
                    challenge
                );
            }
            _ => return,
        }
        step = match sasl::decode_response(line, sasl::MAX_DECODED_LEN) {
            Ok(ClientResponse::Data(data)) => mechanism.step(data.expose_secret()),
            Ok(ClientResponse::Cancel) | Err(_) => return,
        };
    }
});
