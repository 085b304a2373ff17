//! A list kept in place up to `N` items and on the heap beyond: the storage of `AUTH`'s
//! mechanisms, which nearly always fit, so that decoding them allocates nothing and dropping
//! them frees nothing.
//!
//! (An EHLO response's capabilities stay in a `Vec`: sixteen of them in place made the
//! response over a kilobyte, and copying it out of the decoder and dropping the unused
//! places cost more than the one allocation.)

use alloc::vec::Vec;
use core::hash::{Hash, Hasher};
use core::{fmt, mem};

/// A value that holds nothing to free, to fill the unused places of an [`InlineList`]
/// (written without `unsafe`, every place holds a value).
pub(crate) trait Filler {
    /// The value of an unused place.
    const FILLER: Self;
}

/// Up to `N` items in place (the first `len` of `items`), or all of them in a `Vec` once a
/// push passes `N`. Compares, hashes and prints as the slice of its items.
#[derive(Clone)]
pub(crate) enum InlineList<T, const N: usize> {
    /// The first `len` places hold the items, the rest fillers.
    Inline { len: usize, items: [T; N] },
    /// More than `N` items (at some point): all of them.
    Heap(Vec<T>),
}

impl<T: Filler, const N: usize> InlineList<T, N> {
    /// An empty list, in place.
    pub(crate) const fn new() -> Self {
        Self::Inline {
            len: 0,
            items: [const { T::FILLER }; N],
        }
    }

    /// The items, in order.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Self::Inline { len, items } => items.get(..*len).unwrap_or_default(),
            Self::Heap(items) => items,
        }
    }

    /// Adds `item` at the end.
    #[inline(always)]
    pub(crate) fn push(&mut self, item: T) {
        match self {
            Self::Inline { len, items } => match items.get_mut(*len) {
                Some(place) => {
                    // The filler in `place` has nothing to drop.
                    mem::forget(mem::replace(place, item));
                    *len += 1;
                }
                None => self.spill(item),
            },
            Self::Heap(items) => items.push(item),
        }
    }

    /// Moves the items to the heap, `item` after them.
    #[cold]
    fn spill(&mut self, item: T) {
        if let Self::Inline { items, .. } = self {
            let mut all = Vec::with_capacity(N * 2);
            all.extend(items.iter_mut().map(|item| mem::replace(item, T::FILLER)));
            all.push(item);
            *self = Self::Heap(all);
        }
    }

    /// The items, by value.
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self {
            Self::Inline { len, items } => items.into_iter().take(len).collect(),
            Self::Heap(items) => items,
        }
    }
}

impl<T: Filler, const N: usize> Default for InlineList<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Filler, const N: usize> FromIterator<T> for InlineList<T, N> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut list = Self::new();
        for item in iter {
            list.push(item);
        }
        list
    }
}

impl<T: Filler, const N: usize> From<Vec<T>> for InlineList<T, N> {
    fn from(items: Vec<T>) -> Self {
        if items.len() > N {
            return Self::Heap(items);
        }
        items.into_iter().collect()
    }
}

impl<T: Filler + PartialEq, const N: usize> PartialEq for InlineList<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Filler + Eq, const N: usize> Eq for InlineList<T, N> {}

impl<T: Filler + PartialEq, const N: usize> PartialEq<Vec<T>> for InlineList<T, N> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Filler + PartialEq, const N: usize, const K: usize> PartialEq<[T; K]> for InlineList<T, N> {
    fn eq(&self, other: &[T; K]) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Filler + Hash, const N: usize> Hash for InlineList<T, N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl<T: Filler + fmt::Debug, const N: usize> fmt::Debug for InlineList<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

impl<T: Filler, const N: usize> core::ops::Deref for InlineList<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<'l, T: Filler, const N: usize> IntoIterator for &'l InlineList<T, N> {
    type Item = &'l T;
    type IntoIter = core::slice::Iter<'l, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

#[cfg(feature = "serde")]
impl<T: Filler + serde::Serialize, const N: usize> serde::Serialize for InlineList<T, N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.as_slice())
    }
}

#[cfg(feature = "serde")]
impl<'de, T: Filler + serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de>
    for InlineList<T, N>
{
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    impl Filler for u32 {
        const FILLER: Self = 0;
    }

    #[test]
    fn items_stay_in_place_up_to_n_then_move_to_the_heap_in_order() {
        let mut list = InlineList::<u32, 3>::new();
        assert!(list.as_slice().is_empty());
        for n in 1..=3 {
            list.push(n);
        }
        assert!(matches!(list, InlineList::Inline { len: 3, .. }));
        assert_eq!(list.as_slice(), [1, 2, 3]);
        list.push(4);
        assert!(matches!(&list, InlineList::Heap(items) if items == &vec![1, 2, 3, 4]));
        assert_eq!(list.clone().into_vec(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn equality_and_hash_see_only_the_items() {
        use core::hash::BuildHasher;
        let inline: InlineList<u32, 4> = vec![1, 2].into();
        let mut heap: InlineList<u32, 4> = vec![1, 2, 3, 4, 5].into();
        assert!(matches!(heap, InlineList::Heap(_)));
        assert_ne!(inline, heap);
        if let InlineList::Heap(items) = &mut heap {
            items.truncate(2);
        }
        assert_eq!(inline, heap);
        let hasher = std::hash::RandomState::new();
        assert_eq!(hasher.hash_one(&inline), hasher.hash_one(&heap));
        assert_eq!(alloc::format!("{inline:?}"), "[1, 2]");
        assert_eq!(inline.into_vec(), vec![1, 2]);
    }
}
