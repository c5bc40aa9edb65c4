//! Multibase (base58btc, prefix `z`) and the multicodec prefixes of Ed25519 keys.

use super::IdentityError;

/// Multicodec prefix (varint of 0xed) of an Ed25519 public key.
pub const ED25519_PUB: [u8; 2] = [0xed, 0x01];
/// Multicodec prefix (varint of 0x1300) of an Ed25519 private key (its 32-byte seed).
pub const ED25519_PRIV: [u8; 2] = [0x80, 0x26];

/// `z` followed by the base58btc encoding of `bytes`.
pub fn encode_base58btc(bytes: &[u8]) -> String {
    format!("z{}", bs58::encode(bytes).into_string())
}

/// Decodes a base58btc multibase string (`z...`). The error never repeats the input, which may
/// be a private key.
pub fn decode_base58btc(text: &str) -> Result<Vec<u8>, IdentityError> {
    let Some(rest) = text.strip_prefix('z') else {
        return Err(IdentityError::InvalidKey(
            "a multibase value must be base58btc (start with 'z')".to_owned(),
        ));
    };
    bs58::decode(rest)
        .into_vec()
        .map_err(|_| IdentityError::InvalidKey("not valid base58btc".to_owned()))
}

/// Multibase of a multicodec-prefixed value.
pub fn encode_multikey(prefix: [u8; 2], key: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(2 + key.len());
    bytes.extend_from_slice(&prefix);
    bytes.extend_from_slice(key);
    let text = encode_base58btc(&bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    text
}

/// Decodes a multibase multicodec value and checks its prefix and length (32 bytes of key).
pub fn decode_multikey(prefix: [u8; 2], text: &str) -> Result<[u8; 32], IdentityError> {
    let mut bytes = decode_base58btc(text)?;
    let result = if bytes.len() != 34 || bytes[..2] != prefix {
        Err(IdentityError::InvalidKey(format!(
            "expected a multicodec {} key of 32 bytes",
            if prefix == ED25519_PUB {
                "ed25519-pub"
            } else {
                "ed25519-priv"
            }
        )))
    } else {
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[2..]);
        Ok(key)
    };
    zeroize::Zeroize::zeroize(&mut bytes);
    result
}
