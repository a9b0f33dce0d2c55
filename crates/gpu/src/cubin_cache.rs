//! A disk cache of NVRTC's CUBINs, so that only the first process on a
//! machine pays for compiling the kernels (70-95 s for every table's
//! quotient kernels on a fresh 16-core device machine, a few seconds on one
//! where NVRTC has run before: BENCHMARKS.md, stop 23).
//!
//! The key is SHA-256 of everything the CUBIN depends on: the full source
//! (field.cuh included), the compiler options, the target architecture and
//! NVRTC's version. A file holds SHA-256 of the CUBIN, then the CUBIN; one
//! that is short, or whose checksum is wrong, is ignored and rewritten, so a
//! torn or corrupted file costs a compile, never a bad module. Files are
//! written to a temporary name and renamed, so concurrent processes never
//! read a half-written one.
//!
//! Where: `$CLOAK_CUBIN_CACHE` if set (`off` disables the cache), else
//! `$XDG_CACHE_HOME/cloak/cubin`, else `$HOME/.cache/cloak/cubin`. A cache
//! directory that cannot be created or written only disables caching.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The cache directory, or None where caching is off or there is no home.
pub fn dir() -> Option<PathBuf> {
    match std::env::var_os("CLOAK_CUBIN_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .map(|base| base.join("cloak").join("cubin")),
    }
}

/// The cache key of a compilation: hex SHA-256 of its inputs.
pub fn key(source: &str, options: &[String], arch: (i32, i32), nvrtc: (i32, i32)) -> String {
    let mut h = Sha256::new();
    h.update(b"cloak-cubin-v1\0");
    h.update(format!(
        "sm_{}{}\0nvrtc {}.{}\0",
        arch.0, arch.1, nvrtc.0, nvrtc.1
    ));
    for o in options {
        h.update(o.as_bytes());
        h.update(b"\0");
    }
    h.update(source.as_bytes());
    hex::encode(h.finalize())
}

/// The cached CUBIN under `key` in `dir`, if present and intact.
pub fn load(dir: &Path, key: &str) -> Option<Vec<u8>> {
    let bytes = std::fs::read(dir.join(format!("{key}.cubin"))).ok()?;
    if bytes.len() <= 32 {
        return None;
    }
    let (sum, cubin) = bytes.split_at(32);
    (Sha256::digest(cubin).as_slice() == sum).then(|| cubin.to_vec())
}

/// Stores `cubin` under `key` in `dir`; any failure only means no caching.
pub fn store(dir: &Path, key: &str, cubin: &[u8]) {
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
    let mut bytes = Sha256::digest(cubin).to_vec();
    bytes.extend_from_slice(cubin);
    if std::fs::write(&tmp, &bytes).is_ok() {
        if std::fs::rename(&tmp, dir.join(format!("{key}.cubin"))).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cloak-cubin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn round_trip_and_corruption_is_a_miss() {
        let d = tempdir("rt");
        let k = key("src", &["-O3".into()], (9, 0), (13, 0));
        assert_eq!(load(&d, &k), None);
        store(&d, &k, b"machine code");
        assert_eq!(load(&d, &k).as_deref(), Some(&b"machine code"[..]));
        // Flip one byte of the CUBIN: the checksum no longer matches.
        let path = d.join(format!("{k}.cubin"));
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(load(&d, &k), None);
        // A truncated file is a miss too.
        std::fs::write(&path, &bytes[..20]).unwrap();
        assert_eq!(load(&d, &k), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn key_covers_every_input() {
        let base = key("src", &["a".into()], (9, 0), (13, 0));
        assert_ne!(base, key("src2", &["a".into()], (9, 0), (13, 0)));
        assert_ne!(base, key("src", &["b".into()], (9, 0), (13, 0)));
        assert_ne!(base, key("src", &["a".into()], (10, 0), (13, 0)));
        assert_ne!(base, key("src", &["a".into()], (9, 0), (13, 1)));
        // Option boundaries matter: ["ab"] is not ["a", "b"].
        assert_ne!(
            key("s", &["ab".into()], (9, 0), (13, 0)),
            key("s", &["a".into(), "b".into()], (9, 0), (13, 0))
        );
    }
}
