//! Key ranges for ordered scans: prefix and gt/gte/lt/lte bounds combined into one half-open
//! interval over key bytes (SQLite BLOB order is memcmp), plus the keyset cursor used to page
//! through a range without OFFSET.

use std::cmp::Ordering;
use std::ops::Bound;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub prefix: Option<Vec<u8>>,
    pub gt: Option<Vec<u8>>,
    pub gte: Option<Vec<u8>>,
    pub lt: Option<Vec<u8>>,
    pub lte: Option<Vec<u8>>,
    pub reverse: bool,
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when there is
/// none (empty prefix or all 0xFF bytes). Trailing 0xFF bytes cannot be incremented, so they are
/// dropped before the last byte is bumped: `[0x61, 0xFF]` → `[0x62]`.
pub fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let keep = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut up = prefix[..=keep].to_vec();
    up[keep] += 1;
    Some(up)
}

fn tighter_lower(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    use Bound::*;
    match (&a, &b) {
        (Unbounded, _) => b,
        (_, Unbounded) => a,
        (Included(x) | Excluded(x), Included(y) | Excluded(y)) => match x.cmp(y) {
            Ordering::Greater => a,
            Ordering::Less => b,
            Ordering::Equal => {
                if matches!(a, Excluded(_)) {
                    a
                } else {
                    b
                }
            }
        },
    }
}

fn tighter_upper(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    use Bound::*;
    match (&a, &b) {
        (Unbounded, _) => b,
        (_, Unbounded) => a,
        (Included(x) | Excluded(x), Included(y) | Excluded(y)) => match x.cmp(y) {
            Ordering::Less => a,
            Ordering::Greater => b,
            Ordering::Equal => {
                if matches!(a, Excluded(_)) {
                    a
                } else {
                    b
                }
            }
        },
    }
}

impl KeyRange {
    /// The interval this range covers, with an optional keyset cursor: the last key already
    /// returned (scans continue strictly after it in the scan direction).
    pub fn bounds(&self, after: Option<&[u8]>) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let mut lo = Bound::Unbounded;
        let mut hi = Bound::Unbounded;
        if let Some(p) = &self.prefix {
            lo = Bound::Included(p.clone());
            if let Some(up) = prefix_upper_bound(p) {
                hi = Bound::Excluded(up);
            }
        }
        if let Some(k) = &self.gte {
            lo = tighter_lower(lo, Bound::Included(k.clone()));
        }
        if let Some(k) = &self.gt {
            lo = tighter_lower(lo, Bound::Excluded(k.clone()));
        }
        if let Some(k) = &self.lte {
            hi = tighter_upper(hi, Bound::Included(k.clone()));
        }
        if let Some(k) = &self.lt {
            hi = tighter_upper(hi, Bound::Excluded(k.clone()));
        }
        if let Some(a) = after {
            if self.reverse {
                hi = tighter_upper(hi, Bound::Excluded(a.to_vec()));
            } else {
                lo = tighter_lower(lo, Bound::Excluded(a.to_vec()));
            }
        }
        (lo, hi)
    }

    /// Whether `key` lies inside the interval (used for keys held in the write-back cache).
    pub fn contains(&self, key: &[u8]) -> bool {
        let (lo, hi) = self.bounds(None);
        let above = match &lo {
            Bound::Included(l) => key >= l.as_slice(),
            Bound::Excluded(l) => key > l.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &hi {
            Bound::Included(h) => key <= h.as_slice(),
            Bound::Excluded(h) => key < h.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bound_skips_trailing_ff() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(&[0x61, 0xFF]), Some(vec![0x62]));
        assert_eq!(prefix_upper_bound(&[0x61, 0xFF, 0xFF]), Some(vec![0x62]));
        assert_eq!(prefix_upper_bound(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_upper_bound(b""), None);
    }

    #[test]
    fn bounds_take_the_tightest_and_follow_the_cursor() {
        let r = KeyRange {
            prefix: Some(b"k:".to_vec()),
            gt: Some(b"k:05".to_vec()),
            lte: Some(b"k:09".to_vec()),
            ..Default::default()
        };
        assert_eq!(
            r.bounds(Some(b"k:07")),
            (
                Bound::Excluded(b"k:07".to_vec()),
                Bound::Included(b"k:09".to_vec())
            )
        );
        assert!(r.contains(b"k:06"));
        assert!(!r.contains(b"k:05"));
        assert!(!r.contains(b"k;"));
        let rev = KeyRange { reverse: true, ..r };
        assert_eq!(
            rev.bounds(Some(b"k:07")).1,
            Bound::Excluded(b"k:07".to_vec())
        );
    }
}
