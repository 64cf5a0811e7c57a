//! Sink encryption for a client, interoperable with Vault Agent's (`dh_type = "curve25519"`).
//!
//! The client writes `{"curve25519_public_key": "<base64>"}` to `dh_path`; it is read the first
//! time a token is written and trusted from then on (as Vault Agent does). Each write:
//!
//! 1. an X25519 key pair of the agent and the client's public key give a shared secret;
//! 2. the AES-256 key is that secret, or with `derive_key` HKDF-SHA256 of it with the two public
//!    keys in byte order as salt and info;
//! 3. the token is sealed with AES-256-GCM (a random 12-byte nonce, `aad` as additional data);
//! 4. the file gets `{"curve25519_public_key": …, "nonce": …, "encrypted_payload": …}`, each
//!    base64, with Go's field order and a final newline, as Vault Agent writes it.
//!
//! Unlike Vault Agent, which keeps one agent key pair for its lifetime, each write uses a new
//! one (ring's X25519 keys are single-use); the client reads the agent's public key from each
//! envelope, so nothing changes for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use ring::{aead, agreement, hkdf, rand as ring_rand};
use vaultward_core::secret::Zeroizing;

/// A sink's encryption settings and the client key it trusts.
#[derive(Debug, Clone)]
pub struct Encryption {
    dh_path: PathBuf,
    derive_key: bool,
    aad: Vec<u8>,
    remote: Arc<Mutex<Option<[u8; 32]>>>,
}

impl Encryption {
    /// Encryption for the client whose public key is in `dh_path`.
    pub fn new(dh_path: &Path, derive_key: bool, aad: Vec<u8>) -> Self {
        Self {
            dh_path: dh_path.to_path_buf(),
            derive_key,
            aad,
            remote: Arc::default(),
        }
    }

    /// The client's public key: read from `dh_path` the first time, then trusted.
    fn remote_key(&self) -> Result<[u8; 32], String> {
        let mut cached = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = *cached {
            return Ok(key);
        }
        let path = self.dh_path.display();
        let text = std::fs::read_to_string(&self.dh_path).map_err(|error| {
            format!("cannot read the client's public key file `{path}` (dh_path): {error}")
        })?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|error| format!("`{path}` (dh_path) is not JSON: {error}"))?;
        let encoded = json["curve25519_public_key"]
            .as_str()
            .ok_or_else(|| format!("`{path}` (dh_path) has no `curve25519_public_key` string"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| {
                format!("`{path}` (dh_path): `curve25519_public_key` is not base64: {error}")
            })?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "`{path}` (dh_path): `curve25519_public_key` has {} bytes; a curve25519 public key has 32",
                bytes.len()
            )
        })?;
        *cached = Some(key);
        Ok(key)
    }

    /// The envelope Vault Agent's clients read, for `plaintext`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Zeroizing<String>, String> {
        if plaintext.is_empty() {
            return Err("empty plaintext provided".to_owned());
        }
        let remote = self.remote_key()?;
        let rng = ring_rand::SystemRandom::new();
        let private = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
            .map_err(|_| "cannot generate a curve25519 key pair".to_owned())?;
        let public = private
            .compute_public_key()
            .map_err(|_| "cannot compute the curve25519 public key".to_owned())?;
        let ours: [u8; 32] = public
            .as_ref()
            .try_into()
            .map_err(|_| "unexpected curve25519 public key length".to_owned())?;
        if ours == remote {
            return Err("same public key supplied for both participants".to_owned());
        }
        let derive = self.derive_key;
        let key = agreement::agree_ephemeral(
            private,
            &agreement::UnparsedPublicKey::new(&agreement::X25519, remote),
            |secret| -> Result<Zeroizing<[u8; 32]>, ()> {
                let mut key = Zeroizing::new([0u8; 32]);
                if derive {
                    let (first, second) = if ours < remote {
                        (&ours, &remote)
                    } else {
                        (&remote, &ours)
                    };
                    hkdf::Salt::new(hkdf::HKDF_SHA256, first)
                        .extract(secret)
                        .expand(&[second], hkdf::HKDF_SHA256)
                        .and_then(|okm| okm.fill(&mut key[..]))
                        .map_err(|_| ())?;
                } else {
                    key.copy_from_slice(secret);
                }
                Ok(key)
            },
        )
        .map_err(|_| "the client's curve25519 public key is not usable".to_owned())?
        .map_err(|()| "cannot derive the AES key".to_owned())?;
        let sealing = aead::LessSafeKey::new(
            aead::UnboundKey::new(&aead::AES_256_GCM, &key[..])
                .map_err(|_| "cannot use the AES key".to_owned())?,
        );
        let mut nonce = [0u8; 12];
        ring::rand::SecureRandom::fill(&rng, &mut nonce)
            .map_err(|_| "cannot generate a nonce".to_owned())?;
        let mut sealed = Zeroizing::new(plaintext.to_vec());
        sealing
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(self.aad.as_slice()),
                &mut *sealed,
            )
            .map_err(|_| "cannot encrypt the token".to_owned())?;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok(Zeroizing::new(format!(
            "{{\"curve25519_public_key\":\"{}\",\"nonce\":\"{}\",\"encrypted_payload\":\"{}\"}}\n",
            b64(&ours),
            b64(&nonce),
            b64(&sealed)
        )))
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the test writes the client's public key file"
)]
mod tests {
    use super::*;
    use vaultward_test_support::DhClient;

    #[test]
    fn a_client_opens_what_the_sink_seals() {
        let dir = tempfile::tempdir().unwrap();
        for (derive, aad) in [(false, &b""[..]), (true, &b"app-42"[..])] {
            let client = DhClient::new();
            let dh_path = dir.path().join("dh.json");
            std::fs::write(&dh_path, client.public_key_json()).unwrap();
            let encryption = Encryption::new(&dh_path, derive, aad.to_vec());
            let envelope = encryption.seal(b"s.token-value").unwrap();
            assert!(envelope.ends_with("}\n") && !envelope.contains("token-value"));
            assert_eq!(client.open(&envelope, derive, aad), "s.token-value");
        }
        let missing = Encryption::new(&dir.path().join("absent.json"), false, Vec::new());
        assert!(missing.seal(b"x").unwrap_err().contains("dh_path"));
    }
}
