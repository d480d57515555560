//! Checkpoints in the C2SP tlog-checkpoint form (<https://c2sp.org/tlog-checkpoint>)
//! and key-rotation statements, both carried as signed notes.
//!
//! A checkpoint body is three lines: origin, tree size in decimal, base64 root hash.
//! Main types: [`Checkpoint`], [`SignedCheckpoint`], [`KeyChain`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::merkle::Hash;
use crate::note::{NoteError, NoteSigner, NoteVerifier, open_note};

/// First line of a key-rotation statement.
const ROTATION_HEADER: &str = "custody-audit key rotation v1";

/// Errors parsing or verifying a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body is not origin / size / root.
    #[error("malformed checkpoint body")]
    Malformed,
    /// The signature check failed.
    #[error("checkpoint signature: {0}")]
    Signature(#[from] NoteError),
    /// The checkpoint is for another log.
    #[error("checkpoint origin does not match the log origin")]
    WrongOrigin,
}

/// An unsigned checkpoint: the log's origin, a tree size and its root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (a schema-less URL-ish name, e.g. `audit.custody.example/prod`).
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash of the first `size` leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note body: `origin\nsize\nbase64(root)\n`.
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (extension lines after the third are refused).
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`].
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed)?
            .split('\n');
        let (Some(origin), Some(size), Some(root), None) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed);
        };
        if origin.is_empty()
            || size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(CheckpointError::Malformed);
        }
        let size: u64 = size.parse().map_err(|_| CheckpointError::Malformed)?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(CheckpointError::Malformed)?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// A checkpoint with its signed-note text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed body.
    pub checkpoint: Checkpoint,
    /// The complete signed note.
    pub note: String,
    /// Name and id of the key that signed it (the first trusted one).
    pub signer: Option<NoteVerifier>,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with `signer`.
    ///
    /// # Errors
    /// When the body is not valid note text (e.g. an origin with a control character).
    pub fn sign(checkpoint: Checkpoint, signer: &NoteSigner) -> Result<Self, CheckpointError> {
        let note = signer.sign(&checkpoint.body())?;
        Ok(Self {
            checkpoint,
            note,
            signer: Some(signer.verifier()),
        })
    }

    /// Opens and verifies a signed checkpoint against trusted keys.
    ///
    /// # Errors
    /// When the signature or the body is bad.
    pub fn verify(note: &str, trusted: &[NoteVerifier]) -> Result<Self, CheckpointError> {
        let opened = open_note(note, trusted)?;
        let checkpoint = Checkpoint::parse(&opened.text)?;
        Ok(Self {
            checkpoint,
            note: note.to_owned(),
            signer: opened.signers.into_iter().next(),
        })
    }
}

/// Errors following the chain of signing keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyChainError {
    /// The key file has no genesis key line.
    #[error("key file has no genesis key")]
    Empty,
    /// The genesis line is not a verifier key.
    #[error("genesis key is malformed")]
    MalformedGenesis,
    /// A rotation statement is malformed.
    #[error("key rotation {seq} is malformed")]
    MalformedRotation {
        /// Position in the key file (0 = genesis).
        seq: usize,
    },
    /// A rotation statement is not signed by the then-current key and the new key.
    #[error("key rotation {seq} is not signed by both the current and the new key")]
    UnendorsedRotation {
        /// Position in the key file.
        seq: usize,
    },
    /// A rotation is for another log.
    #[error("key rotation {seq} names another log origin")]
    WrongOrigin {
        /// Position in the key file.
        seq: usize,
    },
}

/// The log's signing keys over time: a genesis verifier, then rotation
/// statements each co-signed by the then-current key and the new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChain {
    /// The first key.
    genesis: NoteVerifier,
    /// Keys rotated in, in order; the last (or the genesis key) is current.
    rotated: Vec<NoteVerifier>,
    /// Tree size at which each key took over (0 for genesis).
    from_sizes: Vec<u64>,
}

impl KeyChain {
    /// A chain with one genesis key.
    #[must_use]
    pub fn genesis(key: NoteVerifier) -> Self {
        Self {
            genesis: key,
            rotated: Vec::new(),
            from_sizes: vec![0],
        }
    }

    /// Rebuilds the chain from stored records (genesis line, then rotation notes).
    /// When `anchors` is non-empty the genesis key must be one of them, so a
    /// replaced key file is detected.
    ///
    /// # Errors
    /// [`KeyChainError`] for a malformed or unendorsed record.
    pub fn from_records(
        records: &[String],
        origin: Option<&str>,
        anchors: &[NoteVerifier],
    ) -> Result<Self, KeyChainError> {
        let (genesis, rotations) = records.split_first().ok_or(KeyChainError::Empty)?;
        let genesis: NoteVerifier = genesis
            .trim_end()
            .parse()
            .map_err(|_| KeyChainError::MalformedGenesis)?;
        if !anchors.is_empty() && !anchors.contains(&genesis) {
            return Err(KeyChainError::UnendorsedRotation { seq: 0 });
        }
        let mut chain = Self::genesis(genesis);
        for (i, note) in rotations.iter().enumerate() {
            chain.apply_rotation(i + 1, note, origin)?;
        }
        Ok(chain)
    }

    fn apply_rotation(
        &mut self,
        seq: usize,
        note: &str,
        origin: Option<&str>,
    ) -> Result<(), KeyChainError> {
        let current = self.current().clone();
        let opened = open_note(note, std::slice::from_ref(&current))
            .map_err(|_| KeyChainError::UnendorsedRotation { seq })?;
        let (rot_origin, new_key, from_size) =
            parse_rotation(&opened.text).ok_or(KeyChainError::MalformedRotation { seq })?;
        if origin.is_some_and(|o| o != rot_origin) {
            return Err(KeyChainError::WrongOrigin { seq });
        }
        open_note(note, std::slice::from_ref(&new_key))
            .map_err(|_| KeyChainError::UnendorsedRotation { seq })?;
        if from_size < self.from_sizes.last().copied().unwrap_or(0) {
            return Err(KeyChainError::MalformedRotation { seq });
        }
        self.rotated.push(new_key);
        self.from_sizes.push(from_size);
        Ok(())
    }

    /// The current (latest) key.
    #[must_use]
    pub fn current(&self) -> &NoteVerifier {
        self.rotated.last().unwrap_or(&self.genesis)
    }

    /// Every key ever used, oldest first.
    #[must_use]
    pub fn keys(&self) -> Vec<NoteVerifier> {
        std::iter::once(&self.genesis)
            .chain(&self.rotated)
            .cloned()
            .collect()
    }

    /// Builds a rotation statement for `new` taking over at `tree_size`, co-signed by
    /// `current` (which must be this chain's current key) and `new`.
    ///
    /// # Errors
    /// When the text cannot be signed (bad origin).
    pub fn rotation_statement(
        origin: &str,
        tree_size: u64,
        current: &NoteSigner,
        new: &NoteSigner,
    ) -> Result<String, NoteError> {
        let text = format!(
            "{ROTATION_HEADER}\n{origin}\n{}\n{tree_size}\n",
            new.verifier()
        );
        let mut note = current.sign(&text)?;
        note.push_str(&new.signature_line(&text));
        Ok(note)
    }

    /// Applies a rotation statement produced by [`KeyChain::rotation_statement`].
    ///
    /// # Errors
    /// When it is not endorsed by the current and the new key.
    pub fn push_rotation(&mut self, note: &str, origin: &str) -> Result<(), KeyChainError> {
        let seq = self.rotated.len() + 1;
        self.apply_rotation(seq, note, Some(origin))
    }
}

fn parse_rotation(text: &str) -> Option<(String, NoteVerifier, u64)> {
    let mut lines = text.strip_suffix('\n')?.split('\n');
    let (Some(header), Some(origin), Some(key), Some(size), None) = (
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
    ) else {
        return None;
    };
    if header != ROTATION_HEADER {
        return None;
    }
    Some((origin.to_owned(), key.parse().ok()?, size.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::empty_root;

    #[test]
    fn body_round_trips_and_is_tlog_checkpoint_shaped() {
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 1,
            root: empty_root(),
        };
        assert_eq!(
            cp.body(),
            "example.com/log\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        );
        assert_eq!(Checkpoint::parse(&cp.body()).unwrap(), cp);
        assert!(
            Checkpoint::parse(
                "example.com/log\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
            )
            .is_err()
        );
        assert!(Checkpoint::parse("example.com/log\n1\n").is_err());
    }

    #[test]
    fn rotation_requires_both_keys() {
        let old = NoteSigner::from_seed("k1", &[1; 32]).unwrap();
        let new = NoteSigner::from_seed("k2", &[2; 32]).unwrap();
        let evil = NoteSigner::from_seed("k1", &[3; 32]).unwrap();
        let good = KeyChain::rotation_statement("o", 5, &old, &new).unwrap();
        let mut chain = KeyChain::genesis(old.verifier());
        chain.push_rotation(&good, "o").unwrap();
        assert_eq!(chain.current(), &new.verifier());
        // A rotation signed by a key that is not the current one is refused.
        let forged = KeyChain::rotation_statement("o", 5, &evil, &new).unwrap();
        let mut chain = KeyChain::genesis(old.verifier());
        assert!(chain.push_rotation(&forged, "o").is_err());
        assert_eq!(chain.current(), &old.verifier());
    }
}
