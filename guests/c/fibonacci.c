/*
 * fibonacci: input u32 n (bincode: 4 bytes LE).
 * Computes fib(n) mod 2^32 iteratively (fib(0) = 0, fib(1) = 1).
 * Public values: n (u32 LE) || fib(n) (u32 LE).  Exit code 0.
 */
#include <cloak.h>

int main(void) {
    uint32_t n = cloak_read_u32();
    uint32_t a = 0, b = 1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = a + b;
        a = b;
        b = c;
    }
    cloak_commit_u32(n);
    cloak_commit_u32(a);
    return 0;
}
