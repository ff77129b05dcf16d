//! OpenIDs: the pseudonym under which an account sees a user.
//!
//! An OpenID is a keyed pseudorandom permutation of the pair `(account, user)`: a balanced
//! Feistel network over 64 bits (two 32-bit halves) whose round function is SipHash-1-3 keyed
//! with the deployment's secret and the round number. With a pseudorandom round function,
//! four rounds already give a strong pseudorandom permutation (Luby and Rackoff, 1988); we
//! use eight. Consequences:
//!
//! - stable: the same `(account, user)` always maps to the same OpenID, with no table to keep;
//! - unlinkable: two accounts' OpenIDs for one user are unrelated values to anyone without
//!   the secret, and an account cannot recover the internal user id;
//! - checkable: decoding an OpenID yields the account it was issued for, so an OpenID from
//!   another account (or a made-up one) is rejected, except with probability 2^-32 per guess,
//!   and even then it still has to name a follower to be accepted anywhere.

use std::fmt;
use std::hash::Hasher;
use std::str::FromStr;

use siphasher::sip::SipHasher13;

use crate::error::ParseOpenIdError;
use crate::ids::{AccountId, UserId};

const ROUNDS: u64 = 8;

/// A user as one account sees it. Displayed and parsed as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct OpenId(pub u64);

impl fmt::Display for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for OpenId {
    type Err = ParseOpenIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseOpenIdError);
        }
        u64::from_str_radix(s, 16)
            .map(OpenId)
            .map_err(|_| ParseOpenIdError)
    }
}

/// Encodes and decodes OpenIDs under one secret.
#[derive(Clone)]
pub(crate) struct OpenIdCodec {
    k0: u64,
    k1: u64,
}

impl fmt::Debug for OpenIdCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenIdCodec { .. }")
    }
}

impl OpenIdCodec {
    pub(crate) fn new(secret: [u8; 16]) -> Self {
        let (a, b) = secret.split_at(8);
        OpenIdCodec {
            k0: u64::from_le_bytes(a.try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(b.try_into().expect("8 bytes")),
        }
    }

    /// A fingerprint of the secret (a keyed hash of a fixed label): lets a data directory
    /// tell that it is opened with the secret it was created with, without storing it.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(b"herald openid secret fingerprint");
        h.finish()
    }

    fn round(&self, round: u64, half: u32) -> u32 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write_u64(round << 32 | u64::from(half));
        h.finish() as u32
    }

    pub(crate) fn encode(&self, account: AccountId, user: UserId) -> OpenId {
        let (mut l, mut r) = (account.0, user.0);
        for i in 0..ROUNDS {
            (l, r) = (r, l ^ self.round(i, r));
        }
        OpenId(u64::from(l) << 32 | u64::from(r))
    }

    /// The user behind `open_id` if it was issued for `account`.
    pub(crate) fn decode(&self, account: AccountId, open_id: OpenId) -> Option<UserId> {
        let (mut l, mut r) = ((open_id.0 >> 32) as u32, open_id.0 as u32);
        for i in (0..ROUNDS).rev() {
            (l, r) = (r ^ self.round(i, l), l);
        }
        (l == account.0).then_some(UserId(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_accounts() {
        let codec = OpenIdCodec::new(*b"0123456789abcdef");
        for (a, u) in [(0, 0), (1, 0), (0, 1), (7, 123_456), (u32::MAX, u32::MAX)] {
            let id = codec.encode(AccountId(a), UserId(u));
            assert_eq!(codec.decode(AccountId(a), id), Some(UserId(u)));
            assert_eq!(codec.decode(AccountId(a.wrapping_add(1)), id), None);
        }
    }

    #[test]
    fn same_user_looks_unrelated_across_accounts() {
        let codec = OpenIdCodec::new(*b"0123456789abcdef");
        let a = codec.encode(AccountId(1), UserId(42)).0;
        let b = codec.encode(AccountId(2), UserId(42)).0;
        // Roughly half the bits differ for unrelated values; require a wide margin.
        assert!((a ^ b).count_ones() > 12, "{a:016x} vs {b:016x}");
        let other = OpenIdCodec::new(*b"fedcba9876543210");
        assert_ne!(other.encode(AccountId(1), UserId(42)).0, a);
    }

    #[test]
    fn parses_its_display_form_only() {
        let id = OpenId(0x0123_4567_89ab_cdef);
        assert_eq!(id.to_string().parse::<OpenId>(), Ok(id));
        for bad in [
            "",
            "0123",
            "0123456789abcdeg",
            "+123456789abcdef",
            "0123456789abcdef0",
        ] {
            assert!(bad.parse::<OpenId>().is_err(), "{bad}");
        }
    }
}
