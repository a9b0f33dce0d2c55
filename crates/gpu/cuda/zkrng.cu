// The hiding PCS's random draws on the GPU, exactly as the host's
// sequential draws (`rng.random::<KoalaBear>()` from one ChaCha20Rng,
// chacha20 0.10): keystream word k of the stream is word k % 16 of the
// ChaCha20 block with 64-bit counter k / 16 and 64-bit stream id; a draw is
// `word >> 1`, kept if below p (its Montgomery word, as p3-monty-31 samples).
//
// Over a window of the keystream starting at absolute word `first`, cut
// into its ChaCha20 blocks (one thread each; the first block's words before
// `first` are skipped): zk_count counts each block's accepted words, the scan below turns the counts into offsets
// and the total, zk_scatter writes each accepted word to its draw index
// below n and reports where the n-th one ended. Threads share nothing but
// zk_scatter's staging in shared memory, which the host emulation (emu/,
// threads one after another) replaces by direct writes.

__device__ __forceinline__ u32 zk_rotl(u32 x, int n) { return (x << n) | (x >> (32 - n)); }

#define ZK_QR(a, b, c, d)                      \
    a += b; d ^= a; d = zk_rotl(d, 16);        \
    c += d; b ^= c; b = zk_rotl(b, 12);        \
    a += b; d ^= a; d = zk_rotl(d, 8);         \
    c += d; b ^= c; b = zk_rotl(b, 7);

struct zk_key {
    u32 k[8];
    u64 stream;
};

// The 16 keystream words of block `counter`.
__device__ __forceinline__ void zk_block(const zk_key& key, u64 counter, u32 out[16]) {
    u32 s[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u,
                 key.k[0], key.k[1], key.k[2], key.k[3],
                 key.k[4], key.k[5], key.k[6], key.k[7],
                 (u32)counter, (u32)(counter >> 32), (u32)key.stream, (u32)(key.stream >> 32)};
    u32 x[16];
#pragma unroll
    for (int i = 0; i < 16; i++) x[i] = s[i];
#pragma unroll 1
    for (int r = 0; r < 10; r++) {
        ZK_QR(x[0], x[4], x[8], x[12]);
        ZK_QR(x[1], x[5], x[9], x[13]);
        ZK_QR(x[2], x[6], x[10], x[14]);
        ZK_QR(x[3], x[7], x[11], x[15]);
        ZK_QR(x[0], x[5], x[10], x[15]);
        ZK_QR(x[1], x[6], x[11], x[12]);
        ZK_QR(x[2], x[7], x[8], x[13]);
        ZK_QR(x[3], x[4], x[9], x[14]);
    }
#pragma unroll
    for (int i = 0; i < 16; i++) out[i] = x[i] + s[i];
}

// Walks the words of keystream block `first / 16 + t` that are at or past
// `first`, calling f(word - first, candidate) for each in order; f returns
// false to stop. A thread takes one whole block, indexed by constants, so
// the block stays in registers: a segment that straddled two blocks was
// indexed by the word and kept in local memory.
template <class F>
__device__ __forceinline__ void zk_walk(const zk_key& key, u64 first, u64 t, F f) {
    const u64 b = (first >> 4) + t;
    u32 buf[16];
    zk_block(key, b, buf);
    const u64 w0 = b << 4;
#pragma unroll
    for (int j = 0; j < 16; j++) {
        const u64 w = w0 + j;
        if (w < first) continue;
        if (!f(w - first, buf[j] >> 1)) return;
    }
}

#define ZK_KEY_PARAMS u32 k0, u32 k1, u32 k2, u32 k3, u32 k4, u32 k5, u32 k6, u32 k7, u64 stream
#define ZK_KEY {{k0, k1, k2, k3, k4, k5, k6, k7}, stream}

extern "C" __global__ void zk_count(ZK_KEY_PARAMS, u64 first, u64 n_segs, u32* counts) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n_segs) return;
    zk_key key = ZK_KEY;
    u32 c = 0;
    zk_walk(key, first, t, [&](u64, u32 x) {
        c += x < KB_P ? 1u : 0u;
        return true;
    });
    counts[t] = c;
}

// The exclusive prefix sum of the counts, share-nothing, in levels of
// groups of ZK_SCAN_GROUP: zk_sum_* sums each group of a level into the
// next, until one level is at most a group long; zk_scan (one thread) turns
// that level into offsets and the total; zk_spread_* writes each level's
// offsets from the next's, down to the counts. A thread's group is loaded
// at once, so it waits for memory once: with groups of 1024 walked one load
// at a time, the scan's three launches took 0.37 ms a draw, mostly latency.
#define ZK_SCAN_GROUP 32

// This thread's group g (values lo .. lo + ZK_SCAN_GROUP, zero past n) into
// v, every load issued before any is used; false if the group is empty.
template <class T>
__device__ __forceinline__ bool zk_load_group(const T* __restrict__ in, u64 n, u64& g, u64& lo,
                                              u64 v[ZK_SCAN_GROUP]) {
    g = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    lo = g * ZK_SCAN_GROUP;
    if (lo >= n) return false;
#pragma unroll
    for (int i = 0; i < ZK_SCAN_GROUP; i++) v[i] = lo + i < n ? (u64)in[lo + i] : 0ull;
    return true;
}

template <class T>
__device__ __forceinline__ void zk_group_sum(const T* __restrict__ in, u64 n,
                                             u64* __restrict__ out) {
    u64 g, lo, v[ZK_SCAN_GROUP];
    if (!zk_load_group(in, n, g, lo, v)) return;
    u64 s = 0;
#pragma unroll
    for (int i = 0; i < ZK_SCAN_GROUP; i++) s += v[i];
    out[g] = s;
}

template <class T>
__device__ __forceinline__ void zk_group_spread(const T* __restrict__ in, u64 n,
                                                const u64* __restrict__ group_offsets,
                                                u64* __restrict__ out) {
    u64 g, lo, v[ZK_SCAN_GROUP];
    if (!zk_load_group(in, n, g, lo, v)) return;
    u64 run = group_offsets[g];
#pragma unroll
    for (int i = 0; i < ZK_SCAN_GROUP; i++) {
        if (lo + i < n) out[lo + i] = run;
        run += v[i];
    }
}

extern "C" __global__ void zk_sum_counts(const u32* __restrict__ counts, u64 n,
                                         u64* __restrict__ sums) {
    zk_group_sum(counts, n, sums);
}

extern "C" __global__ void zk_sum_sums(const u64* __restrict__ in, u64 n, u64* __restrict__ sums) {
    zk_group_sum(in, n, sums);
}

// One thread: the top level (at most a group) becomes exclusive offsets in
// place; total[0] = the sum of all counts.
extern "C" __global__ void zk_scan(u64* sums, u64 len, u64* total) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    u64 run = 0;
    for (u64 g = 0; g < len; g++) {
        u64 s = sums[g];
        sums[g] = run;
        run += s;
    }
    total[0] = run;
}

extern "C" __global__ void zk_spread_sums(const u64* __restrict__ in, u64 n,
                                          const u64* __restrict__ group_offsets,
                                          u64* __restrict__ offsets) {
    zk_group_spread(in, n, group_offsets, offsets);
}

extern "C" __global__ void zk_spread_counts(const u32* __restrict__ counts, u64 n,
                                            const u64* __restrict__ group_offsets,
                                            u64* __restrict__ offsets) {
    zk_group_spread(counts, n, group_offsets, offsets);
}

// Threads a block of zk_scatter (the launch's block size): each stages its
// block's up to 16 draws in shared memory.
#define ZK_SCATTER_BLOCK 128

// draws[i] for i < n; end[0] = the window-relative index just past the
// n-th accepted word (written by the one thread that holds it).
//
// On the device a block's draws are staged in shared memory and written
// out by consecutive threads to consecutive indices: written by each
// thread where it found them, every store of a warp touched 32 lines, and
// the scatter took twice the count's time. The host emulation runs threads
// one after another, so it writes them directly (the same values).
extern "C" __global__ void zk_scatter(ZK_KEY_PARAMS, u64 first, u64 n_segs,
                                      const u64* offsets, u64 n, u32* draws, u64* end) {
    const u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    zk_key key = ZK_KEY;
#ifdef CLOAK_EMU
    if (t >= n_segs) return;
    u64 i = offsets[t];
    if (i >= n) return;
    zk_walk(key, first, t, [&](u64 rel, u32 x) {
        if (x >= KB_P) return true;
        draws[i] = x;
        if (i == n - 1) {
            end[0] = rel + 1;
            return false;
        }
        i++;
        return true;
    });
#else
    // Staged word k at k + k / 16: a thread's about 16 words land in
    // different banks from its neighbours' (unpadded, a warp's stores went
    // to two banks).
    __shared__ u32 staged[ZK_SCATTER_BLOCK * 17];
    __shared__ u64 block_end;
    const u64 t0 = (u64)blockIdx.x * blockDim.x;
    const u64 base = offsets[t0];
    const u64 i = t < n_segs ? offsets[t] : n;
    u64 c = 0;
    if (i < n) {
        zk_walk(key, first, t, [&](u64 rel, u32 x) {
            if (x >= KB_P) return true;
            const u64 k = i - base + c;
            staged[k + (k >> 4)] = x;
            c++;
            if (i + c == n) {
                end[0] = rel + 1;
                return false;
            }
            return true;
        });
    }
    // The block's draws end where its last segment's do.
    const u64 last = t0 + blockDim.x - 1 < n_segs ? t0 + blockDim.x - 1 : n_segs - 1;
    if (t == last) block_end = i + c;
    __syncthreads();
    const u64 stop = block_end < n ? block_end : n;
    for (u64 k = base + threadIdx.x; k < stop; k += blockDim.x) {
        const u64 s = k - base;
        draws[k] = staged[s + (s >> 4)];
    }
#endif
}

// Merkle salts (cloak_prover::salt_rng::SaltRng): salt i (i < n) is
// keystream word first + i, mod p: one word a salt, so no count, scan or
// scatter. Consecutive salts fill up to ZK_SALT_OUTS matrices in one
// launch: salt i goes to the first output k with i < end[k], at i - end[k-1]
// (launched a matrix at a time, 181 launches a one-shard proof took 1.3 ms).
// A thread makes one keystream block; on the device a block's words are
// staged in shared memory and written out by consecutive threads (as
// zk_scatter does), in the emulation directly.
#define ZK_SALT_OUTS 16
struct ZkSaltOuts {
    u32* out[ZK_SALT_OUTS];
    u64 end[ZK_SALT_OUTS];
};

__device__ __forceinline__ void zk_salt_put(const ZkSaltOuts& o, u32 outs, u64 i, u32 v) {
    u32 k = 0;
    while (k + 1 < outs && i >= o.end[k]) k++;
    o.out[k][i - (k == 0 ? 0 : o.end[k - 1])] = v;
}

extern "C" __global__ void zk_salts(ZK_KEY_PARAMS, u64 first, u64 n, u32 outs, ZkSaltOuts o) {
    const u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    const zk_key key = ZK_KEY;
    const u64 b = (first >> 4) + t;
    const u64 w0 = b << 4;
    const u64 stop = first + n;
#ifdef CLOAK_EMU
    if (w0 >= stop) return;
    u32 buf[16];
    zk_block(key, b, buf);
    for (int j = 0; j < 16; j++) {
        const u64 w = w0 + j;
        if (w >= first && w < stop) zk_salt_put(o, outs, w - first, buf[j] % KB_P);
    }
#else
    // A thread's 16 words 17 apart: at 16 apart, a warp's stores went to
    // two banks.
    __shared__ u32 staged[ZK_SCATTER_BLOCK * 17];
    if (w0 < stop) {
        u32 buf[16];
        zk_block(key, b, buf);
#pragma unroll
        for (int j = 0; j < 16; j++) staged[threadIdx.x * 17 + j] = buf[j] % KB_P;
    }
    __syncthreads();
    const u64 block_w0 = ((first >> 4) + (u64)blockIdx.x * blockDim.x) << 4;
    for (u32 k = threadIdx.x; k < blockDim.x * 16; k += blockDim.x) {
        const u64 w = block_w0 + k;
        if (w >= first && w < stop) zk_salt_put(o, outs, w - first, staged[(k >> 4) * 17 + (k & 15)]);
    }
#endif
}

// The hiding PCS's widened trace (vendored p3-fri `masked_trace_lde`): trace
// h x w and the random codewords' values on the trace domain (h x nrc
// draws, row-major) side by side, h x (w + nrc). Block (32, 8): a row per
// threadIdx.y, its columns strided by 32, so no thread divides a flat
// index by the width (a 64-bit division a word took most of the time).
extern "C" __global__ void zk_widen(const u32* trace, const u32* lower, u32* out, u64 h, u32 w,
                                    u32 nrc) {
    const u64 r = (u64)blockIdx.x * blockDim.y + threadIdx.y;
    if (r >= h) return;
    const u64 ow = (u64)w + nrc;
    const u32* t = trace + r * w;
    const u32* d = lower + r * nrc;
    u32* o = out + r * ow;
    for (u32 c = threadIdx.x; c < ow; c += blockDim.x) o[c] = c < w ? t[c] : d[c - w];
}
