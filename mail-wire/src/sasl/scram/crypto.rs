//! The SCRAM-SHA-256 functions of RFC 5802 section 2.2: `H`, `HMAC`, `Hi` and `XOR`.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::KEY_LEN;

type HmacSha256 = Hmac<Sha256>;

/// `HMAC(key, part1 || part2 ...)`.
pub(super) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; KEY_LEN] {
    // HMAC takes keys of any length (RFC 2104 section 2), so this never fails; the zero key
    // of the impossible branch would only make every proof fail to verify.
    let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(key) else {
        return [0; KEY_LEN];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `H(data)`.
pub(super) fn sha256(data: &[u8]) -> [u8; KEY_LEN] {
    Sha256::digest(data).into()
}

/// `Hi(password, salt, i)`: PBKDF2 with HMAC-SHA-256 and one block of output.
pub(super) fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let mut out = [0; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

/// `a XOR b`.
pub(super) fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    let mut out = [0; KEY_LEN];
    for ((out, a), b) in out.iter_mut().zip(a).zip(b) {
        *out = a ^ b;
    }
    out
}
