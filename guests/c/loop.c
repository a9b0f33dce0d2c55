/*
 * loop: input u32 n (bincode: 4 bytes LE).
 * Runs a counted loop of n iterations:
 *     x = 0; for i in 0..n { x = x * 1664525 + 1013904223 + i; x ^= x >> 7; }
 * (all arithmetic mod 2^32).
 * Public values: n (u32 LE) || x (u32 LE).  Exit code 0.
 */
#include <cloak.h>

int main(void) {
    uint32_t n = cloak_read_u32();
    uint32_t x = 0;
    for (uint32_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u + i;
        x ^= x >> 7;
    }
    cloak_commit_u32(n);
    cloak_commit_u32(x);
    return 0;
}
