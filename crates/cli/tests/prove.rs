//! `cloak prove`, `cloak verify` (with and without an attestation) and `cloak vk`.

mod common;

use common::{cloak, text};
use std::path::Path;

#[test]
fn prove_verify_and_attest_fibonacci() {
    let dir = tempfile::tempdir().unwrap();
    let proof = dir.path().join("fib.bin");
    let att = dir.path().join("fib.att.json");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "").unwrap(); // the default policy
    let (proof, att, policy) = (
        proof.to_str().unwrap(),
        att.to_str().unwrap(),
        policy.to_str().unwrap(),
    );
    let nonce = "11".repeat(32);
    let fib = "guests/bin/fibonacci.elf";

    let out = cloak(&[
        "prove", fib, "--input", "u32:10", "-o", proof, "--attest", "dev", "--nonce", &nonce,
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("public values: 0a00000037000000"), "{t}");

    let vk = cloak(&["vk", fib]);
    let vk = String::from_utf8(vk.stdout).unwrap().trim().to_string();
    assert_eq!(vk.len(), 64, "{vk}");
    let layout = text(&cloak(&["vk", fib, "--layout"]));
    let cpu = layout
        .lines()
        .find(|l| l.starts_with("Cpu "))
        .expect(&layout);
    let main: usize = cpu.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(main > 30, "{layout}");

    let out = cloak(&["verify", proof, "--elf", fib, "--json"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["public_values"], "0a00000037000000");
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["vk"], vk.as_str());

    // Another program's key rejects the proof.
    let out = cloak(&["verify", proof, "--elf", "guests/bin/loop.elf"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a valid proof"), "{}", text(&out));

    // Proof and attestation together: dev evidence only with --allow-dev.
    let both = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            proof,
            "--elf",
            fib,
            "--attestation",
            att,
            "--policy",
            policy,
        ];
        args.extend_from_slice(extra);
        cloak(&args)
    };
    let out = both(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = both(&["--allow-dev", "--nonce", &nonce]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("proof: valid"), "{t}");
    assert!(t.contains("proof and attestation: ACCEPTED"), "{t}");
    // A different nonce is not this attestation's.
    let out = both(&["--allow-dev", "--nonce", &"22".repeat(32)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // The attestation does not carry over to another proof of the same statement.
    let other = Path::new(proof).with_file_name("other.bin");
    let other = other.to_str().unwrap();
    let out = cloak(&["prove", fib, "--input", "u32:10", "-o", other]);
    assert!(out.status.success(), "{}", text(&out));
    assert_ne!(std::fs::read(proof).unwrap(), std::fs::read(other).unwrap());
    let out = cloak(&[
        "verify",
        other,
        "--elf",
        fib,
        "--attestation",
        att,
        "--policy",
        policy,
        "--allow-dev",
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("[FAIL] expected proof digest"), "{t}");

    // A damaged proof file is an error that names the problem.
    let bytes = std::fs::read(proof).unwrap();
    std::fs::write(proof, &bytes[..bytes.len() / 2]).unwrap();
    let out = cloak(&["verify", proof, "--elf", fib]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("decoding"), "{}", text(&out));
}

/// `--backend gpu` proves where there is a CUDA GPU (the same proof bytes as
/// `--backend cpu` under one seed) and otherwise fails at once, saying why.
#[test]
fn prove_backend_gpu_matches_cpu_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let seed = "07".repeat(32);
    let fib = "guests/bin/fibonacci.elf";
    let path = |b: &str| dir.path().join(format!("{b}.bin"));
    let prove = |b: &str| {
        cloak(&[
            "prove",
            fib,
            "--input",
            "u32:10",
            "--insecure-seed",
            &seed,
            "--backend",
            b,
            "-o",
            path(b).to_str().unwrap(),
        ])
    };
    let gpu = prove("gpu");
    if !gpu.status.success() {
        let t = text(&gpu);
        assert!(
            t.contains("--backend gpu: no usable CUDA GPU on this machine"),
            "{t}"
        );
        eprintln!("SKIP the GPU proof: {t}");
        return;
    }
    assert!(prove("cpu").status.success());
    assert_eq!(
        std::fs::read(path("gpu")).unwrap(),
        std::fs::read(path("cpu")).unwrap()
    );
}
