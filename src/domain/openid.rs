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

use siphasher::sip::SipHasher13;

use crate::ids::{AccountId, OpenId, UserId};

const ROUNDS: u64 = 8;

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

    /// The OpenIDs of `account`'s `users`, appended to `out` in the same order: the values
    /// of [`encode`](Self::encode), computed [`LANES`] at a time. One OpenID is a chain of
    /// 40 SipRounds, each waiting for the one before; interleaving independent chains lets
    /// the CPU overlap them, which the one-at-a-time path cannot.
    pub(crate) fn encode_many(
        &self,
        account: AccountId,
        users: impl IntoIterator<Item = u32>,
        out: &mut Vec<u64>,
    ) {
        let init = self.init();
        let mut users = users.into_iter();
        loop {
            let mut r = [0u32; LANES];
            let mut n = 0;
            for (slot, user) in r.iter_mut().zip(users.by_ref()) {
                *slot = user;
                n += 1;
            }
            let mut l = [account.0; LANES];
            for i in 0..ROUNDS {
                let f = round_lanes(&init, i, &r);
                for k in 0..LANES {
                    (l[k], r[k]) = (r[k], l[k] ^ f[k]);
                }
            }
            out.extend((0..n).map(|k| u64::from(l[k]) << 32 | u64::from(r[k])));
            if n < LANES {
                return;
            }
        }
    }

    /// SipHash's state after keying (the first four words), shared by every round.
    fn init(&self) -> [u64; 4] {
        [
            self.k0 ^ 0x736f_6d65_7073_6575,
            self.k1 ^ 0x646f_7261_6e64_6f6d,
            self.k0 ^ 0x6c79_6765_6e65_7261,
            self.k1 ^ 0x7465_6462_7974_6573,
        ]
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

/// OpenIDs [`OpenIdCodec::encode_many`] computes side by side.
const LANES: usize = 4;

/// [`OpenIdCodec::round`] for [`LANES`] halves at once: SipHash-1-3 of one 8-byte word
/// (`round << 32 | half`, little-endian), as `siphasher` computes it for `write_u64` then
/// `finish`: one compression of the word, one of the final block (the length, 8, in the top
/// byte), three finalization rounds (Aumasson and Bernstein, "SipHash: a fast short-input
/// PRF", 2012). The state is kept as four arrays of lanes, so that each step is one
/// independent operation per lane. A unit test holds the result equal to `round`.
#[inline(always)]
fn round_lanes(init: &[u64; 4], round: u64, half: &[u32; LANES]) -> [u32; LANES] {
    const LAST: u64 = 8 << 56;
    let m: [u64; LANES] = std::array::from_fn(|k| round << 32 | u64::from(half[k]));
    let mut v0 = [init[0]; LANES];
    let mut v1 = [init[1]; LANES];
    let mut v2 = [init[2]; LANES];
    let mut v3: [u64; LANES] = std::array::from_fn(|k| init[3] ^ m[k]);
    macro_rules! sip_round {
        () => {
            for k in 0..LANES {
                v0[k] = v0[k].wrapping_add(v1[k]);
                v1[k] = v1[k].rotate_left(13) ^ v0[k];
                v0[k] = v0[k].rotate_left(32);
                v2[k] = v2[k].wrapping_add(v3[k]);
                v3[k] = v3[k].rotate_left(16) ^ v2[k];
                v0[k] = v0[k].wrapping_add(v3[k]);
                v3[k] = v3[k].rotate_left(21) ^ v0[k];
                v2[k] = v2[k].wrapping_add(v1[k]);
                v1[k] = v1[k].rotate_left(17) ^ v2[k];
                v2[k] = v2[k].rotate_left(32);
            }
        };
    }
    sip_round!();
    for k in 0..LANES {
        v0[k] ^= m[k];
        v3[k] ^= LAST;
    }
    sip_round!();
    for k in 0..LANES {
        v0[k] ^= LAST;
        v2[k] ^= 0xff;
    }
    sip_round!();
    sip_round!();
    sip_round!();
    std::array::from_fn(|k| (v0[k] ^ v1[k] ^ v2[k] ^ v3[k]) as u32)
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

    proptest::proptest! {
        /// Under any secret, for any account and users: the batch path computes the very
        /// OpenIDs issued one at a time (a different value would be a different OpenID).
        #[test]
        fn encode_many_equals_encode_under_any_secret(
            secret in proptest::prelude::any::<[u8; 16]>(),
            account in proptest::prelude::any::<u32>(),
            users in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..40),
        ) {
            let codec = OpenIdCodec::new(secret);
            let mut got = Vec::new();
            codec.encode_many(AccountId(account), users.iter().copied(), &mut got);
            let want: Vec<u64> = users
                .iter()
                .map(|&u| codec.encode(AccountId(account), UserId(u)).0)
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn encode_many_equals_encode() {
        let codec = OpenIdCodec::new(*b"0123456789abcdef");
        for count in [0, 1, 7, 8, 9, 100] {
            let users: Vec<u32> = (0..count)
                .map(|i: u32| i.wrapping_mul(2_654_435_761))
                .chain([u32::MAX])
                .collect();
            let mut got = Vec::new();
            codec.encode_many(AccountId(77), users.iter().copied(), &mut got);
            let want: Vec<u64> = users
                .iter()
                .map(|&u| codec.encode(AccountId(77), UserId(u)).0)
                .collect();
            assert_eq!(got, want);
        }
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
