//! Parallel tracing against the serial tracer: the same shards, field for
//! field, the same output and final memory, and the same error after the
//! same shards, for every bundled guest, several shard sizes and thread
//! counts, cuts by syscall cost, and runs that fail midway.

use cloak_vm::{
    syscall, ExecConfig, ExecError, ExecOutput, Executor, Program, Shard, ShardPolicy, SyscallEvent,
};

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn file(path: &str) -> Vec<u8> {
    let path = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What a run handed on and returned, and the memory it ended with.
#[derive(Debug, PartialEq)]
struct Run {
    shards: Vec<Shard>,
    result: Result<ExecOutput, ExecError>,
    final_memory: Vec<(u32, u32, u64)>,
}

/// Runs serially (`threads` 0) or in parallel, keeping every shard.
fn run(
    program: &Program,
    inputs: &[Vec<u8>],
    config: &ExecConfig,
    policy: &ShardPolicy<'_>,
    threads: usize,
) -> Run {
    let mut e = Executor::new(program, inputs.to_vec(), config.clone());
    let mut shards = Vec::new();
    let keep = |s: &mut Shard| {
        shards.push(s.clone());
        Ok::<(), ExecError>(())
    };
    let result = if threads == 0 {
        e.run_traced_with(policy, keep)
    } else {
        e.run_traced_parallel(policy, threads, keep)
    };
    Run {
        shards,
        result,
        final_memory: e.final_memory(),
    }
}

fn assert_same(
    name: &str,
    program: &Program,
    inputs: &[Vec<u8>],
    config: &ExecConfig,
    policy: &ShardPolicy<'_>,
) -> Run {
    let serial = run(program, inputs, config, policy, 0);
    for threads in [2, 3, 5] {
        let parallel = run(program, inputs, config, policy, threads);
        assert_eq!(
            parallel.shards.len(),
            serial.shards.len(),
            "{name}, {threads} threads: shard count"
        );
        for (i, (p, s)) in parallel.shards.iter().zip(&serial.shards).enumerate() {
            assert!(p == s, "{name}, {threads} threads: shard {i} differs");
        }
        assert_eq!(parallel.result, serial.result, "{name}, {threads} threads");
        assert!(
            parallel.final_memory == serial.final_memory,
            "{name}, {threads} threads: final memory"
        );
    }
    serial
}

/// A cost per syscall that cuts shards at precompile calls and long hint
/// reads, as the prover's pricing does.
fn syscall_cost(event: &SyscallEvent) -> u64 {
    match event.code {
        syscall::SHA_EXTEND | syscall::SHA_COMPRESS | syscall::KECCAK_PERMUTE => 40,
        syscall::HINT_READ => u64::from(event.access_count),
        _ => 0,
    }
}

#[test]
fn every_guest_traces_alike_on_several_threads() {
    let json = file("guests/inputs/json-records.json");
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("loop", vec![20_000u32.to_le_bytes().to_vec()]),
        ("fibonacci", vec![30_000u32.to_le_bytes().to_vec()]),
        ("sha256", vec![cloak_vm::input::vec_u8(&json)]),
        ("sha256-soft", vec![cloak_vm::input::vec_u8(&json[..2000])]),
        ("sha256-c", vec![cloak_vm::input::vec_u8(&json[..3000])]),
        ("keccak256", vec![cloak_vm::input::vec_u8(&json)]),
        (
            "keccak256-soft",
            vec![cloak_vm::input::vec_u8(&json[..1500])],
        ),
        ("json", vec![cloak_vm::input::vec_u8(&json[..6000])]),
    ];
    for (name, inputs) in &cases {
        let program = guest(name);
        for shard_cycles in [1 << 12, 10_007, 1 << 15] {
            let serial = assert_same(
                name,
                &program,
                inputs,
                &ExecConfig::default(),
                &ShardPolicy::cycles(shard_cycles),
            );
            assert!(serial.result.is_ok(), "{name}: {:?}", serial.result);
            if shard_cycles == 1 << 12 {
                assert!(
                    serial.shards.len() >= 4,
                    "{name}: {} shards",
                    serial.shards.len()
                );
            }
        }
        let priced = ShardPolicy {
            max_cycles: 1 << 14,
            max_syscall_cost: 200,
            syscall_cost: &syscall_cost,
        };
        assert_same(name, &program, inputs, &ExecConfig::default(), &priced);
    }
}

#[test]
fn syscall_cuts_come_where_the_serial_tracer_makes_them() {
    let program = guest("keccak256");
    let inputs = vec![[&3000u64.to_le_bytes()[..], &[9u8; 3000]].concat()];
    let cost = |e: &SyscallEvent| u64::from(e.code == syscall::KECCAK_PERMUTE);
    let policy = ShardPolicy {
        max_cycles: u64::MAX,
        max_syscall_cost: 3,
        syscall_cost: &cost,
    };
    let serial = assert_same(
        "keccak256",
        &program,
        &inputs,
        &ExecConfig::default(),
        &policy,
    );
    assert!(serial.shards.len() >= 7, "{} shards", serial.shards.len());
}

#[test]
fn a_cycle_limit_ends_both_runs_after_the_same_shards() {
    let program = guest("loop");
    let inputs = vec![1_000_000u32.to_le_bytes().to_vec()];
    let config = ExecConfig {
        max_cycles: Some(50_000),
        max_memory_bytes: None,
    };
    let serial = assert_same(
        "loop",
        &program,
        &inputs,
        &config,
        &ShardPolicy::cycles(4096),
    );
    assert!(matches!(
        serial.result,
        Err(ExecError::CycleLimit { limit: 50_000, .. })
    ));
    assert_eq!(serial.shards.len(), 13);
}

#[test]
fn a_memory_limit_met_midway_fails_both_runs_alike() {
    let program = guest("json");
    let inputs = vec![cloak_vm::input::vec_u8(&file(
        "guests/inputs/json-records.json",
    ))];
    let config = ExecConfig {
        max_cycles: None,
        max_memory_bytes: Some(1 << 20),
    };
    let serial = assert_same(
        "json",
        &program,
        &inputs,
        &config,
        &ShardPolicy::cycles(1 << 16),
    );
    assert!(
        matches!(serial.result, Err(ExecError::MemoryLimit { .. })),
        "{:?}",
        serial.result
    );
    assert!(
        serial.shards.len() >= 3,
        "{} shards before the error",
        serial.shards.len()
    );
}

#[test]
fn a_guest_that_panics_midway_ends_both_runs_alike() {
    // Half a JSON document: the parser fails after many shards.
    let program = guest("json");
    let mut records = file("guests/inputs/json-records.json");
    records.truncate(records.len() / 2);
    let inputs = vec![cloak_vm::input::vec_u8(&records)];
    let serial = assert_same(
        "json",
        &program,
        &inputs,
        &ExecConfig::default(),
        &ShardPolicy::cycles(1 << 14),
    );
    assert_ne!(serial.result.as_ref().map(|o| o.exit_code), Ok(0));
    assert!(serial.shards.len() >= 3, "{} shards", serial.shards.len());
}

#[test]
fn an_error_from_on_shard_stops_the_parallel_run() {
    let program = guest("loop");
    let inputs = vec![200_000u32.to_le_bytes().to_vec()];
    for threads in [2, 4] {
        let mut e = Executor::new(&program, inputs.clone(), ExecConfig::default());
        let mut seen = 0;
        let err = e
            .run_traced_parallel(&ShardPolicy::cycles(4096), threads, |s| {
                assert_eq!(s.index, seen);
                seen += 1;
                if seen == 5 {
                    Err(Stop::Enough)
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert_eq!(err, Stop::Enough);
        assert_eq!(seen, 5);
    }
}

#[derive(Debug, PartialEq)]
enum Stop {
    Enough,
    Exec(ExecError),
}

impl From<ExecError> for Stop {
    fn from(e: ExecError) -> Self {
        Stop::Exec(e)
    }
}

#[test]
fn an_executor_that_has_halted_traces_as_the_serial_one_does() {
    let program = guest("loop");
    let inputs = vec![1000u32.to_le_bytes().to_vec()];
    let after_run = |threads: usize| {
        let mut e = Executor::new(&program, inputs.clone(), ExecConfig::default());
        e.run().unwrap();
        let mut shards = Vec::new();
        let result = e.run_traced_parallel(&ShardPolicy::cycles(4096), threads, |s| {
            shards.push(s.clone());
            Ok::<(), ExecError>(())
        });
        (shards, result)
    };
    let serial = after_run(1);
    assert_eq!(after_run(3), serial);
    assert!(serial.1.is_ok());
}
