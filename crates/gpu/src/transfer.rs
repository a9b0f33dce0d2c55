//! Host-device transfers: counted, timed, and optionally put through the
//! encryption that NVIDIA's confidential-computing (CC) mode adds.
//!
//! Every copy between host and device goes through [`GpuContext::upload`](crate::GpuContext::upload),
//! [`GpuContext::download`](crate::GpuContext::download) or [`GpuContext::download_into`](crate::GpuContext::download_into), which record
//! bytes and wall time here. That is the figure the TEE's cost follows: in
//! CC mode each byte crossing the bus is encrypted on one side and
//! decrypted on the other.
//!
//! ## The CC emulation ([`TransferMode::CcEmulated`])
//!
//! On a Hopper GPU in CC mode, the driver in the confidential VM cannot let
//! the GPU read or write the VM's private memory. A host-to-device copy is
//! encrypted by the driver with AES-256-GCM, on the CPU, into a bounce buffer
//! in shared memory; the GPU's copy engine reads it and decrypts it into
//! protected GPU memory. A device-to-host copy is the reverse: the copy
//! engine encrypts into the bounce buffer, the CPU decrypts into private
//! memory. The emulation charges each transfer the CPU side of that, for
//! real, on the calling thread as the driver does:
//!
//! * host → device: the data are copied chunk by chunk (1 MiB) into a
//!   staging buffer and encrypted there with AES-256-GCM (a fresh 96-bit
//!   counter nonce per chunk, a 16-byte tag each), then copied to the device;
//! * device → host: the data are copied from the device, then each chunk is
//!   copied into the staging buffer and put through AES-256-GCM, which costs
//!   what decrypting it does (CTR keystream plus GHASH over the chunk).
//!
//! Uploads of a shard's traces are made by the thread that generated them
//! (on a stream of their own, [`GpuContext::upload_staged`](crate::GpuContext::upload_staged)), so there,
//! as with the driver, their encryption overlaps the GPU's work on earlier
//! shards; one cipher per GPU and direction makes threads copying the same
//! way take turns, a chunk at a time.
//!
//! The device still receives the plaintext (the copy engine's decryption is
//! not emulated), so proofs are unchanged. What it leaves out: the copy
//! engine's own AES throughput and its overlap with the CPU's (the emulation
//! runs encryption and copy one after the other, so it overstates a driver
//! that pipelines them); the bounce buffer being unpinned shared memory; the
//! encrypted, signed command and kernel-launch path; the one-time session
//! key exchange (SPDM) and attestation. On a GPU really in CC mode the
//! driver does all of this itself and the mode is [`TransferMode::Plain`]
//! (see `cloak bench --tee-overhead`, which says which it ran).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

/// Size of one encrypted chunk (the bounce-buffer unit).
pub const CC_CHUNK: usize = 1 << 20;

/// How host-device copies are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferMode {
    /// Plain copies (or, on a GPU in CC mode, whatever the driver does).
    Plain,
    /// Every copy is also encrypted on the CPU as CC mode's driver does.
    CcEmulated,
}

/// Bytes and wall time of the copies made so far, by direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferTotals {
    pub h2d_bytes: u64,
    pub d2h_bytes: u64,
    pub h2d_time: Duration,
    pub d2h_time: Duration,
    /// The part of the times above spent in the CC emulation's AES-GCM.
    pub crypt_time: Duration,
    /// Number of copies.
    pub h2d_count: u64,
    pub d2h_count: u64,
}

impl TransferTotals {
    /// Both counts together (several devices' copies).
    pub fn plus(&self, o: &TransferTotals) -> TransferTotals {
        TransferTotals {
            h2d_bytes: self.h2d_bytes + o.h2d_bytes,
            d2h_bytes: self.d2h_bytes + o.d2h_bytes,
            h2d_time: self.h2d_time + o.h2d_time,
            d2h_time: self.d2h_time + o.d2h_time,
            crypt_time: self.crypt_time + o.crypt_time,
            h2d_count: self.h2d_count + o.h2d_count,
            d2h_count: self.d2h_count + o.d2h_count,
        }
    }

    /// The counts accumulated between `earlier` and `self`.
    pub fn since(&self, earlier: &TransferTotals) -> TransferTotals {
        TransferTotals {
            h2d_bytes: self.h2d_bytes - earlier.h2d_bytes,
            d2h_bytes: self.d2h_bytes - earlier.d2h_bytes,
            h2d_time: self.h2d_time.saturating_sub(earlier.h2d_time),
            d2h_time: self.d2h_time.saturating_sub(earlier.d2h_time),
            crypt_time: self.crypt_time.saturating_sub(earlier.crypt_time),
            h2d_count: self.h2d_count - earlier.h2d_count,
            d2h_count: self.d2h_count - earlier.d2h_count,
        }
    }
}

/// The CPU half of CC mode's transfer encryption: the cipher, the nonce
/// counter and the staging buffer.
struct CcCrypt {
    cipher: Aes256Gcm,
    counter: u64,
    staging: Vec<u8>,
}

impl CcCrypt {
    fn new() -> Self {
        // The key's value does not change the cost; a real session key comes
        // from the SPDM exchange between driver and GPU.
        let key = [0x5a_u8; 32];
        Self {
            cipher: Aes256Gcm::new(&key.into()),
            counter: 0,
            staging: vec![0; CC_CHUNK],
        }
    }

    /// Copies one chunk (at most [`CC_CHUNK`] bytes) into the staging
    /// buffer and encrypts it in place under a fresh nonce.
    fn seal_chunk(&mut self, chunk: &[u8]) {
        let buf = &mut self.staging[..chunk.len()];
        buf.copy_from_slice(chunk);
        self.counter += 1;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.counter.to_be_bytes());
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", buf)
            .expect("AES-GCM accepts any chunk below 64 GiB");
        std::hint::black_box(tag);
        std::hint::black_box(&self.staging);
    }
}

/// Which way a copy goes (each has its own cipher and bounce buffer, as the
/// driver keys each direction of a channel apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    HostToDevice,
    DeviceToHost,
}

/// The transfer log of one [`crate::GpuContext`].
pub(crate) struct Transfers {
    mode: Mutex<TransferMode>,
    /// One cipher and bounce buffer per direction.
    crypt: [Mutex<Option<CcCrypt>>; 2],
    h2d_bytes: AtomicU64,
    d2h_bytes: AtomicU64,
    h2d_ns: AtomicU64,
    d2h_ns: AtomicU64,
    crypt_ns: AtomicU64,
    h2d_count: AtomicU64,
    d2h_count: AtomicU64,
}

impl Transfers {
    pub(crate) fn new() -> Self {
        Self {
            mode: Mutex::new(TransferMode::Plain),
            crypt: [Mutex::new(None), Mutex::new(None)],
            h2d_bytes: AtomicU64::new(0),
            d2h_bytes: AtomicU64::new(0),
            h2d_ns: AtomicU64::new(0),
            d2h_ns: AtomicU64::new(0),
            crypt_ns: AtomicU64::new(0),
            h2d_count: AtomicU64::new(0),
            d2h_count: AtomicU64::new(0),
        }
    }

    pub(crate) fn mode(&self) -> TransferMode {
        *self.mode.lock().expect("transfer mode poisoned")
    }

    pub(crate) fn set_mode(&self, mode: TransferMode) {
        *self.mode.lock().expect("transfer mode poisoned") = mode;
    }

    /// Runs the CC emulation's encryption of `bytes` if it is on; returns
    /// the time it took.
    pub(crate) fn crypt(&self, direction: Direction, bytes: &[u8]) -> Duration {
        if self.mode() != TransferMode::CcEmulated {
            return Duration::ZERO;
        }
        // One bounce buffer per direction and GPU, taken a chunk at a time:
        // threads copying the same way to the same GPU take turns chunk by
        // chunk. Only the encryption is timed, not the wait for a turn.
        let cipher = &self.crypt[direction as usize];
        let mut t = Duration::ZERO;
        for chunk in bytes.chunks(CC_CHUNK) {
            let mut crypt = cipher.lock().expect("transfer cipher poisoned");
            let start = Instant::now();
            crypt.get_or_insert_with(CcCrypt::new).seal_chunk(chunk);
            t += start.elapsed();
        }
        self.crypt_ns
            .fetch_add(t.as_nanos() as u64, Ordering::Relaxed);
        t
    }

    pub(crate) fn record_h2d(&self, bytes: usize, time: Duration) {
        self.h2d_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.h2d_ns
            .fetch_add(time.as_nanos() as u64, Ordering::Relaxed);
        self.h2d_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_d2h(&self, bytes: usize, time: Duration) {
        self.d2h_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.d2h_ns
            .fetch_add(time.as_nanos() as u64, Ordering::Relaxed);
        self.d2h_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn totals(&self) -> TransferTotals {
        let ns = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        TransferTotals {
            h2d_bytes: self.h2d_bytes.load(Ordering::Relaxed),
            d2h_bytes: self.d2h_bytes.load(Ordering::Relaxed),
            h2d_time: ns(&self.h2d_ns),
            d2h_time: ns(&self.d2h_ns),
            crypt_time: ns(&self.crypt_ns),
            h2d_count: self.h2d_count.load(Ordering::Relaxed),
            d2h_count: self.d2h_count.load(Ordering::Relaxed),
        }
    }
}

/// The bytes of a slice of plain data, for the cipher.
pub(crate) fn bytes_of<T: cudarc::driver::DeviceRepr>(data: &[T]) -> &[u8] {
    // SAFETY: a `DeviceRepr` type is plain data copied to the device byte for
    // byte (here u32/u64 words); every byte of an initialized slice is readable.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulation_encrypts_only_when_on_and_counts() {
        let t = Transfers::new();
        let data = vec![7u32; 3 * CC_CHUNK / 4 + 5];
        assert_eq!(
            t.crypt(Direction::HostToDevice, bytes_of(&data)),
            Duration::ZERO
        );
        t.set_mode(TransferMode::CcEmulated);
        assert!(t.crypt(Direction::DeviceToHost, bytes_of(&data)) > Duration::ZERO);
        // Three chunks of 1 MiB and one partial: four nonces used, all by
        // the device-to-host cipher.
        let nonces = |d: Direction| {
            t.crypt[d as usize]
                .lock()
                .unwrap()
                .as_ref()
                .map(|c| c.counter)
        };
        assert_eq!(nonces(Direction::DeviceToHost), Some(4));
        assert_eq!(nonces(Direction::HostToDevice), None);
        t.record_h2d(12, Duration::from_millis(2));
        t.record_d2h(4, Duration::from_millis(1));
        let a = t.totals();
        assert_eq!(
            (a.h2d_bytes, a.d2h_bytes, a.h2d_count, a.d2h_count),
            (12, 4, 1, 1)
        );
        assert!(a.crypt_time > Duration::ZERO);
        t.record_h2d(8, Duration::from_millis(1));
        let d = t.totals().since(&a);
        assert_eq!((d.h2d_bytes, d.h2d_count, d.d2h_bytes), (8, 1, 0));
        assert_eq!(d.h2d_time, Duration::from_millis(1));
    }

    #[test]
    fn staging_holds_ciphertext_not_plaintext() {
        let mut c = CcCrypt::new();
        let data = vec![0u8; 4096];
        c.seal_chunk(&data);
        assert!(c.staging[..4096].iter().any(|&b| b != 0));
    }
}
