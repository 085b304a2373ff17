//! Helpers shared by the fuzz targets.

use arbitrary::Unstructured;

/// Splits `data` into pieces whose sizes are drawn from `sizes` (1 to 256 octets each).
pub fn chunks<'a>(sizes: &mut Unstructured<'_>, data: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let size = usize::from(sizes.arbitrary::<u8>().unwrap_or(255)) + 1;
        let (head, tail) = rest.split_at(size.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}
