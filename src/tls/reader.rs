//! A bounds-checked big-endian cursor over wire bytes.
//!
//! Every read returns `None` instead of panicking when the input is too short, so parsers
//! built on it cannot index out of range. Length-prefixed reads (`vec8`, `vec16`,
//! `vec24`) return exactly the announced number of bytes or nothing.

#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.buf.split_first()?;
        self.buf = tail;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    pub(crate) fn u24(&mut self) -> Option<u32> {
        let b = self.take(3)?;
        Some(u32::from_be_bytes([0, *b.first()?, *b.get(1)?, *b.get(2)?]))
    }

    /// `opaque x<0..2^8-1>`.
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// `opaque x<0..2^16-1>`.
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Big-endian `u16` at `at`, if in range.
pub(crate) fn be16(buf: &[u8], at: usize) -> Option<u16> {
    let hi = *buf.get(at)?;
    let lo = *buf.get(at.checked_add(1)?)?;
    Some(u16::from_be_bytes([hi, lo]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses_short_input() {
        let mut r = Reader::new(&[1, 0, 2, 0, 0, 3, 2, 0xaa, 0xbb, 9]);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u16(), Some(2));
        assert_eq!(r.u24(), Some(3));
        assert_eq!(r.vec8(), Some(&[0xaa, 0xbb][..]));
        assert_eq!(r.rest(), &[9]);
        assert_eq!(r.u16(), None);
        assert_eq!(r.vec8(), None, "length 9 announced, nothing follows");
        assert!(r.is_empty());
        assert_eq!(Reader::new(&[0, 1, 7]).vec16(), Some(&[7][..]));
        assert_eq!(be16(&[1, 2], 0), Some(0x0102));
        assert_eq!(be16(&[1, 2], 1), None);
        assert_eq!(be16(&[1, 2], usize::MAX), None);
    }
}
