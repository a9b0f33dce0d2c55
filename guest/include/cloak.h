/*
 * cloak.h - C guest library for the Cloak zkVM (RV32IM, SP1 v4 guest ABI).
 *
 * See shared/spec/guest-abi.md for the contract.  Header only: include it in
 * exactly one translation unit that defines `int main(void)` to get the entry
 * point `_start`; in further translation units of the same program define
 * CLOAK_NO_START before including it.  Shared state (heap pointer, public-values
 * hasher) uses weak definitions, so several translation units link fine.
 *
 * Build (see guests/build.sh):
 *   clang --target=riscv32-unknown-elf -march=rv32im -mabi=ilp32 -nostdlib \
 *         -ffreestanding -fuse-ld=lld -O2 -I guest/include \
 *         -Wl,-T,guest/link.ld prog.c -o prog.elf
 *
 * Program life cycle:
 *   _start: gp = __global_pointer$, sp = 0x00200400, r = main(),
 *           cloak_exit(r): 8 x COMMIT (SHA-256 of all bytes written to fd 3,
 *           word i = bytes 4i..4i+4 little-endian), 8 x COMMIT_DEFERRED_PROOFS(0),
 *           HALT(r).
 *   cloak_halt(code) (also used by cloak_panic) runs the same sequence, like
 *   SP1's syscall_halt, so the VM always sees a consistent public-values digest.
 */
#ifndef CLOAK_H
#define CLOAK_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__riscv) || __riscv_xlen != 32
#error "cloak.h is for riscv32 (rv32im) targets"
#endif
#if defined(__riscv_compressed)
#error "Cloak does not support compressed instructions: build with -march=rv32im"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Syscall codes (guest-abi.md)                                             */
/* ------------------------------------------------------------------------ */
#define CLOAK_SYS_HALT                  0x00000000u
#define CLOAK_SYS_WRITE                 0x00000002u
#define CLOAK_SYS_ENTER_UNCONSTRAINED   0x00000003u
#define CLOAK_SYS_EXIT_UNCONSTRAINED    0x00000004u
#define CLOAK_SYS_COMMIT                0x00000010u
#define CLOAK_SYS_COMMIT_DEFERRED_PROOFS 0x0000001Au
#define CLOAK_SYS_HINT_LEN              0x000000F0u
#define CLOAK_SYS_HINT_READ             0x000000F1u
#define CLOAK_SYS_SHA_EXTEND            0x00300105u
#define CLOAK_SYS_SHA_COMPRESS          0x00010106u
#define CLOAK_SYS_KECCAK_PERMUTE        0x00010109u

/* File descriptors for cloak_write. */
#define CLOAK_FD_STDOUT  1u
#define CLOAK_FD_STDERR  2u
#define CLOAK_FD_PUBLIC  3u
#define CLOAK_FD_HINT    4u

/* Memory layout (SP1 v4). */
#define CLOAK_STACK_TOP  0x00200400u
#define CLOAK_TEXT_START 0x00200800u
#define CLOAK_MEM_LIMIT  0x78000000u

#define CLOAK_WEAK __attribute__((weak))
#define CLOAK_NORETURN __attribute__((noreturn))

/* ------------------------------------------------------------------------ */
/* Raw ecalls: code in t0, args in a0/a1/a2, result in t0.                  */
/* ------------------------------------------------------------------------ */
static inline uint32_t cloak_ecall0(uint32_t code) {
    register uint32_t t0 __asm__("t0") = code;
    __asm__ volatile("ecall" : "+r"(t0) : : "memory");
    return t0;
}

static inline uint32_t cloak_ecall1(uint32_t code, uint32_t a0) {
    register uint32_t t0 __asm__("t0") = code;
    register uint32_t ra0 __asm__("a0") = a0;
    __asm__ volatile("ecall" : "+r"(t0) : "r"(ra0) : "memory");
    return t0;
}

static inline uint32_t cloak_ecall2(uint32_t code, uint32_t a0, uint32_t a1) {
    register uint32_t t0 __asm__("t0") = code;
    register uint32_t ra0 __asm__("a0") = a0;
    register uint32_t ra1 __asm__("a1") = a1;
    __asm__ volatile("ecall" : "+r"(t0) : "r"(ra0), "r"(ra1) : "memory");
    return t0;
}

static inline uint32_t cloak_ecall3(uint32_t code, uint32_t a0, uint32_t a1, uint32_t a2) {
    register uint32_t t0 __asm__("t0") = code;
    register uint32_t ra0 __asm__("a0") = a0;
    register uint32_t ra1 __asm__("a1") = a1;
    register uint32_t ra2 __asm__("a2") = a2;
    __asm__ volatile("ecall" : "+r"(t0) : "r"(ra0), "r"(ra1), "r"(ra2) : "memory");
    return t0;
}

/* HALT without the commit sequence.  Prefer cloak_halt(). */
static inline CLOAK_NORETURN void cloak_sys_halt(uint32_t code) {
    cloak_ecall1(CLOAK_SYS_HALT, code);
    for (;;) {
    }
}

/* WRITE to fd 1 (stdout), 2 (stderr), 3 (public values; use cloak_commit so
 * the digest is tracked) or 4 (hint output). */
static inline void cloak_write(uint32_t fd, const void *ptr, size_t len) {
    cloak_ecall3(CLOAK_SYS_WRITE, fd, (uint32_t)(uintptr_t)ptr, (uint32_t)len);
}

/* Length in bytes of the next input buffer. */
static inline uint32_t cloak_hint_len(void) {
    return cloak_ecall0(CLOAK_SYS_HINT_LEN);
}

/* Copy the next input buffer to ptr (must be 4-byte aligned); len must equal
 * cloak_hint_len(). */
static inline void cloak_hint_read(void *ptr, size_t len) {
    cloak_ecall2(CLOAK_SYS_HINT_READ, (uint32_t)(uintptr_t)ptr, (uint32_t)len);
}

/* SHA-256 message schedule: w[16..64] from w[0..16]. */
static inline void cloak_sha_extend(uint32_t w[64]) {
    cloak_ecall1(CLOAK_SYS_SHA_EXTEND, (uint32_t)(uintptr_t)w);
}

/* One SHA-256 compression of schedule w[0..64] into state h[0..8]. */
static inline void cloak_sha_compress(uint32_t w[64], uint32_t h[8]) {
    cloak_ecall2(CLOAK_SYS_SHA_COMPRESS, (uint32_t)(uintptr_t)w, (uint32_t)(uintptr_t)h);
}

/* Keccak-f[1600] on 25 little-endian u64 lanes, in place. */
static inline void cloak_keccak_permute(uint64_t state[25]) {
    cloak_ecall1(CLOAK_SYS_KECCAK_PERMUTE, (uint32_t)(uintptr_t)state);
}

/* ------------------------------------------------------------------------ */
/* Freestanding memory functions (the compiler may emit calls to these).    */
/* ------------------------------------------------------------------------ */
CLOAK_WEAK void *memcpy(void *dst, const void *src, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0) {
        for (; n >= 4; n -= 4, d += 4, s += 4)
            *(uint32_t *)d = *(const uint32_t *)s;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

CLOAK_WEAK void *memmove(void *dst, const void *src, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (d == s || n == 0)
        return dst;
    if (d < s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

CLOAK_WEAK void *memset(void *dst, int c, size_t n) {
    unsigned char *d = (unsigned char *)dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

CLOAK_WEAK int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return (int)*x - (int)*y;
    return 0;
}

static inline size_t cloak_strlen(const char *s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* ------------------------------------------------------------------------ */
/* SHA-256 in software (used for the public-values digest).                 */
/* ------------------------------------------------------------------------ */
typedef struct {
    uint32_t h[8];
    uint8_t buf[64];
    uint32_t buf_len;
    uint64_t total_len;
} cloak_sha256_ctx;

#define CLOAK_SHA256_IV                                                      \
    { 0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,                    \
      0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u }

CLOAK_WEAK const uint32_t cloak_sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static inline uint32_t cloak__ror32(uint32_t x, unsigned n) {
    return (x >> n) | (x << (32u - n));
}

/* Fill w[16..64] from w[0..16] (software version of SHA_EXTEND). */
static inline void cloak_sha256_extend_soft(uint32_t w[64]) {
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = cloak__ror32(w[i - 15], 7) ^ cloak__ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = cloak__ror32(w[i - 2], 17) ^ cloak__ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
}

/* Software version of SHA_COMPRESS. */
static inline void cloak_sha256_compress_soft(const uint32_t w[64], uint32_t h[8]) {
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = cloak__ror32(e, 6) ^ cloak__ror32(e, 11) ^ cloak__ror32(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + cloak_sha256_k[i] + w[i];
        uint32_t S0 = cloak__ror32(a, 2) ^ cloak__ror32(a, 13) ^ cloak__ror32(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

/* Process one 64-byte block: with use_precompile != 0 the SHA_EXTEND and
 * SHA_COMPRESS syscalls are used, otherwise the software versions. */
static inline void cloak__sha256_block(uint32_t h[8], const uint8_t *block, int use_precompile) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = ((uint32_t)block[4 * i] << 24) | ((uint32_t)block[4 * i + 1] << 16) |
               ((uint32_t)block[4 * i + 2] << 8) | (uint32_t)block[4 * i + 3];
    if (use_precompile) {
        cloak_sha_extend(w);
        cloak_sha_compress(w, h);
    } else {
        cloak_sha256_extend_soft(w);
        cloak_sha256_compress_soft(w, h);
    }
}

static inline void cloak_sha256_init(cloak_sha256_ctx *c) {
    static const uint32_t iv[8] = CLOAK_SHA256_IV;
    for (int i = 0; i < 8; i++)
        c->h[i] = iv[i];
    c->buf_len = 0;
    c->total_len = 0;
}

static inline void cloak_sha256_update_ex(cloak_sha256_ctx *c, const void *data, size_t len,
                                          int use_precompile) {
    const uint8_t *p = (const uint8_t *)data;
    c->total_len += len;
    if (c->buf_len) {
        while (len && c->buf_len < 64) {
            c->buf[c->buf_len++] = *p++;
            len--;
        }
        if (c->buf_len < 64)
            return;
        cloak__sha256_block(c->h, c->buf, use_precompile);
        c->buf_len = 0;
    }
    while (len >= 64) {
        cloak__sha256_block(c->h, p, use_precompile);
        p += 64;
        len -= 64;
    }
    while (len--)
        c->buf[c->buf_len++] = *p++;
}

static inline void cloak_sha256_final_ex(cloak_sha256_ctx *c, uint8_t out[32], int use_precompile) {
    uint64_t bits = c->total_len * 8u;
    uint8_t pad = 0x80;
    cloak_sha256_update_ex(c, &pad, 1, use_precompile);
    pad = 0;
    while (c->buf_len != 56)
        cloak_sha256_update_ex(c, &pad, 1, use_precompile);
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (uint8_t)(bits >> (56 - 8 * i));
    cloak_sha256_update_ex(c, lenbuf, 8, use_precompile);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

static inline void cloak_sha256_update(cloak_sha256_ctx *c, const void *data, size_t len) {
    cloak_sha256_update_ex(c, data, len, 0);
}
static inline void cloak_sha256_final(cloak_sha256_ctx *c, uint8_t out[32]) {
    cloak_sha256_final_ex(c, out, 0);
}

/* One-shot SHA-256, software or with the SHA_EXTEND/SHA_COMPRESS precompiles. */
static inline void cloak_sha256(const void *data, size_t len, uint8_t out[32]) {
    cloak_sha256_ctx c;
    cloak_sha256_init(&c);
    cloak_sha256_update_ex(&c, data, len, 0);
    cloak_sha256_final_ex(&c, out, 0);
}
static inline void cloak_sha256_precompile(const void *data, size_t len, uint8_t out[32]) {
    cloak_sha256_ctx c;
    cloak_sha256_init(&c);
    cloak_sha256_update_ex(&c, data, len, 1);
    cloak_sha256_final_ex(&c, out, 1);
}

/* ------------------------------------------------------------------------ */
/* Public values                                                            */
/* ------------------------------------------------------------------------ */
/* Running SHA-256 of every byte committed (written to fd 3). */
CLOAK_WEAK cloak_sha256_ctx cloak_public_values_hasher = {CLOAK_SHA256_IV, {0}, 0, 0};

/* Append bytes to the public values: WRITE to fd 3 and hash them. */
static inline void cloak_commit(const void *ptr, size_t len) {
    cloak_write(CLOAK_FD_PUBLIC, ptr, len);
    cloak_sha256_update(&cloak_public_values_hasher, ptr, len);
}

static inline void cloak_commit_u32(uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    cloak_commit(b, 4);
}

static inline void cloak_commit_u64(uint64_t v) {
    cloak_commit_u32((uint32_t)v);
    cloak_commit_u32((uint32_t)(v >> 32));
}

/* Exit sequence (as SP1 v4 syscall_halt): 8 COMMIT words of the public-values
 * digest, 8 COMMIT_DEFERRED_PROOFS words of 0, then HALT(code). */
static inline CLOAK_NORETURN void cloak_halt(uint32_t code) {
    uint8_t d[32];
    cloak_sha256_final(&cloak_public_values_hasher, d);
    for (uint32_t i = 0; i < 8; i++) {
        uint32_t w = (uint32_t)d[4 * i] | ((uint32_t)d[4 * i + 1] << 8) |
                     ((uint32_t)d[4 * i + 2] << 16) | ((uint32_t)d[4 * i + 3] << 24);
        cloak_ecall2(CLOAK_SYS_COMMIT, i, w);
    }
    for (uint32_t i = 0; i < 8; i++)
        cloak_ecall2(CLOAK_SYS_COMMIT_DEFERRED_PROOFS, i, 0);
    cloak_sys_halt(code);
}

/* ------------------------------------------------------------------------ */
/* Console output                                                           */
/* ------------------------------------------------------------------------ */
static inline void cloak_puts_fd(uint32_t fd, const char *s) {
    cloak_write(fd, s, cloak_strlen(s));
}
static inline void cloak_print(const char *s) { cloak_puts_fd(CLOAK_FD_STDOUT, s); }
static inline void cloak_eprint(const char *s) { cloak_puts_fd(CLOAK_FD_STDERR, s); }

/* Decimal representation of v into buf (at least 11 bytes); returns length. */
static inline size_t cloak_fmt_u32(char *buf, uint32_t v) {
    char tmp[10];
    size_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        buf[i++] = tmp[--n];
    buf[i] = 0;
    return i;
}

static inline void cloak_print_u32(uint32_t v) {
    char b[11];
    cloak_write(CLOAK_FD_STDOUT, b, cloak_fmt_u32(b, v));
}

/* Print a message to stderr and halt with exit code 1. */
static inline CLOAK_NORETURN void cloak_panic(const char *msg) {
    cloak_eprint("panic: ");
    cloak_eprint(msg);
    cloak_eprint("\n");
    cloak_halt(1);
}

/* ------------------------------------------------------------------------ */
/* Heap: bump allocator from _end upward (never frees).                     */
/* ------------------------------------------------------------------------ */
extern char _end[];
CLOAK_WEAK uintptr_t cloak_heap_pos = 0;

static inline void *cloak_alloc(size_t size, size_t align) {
    if (cloak_heap_pos == 0)
        cloak_heap_pos = (uintptr_t)_end;
    if (align < 4)
        align = 4;
    uintptr_t p = (cloak_heap_pos + (align - 1)) & ~(uintptr_t)(align - 1);
    if (p < cloak_heap_pos || size > CLOAK_MEM_LIMIT || p > CLOAK_MEM_LIMIT - size)
        cloak_panic("out of memory");
    cloak_heap_pos = p + size;
    return (void *)p;
}

static inline void *cloak_malloc(size_t size) { return cloak_alloc(size, 8); }

static inline void *cloak_calloc(size_t n, size_t size) {
    /* fresh heap memory above _end is zero (never reused) */
    if (size && n > (size_t)-1 / size)
        cloak_panic("calloc overflow");
    return cloak_alloc(n * size, 8);
}

static inline void cloak_free(void *p) { (void)p; }

/* ------------------------------------------------------------------------ */
/* Input                                                                    */
/* ------------------------------------------------------------------------ */
/* Read the next input buffer into freshly allocated, word-aligned memory.
 * Returns the pointer; *len_out receives the length. */
static inline uint8_t *cloak_read_buffer(size_t *len_out) {
    uint32_t len = cloak_hint_len();
    uint8_t *p = (uint8_t *)cloak_alloc(((size_t)len + 3u) & ~(size_t)3u, 4);
    cloak_hint_read(p, len);
    *len_out = len;
    return p;
}

/* Read the next input buffer as a bincode u32 (exactly 4 bytes, little-endian). */
static inline uint32_t cloak_read_u32(void) {
    uint32_t len = cloak_hint_len();
    if (len != 4)
        cloak_panic("cloak_read_u32: input buffer is not 4 bytes");
    uint32_t v;
    cloak_hint_read(&v, 4);
    return v; /* RISC-V is little-endian */
}

/* Read the next input buffer as a bincode u64 (exactly 8 bytes). */
static inline uint64_t cloak_read_u64(void) {
    uint32_t len = cloak_hint_len();
    if (len != 8)
        cloak_panic("cloak_read_u64: input buffer is not 8 bytes");
    uint32_t v[2];
    cloak_hint_read(v, 8);
    return (uint64_t)v[0] | ((uint64_t)v[1] << 32);
}

/* Read the next input buffer as a bincode Vec<u8> (8-byte LE length + bytes).
 * Returns a pointer to the payload; *len_out receives its length. */
static inline uint8_t *cloak_read_vec(size_t *len_out) {
    size_t n;
    uint8_t *p = cloak_read_buffer(&n);
    if (n < 8)
        cloak_panic("cloak_read_vec: input buffer shorter than 8 bytes");
    uint32_t lo = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    uint32_t hi = (uint32_t)p[4] | ((uint32_t)p[5] << 8) | ((uint32_t)p[6] << 16) | ((uint32_t)p[7] << 24);
    if (hi != 0 || lo != n - 8)
        cloak_panic("cloak_read_vec: length prefix does not match the buffer");
    *len_out = lo;
    return p + 8;
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */
/* ------------------------------------------------------------------------ */
#ifndef CLOAK_NO_START
int main(void);

CLOAK_WEAK __attribute__((used, noreturn)) void cloak_start_c(void) {
    int rc = main();
    cloak_halt((uint32_t)rc);
}

__asm__(
    ".pushsection .text._start,\"ax\",@progbits\n"
    ".weak _start\n"
    ".type _start, @function\n"
    "_start:\n"
    ".option push\n"
    ".option norelax\n"
    "    la gp, __global_pointer$\n"
    ".option pop\n"
    "    li sp, 0x00200400\n"
    "    call cloak_start_c\n"
    "1:  j 1b\n"
    ".size _start, . - _start\n"
    ".popsection\n");
#endif /* CLOAK_NO_START */

#ifdef __cplusplus
}
#endif

#endif /* CLOAK_H */
