// Host emulation of the few CUDA features the kernels use, so the kernel
// sources in ../cuda can be compiled by a C++ compiler and run on the CPU
// (tests/host_emulation.rs). Threads of a block run one after another, in
// index order. That is exact for these kernels: hash_rows only shares what
// thread 0 writes first, and ntt_dif_pass is run with blockDim.y = 1, where
// each thread touches only its own shared-memory column.
// Kernels whose threads share work through shared memory keep a path for
// the emulation under this macro (zk_scatter), or run under
// emu_launch_threads: a thread per CUDA thread, with a real barrier.
#define CLOAK_EMU 1
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

struct emu_dim3 {
    unsigned x = 1, y = 1, z = 1;
};
static thread_local emu_dim3 threadIdx;
static emu_dim3 blockIdx, blockDim, gridDim;
static std::vector<unsigned> emu_dyn_smem(1 << 16);

// The barrier of a block run by emu_launch_threads (none otherwise, where
// __syncthreads does nothing).
struct emu_barrier {
    std::mutex m;
    std::condition_variable cv;
    unsigned n, waiting = 0, generation = 0;
    explicit emu_barrier(unsigned threads) : n(threads) {}
    void wait() {
        std::unique_lock<std::mutex> lock(m);
        unsigned gen = generation;
        if (++waiting == n) {
            waiting = 0;
            generation++;
            cv.notify_all();
        } else {
            cv.wait(lock, [&] { return generation != gen; });
        }
    }
};
static emu_barrier* emu_block_barrier = nullptr;
static inline void emu_syncthreads() {
    if (emu_block_barrier) emu_block_barrier->wait();
}

#define __device__
#define __global__
#define __forceinline__ inline
#define __constant__ static const
#define __shared__ static
#define __restrict__
#define __syncthreads() emu_syncthreads()

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

// Runs `kernel()` for every thread of a (gx, gy) x (bx, by) launch, each
// block's threads at once on threads of their own that wait for each
// other at __syncthreads, as on the device: for kernels whose threads
// read what others wrote to shared memory.
template <class F>
static void emu_launch_threads(unsigned gx, unsigned gy, unsigned bx, unsigned by, F kernel) {
    gridDim.x = gx;
    gridDim.y = gy;
    blockDim.x = bx;
    blockDim.y = by;
    for (unsigned b = 0; b < gx * gy; b++) {
        blockIdx.x = b % gx;
        blockIdx.y = b / gx;
        emu_barrier barrier(bx * by);
        emu_block_barrier = &barrier;
        std::vector<std::thread> threads;
        for (unsigned y = 0; y < by; y++)
            for (unsigned x = 0; x < bx; x++)
                threads.emplace_back([=, &kernel] {
                    threadIdx.x = x;
                    threadIdx.y = y;
                    kernel();
                });
        for (auto& t : threads) t.join();
        emu_block_barrier = nullptr;
    }
    blockIdx.y = 0;
    gridDim.y = 1;
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
