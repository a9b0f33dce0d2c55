// Batched radix-2 NTTs along the columns of row-major KoalaBear matrices, and
// the pieces of a coset low-degree extension (see src/ntt.rs for the plan and
// for why the result equals Plonky3's `Radix2DitParallel::coset_lde_batch`).
//
// Layout: a batch of `batch` matrices of height n = 2^L and width w, stored
// one after another, each row-major (row r, column c at r*w + c).
//
// The transform is decimation in frequency (Gentleman-Sande butterflies),
// natural-order input, bit-reversed output: stage s = 0..L-1 pairs rows i and
// i + m with m = n >> (s+1) (bit L-1-s of i clear) and sets
//   (a, b) <- (a + b, (a - b) * tw[(i mod m) << s]),   tw[e] = omega^e.
// With omega a primitive n-th root of unity the output row r holds
// sum_j x_j omega^(j * bitrev_L(r)).
//
// One launch of `ntt_dif_pass` runs k consecutive stages s0 .. s0+k-1 in
// shared memory. Those stages only mix rows that differ in bits
// [L-s0-k, L-s0) of their index, so the data splits into independent groups:
// for fixed high bits (above L-s0) the rows form a contiguous
// 2^(L-s0) x w block, which is read as a 2^k x W' matrix with
// W' = 2^lowbits * w (lowbits = L-s0-k): its "row" p collects all original
// rows whose middle bits are p, and a "lane" l of W' is original column
// l mod w of the row with low bits l / w. Every lane is an independent
// 2^k-point sub-transform; a block loads a tile of 2^k rows x blockDim.x
// lanes (8, 16 or 32: 32 to 128 contiguous bytes per row, whole 32-byte
// sectors), runs the k stages, stores it. threadIdx.y splits the butterflies.

// Butterflies a thread takes at once in dif_tile_stages.
#define NTT_BATCH 4

// The k butterfly stages s0 .. s0+k-1 on a shared-memory tile (see above);
// `low` is the low-bits part of this lane's original row index. A thread
// takes NTT_BATCH of its butterflies at a time, their twiddle and tile
// loads issued before any arithmetic: a small transform has too few warps
// to hide a twiddle's trip to L2, and one butterfly at a time made each
// stage wait for it once per butterfly (about 20 us a pass on an H100,
// whatever the size below a few thousand rows).
__device__ __forceinline__ void dif_tile_stages(u32* sm, const u32* __restrict__ tw, u32 k, u32 s0,
                                                u32 lowbits, u32 low) {
    const u32 NTT_LANES = blockDim.x;
    const u32 x = threadIdx.x;
    const u32 rows = 1u << k;
    const u32 nb = rows >> 1;
    const u32 step = blockDim.y;
    for (u32 t = 0; t < k; t++) {
        const u32 s = s0 + t;
        const u32 log_half = k - 1 - t;
        const u32 half = 1u << log_half;
        u32 b = threadIdx.y;
        for (; b + (NTT_BATCH - 1) * step < nb; b += NTT_BATCH * step) {
            u32 p[NTT_BATCH], w[NTT_BATCH], u[NTT_BATCH], v[NTT_BATCH];
#pragma unroll
            for (int q = 0; q < NTT_BATCH; q++) {
                const u32 bq = b + q * step;
                const u32 off = bq & (half - 1);
                p[q] = ((bq >> log_half) << (log_half + 1)) | off;
                w[q] = tw[((off << lowbits) | low) << s];
            }
#pragma unroll
            for (int q = 0; q < NTT_BATCH; q++) {
                u[q] = sm[p[q] * NTT_LANES + x];
                v[q] = sm[(p[q] + half) * NTT_LANES + x];
            }
#pragma unroll
            for (int q = 0; q < NTT_BATCH; q++) {
                sm[p[q] * NTT_LANES + x] = kb_add(u[q], v[q]);
                sm[(p[q] + half) * NTT_LANES + x] = kb_mul(kb_sub(u[q], v[q]), w[q]);
            }
        }
        for (; b < nb; b += step) {
            const u32 off = b & (half - 1);
            const u32 p = ((b >> log_half) << (log_half + 1)) | off;
            const u32 j = (off << lowbits) | low;
            const u32 w = tw[j << s];
            const u32 u = sm[p * NTT_LANES + x];
            const u32 v = sm[(p + half) * NTT_LANES + x];
            sm[p * NTT_LANES + x] = kb_add(u, v);
            sm[(p + half) * NTT_LANES + x] = kb_mul(kb_sub(u, v), w);
        }
        __syncthreads();
    }
}

extern "C" __global__ void ntt_dif_pass(u32* data, const u32* __restrict__ tw, u32 width, u32 k,
                                        u32 s0, u32 lowbits, u64 wp, u32 tiles) {
    extern __shared__ u32 sm[];
    const u32 NTT_LANES = blockDim.x;
    const u32 rows = 1u << k;
    const u32 x = threadIdx.x;
    const u64 group = blockIdx.x / tiles;
    const u32 tile = blockIdx.x % tiles;
    const u64 lane = (u64)tile * NTT_LANES + x;
    const bool active = lane < wp;
    u32* base = data + group * (u64)rows * wp;

    for (u32 r = threadIdx.y; r < rows; r += blockDim.y) {
        sm[r * NTT_LANES + x] = active ? base[(u64)r * wp + lane] : 0u;
    }
    __syncthreads();

    // The low bits of the original row index this lane belongs to.
    const u32 low = active ? (u32)(lane / width) : 0u;
    dif_tile_stages(sm, tw, k, s0, lowbits, low);

    if (active) {
        for (u32 r = threadIdx.y; r < rows; r += blockDim.y) {
            base[(u64)r * wp + lane] = sm[r * NTT_LANES + x];
        }
    }
}

__device__ __forceinline__ u32 bitrev(u32 x, u32 bits) { return bits == 0 ? 0u : __brev(x) >> (32 - bits); }

// out[j] = scale * base^j for j < n.
extern "C" __global__ void kb_powers(u32* out, u32 base, u32 scale, u32 n) {
    u32 j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= n) return;
    out[j] = kb_mul(scale, kb_pow(base, j));
}

// The middle of the LDE: `coeffs` holds the inverse NTT of an h x w trace in
// bit-reversed row order (unscaled); write, for each of the `cosets` output
// blocks m, the natural-order coefficients times pw[m*h + j] (= shift_m^j / h):
//   out[(m*h + j)*w + c] = coeffs[bitrev(j)*w + c] * pw[m*h + j].
// Block (32, 8): one row per threadIdx.y, columns strided by 32 (coalesced).
extern "C" __global__ void lde_scatter(const u32* __restrict__ coeffs, u32* __restrict__ out,
                                       const u32* __restrict__ pw, u32 log_h, u32 width,
                                       u32 cosets) {
    const u32 h = 1u << log_h;
    const u32 row = blockIdx.x * blockDim.y + threadIdx.y;
    if (row >= h) return;
    const u64 src = (u64)bitrev(row, log_h) * width;
    for (u32 c = threadIdx.x; c < width; c += blockDim.x) {
        const u32 v = coeffs[src + c];
        for (u32 m = 0; m < cosets; m++) {
            const u64 dst_row = (u64)m * h + row;
            out[dst_row * width + c] = kb_mul(v, pw[dst_row]);
        }
    }
}

// lde_scatter fused with the first pass (stages 0 .. k-1) of the forward NTT
// of each coset block: group m of the pass is block m, and its tile row p,
// lane (low, c) is output row j = p << lowbits | low, whose value is
// coeffs[bitrev_{log_h}(j)] * pw[m*h + j] with
// bitrev_{log_h}(j) = bitrev_lowbits(low) << k | bitrev_k(p). Saves
// writing and re-reading the scaled coefficients.
extern "C" __global__ void lde_first_pass(const u32* __restrict__ coeffs, u32* __restrict__ out,
                                          const u32* __restrict__ tw, const u32* __restrict__ pw,
                                          u32 width, u32 k, u32 lowbits, u64 wp, u32 tiles) {
    extern __shared__ u32 sm[];
    const u32 NTT_LANES = blockDim.x;
    const u32 rows = 1u << k;
    const u32 x = threadIdx.x;
    const u64 m = blockIdx.x / tiles;
    const u32 tile = blockIdx.x % tiles;
    const u64 lane = (u64)tile * NTT_LANES + x;
    const bool active = lane < wp;
    const u32 low = active ? (u32)(lane / width) : 0u;
    const u32 col = active ? (u32)(lane - (u64)low * width) : 0u;
    const u64 h = (u64)rows << lowbits;
    const u32 src_high = bitrev(low, lowbits) << k;
    const u32* pwm = pw + m * h;

    for (u32 p = threadIdx.y; p < rows; p += blockDim.y) {
        u32 v = 0;
        if (active) {
            const u64 src = (u64)(src_high | bitrev(p, k)) * width + col;
            v = kb_mul(coeffs[src], pwm[((u64)p << lowbits) | low]);
        }
        sm[p * NTT_LANES + x] = v;
    }
    __syncthreads();

    dif_tile_stages(sm, tw, k, 0, lowbits, low);

    if (active) {
        u32* base = out + m * h * width;
        for (u32 r = threadIdx.y; r < rows; r += blockDim.y) {
            base[(u64)r * wp + lane] = sm[r * NTT_LANES + x];
        }
    }
}
