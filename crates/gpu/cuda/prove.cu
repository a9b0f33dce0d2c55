// The glue kernels of a proof made on the GPU (src/prove.rs): reading
// committed LDEs as the quotient kernels want them, the quotient chunks'
// masking (p3-fri 0.8.0 `HidingFriPcs::get_quotient_ldes`), the public
// preprocessed tables' zero interleave (`commit_preprocessing`), and the
// gathers that answer queries. Field elements are Montgomery words, as
// field.cuh keeps them.

__device__ __forceinline__ u32 bitrev_bits(u64 i, u32 bits) {
    return bits == 0 ? 0u : (__brev((u32)i) >> (32 - bits));
}

// A committed LDE (2^log_h rows in bit-reversed order, row-major, `width`
// words a row) read column-major in natural order, its first `cols` columns:
// out[c * 2^log_h + i] = lde[bitrev(i) * width + c]. The quotient domain of a
// table whose LDE has the quotient domain's size is exactly the LDE's coset.
// A block of (LDE_TILE, 8) threads moves a tile of LDE_TILE output rows x
// LDE_TILE columns through shared memory: a warp reads LDE_TILE adjacent
// words of one source row (128 contiguous bytes, one request) and writes
// LDE_TILE adjacent words of one column. (A thread a row, reading its row's
// words one load at a time, made every load a request of 32 rows' sectors:
// bound by the L1's requests, at half the DRAM's bandwidth.)
#define LDE_TILE 32
extern "C" __global__ void lde_to_columns(const u32* __restrict__ lde, u32* __restrict__ out,
                                          u32 log_h, u32 width, u32 cols) {
    __shared__ u32 tile[LDE_TILE][LDE_TILE + 1];
    const u64 h = 1ull << log_h;
    const u64 i0 = (u64)blockIdx.x * LDE_TILE;
    const u32 c0 = blockIdx.y * LDE_TILE;
    const u32 x = threadIdx.x;
    // Load: tile[r][x] = source row bitrev(i0 + r), column c0 + x.
    for (u32 r = threadIdx.y; r < LDE_TILE; r += blockDim.y) {
        const u64 i = i0 + r;
        if (i < h && c0 + x < cols) {
            tile[r][x] = lde[(u64)bitrev_bits(i, log_h) * width + c0 + x];
        }
    }
    __syncthreads();
    // Store: column c0 + c, rows i0 + x.
    for (u32 c = threadIdx.y; c < LDE_TILE; c += blockDim.y) {
        const u64 i = i0 + x;
        if (i < h && c0 + c < cols) out[(u64)(c0 + c) * h + i] = tile[x][c];
    }
}

// Quotient chunk `chunk` of `num_chunks` (`split_evals`: row i is the
// quotient's row i * num_chunks + chunk, 4 words) with its 4 random
// columns (`with_random_cols(4)`, drawn row by row): an h x 8 matrix.
extern "C" __global__ void quotient_chunk(const u32* __restrict__ q, const u32* __restrict__ draws,
                                          u32* __restrict__ out, u64 h, u32 num_chunks,
                                          u32 chunk) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= h * 8) return;
    u64 i = t / 8, k = t % 8;
    out[t] = k < 4 ? q[(i * num_chunks + chunk) * 4 + k] : draws[i * 4 + (k - 4)];
}

// The last chunk's mask: t_last[k] = -sum_j mul[j] * t_j[k] over the
// `count` other chunks' masks (consecutive blocks of n words in `t`).
extern "C" __global__ void quotient_last_mask(const u32* __restrict__ t,
                                              const u32* __restrict__ mul, u32* __restrict__ last,
                                              u64 n, u32 count) {
    u64 k = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n) return;
    u32 acc = 0;
    for (u32 j = 0; j < count; j++) acc = kb_add(acc, kb_mul(t[j * n + k], mul[j]));
    last[k] = kb_neg(acc);
}

// The masked chunk's coefficients before its forward NTT (4h rows x 8):
// `idft` is the chunk's inverse NTT (bit-reversed, unscaled), so the
// coefficient of X^i is idft[bitrev(i)] * scale * shift^i, scale = 1/h
// (`coset_idft_batch(evals, 1/shift)`); then, with r the chunk's mask
// (h x 8) and p = shift^h,
//   c[i]     -= g^i r[i],   c[h + i] += p g^i r[i]   (i < h),
// rows 2h.. stay zero. One thread per row (< 4h) and its 8 columns, so a
// row's powers of shift and g are made once, not once a column (two
// exponentiations a word took most of the kernel's time).
extern "C" __global__ void quotient_chunk_coeffs(const u32* __restrict__ idft,
                                                 const u32* __restrict__ r, u32* __restrict__ out,
                                                 u32 log_h, u32 shift, u32 scale, u32 g, u32 p) {
    const u64 h = 1ull << log_h;
    const u64 row = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= 4 * h) return;
    u32* o = out + row * 8;
    if (row < h) {
        const u32 sp = kb_mul(scale, kb_pow(shift, (u32)row));
        const u32 gp = kb_pow(g, (u32)row);
        const u32* src = idft + (u64)bitrev_bits(row, log_h) * 8;
        const u32* m = r + row * 8;
#pragma unroll
        for (int k = 0; k < 8; k++) o[k] = kb_sub(kb_mul(src[k], sp), kb_mul(gp, m[k]));
    } else if (row < 2 * h) {
        const u64 i = row - h;
        const u32 pg = kb_mul(p, kb_pow(g, (u32)i));
        const u32* m = r + i * 8;
#pragma unroll
        for (int k = 0; k < 8; k++) o[k] = kb_mul(pg, m[k]);
    } else {
#pragma unroll
        for (int k = 0; k < 8; k++) o[k] = 0;
    }
}

// Copies `n` spans: span s is lens[s] words from the device address src[s]
// to out[dst[s] ..]. One block a span (query answers: opened rows, salts,
// sibling digests), so a proof's openings come back in one download.
extern "C" __global__ void gather_spans(const u64* __restrict__ spans, u32* __restrict__ out,
                                        u64 n) {
    // spans: n source addresses, then n destination offsets, then n lengths.
    u64 s = blockIdx.x;
    if (s >= n) return;
    const u32* from = (const u32*)spans[s];
    const u64 dst = spans[n + s];
    const u32 len = (u32)spans[2 * n + s];
    for (u32 j = threadIdx.x; j < len; j += blockDim.x) out[dst + j] = from[j];
}

// A column-major h x w buffer made row-major.
extern "C" __global__ void transpose(const u32* __restrict__ cm, u32* __restrict__ rm, u64 h,
                                     u32 w) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= h * w) return;
    u64 r = t / w, c = t % w;
    rm[t] = cm[c * h + r];
}

// LogUp (p3-lookup's `generate_permutation`) after the generated kernels
// have written the fraction columns 1..=n of the row-major h x (n + 1)
// extension trace `aux`: each row's total, their prefix sums, and column 0,
// the accumulator (exclusive prefix sum: row 0 is zero).
extern "C" __global__ void logup_row_totals(const u32* __restrict__ aux, u32* __restrict__ totals,
                                            u64 h, u32 aux_w) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= h) return;
    kb4 acc = {{0u, 0u, 0u, 0u}};
    for (u32 c = 1; c < aux_w; c++) acc = kb4_add(acc, kb4_load(aux + 4 * (i * aux_w + c)));
    kb4_store(totals + 4 * i, acc);
}

#define SCAN_THREADS 256
#define SCAN_PER_THREAD 4
#define SCAN_BLOCK (SCAN_THREADS * SCAN_PER_THREAD)

// Inclusive prefix sums of extension elements within blocks of SCAN_BLOCK;
// each block's total goes to sums[block].
extern "C" __global__ void ext_scan_blocks(u32* __restrict__ v, u32* __restrict__ sums, u64 n) {
    __shared__ kb4 part[SCAN_THREADS];
    u64 base = (u64)blockIdx.x * SCAN_BLOCK + (u64)threadIdx.x * SCAN_PER_THREAD;
    kb4 local[SCAN_PER_THREAD];
    kb4 run = {{0u, 0u, 0u, 0u}};
    for (int k = 0; k < SCAN_PER_THREAD; k++) {
        if (base + k < n) run = kb4_add(run, kb4_load(v + 4 * (base + k)));
        local[k] = run;
    }
    part[threadIdx.x] = run;
    __syncthreads();
    for (u32 off = 1; off < SCAN_THREADS; off <<= 1) {
        kb4 add = {{0u, 0u, 0u, 0u}};
        if (threadIdx.x >= off) add = part[threadIdx.x - off];
        __syncthreads();
        part[threadIdx.x] = kb4_add(part[threadIdx.x], add);
        __syncthreads();
    }
    kb4 before = {{0u, 0u, 0u, 0u}};
    if (threadIdx.x > 0) before = part[threadIdx.x - 1];
    for (int k = 0; k < SCAN_PER_THREAD; k++)
        if (base + k < n) kb4_store(v + 4 * (base + k), kb4_add(before, local[k]));
    if (threadIdx.x == SCAN_THREADS - 1) kb4_store(sums + 4 * blockIdx.x, part[threadIdx.x]);
}

// The blocks' totals made exclusive prefix sums, in place (one thread: at
// most a few thousand blocks).
extern "C" __global__ void ext_scan_sums(u32* __restrict__ sums, u64 blocks) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    kb4 run = {{0u, 0u, 0u, 0u}};
    for (u64 b = 0; b < blocks; b++) {
        kb4 t = kb4_load(sums + 4 * b);
        kb4_store(sums + 4 * b, run);
        run = kb4_add(run, t);
    }
}

// Adds each block's offset; then column 0 of aux gets the exclusive sum.
extern "C" __global__ void logup_accumulator(u32* __restrict__ totals, const u32* __restrict__ sums,
                                             u32* __restrict__ aux, u64 h, u32 aux_w) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= h) return;
    kb4 incl = kb4_add(kb4_load(totals + 4 * i), kb4_load(sums + 4 * (i / SCAN_BLOCK)));
    kb4_store(totals + 4 * i, incl);
    if (i + 1 < h) kb4_store(aux + 4 * ((i + 1) * aux_w), incl);
    if (i == 0) {
        kb4 zero = {{0u, 0u, 0u, 0u}};
        kb4_store(aux, zero);
    }
}

// A bit-packed trace (src/packed.rs) unpacked into the row-major Montgomery
// words the prover keeps. Chunk k holds rows [k * chunk_rows, ...) as a bit
// stream at word chunk_start[k], each row B bits; column c is the field of
// `bits` bits at `offset` bits into the row, meta[k * width + c] =
// offset << 5 | bits, and B is the last column's offset + bits. Values are
// canonical; a Montgomery product with R^2 makes them Montgomery words.
extern "C" __global__ void unpack_trace(const u32* __restrict__ words,
                                        const u32* __restrict__ chunk_start,
                                        const u32* __restrict__ meta, u32* __restrict__ out,
                                        u64 height, u32 width, u32 chunk_rows) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= height * width) return;
    u64 row = t / width;
    u32 c = (u32)(t % width);
    u64 k = row / chunk_rows;
    u32 r = (u32)(row % chunk_rows);
    const u32* m = meta + k * width;
    u32 bits = m[c] & 31u;
    u32 v = 0;
    if (bits != 0) {
        u32 last = m[width - 1];
        u64 row_bits = (u64)((last >> 5) + (last & 31u));
        u64 pos = (u64)r * row_bits + (u64)(m[c] >> 5);
        const u32* base = words + chunk_start[k];
        u64 w = pos >> 5;
        u32 s = (u32)(pos & 31u);
        u64 pair = (u64)base[w] | ((s + bits > 32) ? ((u64)base[w + 1] << 32) : 0ull);
        v = (u32)(pair >> s) & ((1u << bits) - 1u);
    }
    out[t] = kb_mul(v, 0x17f7efe4u);  // R^2 mod p: v * R^2 * R^-1 = v * R
}
