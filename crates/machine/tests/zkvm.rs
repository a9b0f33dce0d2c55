//! Whole-program proofs: bundled guests prove and verify; proofs bind the
//! program, the exit code and the public values.

use cloak_machine::{MachineKeys, Proof};
use cloak_prover::{fresh_config, seeded_config, FriSettings};
use cloak_vm::{ExecConfig, Program};

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(path).unwrap()).unwrap()
}

fn u32_input(n: u32) -> Vec<Vec<u8>> {
    vec![n.to_le_bytes().to_vec()]
}

#[test]
fn fibonacci_proves_and_verifies() {
    let program = guest("fibonacci");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let config = fresh_config(FriSettings::DEFAULT).unwrap();
    let (proof, report) = keys
        .prove(&program, u32_input(10), ExecConfig::default(), &config)
        .unwrap();
    eprintln!("{report:?}");
    let bytes = proof.to_bytes();
    let proof = Proof::from_bytes(&bytes).unwrap();
    let statement = keys.verify(&proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(hex(&statement.public_values), "0a00000037000000");
    let _ = seeded_config;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
