//! Random identifiers shaped like AWS's (access key ids, principal ids, UUIDs, organisation
//! and identity store ids) and office addresses, for every generated record and account.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub(crate) const HEX: &[u8] = b"0123456789abcdef";

/// An AWS-style identifier: a prefix and `n` characters of base32.
pub(crate) fn id_like(rng: &mut ChaCha8Rng, prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    s.extend((0..n).map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char));
    s
}

/// A version-4 UUID.
pub(crate) fn uuid(rng: &mut ChaCha8Rng) -> String {
    let b: u128 = rng.random();
    let b = (b & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An address in the office networks.
pub(crate) fn office_ip(rng: &mut ChaCha8Rng) -> String {
    if rng.random_bool(0.2) {
        format!("2001:db8:1000::{:x}", rng.random_range(1..0xffffu32))
    } else {
        format!("203.0.113.{}", rng.random_range(2..250))
    }
}

/// `n` lowercase hexadecimal digits.
pub(crate) fn hex(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| HEX[rng.random_range(0..16)] as char)
        .collect()
}
