//! The mechanisms of `AUTH`, kept in place up to two (what servers offer most often
//! fits), so that reading an EHLO response does not allocate for them.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use crate::types::Mechanism;
use crate::types::inline_list::{Filler, InlineList};

/// How many mechanisms are kept without allocating.
const IN_PLACE: usize = 2;

impl Filler for Mechanism<'_> {
    const FILLER: Self = Mechanism::placeholder();
}

impl Mechanism<'_> {
    /// An empty name, never handed out: it fills the unused places of [`Mechanisms`].
    const fn placeholder() -> Self {
        Self::from_cow(Cow::Borrowed(""))
    }
}

/// The SASL mechanisms of [`Capability::Auth`](super::Capability::Auth) (RFC 4954 3), in the
/// order sent: a list that reads as a slice (`as_slice`, or any slice method through
/// `Deref`). Up to two are held without allocating.
///
/// It compares, hashes, prints (`Debug`) and serializes as the slice of its mechanisms.
///
/// ```
/// use smtp_proto::types::{Capability, Mechanism, Mechanisms};
///
/// let mechanisms: Mechanisms = ["PLAIN", "LOGIN"]
///     .into_iter()
///     .map(Mechanism::new)
///     .collect::<Result<_, _>>()?;
/// assert_eq!(mechanisms.len(), 2);
/// assert_eq!(mechanisms[1].as_str(), "LOGIN");
/// let auth = Capability::Auth(mechanisms);
/// assert_eq!(auth.to_string(), "AUTH PLAIN LOGIN");
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Mechanisms<'a>(InlineList<Mechanism<'a>, IN_PLACE>);

impl<'a> Mechanisms<'a> {
    /// No mechanism.
    pub const fn new() -> Self {
        Self(InlineList::new())
    }

    /// The mechanisms, in order.
    #[inline]
    pub fn as_slice(&self) -> &[Mechanism<'a>] {
        self.0.as_slice()
    }

    /// Adds `mechanism` at the end, even if it is there already (decoding and
    /// [`EhloResponse::push`](super::EhloResponse::push) keep each once).
    #[inline]
    pub fn push(&mut self, mechanism: Mechanism<'a>) {
        self.0.push(mechanism);
    }

    /// The mechanisms, by value.
    pub fn into_vec(self) -> Vec<Mechanism<'a>> {
        self.0.into_vec()
    }

    /// The same mechanisms, owning their names.
    pub fn into_owned(self) -> Mechanisms<'static> {
        Mechanisms(
            self.0
                .into_vec()
                .into_iter()
                .map(Mechanism::into_owned)
                .collect(),
        )
    }
}

impl<'a> Deref for Mechanisms<'a> {
    type Target = [Mechanism<'a>];
    fn deref(&self) -> &[Mechanism<'a>] {
        self.as_slice()
    }
}

impl<'a> AsRef<[Mechanism<'a>]> for Mechanisms<'a> {
    fn as_ref(&self) -> &[Mechanism<'a>] {
        self.as_slice()
    }
}

impl fmt::Debug for Mechanisms<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'a> From<Vec<Mechanism<'a>>> for Mechanisms<'a> {
    fn from(mechanisms: Vec<Mechanism<'a>>) -> Self {
        Self(mechanisms.into())
    }
}

impl<'a, const K: usize> From<[Mechanism<'a>; K]> for Mechanisms<'a> {
    fn from(mechanisms: [Mechanism<'a>; K]) -> Self {
        mechanisms.into_iter().collect()
    }
}

impl<'a> FromIterator<Mechanism<'a>> for Mechanisms<'a> {
    fn from_iter<I: IntoIterator<Item = Mechanism<'a>>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for Mechanisms<'a> {
    type Item = Mechanism<'a>;
    type IntoIter = alloc::vec::IntoIter<Mechanism<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'l, 'a> IntoIterator for &'l Mechanisms<'a> {
    type Item = &'l Mechanism<'a>;
    type IntoIter = core::slice::Iter<'l, Mechanism<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a> PartialEq<Vec<Mechanism<'a>>> for Mechanisms<'a> {
    fn eq(&self, other: &Vec<Mechanism<'a>>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<'a> PartialEq<[Mechanism<'a>]> for Mechanisms<'a> {
    fn eq(&self, other: &[Mechanism<'a>]) -> bool {
        self.as_slice() == other
    }
}
