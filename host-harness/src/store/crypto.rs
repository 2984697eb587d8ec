//! Secrets at rest: each secret value is sealed with XChaCha20-Poly1305 under the store's
//! key, with a random 192-bit nonce per value and associated data binding it to its
//! connection and setting key (a sealed value copied to another row does not open). Each
//! row carries the key's id (a fingerprint), so a wrong key is told apart from a damaged
//! value, and refused with both ids named before anything is written.
//!
//! The key is 32 random bytes, written as 64 hex characters: in a file
//! (`--secret-key-file`), in an environment variable (`--secret-key-env`), or, for an
//! embedded store given neither, in `<db>.key` beside the database (mode 0600, created
//! with the store). A copy of the database without its key reveals no secret.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// Where the store's secret key comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KeySource {
    /// `<db>.key` beside an embedded store (created with it); a shared store has none.
    #[default]
    Auto,
    File(PathBuf),
    Env(String),
}

impl KeySource {
    /// How to name it in a message.
    pub fn describe(&self, auto: Option<&Path>) -> String {
        match self {
            KeySource::Auto => match auto {
                Some(p) => format!("the key file {}", p.display()),
                None => "no key".to_string(),
            },
            KeySource::File(p) => format!("the key file {}", p.display()),
            KeySource::Env(v) => format!("the environment variable {v}"),
        }
    }
}

/// The store's key.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

/// A sealed secret, as a row stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret {
    pub connection: String,
    pub key: String,
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The store's secrets were sealed with another key than the one given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the store's secrets were encrypted with another key (key id {stored}); the key given ({source_text}) has key id {given}. Nothing was changed. Pass the key they were encrypted with: --secret-key-file FILE or --secret-key-env VAR")]
pub struct KeyMismatch {
    pub stored: String,
    pub given: String,
    pub source_text: String,
}

/// The store holds secrets, or is asked to, and no key was given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the store's secrets need its key, and none was given{}. Pass it with --secret-key-file FILE or --secret-key-env VAR", .stored.as_deref().map(|s| format!(" (they were encrypted with key id {s})")).unwrap_or_default())]
pub struct NoKey {
    pub stored: Option<String>,
}

const AAD_PREFIX: &[u8] = b"analytics-host/secret/v1\0";

fn aad(connection: &str, key: &str) -> Vec<u8> {
    let mut a = AAD_PREFIX.to_vec();
    a.extend_from_slice(connection.as_bytes());
    a.push(0);
    a.extend_from_slice(key.as_bytes());
    a
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> anyhow::Result<SecretKey> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
        Ok(SecretKey::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        let mut h = Sha256::new();
        h.update(b"analytics-host/secret-key-id/v1\0");
        h.update(bytes);
        let digest = h.finalize();
        let id = digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        SecretKey { bytes, id }
    }

    /// A key written as 64 hex characters (surrounding whitespace ignored).
    pub fn from_text(text: &str, what: &str) -> anyhow::Result<SecretKey> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!(
                "{what} does not hold a secret key: a key is 64 hex characters (32 random bytes), e.g. from `head -c 32 /dev/urandom | xxd -p -c 64`"
            );
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)?;
        }
        Ok(SecretKey::from_bytes(bytes))
    }

    pub fn from_file(path: &Path) -> anyhow::Result<SecretKey> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the key file {}: {e}", path.display()))?;
        SecretKey::from_text(&text, &format!("the key file {}", path.display()))
    }

    pub fn from_env(var: &str) -> anyhow::Result<SecretKey> {
        let text = std::env::var(var).map_err(|_| {
            anyhow::anyhow!("the environment variable {var} (the secret key) is not set")
        })?;
        SecretKey::from_text(&text, &format!("the environment variable {var}"))
    }

    /// The key as its file holds it.
    pub fn to_text(&self) -> String {
        let mut s: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.push('\n');
        s
    }

    /// Its fingerprint: 16 hex characters, safe to show.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seal `value`, secret `key` of `connection`.
    pub fn seal(&self, connection: &str, key: &str, value: &str) -> anyhow::Result<SealedSecret> {
        let cipher = XChaCha20Poly1305::new((&self.bytes).into());
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce)
            .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad(connection, key),
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot encrypt a secret"))?;
        Ok(SealedSecret {
            connection: connection.to_string(),
            key: key.to_string(),
            key_id: self.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Open a sealed secret. A row sealed under another key is a [`KeyMismatch`]; one that
    /// does not open under this key is damaged (or was moved to another row).
    pub fn open(&self, s: &SealedSecret, source_text: &str) -> anyhow::Result<String> {
        if s.key_id != self.id {
            return Err(KeyMismatch {
                stored: s.key_id.clone(),
                given: self.id.clone(),
                source_text: source_text.to_string(),
            }
            .into());
        }
        if s.nonce.len() != 24 {
            anyhow::bail!(
                "the stored secret {} of connection {} is damaged",
                s.key,
                s.connection
            );
        }
        let cipher = XChaCha20Poly1305::new((&self.bytes).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&s.nonce),
                Payload {
                    msg: &s.ciphertext,
                    aad: &aad(&s.connection, &s.key),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "the stored secret {} of connection {} does not decrypt with its key (damaged or moved); save it again",
                    s.key,
                    s.connection
                )
            })?;
        String::from_utf8(plain)
            .map_err(|_| anyhow::anyhow!("the stored secret {} is not text", s.key))
    }
}

/// `<db>.key`: the key file of an embedded store given no key.
pub fn auto_key_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".key");
    PathBuf::from(s)
}

/// `<db>.key.new`: a rotation's next key, before the database is re-encrypted.
pub fn next_key_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".key.new");
    PathBuf::from(s)
}

/// Write `key` to `path`, a new file of mode 0600, flushed to disk.
pub fn write_key_file(path: &Path, key: &SecretKey) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create the key file {}: {e}", path.display()))?;
    f.write_all(key.to_text().as_bytes())?;
    f.sync_all()?;
    sync_dir(path);
    Ok(())
}

/// Flush a directory entry change (a new or renamed file) to disk.
pub fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// The key of an embedded store given no key: `<db>.key`, after finishing or undoing a
/// rotation a crash interrupted. `stored` are the key ids the store's secrets carry now.
/// With `create`, a missing key file is created (a new store, or one without secrets).
pub fn auto_key(db: &Path, stored: &[String], create: bool) -> anyhow::Result<Option<SecretKey>> {
    let path = auto_key_path(db);
    let next = next_key_path(db);
    if next.exists() {
        // A rotation wrote its next key, then stopped. If the database was re-encrypted
        // under it, the rotation is finished by moving it into place; otherwise it is undone.
        match SecretKey::from_file(&next) {
            Ok(k) if !stored.is_empty() && stored.iter().all(|s| s == k.id()) => {
                std::fs::rename(&next, &path)?;
                sync_dir(&path);
            }
            _ => {
                std::fs::remove_file(&next)?;
            }
        }
    }
    if path.exists() {
        return SecretKey::from_file(&path).map(Some);
    }
    if !create {
        return Ok(None);
    }
    if !stored.is_empty() {
        // Secrets exist and their key file is gone: a new key would not open them.
        return Ok(None);
    }
    let key = SecretKey::generate()?;
    write_key_file(&path, &key)?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let k = SecretKey::generate().unwrap();
        let s = k.seal("a", "api_token", "sk-admin-secret").unwrap();
        assert_eq!(k.open(&s, "x").unwrap(), "sk-admin-secret");
        let again = k.seal("a", "api_token", "sk-admin-secret").unwrap();
        assert_ne!(s.nonce, again.nonce, "a fresh nonce per value");
        assert_ne!(s.ciphertext, again.ciphertext);
        // moved to another connection or key: refused
        let moved = SealedSecret {
            connection: "b".into(),
            ..s.clone()
        };
        assert!(k.open(&moved, "x").is_err());
        let moved = SealedSecret {
            key: "other".into(),
            ..s.clone()
        };
        assert!(k.open(&moved, "x").is_err());
        // another key: a mismatch naming both ids
        let other = SecretKey::generate().unwrap();
        let e = other.open(&s, "the key file f").unwrap_err();
        let m = e.downcast_ref::<KeyMismatch>().unwrap();
        assert_eq!((m.stored.as_str(), m.given.as_str()), (k.id(), other.id()));
        let text = e.to_string();
        assert!(
            text.contains(k.id())
                && text.contains(other.id())
                && text.contains("--secret-key-file"),
            "{text}"
        );
        // text round trip
        let back = SecretKey::from_text(&k.to_text(), "t").unwrap();
        assert_eq!(back.id(), k.id());
        assert!(SecretKey::from_text("abc", "t").is_err());
    }
}
