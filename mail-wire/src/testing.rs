//! Helpers for the crate's tests.

use alloc::vec::Vec;

/// Splits `data` at the given cut points (taken modulo its length plus one), for checking that
/// any chunking of an input gives the same result as the whole.
pub(crate) fn chunked<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut last = 0;
    for point in points {
        out.push(&data[last..point]);
        last = point;
    }
    out.push(&data[last..]);
    out
}
