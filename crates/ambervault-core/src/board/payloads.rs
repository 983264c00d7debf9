//! Turning heavy log payloads into what is stored: histogram bins, PNG images, .npy tensors and
//! kernel density grids. All of it runs on the writer thread, never on the training thread.

use crate::error::{Error, Result};

/// A histogram with exact edges (`counts.len() + 1`) and the values that cannot be binned.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    pub edges: Vec<f64>,
    pub counts: Vec<i64>,
    pub nan: i64,
    pub posinf: i64,
    pub neginf: i64,
}

/// Bin `values` into `bins` equal-width bins over `range` (default: min..max of the finite
/// values). Like numpy, finite values outside an explicit range are not counted; NaN and ±Inf
/// are counted separately.
pub fn histogram(values: &[f64], bins: usize, range: Option<(f64, f64)>) -> Result<Bins> {
    if bins == 0 {
        return Err(Error::invalid("histogram needs at least one bin"));
    }
    let (mut nan, mut posinf, mut neginf) = (0, 0, 0);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        if v.is_nan() {
            nan += 1;
        } else if v == f64::INFINITY {
            posinf += 1;
        } else if v == f64::NEG_INFINITY {
            neginf += 1;
        } else {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let (lo, hi) = match range {
        Some((a, b)) if a.is_finite() && b.is_finite() && a < b => (a, b),
        Some((a, b)) => {
            return Err(Error::invalid(format!(
                "histogram range [{a}, {b}] is not an increasing finite pair"
            )))
        }
        None if lo > hi => (0.0, 1.0),
        None if lo == hi => (lo - 0.5, hi + 0.5),
        None => (lo, hi),
    };
    let width = (hi - lo) / bins as f64;
    let edges: Vec<f64> = (0..=bins)
        .map(|i| if i == bins { hi } else { lo + width * i as f64 })
        .collect();
    let mut counts = vec![0i64; bins];
    for &v in values {
        if v.is_finite() && v >= lo && v <= hi {
            let i = (((v - lo) / width) as usize).min(bins - 1);
            counts[i] += 1;
        }
    }
    Ok(Bins {
        edges,
        counts,
        nan,
        posinf,
        neginf,
    })
}

/// Encode raw 8-bit pixels (1 to 4 channels, row-major) as PNG.
pub fn encode_png(data: &[u8], width: u32, height: u32, channels: u32) -> Result<Vec<u8>> {
    let color = match channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        4 => png::ColorType::Rgba,
        c => {
            return Err(Error::invalid(format!(
                "raw pixels with {c} channels (1 to 4 supported)"
            )))
        }
    };
    let expected = width as usize * height as usize * channels as usize;
    if data.len() != expected {
        return Err(Error::invalid(format!(
            "raw pixels: {} bytes for {width}x{height}x{channels} (expected {expected})",
            data.len()
        )));
    }
    let mut out = Vec::with_capacity(expected / 2 + 64);
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc
            .write_header()
            .map_err(|e| Error::invalid(format!("png: {e}")))?;
        w.write_image_data(data)
            .map_err(|e| Error::invalid(format!("png: {e}")))?;
    }
    Ok(out)
}

/// Wrap raw little-endian elements in the .npy v1.0 format (`descr` like `<f4`).
pub fn npy(descr: &str, shape: &[u64], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A gaussian kernel density estimate on a regular grid.
pub struct Density {
    pub grid: Vec<f64>,
    pub density: Vec<f64>,
    pub bandwidth: f64,
}

/// Gaussian KDE of the finite `values` on `points` grid points spanning the data ±3 bandwidths.
/// Bandwidth defaults to Silverman's rule of thumb.
pub fn kernel_density(values: &[f64], points: usize, bandwidth: Option<f64>) -> Result<Density> {
    let xs: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if xs.is_empty() || points < 2 {
        return Err(Error::invalid(
            "kernel density needs finite values and at least 2 points",
        ));
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let bw = match bandwidth {
        Some(b) if b > 0.0 && b.is_finite() => b,
        Some(b) => {
            return Err(Error::invalid(format!(
                "kernel density bandwidth {b} must be positive"
            )))
        }
        None => {
            let b = 1.06 * std * n.powf(-0.2);
            if b > 0.0 {
                b
            } else {
                1.0
            }
        }
    };
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min) - 3.0 * bw;
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 3.0 * bw;
    let step = (hi - lo) / (points - 1) as f64;
    let norm = 1.0 / (n * bw * (2.0 * std::f64::consts::PI).sqrt());
    let grid: Vec<f64> = (0..points).map(|i| lo + step * i as f64).collect();
    let density = grid
        .iter()
        .map(|&g| {
            xs.iter()
                .map(|&x| (-0.5 * ((g - x) / bw).powi(2)).exp())
                .sum::<f64>()
                * norm
        })
        .collect();
    Ok(Density {
        grid,
        density,
        bandwidth: bw,
    })
}

/// Hex SHA-256 of content: the media key, so equal bytes are stored once.
pub fn content_hash(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Guess an image/video/audio container from its first bytes.
pub fn sniff_format(data: &[u8]) -> &'static str {
    match data {
        [0x89, b'P', b'N', b'G', ..] => "png",
        [0xFF, 0xD8, 0xFF, ..] => "jpg",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E', ..] => "wav",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "mp4",
        [0x1A, 0x45, 0xDF, 0xA3, ..] => "webm",
        [b'O', b'g', b'g', b'S', ..] => "ogg",
        [b'I', b'D', b'3', ..] | [0xFF, 0xFB, ..] => "mp3",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_special_values_and_keeps_edges() {
        let v = [
            0.0,
            1.0,
            2.0,
            3.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            4.0,
        ];
        let b = histogram(&v, 4, None).unwrap();
        assert_eq!(b.edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(b.counts, vec![1, 1, 1, 2]);
        assert_eq!((b.nan, b.posinf, b.neginf), (1, 1, 1));
        let r = histogram(&[-5.0, 0.5], 2, Some((0.0, 1.0))).unwrap();
        assert_eq!(r.counts, vec![0, 1]);
    }

    #[test]
    fn png_and_npy_have_their_magic() {
        let p = encode_png(&[0u8; 2 * 2 * 3], 2, 2, 3).unwrap();
        assert_eq!(sniff_format(&p), "png");
        assert!(encode_png(&[0u8; 5], 2, 2, 3).is_err());
        let n = npy("<f8", &[2], &[0u8; 16]);
        assert_eq!(&n[..6], b"\x93NUMPY");
        assert_eq!((n.len() - 16) % 64, 0);
    }

    #[test]
    fn density_integrates_to_about_one() {
        let d = kernel_density(&[0.0, 1.0, 2.0, 1.5], 256, None).unwrap();
        let step = d.grid[1] - d.grid[0];
        let area: f64 = d.density.iter().sum::<f64>() * step;
        assert!((area - 1.0).abs() < 0.02, "{area}");
    }
}
