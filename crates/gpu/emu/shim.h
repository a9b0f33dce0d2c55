// Host emulation of the few CUDA features the kernels use, so the kernel
// sources in ../cuda can be compiled by a C++ compiler and run on the CPU
// (tests/host_emulation.rs). Threads of a block run one after another, in
// index order. That is exact for these kernels: hash_rows only shares what
// thread 0 writes first, and ntt_dif_pass is run with blockDim.y = 1, where
// each thread touches only its own shared-memory column.
// Kernels whose threads share work through shared memory keep a path for
// the emulation under this macro (zk_scatter).
#define CLOAK_EMU 1
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

struct emu_dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
static std::vector<unsigned> emu_dyn_smem(1 << 16);

#define __device__
#define __global__
#define __forceinline__ inline
#define __constant__ static const
#define __shared__ static
#define __restrict__
#define __syncthreads() ((void)0)

// CUDA's unsigned min (field.cuh's corrections).
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}
static inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}

// Threads run one at a time, so the atomic is a plain read-modify-write.
static inline unsigned atomicMax(unsigned* p, unsigned v) {
    unsigned old = *p;
    if (v > old) *p = v;
    return old;
}

// Runs `kernel(args...)` for every thread of a grid x block launch.
template <class F>
static void emu_launch(unsigned grid, unsigned bx, unsigned by, F kernel) {
    gridDim.x = grid;
    blockDim.x = bx;
    blockDim.y = by;
    for (unsigned b = 0; b < grid; b++) {
        blockIdx.x = b;
        for (unsigned y = 0; y < by; y++)
            for (unsigned x = 0; x < bx; x++) {
                threadIdx.x = x;
                threadIdx.y = y;
                kernel();
            }
    }
}
