//! The plaintext inside an input envelope: (u64 LE length, bytes) records, one
//! per guest input buffer (as `cloak encrypt-input` writes them).

/// Packs input buffers.
pub fn pack_inputs(inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for buf in inputs {
        out.extend_from_slice(&(buf.len() as u64).to_le_bytes());
        out.extend_from_slice(buf);
    }
    out
}

/// Splits packed inputs back into buffers.
pub fn unpack_inputs(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 8 {
            return Err(format!(
                "input record {}: {} trailing bytes, not a u64 length",
                out.len(),
                bytes.len()
            ));
        }
        let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        bytes = &bytes[8..];
        if len > bytes.len() as u64 {
            return Err(format!(
                "input record {} claims {len} bytes but only {} remain",
                out.len(),
                bytes.len()
            ));
        }
        let (buf, rest) = bytes.split_at(len as usize);
        out.push(buf.to_vec());
        bytes = rest;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let bufs = vec![vec![1, 2, 3], vec![], vec![9; 20]];
        assert_eq!(unpack_inputs(&pack_inputs(&bufs)).unwrap(), bufs);
        assert_eq!(unpack_inputs(&[]).unwrap(), Vec::<Vec<u8>>::new());
        assert!(unpack_inputs(&[1, 2, 3]).is_err());
        let mut bad = pack_inputs(&[vec![1, 2]]);
        bad[0] = 9;
        assert!(unpack_inputs(&bad).is_err());
    }
}
