// Host driver of one generated quotient kernel (tests/quotient_emulation.rs):
// reads on stdin, as little-endian u32, log_q, log_step, log_n, the lengths
// of the 8 input buffers (main, prep, perm, public values, challenges,
// permutation values, alpha powers, selector constants, in words) and the
// buffers; launches quotient_eval over 2^log_q threads in blocks of 128, as
// src/quotient.rs does; writes the 4 * 2^log_q output words to stdout.
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
    emu_launch((unsigned)((q + 127) / 128), 128, 1, [&] {
        quotient_eval(buf[0].data(), buf[1].data(), buf[2].data(), buf[3].data(), buf[4].data(),
                      buf[5].data(), buf[6].data(), buf[7].data(), out.data(), log_q, log_step,
                      log_n);
    });
    fwrite(out.data(), 4, out.size(), stdout);
    return 0;
}
