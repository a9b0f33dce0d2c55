//! Limits on what one request may ask for.

/// Request limits; violations answer 4xx with a message naming the limit.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest ELF `POST /v1/programs` accepts.
    pub max_elf_bytes: usize,
    /// Largest plaintext input (all buffers with their length prefixes).
    pub max_input_bytes: usize,
    /// Most cycles a job may run; a job's `max_cycles` may only lower it.
    pub max_cycles: u64,
    /// Most jobs queued or running at once; more answer 429.
    pub max_queue: usize,
    /// Largest shard a job may ask for.
    pub max_shard_cycles: u64,
    /// Smallest shard a job may ask for.
    pub min_shard_cycles: u64,
    /// Most memory a guest may touch.
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_elf_bytes: 16 << 20,
            max_input_bytes: 16 << 20,
            max_cycles: 1 << 30,
            max_queue: 64,
            max_shard_cycles: 1 << 21,
            min_shard_cycles: 1 << 10,
            max_memory_bytes: 1 << 30,
        }
    }
}

impl Limits {
    /// The largest `POST /v1/jobs` body: the hex ciphertext plus JSON overhead.
    pub fn max_job_body_bytes(&self) -> usize {
        self.max_input_bytes
            .saturating_mul(2)
            .saturating_add(64 << 10)
    }
}
