//! [`Secret`]: a wrapper that keeps credentials out of logs.

use core::fmt;

/// A credential (password, token, digest) that never shows up in `Debug` output.
///
/// `Debug` prints `Secret(<redacted>)` whatever the content, so a `{:?}` of a struct holding
/// credentials is safe to log. There is deliberately no `Display`: reading the content takes an
/// explicit, greppable [`Secret::expose_secret`].
///
/// Equality compares the contents in ordinary (not constant) time; compare secrets from the
/// network with a constant-time function instead.
///
/// ```
/// use mail_wire::Secret;
///
/// let password = Secret::new(String::from("tanstaaftanstaaf"));
/// assert_eq!(format!("{password:?}"), "Secret(<redacted>)");
/// assert_eq!(password.expose_secret(), "tanstaaftanstaaf");
/// ```
#[derive(Clone, PartialEq, Eq)]
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

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;

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
}
