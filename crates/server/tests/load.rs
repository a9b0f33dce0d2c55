//! A bounded load test (concurrent clients, every result verified, the
//! database checked against what was submitted), and cancellation that
//! stops a proof part-way.

mod common;

use cloak_server::loadtest::{self, LoadSpec};
use cloak_server::types::{JobOptions, JobState};
use cloak_server::{start, Client, Limits};
use cloak_tee::Nonce;
use common::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn concurrent_clients_every_job_completes_once_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &dev_config(dir.path(), Limits::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let spec = LoadSpec {
        clients: 2,
        jobs_per_client: 2,
        elf: guest("fibonacci"),
        inputs: vec![
            vec![10u32.to_le_bytes().to_vec()],
            vec![47u32.to_le_bytes().to_vec()],
        ],
        options: JobOptions::default(),
        burst: true,
        timeout: Duration::from_secs(600),
        poll: Duration::from_millis(50),
    };
    let report = loadtest::run(&server.url(), &spec, &dev_trust()).unwrap();
    eprintln!("{report}");
    assert!(report.clean(), "{report}");
    assert_eq!((report.submitted, report.completed), (4, 4), "{report}");
    assert_eq!(report.end_to_end.n, 4);
    assert!(report.submit.max <= report.end_to_end.max);

    // The database holds exactly the jobs submitted, each done once.
    let db = server.service().db();
    let in_db: BTreeSet<String> = db.job_ids().unwrap().into_iter().collect();
    let submitted: BTreeSet<String> = report.job_ids.iter().cloned().collect();
    assert_eq!(in_db, submitted);
    for id in &in_db {
        let s = db.job(id).unwrap().unwrap();
        assert_eq!((s.state, s.attempts), (JobState::Done, 1), "{s:?}");
    }
}

#[test]
fn cancelling_a_running_job_stops_its_proof() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &dev_config(dir.path(), Limits::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let client = Client::new(&server.url()).unwrap();
    let trust = dev_trust();
    let key = client.verified_key(&trust).unwrap();
    let (lp, fib) = (guest("loop"), guest("fibonacci"));
    let (loop_vk, fib_vk) = (
        client.upload_program(&lp).unwrap(),
        client.upload_program(&fib).unwrap(),
    );
    // About 76 K cycles in 1 K-cycle shards: 75 shards, far longer to
    // prove than the wait below.
    let long = JobOptions {
        shard_cycles: Some(1024),
        ..JobOptions::default()
    };
    let sealed = Client::encrypt(&key, &trust, &[10_000u32.to_le_bytes().to_vec()]).unwrap();
    let a = client
        .submit(&loop_vk, &sealed, &long, &Nonce::random().unwrap())
        .unwrap();
    // B queues behind A (the runner prepares it while A proves).
    let sealed = Client::encrypt(&key, &trust, &[10u32.to_le_bytes().to_vec()]).unwrap();
    let b = client
        .submit(
            &fib_vk,
            &sealed,
            &JobOptions::default(),
            &Nonce::random().unwrap(),
        )
        .unwrap();
    let t = Instant::now();
    loop {
        let s = client.status(&a.id).unwrap();
        assert!(!s.state.is_terminal(), "{s:?}");
        if s.state == JobState::Running {
            assert_eq!(s.shards_total, Some(75), "{s:?}");
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    // B is cancelled while queued (and prepared): it never runs.
    assert_eq!(client.cancel(&b.id).unwrap().state, JobState::Cancelled);
    assert_eq!(client.cancel(&a.id).unwrap().state, JobState::Cancelled);

    // C runs next: the runner gave up A's proof rather than finish it.
    let sealed = Client::encrypt(&key, &trust, &[20u32.to_le_bytes().to_vec()]).unwrap();
    let nonce = Nonce::random().unwrap();
    let c = client
        .submit(&fib_vk, &sealed, &JobOptions::default(), &nonce)
        .unwrap();
    let c = client.wait(&c.id, Duration::from_secs(600)).unwrap();
    assert_eq!(c.state, JobState::Done, "{c:?}");
    let result = client.result(&c.id).unwrap();
    Client::verify_result(&result, &fib, &trust, &nonce).unwrap();

    let metrics = client.metrics().unwrap();
    assert_eq!(
        metric(&metrics, "cloak_jobs_stopped_total"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "cloak_jobs_done_total"), Some(1.0));
    let a = client.status(&a.id).unwrap();
    assert_eq!(a.state, JobState::Cancelled);
    assert!(a.shards_proven < 75, "{a:?}");
    let b = client.status(&b.id).unwrap();
    assert_eq!((b.state, b.attempts), (JobState::Cancelled, 0), "{b:?}");
    eprintln!("A stopped; C done {:.1?} after A started", t.elapsed());
}
