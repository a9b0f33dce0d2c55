//! End to end on loopback with dev attestation: the key attestation is
//! fetched and verified, inputs encrypted to it, jobs submitted, and every
//! proof and its attestation verified, for two guests (one of them again
//! in two shards, step by step, watching the progress).

mod common;

use cloak_server::types::{JobOptions, JobState};
use cloak_server::{start, Client, ClientError, Limits, Trust};
use cloak_tee::Policy;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn prove_several_guests_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &dev_config(dir.path(), Limits::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let client = Client::new(&server.url()).unwrap();
    client.healthz().unwrap();
    let trust = dev_trust();

    // Without allow-dev, the dev key attestation is refused: no encryption to it.
    let strict = Trust::new(Policy::default());
    match client.verified_key(&strict) {
        Err(ClientError::Verify(m)) => assert!(m.contains("key attestation"), "{m}"),
        other => panic!("dev attestation accepted without allow-dev: {other:?}"),
    }

    let cases: [(&str, Vec<Vec<u8>>, &str); 2] = [
        (
            "fibonacci",
            vec![10u32.to_le_bytes().to_vec()],
            // n = 10, fib(10) = 55, little-endian u32s.
            "0a00000037000000",
        ),
        (
            "sha256",
            vec![vec_input(b"abc")],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
    ];
    let mut last_id = String::new();
    for (name, inputs, public_values) in cases {
        let t = Instant::now();
        let elf = guest(name);
        let (status, verified) = client
            .prove(
                &elf,
                &inputs,
                &JobOptions::default(),
                &trust,
                Duration::from_secs(600),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(status.state, JobState::Done);
        assert_eq!(status.attempts, 1);
        assert!(status.cycles.unwrap() > 1000, "{status:?}");
        assert_eq!(status.shards_total, Some(1));
        assert_eq!(status.shards_proven, 1);
        assert_eq!(status.exit_code, Some(0));
        assert_eq!(verified.statement.exit_code, 0);
        assert_eq!(
            hex::encode(&verified.statement.public_values),
            public_values
        );
        assert!(verified.verdict.accepted && verified.verdict.insecure_dev);
        eprintln!("{name}: proven and verified in {:.1?}", t.elapsed());

        // The result stays available; a tampered result does not verify.
        let mut result = client.result(&status.id).unwrap();
        let nonce_wrong = cloak_tee::Nonce([7; 32]);
        assert!(matches!(
            Client::verify_result(&result, &elf, &trust, &nonce_wrong),
            Err(ClientError::Verify(_))
        ));
        let other = if name == "fibonacci" {
            "sha256"
        } else {
            "fibonacci"
        };
        let nonce = cloak_tee::Nonce::from_hex(&result.nonce).unwrap();
        assert!(Client::verify_result(&result, &guest(other), &trust, &nonce).is_err());
        let flipped = if &result.proof[200..202] == "00" {
            "ff"
        } else {
            "00"
        };
        result.proof.replace_range(200..202, flipped);
        assert!(Client::verify_result(&result, &elf, &trust, &nonce).is_err());
        last_id = status.id.clone();
    }

    // DELETE cancels a job and deletes its result.
    let first = client.status(&last_id).unwrap();
    assert_eq!(first.state, JobState::Done);
    let cancelled = client.cancel(&last_id).unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    match client.result(&last_id) {
        Err(e) => assert_eq!(e.status(), Some(409), "{e}"),
        Ok(_) => panic!("a cancelled job still has a result"),
    }

    // Step by step, with small shards: progress is reported shard by shard.
    let t = Instant::now();
    let elf = guest("sha256");
    let key = client.verified_key(&trust).unwrap();
    let vk = client.upload_program(&elf).unwrap();
    let sealed = Client::encrypt(&key, &trust, &[vec_input(b"abc")]).unwrap();
    let nonce = cloak_tee::Nonce::random().unwrap();
    let options = JobOptions {
        shard_cycles: Some(4096),
        ..JobOptions::default()
    };
    let job = client.submit(&vk, &sealed, &options, &nonce).unwrap();
    let mut seen = Vec::new();
    let status = loop {
        let s = client.status(&job.id).unwrap();
        if s.state == JobState::Running && s.shards_total.is_some() {
            seen.push(s.shards_proven);
        }
        if s.state.is_terminal() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(600));
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.state, JobState::Done, "{status:?}");
    assert_eq!(status.shards_total, Some(2));
    assert_eq!(status.shards_proven, 2);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]) && seen.iter().all(|&n| n <= 2));
    let result = client.result(&job.id).unwrap();
    let verified = Client::verify_result(&result, &elf, &trust, &nonce).unwrap();
    assert_eq!(verified.statement.exit_code, 0);
    seen.dedup();
    eprintln!(
        "sha256 in 2 shards: proven and verified in {:.1?}; shards proven seen while running: {seen:?}",
        t.elapsed()
    );

    let metrics = client.metrics().unwrap();
    assert_eq!(
        metric(&metrics, "cloak_jobs_done_total"),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "cloak_shards_proven_total"),
        Some(4.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "cloak_jobs{state=\"done\"}"),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "cloak_jobs_cancelled_total"), Some(1.0));
    assert!(metric(&metrics, "cloak_cycles_proven_total").unwrap() > 10_000.0);
    server.shutdown();
}
