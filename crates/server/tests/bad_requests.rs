//! Bad requests answer 4xx with a clear message and leave the server healthy.
//! No proof is made here: every accepted job fails fast or is cancelled.

mod common;

use cloak_server::types::{JobOptions, JobRequest, JobState};
use cloak_server::{start, Client, ClientError, Limits};
use cloak_tee::Nonce;
use common::*;
use std::time::Duration;

fn api_err<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Api { status, message }) => (status, message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn bad_requests_get_4xx_and_the_server_stays_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_elf_bytes: 16 << 10,
        max_input_bytes: 1024,
        max_cycles: 1 << 20,
        ..Limits::default()
    };
    let server = start(
        &dev_config(dir.path(), limits),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let client = Client::new(&server.url()).unwrap();
    let trust = dev_trust();
    let http = reqwest::blocking::Client::new();
    let url = |p: &str| format!("{}{p}", server.url());

    // Malformed and oversized ELFs.
    let (s, m) = api_err(client.upload_program(b"\x7fELF not really"));
    assert_eq!(s, 400, "{m}");
    assert!(m.contains("not a valid RV32IM ELF"), "{m}");
    let (s, m) = api_err(client.upload_program(&guest("sha256"))); // 24 KB > 16 KB
    assert_eq!(s, 413, "{m}");
    assert!(m.contains("limit of 16384 bytes"), "{m}");
    let fib = guest("fibonacci");
    let vk = client.upload_program(&fib).unwrap();
    assert_eq!(vk.len(), 64);

    let verified = client.verified_key(&trust).unwrap();
    let sealed = Client::encrypt(&verified, &trust, &[10u32.to_le_bytes().to_vec()]).unwrap();
    let nonce = Nonce::random().unwrap();
    let opts = JobOptions::default();

    // Unknown program.
    let (s, m) = api_err(client.submit(&"ab".repeat(32), &sealed, &opts, &nonce));
    assert_eq!(s, 404, "{m}");
    assert!(m.contains("unknown program"), "{m}");
    let (s, m) = api_err(client.submit("xyz", &sealed, &opts, &nonce));
    assert_eq!(s, 400, "{m}");

    // Bad ciphertext: one flipped byte.
    let mut bad = sealed.clone();
    let mut ct = bad.ciphertext.as_slice().to_vec();
    ct[0] ^= 1;
    bad.ciphertext = ct.into();
    let (s, m) = api_err(client.submit(&vk, &bad, &opts, &nonce));
    assert_eq!(s, 400, "{m}");
    assert!(m.contains("do not open"), "{m}");

    // Encrypted to another server's key.
    let dir2 = tempfile::tempdir().unwrap();
    let other = start(
        &dev_config(dir2.path(), Limits::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let other_client = Client::new(&other.url()).unwrap();
    let other_key = other_client.verified_key(&trust).unwrap();
    let foreign = Client::encrypt(&other_key, &trust, &[vec![1, 2, 3, 4]]).unwrap();
    other.shutdown();
    let (s, m) = api_err(client.submit(&vk, &foreign, &opts, &nonce));
    assert_eq!(s, 400, "{m}");
    assert!(m.contains("this prover's key"), "{m}");

    // Not an envelope at all; not JSON at all.
    let (s, m) = api_err(client.submit_raw(&JobRequest {
        program: vk.clone(),
        inputs: serde_json::json!({"hello": 1}),
        options: JobOptions::default(),
        nonce: None,
        idempotency_key: None,
    }));
    assert_eq!(s, 400, "{m}");
    assert!(m.contains("malformed encrypted inputs"), "{m}");
    let res = http.post(url("/v1/jobs")).body("{nope").send().unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.text().unwrap().contains("malformed job request"));

    // Oversized input (the plaintext limit is 1024 bytes).
    let big = Client::encrypt(&verified, &trust, &[vec![0u8; 2000]]).unwrap();
    let (s, m) = api_err(client.submit(&vk, &big, &opts, &nonce));
    assert_eq!(s, 413, "{m}");
    assert!(m.contains("limit is 1024 bytes"), "{m}");
    // A body far over the limit is cut off while reading.
    // (Small enough to fit the loopback socket buffers: the server answers
    // 413 as soon as the limit is passed and may close before a larger body
    // is written, which the client sees as a broken pipe.)
    let huge = vec![b' '; 100_000];
    match http.post(url("/v1/jobs")).body(huge).send() {
        Ok(res) => assert_eq!(res.status().as_u16(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }

    // Cycles over the server's limit; a bad shard size; a bad nonce.
    let over = JobOptions {
        max_cycles: Some(1 << 21),
        ..JobOptions::default()
    };
    let (s, m) = api_err(client.submit(&vk, &sealed, &over, &nonce));
    assert_eq!(s, 422, "{m}");
    assert!(m.contains("above this server's limit"), "{m}");
    let tiny_shards = JobOptions {
        shard_cycles: Some(3),
        ..JobOptions::default()
    };
    assert_eq!(
        api_err(client.submit(&vk, &sealed, &tiny_shards, &nonce)).0,
        422
    );
    let mut req = JobRequest {
        program: vk.clone(),
        inputs: serde_json::from_str(&sealed.to_json()).unwrap(),
        options: JobOptions::default(),
        nonce: Some("zz".into()),
        idempotency_key: None,
    };
    assert_eq!(api_err(client.submit_raw(&req)).0, 400);

    // A job that runs past its cycle limit fails with a clear error (no proof made).
    req.nonce = None;
    req.options.max_cycles = Some(100);
    req.idempotency_key = Some("retry-1".into());
    let job = client.submit_raw(&req).unwrap();
    let done = client.wait(&job.id, Duration::from_secs(120)).unwrap();
    // The same idempotency key answers the same job, not a new one.
    let again = client.submit_raw(&req).unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(done.state, JobState::Failed, "{done:?}");
    let err = done.error.unwrap();
    assert!(err.contains("executing the guest"), "{err}");
    let (s, m) = api_err(client.result(&job.id));
    assert_eq!(s, 409, "{m}");
    assert!(m.contains("failed"), "{m}");

    // Unknown and malformed job ids; unknown routes.
    assert_eq!(api_err(client.status(&"0".repeat(32))).0, 404);
    assert_eq!(api_err(client.status("../etc")).0, 404);
    assert_eq!(api_err(client.status("nothex")).0, 400);
    assert_eq!(api_err(client.cancel(&"0".repeat(32))).0, 404);
    assert_eq!(
        http.get(url("/v2/nothing"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        http.get(url("/v1/attestation?nonce=12"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        400
    );

    // Still healthy and still working.
    client.healthz().unwrap();
    client.verified_key(&trust).unwrap();
    let metrics = client.metrics().unwrap();
    assert!(metric(&metrics, "cloak_http_client_errors_total").unwrap() >= 15.0);
    assert_eq!(metric(&metrics, "cloak_jobs_failed_total"), Some(1.0));
    server.shutdown();
}

#[test]
fn a_full_queue_answers_429() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_queue: 0,
        ..Limits::default()
    };
    let server = start(
        &dev_config(dir.path(), limits),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let client = Client::new(&server.url()).unwrap();
    let trust = dev_trust();
    let vk = client.upload_program(&guest("fibonacci")).unwrap();
    let key = client.verified_key(&trust).unwrap();
    let sealed = Client::encrypt(&key, &trust, &[10u32.to_le_bytes().to_vec()]).unwrap();
    let (s, m) = api_err(client.submit(
        &vk,
        &sealed,
        &JobOptions::default(),
        &Nonce::random().unwrap(),
    ));
    assert_eq!(s, 429, "{m}");
    assert!(m.contains("queue is full"), "{m}");
    client.healthz().unwrap();
    server.shutdown();
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dev_config(dir.path(), Limits::default());
    let first = start(&config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let err = start(&config, "127.0.0.1:0".parse().unwrap())
        .err()
        .expect("a second server started on the same database");
    assert!(format!("{err:#}").contains("locked"), "{err:#}");
    Client::new(&first.url()).unwrap().healthz().unwrap();
    first.shutdown();
    // Once the first has stopped, the directory can be served again.
    start(&config, "127.0.0.1:0".parse().unwrap())
        .unwrap()
        .shutdown();
}

/// `--backend gpu` on a machine without a usable CUDA GPU refuses to start
/// and says why; where there is one, the server starts and serves.
#[test]
fn a_gpu_server_without_a_gpu_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = dev_config(dir.path(), Limits::default());
    config.gpu = true;
    match cloak_gpu::GpuContext::first() {
        Err(why) => {
            let err = start(&config, "127.0.0.1:0".parse().unwrap())
                .err()
                .expect("a GPU server started without a GPU");
            let msg = format!("{err:#}");
            assert!(msg.contains("no usable CUDA GPU"), "{msg}");
            eprintln!("no GPU here ({why}): the server refused with: {msg}");
        }
        Ok(_) => {
            let server = start(&config, "127.0.0.1:0".parse().unwrap()).unwrap();
            Client::new(&server.url()).unwrap().healthz().unwrap();
            server.shutdown();
        }
    }
}
