//! The secret key that seals stored tokens and signs links, the earlier keys still accepted
//! after a rotation, and the key generated once outside production.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretBox};

use super::{Config, ConfigError, invalid};

/// The 32-byte key that seals tokens and signs links.
pub type SecretKey = SecretBox<[u8; 32]>;

pub(super) fn decode_secret_key(text: &str) -> Result<SecretKey, ConfigError> {
    decode_key("secret_key", text)
}

fn decode_key(name: &str, text: &str) -> Result<SecretKey, ConfigError> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|_| invalid(name, "must be base64 (e.g. `openssl rand -base64 32`)"))?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| invalid(name, format!("must decode to 32 bytes, not {}", b.len())))?;
    Ok(SecretBox::new(Box::new(key)))
}

/// The current secret key, which seals and signs, and the previous ones, which still open and
/// verify what they sealed and signed. Derefs to the current key.
#[derive(Debug)]
pub struct SecretKeys {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

impl SecretKeys {
    /// The current key and the previous ones, newest first.
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Self {
        Self { current, previous }
    }

    /// The key that seals and signs.
    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    /// The previous keys.
    pub fn previous(&self) -> &[SecretKey] {
        &self.previous
    }

    /// Every accepted key, the current one first.
    pub fn all(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

impl std::ops::Deref for SecretKeys {
    type Target = SecretKey;

    fn deref(&self) -> &SecretKey {
        &self.current
    }
}

/// How the secret key was obtained, so the caller can warn once.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretKeySource {
    /// From `KALENDS_SECRET_KEY` or a config file.
    Configured,
    /// Read from the file generated on an earlier start.
    File(PathBuf),
    /// Generated just now into this file.
    Generated(PathBuf),
}

impl Config {
    /// The keys of `previous_secret_keys`, in the order given (empty entries are skipped).
    pub fn previous_secret_keys(&self) -> Result<Vec<SecretKey>, ConfigError> {
        let Some(list) = &self.previous_secret_keys else { return Ok(Vec::new()) };
        list.expose_secret()
            .split(',')
            .filter(|k| !k.trim().is_empty())
            .map(|k| decode_key("previous_secret_keys", k))
            .collect()
    }

    /// The current secret key (see [`Config::secret_key`]) with the previous ones.
    pub fn secret_keys(&self) -> Result<(SecretKeys, SecretKeySource), ConfigError> {
        let (current, source) = self.secret_key()?;
        Ok((SecretKeys::new(current, self.previous_secret_keys()?), source))
    }

    /// The configured secret key; outside production a missing one is generated once into
    /// `data_dir/secret.key` (mode 0600) and reused on later starts.
    pub fn secret_key(&self) -> Result<(SecretKey, SecretKeySource), ConfigError> {
        if let Some(key) = &self.secret_key {
            return Ok((decode_secret_key(key.expose_secret())?, SecretKeySource::Configured));
        }
        if self.is_production() {
            return Err(invalid(
                "secret_key",
                "is required in the production profile (32 random bytes, base64: `openssl rand -base64 32`)",
            ));
        }
        let path = self.data_dir.join("secret.key");
        let io = |source| ConfigError::Io { path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = decode_secret_key(&text).map_err(|_| ConfigError::Invalid {
                    key: path.display().to_string(),
                    message: "is not 32 bytes of base64; delete it to generate a new one".into(),
                })?;
                Ok((key, SecretKeySource::File(path)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.data_dir).map_err(io)?;
                let mut bytes = [0u8; 32];
                rand::fill(&mut bytes);
                if publish_private_file(&path, BASE64.encode(bytes).as_bytes()).map_err(io)? {
                    Ok((SecretBox::new(Box::new(bytes)), SecretKeySource::Generated(path)))
                } else {
                    // Another process (an API and a worker starting together) generated it first.
                    self.secret_key()
                }
            }
            Err(e) => Err(io(e)),
        }
    }
}

/// Writes `contents` to `path` (mode 0600) unless the file exists; returns whether it wrote it.
/// The file appears complete or not at all: it is written under a temporary name, then linked.
fn publish_private_file(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    use std::io::Write as _;
    let tmp =
        path.with_extension(format!("tmp-{}-{:016x}", std::process::id(), rand::random::<u64>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp)?;
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}
