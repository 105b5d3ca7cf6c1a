//! Stored Merkle digests: a later process commits to the same columns without hashing them.
//!
//! Hashing is most of a commitment: at 2^25 cells the commitment takes 3.6-3.9 s and its
//! Reed-Solomon encoding 1.1 s of that. [`ProverData::digests`] keeps the Merkle tree's
//! digests (8 bytes per committed cell: one digest per codeword row of 16 cells, rate 1/2, and
//! the layers above); [`commit_stored`] encodes the columns again and takes the tree's digests
//! from those bytes.
//!
//! p3's Merkle tree has no constructor from parts, but it implements serde, and its fields are
//! the codeword (`leaves`), `digest_layers` and `arity_schedule`. [`Words`] serializes the
//! latter two as little-endian words; [`Src`] feeds a tree's deserializer the codeword and the
//! stored words directly, so no byte encoding of the codeword is made or parsed.

use p3_commit::{Encoder, Mmcs as _};
use p3_field::{PrimeCharacteristicRing, PrimeField64};
use p3_matrix::Matrix;
use p3_matrix::dense::RowMajorMatrix;
use p3_sumcheck::layout::Layout as _;
use serde::de::value::Error;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::ser::{self, Impossible, Serializer};
use serde::{Deserialize, Serialize, forward_to_deserialize_any};

use super::prove::{Tree, checksum, witness};
use super::{CommitShape, Commitment, Dft, PARAMS, PcsError, ProverData, mmcs};
use crate::field::F;

/// Version tag of [`ProverData::digests`] (1 was the whole prover data, codeword included).
const STORE_VERSION: u32 = 2;

/// Codeword rows whose leaf hash and Merkle path [`commit_stored`] checks against the stored
/// digests: a stored tree that belongs to other columns differs in every row.
const SPOT_CHECKS: usize = 8;

/// What [`ProverData::digests`] writes before the words.
#[derive(Serialize, Deserialize)]
struct Head {
    version: u32,
    shape: CommitShape,
    root: Commitment,
}

impl ProverData {
    /// The commitment's Merkle digests with its shape and root, plus a checksum: what
    /// [`commit_stored`] needs to recommit the same columns without hashing them.
    pub fn digests(&self) -> Vec<u8> {
        let head = Head {
            version: STORE_VERSION,
            shape: self.shape.clone(),
            root: self.root.clone(),
        };
        let mut bytes = postcard::to_allocvec(&head).unwrap_or_default();
        // a Merkle tree always serializes into `Words` (tested): nothing to fail on
        self.inner
            .merkle_data
            .serialize(Words {
                out: &mut bytes,
                top: true,
            })
            .ok();
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        bytes
    }
}

/// [`super::commit`] without the Merkle hashing: encodes `columns` and takes the tree from
/// `stored` (what [`ProverData::digests`] wrote for the same columns). Nothing is absorbed.
///
/// Checks the checksum, the version, that the shape is the columns' shape, the tree's
/// dimensions and root, and the leaf hash and path of [`SPOT_CHECKS`] codeword rows: digests
/// of other columns are refused, since the encodings of different columns differ in every row.
///
/// # Errors
///
/// [`PcsError::Decode`] when `stored` does not decode or does not fit `columns` (its reason is
/// `version N` when it was written in another format), the errors of [`super::commit`]
/// for columns it cannot commit.
pub fn commit_stored(columns: Vec<Vec<F>>, stored: &[u8]) -> Result<ProverData, PcsError> {
    let bad = |reason: String| PcsError::Decode {
        what: "stored digests",
        reason,
    };
    // the version first: another version may end otherwise
    let (version, _) = postcard::take_from_bytes::<u32>(stored).map_err(|e| bad(e.to_string()))?;
    if version != STORE_VERSION {
        return Err(bad(format!("version {version}")));
    }
    let split = stored
        .len()
        .checked_sub(8)
        .ok_or_else(|| bad("too short".into()))?;
    let (payload, sum) = stored.split_at(split);
    if sum != checksum(payload).to_le_bytes() {
        return Err(bad("checksum mismatch".into()));
    }
    let (head, words) =
        postcard::take_from_bytes::<Head>(payload).map_err(|e| bad(e.to_string()))?;
    let p = PARAMS;
    let (shape, layout, witness) = witness(&p, columns)?;
    if shape != head.shape {
        return Err(bad("the columns' shape".into()));
    }
    let (layers, arity) = read_words(words).map_err(bad)?;
    // one digest per codeword row, then binary layers up to the root
    let height = 1usize << (layout.num_variables + p.log_inv_rate - p.folding);
    let lens: Vec<usize> = layers.iter().map(|l| l.len() / 32).collect();
    let expected: Vec<usize> = (0..=height.trailing_zeros()).map(|i| height >> i).collect();
    if lens != expected || arity.iter().any(|&a| a != 2) || arity.len() + 1 != lens.len() {
        return Err(bad("digest layers".into()));
    }
    // as p3's commitment encodes: the stacked message, zero rows up to the codeword's height
    let width = 1 << p.folding;
    let mut message = F::zero_vec(height * width);
    let filled = (height >> p.log_inv_rate) * width;
    super::Lay::write_message(&witness, p.folding, &mut message[..filled]);
    let codeword =
        Dft::new(height).encode_batch_padded(RowMajorMatrix::new(message, width), p.log_inv_rate);
    let arity_bytes: Vec<u8> = arity.iter().flat_map(|a| a.to_le_bytes()).collect();
    let tree = Tree::deserialize(Src::Parts(vec![
        Src::Parts(vec![Src::Parts(vec![
            Src::Field(&codeword.values),
            Src::Num(width as u64),
            Src::Unit,
        ])]),
        Src::Layers(layers),
        Src::Words(&arity_bytes),
        Src::Unit,
    ]))
    .map_err(|e| bad(e.to_string()))?;
    drop(codeword);
    if tree.cap(0) != head.root.0 {
        return Err(bad("Merkle root".into()));
    }
    let mmcs = mmcs();
    let dims = mmcs.get_matrices(&tree)[0].dimensions();
    let spread = height / SPOT_CHECKS;
    for index in (0..SPOT_CHECKS).map(|k| k * spread + (k * 7919) % spread.max(1)) {
        let opening = mmcs.open_batch(index, &tree);
        if mmcs
            .verify_batch(&head.root.0, &[dims], index, (&opening).into())
            .is_err()
        {
            return Err(bad(format!("codeword row {index}")));
        }
    }
    let inner = super::prove::assemble(&p, witness, tree)?;
    Ok(ProverData {
        shape,
        root: head.root,
        inner,
        params: p,
    })
}

/// Splits the stored words into the digest layers (32 bytes per digest) and the arity
/// schedule: `[layers, len_0, digests_0 .., len_1, ..; arities, arity_0, ..]`.
fn read_words(mut rest: &[u8]) -> Result<(Vec<&[u8]>, Vec<u64>), String> {
    let count = take_word(&mut rest)?;
    let mut layers = Vec::new();
    for _ in 0..count {
        let len = usize::try_from(take_word(&mut rest)?)
            .ok()
            .and_then(|l| l.checked_mul(32))
            .filter(|&l| l <= rest.len())
            .ok_or("truncated digests")?;
        let (layer, tail) = rest.split_at(len);
        layers.push(layer);
        rest = tail;
    }
    let count = take_word(&mut rest)?;
    if usize::try_from(count).ok().and_then(|c| c.checked_mul(8)) != Some(rest.len()) {
        return Err("arity schedule length".into());
    }
    Ok((layers, rest.chunks_exact(8).map(word).collect()))
}

fn take_word(rest: &mut &[u8]) -> Result<u64, String> {
    let (w, tail) = rest.split_first_chunk::<8>().ok_or("truncated digests")?;
    *rest = tail;
    Ok(u64::from_le_bytes(*w))
}

/// The little-endian word of an 8-byte chunk.
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

/// A serializer that writes a Merkle tree's `digest_layers` and `arity_schedule` (every
/// integer as a little-endian word, each sequence's length before its elements) and skips its
/// other fields. Field elements serialize as integers: this serializer says it is human
/// readable (serde's default), which is how p3's field elements choose `serialize_u64`.
struct Words<'a> {
    out: &'a mut Vec<u8>,
    /// The tree itself (whose fields are filtered), not a value inside it.
    top: bool,
}

impl Words<'_> {
    fn put(&mut self, w: u64) {
        self.out.extend_from_slice(&w.to_le_bytes());
    }

    fn inner(&mut self) -> Words<'_> {
        Words {
            out: self.out,
            top: false,
        }
    }
}

fn unexpected<T>() -> Result<T, Error> {
    Err(ser::Error::custom("not a Merkle tree's digests"))
}

/// Serializer methods that refuse their value: `name(argument types)`.
macro_rules! refuse {
    ($($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<(), Error> {
            unexpected()
        })*
    };
}

impl<'a> Serializer for Words<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_u64(mut self, v: u64) -> Result<(), Error> {
        self.put(v);
        Ok(())
    }
    fn serialize_seq(mut self, len: Option<usize>) -> Result<Self, Error> {
        let Some(len) = len else { return unexpected() };
        self.put(len as u64);
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Error> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, Error> {
        if self.top { Ok(self) } else { unexpected() }
    }
    refuse! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_f32(f32), serialize_f64(f64), serialize_char(char), serialize_str(&str),
        serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), Error> {
        unexpected()
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        unexpected()
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        unexpected()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        unexpected()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        unexpected()
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        unexpected()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        unexpected()
    }
}

impl ser::SerializeSeq for Words<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(self.inner())
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeTuple for Words<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(self.inner())
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStruct for Words<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        match key {
            "digest_layers" | "arity_schedule" => value.serialize(self.inner()),
            _ => Ok(()),
        }
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

/// What a Merkle tree's deserializer is fed: every value is an integer, a unit (the phantom
/// markers) or a sequence (structs, vectors and digests alike).
enum Src<'a> {
    Num(u64),
    Unit,
    Parts(Vec<Src<'a>>),
    /// Field elements (the codeword).
    Field(&'a [F]),
    /// Little-endian words.
    Words(&'a [u8]),
    /// Digests of four words each.
    Digests(&'a [u8]),
    Layers(Vec<&'a [u8]>),
}

impl<'de> Deserializer<'de> for Src<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Src::Num(n) => visitor.visit_u64(n),
            Src::Unit => visitor.visit_unit(),
            Src::Parts(parts) => visitor.visit_seq(Items(parts.into_iter())),
            Src::Field(values) => {
                visitor.visit_seq(Items(values.iter().map(|v| Src::Num(v.as_canonical_u64()))))
            }
            Src::Words(bytes) => {
                visitor.visit_seq(Items(bytes.chunks_exact(8).map(|w| Src::Num(word(w)))))
            }
            Src::Digests(bytes) => visitor.visit_seq(Items(bytes.chunks_exact(32).map(Src::Words))),
            Src::Layers(layers) => visitor.visit_seq(Items(layers.into_iter().map(Src::Digests))),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// The elements of a [`Src`] sequence.
struct Items<I>(I);

impl<'de, 'a, I: ExactSizeIterator<Item = Src<'a>>> SeqAccess<'de> for Items<I> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|s| seed.deserialize(s)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}
