//! Keyed hashing of user IDs, so events can be grouped per user without
//! recording who the user is.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SHA-256's block size: HMAC keys are padded (or first hashed) to this.
const BLOCK_LEN: usize = 64;

/// Bytes of the HMAC kept in the anonymised ID (32 hex characters).
const ID_LEN: usize = 16;

/// An anonymised, stable user ID: HMAC-SHA256 of `id` under `key`, the
/// first 16 bytes as 32 lower-case hex characters.
///
/// The same key and ID always give the same result, so errors and traces
/// of one user can still be grouped; without the key the ID cannot be
/// recovered or confirmed by guessing. Keep the key secret and stable
/// (rotating it splits every user's history).
///
/// ```
/// use treebeard_pii::hash_user_id;
/// let a = hash_user_id(b"app-secret", "user-42");
/// assert_eq!(a.len(), 32);
/// assert_eq!(a, hash_user_id(b"app-secret", "user-42"));
/// assert_ne!(a, hash_user_id(b"other-secret", "user-42"));
/// ```
pub fn hash_user_id(key: &[u8], id: &str) -> String {
    // HMAC zero-pads keys up to the block size and hashes longer ones
    // (RFC 2104); doing that here makes the key infallibly block-sized,
    // where `Mac::new_from_slice` would return a `Result` to unwrap.
    let mut block = [0u8; BLOCK_LEN];
    if key.len() > BLOCK_LEN {
        let digest = Sha256::digest(key);
        for (slot, byte) in block.iter_mut().zip(digest) {
            *slot = byte;
        }
    } else {
        for (slot, byte) in block.iter_mut().zip(key) {
            *slot = *byte;
        }
    }
    let mut mac = <Hmac<Sha256> as Mac>::new(&block.into());
    mac.update(id.as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(ID_LEN * 2);
    for byte in tag.iter().take(ID_LEN) {
        hex.push(hex_digit(byte >> 4));
        hex.push(hex_digit(byte & 0x0f));
    }
    hex
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test cases, truncated to the 16 bytes we keep.
    #[test]
    fn rfc4231_short_key() {
        // Test case 2: key "Jefe".
        assert_eq!(
            hash_user_id(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c7"
        );
    }

    #[test]
    fn rfc4231_key_longer_than_a_block() {
        // Test case 6: a 131-byte key, hashed first.
        assert_eq!(
            hash_user_id(
                &[0xaa; 131],
                "Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f"
        );
    }

    #[test]
    fn rfc4231_block_sized_key_path() {
        // Test case 1: 20-byte key.
        assert_eq!(
            hash_user_id(&[0x0b; 20], "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b"
        );
    }

    #[test]
    fn empty_key_and_id_are_fine() {
        assert_eq!(hash_user_id(b"", "").len(), 32);
    }
}
