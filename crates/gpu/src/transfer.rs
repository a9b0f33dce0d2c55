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
//! Secure copies are serialized per GPU and block the caller, as measured
//! for the CC driver (Yin and Wang, "The Serialized Bridge", 2026:
//! within a context, secure copies gain nothing from several CUDA streams,
//! and asynchronous copies block at the runtime boundary). So the emulation
//! has one cipher and bounce buffer per GPU, for both directions, taken a
//! chunk at a time in the order asked for (a big copy from one thread and a
//! small one from another interleave by chunk, as copies issued a chunk at a
//! time would queue on the channel), and in CC
//! mode an upload on the compute stream first waits for the work queued
//! there, as a blocking stream-ordered copy does.
//!
//! Uploads of a shard's traces are made by the thread that generated them
//! (on a stream of their own, [`GpuContext::upload_staged`](crate::GpuContext::upload_staged)), so their
//! encryption overlaps the GPU's work on earlier shards. The prover's own
//! copies during a proof (transcript data down, a few small tables up) are
//! what remains on the GPU's critical path; keeping their number small is
//! what keeps CC mode cheap.
//!
//! Without the emulation, uploads on the compute stream are asynchronous,
//! as `cudaMemcpyAsync` from pageable memory is: the data are staged on the
//! calling thread, and the copy runs in stream order without the host
//! waiting for the GPU. Their time is that host-side part.
//!
//! The encryption is ring's AES-256-GCM (BoringSSL's assembly with AES-NI,
//! VAES and carry-less multiplication, ~7 GB/s a core on the 2-core box),
//! standing for the optimized implementation a production driver uses; the
//! driver's own is not published. `CLOAK_CC_CIPHER=rustcrypto` runs
//! RustCrypto's `aes-gcm` instead (~1.2 GB/s on the same box), what stops
//! 12 to 14 used, for comparison.
//!
//! The device still receives the plaintext (the copy engine's decryption is
//! not emulated), so proofs are unchanged. What it leaves out: the copy
//! engine's own AES throughput and its overlap with the CPU's (the emulation
//! runs encryption and copy one after the other, so it overstates a driver
//! that pipelines them); any fixed cost per copy beyond the encryption (the
//! paper above measures one for small copies on Blackwell, but gives no
//! Hopper figure to charge); the bounce buffer being unpinned shared memory; the
//! encrypted, signed command and kernel-launch path; the one-time session
//! key exchange (SPDM) and attestation. On a GPU really in CC mode the
//! driver does all of this itself and the mode is [`TransferMode::Plain`]
//! (see `cloak bench --tee-overhead`, which says which it ran).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
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

/// Which AES-256-GCM implementation the emulation runs. The driver's own is
/// not published; an optimized one is what a production driver would use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CcCipher {
    /// ring's (BoringSSL's assembly: AES-NI, VAES and carry-less
    /// multiplication), about 7 GB/s a core on the 2-core box: the default.
    Ring,
    /// RustCrypto's `aes-gcm`, about 1.2 GB/s a core on the same box
    /// (`CLOAK_CC_CIPHER=rustcrypto`), for comparison with earlier runs.
    RustCrypto,
}

impl CcCipher {
    /// The implementation `CLOAK_CC_CIPHER` names (`ring`, the default, or
    /// `rustcrypto`).
    pub fn from_env() -> Self {
        match std::env::var("CLOAK_CC_CIPHER").as_deref() {
            Ok("rustcrypto") => CcCipher::RustCrypto,
            _ => CcCipher::Ring,
        }
    }
}

enum Sealer {
    Ring(Box<ring::aead::LessSafeKey>),
    RustCrypto(Box<Aes256Gcm>),
}

/// The CPU half of CC mode's transfer encryption: the cipher, the nonce
/// counter and the staging buffer.
struct CcCrypt {
    sealer: Sealer,
    counter: u64,
    staging: Vec<u8>,
}

impl CcCrypt {
    fn new(cipher: CcCipher) -> Self {
        // The key's value does not change the cost; a real session key comes
        // from the SPDM exchange between driver and GPU.
        let key = [0x5a_u8; 32];
        let sealer = match cipher {
            CcCipher::Ring => Sealer::Ring(Box::new(ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &key)
                    .expect("a 32-byte AES-256 key"),
            ))),
            CcCipher::RustCrypto => Sealer::RustCrypto(Box::new(Aes256Gcm::new(&key.into()))),
        };
        Self {
            sealer,
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
        match &self.sealer {
            Sealer::Ring(key) => {
                let tag = key
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(nonce),
                        ring::aead::Aad::empty(),
                        buf,
                    )
                    .expect("AES-GCM accepts any chunk below 64 GiB");
                let _ = std::hint::black_box(tag);
            }
            Sealer::RustCrypto(cipher) => {
                let tag = cipher
                    .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", buf)
                    .expect("AES-GCM accepts any chunk below 64 GiB");
                std::hint::black_box(tag);
            }
        }
        std::hint::black_box(&self.staging);
    }
}

/// Which way a copy goes (for the counts; both share the one cipher).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    HostToDevice,
    DeviceToHost,
}

/// Turns on the secure channel, first come first served: a copy queues
/// behind the chunks asked for before it, as copies queue on a channel.
#[derive(Default)]
struct Turns {
    /// (next ticket to hand out, ticket being served)
    queue: Mutex<(u64, u64)>,
    served: Condvar,
}

impl Turns {
    fn wait_turn(&self) {
        let mut q = self.queue.lock().expect("channel queue poisoned");
        let ticket = q.0;
        q.0 += 1;
        while q.1 != ticket {
            q = self.served.wait(q).expect("channel queue poisoned");
        }
    }

    fn end_turn(&self) {
        let mut q = self.queue.lock().expect("channel queue poisoned");
        q.1 += 1;
        self.served.notify_all();
    }
}

/// The transfer log of one [`crate::GpuContext`].
pub(crate) struct Transfers {
    mode: Mutex<TransferMode>,
    /// The GPU's one secure channel: whose turn it is, its cipher and
    /// bounce buffer (held only by the thread whose turn it is).
    turns: Turns,
    crypt: Mutex<Option<CcCrypt>>,
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
            turns: Turns::default(),
            crypt: Mutex::new(None),
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
        // Both directions and every thread share the channel, a chunk at a
        // time, in the order asked for. Only the encryption is timed, not
        // the wait for a turn.
        let _ = direction;
        let mut t = Duration::ZERO;
        for chunk in bytes.chunks(CC_CHUNK) {
            self.turns.wait_turn();
            let start = Instant::now();
            self.crypt
                .lock()
                .expect("transfer cipher poisoned")
                .get_or_insert_with(|| CcCrypt::new(CcCipher::from_env()))
                .seal_chunk(chunk);
            t += start.elapsed();
            self.turns.end_turn();
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
        let nonces = || t.crypt.lock().unwrap().as_ref().map(|c| c.counter);
        assert_eq!(nonces(), None);
        t.set_mode(TransferMode::CcEmulated);
        assert!(t.crypt(Direction::DeviceToHost, bytes_of(&data)) > Duration::ZERO);
        // Three chunks of 1 MiB and one partial: four nonces used. Uploads
        // go through the same channel and go on counting.
        assert_eq!(nonces(), Some(4));
        t.crypt(Direction::HostToDevice, bytes_of(&data[..10]));
        assert_eq!(nonces(), Some(5));
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
    fn threads_take_turns_on_the_channel_chunk_by_chunk() {
        let t = Transfers::new();
        t.set_mode(TransferMode::CcEmulated);
        let data = vec![1u8; 2 * CC_CHUNK + 1];
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| t.crypt(Direction::HostToDevice, &data));
            }
        });
        // Every chunk of every thread got its turn and a nonce of its own.
        let q = t.turns.queue.lock().unwrap();
        assert_eq!(*q, (12, 12));
        assert_eq!(
            t.crypt.lock().unwrap().as_ref().map(|c| c.counter),
            Some(12)
        );
    }

    #[test]
    fn staging_holds_ciphertext_not_plaintext() {
        for cipher in [CcCipher::Ring, CcCipher::RustCrypto] {
            let mut c = CcCrypt::new(cipher);
            let data = vec![0u8; 4096];
            c.seal_chunk(&data);
            assert!(c.staging[..4096].iter().any(|&b| b != 0));
            // Both implement the same cipher: the same key and nonce give
            // the same ciphertext.
            let mut other = CcCrypt::new(CcCipher::RustCrypto);
            other.seal_chunk(&data);
            assert_eq!(c.staging[..4096], other.staging[..4096]);
        }
    }
}
