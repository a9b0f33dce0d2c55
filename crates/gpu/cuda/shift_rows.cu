// The Shift table's rows from their inputs, on the device: what
// crates/machine/src/shift.rs (`fill_row`, via `ShiftRowInputs::into_values`)
// does on the host, cell for cell. The column indices (S_*) and input slots
// (SIN_*) are defined in front of this source from the Rust constants
// (src/shift_rows.rs).
//
// One thread a row: `inputs` holds the `n` events' inputs as Montgomery
// words (the unpacked upload: the op, 0 to 2 for SLL, SRL, SRA, then b's and
// c's limbs); `out` gets `height` rows of S_WIDTH Montgomery words, the
// events' and then zero rows.

__device__ __forceinline__ u32 shift_mont(u32 x) { return kb_mul(x, 0x17f7efe4u); }  // x R
__device__ __forceinline__ u32 shift_canon(u32 m) { return kb_mul(m, 1u); }         // m R^-1

extern "C" __global__ void shift_expand(const u32* __restrict__ inputs, u32* __restrict__ out,
                                        u64 n, u64 height) {
    u64 r = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= height) return;
    u32 row[S_WIDTH];
#pragma unroll
    for (int k = 0; k < S_WIDTH; k++) row[k] = 0;
    if (r < n) {
        const u32* in = inputs + r * SIN_WIDTH;
        u32 op = shift_canon(in[SIN_OP]);
        u32 b_lo = shift_canon(in[SIN_B_LO]), b_hi = shift_canon(in[SIN_B_LO + 1]);
        u32 c_lo = shift_canon(in[SIN_C_LO]), c_hi = shift_canon(in[SIN_C_LO + 1]);
        u32 b = b_lo | b_hi << 16;
        u32 s = c_lo & 31;
        bool fill = op == 2 && (b >> 31) == 1;
        u32 sll = b << s;
        u32 sr = fill ? (u32)((int)b >> s) : b >> s;
        u32 a = op == 0 ? sll : sr;
        row[S_A_LO] = shift_mont(a & 0xffff);
        row[S_A_LO + 1] = shift_mont(a >> 16);
        row[S_B_LO] = shift_mont(b_lo);
        row[S_B_LO + 1] = shift_mont(b_hi);
        row[S_C_LO] = shift_mont(c_lo);
        row[S_C_LO + 1] = shift_mont(c_hi);
#pragma unroll
        for (int i = 0; i < 32; i++) row[S_B_BITS + i] = (b >> i & 1) ? KB_ONE : 0;
        row[S_SHAMT + s] = KB_ONE;
        row[S_K] = shift_mont(c_lo >> 5);
        row[S_FILL] = fill ? KB_ONE : 0;
        if (op <= 2) row[S_IS_SLL + op] = KB_ONE;
        row[S_SLL_LO] = shift_mont(sll & 0xffff);
        row[S_SLL_LO + 1] = shift_mont(sll >> 16);
        row[S_SR_LO] = shift_mont(sr & 0xffff);
        row[S_SR_LO + 1] = shift_mont(sr >> 16);
    }
    u32* dst = out + r * S_WIDTH;
#pragma unroll
    for (int k = 0; k < S_WIDTH; k++) dst[k] = row[k];
}
