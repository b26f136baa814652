//! Secrets at rest: AES-256-GCM with the key from `secrets.key` (or the
//! key file beside the data on one machine). Each ciphertext is bound to
//! what it belongs to (associated data), so a stored value copied onto
//! another row does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;

use crate::config::SecretsSettings;

const PREFIX: &str = "v1:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Encrypts and decrypts with one key.
#[derive(Clone)]
pub struct Cipher(Aes256Gcm);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    /// The cipher of the configured key; with none configured, the key in
    /// `key_file`, written there (mode 0600) when the file does not exist.
    pub fn from_settings(s: &SecretsSettings) -> Result<Self, String> {
        let encoded = if !s.key.is_empty() {
            s.key.clone()
        } else {
            match std::fs::read_to_string(&s.key_file) {
                Ok(text) => text.trim().to_string(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(&s.key_file)?,
                Err(e) => return Err(format!("cannot read secrets.key_file {}: {e}", s.key_file)),
            }
        };
        let key = B64.decode(encoded.trim()).map_err(|e| format!("secrets key is not base64: {e}"))?;
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|_| format!("secrets key must be 32 bytes, got {}", key.len()))?;
        Ok(Self(cipher))
    }

    /// A fresh random key, base64, as `secrets.key` takes it.
    /// A short, one-way fingerprint of the key: what processes compare to
    /// know they share one key, without showing it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        // A key check value: a fixed message sealed with a fixed nonce,
        // used for nothing else, then hashed and cut.
        let check = Payload { msg: b"chorus key fingerprint", aad: b"fingerprint" };
        let sealed = self.0.encrypt(Nonce::from_slice(&[0; 12]), check).expect("in-memory AES-GCM cannot fail");
        hex::encode(&Sha256::digest(&sealed)[..8])
    }

    pub fn generate_key() -> String {
        B64.encode(rand::random::<[u8; 32]>())
    }

    /// `v1:` + base64(nonce ‖ ciphertext), bound to `context`.
    pub fn encrypt(&self, plain: &str, context: &str) -> String {
        let nonce: [u8; 12] = rand::random();
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: context.as_bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// The plain text of `stored`, or why it cannot be read (wrong key,
    /// wrong context, tampered).
    pub fn decrypt(&self, stored: &str, context: &str) -> Result<String, String> {
        let body = stored.strip_prefix(PREFIX).ok_or("unknown secret format")?;
        let raw = B64.decode(body).map_err(|_| "secret is not base64")?;
        if raw.len() < 12 + 16 {
            return Err("secret is truncated".into());
        }
        let (nonce, sealed) = raw.split_at(12);
        let plain = self
            .0
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| "secret does not decrypt with this key (was secrets.key changed?)")?;
        String::from_utf8(plain).map_err(|_| "secret is not UTF-8".into())
    }
}

/// Marks this process not dumpable: no core dump, no ptrace, and
/// `/proc/<pid>/environ` and `mem` readable by root only, so a child it
/// starts (a stdio MCP server, running as the same user) cannot read the
/// database URL or the secrets key from it. Returns whether it took.
pub fn protect_process() -> bool {
    // SAFETY: prctl(PR_SET_DUMPABLE) takes plain integers and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 }
}

fn create_key_file(path: &str) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let target = std::path::Path::new(path);
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // Written whole to a file of our own, then linked into place: the link
    // either appears with the whole key or fails because another process's
    // key is already there, which then wins. No reader sees a partial file.
    let key = Cipher::generate_key();
    let tmp = format!("{path}.{}.{}", std::process::id(), rand::random::<u64>());
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(key.as_bytes()).and_then(|_| f.sync_all()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write a new secrets key next to {path}: {e}"));
    }
    let linked = std::fs::hard_link(&tmp, target);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).map(|t| t.trim().to_string()).map_err(|e| format!("cannot read {path}: {e}"))
        }
        Err(e) => Err(format!("cannot create secrets.key_file {path}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::from_settings(&SecretsSettings { key: Cipher::generate_key(), key_file: String::new() }).unwrap()
    }

    #[test]
    fn round_trips_and_binds_to_its_context() {
        let c = cipher();
        let stored = c.encrypt("sk-secret", "tenant/a");
        assert!(!stored.contains("sk-secret"));
        assert_eq!(c.decrypt(&stored, "tenant/a").unwrap(), "sk-secret");
        assert!(c.decrypt(&stored, "tenant/b").is_err());
        assert!(cipher().decrypt(&stored, "tenant/a").is_err(), "another key must not decrypt it");
        assert_ne!(stored, c.encrypt("sk-secret", "tenant/a"), "nonces differ");
    }

    #[test]
    fn a_protected_process_is_not_dumpable() {
        assert!(protect_process());
        // SAFETY: as above.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
    }

    #[test]
    fn processes_starting_together_agree_on_one_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.key").display().to_string();
        let keys: Vec<String> = (0..8)
            .map(|_| {
                let file = file.clone();
                std::thread::spawn(move || create_key_file(&file).unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| k == &keys[0] && !k.is_empty()), "{keys:?}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), keys[0]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn creates_one_key_file_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k/secrets.key").display().to_string();
        let s = SecretsSettings { key: String::new(), key_file: file.clone() };
        let stored = Cipher::from_settings(&s).unwrap().encrypt("x", "c");
        assert_eq!(Cipher::from_settings(&s).unwrap().decrypt(&stored, "c").unwrap(), "x");
        let bad = SecretsSettings { key: "c2hvcnQ=".into(), key_file: file };
        assert!(Cipher::from_settings(&bad).unwrap_err().contains("32 bytes"));
    }
}
