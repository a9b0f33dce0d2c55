//! The tracing-mode record checked against an independent replay of offline
//! memory checking: every access's claimed previous value and timestamp must be
//! what the memory actually held, shards must chain, and sharding must not
//! change what is recorded.

use cloak_vm::record::{timestamp, Position};
use cloak_vm::{ExecConfig, Executor, Opcode, Program, Shard};
use std::collections::HashMap;

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// Replays every access in the shards against a model memory (registers at
/// addresses 0..32) and checks the record's claims.
fn check_record(program: &Program, shards: &[Shard]) {
    let mut mem: HashMap<u32, (u32, u64)> =
        program.image_words().map(|(a, v)| (a, (v, 0))).collect();
    let mut reg: [(u32, u64); 32] = [(0, 0); 32];
    let access = |mem: &mut HashMap<u32, (u32, u64)>,
                  addr: u32,
                  prev: u32,
                  prev_ts: u64,
                  value: u32,
                  ts: u64| {
        let cur = mem.get(&addr).copied().unwrap_or((0, 0));
        assert_eq!(cur, (prev, prev_ts), "memory {addr:#x} at ts {ts}");
        assert!(prev_ts < ts);
        mem.insert(addr, (value, ts));
    };
    let mut clk = 0u64;
    for (i, shard) in shards.iter().enumerate() {
        assert_eq!(shard.index as usize, i);
        assert_eq!(shard.start.clk, clk);
        if i > 0 {
            assert_eq!(shard.start, shards[i - 1].end, "shards chain");
        }
        assert_eq!(shard.start.registers, reg.map(|r| r.0));
        assert_eq!(shard.start.register_ts, reg.map(|r| r.1));
        assert_eq!(shard.cycles(), shard.end.clk - shard.start.clk);
        let first_touch: HashMap<u32, (u32, u64)> = shard
            .touched
            .iter()
            .map(|t| (t.addr, (t.initial_value, t.initial_ts)))
            .collect();
        for t in &shard.touched {
            assert_eq!(
                mem.get(&t.addr).copied().unwrap_or((0, 0)),
                (t.initial_value, t.initial_ts)
            );
        }
        let mut syscalls = shard.syscalls.iter();
        for ev in &shard.cpu {
            let ins = *program.fetch(ev.pc).expect("pc in program");
            let (r1, r2) = cloak_vm::executor::operand_reads(ins.opcode);
            if r1 {
                let r = &mut reg[ins.rs1 as usize];
                assert_eq!((r.0, r.1), (ev.rs1, ev.rs1_prev_ts), "rs1 at clk {clk}");
                r.1 = timestamp(clk, Position::Rs1);
            }
            if r2 {
                let r = &mut reg[ins.rs2 as usize];
                assert_eq!((r.0, r.1), (ev.rs2, ev.rs2_prev_ts), "rs2 at clk {clk}");
                r.1 = timestamp(clk, Position::Rs2);
            }
            let ts_mem = timestamp(clk, Position::Memory);
            if matches!(
                ins.opcode,
                Opcode::Lb
                    | Opcode::Lh
                    | Opcode::Lw
                    | Opcode::Lbu
                    | Opcode::Lhu
                    | Opcode::Sb
                    | Opcode::Sh
                    | Opcode::Sw
            ) {
                assert!(first_touch.contains_key(&ev.mem_addr));
                access(
                    &mut mem,
                    ev.mem_addr,
                    ev.mem_prev,
                    ev.mem_prev_ts,
                    ev.mem_value,
                    ts_mem,
                );
            }
            if ins.opcode == Opcode::Ecall {
                let sc = syscalls.next().expect("syscall event");
                assert_eq!(
                    (sc.clk, sc.code, sc.arg1, sc.arg2, sc.result),
                    (clk, ev.rd_prev, ev.rs1, ev.rs2, ev.rd)
                );
                for a in shard.accesses_of(sc) {
                    access(&mut mem, a.addr, a.prev_value, a.prev_ts, a.value, ts_mem);
                }
            }
            if ins.writes_rd() && ins.rd != 0 {
                let r = &mut reg[ins.rd as usize];
                assert_eq!((r.0, r.1), (ev.rd_prev, ev.rd_prev_ts), "rd at clk {clk}");
                *r = (ev.rd, timestamp(clk, Position::Rd));
            }
            clk += 1;
        }
        assert!(syscalls.next().is_none());
        for t in &shard.touched {
            assert_eq!(mem[&t.addr], (t.final_value, t.final_ts));
        }
        assert_eq!(shard.end.registers, reg.map(|r| r.0));
        assert_eq!(shard.halted, i == shards.len() - 1);
    }
}

fn trace(
    program: &Program,
    inputs: Vec<Vec<u8>>,
    shard_cycles: u64,
) -> (cloak_vm::ExecOutput, Vec<Shard>, Vec<(u32, u32, u64)>) {
    let mut e = Executor::new(program, inputs, ExecConfig::default());
    let (out, shards) = e.trace(shard_cycles).unwrap();
    (out, shards, e.final_memory())
}

#[test]
fn records_replay_for_guests_with_every_kind_of_event() {
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("fibonacci", vec![100u32.to_le_bytes().to_vec()]),
        (
            "sha256",
            vec![[&200u64.to_le_bytes()[..], &[7u8; 200]].concat()],
        ),
        (
            "keccak256",
            vec![[&300u64.to_le_bytes()[..], &[9u8; 300]].concat()],
        ),
    ];
    for (name, inputs) in cases {
        let p = guest(name);
        let fast = Executor::new(&p, inputs.clone(), ExecConfig::default())
            .run()
            .unwrap();
        let (out, whole, final_mem) = trace(&p, inputs.clone(), u64::MAX);
        assert_eq!(out, fast, "{name}: tracing changes nothing observable");
        assert_eq!(whole.len(), 1);
        check_record(&p, &whole);
        // Sharding cuts the same events into pieces.
        let (_, shards, final_mem2) = trace(&p, inputs, 1000);
        assert!(shards.len() > 3, "{name}");
        check_record(&p, &shards);
        let cpu: Vec<_> = shards.iter().flat_map(|s| s.cpu.iter().copied()).collect();
        assert_eq!(cpu, whole[0].cpu);
        let accesses: Vec<_> = shards
            .iter()
            .flat_map(|s| s.syscall_accesses.iter().copied())
            .collect();
        assert_eq!(accesses, whole[0].syscall_accesses);
        assert_eq!(final_mem, final_mem2);
        // The final state covers every word any shard touched.
        for s in &shards {
            for t in &s.touched {
                assert!(final_mem.binary_search_by_key(&t.addr, |w| w.0).is_ok());
            }
        }
    }
}

#[test]
fn cycle_limit_applies_in_tracing_mode() {
    let p = guest("loop");
    let mut e = Executor::new(
        &p,
        vec![1_000_000u32.to_le_bytes().to_vec()],
        ExecConfig {
            max_cycles: Some(5000),
            max_memory_bytes: None,
        },
    );
    let mut n = 0;
    let err = e
        .run_traced(1024, |_| {
            n += 1;
            Ok::<(), cloak_vm::ExecError>(())
        })
        .unwrap_err();
    assert!(
        matches!(err, cloak_vm::ExecError::CycleLimit { limit: 5000, .. }),
        "{err}"
    );
    assert_eq!(n, 5, "4 full shards and the partial one at the limit");
}

#[test]
fn syscall_cost_cuts_shards_after_the_call_that_reaches_the_budget() {
    use cloak_vm::{syscall, ShardPolicy, SyscallEvent};
    let p = guest("keccak256");
    let inputs = vec![[&3000u64.to_le_bytes()[..], &[9u8; 3000]].concat()];
    let (_, whole, final_mem) = trace(&p, inputs.clone(), u64::MAX);
    let calls = |s: &Shard| {
        s.syscalls
            .iter()
            .filter(|e| e.code == syscall::KECCAK_PERMUTE)
            .count()
    };
    let total = calls(&whole[0]);
    assert!(total >= 20, "{total} permutations");
    // Three permutations per shard; every other syscall is free.
    let cost = |e: &SyscallEvent| u64::from(e.code == syscall::KECCAK_PERMUTE);
    let policy = ShardPolicy {
        max_cycles: u64::MAX,
        max_syscall_cost: 3,
        syscall_cost: &cost,
    };
    let mut e = Executor::new(&p, inputs, ExecConfig::default());
    let mut shards = Vec::new();
    let out = e
        .run_traced_with(&policy, |s| {
            shards.push(s.clone());
            Ok::<(), cloak_vm::ExecError>(())
        })
        .unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(
        shards.len(),
        total.div_ceil(3) + usize::from(total % 3 == 0)
    );
    for (i, s) in shards.iter().enumerate() {
        let n = calls(s);
        if i + 1 < shards.len() {
            assert_eq!(n, 3, "shard {i}");
            // The shard ends right after the call that reached the budget.
            let last = s.syscalls.last().unwrap();
            assert_eq!(last.code, syscall::KECCAK_PERMUTE);
            assert_eq!(last.clk + 1, s.end.clk, "shard {i}");
        } else {
            assert!(n < 3, "last shard holds the rest: {n}");
        }
    }
    check_record(&p, &shards);
    assert_eq!(e.final_memory(), final_mem);
    let cpu: Vec<_> = shards.iter().flat_map(|s| s.cpu.iter().copied()).collect();
    assert_eq!(cpu, whole[0].cpu);
}

/// `Shard::move_into` gives the destination an equal shard whatever it held
/// before (larger buffers: a longer shard with syscalls; or smaller ones), and
/// leaves the source its bookkeeping with the destination's old buffers.
#[test]
fn moving_a_shard_into_a_used_one_gives_an_equal_shard() {
    let p = guest("sha256");
    let input = vec![[&200u64.to_le_bytes()[..], &[7u8; 200]].concat()];
    let (_, shards, _) = trace(&p, input, 1000);
    let with_syscalls = shards
        .iter()
        .position(|s| !s.syscalls.is_empty())
        .expect("a shard with a syscall");
    let last = shards.last().unwrap();
    assert!(last.cpu.len() < shards[0].cpu.len(), "a shorter last shard");
    for (dst, src) in [(with_syscalls, shards.len() - 1), (shards.len() - 1, 0)] {
        let mut dest = shards[dst].clone();
        let mut source = shards[src].clone();
        source.move_into(&mut dest);
        assert_eq!(dest, shards[src], "shard {src} moved over shard {dst}");
        assert_eq!(source.index, shards[src].index);
        assert_eq!(source.start, shards[src].start);
        assert_eq!(source.end, shards[src].end);
        assert_eq!(source.cpu, shards[dst].cpu, "the old buffers come back");
        let mut fresh = shards[src].empty_like();
        assert!(fresh.cpu.is_empty() && fresh.touched.is_empty());
        dest.move_into(&mut fresh);
        assert_eq!(fresh, shards[src], "moved into an empty shard");
    }
}

/// A consumer that takes each shard with `Shard::move_into`, handing the
/// executor back an earlier shard's buffers (stale events of another length,
/// with syscalls or without), sees the same shards as one that copies them.
#[test]
fn shards_taken_by_moving_equal_copied_ones() {
    let p = guest("sha256");
    let input = vec![[&300u64.to_le_bytes()[..], &[9u8; 300]].concat()];
    let (out, copied, _) = trace(&p, input.clone(), 700);
    assert!(copied.len() > 4, "several shards");
    let mut e = Executor::new(&p, input, ExecConfig::default());
    let mut moved: Vec<Shard> = Vec::new();
    let mut spare: Vec<Shard> = Vec::new();
    let out2 = e
        .run_traced_with(&cloak_vm::ShardPolicy::cycles(700), |shard| {
            // Every other shard recycles the buffers of the one before last.
            let mut taken = match spare.pop() {
                Some(used) => used,
                None => shard.empty_like(),
            };
            shard.move_into(&mut taken);
            if moved.len() % 2 == 1 {
                spare.push(moved.last().unwrap().clone());
            }
            moved.push(taken);
            Ok::<(), cloak_vm::ExecError>(())
        })
        .unwrap();
    assert_eq!(out2.cycles, out.cycles);
    assert_eq!(moved, copied);
}
