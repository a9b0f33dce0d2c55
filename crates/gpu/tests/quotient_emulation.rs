//! The generated quotient kernels compiled by the host C++ compiler
//! (emu/shim.h for the CUDA built-ins, emu/quotient_driver.cpp launching
//! them as src/quotient.rs does) and checked against p3-batch-stark's own
//! `quotient_values` on the CPU table, the shard Memory table (many LogUp
//! columns) and Shift (the CPU's and Shift's kernels in several parts), on fibonacci's real traces
//! and on random inputs. Skips
//! where no `c++` is installed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cloak_gpu::check::compare;
use cloak_gpu::field::{as_raw, ext_as_raw, ext_from_raw};
use cloak_gpu::quotient::{alpha_powers, selector_consts, QuotientKernel};
use cloak_gpu::quotient_check::{random_case, Case, Guest, GuestTables};

fn have_cxx() -> bool {
    Command::new("c++").arg("--version").output().is_ok()
}

/// Compiles `k`'s generated source with the driver into `dir`.
fn build(k: &QuotientKernel, dir: &Path) -> PathBuf {
    let mut src = String::from(include_str!("../emu/shim.h"));
    src.push_str(cloak_gpu::context::FIELD_CUH);
    src.push_str(cloak_gpu::codegen::QUOTIENT_CUH);
    let n = k.generated.parts.len();
    for part in &k.generated.parts {
        src.push_str(part);
    }
    let names: Vec<String> = (0..n).map(cloak_gpu::codegen::part_kernel).collect();
    src.push_str(&format!(
        "typedef void (*quot_part_fn)(const u32*, const u32*, const u32*, const u32*, \
         const u32*, const u32*, const u32*, const u32*, u32*, u32, u32, u32);\n\
         static const quot_part_fn quot_parts[] = {{{}}};\n\
         static const int quot_nparts = {n};\n",
        names.join(", ")
    ));
    src.push_str(include_str!("../emu/quotient_driver.cpp"));
    let cpp = dir.join(format!("{}.cpp", k.module));
    std::fs::write(&cpp, src).unwrap();
    let bin = dir.join(&k.module);
    common::compile_cpp(&cpp, &bin, &cpp.display().to_string());
    bin
}

/// Runs the emulated kernel on `case`.
fn run(bin: &Path, k: &QuotientKernel, case: &Case) -> Vec<u32> {
    let inp = case.inputs();
    inp.validate(k).unwrap();
    let pows = alpha_powers(k.generated.constraints, inp.alpha);
    let consts = selector_consts(inp.log_n, inp.log_q, inp.shift);
    let bufs: [&[u32]; 8] = [
        as_raw(inp.main),
        as_raw(inp.preprocessed),
        as_raw(inp.permutation),
        as_raw(inp.public_values),
        ext_as_raw(inp.challenges),
        ext_as_raw(inp.permutation_values),
        ext_as_raw(&pows),
        as_raw(&consts),
    ];
    let mut req = vec![
        inp.log_q as u32,
        (inp.log_q - inp.log_n) as u32,
        inp.log_n as u32,
    ];
    req.extend(bufs.iter().map(|b| b.len() as u32));
    for b in bufs {
        req.extend_from_slice(b);
    }
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes: Vec<u8> = req.iter().flat_map(|w| w.to_le_bytes()).collect();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "emulator failed: {:?}", out.status);
    out.stdout
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn generated_quotients_match_plonky3() {
    if !have_cxx() {
        eprintln!("SKIP quotient emulation: no c++ compiler");
        return;
    }
    let dir = std::env::temp_dir().join(format!("cloak-gpu-quot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bins = concat!(env!("CARGO_MANIFEST_DIR"), "/../../guests/bin");
    let guest = Guest::load(
        Path::new(bins),
        "fibonacci",
        vec![10u32.to_le_bytes().to_vec()],
    )
    .unwrap();
    let g = GuestTables::new(&guest).unwrap();
    // The CPU's and Shift's kernels are cut into parts (codegen::PART_NODES).
    for name in ["Cpu", "Memory", "Shift"] {
        let i = g.find("shard", name).unwrap();
        let t = &g.tables[i];
        assert!(
            !t.lookups.is_empty(),
            "{name}: the check is meant for a table with lookups"
        );
        let k = &t.kernel;
        eprintln!(
            "{name}: {} constraints, {} nodes ({} base, {} extension ops) in {} parts, {} LogUp columns",
            k.generated.constraints,
            k.generated.nodes,
            k.generated.base_ops,
            k.generated.ext_ops,
            k.generated.parts.len(),
            k.permutation_width
        );
        if name != "Memory" {
            assert!(
                k.generated.parts.len() > 1,
                "{name}: the check is meant for several parts"
            );
        }
        let bin = build(k, &dir);
        for case in [g.trace_case(i, 7), random_case(t, 8, 11)] {
            let got = ext_from_raw(run(&bin, k, &case)).expect("canonical outputs");
            let want = cloak_gpu::quotient_check::reference(t, &case);
            let r = compare(&got, &want);
            assert!(r.is_ok(), "{name} {}: {}", case.label, r.unwrap_err());
            eprintln!("{name} {}: {} values equal", case.label, want.len());
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
