//! The five text encodings of `str` dtypes. Characters an encoding cannot hold are an error
//! (never replaced by `?`), and bytes that are not valid text on read are corruption.

use super::dtype::Encoding;

pub fn encode(s: &str, enc: Encoding) -> Result<Vec<u8>, String> {
    match enc {
        Encoding::Utf8 => Ok(s.as_bytes().to_vec()),
        Encoding::Utf16Le => Ok(s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()),
        Encoding::Utf16Be => Ok(s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()),
        Encoding::Ascii => match s.chars().find(|c| !c.is_ascii()) {
            Some(c) => Err(format!("character {c:?} is not ASCII")),
            None => Ok(s.as_bytes().to_vec()),
        },
        Encoding::Latin1 => s
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c)).map_err(|_| format!("character {c:?} is not Latin-1"))
            })
            .collect(),
    }
}

pub fn decode(b: &[u8], enc: Encoding) -> Result<String, String> {
    let units = |be: bool| -> Result<String, String> {
        if !b.len().is_multiple_of(2) {
            return Err(format!("{} bytes cannot be UTF-16", b.len()));
        }
        let u: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if be {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&u).map_err(|e| e.to_string())
    };
    match enc {
        Encoding::Utf8 => String::from_utf8(b.to_vec()).map_err(|e| e.to_string()),
        Encoding::Utf16Le => units(false),
        Encoding::Utf16Be => units(true),
        Encoding::Ascii => match b.iter().position(|x| !x.is_ascii()) {
            Some(p) => Err(format!("byte {p} is not ASCII")),
            None => Ok(b.iter().map(|&x| x as char).collect()),
        },
        Encoding::Latin1 => Ok(b.iter().map(|&x| x as char).collect()),
    }
}
