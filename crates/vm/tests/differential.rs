//! Differential test of the Cloak executor against Debian's `qemu-riscv32`.
//!
//! Random RV32IM programs (see `differential/gen.rs`) are assembled into one
//! ELF per batch of sub-programs. The qemu build ends by writing the whole
//! data segment (which holds each sub-program's register dump and memory) to
//! stdout; the Cloak build ends with the 8 COMMITs of SHA-256("") and HALT,
//! after which the same data segment is read back with `Executor::read_word`.
//! The two must agree byte for byte.
//!
//! Knobs (environment):
//! - `CLOAK_DIFF_PROGRAMS`  number of random programs (default 2000)
//! - `CLOAK_DIFF_SEED`      base seed, decimal or 0x-hex, or `random` (default 0xC10A4);
//!   program i of the run uses seed base+i
//! - `CLOAK_DIFF_BATCH`     programs per qemu process (default 40)
//! - `CLOAK_DIFF_THREADS`   worker threads (default: available parallelism)
//! - `CLOAK_DIFF_TEXT_LOADS=1` also load from the text segment
//! - `CLOAK_QEMU`           path of qemu-riscv32 (default: found on PATH)
//! - `CLOAK_SKIP_QEMU=1`    skip (instead of failing) when qemu-riscv32 is missing
//! - `CLOAK_DIFF_SAVE_DIR`  save the qemu and Cloak ELFs of failing batches there

#[path = "differential/asm.rs"]
mod asm;
#[path = "differential/gen.rs"]
mod gen;
#[path = "differential/qemu.rs"]
mod qemu;

use asm::*;
use cloak_vm::{ExecConfig, Executor, Program};
use gen::{Batch, GenConfig, Item, SubProgram, Tail, DUMP_REGS, REGION_SIZE};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const DEFAULT_PROGRAMS: u64 = 2000;
const DEFAULT_SEED: u64 = 0xC10A4;
const DEFAULT_BATCH: u64 = 40;
const QEMU_TIMEOUT: Duration = Duration::from_secs(60);
/// Stop collecting after this many divergent sub-programs.
const MAX_FAILURES: usize = 8;

// ---------------------------------------------------------------- settings

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(s) => {
            let s = s.trim().replace('_', "");
            let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16),
                None => s.parse(),
            };
            r.unwrap_or_else(|_| panic!("{name}={s:?} is not a number"))
        }
    }
}

fn env_flag(name: &str) -> bool {
    matches!(
        std::env::var(name).as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

fn base_seed() -> u64 {
    if std::env::var("CLOAK_DIFF_SEED").as_deref() == Ok("random") {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        return t.as_nanos() as u64 ^ (std::process::id() as u64) << 32;
    }
    env_u64("CLOAK_DIFF_SEED", DEFAULT_SEED)
}

/// qemu-riscv32, or None when it is missing and `CLOAK_SKIP_QEMU=1`.
/// Missing without the skip flag is a test failure, never a silent pass.
fn qemu_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(q) = qemu::find_qemu() {
        return Some(q);
    }
    if env_flag("CLOAK_SKIP_QEMU") {
        eprintln!(
            "{test}: SKIPPED: qemu-riscv32 not found and CLOAK_SKIP_QEMU=1 is set; \
             the executor was NOT checked against qemu"
        );
        return None;
    }
    panic!(
        "{test}: qemu-riscv32 was not found on PATH (nor via CLOAK_QEMU). This differential test \
         needs it: install it with `apt-get install -y qemu-user` (Debian/Ubuntu), or point \
         CLOAK_QEMU at the binary. To skip this test deliberately, set CLOAK_SKIP_QEMU=1."
    );
}

// ---------------------------------------------------------------- running

struct CloakRun {
    data: Vec<u8>,
}

struct CloakFailure {
    msg: String,
    pc: Option<u32>,
}

/// Run the Cloak build of `batch` and read back its data segment.
fn run_cloak(batch: &Batch) -> Result<CloakRun, CloakFailure> {
    let elf = batch.elf(Tail::Cloak);
    let text_len = batch.text.len() as u64 + 64;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let program = Program::from_elf(&elf).map_err(|e| CloakFailure {
            msg: format!("Program::from_elf failed: {e}"),
            pc: None,
        })?;
        if program.entry != gen::TEXT_BASE {
            return Err(CloakFailure {
                msg: format!(
                    "Program::from_elf: entry {:#x}, ELF says {:#x}",
                    program.entry,
                    gen::TEXT_BASE
                ),
                pc: None,
            });
        }
        let config = ExecConfig {
            max_cycles: Some(4 * text_len + 100_000),
            ..Default::default()
        };
        let mut exec = Executor::new(&program, vec![], config);
        let out = match exec.run() {
            Ok(out) => out,
            Err(e) => {
                let pc = exec.pc();
                return Err(CloakFailure {
                    msg: format!("Executor::run failed at pc {pc:#x}: {e}"),
                    pc: Some(pc),
                });
            }
        };
        if out.exit_code != 0 {
            let pc = exec.pc();
            return Err(CloakFailure {
                msg: format!("exit code {} (expected 0), pc {pc:#x}", out.exit_code),
                pc: Some(pc),
            });
        }
        let mut data = Vec::with_capacity(batch.data.len());
        for off in (0..batch.data.len() as u32).step_by(4) {
            data.extend_from_slice(&exec.read_word(batch.data_base + off).to_le_bytes());
        }
        Ok(CloakRun { data })
    }));
    match result {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "<non-string panic>".into());
            Err(CloakFailure {
                msg: format!("the executor panicked: {msg}"),
                pc: None,
            })
        }
    }
}

fn word(bytes: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap())
}

/// Describes how sub-program `k` of `batch` diverges (and which dumped
/// registers differ), or None if it agrees.
fn diff_sub(batch: &Batch, k: usize, qemu_out: &[u8], cloak: &[u8]) -> Option<(String, Vec<Reg>)> {
    let sub = &batch.subs[k];
    let start = k * REGION_SIZE as usize;
    let mut lines = Vec::new();
    let mut regs = Vec::new();
    let mut count = 0;
    for off in (0..REGION_SIZE as usize).step_by(4) {
        let (q, c) = (word(qemu_out, start + off), word(cloak, start + off));
        if q == c {
            continue;
        }
        count += 1;
        if lines.len() >= 40 {
            continue;
        }
        if off < 4 * DUMP_REGS {
            let r = off / 4 + 1;
            regs.push(r as Reg);
            lines.push(format!(
                "  register x{r} ({}): qemu={q:#010x} cloak={c:#010x}",
                ABI[r]
            ));
        } else {
            lines.push(format!(
                "  memory word {:#010x} (region+{off:#x}): qemu={q:#010x} cloak={c:#010x} initial={:#010x}",
                sub.region_base + off as u32,
                word(&sub.region_init, off),
            ));
        }
    }
    if count == 0 {
        return None;
    }
    if count > lines.len() {
        lines.push(format!(
            "  ... {} more differing words",
            count - lines.len()
        ));
    }
    Some((lines.join("\n"), regs))
}

fn sub_header(batch: &Batch, k: usize, ctx: &RunCtx) -> String {
    let sub = &batch.subs[k];
    format!(
        "sub-program seed {seed} ({seed:#x}) = run seed {base:#x} + {idx}; sub-program #{k} of {n} in qemu batch {b}; \
         text {ts:#x}..{te:#x}, data region {rb:#x}..{re:#x} (x31 = {x31:#x}, register dump at region+0..0x78)\n\
         reproduce this run: CLOAK_DIFF_SEED={base:#x} CLOAK_DIFF_PROGRAMS={np} CLOAK_DIFF_BATCH={bs}\n\
         this program alone (addresses shift): CLOAK_DIFF_SEED={seed:#x} CLOAK_DIFF_PROGRAMS=1 CLOAK_DIFF_BATCH=1",
        seed = sub.seed,
        base = ctx.base_seed,
        idx = sub.seed.wrapping_sub(ctx.base_seed),
        n = batch.subs.len(),
        b = ctx.batch_index,
        ts = sub.text_start,
        te = sub.text_end,
        rb = sub.region_base,
        re = sub.region_base + REGION_SIZE,
        x31 = sub.region_base + gen::BASE_BIAS,
        np = ctx.programs,
        bs = ctx.batch_size,
    )
}

struct RunCtx {
    base_seed: u64,
    programs: u64,
    batch_size: u64,
    batch_index: u64,
}

/// Runs one batch on both sides; returns failure reports (empty = agreement).
/// With `CLOAK_DIFF_SAVE_DIR` set, the ELFs of a failing batch are saved there.
/// Each report comes with the index of its program in the run (for ordering).
fn check_batch(
    qemu_bin: &Path,
    elf_path: &Path,
    batch: &Batch,
    ctx: &RunCtx,
) -> Vec<(u64, String)> {
    let mut reports = check_batch_inner(qemu_bin, elf_path, batch, ctx);
    if !reports.is_empty() {
        if let Some(dir) = std::env::var_os("CLOAK_DIFF_SAVE_DIR") {
            let dir = PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let q = dir.join(format!(
                "batch{}-seed{:#x}.qemu.elf",
                ctx.batch_index, batch.subs[0].seed
            ));
            let c = dir.join(format!(
                "batch{}-seed{:#x}.cloak.elf",
                ctx.batch_index, batch.subs[0].seed
            ));
            let _ = qemu::write_elf(&q, &batch.elf(Tail::Qemu));
            let _ = qemu::write_elf(&c, &batch.elf(Tail::Cloak));
            reports[0].1 = format!(
                "(ELFs saved: {} and {})\n{}",
                q.display(),
                c.display(),
                reports[0].1
            );
        }
    }
    reports
}

fn check_batch_inner(
    qemu_bin: &Path,
    elf_path: &Path,
    batch: &Batch,
    ctx: &RunCtx,
) -> Vec<(u64, String)> {
    let first = batch.subs[0].seed.wrapping_sub(ctx.base_seed);
    let qemu_elf = batch.elf(Tail::Qemu);
    if let Err(e) = qemu::write_elf(elf_path, &qemu_elf) {
        return vec![(first, format!("HARNESS ERROR: {e}"))];
    }
    // qemu runs in its own process while Cloak runs here.
    let running = qemu::spawn(qemu_bin, elf_path, QEMU_TIMEOUT);
    let cloak = run_cloak(batch);
    let qemu_out = running.and_then(|r| r.wait());

    let qemu_out = match qemu_out {
        Ok(o) if o.len() == batch.data.len() => o,
        Ok(o) => {
            return vec![(
                first,
                format!(
                    "HARNESS ERROR: qemu wrote {} bytes, expected {} (batch {}, seeds {:#x}..)\n{}",
                    o.len(),
                    batch.data.len(),
                    ctx.batch_index,
                    batch.subs[0].seed,
                    batch.listing(None, Tail::Qemu, None)
                ),
            )]
        }
        Err(e) => {
            return vec![(
                first,
                format!(
                "HARNESS ERROR: qemu run failed: {e} (batch {}, first seed {:#x}); listing:\n{}",
                ctx.batch_index,
                batch.subs[0].seed,
                batch.listing(None, Tail::Qemu, None)
            ),
            )]
        }
    };
    let cloak = match cloak {
        Ok(c) => c,
        Err(f) => {
            let k = f.pc.and_then(|pc| batch.sub_at(pc));
            let mut s = format!("Cloak failed where qemu ran fine: {}\n", f.msg);
            match k {
                Some(k) => {
                    s += &sub_header(batch, k, ctx);
                    s += &format!(
                        "\nlisting (=> marks Cloak's pc):\n{}",
                        batch.listing(Some(k), Tail::Cloak, f.pc)
                    );
                }
                None => {
                    s += &format!(
                        "batch {} (seeds {:#x}..{:#x}); pc not inside a sub-program; whole listing:\n{}",
                        ctx.batch_index,
                        batch.subs[0].seed,
                        batch.subs.last().unwrap().seed,
                        batch.listing(None, Tail::Cloak, f.pc)
                    );
                }
            }
            let key = k.map_or(first, |k| batch.subs[k].seed.wrapping_sub(ctx.base_seed));
            return vec![(key, s)];
        }
    };
    let mut reports = Vec::new();
    for k in 0..batch.subs.len() {
        if let Some((d, regs)) = diff_sub(batch, k, &qemu_out, &cloak.data) {
            reports.push((
                batch.subs[k].seed.wrapping_sub(ctx.base_seed),
                format!(
                    "DIVERGENCE (qemu vs Cloak)\n{}\n{d}\nlisting (register dump at the end; \
                     `# <- writes` marks writers of differing registers):\n{}",
                    sub_header(batch, k, ctx),
                    batch.listing_marked(Some(k), Tail::Cloak, None, &regs)
                ),
            ));
        }
    }
    reports
}

fn build_batch(seeds: std::ops::Range<u64>, cfg: &GenConfig) -> Batch {
    let progs: Vec<SubProgram> = seeds.map(|s| gen::generate(s, cfg)).collect();
    gen::assemble(&progs)
}

// ---------------------------------------------------------------- tests

#[test]
fn differential_qemu() {
    let Some(qemu_bin) = qemu_or_skip("differential_qemu") else {
        return;
    };
    let programs = env_u64("CLOAK_DIFF_PROGRAMS", DEFAULT_PROGRAMS);
    let base = base_seed();
    let batch_size = env_u64("CLOAK_DIFF_BATCH", DEFAULT_BATCH).max(1);
    let threads = env_u64(
        "CLOAK_DIFF_THREADS",
        std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(2),
    )
    .max(1);
    let cfg = GenConfig {
        text_loads: env_flag("CLOAK_DIFF_TEXT_LOADS"),
        ..GenConfig::default()
    };
    let batches = programs.div_ceil(batch_size);
    eprintln!(
        "differential_qemu: {programs} programs, seed {base:#x}, {batch_size} per qemu process \
         ({batches} processes), {threads} threads, qemu {}",
        qemu_bin.display()
    );

    let started = Instant::now();
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let dir = tempfile::tempdir().expect("tempdir");

    std::thread::scope(|s| {
        for t in 0..threads {
            let (next, done, stop, failures, cfg, qemu_bin) =
                (&next, &done, &stop, &failures, &cfg, &qemu_bin);
            let elf_path = dir.path().join(format!("worker{t}.elf"));
            s.spawn(move || loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches || stop.load(Ordering::Relaxed) {
                    break;
                }
                let lo = b * batch_size;
                let hi = (lo + batch_size).min(programs);
                let batch = build_batch(base.wrapping_add(lo)..base.wrapping_add(hi), cfg);
                let ctx = RunCtx {
                    base_seed: base,
                    programs,
                    batch_size,
                    batch_index: b,
                };
                let reports = check_batch(qemu_bin, &elf_path, &batch, &ctx);
                if !reports.is_empty() {
                    let mut f = failures.lock().unwrap();
                    f.extend(reports);
                    if f.len() >= MAX_FAILURES {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                let n = done.fetch_add(hi - lo, Ordering::Relaxed) + (hi - lo);
                let step = (programs / 20).max(50_000);
                if programs >= 100_000 && (n / step) != ((n - (hi - lo)) / step) {
                    eprintln!(
                        "differential_qemu: {n}/{programs} programs, {:.0?} elapsed",
                        started.elapsed()
                    );
                }
            });
        }
    });

    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|f| f.0); // deterministic: lowest program index first
    let failures: Vec<String> = failures.into_iter().map(|f| f.1).collect();
    let elapsed = started.elapsed();
    eprintln!(
        "differential_qemu: {} of {programs} programs checked in {elapsed:.2?}: {} divergent",
        done.load(Ordering::Relaxed),
        failures.len()
    );
    if !failures.is_empty() {
        let mut msg = format!(
            "{} divergence(s) between qemu-riscv32 and Cloak (run seed {base:#x}, {programs} programs, batch {batch_size}).\n\
             First report:\n\n{}",
            failures.len(),
            failures[0]
        );
        for f in failures.iter().skip(1) {
            // Later reports without their listings, to keep the message readable.
            let head: String = f.split("\nlisting").next().unwrap_or(f).to_string();
            msg += &format!("\n\n---- further report ----\n{head}");
        }
        panic!("{msg}");
    }
}

/// Known encodings (checked against GNU objdump) of what the generator emits.
#[test]
fn encoder_known_words() {
    let cases: &[(Inst, u32)] = &[
        (
            Inst::OpImm {
                op: ImmOp::Addi,
                rd: A0,
                rs1: ZERO,
                imm: 5,
            },
            0x0050_0513,
        ),
        (
            Inst::OpImm {
                op: ImmOp::Addi,
                rd: A1,
                rs1: ZERO,
                imm: 7,
            },
            0x0070_0593,
        ),
        (
            Inst::Op {
                op: ROp::Mul,
                rd: A2,
                rs1: A0,
                rs2: A1,
            },
            0x02b5_0633,
        ),
        (
            Inst::Op {
                op: ROp::Sub,
                rd: 1,
                rs1: 2,
                rs2: 3,
            },
            0x4031_00b3,
        ),
        (
            Inst::Op {
                op: ROp::Sra,
                rd: 31,
                rs1: 30,
                rs2: 29,
            },
            0x41df_5fb3,
        ),
        (
            Inst::Op {
                op: ROp::Remu,
                rd: 5,
                rs1: 6,
                rs2: 7,
            },
            0x0273_72b3,
        ),
        (
            Inst::Op {
                op: ROp::Mulhsu,
                rd: 8,
                rs1: 9,
                rs2: 10,
            },
            0x02a4_a433,
        ),
        (
            Inst::OpImm {
                op: ImmOp::Sltiu,
                rd: 3,
                rs1: 4,
                imm: -1,
            },
            0xfff2_3193,
        ),
        (
            Inst::OpImm {
                op: ImmOp::Andi,
                rd: 3,
                rs1: 4,
                imm: -2048,
            },
            0x8002_7193,
        ),
        (
            Inst::Shift {
                op: ShOp::Srai,
                rd: 6,
                rs1: 7,
                shamt: 31,
            },
            0x41f3_d313,
        ),
        (
            Inst::Shift {
                op: ShOp::Slli,
                rd: 6,
                rs1: 7,
                shamt: 1,
            },
            0x0013_9313,
        ),
        (
            Inst::Lui {
                rd: 5,
                imm20: 0xfffff,
            },
            0xffff_f2b7,
        ),
        (Inst::Auipc { rd: 5, imm20: 1 }, 0x0000_1297),
        (Inst::Jal { rd: 1, off: 2048 }, 0x0010_00ef),
        (Inst::Jal { rd: 0, off: 0x7fe }, 0x7fe0_006f),
        (Inst::Jal { rd: 0, off: 0x1000 }, 0x0000_106f),
        (
            Inst::Jalr {
                rd: 1,
                rs1: 5,
                imm: -3,
            },
            0xffd2_80e7,
        ),
        (
            Inst::Branch {
                op: BrOp::Bgeu,
                rs1: 1,
                rs2: 2,
                off: 4094,
            },
            0x7e20_ffe3,
        ),
        (
            Inst::Branch {
                op: BrOp::Blt,
                rs1: 0,
                rs2: 10,
                off: -32,
            },
            0xfea0_40e3,
        ),
        (
            Inst::Branch {
                op: BrOp::Bne,
                rs1: 9,
                rs2: 0,
                off: 2048,
            },
            0x0004_9063 | (1 << 7),
        ),
        (
            Inst::Load {
                op: LdOp::Lhu,
                rd: 4,
                rs1: 31,
                imm: -2048,
            },
            0x800f_d203,
        ),
        (
            Inst::Load {
                op: LdOp::Lb,
                rd: 4,
                rs1: 31,
                imm: 2047,
            },
            0x7fff_8203,
        ),
        (
            Inst::Store {
                op: StOp::Sh,
                rs1: 31,
                rs2: 4,
                imm: -2,
            },
            0xfe4f_9f23,
        ),
        (
            Inst::Store {
                op: StOp::Sw,
                rs1: 31,
                rs2: 30,
                imm: 2044,
            },
            0x7fef_ae23,
        ),
        (
            Inst::Fence {
                fm: 0,
                pred: 0xf,
                succ: 0xf,
            },
            0x0ff0_000f,
        ),
        (
            Inst::Fence {
                fm: 8,
                pred: 3,
                succ: 3,
            },
            0x8330_000f,
        ),
        (Inst::Ecall, 0x0000_0073),
    ];
    for (inst, want) in cases {
        assert_eq!(
            inst.encode(),
            *want,
            "{inst}: got {:#010x}, want {want:#010x}",
            inst.encode()
        );
    }
    // li round-trips through LUI+ADDI semantics for awkward values.
    for v in [
        0u32,
        1,
        0x7ff,
        0x800,
        0xfff,
        0x8000_0000,
        0x7fff_ffff,
        0xffff_f800,
        0xffff_ffff,
        0x1234_5800,
    ] {
        let (hi, lo) = hi_lo(v);
        assert_eq!((hi << 12).wrapping_add(lo as u32), v, "li {v:#x}");
    }
}

/// The generator is deterministic per seed, uses every RV32IM instruction, and
/// its programs only ever branch backward onto a forward trampoline.
#[test]
fn generator_is_deterministic_and_covers_rv32im() {
    let cfg = GenConfig::default();
    let seeds = 0xC10A4..0xC10A4 + 300;
    let a = build_batch(seeds.clone(), &cfg);
    let b = build_batch(seeds, &cfg);
    assert_eq!(a.text_words(Tail::Cloak), b.text_words(Tail::Cloak));
    assert_eq!(a.data, b.data);

    let mut seen = std::collections::BTreeSet::new();
    let (mut backward, mut far) = (0, 0);
    let text = a.listing_insts(Tail::Cloak);
    for (i, inst) in a.text.iter().enumerate() {
        let name = inst.to_string().split(' ').next().unwrap().to_string();
        seen.insert(name);
        // Termination: a backward jump may only land on a forward `jal x0`
        // (a trampoline) that leaves past the jump itself.
        if let Inst::Branch { off, .. } | Inst::Jal { off, .. } = inst {
            if *off < 0 {
                backward += 1;
                let t = (i as i64 + *off as i64 / 4) as usize;
                match text[t] {
                    Inst::Jal { rd: 0, off: o } if t as i64 + o as i64 / 4 > i as i64 => {}
                    other => panic!("backward jump at #{i} ({inst}) lands on {other}"),
                }
            }
            if off.abs() >= 2048 {
                far += 1;
            }
        }
    }
    assert!(backward > 20 && far > 0, "backward {backward}, far {far}");
    let all = [
        "lui",
        "auipc",
        "jal",
        "jalr",
        "beq",
        "bne",
        "blt",
        "bge",
        "bltu",
        "bgeu",
        "lb",
        "lh",
        "lw",
        "lbu",
        "lhu",
        "sb",
        "sh",
        "sw",
        "addi",
        "slti",
        "sltiu",
        "xori",
        "ori",
        "andi",
        "slli",
        "srli",
        "srai",
        "add",
        "sub",
        "sll",
        "slt",
        "sltu",
        "xor",
        "srl",
        "sra",
        "or",
        "and",
        "mul",
        "mulh",
        "mulhsu",
        "mulhu",
        "div",
        "divu",
        "rem",
        "remu",
        "fence",
        "fence.tso",
    ];
    let missing: Vec<_> = all.iter().filter(|m| !seen.contains(**m)).collect();
    assert!(missing.is_empty(), "generator never emitted {missing:?}");
    // x31 is never written by a generated body instruction (only by the prologue LI).
    let progs: Vec<SubProgram> = (0..300).map(|s| gen::generate(s, &cfg)).collect();
    for p in &progs {
        for item in p.body.iter().flatten() {
            let written: Vec<Reg> = match item {
                Item::I(i) => i.rd().into_iter().collect(),
                Item::Branch { .. } => vec![],
                Item::Jal { rd, .. } => vec![*rd],
                Item::AuipcJalr { rd, tmp, .. } => vec![*rd, *tmp],
                Item::Load { rd, mode, .. } => match mode {
                    gen::AddrMode::Base => vec![*rd],
                    gen::AddrMode::AddiBase { tmp, .. } | gen::AddrMode::Lui { tmp } => {
                        vec![*rd, *tmp]
                    }
                },
                Item::Store { mode, .. } => match mode {
                    gen::AddrMode::Base => vec![],
                    gen::AddrMode::AddiBase { tmp, .. } | gen::AddrMode::Lui { tmp } => vec![*tmp],
                },
                Item::TextLoad { rd, tmp, .. } => vec![*rd, *tmp],
            };
            assert!(
                !written.contains(&BASE),
                "seed {}: writes x31: {item:?}",
                p.seed
            );
        }
    }
}

/// A hand-made program with a known result, on both qemu and Cloak: checks
/// the harness itself (ELF writer, tails, dump layout, read-back).
#[test]
fn harness_self_check() {
    let addi = |rd, rs1, imm| {
        Item::I(Inst::OpImm {
            op: ImmOp::Addi,
            rd,
            rs1,
            imm,
        })
    };
    let mut init = [0u32; 31];
    for (r, v) in init.iter_mut().enumerate().skip(1) {
        *v = 0x1000_0000 + r as u32;
    }
    let body: Vec<gen::Unit> = vec![
        vec![addi(A0, ZERO, 5)], // li a0, 5
        vec![addi(A1, ZERO, 7)], // li a1, 7
        vec![Item::I(Inst::Op {
            op: ROp::Mul,
            rd: A2,
            rs1: A0,
            rs2: A1,
        })], // mul a2, a0, a1
        vec![Item::Store {
            op: StOp::Sw,
            rs2: A2,
            mode: gen::AddrMode::Base,
            off: 0x100,
        }],
        vec![Item::Load {
            op: LdOp::Lw,
            rd: 13,
            mode: gen::AddrMode::Lui { tmp: 6 },
            off: 0x100,
        }],
        vec![Item::I(Inst::Op {
            op: ROp::Div,
            rd: 14,
            rs1: A2,
            rs2: ZERO,
        })], // a4 = -1
        vec![Item::Branch {
            op: BrOp::Beq,
            rs1: A0,
            rs2: A0,
            target: 8,
        }], // always taken
        vec![addi(15, ZERO, 1)], // skipped
        vec![Item::Load {
            op: LdOp::Lb,
            rd: 16,
            mode: gen::AddrMode::Base,
            off: 0x204,
        }], // 0x80 -> -128
        vec![Item::Load {
            op: LdOp::Lhu,
            rd: 17,
            mode: gen::AddrMode::Base,
            off: 0x204,
        }], // 0xff80
    ];
    let mut region = vec![0u8; REGION_SIZE as usize];
    region[0x204] = 0x80;
    region[0x205] = 0xff;
    let p = SubProgram {
        seed: 0,
        init,
        body,
        region,
        zero_from: None,
    };
    let batch = gen::assemble(&[p]);
    let listing = batch.listing(None, Tail::Cloak, None);
    assert!(
        listing.contains("02b50633  mul a2, a0, a1"),
        "listing:\n{listing}"
    );

    let mut expected_regs = init;
    expected_regs[10] = 5;
    expected_regs[11] = 7;
    expected_regs[12] = 35;
    expected_regs[13] = 35;
    expected_regs[14] = 0xffff_ffff;
    expected_regs[16] = 0xffff_ff80;
    expected_regs[17] = 0xff80;
    expected_regs[6] = hi_lo(batch.data_base + 0x100).0 << 12; // lui t1, %hi(addr)
    let check = |who: &str, data: &[u8]| {
        assert_eq!(data.len(), REGION_SIZE as usize, "{who}: data size");
        for r in 1..=30usize {
            assert_eq!(
                word(data, 4 * (r - 1)),
                expected_regs[r],
                "{who}: x{r} ({})\n{listing}",
                ABI[r]
            );
        }
        assert_eq!(word(data, 0x100), 35, "{who}: stored word");
        assert_eq!(word(data, 0x204), 0xff80, "{who}: untouched word");
    };

    let cloak = run_cloak(&batch).unwrap_or_else(|f| panic!("Cloak: {}\n{listing}", f.msg));
    check("Cloak", &cloak.data);

    let Some(qemu_bin) = qemu_or_skip("harness_self_check") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = qemu::run_bytes(
        &qemu_bin,
        &dir.path().join("self.elf"),
        &batch.elf(Tail::Qemu),
        QEMU_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("qemu: {e}\n{}", batch.listing(None, Tail::Qemu, None)));
    check("qemu", &out);
}
