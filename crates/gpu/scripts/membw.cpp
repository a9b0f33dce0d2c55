// Host memory bandwidth with 1 to N threads (the `membw` step of
// device-steps.sh): each thread writes (memset), reads (a sum) and copies
// (memcpy) a region of its own, the best of three rounds each, in GB/s over
// all threads. Trace generation and packing move hundreds of MB a shard on
// the host, so this is the ceiling pass 1's host work runs into.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

static double run(int threads, size_t bytes, int kind) {
    std::vector<std::vector<uint64_t>> src(threads), dst(threads);
    for (int t = 0; t < threads; t++) {
        src[t].assign(bytes / 8, 1);
        dst[t].assign(bytes / 8, 2);
    }
    double best = 0;
    volatile uint64_t sink = 0;
    for (int round = 0; round < 3; round++) {
        auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; t++)
            ts.emplace_back([&, t] {
                if (kind == 0) {
                    memset(dst[t].data(), round, bytes);
                } else if (kind == 1) {
                    uint64_t s = 0;
                    for (uint64_t v : src[t]) s += v;
                    sink += s;
                } else {
                    memcpy(dst[t].data(), src[t].data(), bytes);
                }
            });
        for (auto& t : ts) t.join();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        double moved = (double)bytes * threads * (kind == 2 ? 2 : 1);
        if (moved / s / 1e9 > best) best = moved / s / 1e9;
    }
    return best;
}

int main(int argc, char** argv) {
    size_t bytes = (size_t)256 << 20;
    printf("threads  write GB/s  read GB/s  copy GB/s (read + write)\n");
    for (int threads : {1, 2, 4, 8, 12, 16}) {
        printf("%7d  %10.1f  %9.1f  %9.1f\n", threads, run(threads, bytes, 0), run(threads, bytes, 1),
               run(threads, bytes, 2));
        fflush(stdout);
    }
    return 0;
}
