// Helpers of the generated quotient kernels (src/codegen.rs puts this in
// front of each table's generated code; field.cuh comes first).
//
// sel_consts, computed on the host (src/quotient.rs), r = 2^log_step:
//   [0] the quotient coset's shift s, [1] its generator w_Q,
//   [2] w_n^-1 (the trace domain's last point), [3] unused,
//   [4 .. 4+r) Z_H on the coset, (s^n w_r^j - 1) for j < r,
//   [4+r .. 4+2r) their inverses,
//   then w_Q^lo for lo < 2^L and s w_Q^(hi 2^L) for hi < Q / 2^L,
//   L = ceil(log Q / 2) (src/quotient.rs's point_low_bits), so that a
//   point is one product.
// Z_H(x) = x^n - 1 takes r values on the coset: point i has value j = i mod r.

__device__ __forceinline__ kb4 kb4_zero() {
    kb4 r;
#pragma unroll
    for (int k = 0; k < 4; k++) r.c[k] = 0;
    return r;
}

__device__ __forceinline__ kb4 kb4_make(u32 a, u32 b, u32 c, u32 d) {
    kb4 r;
    r.c[0] = a;
    r.c[1] = b;
    r.c[2] = c;
    r.c[3] = d;
    return r;
}

__device__ __forceinline__ kb4 kb4_neg(kb4 a) {
#pragma unroll
    for (int k = 0; k < 4; k++) a.c[k] = kb_neg(a.c[k]);
    return a;
}

__device__ __forceinline__ kb4 kb4_add_base(kb4 a, u32 b) {
    a.c[0] = kb_add(a.c[0], b);
    return a;
}

__device__ __forceinline__ kb4 kb4_sub_base(kb4 a, u32 b) {
    a.c[0] = kb_sub(a.c[0], b);
    return a;
}

// b - a
__device__ __forceinline__ kb4 kb4_base_sub(u32 b, kb4 a) {
    kb4 r = kb4_neg(a);
    r.c[0] = kb_sub(b, a.c[0]);
    return r;
}

// Extension column `col4 / 4` of the permutation matrix: its 4 base
// coordinates are the column-major base columns col4 .. col4+3.
__device__ __forceinline__ kb4 quot_perm(const u32* __restrict__ perm, u32 col4, u64 q, u64 row) {
    kb4 r;
#pragma unroll
    for (int k = 0; k < 4; k++) r.c[k] = perm[(u64)(col4 + k) * q + row];
    return r;
}

// Point i of the quotient coset: s * w_Q^i, from the two tables.
__device__ __forceinline__ u32 quot_point(const u32* __restrict__ c, u64 i, u32 log_q,
                                          u32 log_step) {
    const u32 low_bits = (log_q + 1) / 2;  // src/quotient.rs's point_low_bits
    const u32* low = c + 4 + (2u << log_step);
    const u32* high = low + (1u << low_bits);
    return kb_mul(high[i >> low_bits], low[i & ((1u << low_bits) - 1)]);
}

__device__ __forceinline__ u32 quot_zh(const u32* __restrict__ c, u32 zi) { return c[4 + zi]; }

__device__ __forceinline__ u32 quot_inv_zh(const u32* __restrict__ c, u32 zi, u32 log_step) {
    return c[4 + (1u << log_step) + zi];
}

// Plonky3's Lagrange selectors of the first and last trace row at x:
// Z_H(x) / (x - 1) and Z_H(x) / (x - w_n^-1), with one inversion.
__device__ __forceinline__ void quot_first_last(const u32* __restrict__ c, u32 x, u32 zi,
                                                u32* first, u32* last) {
    u32 d_first = kb_sub(x, KB_ONE);
    u32 d_last = kb_sub(x, c[2]);
    u32 inv = kb_inv(kb_mul(d_first, d_last));
    u32 zh = quot_zh(c, zi);
    *first = kb_mul(kb_mul(zh, d_last), inv);
    *last = kb_mul(kb_mul(zh, d_first), inv);
}
