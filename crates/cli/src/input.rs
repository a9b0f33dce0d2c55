//! Parsing `--input` arguments into guest input buffers.
//!
//! Each argument becomes one buffer the guest reads with HINT_LEN/HINT_READ.
//! Typed forms are bincode-encoded the way SP1 guests decode them.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// The accepted forms, for help texts.
pub const INPUT_FORMS: &str =
    "u32:N, u64:N, hex:BYTES, str:TEXT, @FILE (raw bytes), vec@FILE (bincode Vec<u8>)";

/// Parses one `--input` value.
pub fn parse_input(spec: &str) -> Result<Vec<u8>> {
    if let Some(v) = spec.strip_prefix("u32:") {
        let n = parse_int(v).with_context(|| format!("--input {spec}: not a u32"))?;
        let n =
            u32::try_from(n).with_context(|| format!("--input {spec}: does not fit in a u32"))?;
        Ok(n.to_le_bytes().to_vec())
    } else if let Some(v) = spec.strip_prefix("u64:") {
        let n = parse_int(v).with_context(|| format!("--input {spec}: not a u64"))?;
        Ok(n.to_le_bytes().to_vec())
    } else if let Some(v) = spec.strip_prefix("hex:") {
        let v = v.strip_prefix("0x").unwrap_or(v);
        hex::decode(v).with_context(|| format!("--input {spec}: not valid hex"))
    } else if let Some(v) = spec.strip_prefix("str:") {
        Ok(v.as_bytes().to_vec())
    } else if let Some(path) = spec.strip_prefix("vec@") {
        Ok(cloak_vm::input::vec_u8(&read(path)?))
    } else if let Some(path) = spec.strip_prefix('@') {
        read(path)
    } else {
        bail!("--input {spec}: unknown form; use one of {INPUT_FORMS}")
    }
}

fn parse_int(v: &str) -> Result<u64> {
    let v = v.replace('_', "");
    Ok(match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16)?,
        None => v.parse()?,
    })
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(Path::new(path)).with_context(|| format!("reading input file {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_inputs_are_bincode() {
        assert_eq!(parse_input("u32:7").unwrap(), vec![7, 0, 0, 0]);
        assert_eq!(parse_input("u32:0x100").unwrap(), vec![0, 1, 0, 0]);
        assert_eq!(
            parse_input("u64:1_000").unwrap(),
            1000u64.to_le_bytes().to_vec()
        );
        assert_eq!(parse_input("hex:0xdead").unwrap(), vec![0xde, 0xad]);
        assert_eq!(parse_input("str:abc").unwrap(), b"abc".to_vec());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("in.bin");
        std::fs::write(&f, b"xyz").unwrap();
        assert_eq!(
            parse_input(&format!("@{}", f.display())).unwrap(),
            b"xyz".to_vec()
        );
        assert_eq!(
            parse_input(&format!("vec@{}", f.display())).unwrap(),
            [&3u64.to_le_bytes()[..], b"xyz"].concat()
        );
    }

    #[test]
    fn bad_inputs_say_what_is_wrong() {
        for (spec, needle) in [
            ("u32:4294967296", "does not fit"),
            ("u32:x", "not a u32"),
            ("hex:abc", "not valid hex"),
            ("float:1.0", "unknown form"),
            ("@/nonexistent/file", "reading input file"),
        ] {
            let err = format!("{:#}", parse_input(spec).unwrap_err());
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }
}
