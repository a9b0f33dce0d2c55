// Element-wise kernels over KoalaBear and its degree-4 extension, used to
// check the arithmetic in field.cuh against Plonky3.

// op: 0 add, 1 sub, 2 mul, 3 inverse (of a; b unused).
extern "C" __global__ void kb_binop(const u32* a, const u32* b, u32* out, u64 n, u32 op) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    u32 x = a[i], y = b[i], r;
    switch (op) {
        case 0: r = kb_add(x, y); break;
        case 1: r = kb_sub(x, y); break;
        case 2: r = kb_mul(x, y); break;
        default: r = kb_inv(x); break;
    }
    out[i] = r;
}

// op: 0 add, 1 sub, 2 mul; n extension elements of 4 u32 each.
extern "C" __global__ void kb4_binop(const u32* a, const u32* b, u32* out, u64 n, u32 op) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    kb4 x = kb4_load(a + 4 * i), y = kb4_load(b + 4 * i), r;
    switch (op) {
        case 0: r = kb4_add(x, y); break;
        case 1: r = kb4_sub(x, y); break;
        default: r = kb4_mul(x, y); break;
    }
    kb4_store(out + 4 * i, r);
}
