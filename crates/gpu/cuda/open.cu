// The PCS opening (p3-fri 0.8.0 `TwoAdicFriPcs::open`) on committed LDEs:
// each matrix's columns evaluated at an out-of-domain point by barycentric
// interpolation over its low coset, and the reduced openings
// sum_j alpha^j (f_j(z) - f_j(x)) / (z - x) that FRI then folds. Matrices
// are row-major, rows in bit-reversed order (as committed).

// out[i] = 1 / (z - x_i) for the n points x_i = shift * omega^bitrev(i) of
// the bit-reversed coset (omega of order n = 2^log_n): p3's `inv_denoms`,
// whose prefix of length m is the same for the coset of size m.
//
// z - x differs from z only in its constant limb, so its inverse is
// conj / N with conj and the base-field norm N cheap in that limb
// (kb4_inv's formula), and N is inverted for INV_BATCH points at once
// (Montgomery's trick: one Fermat inversion instead of eight). From 256
// points up, lane l of warp g takes the points 256 g + l + 32 j (j < 8), so
// each of its stores is a warp's consecutive elements; in bit-reversed
// order they are its first point times powers of a 256th root of unity:
// one power of omega a batch. (A Fermat inversion and a power a point took
// 90 us a 2^21-point launch on an H200.)
#define INV_BATCH 8
#define INV_BATCH_MIN_LOG 8
__device__ __forceinline__ void inv_denom_parts(u32 x, u32 z0, u32 z2, u32 c0, u32 c1, u32* n0,
                                                u32* n1, u32* norm) {
    const u32 a0 = kb_sub(z0, x);
    *n0 = kb_add(kb_square(a0), c0);
    *n1 = kb_add(kb_double(kb_mul(a0, z2)), c1);
    *norm = kb_sub(kb_square(*n0), kb_mul_w(kb_square(*n1)));
}

__device__ __forceinline__ void inv_denom_store(u32* out, u32 x, u32 z0, u32 z1, u32 z2, u32 z3,
                                                u32 n0, u32 n1, u32 norm_inv) {
    kb4 conj = {{kb_sub(z0, x), kb_neg(z1), z2, kb_neg(z3)}};
    kb4 ninv = {{kb_mul(n0, norm_inv), 0u, kb_mul(kb_neg(n1), norm_inv), 0u}};
    kb4_store(out, kb4_mul(conj, ninv));
}

extern "C" __global__ void open_inv_denoms(u32* out, u64 n, u32 log_n, u32 shift, u32 omega,
                                           u32 z0, u32 z1, u32 z2, u32 z3) {
    const u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    // The norm's parts that do not depend on x: n0 = a0^2 + c0, n1 = 2 a0 z2 + c1.
    const u32 c0 = kb_sub(kb_mul_w(kb_square(z2)), kb_mul_w(kb_double(kb_mul(z1, z3))));
    const u32 c1 = kb_neg(kb_add(kb_square(z1), kb_mul_w(kb_square(z3))));
    if (log_n < INV_BATCH_MIN_LOG) {
        // Too few points for batches: one a thread.
        if (t >= n) return;
        u32 rev = log_n == 0 ? 0u : (__brev((u32)t) >> (32 - log_n));
        u32 x = kb_mul(shift, kb_pow(omega, rev));
        u32 n0, n1, norm;
        inv_denom_parts(x, z0, z2, c0, c1, &n0, &n1, &norm);
        inv_denom_store(out + 4 * t, x, z0, z1, z2, z3, n0, n1, kb_inv(norm));
        return;
    }
    const u64 i0 = ((t >> 5) << 8) + (t & 31);
    if (i0 >= n) return;
    const u32 rev0 = __brev((u32)i0) >> (32 - log_n);
    const u32 x0 = kb_mul(shift, kb_pow(omega, rev0));
    // bitrev(i0 + 32 j) = bitrev(i0) + bitrev3(j) * n / 256.
    const u32 r = kb_pow(omega, 1u << (log_n - INV_BATCH_MIN_LOG));
    u32 rp[INV_BATCH];
    rp[0] = KB_ONE;
#pragma unroll
    for (int k = 1; k < INV_BATCH; k++) rp[k] = kb_mul(rp[k - 1], r);
    const int rev3[INV_BATCH] = {0, 4, 2, 6, 1, 5, 3, 7};
    u32 x[INV_BATCH], n0[INV_BATCH], n1[INV_BATCH], norm[INV_BATCH], prefix[INV_BATCH];
    u32 acc = KB_ONE;
#pragma unroll
    for (int j = 0; j < INV_BATCH; j++) {
        x[j] = kb_mul(x0, rp[rev3[j]]);
        inv_denom_parts(x[j], z0, z2, c0, c1, &n0[j], &n1[j], &norm[j]);
        // A zero norm (z on the coset) stays zero, as kb4_inv leaves it,
        // without zeroing its batch.
        prefix[j] = acc;
        if (norm[j] != 0u) acc = kb_mul(acc, norm[j]);
    }
    u32 inv = kb_inv(acc);
#pragma unroll
    for (int j = INV_BATCH - 1; j >= 0; j--) {
        u32 norm_inv = 0u;
        if (norm[j] != 0u) {
            norm_inv = kb_mul(inv, prefix[j]);
            inv = kb_mul(inv, norm[j]);
        }
        inv_denom_store(out + 4 * (i0 + 32 * j), x[j], z0, z1, z2, z3, n0[j], n1[j], norm_inv);
    }
}

// Partial column sums of the barycentric evaluation over the first `rows`
// rows at NP points (one or two): part[c * NP * w + p * w + j] = sum over
// rows i of chunk c of (inv_p[i] - zinv_p) * M[i][j] (p3's adjusted weights
// times the column), computed as sum inv_p[i] M[i][j] - zinv_p sum M[i][j]:
// four lazy dot products a point (one reduction each at the end) and one
// plain sum, instead of a subtraction and four reduced products a cell. Both
// points of a matrix opened at two (a trace at zeta and the next row's
// point) come from one read of it. One thread per (chunk, column): a warp
// reads a row's adjacent words.
template <int NP>
__device__ __forceinline__ void eval_partial(const u32* __restrict__ m, u64 rows, u32 w,
                                             const u32* const* inv, const kb4* zinv,
                                             u32 chunk_rows, u64 chunks, u32* __restrict__ part) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= chunks * w) return;
    u64 c = t / w;
    u32 j = (u32)(t % w);
    u64 acc[NP][4];
#pragma unroll
    for (int p = 0; p < NP; p++)
#pragma unroll
        for (int k = 0; k < 4; k++) acc[p][k] = 0;
    // Below 2^32 * chunk_rows: no reduction needed for chunks of < 2^32 rows.
    u64 sum = 0;
    u64 i = c * chunk_rows;
    u64 end = (c + 1) * chunk_rows < rows ? (c + 1) * chunk_rows : rows;
    // Eight rows' loads issued before their products, so a thread waits for
    // memory once per eight rows, not once per row.
    for (; i + 8 <= end; i += 8) {
        u32 v[8];
#pragma unroll
        for (int r = 0; r < 8; r++) v[r] = m[(i + r) * w + j];
#pragma unroll
        for (int r = 0; r < 8; r += 2) {
#pragma unroll
            for (int p = 0; p < NP; p++) {
                const u32* d = inv[p] + 4 * (i + r);
#pragma unroll
                for (int k = 0; k < 4; k++)
                    acc[p][k] = kb_acc2(acc[p][k], d[k], v[r], d[4 + k], v[r + 1]);
            }
            sum += (u64)v[r] + v[r + 1];
        }
    }
    for (; i + 1 < end; i += 2) {
        u32 v0 = m[i * w + j], v1 = m[(i + 1) * w + j];
#pragma unroll
        for (int p = 0; p < NP; p++) {
            const u32* d0 = inv[p] + 4 * i;
#pragma unroll
            for (int k = 0; k < 4; k++) acc[p][k] = kb_acc2(acc[p][k], d0[k], v0, d0[4 + k], v1);
        }
        sum += (u64)v0 + v1;
    }
    if (i < end) {
        u32 v = m[i * w + j];
#pragma unroll
        for (int p = 0; p < NP; p++)
#pragma unroll
            for (int k = 0; k < 4; k++) acc[p][k] = kb_acc1(acc[p][k], inv[p][4 * i + k], v);
        sum += v;
    }
    // sum is a sum of Montgomery words, so sum mod p is the Montgomery form
    // of the column's sum.
    u32 col_sum = (u32)(sum % KB_P);
#pragma unroll
    for (int p = 0; p < NP; p++) {
        kb4 weighted = {{kb_redc(acc[p][0]), kb_redc(acc[p][1]), kb_redc(acc[p][2]),
                         kb_redc(acc[p][3])}};
        kb4_store(part + 4 * (c * NP * w + p * w + j),
                  kb4_sub(weighted, kb4_mul_base(zinv[p], col_sum)));
    }
}

extern "C" __global__ void open_eval_partial(const u32* __restrict__ m, u64 rows, u32 w,
                                             const u32* __restrict__ inv_denoms, u32 zi0, u32 zi1,
                                             u32 zi2, u32 zi3, u32 chunk_rows, u64 chunks,
                                             u32* __restrict__ part) {
    const u32* inv[1] = {inv_denoms};
    kb4 zinv[1] = {{{zi0, zi1, zi2, zi3}}};
    eval_partial<1>(m, rows, w, inv, zinv, chunk_rows, chunks, part);
}

extern "C" __global__ void open_eval_partial2(const u32* __restrict__ m, u64 rows, u32 w,
                                              const u32* __restrict__ inv0, u32 zi0, u32 zi1,
                                              u32 zi2, u32 zi3, const u32* __restrict__ inv1,
                                              u32 zj0, u32 zj1, u32 zj2, u32 zj3, u32 chunk_rows,
                                              u64 chunks, u32* __restrict__ part) {
    const u32* inv[2] = {inv0, inv1};
    kb4 zinv[2] = {{{zi0, zi1, zi2, zi3}}, {{zj0, zj1, zj2, zj3}}};
    eval_partial<2>(m, rows, w, inv, zinv, chunk_rows, chunks, part);
}

// Fewer partial sums: out[g * w + j] = sum of part[c * w + j] over the
// chunks c of group g (`group` chunks each). The host folds until few
// chunks are left, so the finish below stays short. (A block a column
// adding all chunks at once, with a shared-memory tree, took longer: 2.92
// against 2.53 ms a one-shard loop proof, BENCHMARKS.md stop 28.)
extern "C" __global__ void open_eval_fold(const u32* __restrict__ part, u64 chunks, u32 w,
                                          u32 group, u32* __restrict__ out) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    u64 groups = (chunks + group - 1) / group;
    if (t >= groups * w) return;
    u64 g = t / w;
    u32 j = (u32)(t % w);
    u64 end = (g + 1) * group < chunks ? (g + 1) * group : chunks;
    kb4 acc = {{0u, 0u, 0u, 0u}};
    for (u64 c = g * group; c < end; c++) acc = kb4_add(acc, kb4_load(part + 4 * (c * w + j)));
    kb4_store(out + 4 * t, acc);
}

// out[j] = scale * sum over chunks of part[c * w + j], with scale s for the
// columns below `split` and t for the others (a second point's values).
extern "C" __global__ void open_eval_finish(const u32* __restrict__ part, u64 chunks, u32 w,
                                            u32 split, u32 s0, u32 s1, u32 s2, u32 s3, u32 t0,
                                            u32 t1, u32 t2, u32 t3, u32* __restrict__ out) {
    u32 j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= w) return;
    kb4 acc = {{0u, 0u, 0u, 0u}};
    for (u64 c = 0; c < chunks; c++) acc = kb4_add(acc, kb4_load(part + 4 * (c * w + j)));
    kb4 s = j < split ? kb4{{s0, s1, s2, s3}} : kb4{{t0, t1, t2, t3}};
    kb4_store(out + 4 * j, kb4_mul(acc, s));
}

// One matrix's share of the reduced openings at up to two points: for each
// row x (of h), compressed = sum_j apow[j] * M[x][j] (apow: the powers of
// alpha times the matrix's first offset; four lazy dot products, one
// reduction each), then for each point k
// ro[x] += (wo_k - rescale_k * compressed) * inv_k[x].
// (Rows read through shared-memory tiles of 32 columns, consecutive threads
// reading consecutive words, took longer: 3.49 against 2.60 ms a one-shard
// proof, BENCHMARKS.md stop 31.)
extern "C" __global__ void open_reduce(const u32* __restrict__ m, u64 h, u32 w,
                                       const u32* __restrict__ apow, u32 npts,
                                       const u32* __restrict__ inv0, u32 wo00, u32 wo01, u32 wo02,
                                       u32 wo03, u32 rs00, u32 rs01, u32 rs02, u32 rs03,
                                       const u32* __restrict__ inv1, u32 wo10, u32 wo11, u32 wo12,
                                       u32 wo13, u32 rs10, u32 rs11, u32 rs12, u32 rs13,
                                       u32* __restrict__ ro) {
    u64 x = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (x >= h) return;
    const u32* row = m + x * w;
    u64 acc[4] = {0, 0, 0, 0};
    u32 j = 0;
    // Eight loads in flight, as in open_eval_partial.
    for (; j + 8 <= w; j += 8) {
        u32 v[8];
#pragma unroll
        for (int r = 0; r < 8; r++) v[r] = row[j + r];
#pragma unroll
        for (int r = 0; r < 8; r += 2) {
            const u32* a = apow + 4 * (j + r);
#pragma unroll
            for (int k = 0; k < 4; k++) acc[k] = kb_acc2(acc[k], a[k], v[r], a[4 + k], v[r + 1]);
        }
    }
    for (; j + 1 < w; j += 2) {
        u32 v0 = row[j], v1 = row[j + 1];
        const u32* a = apow + 4 * j;
#pragma unroll
        for (int k = 0; k < 4; k++) acc[k] = kb_acc2(acc[k], a[k], v0, a[4 + k], v1);
    }
    if (j < w) {
#pragma unroll
        for (int k = 0; k < 4; k++) acc[k] = kb_acc1(acc[k], apow[4 * j + k], row[j]);
    }
    kb4 comp = {{kb_redc(acc[0]), kb_redc(acc[1]), kb_redc(acc[2]), kb_redc(acc[3])}};
    kb4 acc_ro = kb4_load(ro + 4 * x);
    kb4 wo0 = {{wo00, wo01, wo02, wo03}}, rs0 = {{rs00, rs01, rs02, rs03}};
    acc_ro = kb4_add(acc_ro, kb4_mul(kb4_sub(wo0, kb4_mul(rs0, comp)), kb4_load(inv0 + 4 * x)));
    if (npts > 1) {
        kb4 wo1 = {{wo10, wo11, wo12, wo13}}, rs1 = {{rs10, rs11, rs12, rs13}};
        acc_ro = kb4_add(acc_ro, kb4_mul(kb4_sub(wo1, kb4_mul(rs1, comp)), kb4_load(inv1 + 4 * x)));
    }
    kb4_store(ro + 4 * x, acc_ro);
}
