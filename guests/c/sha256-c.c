/*
 * sha256-c: exercises the C library (cloak.h): bincode Vec<u8> input, heap,
 * SHA-256 with the precompiles and in software, stdout.
 * Input: one buffer, a bincode Vec<u8> (8-byte LE length + bytes).
 * Public values: SHA-256 via SHA_EXTEND/SHA_COMPRESS (32 bytes) ||
 *                SHA-256 in software (32 bytes); both equal.  Exit code 0,
 *                or 2 if the two digests differ.
 * Stdout: "sha256-c: <len> bytes\n".
 */
#include <cloak.h>

int main(void) {
    size_t len;
    const uint8_t *data = cloak_read_vec(&len);
    uint8_t *d = (uint8_t *)cloak_malloc(64);
    cloak_sha256_precompile(data, len, d);
    cloak_sha256(data, len, d + 32);
    cloak_commit(d, 64);
    cloak_print("sha256-c: ");
    cloak_print_u32((uint32_t)len);
    cloak_print(" bytes\n");
    return memcmp(d, d + 32, 32) == 0 ? 0 : 2;
}
