// Host driver for the emulated kernels (see shim.h and
// tests/host_emulation.rs): reads one request from stdin, runs the kernels
// the way src/ntt.rs and src/merkle.rs launch them, writes the result to
// stdout. Little-endian u32 words throughout.
//   1 (perm16): n, n*16 words                     -> n*16 words
//   3 (lde): log_h, w, added, max_bits, lanes, fused, root, root_inv, shift_0..shift_{2^added-1}, h_inv,
//            h*w words                             -> (h << added)*w words
//   4 (merkle): k, then k times (h, w, h*w words, h*4 salt words)
//                                                  -> layers, then (len, len*8 words) per layer
//   5 (fri fold): n, log_n, g_inv, half, beta0..3, 8n words -> 4n words
//   6 (fri add scaled): n, s0..3, 4n acc words, 4n v words -> 4n words
//   7 (zk draws): key0..7, stream lo/hi, first lo/hi, n, window words lo/hi
//                                                  -> total lo/hi, then if total >= n: n words, end lo/hi
//   8 (masked lde): log_h, w, nrc, mask_len, added, max_bits, lanes, root, root_inv,
//      shift_0..shift_{2^added-1}, h_inv, e_0..e_{2^added-1}, h*w trace words,
//      2h*nrc + mask_len*w draws                    -> (h << added)*(w+nrc) words
//   9 (open inv denoms): n, log_n, shift, omega, z0..3 -> 4n words
//  10 (open evaluate): rows, w, chunk_rows, zinv0..3, scale0..3, 4*rows inv words, rows*w words
//                                                  -> 4w words
//  11 (open reduce): h, w, npts, 4w apow words, then per point (2, the second ignored if npts
//      is 1): wo0..3, rs0..3, 4h inv words; then 4h ro words, h*w words -> 4h words
//  12 (unpack trace): h, w, chunk_rows, n, n words, k, k chunk starts, k*w meta words
//                                                  -> h*w words
//  16 (LDE to columns): log_h, width, cols, 2^log_h*width words -> cols*2^log_h words
//  14, 15: ops 3 and 8 with register tiles for passes of 5 to 10 stages
//      (ntt_reg_first / lde_reg_first, then ntt_reg_second, each for every
//      thread of a block in turn, as the barrier between them orders them)
//  17 (CPU rows): n, height, start_clk lo/hi, programs, programs*FETCH_WIDTH message words,
//      n*IN_WIDTH Montgomery input words             -> height*C_WIDTH words
//  18 (Shift rows): n, height, n*SIN_WIDTH Montgomery input words -> height*S_WIDTH words
//  13 (grind): witness_idx, bits, 16 state words     -> the smallest passing candidate, or
//                                                     0xffffffff (batches as src/grind.rs)

static u32 rd() {
    u32 v;
    if (fread(&v, 4, 1, stdin) != 1) {
        fprintf(stderr, "short input\n");
        exit(2);
    }
    return v;
}
// A 64-bit value sent as two words, low first.
static u64 rd64() {
    u64 lo = rd();
    return lo | (u64)rd() << 32;
}

static std::vector<u32> rdn(size_t n) {
    std::vector<u32> v(n);
    if (n && fread(v.data(), 4, n, stdin) != n) {
        fprintf(stderr, "short input\n");
        exit(2);
    }
    return v;
}
static void wr(const u32* p, size_t n) { fwrite(p, 4, n, stdout); }

static std::vector<u32> powers(u32 base, u32 scale, u32 n) {
    std::vector<u32> out(n);
    emu_launch((n + 255) / 256, 256, 1, [&] { kb_powers(out.data(), base, scale, n); });
    return out;
}

#include <type_traits>

// Ops 14 and 15: passes of 5 to 10 stages as register tiles (Ntt's
// `register_tiles`).
static bool g_reg = false;

static bool reg_pass(u32 k) { return g_reg && k >= 5 && k <= 10; }

// Runs `first` for every thread of a block, then `second`: the register
// kernels' two phases, which a barrier separates on the device.
template <class A, class B>
static void emu_launch2(unsigned grid, unsigned bx, unsigned by, A first, B second) {
    gridDim.x = grid;
    blockDim.x = bx;
    blockDim.y = by;
    for (unsigned b = 0; b < grid; b++) {
        blockIdx.x = b;
        for (int phase = 0; phase < 2; phase++)
            for (unsigned y = 0; y < by; y++)
                for (unsigned x = 0; x < bx; x++) {
                    threadIdx.x = x;
                    threadIdx.y = y;
                    if (phase == 0)
                        first();
                    else
                        second();
                }
    }
}

// f(LT, LE) with the register tile shape of a k-stage pass (as NTT_REG_KERNELS).
template <class F>
static void with_reg_shape(u32 k, F f) {
    using std::integral_constant;
    switch (k) {
        case 5: f(integral_constant<int, 2>{}, integral_constant<int, 3>{}); break;
        case 6: f(integral_constant<int, 3>{}, integral_constant<int, 3>{}); break;
        case 7: f(integral_constant<int, 3>{}, integral_constant<int, 4>{}); break;
        case 8: f(integral_constant<int, 4>{}, integral_constant<int, 4>{}); break;
        case 9: f(integral_constant<int, 4>{}, integral_constant<int, 5>{}); break;
        case 10: f(integral_constant<int, 5>{}, integral_constant<int, 5>{}); break;
        default: fprintf(stderr, "no register tile of %u stages\n", k); exit(2);
    }
}

// Mirrors Ntt::coset_power_table: shift_m^j * h_inv for each coset m, j < h.
static std::vector<u32> coset_powers(const std::vector<u32>& shifts, u32 h_inv, u32 h) {
    std::vector<u32> pw;
    for (u32 s : shifts) {
        auto p = powers(s, h_inv, h);
        pw.insert(pw.end(), p.begin(), p.end());
    }
    return pw;
}

// Mirrors Ntt::dif_inplace.
// Mirrors Ntt::plan: (k, s0) per pass.
static std::vector<std::pair<u32, u32>> plan(u32 log_n, u32 max_bits) {
    std::vector<std::pair<u32, u32>> out;
    u32 passes = (log_n + max_bits - 1) / max_bits, s0 = 0;
    for (u32 pass = 0; pass < passes; pass++) {
        u32 k = log_n / passes + (pass < log_n % passes ? 1 : 0);
        out.push_back({k, s0});
        s0 += k;
    }
    return out;
}

static void dif(std::vector<u32>& buf, u32 log_n, u32 width, u32 batch, const std::vector<u32>& tw,
                u32 max_bits, u32 lanes, u32 first = 0) {
    if (log_n == 0) return;
    auto pl = plan(log_n, max_bits);
    for (u32 i = first; i < pl.size(); i++) {
        u32 k = pl[i].first, s0 = pl[i].second;
        u32 lowbits = log_n - s0 - k;
        u64 wp = (u64)width << lowbits;
        u32 tiles = (u32)((wp + lanes - 1) / lanes);
        u64 blocks = ((u64)batch << s0) * tiles;
        if (emu_dyn_smem.size() < (lanes << k)) emu_dyn_smem.resize(lanes << k);
        if (reg_pass(k)) {
            with_reg_shape(k, [&](auto lt, auto le) {
                constexpr int LT = decltype(lt)::value, LE = decltype(le)::value;
                emu_launch2(
                    (unsigned)blocks, lanes, 1u << LT,
                    [&] { ntt_reg_first<LT, LE>(buf.data(), tw.data(), width, s0, lowbits, wp, tiles); },
                    [&] { ntt_reg_second<LT, LE>(buf.data(), tw.data(), width, s0, lowbits, wp, tiles); });
            });
            continue;
        }
        emu_launch((unsigned)blocks, lanes, 1, [&] {
            ntt_dif_pass(buf.data(), tw.data(), width, k, s0, lowbits, wp, tiles);
        });
    }
}

int main() {
    u32 cmd = rd();
    if (cmd == 14 || cmd == 15) {
        g_reg = true;
        cmd = cmd == 14 ? 3 : 8;
    }
    if (cmd == 1) {
        u32 n = rd();
        auto s = rdn((size_t)n * 16);
        emu_launch((n + 127) / 128, 128, 1, [&] { p2_permute_16(s.data(), n); });
        wr(s.data(), s.size());
    } else if (cmd == 3) {
        u32 log_h = rd(), w = rd(), added = rd(), max_bits = rd(), lanes = rd(), fused = rd(),
            root = rd(), root_inv = rd();
        u32 cosets = 1u << added, h = 1u << log_h;
        std::vector<u32> shifts(cosets);
        for (auto& s : shifts) s = rd();
        u32 h_inv = rd();
        auto trace = rdn((size_t)h * w);
        auto tw_inv = powers(root_inv, KB_ONE, h / 2 ? h / 2 : 1);
        auto tw = powers(root, KB_ONE, h / 2 ? h / 2 : 1);
        auto pw = coset_powers(shifts, h_inv, h);
        dif(trace, log_h, w, 1, tw_inv, max_bits, lanes);
        std::vector<u32> out((size_t)cosets * h * w, 0xffffffffu);
        if (!fused || log_h == 0) {
            emu_launch((h + 7) / 8, 32, 8, [&] {
                lde_scatter(trace.data(), out.data(), pw.data(), log_h, w, cosets);
            });
            dif(out, log_h, w, cosets, tw, max_bits, lanes);
        } else {
            u32 k = plan(log_h, max_bits)[0].first;
            u32 lowbits = log_h - k;
            u64 wp = (u64)w << lowbits;
            u32 tiles = (u32)((wp + lanes - 1) / lanes);
            if (emu_dyn_smem.size() < (lanes << k)) emu_dyn_smem.resize(lanes << k);
            if (reg_pass(k)) {
                with_reg_shape(k, [&](auto lt, auto le) {
                    constexpr int LT = decltype(lt)::value, LE = decltype(le)::value;
                    const LdeMask none = {nullptr, nullptr, nullptr, 0u, 0u};
                    emu_launch2(
                        cosets * tiles, lanes, 1u << LT,
                        [&] {
                            lde_reg_first<LT, LE, false>(trace.data(), tw.data(), pw.data(), w,
                                                         lowbits, wp, tiles, none);
                        },
                        [&] { ntt_reg_second<LT, LE>(out.data(), tw.data(), w, 0, lowbits, wp, tiles); });
                });
            } else {
                emu_launch(cosets * tiles, lanes, 1, [&] {
                    lde_first_pass(trace.data(), out.data(), tw.data(), pw.data(), w, k, lowbits,
                                   wp, tiles);
                });
            }
            dif(out, log_h, w, cosets, tw, max_bits, lanes, 1);
        }
        wr(out.data(), out.size());
    } else if (cmd == 4) {
        u32 k = rd();
        std::vector<u32> hs(k), ws(k);
        std::vector<std::vector<u32>> mats(k), salts(k);
        for (u32 i = 0; i < k; i++) {
            hs[i] = rd();
            ws[i] = rd();
            mats[i] = rdn((size_t)hs[i] * ws[i]);
            salts[i] = rdn((size_t)hs[i] * 4);
        }
        // Mirrors merkle::commit_salted: tallest first (stable), inject by height.
        auto hash_group = [&](u32 h) {
            std::vector<Segment> segs;
            for (u32 i = 0; i < k; i++)
                if (hs[i] == h) {
                    if (ws[i]) segs.push_back({mats[i].data(), ws[i]});
                    segs.push_back({salts[i].data(), 4});
                }
            std::vector<u32> out((size_t)h * 8, 0xffffffffu);
            if (segs.empty()) return std::vector<u32>();
            emu_launch((h + 127) / 128, 128, 1,
                       [&] { hash_rows(segs.data(), (u32)segs.size(), h, out.data()); });
            return out;
        };
        u32 max_h = 0;
        for (u32 h : hs) max_h = h > max_h ? h : max_h;
        std::vector<std::vector<u32>> layers{hash_group(max_h)};
        u32 len = max_h;
        while (len > 1) {
            u32 next_len = len / 2;
            if (next_len <= 128) {
                // The rest in one compress_top block, as merkle.rs does.
                TopLayers top;
                std::vector<std::vector<u32>> injects;
                u32 first = (u32)layers.size(), levels = 0;
                for (u32 n = next_len; n >= 1; n /= 2) {
                    layers.push_back(std::vector<u32>((size_t)n * 8, 0xffffffffu));
                    injects.push_back(hash_group(n));
                    levels++;
                }
                for (u32 l = 0; l < levels; l++) {
                    top.out[l] = layers[first + l].data();
                    top.inject[l] = injects[l].empty() ? nullptr : injects[l].data();
                }
                const u32* prev = layers[first - 1].data();
                emu_launch_threads(1, 1, 128, 1, [&] { compress_top(prev, next_len, levels, top); });
                break;
            }
            // Up to 8 layers above 128 nodes in one compress_sub launch.
            u32 levels = 0;
            for (u32 n = next_len; n > 128 && levels < 8; n /= 2) levels++;
            TopLayers sub;
            std::vector<std::vector<u32>> injects;
            u32 first = (u32)layers.size(), n = next_len;
            for (u32 l = 0; l < levels; l++, n /= 2) {
                layers.push_back(std::vector<u32>((size_t)n * 8, 0xffffffffu));
                injects.push_back(hash_group(n));
            }
            for (u32 l = 0; l < levels; l++) {
                sub.out[l] = layers[first + l].data();
                sub.inject[l] = injects[l].empty() ? nullptr : injects[l].data();
            }
            const u32* prev = layers[first - 1].data();
            emu_launch_threads(next_len / 128, 1, 128, 1, [&] { compress_sub(prev, levels, sub); });
            len = n * 2;
        }
        u32 nl = (u32)layers.size();
        wr(&nl, 1);
        for (auto& l : layers) {
            u32 n = (u32)(l.size() / 8);
            wr(&n, 1);
            wr(l.data(), l.size());
        }
    } else if (cmd == 5) {
        u32 n = rd(), log_n = rd(), g_inv = rd(), half = rd(), b[4];
        for (auto& x : b) x = rd();
        auto in = rdn((size_t)8 * n);
        std::vector<u32> out((size_t)4 * n, 0xffffffffu);
        emu_launch((n + 255) / 256, 256, 1, [&] {
            fri_fold2(in.data(), out.data(), n, log_n, g_inv, half, b[0], b[1], b[2], b[3]);
        });
        wr(out.data(), out.size());
    } else if (cmd == 6) {
        u32 n = rd(), sc[4];
        for (auto& x : sc) x = rd();
        auto acc = rdn((size_t)4 * n);
        auto v = rdn((size_t)4 * n);
        emu_launch((n + 255) / 256, 256, 1, [&] {
            fri_add_scaled(acc.data(), v.data(), n, sc[0], sc[1], sc[2], sc[3]);
        });
        wr(acc.data(), acc.size());
    } else if (cmd == 7) {
        u32 k[8];
        for (auto& x : k) x = rd();
        u64 stream = rd64();
        u64 first = rd64();
        u64 n = rd();
        u64 words = rd64();
        // Mirrors zkrng::draw_on_device (one window, no retry: the caller
        // sizes it), with a thread a ChaCha20 block and its scan in levels.
        u64 n_segs = (words + (first & 15) + 15) / 16;
        std::vector<u32> counts(n_segs, 0xffffffffu);
        std::vector<u64> offsets(n_segs, ~0ull);
        u64 total = 0, end = ~0ull;
        u32 grid = (u32)((n_segs + 127) / 128);
        emu_launch(grid, 128, 1, [&] {
            zk_count(k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], stream, first, n_segs,
                     counts.data());
        });
        auto groups_grid = [](u64 len) {
            return (u32)(((len + ZK_SCAN_GROUP - 1) / ZK_SCAN_GROUP + 127) / 128);
        };
        std::vector<std::vector<u64>> levels;
        u64 below = n_segs;
        for (;;) {
            u64 len = (below + ZK_SCAN_GROUP - 1) / ZK_SCAN_GROUP;
            std::vector<u64> sums(len, ~0ull);
            if (levels.empty())
                emu_launch(groups_grid(below), 128, 1,
                           [&] { zk_sum_counts(counts.data(), below, sums.data()); });
            else
                emu_launch(groups_grid(below), 128, 1,
                           [&] { zk_sum_sums(levels.back().data(), below, sums.data()); });
            levels.push_back(sums);
            if (len <= ZK_SCAN_GROUP) break;
            below = len;
        }
        emu_launch(1, 1, 1, [&] { zk_scan(levels.back().data(), levels.back().size(), &total); });
        while (levels.size() > 1) {
            std::vector<u64> upper = levels.back();
            levels.pop_back();
            std::vector<u64>& lower = levels.back();
            std::vector<u64> lower_offsets(lower.size(), ~0ull);
            emu_launch(groups_grid(lower.size()), 128, 1, [&] {
                zk_spread_sums(lower.data(), lower.size(), upper.data(), lower_offsets.data());
            });
            lower = lower_offsets;
        }
        emu_launch(groups_grid(n_segs), 128, 1, [&] {
            zk_spread_counts(counts.data(), n_segs, levels[0].data(), offsets.data());
        });
        // As on the device, the scatter runs whatever the total: with too
        // short a window no thread holds the n-th draw and the end stays 0.
        end = 0;
        std::vector<u32> draws(n, 0xffffffffu);
        emu_launch(grid, 128, 1, [&] {
            zk_scatter(k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], stream, first, n_segs,
                       offsets.data(), n, draws.data(), &end);
        });
        u32 t2[2] = {(u32)total, (u32)(total >> 32)};
        wr(t2, 2);
        wr(draws.data(), draws.size());
        u32 e2[2] = {(u32)end, (u32)(end >> 32)};
        wr(e2, 2);
    } else if (cmd == 8) {
        // Mirrors backend::masked_lde: zk_widen, the inverse NTT, the masked
        // first forward pass, the other passes.
        u32 log_h = rd(), w = rd(), nrc = rd(), mask_len = rd(), added = rd(), max_bits = rd(),
            lanes = rd(), root = rd(), root_inv = rd();
        u32 cosets = 1u << added, h = 1u << log_h, ow = w + nrc;
        std::vector<u32> shifts(cosets), e(cosets);
        for (auto& s : shifts) s = rd();
        u32 h_inv = rd();
        for (auto& x : e) x = rd();
        auto trace = rdn((size_t)h * w);
        auto draws = rdn((size_t)2 * h * nrc + (size_t)mask_len * w);
        std::vector<u32> wide((size_t)h * ow, 0xffffffffu);
        emu_launch((h + 7) / 8, 32, 8, [&] {
            zk_widen(trace.data(), draws.data(), wide.data(), h, w, nrc);
        });
        auto tw_inv = powers(root_inv, KB_ONE, h / 2 ? h / 2 : 1);
        auto tw = powers(root, KB_ONE, h / 2 ? h / 2 : 1);
        auto pw = coset_powers(shifts, h_inv, h);
        dif(wide, log_h, ow, 1, tw_inv, max_bits, lanes);
        std::vector<u32> out((size_t)cosets * h * ow, 0xffffffffu);
        u32 k = plan(log_h, max_bits)[0].first;
        u32 lowbits = log_h - k;
        u64 wp = (u64)ow << lowbits;
        u32 tiles = (u32)((wp + lanes - 1) / lanes);
        if (emu_dyn_smem.size() < (lanes << k)) emu_dyn_smem.resize(lanes << k);
        const u32* hi_t = draws.data() + (size_t)h * nrc;
        const u32* hi_rc = hi_t + (size_t)mask_len * w;
        if (reg_pass(k)) {
            with_reg_shape(k, [&](auto lt, auto le) {
                constexpr int LT = decltype(lt)::value, LE = decltype(le)::value;
                const LdeMask mask = {hi_t, hi_rc, e.data(), w, mask_len};
                emu_launch2(
                    cosets * tiles, lanes, 1u << LT,
                    [&] {
                        lde_reg_first<LT, LE, true>(wide.data(), tw.data(), pw.data(), ow, lowbits,
                                                    wp, tiles, mask);
                    },
                    [&] { ntt_reg_second<LT, LE>(out.data(), tw.data(), ow, 0, lowbits, wp, tiles); });
            });
        } else {
            emu_launch(cosets * tiles, lanes, 1, [&] {
                lde_first_pass_masked(wide.data(), out.data(), tw.data(), pw.data(), ow, k, lowbits,
                                      wp, tiles, hi_t, hi_rc, e.data(), w, mask_len);
            });
        }
        dif(out, log_h, ow, cosets, tw, max_bits, lanes, 1);
        wr(out.data(), out.size());
    } else if (cmd == 9) {
        u32 n = rd(), log_n = rd(), shift = rd(), omega = rd(), z[4];
        for (auto& x : z) x = rd();
        std::vector<u32> out((size_t)4 * n, 0xffffffffu);
        // Mirrors open::inv_denoms: a thread per 8 points from 256 points up.
        u32 threads = log_n < 8 ? n : n / 8;
        emu_launch((threads + 255) / 256, 256, 1, [&] {
            open_inv_denoms(out.data(), n, log_n, shift, omega, z[0], z[1], z[2], z[3]);
        });
        wr(out.data(), out.size());
    } else if (cmd == 10) {
        // rows, w, chunk_rows, npts, then per point zinv, scale, inv.
        u32 rows = rd(), w = rd(), chunk_rows = rd(), npts = rd(), zi[2][4], sc[2][4];
        std::vector<u32> inv[2];
        for (u32 p = 0; p < npts; p++) {
            for (auto& x : zi[p]) x = rd();
            for (auto& x : sc[p]) x = rd();
            inv[p] = rdn((size_t)4 * rows);
        }
        auto m = rdn((size_t)rows * w);
        u64 chunks = (rows + chunk_rows - 1) / chunk_rows;
        u32 width = npts * w;
        std::vector<u32> part((size_t)4 * chunks * width, 0xffffffffu),
            out((size_t)4 * width, 0xffffffffu);
        u64 threads = chunks * w;
        emu_launch((u32)((threads + 127) / 128), 128, 1, [&] {
            if (npts == 1)
                open_eval_partial(m.data(), rows, w, inv[0].data(), zi[0][0], zi[0][1], zi[0][2],
                                  zi[0][3], chunk_rows, chunks, part.data());
            else
                open_eval_partial2(m.data(), rows, w, inv[0].data(), zi[0][0], zi[0][1], zi[0][2],
                                   zi[0][3], inv[1].data(), zi[1][0], zi[1][1], zi[1][2], zi[1][3],
                                   chunk_rows, chunks, part.data());
        });
        // Mirrors open::evaluate_into: fold by 64 until at most 64 chunks are left.
        while (chunks > 64) {
            u64 groups = (chunks + 63) / 64;
            std::vector<u32> next((size_t)4 * groups * width, 0xffffffffu);
            u64 t = groups * width;
            emu_launch((u32)((t + 127) / 128), 128, 1, [&] {
                open_eval_fold(part.data(), chunks, width, 64, next.data());
            });
            part.swap(next);
            chunks = groups;
        }
        u32 last = npts - 1;
        emu_launch((width + 127) / 128, 128, 1, [&] {
            open_eval_finish(part.data(), chunks, width, w, sc[0][0], sc[0][1], sc[0][2], sc[0][3],
                             sc[last][0], sc[last][1], sc[last][2], sc[last][3], out.data());
        });
        wr(out.data(), out.size());
    } else if (cmd == 11) {
        u32 h = rd(), w = rd(), npts = rd();
        auto apow = rdn((size_t)4 * w);
        u32 wo[2][4], rs[2][4];
        std::vector<u32> inv[2];
        for (int k = 0; k < 2; k++) {
            for (auto& x : wo[k]) x = rd();
            for (auto& x : rs[k]) x = rd();
            inv[k] = rdn((size_t)4 * h);
        }
        auto ro = rdn((size_t)4 * h);
        auto m = rdn((size_t)h * w);
        emu_launch((h + 127) / 128, 128, 1, [&] {
            open_reduce(m.data(), h, w, apow.data(), npts, inv[0].data(), wo[0][0], wo[0][1],
                        wo[0][2], wo[0][3], rs[0][0], rs[0][1], rs[0][2], rs[0][3], inv[1].data(),
                        wo[1][0], wo[1][1], wo[1][2], wo[1][3], rs[1][0], rs[1][1], rs[1][2],
                        rs[1][3], ro.data());
        });
        wr(ro.data(), ro.size());
    } else if (cmd == 12) {
        u32 h = rd(), w = rd(), chunk_rows = rd();
        auto words = rdn(rd());
        auto starts = rdn(rd());
        auto meta = rdn(starts.size() * w);
        u64 total = (u64)h * w;
        std::vector<u32> out(total, 0xffffffffu);
        emu_launch((u32)((total + 255) / 256), 256, 1, [&] {
            unpack_trace(words.data(), starts.data(), meta.data(), out.data(), h, w, chunk_rows);
        });
        wr(out.data(), out.size());
    } else if (cmd == 13) {
        u32 idx = rd(), bits = rd();
        auto state = rdn(16);
        GrindState base;
        for (int j = 0; j < 16; j++) base.s[j] = state[j];
        u32 found = 0;
        u32 mask = (u32)((1ull << bits) - 1);
        u32 lg = bits + 4 < 12 ? 12 : (bits + 4 > 24 ? 24 : bits + 4);
        u64 batch = 1ull << lg;
        for (u64 start = 0; start < KB_P && found == 0; start += batch) {
            u64 count = batch < KB_P - start ? batch : KB_P - start;
            emu_launch((u32)((count + 255) / 256), 256, 1, [&] {
                grind16(base, idx, mask, (u32)start, (u32)count, &found);
            });
        }
        u32 answer = found == 0 ? 0xffffffffu : ~found;
        wr(&answer, 1);
    } else if (cmd == 16) {
        u32 log_h = rd(), width = rd(), cols = rd();
        u64 h = 1ull << log_h;
        auto lde = rdn((size_t)h * width);
        std::vector<u32> out((size_t)h * cols, 0xffffffffu);
        emu_launch_threads((u32)((h + 31) / 32), (cols + 31) / 32, 32, 8,
                           [&] { lde_to_columns(lde.data(), out.data(), log_h, width, cols); });
        wr(out.data(), out.size());
    } else if (cmd == 17) {
        u32 n = rd(), height = rd(), clk_lo = rd(), clk_hi = rd(), programs = rd();
        auto messages = rdn((size_t)programs * FETCH_WIDTH);
        auto inputs = rdn((size_t)n * IN_WIDTH);
        std::vector<u32> out((size_t)height * C_WIDTH, 0xffffffffu);
        u64 start_clk = (u64)clk_hi << 32 | clk_lo;
        emu_launch((height + 127) / 128, 128, 1, [&] {
            cpu_expand(inputs.data(), messages.data(), out.data(), n, height, start_clk);
        });
        wr(out.data(), out.size());
    } else if (cmd == 18) {
        u32 n = rd(), height = rd();
        auto inputs = rdn((size_t)n * SIN_WIDTH);
        std::vector<u32> out((size_t)height * S_WIDTH, 0xffffffffu);
        emu_launch((height + 127) / 128, 128, 1,
                   [&] { shift_expand(inputs.data(), out.data(), n, height); });
        wr(out.data(), out.size());
    } else if (cmd == 19) {
        u32 k[8];
        for (auto& x : k) x = rd();
        u64 stream = rd64();
        u64 first = rd64();
        // Output sizes (at most 16), then the salts concatenated back.
        u32 outs = rd();
        std::vector<std::vector<u32>> bufs(outs);
        ZkSaltOuts o;
        u64 n = 0;
        for (u32 i = 0; i < outs; i++) {
            u32 len = rd();
            bufs[i].assign(len > 0 ? len : 1, 0xffffffffu);
            n += len;
            o.out[i] = bufs[i].data();
            o.end[i] = n;
        }
        // Mirrors zkrng::salts_split: a thread a keystream block.
        u64 blocks = ((first & 15) + n + 15) / 16;
        emu_launch((u32)((blocks + 127) / 128), 128, 1, [&] {
            zk_salts(k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], stream, first, n, outs, o);
        });
        for (u32 i = 0; i < outs; i++) {
            u64 len = o.end[i] - (i ? o.end[i - 1] : 0);
            wr(bufs[i].data(), len);
        }
    } else if (cmd == 20) {
        u32 log_h = rd(), shift = rd(), scale = rd(), g = rd(), p = rd();
        u64 h = 1ull << log_h;
        auto idft = rdn((size_t)h * 8);
        auto r = rdn((size_t)h * 8);
        std::vector<u32> out((size_t)4 * h * 8, 0xffffffffu);
        emu_launch((u32)((4 * h + 255) / 256), 256, 1, [&] {
            quotient_chunk_coeffs(idft.data(), r.data(), out.data(), log_h, shift, scale, g, p);
        });
        wr(out.data(), out.size());
    } else {
        fprintf(stderr, "unknown command %u\n", cmd);
        return 2;
    }
    return 0;
}
