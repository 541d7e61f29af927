//! The record format of persistent stores: a versioned MessagePack [`TaskState`], encrypted at
//! rest when `ASYNCZ_STORE_ENCRYPTION_KEY` is set (feature `encryption`): AES-256-CCM with
//! key = SHA-256(key string), record = 13-byte random nonce ‖ ciphertext ‖ 16-byte tag — the
//! spec's scheme, so the layout matches upstream's.

use crate::task::TaskState;
use crate::{Error, Result};

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

/// A URL with any credentials replaced by `***` (`postgres://user:***@host/db`), for errors
/// and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => format!("{}***{}", &url[..scheme + 3], &url[at..]),
            }
        }
        _ => url.to_owned(),
    }
}

/// The records a store could not decode, by task id, with why (what
/// `Store::undecodable_records` reports). Shared by every persistent store.
///
/// Stores read an undecodable record at every engine round that finds it due, so logging each
/// read would flood the log: a record is logged once (again only when its error changes), and
/// while any remain a one-line summary with their count is logged at most once a minute.
#[derive(Debug, Default)]
pub struct UndecodableRecords {
    inner: std::sync::Mutex<Undecodable>,
}

#[derive(Debug, Default)]
struct Undecodable {
    records: std::collections::BTreeMap<String, String>,
    last_summary: Option<std::time::Instant>,
}

/// How often the summary of still-undecodable records is logged.
const SUMMARY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl UndecodableRecords {
    fn lock(&self) -> std::sync::MutexGuard<'_, Undecodable> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `task_id` could not be decoded, and logs it the first time.
    pub fn record(&self, store: &str, task_id: &str, error: &Error) {
        let why = error.to_string();
        let mut inner = self.lock();
        let known = inner.records.get(task_id) == Some(&why);
        if !known {
            inner.records.insert(task_id.to_owned(), why);
            drop(inner);
            tracing::error!(target: "asyncz.stores", store = ?store, task = ?task_id, error = %error, "cannot decode a stored task; skipping it (the record is kept)");
            return;
        }
        let now = std::time::Instant::now();
        let due = inner
            .last_summary
            .is_none_or(|last| now.duration_since(last) >= SUMMARY_INTERVAL);
        if due {
            inner.last_summary = Some(now);
            let count = inner.records.len();
            drop(inner);
            tracing::warn!(target: "asyncz.stores", store = ?store, count, "stored tasks still cannot be decoded and are skipped (see Store::undecodable_records)");
        }
    }

    /// Forgets `task_id` (it decoded, was rewritten or deleted).
    pub fn clear(&self, task_id: &str) {
        self.lock().records.remove(task_id);
    }

    /// Forgets every record (the store was emptied).
    pub fn clear_all(&self) {
        self.lock().records.clear();
    }

    /// Whether `task_id` is known to be undecodable.
    pub fn contains(&self, task_id: &str) -> bool {
        self.lock().records.contains_key(task_id)
    }

    /// How many records are known to be undecodable.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// True when every record read so far decoded.
    pub fn is_empty(&self) -> bool {
        self.lock().records.is_empty()
    }

    /// Every undecodable record, as `(task id, why)`.
    pub fn list(&self) -> Vec<(String, String)> {
        self.lock()
            .records
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, RecordCodec, ENCRYPTION_KEY_VAR};

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

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("redis://secret@h"), "redis://***@h");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
