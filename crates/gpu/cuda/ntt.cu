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

// Radix-4 units a thread takes at once in dif_tile_stages.
#define NTT_BATCH 2

// Stages t and t + 1 of a tile at once, on one radix-4 unit: rows P,
// P + h/2, P + h, P + 3h/2 (h = 2^log_half, stage t's distance; o = P mod
// h/2). Stage t pairs (P, P + h) with twiddle index o and (P + h/2,
// P + 3h/2) with o + h/2; stage t + 1 pairs (P, P + h/2) and (P + h,
// P + 3h/2), both with o at stage s + 1. Each pair's arithmetic is the
// radix-2 butterfly's, in the same order, so the values are the same; the
// unit loads and stores each value once for two stages, and its index
// arithmetic serves four butterflies.
struct Radix4 {
    u32 p, w0, w1, w2;
};

__device__ __forceinline__ Radix4 radix4_unit(const u32* __restrict__ tw, u32 c, u32 log_q, u32 s,
                                              u32 lowbits, u32 low) {
    const u32 q = 1u << log_q;  // h / 2
    const u32 o = c & (q - 1);
    Radix4 r;
    r.p = ((c >> log_q) << (log_q + 2)) | o;
    r.w0 = tw[((o << lowbits) | low) << s];
    r.w1 = tw[(((o + q) << lowbits) | low) << s];
    r.w2 = tw[((o << lowbits) | low) << (s + 1)];
    return r;
}

__device__ __forceinline__ void radix4_apply(u32* sm, u32 lanes, u32 x, const Radix4& r, u32 q,
                                             const u32 a[4]) {
    const u32 b0 = kb_add(a[0], a[2]);
    const u32 b2 = kb_mul(kb_sub(a[0], a[2]), r.w0);
    const u32 b1 = kb_add(a[1], a[3]);
    const u32 b3 = kb_mul(kb_sub(a[1], a[3]), r.w1);
    sm[r.p * lanes + x] = kb_add(b0, b1);
    sm[(r.p + q) * lanes + x] = kb_mul(kb_sub(b0, b1), r.w2);
    sm[(r.p + 2 * q) * lanes + x] = kb_add(b2, b3);
    sm[(r.p + 3 * q) * lanes + x] = kb_mul(kb_sub(b2, b3), r.w2);
}

// The k butterfly stages s0 .. s0+k-1 on a shared-memory tile (see above);
// `low` is the low-bits part of this lane's original row index. Stages go
// two at a time as radix-4 units (a last odd stage as radix-2), one
// barrier per pair; a thread takes NTT_BATCH units at a time, their
// twiddle and tile loads issued before any arithmetic: a small transform
// has too few warps to hide a twiddle's trip to L2 (one butterfly at a
// time, each stage waited for it once per butterfly: about 20 us a pass on
// an H100, whatever the size below a few thousand rows).
__device__ __forceinline__ void dif_tile_stages(u32* sm, const u32* __restrict__ tw, u32 k, u32 s0,
                                                u32 lowbits, u32 low) {
    const u32 NTT_LANES = blockDim.x;
    const u32 x = threadIdx.x;
    const u32 rows = 1u << k;
    const u32 step = blockDim.y;
    u32 t = 0;
    for (; t + 1 < k; t += 2) {
        const u32 s = s0 + t;
        const u32 log_q = k - 2 - t;  // stage t's distance is 2^(log_q + 1)
        const u32 q = 1u << log_q;
        const u32 nu = rows >> 2;
        u32 c = threadIdx.y;
        for (; c + (NTT_BATCH - 1) * step < nu; c += NTT_BATCH * step) {
            Radix4 r[NTT_BATCH];
            u32 a[NTT_BATCH][4];
#pragma unroll
            for (int b = 0; b < NTT_BATCH; b++) r[b] = radix4_unit(tw, c + b * step, log_q, s, lowbits, low);
#pragma unroll
            for (int b = 0; b < NTT_BATCH; b++)
#pragma unroll
                for (int e = 0; e < 4; e++) a[b][e] = sm[(r[b].p + e * q) * NTT_LANES + x];
#pragma unroll
            for (int b = 0; b < NTT_BATCH; b++) radix4_apply(sm, NTT_LANES, x, r[b], q, a[b]);
        }
        for (; c < nu; c += step) {
            const Radix4 r = radix4_unit(tw, c, log_q, s, lowbits, low);
            u32 a[4];
#pragma unroll
            for (int e = 0; e < 4; e++) a[e] = sm[(r.p + e * q) * NTT_LANES + x];
            radix4_apply(sm, NTT_LANES, x, r, q, a);
        }
        __syncthreads();
    }
    if (t < k) {
        // The last stage (k odd): distance 1, twiddle index 0 scaled by low.
        const u32 s = s0 + t;
        const u32 w = tw[low << s];
        for (u32 b = threadIdx.y; b < (rows >> 1); b += step) {
            const u32 p = b << 1;
            const u32 u = sm[p * NTT_LANES + x];
            const u32 v = sm[(p + 1) * NTT_LANES + x];
            sm[p * NTT_LANES + x] = kb_add(u, v);
            sm[(p + 1) * NTT_LANES + x] = kb_mul(kb_sub(u, v), w);
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

// The upper coefficients of a sparse-masked LDE (src/ntt.rs, `LdeMask`;
// p3-fri's vendored `masked_trace_lde`): the committed polynomial of column
// c is C_c + (X^h - 1) U_c with C_c the column's interpolant; U_c's
// coefficient j is hi_t[j * wt + c] for a trace column (c < wt; zero from
// j = mask_len on) and hi_rc[j * (width - wt) + c - wt] for a random
// codeword. On coset m, X^h is shift_m^h, so coefficient j there is
// (raw_j + e[m] * U_j) * pw[m*h + j] with raw_j = h * C_j (the unscaled
// inverse NTT) and e[m] = h * (shift_m^h - 1).
struct LdeMask {
    const u32* hi_t;
    const u32* hi_rc;
    const u32* e;
    u32 wt;
    u32 mask_len;
};

// What a first pass loads at tile row p of column col (lane low bits
// `low`): coefficient bitrev(low) << k | bitrev(p), with MASKED the mask's
// multiple em * U added, times pwm[j] for its output row
// j = p << lowbits | low (see lde_first_pass_impl and LdeMask).
template <bool MASKED>
__device__ __forceinline__ u32 lde_load(const u32* __restrict__ coeffs,
                                        const u32* __restrict__ pwm, u32 width, u32 col,
                                        u32 src_high, u32 p, u32 k, u32 lowbits, u32 low,
                                        const LdeMask& mask, u32 em) {
    const u64 src = (u64)(src_high | bitrev(p, k)) * width + col;
    const u64 j = ((u64)p << lowbits) | low;
    u32 c = coeffs[src];
    if (MASKED) {
        u32 u;
        if (col < mask.wt) {
            u = j < mask.mask_len ? mask.hi_t[j * mask.wt + col] : 0u;
        } else {
            u = mask.hi_rc[j * (width - mask.wt) + (col - mask.wt)];
        }
        c = kb_add(c, kb_mul(u, em));
    }
    return kb_mul(c, pwm[j]);
}

// lde_scatter fused with the first pass (stages 0 .. k-1) of the forward NTT
// of each coset block: group m of the pass is block m, and its tile row p,
// lane (low, c) is output row j = p << lowbits | low, whose value is
// coeffs[bitrev_{log_h}(j)] * pw[m*h + j] with
// bitrev_{log_h}(j) = bitrev_lowbits(low) << k | bitrev_k(p). Saves
// writing and re-reading the scaled coefficients. MASKED adds the mask's
// upper coefficients first (see LdeMask).
template <bool MASKED>
__device__ __forceinline__ void lde_first_pass_impl(const u32* __restrict__ coeffs,
                                                    u32* __restrict__ out,
                                                    const u32* __restrict__ tw,
                                                    const u32* __restrict__ pw, u32 width, u32 k,
                                                    u32 lowbits, u64 wp, u32 tiles, LdeMask mask) {
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
    const u32 em = MASKED ? mask.e[m] : 0u;

    for (u32 p = threadIdx.y; p < rows; p += blockDim.y) {
        u32 v = 0;
        if (active) v = lde_load<MASKED>(coeffs, pwm, width, col, src_high, p, k, lowbits, low, mask, em);
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

extern "C" __global__ void lde_first_pass(const u32* __restrict__ coeffs, u32* __restrict__ out,
                                          const u32* __restrict__ tw, const u32* __restrict__ pw,
                                          u32 width, u32 k, u32 lowbits, u64 wp, u32 tiles) {
    const LdeMask none = {nullptr, nullptr, nullptr, 0u, 0u};
    lde_first_pass_impl<false>(coeffs, out, tw, pw, width, k, lowbits, wp, tiles, none);
}

// lde_first_pass of a sparse-masked LDE (see LdeMask): hi_t is mask_len x wt,
// hi_rc h x (width - wt), e one word per coset.
extern "C" __global__ void lde_first_pass_masked(const u32* __restrict__ coeffs,
                                                 u32* __restrict__ out,
                                                 const u32* __restrict__ tw,
                                                 const u32* __restrict__ pw, u32 width, u32 k,
                                                 u32 lowbits, u64 wp, u32 tiles,
                                                 const u32* __restrict__ hi_t,
                                                 const u32* __restrict__ hi_rc,
                                                 const u32* __restrict__ e, u32 wt, u32 mask_len) {
    const LdeMask mask = {hi_t, hi_rc, e, wt, mask_len};
    lde_first_pass_impl<true>(coeffs, out, tw, pw, width, k, lowbits, wp, tiles, mask);
}

// ---------------------------------------------------------------------------
// Register tiles (stop 25). The same passes as ntt_dif_pass and the LDE's
// first pass, for tiles of 2^K rows (K = LOG_T + LOG_E, LOG_T <= LOG_E), with
// the butterflies in registers: the block is blockDim.x lanes x T = 2^LOG_T
// threads a lane, each thread holding E = 2^LOG_E values of its lane.
//   Phase 1: thread y holds tile rows y + T*a (a < E): the first LOG_E
//   stages (row distances 2^(K-1) .. T) pair values of one thread.
//   Through shared memory, once: thread y then holds rows E*y + a.
//   Phase 2: the last LOG_T stages (distances T/2 .. 1 < E), again within
//   one thread.
// Each value is loaded and stored once in shared memory a pass (radix-4
// units do it once a stage pair) and the block waits at one barrier (one a
// stage pair). The butterflies are the radix-2 ones, so the values are the
// same. Shared-memory rows are permuted within groups of 32 / lanes rows
// (reg_slot) so that neither phase's accesses collide on a bank.
// Each phase is a device function of its own: the host emulation, whose
// threads run one after another, runs the first for every thread of a
// block, then the second (emu/driver.cpp).

template <int LOG_E>
__device__ __forceinline__ u32 reg_slot(u32 r, u32 lanes) {
    const u32 g = (32u / lanes) - 1u;
    return (r & ~g) | ((r + (r >> LOG_E)) & g);
}

// A stage's n distinct twiddles w[j] = tw[e0 + j*d] (j < n <= NMAX, powers
// of two; e0 + (n-1)*d is an index the stage uses), as tw[e0] times powers
// of tw[d] built by doubling: one load that differs between threads and
// log2(n) that are the same in every thread of the grid (cached), instead
// of n scattered loads, each a likely L2 round trip the butterflies wait
// for. tw[e] = omega^e and kb_mul's results are canonical, so the words
// equal the table's.
template <int NMAX>
__device__ __forceinline__ void geometric_twiddles(u32 (&w)[NMAX], const u32* __restrict__ tw,
                                                   u32 e0, u32 d, int n) {
    w[0] = tw[e0];
#pragma unroll
    for (int p = 1; p < NMAX; p <<= 1) {
        // n is a constant once the stage loop is unrolled: no branch.
        if (p < n) {
            const u32 step = tw[(u32)p * d];
#pragma unroll
            for (int j = p; j < 2 * p && j < NMAX; j++) w[j] = kb_mul(w[j - p], step);
        }
    }
}

// One stage's E/2 butterflies on a thread's values: pair b is (a, a + d)
// with a = (b / d) * 2d + b mod d (a has bit d clear), twiddle w[b mod d].
template <int E>
__device__ __forceinline__ void reg_butterflies(u32 (&v)[E], const u32 (&w)[E / 2], int d) {
#pragma unroll
    for (int b = 0; b < E / 2; b++) {
        const int a = ((b / d) * 2 * d) + (b % d);
        const u32 x0 = v[a], x1 = v[a + d];
        v[a] = kb_add(x0, x1);
        v[a + d] = kb_mul(kb_sub(x0, x1), w[b % d]);
    }
}

// Phase 1's stages on v (rows y + T*a of the tile).
template <int LOG_T, int LOG_E>
__device__ __forceinline__ void reg_stages_strided(u32 (&v)[1 << LOG_E], const u32* __restrict__ tw,
                                                   u32 y, u32 s0, u32 lowbits, u32 low) {
    constexpr int E = 1 << LOG_E;
    constexpr int T = 1 << LOG_T;
#pragma unroll
    for (int st = 0; st < LOG_E; st++) {
        const int half = E >> (st + 1);
        const u32 s = s0 + (u32)st;
        // Pair b = (a, a + half) with a = (b / half) * 2 * half + j,
        // j = b mod half, takes twiddle index ((y + T*j) << lowbits | low)
        // << s = e0 + j*d.
        u32 w[E / 2];
        geometric_twiddles<E / 2>(w, tw, ((y << lowbits) | low) << s, ((u32)T << lowbits) << s,
                                  half);
        reg_butterflies<E>(v, w, half);
    }
}

// Phase 2's stages on v (rows E*y + a of the tile).
template <int LOG_T, int LOG_E>
__device__ __forceinline__ void reg_stages_contiguous(u32 (&v)[1 << LOG_E],
                                                      const u32* __restrict__ tw, u32 s0,
                                                      u32 lowbits, u32 low) {
    constexpr int E = 1 << LOG_E;
#pragma unroll
    for (int st = 0; st < LOG_T; st++) {
        const int m = (1 << LOG_T) >> (st + 1);
        const u32 s = s0 + (u32)LOG_E + (u32)st;
        // Pair b takes twiddle index ((j << lowbits) | low) << s = e0 + j*d
        // with j = b mod m.
        u32 w[E / 2];
        geometric_twiddles<E / 2>(w, tw, low << s, (1u << lowbits) << s, m);
        reg_butterflies<E>(v, w, m);
    }
}

// Where a block's lane sits: its group (batch item and high bits), the
// lane's index in the row, whether it is a real column, and its low bits.
struct RegLane {
    u64 group;
    u64 lane;
    bool active;
    u32 low;
};

__device__ __forceinline__ RegLane reg_lane(u32 width, u64 wp, u32 tiles) {
    RegLane l;
    l.group = blockIdx.x / tiles;
    const u32 tile = blockIdx.x % tiles;
    l.lane = (u64)tile * blockDim.x + threadIdx.x;
    l.active = l.lane < wp;
    l.low = l.active ? (u32)(l.lane / width) : 0u;
    return l;
}

// A ntt_dif_pass tile's phase 1: load, stages, into shared memory.
template <int LOG_T, int LOG_E>
__device__ __forceinline__ void ntt_reg_first(const u32* data, const u32* __restrict__ tw,
                                              u32 width, u32 s0, u32 lowbits, u64 wp,
                                              u32 tiles) {
    extern __shared__ u32 sm[];
    constexpr int E = 1 << LOG_E, T = 1 << LOG_T, K = LOG_T + LOG_E;
    const RegLane l = reg_lane(width, wp, tiles);
    const u32 y = threadIdx.y, lanes = blockDim.x;
    const u32* base = data + l.group * ((u64)1 << K) * wp;
    u32 v[E];
#pragma unroll
    for (int a = 0; a < E; a++) v[a] = l.active ? base[(u64)(y + T * a) * wp + l.lane] : 0u;
    reg_stages_strided<LOG_T, LOG_E>(v, tw, y, s0, lowbits, l.low);
#pragma unroll
    for (int a = 0; a < E; a++) sm[reg_slot<LOG_E>(y + T * a, lanes) * lanes + threadIdx.x] = v[a];
}

// Every pass's phase 2: out of shared memory, stages, store to `out` (the
// group's 2^K x wp block).
template <int LOG_T, int LOG_E>
__device__ __forceinline__ void ntt_reg_second(u32* out, const u32* __restrict__ tw, u32 width,
                                               u32 s0, u32 lowbits, u64 wp, u32 tiles) {
    extern __shared__ u32 sm[];
    constexpr int E = 1 << LOG_E, K = LOG_T + LOG_E;
    const RegLane l = reg_lane(width, wp, tiles);
    const u32 y = threadIdx.y, lanes = blockDim.x;
    u32 v[E];
#pragma unroll
    for (int a = 0; a < E; a++) v[a] = sm[reg_slot<LOG_E>(E * y + a, lanes) * lanes + threadIdx.x];
    reg_stages_contiguous<LOG_T, LOG_E>(v, tw, s0, lowbits, l.low);
    if (l.active) {
        u32* base = out + l.group * ((u64)1 << K) * wp;
#pragma unroll
        for (int a = 0; a < E; a++) base[(u64)(E * y + a) * wp + l.lane] = v[a];
    }
}

// The LDE's first pass's phase 1 (see lde_first_pass_impl): tile row p of
// coset block m (the group) is coefficient bitrev(low) << K | bitrev(p),
// scaled (and masked) as it is loaded.
template <int LOG_T, int LOG_E, bool MASKED>
__device__ __forceinline__ void lde_reg_first(const u32* __restrict__ coeffs,
                                              const u32* __restrict__ tw,
                                              const u32* __restrict__ pw, u32 width, u32 lowbits,
                                              u64 wp, u32 tiles, LdeMask mask) {
    extern __shared__ u32 sm[];
    constexpr int E = 1 << LOG_E, T = 1 << LOG_T, K = LOG_T + LOG_E;
    const RegLane l = reg_lane(width, wp, tiles);
    const u32 y = threadIdx.y, lanes = blockDim.x;
    const u64 m = l.group;
    const u32 col = l.active ? (u32)(l.lane - (u64)l.low * width) : 0u;
    const u64 h = (u64)1 << (K + lowbits);
    const u32 src_high = bitrev(l.low, lowbits) << K;
    const u32* pwm = pw + m * h;
    const u32 em = MASKED ? mask.e[m] : 0u;
    u32 v[E];
#pragma unroll
    for (int a = 0; a < E; a++) {
        const u32 p = y + T * a;
        v[a] = l.active ? lde_load<MASKED>(coeffs, pwm, width, col, src_high, p, K, lowbits, l.low,
                                           mask, em)
                        : 0u;
    }
    reg_stages_strided<LOG_T, LOG_E>(v, tw, y, 0u, lowbits, l.low);
#pragma unroll
    for (int a = 0; a < E; a++) sm[reg_slot<LOG_E>(y + T * a, lanes) * lanes + threadIdx.x] = v[a];
}

#define NTT_REG_KERNELS(K, LT, LE)                                                                \
    extern "C" __global__ void ntt_dif_pass_r##K(u32* data, const u32* __restrict__ tw,            \
                                                 u32 width, u32 s0, u32 lowbits, u64 wp,           \
                                                 u32 tiles) {                                      \
        ntt_reg_first<LT, LE>(data, tw, width, s0, lowbits, wp, tiles);                            \
        __syncthreads();                                                                           \
        ntt_reg_second<LT, LE>(data, tw, width, s0, lowbits, wp, tiles);                           \
    }                                                                                              \
    extern "C" __global__ void lde_first_pass_r##K(const u32* __restrict__ coeffs, u32* out,       \
                                                   const u32* __restrict__ tw,                     \
                                                   const u32* __restrict__ pw, u32 width,          \
                                                   u32 lowbits, u64 wp, u32 tiles) {               \
        const LdeMask none = {nullptr, nullptr, nullptr, 0u, 0u};                                  \
        lde_reg_first<LT, LE, false>(coeffs, tw, pw, width, lowbits, wp, tiles, none);             \
        __syncthreads();                                                                           \
        ntt_reg_second<LT, LE>(out, tw, width, 0u, lowbits, wp, tiles);                            \
    }                                                                                              \
    extern "C" __global__ void lde_first_pass_masked_r##K(                                         \
        const u32* __restrict__ coeffs, u32* out, const u32* __restrict__ tw,                      \
        const u32* __restrict__ pw, u32 width, u32 lowbits, u64 wp, u32 tiles,                     \
        const u32* __restrict__ hi_t, const u32* __restrict__ hi_rc, const u32* __restrict__ e,    \
        u32 wt, u32 mask_len) {                                                                    \
        const LdeMask mask = {hi_t, hi_rc, e, wt, mask_len};                                       \
        lde_reg_first<LT, LE, true>(coeffs, tw, pw, width, lowbits, wp, tiles, mask);              \
        __syncthreads();                                                                           \
        ntt_reg_second<LT, LE>(out, tw, width, 0u, lowbits, wp, tiles);                            \
    }

NTT_REG_KERNELS(5, 2, 3)
NTT_REG_KERNELS(6, 3, 3)
NTT_REG_KERNELS(7, 3, 4)
NTT_REG_KERNELS(8, 4, 4)
NTT_REG_KERNELS(9, 4, 5)
NTT_REG_KERNELS(10, 5, 5)
