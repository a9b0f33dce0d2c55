//! Crash safety: the server process is killed (SIGKILL) while proving a job,
//! with a second job queued behind it; after a restart on the same data
//! directory both complete, each exactly once, and verify.

mod common;

use cloak_server::types::{JobOptions, JobState};
use cloak_server::Client;
use cloak_tee::Nonce;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path) -> (Child, Client) {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_cloak-server"))
        .args([dir.to_str().unwrap(), &addr, "dev"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let client = Client::new(&format!("http://{addr}")).unwrap();
    let start = Instant::now();
    while client.healthz().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, client)
}

#[test]
fn killed_mid_job_then_restarted_completes_every_job_once() {
    let dir = tempfile::tempdir().unwrap();
    let trust = dev_trust();
    let (fib, sha) = (guest("fibonacci"), guest("sha256"));

    let (mut child, client) = spawn(dir.path());
    let key = client.verified_key(&trust).unwrap();
    let fib_vk = client.upload_program(&fib).unwrap();
    let sha_vk = client.upload_program(&sha).unwrap();
    let (n1, n2) = (Nonce::random().unwrap(), Nonce::random().unwrap());
    let opts = JobOptions::default();
    let a = Client::encrypt(&key, &trust, &[10u32.to_le_bytes().to_vec()]).unwrap();
    let a = client.submit(&fib_vk, &a, &opts, &n1).unwrap();
    let b = Client::encrypt(&key, &trust, &[vec_input(b"abc")]).unwrap();
    let b = client.submit(&sha_vk, &b, &opts, &n2).unwrap();

    // Wait until job A is being proven (its execution ran: cycles are known), then kill.
    let start = Instant::now();
    loop {
        let s = client.status(&a.id).unwrap();
        assert!(
            !s.state.is_terminal(),
            "job finished before the kill: {s:?}"
        );
        if s.state == JobState::Running && s.cycles.is_some() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: no clean shutdown
    child.wait().unwrap();
    assert_eq!(client.status(&b.id).ok(), None, "the server is down");

    let (mut child, client) = spawn(dir.path());
    let metrics = client.metrics().unwrap();
    assert_eq!(
        metric(&metrics, "cloak_jobs_requeued_at_start_total"),
        Some(1.0)
    );
    let done_a = client.wait(&a.id, Duration::from_secs(600)).unwrap();
    let done_b = client.wait(&b.id, Duration::from_secs(600)).unwrap();
    assert_eq!(done_a.state, JobState::Done, "{done_a:?}");
    assert_eq!(done_b.state, JobState::Done, "{done_b:?}");
    assert_eq!(done_a.attempts, 2, "A was interrupted once: {done_a:?}");
    assert_eq!(done_b.attempts, 1, "B ran once: {done_b:?}");

    // Both results verify (the input key survived the restart).
    let ra = client.result(&a.id).unwrap();
    let va = Client::verify_result(&ra, &fib, &trust, &n1).unwrap();
    assert_eq!(hex::encode(&va.statement.public_values), "0a00000037000000");
    let rb = client.result(&b.id).unwrap();
    let vb = Client::verify_result(&rb, &sha, &trust, &n2).unwrap();
    assert_eq!(
        hex::encode(&vb.statement.public_values),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );

    // Exactly two jobs, each completed once: done counted twice in total,
    // and no other job appeared.
    let metrics = client.metrics().unwrap();
    assert_eq!(
        metric(&metrics, "cloak_jobs_done_total"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "cloak_jobs{state=\"done\"}"), Some(2.0));
    let total: f64 = ["queued", "running", "done", "failed", "cancelled"]
        .iter()
        .map(|s| metric(&metrics, &format!("cloak_jobs{{state=\"{s}\"}}")).unwrap())
        .sum();
    assert_eq!(total, 2.0, "{metrics}");

    // A clean stop (SIGTERM) is fine too, and the results persist.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let (mut child, client) = spawn(dir.path());
    assert_eq!(client.result(&a.id).unwrap().proof, ra.proof);
    assert_eq!(client.status(&b.id).unwrap().state, JobState::Done);
    child.kill().unwrap();
    child.wait().unwrap();
}
