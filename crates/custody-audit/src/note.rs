//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//!
//! A note is UTF-8 text ending in a newline, a blank line, then signature
//! lines `— <name> <base64(key id (4 bytes, big-endian) || signature)>`.
//! The key id is `SHA-256(name || "\n" || 0x01 || public key)[..4]`.
//! Main types: [`NoteSigner`] (secret, redacting `Debug`, zeroized),
//! [`NoteVerifier`] (`<name>+<hex id>+<base64(0x01 || public key)>`) and
//! [`open_note`].

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Algorithm byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 1;
/// Upper bound on signature lines, as in Go's `sumdb/note`.
const MAX_SIGNATURES: usize = 100;
/// The em dash that starts a signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Errors parsing or building keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key name is empty or contains '+' or whitespace.
    #[error("invalid key name (must be non-empty, without '+' or whitespace)")]
    InvalidName,
    /// The key string does not have the expected shape.
    #[error("malformed key string")]
    Malformed,
    /// The algorithm byte is not Ed25519.
    #[error("unsupported key algorithm")]
    UnsupportedAlgorithm,
    /// The key id in the string does not match the key.
    #[error("key id does not match the key")]
    KeyIdMismatch,
    /// The public key bytes are not a valid Ed25519 point.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
}

/// Errors signing or opening a note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note text is empty, lacks a final newline or contains a control character.
    #[error("malformed note text")]
    MalformedText,
    /// The message has no blank line separating text and signatures, or a bad signature line.
    #[error("malformed note signatures")]
    MalformedSignatures,
    /// More signature lines than allowed.
    #[error("too many signatures")]
    TooManySignatures,
    /// A signature by a known key did not verify.
    #[error("invalid signature by known key {name}")]
    InvalidSignature {
        /// Name of the key whose signature failed.
        name: String,
    },
    /// No signature by a known key was found.
    #[error("note has no signature by a trusted key")]
    UnverifiedNote,
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(KeyError::InvalidName);
    }
    Ok(())
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALG_ED25519]);
    hasher.update(public);
    let digest: [u8; 32] = hasher.finalize().into();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A named Ed25519 note-signing key. The secret is zeroized on drop and never printed.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .field("key", &"[redacted]")
            .finish()
    }
}

impl NoteSigner {
    /// A signer from a 32-byte Ed25519 seed (the caller draws it from a CSPRNG).
    ///
    /// # Errors
    /// [`KeyError::InvalidName`] for a bad name.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    ///
    /// # Errors
    /// [`KeyError`] when the string is malformed or its id does not match.
    pub fn from_private_key_string(s: &str) -> Result<Self, KeyError> {
        let rest = s
            .trim_end()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::Malformed)?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Malformed);
        };
        let raw = Zeroizing::new(B64.decode(b64).map_err(|_| KeyError::Malformed)?);
        let (alg, seed) = raw.split_first().ok_or(KeyError::Malformed)?;
        if *alg != ALG_ED25519 {
            return Err(KeyError::UnsupportedAlgorithm);
        }
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.try_into().map_err(|_| KeyError::Malformed)?);
        let signer = Self::from_seed(name, &seed)?;
        if id.len() != 8 || u32::from_str_radix(id, 16).ok() != Some(signer.id) {
            return Err(KeyError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// The private key string (secret: handle as such).
    #[must_use]
    pub fn expose_private_key_string(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(33));
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(&*raw)
        ))
    }

    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier.
    #[must_use]
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` and returns the complete note (text, blank line, one signature line).
    ///
    /// # Errors
    /// [`NoteError::MalformedText`] when the text is not a valid note text.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let mut note = String::with_capacity(text.len() + 128);
        note.push_str(text);
        note.push('\n');
        note.push_str(&self.signature_line(text));
        Ok(note)
    }

    /// One signature line over `text` (ending in a newline); used for co-signed notes.
    #[must_use]
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// A named Ed25519 verifier key, `<name>+<hex id>+<base64(0x01 || public key)>`.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({self})")
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl std::str::FromStr for NoteVerifier {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Malformed);
        };
        check_name(name)?;
        let raw = B64.decode(b64).map_err(|_| KeyError::Malformed)?;
        let (alg, public) = raw.split_first().ok_or(KeyError::Malformed)?;
        if *alg != ALG_ED25519 {
            return Err(KeyError::UnsupportedAlgorithm);
        }
        let public: [u8; 32] = public.try_into().map_err(|_| KeyError::Malformed)?;
        let key = VerifyingKey::from_bytes(&public).map_err(|_| KeyError::InvalidPublicKey)?;
        let want = key_id(name, &public);
        if id.len() != 8 || u32::from_str_radix(id, 16).ok() != Some(want) {
            return Err(KeyError::KeyIdMismatch);
        }
        Ok(Self {
            name: name.to_owned(),
            id: want,
            key,
        })
    }
}

impl NoteVerifier {
    /// The key name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    #[must_use]
    pub fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, text: &str, sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.key
            .verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// A note whose signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text (ends in a newline).
    pub text: String,
    /// The trusted verifiers whose signatures verified.
    pub signers: Vec<NoteVerifier>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty()
        || !text.ends_with('\n')
        || text.contains("\n\n")
        || text.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(NoteError::MalformedText);
    }
    Ok(())
}

/// Opens a signed note: checks every signature by a key in `trusted` (a failing
/// one is an error) and requires at least one. Signatures by unknown keys are ignored.
///
/// # Errors
/// [`NoteError`] when the note is malformed, a known signature fails, or none is known.
pub fn open_note(msg: &str, trusted: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    let split = msg.rfind("\n\n").ok_or(NoteError::MalformedSignatures)?;
    let (text, sigs) = msg.split_at(split + 1);
    let sigs = sigs
        .strip_prefix('\n')
        .ok_or(NoteError::MalformedSignatures)?;
    check_text(text)?;
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::MalformedSignatures);
    }
    let mut signers: Vec<NoteVerifier> = Vec::new();
    for (n, line) in sigs.lines().enumerate() {
        if n >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::MalformedSignatures)?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::MalformedSignatures)?;
        check_name(name).map_err(|_| NoteError::MalformedSignatures)?;
        let blob = B64
            .decode(b64)
            .map_err(|_| NoteError::MalformedSignatures)?;
        let Some((id, sig)) = blob.split_first_chunk::<4>() else {
            return Err(NoteError::MalformedSignatures);
        };
        let id = u32::from_be_bytes(*id);
        let Some(verifier) = trusted.iter().find(|v| v.name == name && v.id == id) else {
            continue;
        };
        if !verifier.verify(text, sig) {
            return Err(NoteError::InvalidSignature {
                name: name.to_owned(),
            });
        }
        if !signers.contains(verifier) {
            signers.push(verifier.clone());
        }
    }
    if signers.is_empty() {
        return Err(NoteError::UnverifiedNote);
    }
    Ok(OpenedNote {
        text: text.to_owned(),
        signers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vector from golang.org/x/mod/sumdb/note (note_test.go / package docs).
    const SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn go_sumdb_note_known_answer() {
        let signer = NoteSigner::from_private_key_string(SKEY).unwrap();
        assert_eq!(signer.verifier().to_string(), VKEY);
        let note = signer.sign(TEXT).unwrap();
        assert_eq!(note, format!("{TEXT}\n{SIG}"));
        let verifier: NoteVerifier = VKEY.parse().unwrap();
        let opened = open_note(&note, std::slice::from_ref(&verifier)).unwrap();
        assert_eq!(opened.text, TEXT);
        assert_eq!(*signer.expose_private_key_string(), SKEY);
        // One changed letter breaks it.
        let tampered = note.replace("cryptography", "cryptographY");
        assert_eq!(
            open_note(&tampered, &[verifier]),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into()
            })
        );
    }

    #[test]
    fn unknown_key_is_not_trusted() {
        let other = NoteSigner::from_seed("PeterNeumann", &[7; 32]).unwrap();
        let note = format!("{TEXT}\n{SIG}");
        assert_eq!(
            open_note(&note, &[other.verifier()]),
            Err(NoteError::UnverifiedNote)
        );
        assert_eq!(open_note(&note, &[]), Err(NoteError::UnverifiedNote));
    }

    #[test]
    fn key_id_mismatch_is_refused() {
        let bad = VKEY.replace("c74f20a3", "c74f20a4");
        assert_eq!(bad.parse::<NoteVerifier>(), Err(KeyError::KeyIdMismatch));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let signer = NoteSigner::from_private_key_string(SKEY).unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains("redacted"));
        assert!(!debug.contains("AYEKFALV"));
        let seed = B64
            .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
            .unwrap();
        assert!(!debug.contains(&hex::encode(&seed[1..])));
    }
}
