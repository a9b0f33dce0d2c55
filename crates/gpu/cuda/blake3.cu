// BLAKE3 (the blake3 crate's plain hash mode, 32-byte output) for the
// Merkle commitments of the config's `ValMmcs`:
//
//   leaf:   SerializingHasher<Blake3> over a row's field elements, each the
//           4 little-endian bytes of its Montgomery form (`to_unique_u32`),
//           so a message word is the stored word itself;
//   node:   CompressionFunctionFromHasher<Blake3, 2, 32>, BLAKE3 of the two
//           32-byte children: one compression.
//
// A digest is the 8 words of the root's chaining value; its bytes are those
// words little-endian, as `[u8; 32]` on the host.
//
// Messages longer than a chunk (1024 bytes, 256 words) are hashed as the
// BLAKE3 tree: each chunk's chaining value (counter = chunk index) is pushed
// on a stack that merges completed subtrees (the reference implementation's
// `add_chunk_chaining_value`), and the last chunk's value is folded into the
// stack from the top, the last parent compression carrying ROOT.
//
// Kernels:
//   hash_rows / hash_rows_inline: leaf digests of rows made of segments
//   compress_sub: up to 8 Merkle layers above 128 nodes, with an optional
//                 injected digest per node, in one launch
//   compress_top: a tree's layers of 128 nodes and fewer, in one block

#define B3_CHUNK_START 1u
#define B3_CHUNK_END 2u
#define B3_PARENT 4u
#define B3_ROOT 8u
#define B3_CHUNK_WORDS 256
#define B3_MAX_DEPTH 16  // chunks per message <= 2^16 (merkle.rs: MAX_ROW_WORDS)

__device__ __forceinline__ u32 b3_rotr(u32 x, int n) { return (x >> n) | (x << (32 - n)); }

#define B3_G(a, b, c, d, mx, my)      \
    a = a + b + (mx);                 \
    d = b3_rotr(d ^ a, 16);           \
    c = c + d;                        \
    b = b3_rotr(b ^ c, 12);           \
    a = a + b + (my);                 \
    d = b3_rotr(d ^ a, 8);            \
    c = c + d;                        \
    b = b3_rotr(b ^ c, 7);

// The compression's first 8 output words (a chaining value): 7 rounds, the
// message words permuted between rounds by BLAKE3's fixed permutation.
__device__ __forceinline__ void b3_compress(const u32 cv[8], const u32 block[16], u64 counter,
                                            u32 block_len, u32 flags, u32 out[8]) {
    u32 v[16] = {cv[0],      cv[1],      cv[2],      cv[3],      cv[4],
                 cv[5],      cv[6],      cv[7],      0x6A09E667u, 0xBB67AE85u,
                 0x3C6EF372u, 0xA54FF53Au, (u32)counter, (u32)(counter >> 32), block_len,
                 flags};
    u32 m[16];
#pragma unroll
    for (int i = 0; i < 16; i++) m[i] = block[i];
#pragma unroll
    for (int r = 0; r < 7; r++) {
        B3_G(v[0], v[4], v[8], v[12], m[0], m[1]);
        B3_G(v[1], v[5], v[9], v[13], m[2], m[3]);
        B3_G(v[2], v[6], v[10], v[14], m[4], m[5]);
        B3_G(v[3], v[7], v[11], v[15], m[6], m[7]);
        B3_G(v[0], v[5], v[10], v[15], m[8], m[9]);
        B3_G(v[1], v[6], v[11], v[12], m[10], m[11]);
        B3_G(v[2], v[7], v[8], v[13], m[12], m[13]);
        B3_G(v[3], v[4], v[9], v[14], m[14], m[15]);
        if (r < 6) {
            const u32 t[16] = {m[2],  m[6],  m[3],  m[10], m[7],  m[0],  m[4],  m[13],
                               m[1],  m[11], m[12], m[5],  m[9],  m[14], m[15], m[8]};
#pragma unroll
            for (int i = 0; i < 16; i++) m[i] = t[i];
        }
    }
#pragma unroll
    for (int i = 0; i < 8; i++) out[i] = v[i] ^ v[i + 8];
}

__device__ __forceinline__ void b3_iv(u32 cv[8]) {
    cv[0] = 0x6A09E667u;
    cv[1] = 0xBB67AE85u;
    cv[2] = 0x3C6EF372u;
    cv[3] = 0xA54FF53Au;
    cv[4] = 0x510E527Fu;
    cv[5] = 0x9B05688Cu;
    cv[6] = 0x1F83D9ABu;
    cv[7] = 0x5BE0CD19u;
}

// A parent node's chaining value from its children's.
__device__ __forceinline__ void b3_parent(const u32 left[8], const u32 right[8], u32 flags,
                                          u32 out[8]) {
    u32 block[16], iv[8];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        block[i] = left[i];
        block[8 + i] = right[i];
    }
    b3_iv(iv);
    b3_compress(iv, block, 0, 64, B3_PARENT | flags, out);
}

// One segment of a leaf message: row r contributes ptr[r*width .. r*width+width).
struct Segment {
    const u32* ptr;
    u64 width;
};

#define MAX_SEGMENTS 256    // must match merkle.rs
#define INLINE_SEGMENTS 16  // must match merkle.rs

// A segment table passed by value (in the launch's parameters), so that a
// tree's leaf hashing needs no upload of its own.
struct InlineSegments {
    Segment s[INLINE_SEGMENTS];
};

__device__ void hash_rows_body(const Segment* __restrict__ segs, u32 num_segs, u64 rows,
                               u32* __restrict__ out);

// Leaf digests: out[r] = BLAKE3(row r of every segment, concatenated in
// order), for r < rows.
extern "C" __global__ void hash_rows(const Segment* __restrict__ segs, u32 num_segs, u64 rows,
                                     u32* __restrict__ out) {
    hash_rows_body(segs, num_segs, rows, out);
}

// hash_rows with at most INLINE_SEGMENTS segments, given by value.
extern "C" __global__ void hash_rows_inline(InlineSegments segs, u32 num_segs, u64 rows,
                                            u32* __restrict__ out) {
    hash_rows_body(segs.s, num_segs, rows, out);
}

__device__ void hash_rows_body(const Segment* __restrict__ segs, u32 num_segs, u64 rows,
                               u32* __restrict__ out) {
    __shared__ Segment sh[MAX_SEGMENTS];
    __shared__ u64 total_len;
    if (threadIdx.x == 0) {
        u64 t = 0;
        for (u32 i = 0; i < num_segs; i++) {
            sh[i] = segs[i];
            t += segs[i].width;
        }
        total_len = t;
    }
    __syncthreads();
    const u64 row = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    const u64 total = total_len;
    // An empty message is one chunk of one empty block.
    const u64 chunks = total == 0 ? 1 : (total + B3_CHUNK_WORDS - 1) / B3_CHUNK_WORDS;

    // Cursor over the concatenated message.
    u32 seg = 0;
    u64 off = 0;
    const u32* p = sh[0].ptr + row * sh[0].width;
    u64 seg_w = sh[0].width;

    u32 stack[B3_MAX_DEPTH][8];
    int depth = 0;
    u32 cv[8];
    for (u64 c = 0; c < chunks; c++) {
        const u64 start = c * B3_CHUNK_WORDS;
        const u64 len = total - start < B3_CHUNK_WORDS ? total - start : B3_CHUNK_WORDS;
        const u64 blocks = len == 0 ? 1 : (len + 15) / 16;
        const bool last_chunk = c + 1 == chunks;
        b3_iv(cv);
        for (u64 b = 0; b < blocks; b++) {
            u32 m[16];
            const u64 have = len - b * 16;
#pragma unroll
            for (int j = 0; j < 16; j++) {
                if ((u64)j < have) {
                    m[j] = p[off];
                    off++;
                    if (off == seg_w && seg + 1 < num_segs) {
                        seg++;
                        off = 0;
                        seg_w = sh[seg].width;
                        p = sh[seg].ptr + row * seg_w;
                    }
                } else {
                    m[j] = 0;
                }
            }
            const u32 block_len = 4 * (u32)(have < 16 ? have : 16);
            u32 flags = (b == 0 ? B3_CHUNK_START : 0) | (b + 1 == blocks ? B3_CHUNK_END : 0);
            if (b + 1 == blocks && chunks == 1) flags |= B3_ROOT;
            b3_compress(cv, m, c, block_len, flags, cv);
        }
        if (!last_chunk) {
            // Merge every subtree this chunk completes, then push.
            u64 t = c + 1;
            while ((t & 1) == 0) {
                depth--;
                b3_parent(stack[depth], cv, 0, cv);
                t >>= 1;
            }
#pragma unroll
            for (int i = 0; i < 8; i++) stack[depth][i] = cv[i];
            depth++;
        }
    }
    // The last chunk's value folded into the stack from the top; the final
    // parent is the root.
    while (depth > 0) {
        depth--;
        b3_parent(stack[depth], cv, depth == 0 ? B3_ROOT : 0, cv);
    }

#pragma unroll
    for (int j = 0; j < 8; j++) out[row * 8 + j] = cv[j];
}

// One Merkle node: next[i] = C(prev[2i], prev[2i+1]) with C(a, b) =
// BLAKE3(a || b); where `inject` is non-null,
// next[i] = C(C(prev[2i], prev[2i+1]), inject[i]) (p3-merkle-tree's
// injection of a shorter matrix's row digests).
__device__ __forceinline__ void compress_node(const u32* prev, u32* next, u64 i,
                                              const u32* inject) {
    const u32 one_block = B3_CHUNK_START | B3_CHUNK_END | B3_ROOT;
    u32 m[16], iv[8], cv[8];
#pragma unroll
    for (int j = 0; j < 16; j++) m[j] = prev[i * 16 + j];
    b3_iv(iv);
    b3_compress(iv, m, 0, 64, one_block, cv);
    if (inject != nullptr) {
#pragma unroll
        for (int j = 0; j < 8; j++) {
            m[j] = cv[j];
            m[8 + j] = inject[i * 8 + j];
        }
        b3_compress(iv, m, 0, 64, one_block, cv);
    }
#pragma unroll
    for (int j = 0; j < 8; j++) next[i * 8 + j] = cv[j];
}

// A tree's last layers in one block: layer l (l < levels) has n0 >> l
// nodes, made from the layer before (`prev` for l = 0) into out[l], with
// inject[l] (null for none); a barrier between layers makes each visible
// to the next. Launched a layer at a time, the layers of 128 nodes and
// fewer were most of a tree's launches, each as long as one compression.
#define MERKLE_TOP_LEVELS 8
struct TopLayers {
    u32* out[MERKLE_TOP_LEVELS];
    const u32* inject[MERKLE_TOP_LEVELS];
};
extern "C" __global__ void compress_top(const u32* prev, u32 n0, u32 levels, TopLayers top) {
    const u32 t = threadIdx.x;
    const u32* from = prev;
    u32 n = n0;
    for (u32 l = 0; l < levels; l++) {
        if (t < n) compress_node(from, top.out[l], t, top.inject[l]);
        __syncthreads();
        from = top.out[l];
        n >>= 1;
    }
}

// Up to MERKLE_TOP_LEVELS layers below a wide one in one launch: block b
// makes nodes [b * blockDim.x, (b + 1) * blockDim.x) of layer 0 (from
// `prev`) into out[0], then the halves of those above them, each layer
// after a barrier (a block's nodes of layer l + 1 are made from its own of
// layer l). Launched a layer at a time, the layers of a few thousand nodes
// each took as long as one compression (235 launches a one-shard proof,
// 1.7 ms); nodes per block halve each layer, so `levels` is at most
// log2(blockDim.x) + 1.
extern "C" __global__ void compress_sub(const u32* prev, u32 levels, TopLayers layers) {
    const u32 t = threadIdx.x;
    u32 per = blockDim.x;
    u64 base = (u64)blockIdx.x * per;
    const u32* from = prev;
    for (u32 l = 0; l < levels; l++) {
        if (t < per) compress_node(from, layers.out[l], base + t, layers.inject[l]);
        __syncthreads();
        from = layers.out[l];
        per >>= 1;
        base >>= 1;
    }
}
