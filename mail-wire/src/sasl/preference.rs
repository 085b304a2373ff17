//! [`preferred`]: choosing a mechanism both sides allow.

use super::{
    CRAM_MD5, EXTERNAL, LOGIN, OAUTHBEARER, PLAIN, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, XOAUTH2,
};

/// The built-in mechanisms, best first: SCRAM bound to the TLS channel (RFC 5802 section 6),
/// SCRAM (mutual authentication, the password never sent), EXTERNAL (the TLS client
/// certificate), the token mechanisms and CRAM-MD5 (which does not send the password), then
/// PLAIN, then LOGIN (PLAIN's obsolete cousin).
const RANKING: [&str; 8] = [
    SCRAM_SHA_256_PLUS,
    SCRAM_SHA_256,
    EXTERNAL,
    OAUTHBEARER,
    XOAUTH2,
    CRAM_MD5,
    PLAIN,
    LOGIN,
];

/// Picks the mechanism to use among those the server `offered` (the `AUTH` keyword of `EHLO`,
/// RFC 4954 section 3; the `SASL` capability of `CAPA`, RFC 5034 section 3) that the client
/// `allowed`, comparing names case-insensitively (RFC 4954 section 8).
///
/// The built-in mechanisms rank SCRAM-SHA-256-PLUS, SCRAM-SHA-256, EXTERNAL, OAUTHBEARER,
/// XOAUTH2, CRAM-MD5, then PLAIN, then LOGIN: a client that holds a SCRAM-SHA-256-PLUS and
/// a SCRAM-SHA-256 mechanism uses the bound one whenever the server offers it (RFC 5802
/// section 6). EXTERNAL is chosen only if `allowed` names it, as every mechanism is.
/// Mechanisms this module does not know (a plug-in such as GSSAPI) rank above them, since a
/// client only allows those on purpose; ties go to the earlier entry of `allowed`. Returns
/// the server's spelling of the name.
///
/// ```
/// use mail_wire::sasl::preferred;
///
/// let offered = ["login", "PLAIN", "CRAM-MD5"];
/// assert_eq!(preferred(&offered, &["PLAIN", "LOGIN"]), Some("PLAIN"));
/// assert_eq!(preferred(&offered, &["XOAUTH2"]), None);
/// ```
pub fn preferred<'a, S: AsRef<str>>(offered: &'a [S], allowed: &[&str]) -> Option<&'a str> {
    let rank = |name: &str| {
        RANKING
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
            .map_or(0, |position| position + 1)
    };
    allowed
        .iter()
        .enumerate()
        .filter_map(|(order, wanted)| {
            let found = offered
                .iter()
                .map(AsRef::as_ref)
                .find(|name| name.eq_ignore_ascii_case(wanted))?;
            Some(((rank(wanted), order), found))
        })
        .min_by_key(|(key, _)| *key)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    #[test]
    fn ranking() {
        let everything = [LOGIN, PLAIN, XOAUTH2, CRAM_MD5, OAUTHBEARER];
        assert_eq!(preferred(&everything, &everything), Some(OAUTHBEARER));
        assert_eq!(preferred(&everything, &[LOGIN, PLAIN]), Some(PLAIN));
        assert_eq!(preferred(&everything, &[PLAIN, CRAM_MD5]), Some(CRAM_MD5));
        assert_eq!(preferred(&everything, &[XOAUTH2, CRAM_MD5]), Some(XOAUTH2));
        assert_eq!(preferred(&[PLAIN], &[LOGIN, PLAIN]), Some(PLAIN));
        assert_eq!(preferred(&[LOGIN], &[LOGIN, PLAIN]), Some(LOGIN));
    }

    /// RFC 5802 section 6: the channel-bound SCRAM first, then SCRAM, above the rest;
    /// EXTERNAL only when allowed.
    #[test]
    fn rfc5802_section6_scram_plus_ranks_above_scram_and_the_rest() {
        let everything = [
            LOGIN,
            PLAIN,
            XOAUTH2,
            CRAM_MD5,
            OAUTHBEARER,
            EXTERNAL,
            SCRAM_SHA_256,
            SCRAM_SHA_256_PLUS,
        ];
        assert_eq!(
            preferred(&everything, &everything),
            Some(SCRAM_SHA_256_PLUS)
        );
        let allowed = [PLAIN, SCRAM_SHA_256, SCRAM_SHA_256_PLUS];
        assert_eq!(preferred(&everything, &allowed), Some(SCRAM_SHA_256_PLUS));
        // No -PLUS offered (or stripped on the way): plain SCRAM, which then sends `y`.
        assert_eq!(
            preferred(&[PLAIN, SCRAM_SHA_256], &allowed),
            Some(SCRAM_SHA_256)
        );
        assert_eq!(
            preferred(&[EXTERNAL, OAUTHBEARER], &[OAUTHBEARER, EXTERNAL]),
            Some(EXTERNAL)
        );
        assert_eq!(preferred(&[EXTERNAL, PLAIN], &[PLAIN]), Some(PLAIN));
        assert_eq!(
            preferred(&everything, &[EXTERNAL, SCRAM_SHA_256]),
            Some(SCRAM_SHA_256)
        );
    }

    #[test]
    fn case_insensitive_keeps_server_spelling() {
        let offered = vec![String::from("plain"), String::from("Login")];
        assert_eq!(preferred(&offered, &["LOGIN", "PLAIN"]), Some("plain"));
        assert_eq!(preferred(&offered, &["login"]), Some("Login"));
    }

    #[test]
    fn plug_ins_rank_first_in_allowed_order() {
        let offered = ["PLAIN", "SCRAM-SHA-1", "GSSAPI", "SCRAM-SHA-256"];
        let allowed = ["PLAIN", "GSSAPI", "SCRAM-SHA-256", "SCRAM-SHA-1"];
        assert_eq!(preferred(&offered, &allowed), Some("GSSAPI"));
    }

    #[test]
    fn nothing_in_common() {
        assert_eq!(preferred(&["GSSAPI"], &[PLAIN]), None);
        assert_eq!(preferred::<&str>(&[], &[PLAIN]), None);
        assert_eq!(preferred(&[PLAIN], &[]), None);
    }
}
