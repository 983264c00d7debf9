//! `vec:<elem>[:dims]` values. Fixed shape: `type u8 | raw LE data`. Free shape:
//! `type u8 | ndim u8 | ndim x u32 LE dims | raw LE data` (docs/format.md, "Vectors";
//! KohakuVault's codes).

use super::dtype::Scalar;
use super::scalar::{self, Num};
use super::Value;
use crate::error::{Error, Result};

/// A vector: its element type, shape and raw little-endian elements.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorValue {
    pub elem: Scalar,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl VectorValue {
    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Flatten nested arrays of numbers, checking they are rectangular.
fn flatten(
    d: &serde_json::Value,
    depth: usize,
    shape: &mut Vec<usize>,
    out: &mut Vec<Num>,
) -> Result<()> {
    match d {
        serde_json::Value::Array(items) => {
            if shape.len() == depth {
                shape.push(items.len());
            } else if shape.get(depth) != Some(&items.len()) {
                return Err(Error::invalid("nested arrays are not rectangular"));
            }
            for it in items {
                flatten(it, depth + 1, shape, out)?;
            }
            Ok(())
        }
        serde_json::Value::Number(n) if depth == shape.len() && depth > 0 => {
            out.push(super::doc::json_num(n));
            Ok(())
        }
        _ => Err(Error::invalid(
            "a vector must be an array (or nested arrays) of numbers",
        )),
    }
}

pub fn pack(elem: Scalar, fixed: Option<&[usize]>, v: &Value, out: &mut Vec<u8>) -> Result<()> {
    let code = elem.vector_code().expect("the grammar has no bool vectors");
    let mut data = Vec::new();
    let shape = match v {
        Value::Vector(vv) => {
            if vv.data.len() != vv.count() * vv.elem.size() {
                return Err(Error::invalid(format!(
                    "vector of shape {:?} has {} data bytes",
                    vv.shape,
                    vv.data.len()
                )));
            }
            if vv.elem == elem {
                data.extend_from_slice(&vv.data);
            } else {
                for c in vv.data.chunks_exact(vv.elem.size()) {
                    scalar::write(elem, scalar::read(vv.elem, c), &mut data)?;
                }
            }
            vv.shape.clone()
        }
        Value::Doc(d) => {
            let (mut shape, mut nums) = (Vec::new(), Vec::new());
            flatten(d, 0, &mut shape, &mut nums)?;
            if shape.is_empty() {
                shape.push(0);
            }
            for n in nums {
                scalar::write(elem, n, &mut data)?;
            }
            shape
        }
        _ => {
            return Err(Error::invalid(
                "a vector must be a typed array or an array of numbers",
            ))
        }
    };
    let count: usize = shape.iter().product();
    out.push(code);
    match fixed {
        Some(want) => {
            // A flat typed array of the right total length fills a multi-dimensional shape.
            let flat_ok = shape.len() == 1 && count == want.iter().product::<usize>();
            if shape != want && !flat_ok {
                return Err(Error::invalid(format!(
                    "vector of shape {shape:?} does not match the fixed shape {want:?}"
                )));
            }
        }
        None => {
            if shape.len() > 255 || shape.iter().any(|d| *d > u32::MAX as usize) {
                return Err(Error::invalid(format!(
                    "vector shape {shape:?} is too large"
                )));
            }
            out.push(shape.len() as u8);
            for d in &shape {
                out.extend_from_slice(&(*d as u32).to_le_bytes());
            }
        }
    }
    debug_assert_eq!(data.len(), count * elem.size());
    out.extend_from_slice(&data);
    Ok(())
}

pub fn unpack(elem: Scalar, fixed: Option<&[usize]>, b: &[u8]) -> Result<VectorValue, String> {
    let (&code, rest) = b.split_first().ok_or("empty vector element")?;
    let stored =
        Scalar::from_vector_code(code).ok_or(format!("unknown vector type byte {code:#04x}"))?;
    if stored != elem {
        return Err(format!(
            "vector holds {} elements, the dtype says {}",
            stored.name(),
            elem.name()
        ));
    }
    let (shape, data) = match fixed {
        Some(s) => (s.to_vec(), rest),
        None => {
            let (&ndim, mut rest) = rest.split_first().ok_or("vector without ndim")?;
            let mut shape = Vec::with_capacity(ndim as usize);
            for _ in 0..ndim {
                if rest.len() < 4 {
                    return Err("vector dims cut short".into());
                }
                shape.push(u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize);
                rest = &rest[4..];
            }
            (shape, rest)
        }
    };
    let need = shape
        .iter()
        .try_fold(elem.size(), |a, d| a.checked_mul(*d))
        .ok_or("vector shape overflows")?;
    if data.len() < need {
        return Err(format!(
            "vector of shape {shape:?} needs {need} data bytes, found {}",
            data.len()
        ));
    }
    Ok(VectorValue {
        elem,
        shape,
        data: data[..need].to_vec(),
    })
}
