//! [`Secret`]: a wrapper that keeps credentials out of logs, and [`constant_time_eq`] to compare
//! them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A credential (password, token, digest) that never shows up in `Debug` output.
///
/// `Debug` prints `Secret(<redacted>)` whatever the content, so a `{:?}` of a struct holding
/// credentials is safe to log. There is deliberately no `Display`: reading the content takes an
/// explicit, greppable [`Secret::expose_secret`].
///
/// **Equality** (`==`) is defined only for byte-like contents (`T: AsRef<[u8]>`: `String`,
/// `Vec<u8>`, `[u8; N]`, `&str`...) and goes through [`constant_time_eq`] with `self` as the
/// presented value: its time does not depend on the contents, nor on the length of the right-hand
/// side. Read [`constant_time_eq`] for what that does and does not hide. Comparing the exposed
/// contents (`a.expose_secret() == b.expose_secret()`) bypasses this: don't, for anything that
/// came from the network.
///
/// ```
/// use mail_wire::Secret;
///
/// let password = Secret::new(String::from("tanstaaftanstaaf"));
/// assert_eq!(format!("{password:?}"), "Secret(<redacted>)");
/// assert_eq!(password.expose_secret(), "tanstaaftanstaaf");
///
/// // `&str` converts too, so `"..."` works wherever `impl Into<Secret<String>>` is asked for.
/// let same: Secret<String> = "tanstaaftanstaaf".into();
/// assert!(password == same); // in constant time
/// ```
#[derive(Clone)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a credential.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the credential, for the one place that really needs it.
    pub const fn expose_secret(&self) -> &T {
        &self.0
    }

    /// Unwraps the credential.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(String::from(value))
    }
}

impl From<&[u8]> for Secret<Vec<u8>> {
    fn from(value: &[u8]) -> Self {
        Self(value.to_vec())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Constant-time for the contents: see [`constant_time_eq`].
impl<T: AsRef<[u8]>> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_ref(), other.0.as_ref())
    }
}

impl<T: AsRef<[u8]>> Eq for Secret<T> {}

/// Compares a `presented` credential (what the peer sent) with the `expected` one (what the
/// application stores) without letting the time taken depend on their contents.
///
/// What is hidden: where the first difference is (there is no early exit), and `expected`'s
/// length as far as practical: the loop runs over `presented` only, cycling through `expected`,
/// and a length mismatch is folded into the result instead of returning early. So the time
/// follows `presented.len()`, which the peer knows anyway.
///
/// What is not hidden: `presented.len()`; whether `expected` is empty; and second-order effects
/// such as the branch that wraps around `expected` every `expected.len()` octets. Rust does not
/// promise constant-time code generation: the loop is written without data-dependent branches
/// and guarded with [`core::hint::black_box`], which is best effort. To hide the length fully,
/// compare fixed-size digests (HMAC or a hash of both sides) instead.
///
/// ```
/// use mail_wire::sasl::constant_time_eq;
///
/// assert!(constant_time_eq(b"tanstaaf", b"tanstaaf"));
/// assert!(!constant_time_eq(b"tanstaaF", b"tanstaaf"));
/// assert!(!constant_time_eq(b"tanstaaftanstaaf", b"tanstaaf"));
/// ```
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    // Non-zero exactly when the lengths differ.
    let mut difference = presented.len() ^ expected.len();
    let mut expected_bytes = expected.iter().cycle();
    for &byte in presented {
        // An empty `expected` yields nothing; the length mismatch already fails the comparison.
        let other = expected_bytes.next().copied().unwrap_or_default();
        difference = core::hint::black_box(difference | usize::from(byte ^ other));
    }
    core::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::{Secret, constant_time_eq};
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn debug_does_not_leak() {
        let secret = Secret::new(String::from("hunter2"));
        let shown = format!("{secret:?} {secret:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");

        let bytes = Secret::from(vec![0x68_u8, 0x75, 0x6e]);
        assert_eq!(format!("{bytes:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn debug_inside_a_struct_does_not_leak() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Login {
            user: &'static str,
            password: Secret<&'static str>,
        }
        let login = Login {
            user: "tim",
            password: Secret::new("tanstaaftanstaaf"),
        };
        let shown = format!("{login:?}");
        assert!(shown.contains("tim"));
        assert!(!shown.contains("tanstaaf"), "{shown}");
    }

    #[test]
    fn accessors() {
        let secret: Secret<String> = String::from("token").into();
        assert_eq!(secret.expose_secret(), "token");
        assert_eq!(secret.clone(), secret);
        assert_eq!(secret.into_inner(), "token");
    }

    #[test]
    fn converts_from_borrowed_text_and_bytes() {
        let text: Secret<String> = "pw".into();
        assert_eq!(text.expose_secret(), "pw");
        let bytes: Secret<Vec<u8>> = b"pw".as_slice().into();
        assert_eq!(bytes.expose_secret(), b"pw");
    }

    #[test]
    fn equality_is_content_equality() {
        let a = Secret::new(String::from("abc"));
        assert!(a == Secret::new(String::from("abc")));
        assert!(a != Secret::new(String::from("abd")));
        assert!(a != Secret::new(String::from("ab")));
        assert!(a != Secret::new(String::from("abcabc")));
        assert!(a != Secret::new(String::new()));
        assert!(Secret::new([0_u8; 16]) == Secret::new([0_u8; 16]));
        assert!(Secret::new([0_u8; 16]) != Secret::new([1_u8; 16]));
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"abc", b""));
        // A presented value that repeats the expected one is still a different length.
        assert!(!constant_time_eq(b"abcabc", b"abc"));
        assert!(!constant_time_eq(b"\0\0\0", b""));
        // Lengths that differ by a multiple of 256 must not cancel out.
        assert!(!constant_time_eq(&[0; 256], b""));
    }
}
