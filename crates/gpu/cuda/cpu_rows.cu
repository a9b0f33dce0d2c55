// The CPU table's rows from their inputs, on the device: the expansion
// crates/machine/src/cpu_rows.rs (`expand_row`, `padding_row`, `fill_derived`,
// `pad_and_mark_ends`) does on the host, cell for cell. The column indices
// (C_*, program fields F_*, input slots IN_*, the syscall flags' columns
// SYSCALL_COLS, the inputs copied to columns COPIED) are defined in front of
// this source from the Rust constants (src/cpu_rows.rs).
//
// One thread a row: `inputs` holds the real rows' inputs as Montgomery words
// (the unpacked upload, `n` rows of IN_WIDTH), `messages` each Program row's
// message as canonical words (FETCH_WIDTH each); `out` gets `height` rows of
// C_WIDTH Montgomery words, real rows at clocks start_clk.., then padding.

__device__ __forceinline__ u32 cpu_mont(u32 x) { return kb_mul(x, 0x17f7efe4u); }  // x R
__device__ __forceinline__ u32 cpu_canon(u32 m) { return kb_mul(m, 1u); }          // m R^-1

// The field element of a small signed integer, in Montgomery form.
__device__ __forceinline__ u32 cpu_signed(long long v) {
    return v < 0 ? kb_neg(cpu_mont((u32)(-v))) : cpu_mont((u32)v);
}

__constant__ unsigned short SYSCALL_COL[9] = SYSCALL_COLS;

extern "C" __global__ void cpu_expand(const u32* __restrict__ inputs,
                                      const u32* __restrict__ messages, u32* __restrict__ out,
                                      u64 n, u64 height, u64 start_clk) {
    u64 r = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= height) return;
    u32 row[C_WIDTH];
#pragma unroll
    for (int k = 0; k < C_WIDTH; k++) row[k] = 0;
    row[C_CLK] = cpu_mont((u32)((start_clk + r) % KB_P));
    // The message's flags, as integers (zero on padding rows).
    u32 m[FETCH_WIDTH];
#pragma unroll
    for (int k = 0; k < FETCH_WIDTH; k++) m[k] = 0;
    if (r < n) {
        u32 in[IN_WIDTH];
#pragma unroll
        for (int k = 0; k < IN_WIDTH; k++) in[k] = cpu_canon(inputs[r * IN_WIDTH + k]);
        const u32* msg = messages + (u64)in[IN_PROGRAM_ROW] * FETCH_WIDTH;
#pragma unroll
        for (int k = 0; k < FETCH_WIDTH; k++) {
            m[k] = msg[k];
            row[k] = cpu_mont(m[k]);
        }
        row[C_IS_REAL] = KB_ONE;
        // The inputs that are CPU columns: runs of (first input, first
        // column, count).
        const unsigned short copied[COPIED_RUNS][3] = COPIED;
#pragma unroll
        for (int j = 0; j < COPIED_RUNS; j++) {
#pragma unroll
            for (int k = 0; k < copied[j][2]; k++) row[copied[j][1] + k] = cpu_mont(in[copied[j][0] + k]);
        }
        u32 b_lo = in[IN_B_LO], b_hi = in[IN_B_LO + 1];
        u32 c_lo = in[IN_C_LO], c_hi = in[IN_C_LO + 1];
        u32 a = in[IN_A_LO] | in[IN_A_LO + 1] << 16;
        u32 lo = in[IN_ADDR_LO];
        row[C_ADDR_W] = cpu_mont(lo >> 2);
        row[C_ADDR_BIT0] = cpu_mont(lo & 1);
        row[C_ADDR_BIT1] = cpu_mont((lo >> 1) & 1);
        u32 bit0 = lo & 1, bit1 = (lo >> 1) & 1;
        u32 p_lo = in[IN_MEM_PREV_LO], p_hi = in[IN_MEM_PREV_LO + 1];
        u32 sel = bit1 ? p_hi : p_lo;
        u32 q0 = sel & 0xff, q1 = sel >> 8;
        u32 byte = bit0 ? q1 : q0;
        if (m[F_LB] + m[F_LBU] + m[F_SB] == 1) {
            row[C_Q0] = cpu_mont(q0);
            row[C_Q1] = cpu_mont(q1);
            row[C_QX] = cpu_mont(q0 ^ q1);
        }
        if (m[F_LB] == 1) {
            u32 sign = byte >> 7;
            row[C_SIGN] = cpu_mont(sign);
            row[C_SIGN_REST] = cpu_mont(512 * (byte - 128 * sign));
        } else if (m[F_LH] == 1) {
            u32 sign = sel >> 15;
            row[C_SIGN] = cpu_mont(sign);
            row[C_SIGN_REST] = cpu_mont(2 * (sel - (sign << 15)));
        } else if (m[F_SB] == 1) {
            u32 r0 = c_lo & 0xff, r1 = c_lo >> 8;
            row[C_R0] = cpu_mont(r0);
            row[C_R1] = cpu_mont(r1);
            row[C_RX] = cpu_mont(r0 ^ r1);
        }
        bool eq = b_lo == c_lo && b_hi == c_hi;
        row[C_EQ] = eq ? KB_ONE : 0;
        if (!eq) {
            long long d_lo = (long long)b_lo - (long long)c_lo;
            if (d_lo != 0) {
                row[C_INV_LO] = kb_inv(cpu_signed(d_lo));
            } else {
                row[C_INV_HI] = kb_inv(cpu_signed((long long)b_hi - (long long)c_hi));
            }
        }
        bool taken = false;
        if (m[F_BRANCH_EQ] == 1) {
            taken = eq != (m[F_BRANCH_NEG] == 1);
        } else if (m[F_BRANCH_LT] == 1) {
            taken = (a == 1) != (m[F_BRANCH_NEG] == 1);
        }
        row[C_TAKEN] = taken ? KB_ONE : 0;
        u32 sys = in[IN_SYSCALL];
        if (sys >= 1 && sys <= 9) {
            u32 col = SYSCALL_COL[sys - 1];
            row[col] = KB_ONE;
            if (col == C_SYS_HINT_LEN) {
                row[C_ADDR_W] = cpu_mont(a >> 16);
                row[C_SIGN_REST] = cpu_mont(a & 0xffff);
            }
            if (col == C_SYS_DEFERRED) row[C_ADDR_W] = cpu_mont(b_lo << 13);
        }
    } else {
        row[C_EQ] = KB_ONE;
    }
    // The helper columns (cpu::fill_derived), in the field.
    u32 bit0 = row[C_ADDR_BIT0];
    u32 c256 = cpu_mont(256);
    u32 new_sel = kb_add(kb_mul(kb_sub(KB_ONE, bit0), kb_add(row[C_R0], kb_mul(row[C_Q1], c256))),
                         kb_mul(bit0, kb_add(row[C_Q0], kb_mul(row[C_R0], c256))));
    row[C_STORED] = kb_add(kb_mul(row[F_SB], new_sel), kb_mul(row[F_SH], row[C_C_LO]));
    u32 is_mem = 0;
#pragma unroll
    for (int k = F_LB; k <= F_SW; k++) is_mem = kb_add(is_mem, row[k]);
    row[C_ADDR_HI_SCALED] =
        kb_mul(row[C_ADDR_HI], kb_add(kb_double(is_mem), kb_double(kb_double(row[F_JALR]))));
    row[C_ENDS] = (r + 1 == n) ? KB_ONE : 0;
    u32* dst = out + r * C_WIDTH;
#pragma unroll
    for (int k = 0; k < C_WIDTH; k++) dst[k] = row[k];
}
