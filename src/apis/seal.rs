//! The libsodium sealed box GitHub requires for secret values
//! (`crypto_box_seal`: X25519 + XSalsa20-Poly1305 with an ephemeral key).

use anyhow::{anyhow, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use crypto_box::aead::OsRng;
use crypto_box::PublicKey;

/// A scope's public key as GitHub hands it out.
#[derive(Debug, Clone)]
pub struct ScopeKey {
    pub key_id: String,
    pub key: PublicKey,
}

impl ScopeKey {
    /// Decodes GitHub's base64 key.
    pub fn from_base64(key_id: String, key: &str) -> Result<Self> {
        let bytes = B64
            .decode(key.trim())
            .context("decoding the secrets public key (not base64)")?;
        let bytes: [u8; crypto_box::KEY_SIZE] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| anyhow!("the secrets public key has {} bytes, expected 32", b.len()))?;
        Ok(ScopeKey {
            key_id,
            key: PublicKey::from(bytes),
        })
    }

    /// Seals `plaintext` and returns it base64-encoded, as the PUT body wants it.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String> {
        let sealed = self
            .key
            .seal(&mut OsRng, plaintext)
            .map_err(|_| anyhow!("sealing the secret value failed"))?;
        Ok(B64.encode(sealed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::SecretKey;

    #[test]
    fn round_trip_with_the_matching_secret_key() {
        let secret = SecretKey::generate(&mut OsRng);
        let key = ScopeKey::from_base64("1".into(), &B64.encode(secret.public_key().as_bytes())).unwrap();
        let sealed = B64.decode(key.seal(b"the token").unwrap()).unwrap();
        assert_eq!(sealed.len(), 9 + 48, "ephemeral key + MAC + message");
        assert_eq!(secret.unseal(&sealed).unwrap(), b"the token");
        let other = SecretKey::generate(&mut OsRng);
        assert!(other.unseal(&sealed).is_err());
    }

    #[test]
    fn rejects_a_key_of_the_wrong_size() {
        assert!(ScopeKey::from_base64("1".into(), &B64.encode([0u8; 31])).is_err());
        assert!(ScopeKey::from_base64("1".into(), "not base64!").is_err());
    }
}
