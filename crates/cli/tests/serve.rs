//! `cloak serve` and `cloak client` on loopback with dev attestation.

mod common;

use common::{cloak, text};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serve_and_client_prove_fibonacci() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}");
    let data = dir.path().join("data");
    let mut server = Command::new(env!("CARGO_BIN_EXE_cloak"))
        .args(["serve", "--attest", "dev", "--listen", &listen])
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "").unwrap();
    let policy = policy.to_str().unwrap();

    let start = Instant::now();
    loop {
        let out = cloak(&[
            "client",
            "--server",
            &url,
            "attestation",
            "--policy",
            policy,
            "--allow-dev",
        ]);
        if out.status.success() {
            assert!(text(&out).contains("ACCEPTED"), "{}", text(&out));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{}", text(&out));
        std::thread::sleep(Duration::from_millis(200));
    }
    // Dev evidence is refused without --allow-dev.
    let out = cloak(&[
        "client",
        "--server",
        &url,
        "attestation",
        "--policy",
        policy,
    ]);
    assert!(!out.status.success(), "{}", text(&out));

    let proof = dir.path().join("fib.bin");
    let proof = proof.to_str().unwrap();
    let out = cloak(&[
        "client",
        "--server",
        &url,
        "prove",
        "guests/bin/fibonacci.elf",
        "--input",
        "u32:10",
        "--policy",
        policy,
        "--allow-dev",
        "-o",
        proof,
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("public values: 0a00000037000000"), "{t}");
    assert!(t.contains("proof and attestation: ACCEPTED"), "{t}");

    // What the client wrote is what `cloak verify` accepts.
    let att = dir.path().join("fib.att.json");
    let out = cloak(&[
        "verify",
        proof,
        "--elf",
        "guests/bin/fibonacci.elf",
        "--attestation",
        att.to_str().unwrap(),
        "--policy",
        policy,
        "--allow-dev",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let out = cloak(&["client", "--server", &url, "upload", "README.md"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("400"), "{}", text(&out));
    server.kill().unwrap();
    server.wait().unwrap();
}
