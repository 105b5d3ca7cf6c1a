//! The proof object and its file format: magic, format version, postcard body, nothing after.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zkml_proof::field::EF;
use zkml_proof::gkr::GkrProof;
use zkml_proof::pcs::{Commitment, OpeningProof};

use crate::error::FormatError;
pub use crate::ops::LayerProof;

const PROOF_MAGIC: &[u8; 7] = b"ZKMLPRF";
/// Version of the proof format this build reads and writes (14: the lookups and the layers
/// run on forks of the transcript; 13: each opening runs on a fork of the transcript; 12:
/// Merkle trees hashed with Keccak-f; 11: the key digest is Keccak-256; 10: logup-GKR segments
/// packed into blocks; 9: Merkle leaves hashed with the width-12 Poseidon2, and the WHIR
/// rounds' rates capped; 8: the requantization's limbs are a list, bytes or 16-bit limbs).
pub const FORMAT_VERSION: u8 = 14;

/// A proof that the model behind a verifying key maps `input` to `output`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Proof {
    /// Number of samples proven together.
    pub num_samples: usize,
    /// Quantized inputs, `[num_samples][input_len]`.
    pub input: Vec<i64>,
    /// Quantized outputs, `[num_samples rounded up to a power of two][output_len]`; rows past
    /// `num_samples` are the outputs of the all-zero padding samples.
    pub output: Vec<i64>,
    pub witness_commitment: Commitment,
    pub lookup: GkrProof,
    /// Column evaluations at the lookup leaves, in lookup order (`a`, then `b` if any).
    pub lookup_evals: Vec<EF>,
    /// Multiplicity evaluations at the table leaves.
    pub table_evals: Vec<EF>,
    pub layers: Vec<LayerProof>,
    pub witness_opening: OpeningProof,
    /// One opening per weight commitment.
    pub weight_openings: Vec<OpeningProof>,
    /// Digest of the verifying key the proof was made for ([`crate::VerifyingKey::digest`]),
    /// so that a proof checked against another model's key says so.
    pub key_digest: String,
}

impl Proof {
    /// The outputs of the real samples, one row each.
    pub fn outputs(&self) -> Vec<Vec<i64>> {
        // saturating: `num_samples` comes from untrusted bytes until `verify` checked it
        let rows = self.num_samples.max(1).checked_next_power_of_two();
        let width = self.output.len() / rows.unwrap_or(usize::MAX);
        self.output
            .chunks(width.max(1))
            .take(self.num_samples)
            .map(<[i64]>::to_vec)
            .collect()
    }

    /// The proof file bytes.
    #[expect(
        clippy::expect_used,
        reason = "postcard fails only on types it cannot encode; a proof has none"
    )]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = PROOF_MAGIC.to_vec();
        out.push(FORMAT_VERSION);
        out.extend(postcard::to_allocvec(self).expect("proof serializes"));
        out
    }

    /// Parses proof bytes (shape checks against a key happen in `verify`).
    ///
    /// # Errors
    /// [`FormatError`] on a wrong magic or version, a malformed body, or trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let what = "proof";
        let body = bytes
            .strip_prefix(PROOF_MAGIC.as_slice())
            .ok_or(FormatError::BadMagic { what })?;
        let (&version, body) = body.split_first().ok_or(FormatError::Malformed {
            what,
            why: "empty".into(),
        })?;
        if version != FORMAT_VERSION {
            return Err(FormatError::Version {
                what,
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        decode_all(body, what)
    }
}

/// Strips an 8-byte key magic whose last byte is the format version.
pub(crate) fn strip_magic<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    what: &'static str,
) -> Result<&'a [u8], FormatError> {
    if bytes.len() < 8 || bytes[..7] != magic[..7] {
        return Err(FormatError::BadMagic { what });
    }
    if bytes[7] != magic[7] {
        return Err(FormatError::Version {
            what,
            found: bytes[7],
            supported: magic[7],
        });
    }
    Ok(&bytes[8..])
}

/// Decodes a postcard body that must be consumed exactly and be the canonical encoding of
/// what it decodes to. Postcard alone accepts overlong varints (`0x82 0x00` for 2), which would
/// give one proof or key many byte strings; re-encoding and comparing rules out every such
/// alternative form (field elements are canonical already: p3 refuses values >= p).
pub(crate) fn decode_all<T: DeserializeOwned + Serialize>(
    body: &[u8],
    what: &'static str,
) -> Result<T, FormatError> {
    let (value, rest) = decode_prefix(body, what)?;
    if !rest.is_empty() {
        return Err(FormatError::TrailingBytes {
            what,
            count: rest.len(),
        });
    }
    Ok(value)
}

/// Decodes a canonical postcard value from the start of `body`; returns it and the bytes after.
///
/// # Errors
/// [`FormatError::Malformed`] for bytes that do not decode or a non-canonical encoding.
pub(crate) fn decode_prefix<'a, T: DeserializeOwned + Serialize>(
    body: &'a [u8],
    what: &'static str,
) -> Result<(T, &'a [u8]), FormatError> {
    let (value, rest) = postcard::take_from_bytes(body).map_err(|e| FormatError::Malformed {
        what,
        why: e.to_string(),
    })?;
    let used = &body[..body.len() - rest.len()];
    if postcard::to_allocvec(&value).ok().as_deref() != Some(used) {
        return Err(FormatError::Malformed {
            what,
            why: "non-canonical encoding (a value is not in its shortest form)".into(),
        });
    }
    Ok((value, rest))
}
