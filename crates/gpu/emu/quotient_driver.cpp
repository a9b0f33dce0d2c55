// Host driver of one table's generated quotient kernel, its parts listed in
// quot_parts (tests/quotient_emulation.rs writes that table in front):
// reads on stdin, as little-endian u32, log_q, log_step, log_n, the lengths
// of the 8 input buffers (main, prep, perm, public values, challenges,
// permutation values, alpha powers, selector constants, in words) and the
// buffers; launches each part over 2^log_q threads in blocks of 128, with
// the mode src/quotient.rs passes; writes the 4 * 2^log_q output words to stdout.
static std::vector<u32> emu_read(size_t n) {
    std::vector<u32> v(n ? n : 1);
    if (n && fread(v.data(), 4, n, stdin) != n) {
        fprintf(stderr, "short input\n");
        exit(2);
    }
    return v;
}

int main() {
    std::vector<u32> head = emu_read(11);
    u32 log_q = head[0], log_step = head[1], log_n = head[2];
    std::vector<u32> buf[8];
    for (int k = 0; k < 8; k++) buf[k] = emu_read(head[3 + k]);
    u64 q = 1ull << log_q;
    std::vector<u32> out(4 * q, 0xffffffffu);
    (void)log_n;
    for (int p = 0; p < quot_nparts; p++) {
        u32 mode = (p > 0 ? 1u : 0u) | (p + 1 == quot_nparts ? 2u : 0u);
        emu_launch((unsigned)((q + 127) / 128), 128, 1, [&] {
            quot_parts[p](buf[0].data(), buf[1].data(), buf[2].data(), buf[3].data(),
                          buf[4].data(), buf[5].data(), buf[6].data(), buf[7].data(),
                          out.data(), log_q, log_step, mode);
        });
    }
    fwrite(out.data(), 4, out.size(), stdout);
    return 0;
}
