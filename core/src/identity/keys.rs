//! Ed25519 keys: generated from the system's random source, saved and loaded as JWK (RFC 8037,
//! `kty: "OKP"`, `crv: "Ed25519"`) or as multibase multicodec (`z6Mk...` public, `z3u2...`
//! private). Private key material is zeroized when dropped and never printed.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use zeroize::{Zeroize, Zeroizing};

use super::multibase::{decode_multikey, encode_multikey, ED25519_PRIV, ED25519_PUB};
use super::IdentityError;

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_multibase())
    }
}

impl PublicKey {
    /// The key from its 32 bytes (refuses bytes that are not a point on the curve).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, IdentityError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| IdentityError::InvalidKey("not an Ed25519 public key".to_owned()))
    }

    /// The 32 bytes of the key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The multibase multicodec form (`z6Mk...`), as in `publicKeyMultibase` and `did:key`.
    pub fn to_multibase(&self) -> String {
        encode_multikey(ED25519_PUB, self.0.as_bytes())
    }

    /// Reads the multibase multicodec form (`z6Mk...`).
    pub fn from_multibase(text: &str) -> Result<Self, IdentityError> {
        Self::from_bytes(&decode_multikey(ED25519_PUB, text.trim())?)
    }

    /// Reads the raw base58btc form of `publicKeyBase58` (Ed25519VerificationKey2018).
    pub fn from_base58(text: &str) -> Result<Self, IdentityError> {
        let bytes = bs58::decode(text.trim())
            .into_vec()
            .map_err(|_| IdentityError::InvalidKey("not valid base58".to_owned()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::InvalidKey("an Ed25519 key has 32 bytes".to_owned()))?;
        Self::from_bytes(&bytes)
    }

    /// The public JWK (`{"kty":"OKP","crv":"Ed25519","x":...}`).
    pub fn to_jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(self.0.as_bytes())})
    }

    /// Reads a public (or private: only `x` is read) Ed25519 JWK.
    pub fn from_jwk(jwk: &Value) -> Result<Self, IdentityError> {
        check_okp(jwk)?;
        let x = jwk
            .get("x")
            .and_then(Value::as_str)
            .ok_or_else(|| IdentityError::InvalidKey("the JWK has no \"x\"".to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|_| IdentityError::InvalidKey("\"x\" is not base64url".to_owned()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::InvalidKey("\"x\" must be 32 bytes".to_owned()))?;
        Self::from_bytes(&bytes)
    }

    /// The `did:key` DID of this key.
    pub fn did_key(&self) -> String {
        super::did_key::did_for(self)
    }

    /// Checks an Ed25519 signature (strict verification: no malleable signatures, no weak keys).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), IdentityError> {
        let signature: [u8; 64] = signature.try_into().map_err(|_| {
            IdentityError::SignatureInvalid("an Ed25519 signature has 64 bytes".to_owned())
        })?;
        let signature = ed25519_dalek::Signature::from_bytes(&signature);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| IdentityError::SignatureInvalid("Ed25519 verification failed".to_owned()))
    }
}

fn check_okp(jwk: &Value) -> Result<(), IdentityError> {
    if jwk.get("kty").and_then(Value::as_str) != Some("OKP")
        || jwk.get("crv").and_then(Value::as_str) != Some("Ed25519")
    {
        return Err(IdentityError::InvalidKey(
            "only Ed25519 JWKs (kty \"OKP\", crv \"Ed25519\") are supported".to_owned(),
        ));
    }
    Ok(())
}

/// An Ed25519 key pair. The private half is zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct Ed25519KeyPair {
    signing: SigningKey,
    /// The verification method this key signs as (e.g. `did:web:example.com#key-1`), if known.
    key_id: Option<String>,
}

impl fmt::Debug for Ed25519KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519KeyPair")
            .field("public", &self.public_key().to_multibase())
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Ed25519KeyPair {
    /// A new key pair from the system's random source.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| IdentityError::Random(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// The key pair of a 32-byte private key (the RFC 8032 seed).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Ed25519KeyPair {
            signing: SigningKey::from_bytes(seed),
            key_id: None,
        }
    }

    /// The same key, signing as the verification method `key_id` (a DID URL).
    pub fn with_key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = Some(key_id.into());
        self
    }

    /// The verification method this key signs as: the one set with
    /// [`with_key_id`](Self::with_key_id) (or the JWK's `kid`), else the `did:key` one.
    pub fn key_id(&self) -> String {
        self.key_id
            .clone()
            .unwrap_or_else(|| super::did_key::verification_method_id(&self.public_key()))
    }

    /// The DID this key speaks for: the DID part of [`key_id`](Self::key_id).
    pub fn did(&self) -> String {
        let id = self.key_id();
        match id.split_once('#') {
            Some((did, _)) => did.to_owned(),
            None => id,
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    /// Signs `message` (pure Ed25519, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The private key as multibase multicodec (`z3u2...`). Handle with care: it is the secret.
    pub fn to_secret_multibase(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_multikey(ED25519_PRIV, self.signing.as_bytes()))
    }

    /// Reads a private key in multibase multicodec form (`z3u2...`).
    pub fn from_secret_multibase(text: &str) -> Result<Self, IdentityError> {
        let seed = Zeroizing::new(decode_multikey(ED25519_PRIV, text.trim())?);
        Ok(Self::from_seed(&seed))
    }

    /// The private JWK (with `d`, and `kid` when a key id is set), as JSON text. It is the
    /// secret.
    pub fn to_private_jwk(&self) -> Zeroizing<String> {
        let mut d = Zeroizing::new(URL_SAFE_NO_PAD.encode(self.signing.as_bytes()));
        let mut jwk = self.public_key().to_jwk();
        if let Value::Object(map) = &mut jwk {
            map.insert("d".to_owned(), Value::String(std::mem::take(&mut *d)));
            if let Some(kid) = &self.key_id {
                map.insert("kid".to_owned(), Value::String(kid.clone()));
            }
        }
        let text = Zeroizing::new(serde_json::to_string_pretty(&jwk).unwrap_or_default());
        if let Some(Value::String(d)) = jwk.get_mut("d") {
            d.zeroize();
        }
        text
    }

    /// Reads a private Ed25519 JWK (`d` required; `x`, when present, must match; `kid` becomes
    /// the key id).
    pub fn from_jwk(jwk: &Value) -> Result<Self, IdentityError> {
        check_okp(jwk)?;
        let d = jwk.get("d").and_then(Value::as_str).ok_or_else(|| {
            IdentityError::InvalidKey("the JWK has no \"d\": not a private key".to_owned())
        })?;
        let bytes = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(d)
                .map_err(|_| IdentityError::InvalidKey("\"d\" is not base64url".to_owned()))?,
        );
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| IdentityError::InvalidKey("\"d\" must be 32 bytes".to_owned()))?,
        );
        let mut pair = Self::from_seed(&seed);
        if jwk.get("x").is_some() && PublicKey::from_jwk(jwk)? != pair.public_key() {
            return Err(IdentityError::InvalidKey(
                "\"x\" is not the public key of \"d\"".to_owned(),
            ));
        }
        if let Some(kid) = jwk.get("kid").and_then(Value::as_str) {
            pair.key_id = Some(kid.to_owned());
        }
        Ok(pair)
    }

    /// Reads a private key from text: a JWK (JSON object) or a multibase private key.
    pub fn from_text(text: &str) -> Result<Self, IdentityError> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            let value: Value = serde_json::from_str(trimmed)
                .map_err(|_| IdentityError::InvalidKey("the JWK is not valid JSON".to_owned()))?;
            Self::from_jwk(&value)
        } else {
            Self::from_secret_multibase(trimmed)
        }
    }

    /// Reads a private key file (a JWK, or one line of multibase).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, IdentityError> {
        let path = path.as_ref();
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| IdentityError::KeyFile {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?,
            );
        Self::from_text(&text).map_err(|e| IdentityError::KeyFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Writes the private JWK to `path`, readable and writable by the owner only (mode 0600 on
    /// Unix). An existing file is replaced.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), IdentityError> {
        use std::io::Write as _;
        let path = path.as_ref();
        let fail = |e: std::io::Error| IdentityError::KeyFile {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(fail)?;
        #[cfg(unix)]
        {
            // A file that existed keeps its mode through `open`; narrow it.
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(fail)?;
        }
        let text = self.to_private_jwk();
        file.write_all(text.as_bytes()).map_err(fail)?;
        file.write_all(b"\n").map_err(fail)?;
        file.sync_all().map_err(fail)
    }
}
