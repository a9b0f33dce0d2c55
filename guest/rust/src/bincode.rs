//! A small bincode (1.x default options) compatible encoder / decoder, for
//! the typed values SP1 hosts send with `SP1Stdin::write` and guests commit
//! with `sp1_zkvm::io::commit`:
//!
//! * integers: fixed width, little endian (`u8`..`u128`, `i8`..`i128`);
//! * `bool`: one byte, 0 or 1;
//! * `usize` / `isize`: 8 bytes, as serde serializes them as `u64` / `i64`;
//! * `Vec<T>`, `[T]`, `String`, `str`: `u64` length, then the elements;
//! * `[T; N]` and tuples (up to 8): the elements, no length;
//! * `Option<T>`: one byte 0 (None) or 1 followed by the value;
//! * `char`: UTF-8 (1..4 bytes), as bincode does.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Decoding error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended early.
    UnexpectedEnd { needed: usize, available: usize },
    /// A `bool` byte other than 0 and 1.
    InvalidBool(u8),
    /// An `Option` tag other than 0 and 1.
    InvalidOptionTag(u8),
    /// A length that does not fit in memory.
    LengthOverflow(u64),
    /// A `String`/`char` that is not UTF-8.
    InvalidUtf8,
    /// An integer out of range for the target type (`usize`).
    IntegerOverflow(u64),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnexpectedEnd { needed, available } => {
                write!(
                    f,
                    "unexpected end of input: need {} bytes, {} left",
                    needed, available
                )
            }
            DecodeError::InvalidBool(b) => write!(f, "invalid bool byte {}", b),
            DecodeError::InvalidOptionTag(b) => write!(f, "invalid Option tag {}", b),
            DecodeError::LengthOverflow(n) => write!(f, "length {} too large", n),
            DecodeError::InvalidUtf8 => write!(f, "invalid UTF-8"),
            DecodeError::IntegerOverflow(n) => write!(f, "integer {} out of range", n),
        }
    }
}

/// Reads bincode values from a byte slice.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let available = self.data.len() - self.pos;
        if n > available {
            return Err(DecodeError::UnexpectedEnd {
                needed: n,
                available,
            });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Reads a `u64` length prefix.
    pub fn read_len(&mut self) -> Result<usize, DecodeError> {
        let n = u64::from_le_bytes(self.array()?);
        if n > (u32::MAX as u64) {
            return Err(DecodeError::LengthOverflow(n));
        }
        Ok(n as usize)
    }

    pub fn read<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }
}

/// A value that can be decoded from bincode.
pub trait Decode: Sized {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes `n` consecutive values (the body of a `Vec<Self>`); `u8`
    /// overrides it with a single copy.
    #[doc(hidden)]
    fn decode_seq(r: &mut Reader<'_>, n: usize) -> Result<Vec<Self>, DecodeError> {
        let mut v = Vec::with_capacity(core::cmp::min(n, r.remaining().len()));
        for _ in 0..n {
            v.push(Self::decode(r)?);
        }
        Ok(v)
    }
}

/// A value that can be encoded as bincode.
pub trait Encode {
    fn encode(&self, out: &mut Vec<u8>);

    /// Encodes the elements of a slice (without its length); `u8` overrides
    /// it with a single copy.
    #[doc(hidden)]
    fn encode_seq(items: &[Self], out: &mut Vec<u8>)
    where
        Self: Sized,
    {
        for x in items {
            x.encode(out);
        }
    }
}

/// Decodes a value from `bytes` (trailing bytes are ignored, as in
/// `bincode::deserialize`).
pub fn from_bytes<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    T::decode(&mut Reader::new(bytes))
}

/// Encodes a value.
pub fn to_vec<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut v = Vec::new();
    value.encode(&mut v);
    v
}

macro_rules! int_impls {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(r.array()?))
            }
        }
        impl Encode for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
int_impls!(u16, u32, u64, u128, i8, i16, i32, i64, i128);

impl Decode for u8 {
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(r.take(1)?[0])
    }
    fn decode_seq(r: &mut Reader<'_>, n: usize) -> Result<Vec<Self>, DecodeError> {
        Ok(r.take(n)?.to_vec())
    }
}
impl Encode for u8 {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self)
    }
    fn encode_seq(items: &[Self], out: &mut Vec<u8>) {
        out.extend_from_slice(items)
    }
}

impl Decode for usize {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = u64::decode(r)?;
        if v > usize::MAX as u64 {
            return Err(DecodeError::IntegerOverflow(v));
        }
        Ok(v as usize)
    }
}
impl Encode for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out)
    }
}
impl Decode for isize {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = i64::decode(r)?;
        if v > isize::MAX as i64 || v < isize::MIN as i64 {
            return Err(DecodeError::IntegerOverflow(v as u64));
        }
        Ok(v as isize)
    }
}
impl Encode for isize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as i64).encode(out)
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode(r)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::InvalidBool(b)),
        }
    }
}
impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self as u8)
    }
}

impl Decode for char {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let first = r.remaining().first().copied().unwrap_or(0);
        let n = match first {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return Err(DecodeError::InvalidUtf8),
        };
        let s = core::str::from_utf8(r.take(n)?).map_err(|_| DecodeError::InvalidUtf8)?;
        s.chars().next().ok_or(DecodeError::InvalidUtf8)
    }
}
impl Encode for char {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut b = [0u8; 4];
        out.extend_from_slice(self.encode_utf8(&mut b).as_bytes());
    }
}

impl Decode for () {
    fn decode(_: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(())
    }
}
impl Encode for () {
    fn encode(&self, _: &mut Vec<u8>) {}
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_len()?;
        T::decode_seq(r, n)
    }
}
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out)
    }
}
impl<T: Encode> Encode for [T] {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        T::encode_seq(self, out);
    }
}

impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_len()?;
        let b = r.take(n)?;
        let s = core::str::from_utf8(b).map_err(|_| DecodeError::InvalidUtf8)?;
        Ok(String::from(s))
    }
}
impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out)
    }
}
impl Encode for str {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        out.extend_from_slice(self.as_bytes());
    }
}

impl<T: Decode, const N: usize> Decode for [T; N] {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = T::decode_seq(r, N)?;
        match v.try_into() {
            Ok(a) => Ok(a),
            Err(_) => unreachable!(),
        }
    }
}
impl<T: Encode, const N: usize> Encode for [T; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        T::encode_seq(self, out);
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::decode(r)? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            b => Err(DecodeError::InvalidOptionTag(b)),
        }
    }
}
impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(x) => {
                out.push(1);
                x.encode(out)
            }
        }
    }
}

impl<T: Decode> Decode for Box<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Box::new(T::decode(r)?))
    }
}
impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
}
impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
}

macro_rules! tuple_impls {
    ($(($($n:tt $t:ident),+))*) => {$(
        impl<$($t: Decode),+> Decode for ($($t,)+) {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(($($t::decode(r)?,)+))
            }
        }
        impl<$($t: Encode),+> Encode for ($($t,)+) {
            fn encode(&self, out: &mut Vec<u8>) {
                $(self.$n.encode(out);)+
            }
        }
    )*};
}
tuple_impls! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn encodings_match_bincode() {
        assert_eq!(to_vec(&7u32), vec![7, 0, 0, 0]);
        assert_eq!(to_vec(&0x0102030405060708u64), vec![8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(to_vec(&-2i16), vec![0xfe, 0xff]);
        assert_eq!(to_vec(&true), vec![1]);
        assert_eq!(to_vec(&5usize), vec![5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            to_vec(&vec![1u8, 2, 3]),
            vec![3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]
        );
        assert_eq!(to_vec(&[1u8, 2, 3]), vec![1, 2, 3]);
        assert_eq!(
            to_vec(&[1u8, 2, 3][..]),
            vec![3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]
        );
        assert_eq!(to_vec("hi"), vec![2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i']);
        assert_eq!(to_vec(&Some(1u16)), vec![1, 1, 0]);
        assert_eq!(to_vec(&None::<u16>), vec![0]);
        assert_eq!(to_vec(&(1u8, 2u32)), vec![1, 2, 0, 0, 0]);
        assert_eq!(
            to_vec(&vec![1u32, 2]),
            vec![2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]
        );
        assert_eq!(to_vec(&'é'), "é".as_bytes().to_vec());
    }

    type Mixed = (
        u32,
        u64,
        Vec<u8>,
        String,
        Option<i64>,
        [u16; 3],
        bool,
        Vec<Vec<u32>>,
    );

    #[test]
    fn roundtrips() {
        let v: Mixed = (
            0xdeadbeef,
            u64::MAX,
            vec![9; 100],
            String::from("Zürich"),
            Some(-5),
            [1, 2, 3],
            true,
            vec![vec![], vec![1, 2]],
        );
        let b = to_vec(&v);
        let w: Mixed = from_bytes(&b).unwrap();
        assert_eq!(v, w);
        let c: char = from_bytes("日".as_bytes()).unwrap();
        assert_eq!(c, '日');
    }

    #[test]
    fn errors() {
        assert_eq!(
            from_bytes::<u32>(&[1, 2]),
            Err(DecodeError::UnexpectedEnd {
                needed: 4,
                available: 2
            })
        );
        assert_eq!(from_bytes::<bool>(&[2]), Err(DecodeError::InvalidBool(2)));
        assert_eq!(
            from_bytes::<Option<u8>>(&[3]),
            Err(DecodeError::InvalidOptionTag(3))
        );
        assert_eq!(
            from_bytes::<Vec<u8>>(&[5, 0, 0, 0, 0, 0, 0, 0, 1]),
            Err(DecodeError::UnexpectedEnd {
                needed: 5,
                available: 1
            })
        );
        assert_eq!(
            from_bytes::<Vec<u8>>(&[0, 0, 0, 0, 1, 0, 0, 0]),
            Err(DecodeError::LengthOverflow(1 << 32))
        );
        assert_eq!(
            from_bytes::<String>(&[1, 0, 0, 0, 0, 0, 0, 0, 0xff]),
            Err(DecodeError::InvalidUtf8)
        );
        // Trailing bytes are ignored, as by bincode::deserialize.
        assert_eq!(from_bytes::<u8>(&[1, 2]), Ok(1));
    }
}
