//! OpenIDs in WeChat's shape: 28 characters of `[A-Za-z0-9_-]`.
//!
//! herald's [`OpenId`] is 8 bytes, a keyed permutation of (account, user) that already
//! checks its account with 32 bits. A WeChat OpenID is `o` followed by the unpadded
//! base64url of those 8 bytes (big-endian) and a 12-byte HMAC-SHA256 tag of
//! (account, OpenId) under a key derived from the server's signing key: 1 + 27 = 28
//! characters. The tag binds the OpenID to its account (another account's OpenID, or a
//! made-up one, is refused with a 2^-96 chance of a forgery passing), and the encoding is
//! canonical (only one string decodes to a given OpenId), so the strings can be compared
//! and used as keys by integrations. Order: `user/get` pages follow herald's OpenId order,
//! not the strings' order; `next_openid` is decoded back, so paging is unaffected.

use herald::OpenId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Characters of a WeChat OpenID.
pub const LEN: usize = 28;
const TAG: usize = 12;

/// Why a string is not an OpenID of the account (errcode 40003).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadOpenId {
    /// Not 28 characters of `o` + base64url.
    #[error("invalid openid {0:?}: not 28 characters of [A-Za-z0-9_-] starting with 'o'")]
    Shape(String),
    /// Well formed, but not issued for this account under this server's key.
    #[error("invalid openid {0:?}: not an OpenID of this account")]
    Foreign(String),
}

/// Encodes and decodes WeChat-shaped OpenIDs under the server's key.
#[derive(Clone)]
pub struct WxOpenIds {
    key: [u8; 32],
}

impl std::fmt::Debug for WxOpenIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WxOpenIds { .. }")
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url (RFC 4648 §5).
pub fn b64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The bytes of unpadded base64url text; `None` if it is not canonical base64url.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32);
    let text = text.as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        // Canonical: the bits below the last whole byte are zero.
        if n & ((1 << (24 - 8 * bytes)) - 1) != 0 {
            return None;
        }
        out.extend((0..bytes).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

impl WxOpenIds {
    /// Under a key derived from the server's signing key.
    pub fn new(signing_key: &[u8; 32]) -> WxOpenIds {
        let mut mac = HmacSha256::new_from_slice(signing_key).expect("HMAC takes any key length");
        mac.update(b"herald wechat openid key");
        WxOpenIds {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn tag(&self, account: u32, open_id: OpenId) -> [u8; TAG] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&account.to_le_bytes());
        mac.update(&open_id.0.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(&full[..TAG]);
        tag
    }

    /// The WeChat OpenID of `open_id`, an OpenID of `account`.
    pub fn encode(&self, account: u32, open_id: OpenId) -> String {
        let mut bytes = [0u8; 8 + TAG];
        bytes[..8].copy_from_slice(&open_id.0.to_be_bytes());
        bytes[8..].copy_from_slice(&self.tag(account, open_id));
        format!("o{}", b64url(&bytes))
    }

    /// The herald OpenId behind `text`, if it is an OpenID of `account`.
    pub fn decode(&self, account: u32, text: &str) -> Result<OpenId, BadOpenId> {
        let shape = || BadOpenId::Shape(text.chars().take(64).collect());
        let body = text
            .strip_prefix('o')
            .filter(|_| text.len() == LEN)
            .ok_or_else(shape)?;
        let bytes = b64url_decode(body)
            .filter(|b| b.len() == 8 + TAG)
            .ok_or_else(shape)?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&bytes[..8]);
        let open_id = OpenId(u64::from_be_bytes(id));
        let expected = self.tag(account, open_id);
        let diff = expected
            .iter()
            .zip(&bytes[8..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(BadOpenId::Foreign(text.to_string()));
        }
        Ok(open_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_and_is_canonical() {
        for len in 0..24 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = b64url(&bytes);
            assert_eq!(b64url_decode(&text).unwrap(), bytes, "{text}");
        }
        assert_eq!(b64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url_decode("Zm9"), None); // non-zero trailing bits
        assert_eq!(b64url_decode("Zm+8"), None);
        assert_eq!(b64url_decode("Z"), None);
    }

    #[test]
    fn openids_have_wechats_shape_and_their_account() {
        let ids = WxOpenIds::new(&[3; 32]);
        for raw in [0, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let text = ids.encode(7, OpenId(raw));
            assert_eq!(text.len(), LEN);
            assert!(text.starts_with('o'));
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(ids.decode(7, &text).unwrap(), OpenId(raw));
            assert!(matches!(ids.decode(8, &text), Err(BadOpenId::Foreign(_))));
            let other = WxOpenIds::new(&[4; 32]);
            assert!(other.decode(7, &text).is_err());
        }
        assert!(matches!(ids.decode(7, "o123"), Err(BadOpenId::Shape(_))));
        assert!(matches!(
            ids.decode(7, "é234567890123456789012345678"),
            Err(BadOpenId::Shape(_))
        ));
        assert!(ids.decode(7, &"o".repeat(28)).is_err());
    }
}
