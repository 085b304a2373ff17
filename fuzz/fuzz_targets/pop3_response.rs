//! POP3 response-side parsers (status lines, CAPA lines, scan, unique-id and language
//! listings, SASL continuations, STAT text, the language a LANG selected): arbitrary lines never panic; whatever parses encodes to one line
//! that parses to the same value and encodes to the same bytes again.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pop3_proto::codec::{
    encode_capability, encode_continuation, encode_language_listing, encode_response,
    encode_scan_listing, encode_uid_listing, parse_capability, parse_continuation,
    parse_language_listing, parse_response, parse_scan_listing, parse_selected_language,
    parse_stat, parse_uid_listing,
};

/// The line of `wire` without its CRLF, checking there is exactly one.
fn line(wire: &BytesMut) -> &[u8] {
    let line = wire.strip_suffix(b"\r\n").expect("ends with CRLF");
    assert!(!line.contains(&b'\n') && !line.contains(&b'\r'), "{wire:?}");
    line
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, data)) = input.split_first() else {
        return;
    };
    let utf8 = flags & 1 == 1;

    if let Ok(response) = parse_response(data, utf8) {
        let mut wire = BytesMut::new();
        encode_response(&response, &mut wire);
        // RFC 2449 4: never over 512 octets; what came in shorter (room for an escape space
        // included) goes out whole, a longer text is cut.
        assert!(wire.len() <= 512, "{} octets", wire.len());
        match parse_response(line(&wire), utf8) {
            Ok(again) if data.len() + 3 <= 512 => assert_eq!(again, response, "{wire:?}"),
            Ok(again) => assert!(response.text().as_str().starts_with(again.text().as_str())),
            Err(e) => panic!("{wire:?} did not parse again: {e}"),
        }
        // Looking for the timestamp never panics, and what it finds is in the text.
        if let Some(stamp) = response.timestamp() {
            assert!(response.text().as_str().contains(stamp.as_str()));
        }
        if let Some(code) = response.code() {
            let _ = code.kind();
        }
    }

    if let Ok(capability) = parse_capability(data) {
        let mut wire = BytesMut::new();
        encode_capability(&capability, &mut wire);
        // RFC 2449 4: never over 512 octets; what came in within a line goes out whole, a
        // longer capability loses the parameters (or text) that do not fit.
        assert!(wire.len() <= 512, "{} octets", wire.len());
        match parse_capability(line(&wire)) {
            Ok(again) if data.len() + 2 <= 512 => assert_eq!(again, capability, "{wire:?}"),
            Ok(again) => assert!(again.same_tag(&capability), "{wire:?}"),
            Err(e) => panic!("{wire:?} did not parse again: {e}"),
        }
        let mut wire2 = BytesMut::new();
        encode_capability(&capability.clone().into_owned(), &mut wire2);
        assert_eq!(wire, wire2);
    }

    if let Ok(listing) = parse_scan_listing(data) {
        let mut wire = BytesMut::new();
        encode_scan_listing(&listing, &mut wire);
        assert_eq!(parse_scan_listing(line(&wire)), Ok(listing), "{wire:?}");
    }

    if let Ok(listing) = parse_uid_listing(data) {
        let mut wire = BytesMut::new();
        encode_uid_listing(&listing, &mut wire);
        assert_eq!(
            parse_uid_listing(line(&wire)).as_ref(),
            Ok(&listing),
            "{wire:?}"
        );
        // Strict: the unique-id is exactly what came in.
        assert!(data.ends_with(listing.uid.as_str().as_bytes()));
    }

    if let Ok(listing) = parse_language_listing(data) {
        let mut wire = BytesMut::new();
        encode_language_listing(&listing, &mut wire);
        assert_eq!(
            parse_language_listing(line(&wire)).as_ref(),
            Ok(&listing),
            "{wire:?}"
        );
    }

    if let Ok(text) = core::str::from_utf8(data)
        && let Ok(tag) = parse_selected_language(text)
    {
        assert!(text.starts_with(tag.as_str()) && !tag.is_any());
    }

    if let Some(Ok(payload)) = parse_continuation(data).map(core::str::from_utf8)
        && !payload.contains(['\r', '\n'])
    {
        let mut wire = BytesMut::new();
        encode_continuation(payload, &mut wire);
        assert_eq!(parse_continuation(line(&wire)), Some(payload.as_bytes()));
    }

    if let Ok(text) = core::str::from_utf8(data)
        && let Ok((count, size)) = parse_stat(text)
    {
        let again = format!("{count} {size}");
        assert_eq!(parse_stat(&again), Ok((count, size)));
    }
});
