//! The Cloak proving service (`cloak serve`) and its client.
//!
//! | module | job |
//! |---|---|
//! | `api` | the axum routes |
//! | `db` | the SQLite job store |
//! | `runner` | the worker threads: prepare the next jobs, prove one at a time |
//! | `prepare` | everything before the STARK work: keys, inputs, execution, traces |
//! | `service` | shared state: database, input key, attester |
//! | `limits` | request limits |
//! | `metrics` | Prometheus counters |
//! | `progress` | counts shard proofs as they finish; stops cancelled jobs |
//! | `client` | the verifying Rust client |
//! | `loadtest` | concurrent clients; counts lost/duplicated jobs, latency percentiles |
//! | `types` | the JSON bodies |
//!
//! See README.md for the API, the persistence model and restarts.

pub mod api;
pub mod client;
pub mod db;
pub mod error;
pub mod inputs;
pub mod limits;
pub mod loadtest;
pub mod metrics;
pub mod prepare;
pub mod progress;
pub mod runner;
pub mod service;
pub mod types;

pub use client::{Client, ClientError, Trust, VerifiedResult};
pub use limits::Limits;
pub use runner::Pipeline;
pub use service::{AttestMode, ServerConfig, Service};

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::Arc;

/// A running server: its address; `shutdown` stops it.
pub struct ServerHandle {
    pub addr: SocketAddr,
    service: Arc<Service>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    runner: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// Stops accepting requests and waits for the runner to finish the job
    /// it is proving (if any).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.service.wakeup.stop();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(r) = self.runner.take() {
            let _ = r.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens the service and starts it on `listen` on background threads (an
/// HTTP thread with its own tokio runtime, and the runner).
pub fn start(config: &ServerConfig, listen: SocketAddr) -> Result<ServerHandle> {
    let service = Arc::new(Service::open(config)?);
    let std_listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = api::router(service.clone());
    let thread = std::thread::Builder::new()
        .name("cloak-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "listener");
                        return;
                    }
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            });
        })?;
    let s2 = service.clone();
    let runner = std::thread::Builder::new()
        .name("cloak-runner".into())
        .spawn(move || runner::run(s2))?;
    tracing::info!(%addr, platform = %service.attester.platform_kind(), "serving");
    Ok(ServerHandle {
        addr,
        service,
        shutdown: Some(tx),
        thread: Some(thread),
        runner: Some(runner),
    })
}

/// `cloak serve`: runs until Ctrl-C or SIGTERM, then stops taking requests
/// and lets the job being proven finish (a hard kill is safe too: the job is
/// queued again at the next start).
pub fn serve(config: &ServerConfig, listen: SocketAddr) -> Result<()> {
    let handle = start(config, listen)?;
    eprintln!(
        "cloak serve: listening on {}; attesting with {}; data in {}",
        handle.url(),
        handle.service.attester.platform_kind(),
        config.data_dir.display()
    );
    wait_for_signal()?;
    eprintln!("cloak serve: stopping (finishing the job in progress, if any)");
    handle.shutdown();
    Ok(())
}

fn wait_for_signal() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await
        }
    })?;
    Ok(())
}
