// FRI's commit phase (p3-fri 0.8.0, arity 2): the fold of one layer and the
// injection of a shorter reduced input. Extension elements are 4 words,
// lowest coefficient first; vectors are in bit-reversed order, as p3 keeps
// them, so a row's two evaluations at x and -x are adjacent.

// `TwoAdicFriFolding::fold_matrix(beta, 1, m)` for the n x 2 matrix m whose
// row i is (lo, hi) = (in[2i], in[2i+1]):
//   out[i] = (lo + hi) / 2 + (lo - hi) * beta * (g_inv^bitrev_n(i) / 2),
// with g_inv the inverse of the primitive 2n-th root of unity (log_n = log2 n).
// `half` is 1/2. Exact field arithmetic: the same element as p3's packed or
// scalar path, whatever the order of operations.
extern "C" __global__ void fri_fold2(const u32* __restrict__ in, u32* __restrict__ out, u64 n,
                                     u32 log_n, u32 g_inv, u32 half, u32 b0, u32 b1, u32 b2,
                                     u32 b3) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    kb4 beta = {{b0, b1, b2, b3}};
    u32 rev = log_n == 0 ? 0u : (__brev((u32)i) >> (32 - log_n));
    u32 halve_inv_power = kb_mul(kb_pow(g_inv, rev), half);
    kb4 lo = kb4_load(in + 8 * i), hi = kb4_load(in + 8 * i + 4);
    kb4 even = kb4_mul_base(kb4_add(lo, hi), half);
    kb4 odd = kb4_mul(kb4_mul_base(kb4_sub(lo, hi), halve_inv_power), beta);
    kb4_store(out + 4 * i, kb4_add(even, odd));
}

// acc[i] += s * v[i] for n extension elements (a reduced input joining the
// folded vector, scaled by beta^arity).
extern "C" __global__ void fri_add_scaled(u32* __restrict__ acc, const u32* __restrict__ v, u64 n,
                                          u32 s0, u32 s1, u32 s2, u32 s3) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    kb4 s = {{s0, s1, s2, s3}};
    kb4_store(acc + 4 * i, kb4_add(kb4_load(acc + 4 * i), kb4_mul(s, kb4_load(v + 4 * i))));
}
