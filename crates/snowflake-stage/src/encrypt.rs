//! Snowflake's client-side encryption of staged files, as the official
//! connectors do it (Python `encryption_util.py` `encrypt_stream`, Go
//! `encryptStreamCBC`/`encryptECB`): a random file key the size of the
//! master key, AES-CBC with PKCS#7 over the (compressed) file, the file key
//! wrapped with AES-ECB (PKCS#7) under the query-stage master key, and the
//! wrapped key, the IV and a `matdesc` JSON as the object's metadata.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::info::EncryptionMaterial;

/// An encrypted file and what the store keeps beside it.
#[derive(Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// The ciphertext.
    pub data: Vec<u8>,
    /// The wrapped file key, base64 (`x-amz-key` / `EncryptedKey`).
    pub key: String,
    /// The IV, base64 (`x-amz-iv` / `ContentEncryptionIV`).
    pub iv: String,
    /// `{"queryId":…,"smkId":…,"keySize":…}`.
    pub matdesc: String,
}

impl std::fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("bytes", &self.data.len())
            .field("matdesc", &self.matdesc)
            .finish_non_exhaustive()
    }
}

/// The `sfc-digest` of a file: base64 of the SHA-256 of its bytes as
/// staged before encryption.
#[must_use]
pub fn digest(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Encrypts `plain` under a fresh random file key and IV.
///
/// # Errors
///
/// [`Error::PutResponse`] for a bad master key, [`Error::Random`] when the
/// system's random source fails.
pub fn encrypt(plain: &[u8], material: &EncryptionMaterial) -> Result<Encrypted> {
    let size = material.master_key()?.len();
    let mut file_key = vec![0_u8; size];
    let mut iv = [0_u8; 16];
    getrandom::getrandom(&mut file_key).map_err(|e| Error::Random(e.to_string()))?;
    getrandom::getrandom(&mut iv).map_err(|e| Error::Random(e.to_string()))?;
    encrypt_with(plain, material, &file_key, &iv)
}

/// [`encrypt`] with a given file key (the master key's size) and IV: for
/// known-answer tests.
///
/// # Errors
///
/// [`Error::PutResponse`] for a bad master key, [`Error::KeySize`] for a
/// file key of another size.
pub fn encrypt_with(
    plain: &[u8],
    material: &EncryptionMaterial,
    file_key: &[u8],
    iv: &[u8; 16],
) -> Result<Encrypted> {
    let master = material.master_key()?;
    if file_key.len() != master.len() {
        return Err(Error::KeySize(file_key.len()));
    }
    let data = match file_key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(file_key, iv)
            .map_err(|_| Error::KeySize(file_key.len()))?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
        _ => cbc::Encryptor::<aes::Aes256>::new_from_slices(file_key, iv)
            .map_err(|_| Error::KeySize(file_key.len()))?
            .encrypt_padded_vec_mut::<Pkcs7>(plain),
    };
    let wrapped = wrap(&master, file_key)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let matdesc = serde_json::json!({
        "queryId": material.query_id,
        "smkId": material.smk_id,
        "keySize": (master.len() * 8).to_string(),
    })
    .to_string();
    Ok(Encrypted {
        data,
        key: b64.encode(wrapped),
        iv: b64.encode(iv),
        matdesc,
    })
}

/// AES-ECB of the PKCS#7-padded file key (block-aligned, so one whole pad
/// block follows): 32 bytes for a 128-bit key, 48 for a 256-bit one.
fn wrap(master: &[u8], file_key: &[u8]) -> Result<Vec<u8>> {
    let mut padded = file_key.to_vec();
    padded.extend_from_slice(&[16_u8; 16]);
    let blocks = padded.chunks_exact_mut(16).map(aes::Block::from_mut_slice);
    match master.len() {
        16 => {
            let cipher =
                aes::Aes128::new_from_slice(master).map_err(|_| Error::KeySize(master.len()))?;
            blocks.for_each(|block| cipher.encrypt_block(block));
        }
        _ => {
            let cipher =
                aes::Aes256::new_from_slice(master).map_err(|_| Error::KeySize(master.len()))?;
            blocks.for_each(|block| cipher.encrypt_block(block));
        }
    }
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from Python's `cryptography` 50.0.2 (AES-CBC and AES-ECB
    /// with PKCS#7), master key bytes 0.., file key 0xA0.., IV 0x10...
    #[test]
    fn matches_the_reference_implementation() {
        let plain = b"id,name\n1,\xc3\xa9\n".repeat(3);
        for (bits, master, data, key) in [
            (
                128,
                "AAECAwQFBgcICQoLDA0ODw==",
                "ukL8voj6wvvpeBRFP6VJfFow7pkRcYynkX8UQomcsK7EknQ2pTEoMW6ATGLmXiGs",
                "XhjR/vYdCH7Aoz7XNKeRj5VPZPLk6G6e7oLSAhZoSJk=",
            ),
            (
                256,
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                "o582nBbHW0a/ZzBMrr8kSHYbu7awRM+npnQjEu5gXR1SadP+v0bqMXhDq75Y2wk1",
                "3J8B/Xa4fA0PS+iFCwvs4GANB6O5ssTkCCFT1tFweqafO3UEkm+L024xGOkDpM1K",
            ),
        ] {
            let material =
                EncryptionMaterial::new(master.to_owned(), "01b2".to_owned(), "3112".to_owned());
            let file_key: Vec<u8> = (0..bits / 8_u16)
                .map(|i| 0xA0_u8.wrapping_add(u8::try_from(i).expect("small")))
                .collect();
            let iv: [u8; 16] = std::array::from_fn(|i| 0x10 + u8::try_from(i).expect("small"));
            let encrypted = encrypt_with(&plain, &material, &file_key, &iv).expect("encrypts");
            let b64 = base64::engine::general_purpose::STANDARD;
            assert_eq!(b64.encode(&encrypted.data), data, "{bits}");
            assert_eq!(encrypted.key, key, "{bits}");
            assert_eq!(encrypted.iv, "EBESExQVFhcYGRobHB0eHw==");
            assert_eq!(
                encrypted.matdesc,
                format!(r#"{{"queryId":"01b2","smkId":"3112","keySize":"{bits}"}}"#)
            );
            assert!(!format!("{encrypted:?}").contains(key));
        }
        assert_eq!(
            digest(&plain),
            "pTqjj53l4LVhtsYl+gmrmB1f83NfLaOeoBy0aHQU2h4="
        );
    }

    #[test]
    fn random_keys_differ_and_have_the_master_key_size() {
        let material = EncryptionMaterial::new(
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_owned(),
            "q".to_owned(),
            "1".to_owned(),
        );
        let a = encrypt(b"x", &material).expect("encrypts");
        let b = encrypt(b"x", &material).expect("encrypts");
        assert_ne!((&a.key, &a.iv), (&b.key, &b.iv));
        assert_eq!(a.data.len(), 16, "one padded block");
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(&a.key)
            .expect("base64");
        assert_eq!(wrapped.len(), 48);
        assert!(matches!(
            encrypt_with(b"x", &material, &[0; 16], &[0; 16]),
            Err(Error::KeySize(16))
        ));
    }
}
