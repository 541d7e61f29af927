//! The record format of persistent stores: a versioned MessagePack [`TaskState`], encrypted at
//! rest when `ASYNCZ_STORE_ENCRYPTION_KEY` is set (feature `encryption`): AES-256-CCM with
//! key = SHA-256(key string), record = 13-byte random nonce ‖ ciphertext ‖ 16-byte tag — the
//! spec's scheme, so the layout matches upstream's. What stores share around the format (the
//! started state, reading records into tasks, undecodable bookkeeping) is in [`crate::record`].

use crate::task::TaskState;
use crate::{Error, Result};

/// Kept here too, where the store crates' configs import it from.
pub use crate::record::redact_url;

/// The environment variable holding the encryption key.
pub const ENCRYPTION_KEY_VAR: &str = "ASYNCZ_STORE_ENCRYPTION_KEY";

/// Encodes and decodes stored task records for one store.
#[derive(Clone)]
pub struct RecordCodec {
    #[cfg(feature = "encryption")]
    cipher: Option<std::sync::Arc<ccm::Ccm<aes::Aes256, ccm::consts::U16, ccm::consts::U13>>>,
    store: String,
}

impl std::fmt::Debug for RecordCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCodec")
            .field("store", &self.store)
            .field("encrypted", &self.encrypted())
            .finish()
    }
}

impl RecordCodec {
    /// A codec for the store `store`, encrypting when `ASYNCZ_STORE_ENCRYPTION_KEY` is set.
    pub fn from_env(store: &str) -> Result<Self> {
        Self::with_key(store, std::env::var(ENCRYPTION_KEY_VAR).ok().as_deref())
    }

    /// A codec with an explicit key (`None`: plain records).
    pub fn with_key(store: &str, key: Option<&str>) -> Result<Self> {
        let key = key.filter(|k| !k.is_empty());
        #[cfg(feature = "encryption")]
        {
            use ccm::KeyInit;
            use sha2::Digest;
            let cipher = key.map(|k| {
                let digest = sha2::Sha256::digest(k.as_bytes());
                std::sync::Arc::new(ccm::Ccm::new(&digest))
            });
            Ok(RecordCodec {
                cipher,
                store: store.to_owned(),
            })
        }
        #[cfg(not(feature = "encryption"))]
        {
            if key.is_some() {
                return Err(Error::invalid(
                    ENCRYPTION_KEY_VAR,
                    format!("store '{store}': this build has no encryption (enable the 'encryption' feature of asyncz-core)"),
                ));
            }
            Ok(RecordCodec {
                store: store.to_owned(),
            })
        }
    }

    /// Whether records are encrypted.
    pub fn encrypted(&self) -> bool {
        #[cfg(feature = "encryption")]
        {
            self.cipher.is_some()
        }
        #[cfg(not(feature = "encryption"))]
        {
            false
        }
    }

    /// The bytes to store for `state`.
    pub fn encode(&self, state: &TaskState) -> Result<Vec<u8>> {
        let plain = state.encode()?;
        #[cfg(feature = "encryption")]
        if let Some(cipher) = &self.cipher {
            use ccm::aead::Aead;
            let mut nonce = [0u8; 13];
            getrandom::getrandom(&mut nonce)
                .map_err(|e| Error::backend(format!("store '{}'", self.store), e.to_string()))?;
            let sealed = cipher
                .encrypt(
                    ccm::Nonce::<ccm::consts::U13>::from_slice(&nonce),
                    plain.as_slice(),
                )
                .map_err(|_| {
                    Error::backend(format!("store '{}'", self.store), "encryption failed")
                })?;
            let mut out = Vec::with_capacity(13 + sealed.len());
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&sealed);
            return Ok(out);
        }
        Ok(plain)
    }

    /// The task state in stored `bytes` of the record `task_id`. A failure is an
    /// [`Error::Decode`] naming the store and the task.
    pub fn decode(&self, task_id: &str, bytes: &[u8]) -> Result<TaskState> {
        let fail = |message: String| Error::Decode {
            store: self.store.clone(),
            task_id: task_id.to_owned(),
            message,
        };
        #[cfg(feature = "encryption")]
        let owned;
        #[cfg(feature = "encryption")]
        let bytes: &[u8] = match &self.cipher {
            Some(cipher) => {
                use ccm::aead::Aead;
                if bytes.len() < 13 + 16 {
                    return Err(fail("the record is too short to be encrypted".to_owned()));
                }
                let (nonce, sealed) = bytes.split_at(13);
                owned = cipher
                    .decrypt(ccm::Nonce::<ccm::consts::U13>::from_slice(nonce), sealed)
                    .map_err(|_| fail("cannot decrypt the record (wrong ASYNCZ_STORE_ENCRYPTION_KEY, or not encrypted)".to_owned()))?;
                &owned
            }
            None => bytes,
        };
        let state = TaskState::decode(bytes).map_err(|e| {
            if self.encrypted() {
                fail(format!("not a task record: {e}"))
            } else {
                // Without a key, an encrypted record is just bytes that are no task state.
                fail(format!(
                    "not a task record: {e} (if the store was written with an encryption key, set {ENCRYPTION_KEY_VAR} to that key)"
                ))
            }
        })?;
        if state.id != task_id {
            return Err(fail(format!("the record holds task '{}'", state.id)));
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::{RecordCodec, ENCRYPTION_KEY_VAR};

    #[test]
    fn an_undecodable_record_read_without_a_key_names_the_key_variable() {
        let codec = RecordCodec::with_key("sql", None).expect("a codec without a key");
        // What an encrypted record looks like: a nonce and ciphertext, no MessagePack map.
        let bytes: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37) | 0xc1).collect();
        let message = codec
            .decode("nightly", &bytes)
            .expect_err("random bytes are no task")
            .to_string();
        assert!(message.contains(ENCRYPTION_KEY_VAR), "{message}");
        assert!(message.contains("nightly"), "{message}");
    }
}
