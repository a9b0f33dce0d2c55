// KoalaBear field arithmetic (p = 2^31 - 2^24 + 1) and its degree-4 binomial
// extension (X^4 = 3), in Plonky3's representation.
//
// Representation: every u32 on the device is a KoalaBear element in
// Montgomery form, x * 2^32 mod p, reduced to [0, p): exactly the bytes of a
// `p3_koala_bear::KoalaBear` (`MontyField31` is `repr(transparent)` over that
// u32). Buffers therefore move between host and device with a plain memcpy;
// no conversion happens at the boundary. Every function here returns a
// canonical value in [0, p), so results are bit-identical to Plonky3's.
//
// Included by every kernel source (the host prepends it before NVRTC runs).

typedef unsigned int u32;
typedef unsigned long long u64;

#define KB_P 0x7f000001u
// p^-1 mod 2^32 (Plonky3's MONTY_MU for KoalaBear).
#define KB_MU 0x81000001u
// 1 in Montgomery form: 2^32 mod p.
#define KB_ONE 0x01fffffeu

// Conditional corrections as an unsigned min: of s and s - p (mod 2^32)
// the smaller is the one in [0, p), the other having wrapped past 2^32 - p
// or being at least p. One min instead of a comparison and a select.
__device__ __forceinline__ u32 kb_add(u32 a, u32 b) {
    u32 s = a + b;  // < 2^32 since a, b < p < 2^31
    return min(s, s - KB_P);
}

__device__ __forceinline__ u32 kb_sub(u32 a, u32 b) {
    u32 d = a - b;
    return min(d, d + KB_P);
}

__device__ __forceinline__ u32 kb_neg(u32 a) { return a == 0 ? 0 : KB_P - a; }

__device__ __forceinline__ u32 kb_double(u32 a) { return kb_add(a, a); }

// Montgomery product a * b * 2^-32 mod p, as Plonky3's `monty_reduce`:
// x = a*b, t = (x mod 2^32) * MU mod 2^32, result = (x - t*p) / 2^32 (+ p if
// negative). x and t*p agree in their low 32 bits, so only the high words of
// the two products are needed.
__device__ __forceinline__ u32 kb_mul(u32 a, u32 b) {
    u32 lo = a * b;
    u32 hi = __umulhi(a, b);
    u32 t = lo * KB_MU;
    u32 uhi = __umulhi(t, KB_P);
    u32 r = hi - uhi;  // hi - uhi in (-p, p), wrapped when negative
    return min(r, r + KB_P);
}

// a * 2^-k mod p for 1 <= k <= 24: p = 1 mod 2^24, so t = -a mod 2^k makes
// a + t*p divisible by 2^k, and (a + t*p) / 2^k < p. In Montgomery form this
// is the product by the constant 2^-k, as for any constant.
__device__ __forceinline__ u32 kb_div_2exp(u32 a, int k) {
    u32 t = (0u - a) & ((1u << k) - 1);
    u64 v = (u64)a + (u64)t * KB_P;
    return (u32)(v >> k);
}

__device__ __forceinline__ u32 kb_square(u32 a) { return kb_mul(a, a); }

// Montgomery reduction of x < p * 2^32: x * 2^-32 mod p in [0, p). A sum of
// products of Montgomery words reduces to the Montgomery form of the sum of
// the products, so a dot product needs one reduction, not one a term.
__device__ __forceinline__ u32 kb_redc(u64 x) {
    u32 hi = (u32)(x >> 32);
    u32 t = (u32)x * KB_MU;
    u32 uhi = __umulhi(t, KB_P);
    u32 r = hi - uhi;
    return min(r, r + KB_P);
}

// p * 2^32, which reduces to 0.
#define KB_P_SHIFTED (((u64)KB_P) << 32)

// acc + a*b + c*d, kept below p * 2^32 (the bound of kb_redc): each product
// is below p^2, and p * 2^32 + 2 p^2 < 2^64, so one conditional
// subtraction every two products suffices.
__device__ __forceinline__ u64 kb_acc2(u64 acc, u32 a, u32 b, u32 c, u32 d) {
    acc += (u64)a * b;
    acc += (u64)c * d;
    return acc >= KB_P_SHIFTED ? acc - KB_P_SHIFTED : acc;
}

// acc + a*b, kept below p * 2^32.
__device__ __forceinline__ u64 kb_acc1(u64 acc, u32 a, u32 b) {
    acc += (u64)a * b;
    return acc >= KB_P_SHIFTED ? acc - KB_P_SHIFTED : acc;
}


__device__ __forceinline__ u32 kb_cube(u32 a) { return kb_mul(kb_square(a), a); }

__device__ __forceinline__ u32 kb_pow(u32 a, u32 e) {
    u32 r = KB_ONE;
    while (e) {
        if (e & 1) r = kb_mul(r, a);
        a = kb_square(a);
        e >>= 1;
    }
    return r;
}

// Inverse by Fermat: a^(p-2). Returns 0 for 0 (Plonky3's `try_inverse` gives None).
__device__ __forceinline__ u32 kb_inv(u32 a) { return kb_pow(a, KB_P - 2); }

// Degree-4 extension: a0 + a1 X + a2 X^2 + a3 X^3 with X^4 = W = 3, the
// layout of `BinomialExtensionField<KoalaBear, 4>` (4 consecutive u32).
struct kb4 {
    u32 c[4];
};

__device__ __forceinline__ u32 kb_mul_w(u32 a) { return kb_add(kb_double(a), a); }

__device__ __forceinline__ kb4 kb4_add(kb4 a, kb4 b) {
    kb4 r;
#pragma unroll
    for (int i = 0; i < 4; i++) r.c[i] = kb_add(a.c[i], b.c[i]);
    return r;
}

__device__ __forceinline__ kb4 kb4_sub(kb4 a, kb4 b) {
    kb4 r;
#pragma unroll
    for (int i = 0; i < 4; i++) r.c[i] = kb_sub(a.c[i], b.c[i]);
    return r;
}

__device__ __forceinline__ kb4 kb4_mul(kb4 a, kb4 b) {
    kb4 r;
    r.c[0] = kb_add(kb_mul(a.c[0], b.c[0]),
                    kb_mul_w(kb_add(kb_add(kb_mul(a.c[1], b.c[3]), kb_mul(a.c[2], b.c[2])),
                                    kb_mul(a.c[3], b.c[1]))));
    r.c[1] = kb_add(kb_add(kb_mul(a.c[0], b.c[1]), kb_mul(a.c[1], b.c[0])),
                    kb_mul_w(kb_add(kb_mul(a.c[2], b.c[3]), kb_mul(a.c[3], b.c[2]))));
    r.c[2] = kb_add(kb_add(kb_add(kb_mul(a.c[0], b.c[2]), kb_mul(a.c[1], b.c[1])),
                           kb_mul(a.c[2], b.c[0])),
                    kb_mul_w(kb_mul(a.c[3], b.c[3])));
    r.c[3] = kb_add(kb_add(kb_mul(a.c[0], b.c[3]), kb_mul(a.c[1], b.c[2])),
                    kb_add(kb_mul(a.c[2], b.c[1]), kb_mul(a.c[3], b.c[0])));
    return r;
}

// Extension times base: each coordinate times b.
__device__ __forceinline__ kb4 kb4_mul_base(kb4 a, u32 b) {
#pragma unroll
    for (int k = 0; k < 4; k++) a.c[k] = kb_mul(a.c[k], b);
    return a;
}

__device__ __forceinline__ kb4 kb4_load(const u32* p) {
    kb4 r;
#pragma unroll
    for (int i = 0; i < 4; i++) r.c[i] = p[i];
    return r;
}

__device__ __forceinline__ void kb4_store(u32* p, kb4 a) {
#pragma unroll
    for (int i = 0; i < 4; i++) p[i] = a.c[i];
}

// Fill a buffer with one u32 (used to poison outputs before a check).
extern "C" __global__ void fill_u32(u32* out, u64 n, u32 value) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    u64 stride = (u64)gridDim.x * blockDim.x;
    for (; i < n; i += stride) out[i] = value;
}

// Inverse in the degree-4 extension (X^4 = W): with Y = X^2, a = A + X B
// (A = a0 + a2 Y, B = a1 + a3 Y), a * (A - X B) = A^2 - Y B^2 = n0 + n1 Y,
// whose inverse is (n0 - n1 Y) / (n0^2 - W n1^2). Zero maps to zero.
__device__ __forceinline__ kb4 kb4_inv(kb4 a) {
    u32 a0 = a.c[0], a1 = a.c[1], a2 = a.c[2], a3 = a.c[3];
    u32 n0 = kb_sub(kb_add(kb_square(a0), kb_mul_w(kb_square(a2))),
                    kb_mul_w(kb_double(kb_mul(a1, a3))));
    u32 n1 = kb_sub(kb_sub(kb_double(kb_mul(a0, a2)), kb_square(a1)), kb_mul_w(kb_square(a3)));
    u32 d = kb_inv(kb_sub(kb_square(n0), kb_mul_w(kb_square(n1))));
    kb4 conj = {{a0, kb_neg(a1), a2, kb_neg(a3)}};
    kb4 ninv = {{kb_mul(n0, d), 0u, kb_mul(kb_neg(n1), d), 0u}};
    return kb4_mul(conj, ninv);
}
