//! Kernel checks against Plonky3. They need an NVIDIA GPU with its driver
//! and NVRTC; where either is missing each test prints why and passes
//! without running (CI has no GPU). `nvrtc_compiles_every_kernel` needs
//! NVRTC only.

use cloak_gpu::check::{self, Check};
use cloak_gpu::{GpuContext, Ntt};

fn gpu_or_skip(test: &str) -> Option<GpuContext> {
    match GpuContext::first() {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("SKIP {test}: {e}");
            None
        }
    }
}

fn assert_all(checks: &[Check]) {
    for c in checks {
        eprintln!("{c}");
    }
    assert!(checks.iter().all(|c| c.passed), "a GPU check failed");
}

#[test]
fn nvrtc_compiles_every_kernel() {
    if !cloak_gpu::nvrtc_present() {
        eprintln!(
            "SKIP nvrtc_compiles_every_kernel: {}",
            cloak_gpu::GpuError::NoNvrtc
        );
        return;
    }
    for (name, src) in cloak_gpu::kernel_sources() {
        let c =
            cloak_gpu::compile(name, &src, (9, 0)).unwrap_or_else(|e| panic!("module {name}: {e}"));
        assert!(!c.cubin.is_empty(), "module {name}: empty cubin");
        eprintln!(
            "module {name}: {} bytes of sm_90 code\n{}",
            c.cubin.len(),
            c.log
        );
    }
}

#[test]
fn field_arithmetic_matches_plonky3() {
    let Some(gpu) = gpu_or_skip("field_arithmetic_matches_plonky3") else {
        return;
    };
    let mut checks = check::check_base_arith(&gpu, 1, 1 << 12).unwrap();
    checks.extend(check::check_ext_arith(&gpu, 2, 1 << 12).unwrap());
    assert_all(&checks);
}

#[test]
fn poseidon2_matches_plonky3() {
    let Some(gpu) = gpu_or_skip("poseidon2_matches_plonky3") else {
        return;
    };
    assert_all(&check::check_poseidon2(&gpu, 3, 1 << 10).unwrap());
}

#[test]
fn lde_matches_plonky3() {
    let Some(gpu) = gpu_or_skip("lde_matches_plonky3") else {
        return;
    };
    let ntt = Ntt::default();
    let mut checks = vec![
        check::check_dft(&gpu, &ntt, 4, 10, 5).unwrap(),
        check::check_lde(&gpu, &ntt, 5, 1, 2, 1).unwrap(),
        check::check_lde(&gpu, &ntt, 6, 10, 7, 1).unwrap(),
        check::check_lde(&gpu, &ntt, 7, 12, 33, 2).unwrap(),
    ];
    checks.push(check::check_lde(&gpu, &Ntt::new(10), 8, 13, 3, 1).unwrap());
    assert_all(&checks);
}

#[test]
fn merkle_matches_plonky3() {
    let Some(gpu) = gpu_or_skip("merkle_matches_plonky3") else {
        return;
    };
    let checks = vec![
        check::check_merkle(&gpu, 9, &[(1 << 8, 10)]).unwrap(),
        check::check_merkle(&gpu, 10, &[(1 << 8, 3), (1 << 6, 20), (1 << 8, 1), (1, 4)]).unwrap(),
        check::check_merkle(&gpu, 11, &[(1 << 6, 700), (1 << 6, 316), (1 << 5, 600)]).unwrap(),
    ];
    assert_all(&checks);
}

#[test]
fn packed_upload_matches_plain_upload() {
    let Some(gpu) = gpu_or_skip("packed_upload_matches_plain_upload") else {
        return;
    };
    let checks = vec![
        check::check_packed_upload(&gpu, 11, 1 << 12, 33).unwrap(),
        check::check_packed_upload(&gpu, 12, 3000, 7).unwrap(),
        check::check_staged_upload(&gpu, 13, 1 << 12, 33).unwrap(),
    ];
    assert_all(&checks);
}

#[test]
fn fri_commit_phase_matches_plonky3() {
    let Some(gpu) = gpu_or_skip("fri_commit_phase_matches_plonky3") else {
        return;
    };
    let checks = vec![
        check::check_fri(&gpu, 12, 10, 9).unwrap(),
        check::check_fri(&gpu, 13, 3, 3).unwrap(),
    ];
    assert_all(&checks);
}

#[test]
fn open_matches_plonky3() {
    let Some(gpu) = gpu_or_skip("open_matches_plonky3") else {
        return;
    };
    let checks = vec![
        check::check_open(&gpu, 31, 4, 3).unwrap(),
        check::check_open(&gpu, 32, 11, 20).unwrap(),
    ];
    assert_all(&checks);
}

#[test]
fn zk_draws_match_the_host() {
    let Some(gpu) = gpu_or_skip("zk_draws_match_the_host") else {
        return;
    };
    let checks = vec![
        check::check_zk_draws(&gpu, 21, 1).unwrap(),
        check::check_zk_draws(&gpu, 22, 100_003).unwrap(),
    ];
    assert_all(&checks);
}

#[test]
fn draws_made_ahead_match_draws_made_when_needed() {
    let Some(gpu) = gpu_or_skip("draws_made_ahead_match_draws_made_when_needed") else {
        return;
    };
    assert_all(&[check::check_ahead(&gpu, 23).unwrap()]);
}

#[test]
fn backend_commit_main_matches_cpu() {
    use cloak_gpu::{GpuBackend, TransferMode};
    use cloak_prover::config::{FriSettings, Val, ZkRandomness};
    use cloak_prover::{CpuBackend, ProverBackend};
    use p3_matrix::dense::RowMajorMatrix;
    use rand::SeedableRng;

    let Some(gpu) = gpu_or_skip("backend_commit_main_matches_cpu") else {
        return;
    };
    let gpu = GpuBackend::with_context(gpu);
    let mut rng = cloak_prover::config::ZkRng::seed_from_u64(11);
    // Several heights and widths, two seeds.
    let traces: Vec<RowMajorMatrix<Val>> = [(256, 3), (4096, 61), (1024, 1), (4096, 8)]
        .iter()
        .map(|&(h, w)| RowMajorMatrix::rand(&mut rng, h, w))
        .collect();
    // Both transfer modes: the CC emulation encrypts every copy but must not
    // change what reaches the device.
    for mode in [TransferMode::Plain, TransferMode::CcEmulated] {
        gpu.context().set_transfer_mode(mode);
        for seed in [[0u8; 32], [0x5a; 32]] {
            let zk = ZkRandomness::new(FriSettings::DEFAULT, seed);
            let (cpu, _) = CpuBackend.commit_main(&zk, traces.clone()).unwrap();
            let (ours, _) = gpu.commit_main(&zk, traces.clone()).unwrap();
            assert_eq!(ours, cpu, "seed {seed:?}, {mode:?}");
        }
        for c in gpu.take_calls() {
            let t = c.transfers;
            eprintln!(
                "commit_main ({mode:?}): {} cells, H2D {} B in {:?}, D2H {} B in {:?}, AES-GCM {:?}, {:?}",
                c.cells, t.h2d_bytes, t.h2d_time, t.d2h_bytes, t.d2h_time, t.crypt_time, c.wall
            );
            // Every randomized trace cell goes up (2h x (w + 4) words).
            assert!(t.h2d_bytes >= 4 * 2 * c.cells);
            assert_eq!(t.d2h_bytes, 32, "only the root comes back");
            assert_eq!(t.crypt_time.is_zero(), mode == TransferMode::Plain);
        }
    }
}

/// Every machine table's generated quotient kernel compiles with NVRTC for
/// sm_90 (needs NVRTC only); prints each one's size, compile time and
/// ptxas's register report.
#[test]
fn nvrtc_compiles_quotient_kernels() {
    if !cloak_gpu::nvrtc_present() {
        eprintln!(
            "SKIP nvrtc_compiles_quotient_kernels: {}",
            cloak_gpu::GpuError::NoNvrtc
        );
        return;
    }
    use cloak_gpu::quotient_check::{bundled_guests, GuestTables};
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../guests/bin"));
    let mut seen = std::collections::HashSet::new();
    for guest in bundled_guests(dir).unwrap() {
        for t in GuestTables::new(&guest).unwrap().tables {
            let k = &t.kernel;
            if !seen.insert(k.module.clone()) {
                continue;
            }
            if let Ok(d) = std::env::var("CLOAK_DUMP_QUOTIENT") {
                for p in 0..k.generated.parts.len() {
                    std::fs::write(format!("{d}/{}.cu", k.part_module(p)), k.part_source(p))
                        .unwrap();
                }
            }
            let start = std::time::Instant::now();
            // ptxas's most registers and stack bytes over the parts.
            let (mut regs, mut stack) = (0u32, 0u32);
            for p in 0..k.generated.parts.len() {
                let c = cloak_gpu::compile(&k.part_module(p), &k.part_source(p), (9, 0))
                    .unwrap_or_else(|e| panic!("{} part {p}: {e}", t.name));
                assert!(!c.cubin.is_empty());
                let num_before = |line: &str, word: &str| -> u32 {
                    let head = line.split(word).next().unwrap_or("");
                    head.split_whitespace()
                        .last()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                };
                for line in c.log.lines() {
                    regs = regs.max(num_before(line, " registers"));
                    stack = stack.max(num_before(line, " bytes cumulative stack"));
                }
            }
            eprintln!(
                "{}: {} constraints, {} nodes ({} emitted in {} parts), compiled in {:.1} s; \
                 up to {regs} registers, {stack} bytes of stack",
                t.name,
                k.generated.constraints,
                k.generated.nodes,
                k.generated.emitted,
                k.generated.parts.len(),
                start.elapsed().as_secs_f64(),
            );
        }
    }
}
