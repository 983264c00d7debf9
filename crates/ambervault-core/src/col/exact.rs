//! Stored 64-bit integers as f64s, only where every one converts exactly: JavaScript numbers
//! hold integers up to 2^53, past which f64 would silently round them.

use crate::error::{Error, Result};

/// The integers in `raw` (i64 bit patterns when `signed`, else u64) as f64s, or
/// `InvalidArgument` naming the first one beyond 2^53.
pub(crate) fn to_f64s(raw: &[u64], signed: bool) -> Result<Vec<f64>> {
    const SAFE: i128 = 1 << 53;
    raw.iter()
        .map(|&bits| {
            let v = if signed {
                bits as i64 as i128
            } else {
                i128::from(bits)
            };
            if v.abs() > SAFE {
                return Err(Error::invalid(format!(
                    "value {v} is beyond 2^53; read it with {{ bigint: true }}"
                )));
            }
            Ok(v as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::to_f64s;

    #[test]
    fn within_2_53_converts_beyond_fails() {
        let edge = 1u64 << 53;
        assert_eq!(
            to_f64s(&[0, edge, (-(edge as i64)) as u64], true).unwrap(),
            [0.0, 9007199254740992.0, -9007199254740992.0]
        );
        let e = to_f64s(&[1, (edge + 1).wrapping_neg()], true).unwrap_err();
        assert!(
            e.message.contains("value -9007199254740993 is beyond 2^53"),
            "{}",
            e.message
        );
        assert!(to_f64s(&[u64::MAX], false).is_err());
        // As i64 the same bits are -1, well within.
        assert_eq!(to_f64s(&[u64::MAX], true).unwrap(), [-1.0]);
    }
}
