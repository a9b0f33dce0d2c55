// Poseidon2 over KoalaBear, width 16 (the challenger's), as Plonky3's
// `Poseidon2KoalaBear<16>` (p3-poseidon2 0.8.0 with p3-monty-31's layers):
//
//   external linear layer (mds_light), then 4 full rounds, 20 or 23 partial
//   rounds, 4 full rounds.
//   full round:    s_i <- (s_i + rc_i)^3 for every i, then mds_light
//   partial round: s_0 <- (s_0 + rc)^3, then s <- (1 + Diag(V)) s
//                  (s_i <- sum(s) + V_i s_i)
//   mds_light:     each 4-chunk times M4 = [[2,3,1,1],[1,2,3,1],[1,1,2,3],[3,1,1,2]],
//                  then s_i += sum_j s_{4j + (i mod 4)}
//
// The round constants and the internal diagonals V are not written here: the
// host reads them from p3-koala-bear at run time and prepends them to this
// source as __constant__ arrays (P2_16_RC_INIT, P2_16_RC_TERM, P2_16_RC_INT,
// P2_16_DIAG, P2_16_PARTIAL, P2_HALF_FULL), so they are exactly Plonky3's.
//
// Kernels:
//   p2_permute_16: permute n states in place (checks)
//   grind16: the challenger's proof-of-work search
// (The Merkle commitments hash with BLAKE3: cuda/blake3.cu.)

__device__ __forceinline__ void apply_mat4(u32* x) {
    u32 t01 = kb_add(x[0], x[1]);
    u32 t23 = kb_add(x[2], x[3]);
    u32 t0123 = kb_add(t01, t23);
    u32 t01123 = kb_add(t0123, x[1]);
    u32 t01233 = kb_add(t0123, x[3]);
    u32 y3 = kb_add(t01233, kb_double(x[0]));
    u32 y1 = kb_add(t01123, kb_double(x[2]));
    u32 y0 = kb_add(t01123, t01);
    u32 y2 = kb_add(t01233, t23);
    x[0] = y0;
    x[1] = y1;
    x[2] = y2;
    x[3] = y3;
}

template <int W>
__device__ __forceinline__ void mds_light(u32* s) {
#pragma unroll
    for (int c = 0; c < W; c += 4) apply_mat4(s + c);
    u32 sums[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        u32 acc = s[k];
#pragma unroll
        for (int j = 4; j < W; j += 4) acc = kb_add(acc, s[j + k]);
        sums[k] = acc;
    }
#pragma unroll
    for (int i = 0; i < W; i++) s[i] = kb_add(s[i], sums[i & 3]);
}

template <int W>
__device__ __forceinline__ void full_round(u32* s, const u32* rc) {
#pragma unroll
    for (int i = 0; i < W; i++) s[i] = kb_cube(kb_add(s[i], rc[i]));
    mds_light<W>(s);
}

// The sum of W <= 32 canonical values, reduced once: t < 2^36 splits as
// hi * 2^31 + lo with 2^31 = 2^24 - 1 (mod p), and lo + hi * (2^24 - 1) < 2p.
// Four running sums, not one, so the additions do not form one chain of W
// (the partial rounds wait on this sum).
template <int W>
__device__ __forceinline__ u32 kb_sum(const u32* s) {
    u64 a[4] = {0, 0, 0, 0};
#pragma unroll
    for (int i = 0; i < W; i++) a[i & 3] += s[i];
    const u64 t = (a[0] + a[1]) + (a[2] + a[3]);
    u32 r = (u32)(t & 0x7fffffffu) + (u32)(t >> 31) * 0x00ffffffu;
    return r >= KB_P ? r - KB_P : r;
}

// The internal layer s_i <- sum + V_i s_i is generated with the rest of the
// constants (p2_internal<W>): each product by V_i (small integers and powers
// of 1/2, either sign) is written out as additions, doublings or a division
// by 2^k instead of a multiplication.
template <int W>
__device__ __forceinline__ void partial_round(u32* s, u32 rc, const u32* diag) {
    (void)diag;
    s[0] = kb_cube(kb_add(s[0], rc));
    const u32 sum = kb_sum<W>(s);
    p2_internal<W>(s, sum);
}

// The round loops stay loops: a permutation's code then fits the
// instruction cache (fully unrolled, the width-24 permutation the leaf
// hashes used until stop 24 was ~12 K instructions, and they ran 25-30%
// slower on an H100), at the
// cost of reading each round's constants by index. P2_UNROLLED (set by the
// host, CLOAK_P2_UNROLLED=1) unrolls them, and P2_UNROLL_PRAGMA
// (CLOAK_P2_UNROLL=N) N rounds at a time, for comparison.
#ifdef P2_UNROLLED
#define P2_ROUNDS _Pragma("unroll")
#elif defined(P2_UNROLL_PRAGMA)
#define P2_ROUNDS P2_UNROLL_PRAGMA
#else
#define P2_ROUNDS _Pragma("unroll 1")
#endif

template <int W>
__device__ __forceinline__ void permute(u32* s, const u32* rc_init, const u32* rc_term,
                                        const u32* rc_int, int partial, const u32* diag) {
    mds_light<W>(s);
    P2_ROUNDS
    for (int r = 0; r < P2_HALF_FULL; r++) full_round<W>(s, rc_init + r * W);
    P2_ROUNDS
    for (int r = 0; r < partial; r++) partial_round<W>(s, rc_int[r], diag);
    P2_ROUNDS
    for (int r = 0; r < P2_HALF_FULL; r++) full_round<W>(s, rc_term + r * W);
}

__device__ __forceinline__ void permute16(u32* s) {
    permute<16>(s, P2_16_RC_INIT, P2_16_RC_TERM, P2_16_RC_INT, P2_16_PARTIAL, P2_16_DIAG);
}

extern "C" __global__ void p2_permute_16(u32* states, u64 n) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    u32 s[16];
#pragma unroll
    for (int j = 0; j < 16; j++) s[j] = states[i * 16 + j];
    permute16(s);
#pragma unroll
    for (int j = 0; j < 16; j++) states[i * 16 + j] = s[j];
}

// Proof-of-work search (DetChallenger::grind): candidate c = start + thread
// index (c < p, as a field element c * R in Montgomery form) goes into
// base[witness_idx]; the state is permuted with Perm16 and passes where the
// canonical value of state[7] (the duplex's last rate word, the next sample)
// has its low bits under `mask` zero. *found becomes ~c of the smallest
// passing candidate (the largest ~c; it starts at 0, which no ~c is, as
// c < 2^31). The state travels in the launch's parameters.
struct GrindState {
    u32 s[16];
};

extern "C" __global__ void grind16(GrindState base, u32 witness_idx, u32 mask, u32 start,
                                   u32 count, u32* __restrict__ found) {
    const u32 t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    const u32 c = start + t;
    if (c >= KB_P || ~c <= *found) return;
    const u32 cand = kb_mul(c, 0x17f7efe4u);  // R^2 mod p: c * R^2 * R^-1 = c * R
    u32 s[16];
#pragma unroll
    for (int j = 0; j < 16; j++) s[j] = j == witness_idx ? cand : base.s[j];
    permute16(s);
    const u32 out = kb_mul(s[7], 1u);  // Montgomery form back to the canonical value
    if ((out & mask) == 0) atomicMax(found, ~c);
}
