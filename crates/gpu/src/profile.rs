//! An optional profile of where the GPU prover's time goes, by named span
//! (`CLOAK_GPU_PROFILE=1`). The device machine has no Nsight Systems, and the
//! stage times of a proof ([`crate::prove::StageTimes`]) are too coarse to
//! say which kernels to speed up. A span waits for the stream when it opens
//! and when it closes, so each figure is that span's work alone (spans nest:
//! an outer one includes its inner ones), at the cost of a slower run; off,
//! a span costs one branch.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::context::GpuContext;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CLOAK_GPU_PROFILE").is_some_and(|v| v != "0"))
}

/// Calls and total time per span name, over all GPUs and threads.
static TOTALS: Mutex<BTreeMap<&'static str, (u64, Duration)>> = Mutex::new(BTreeMap::new());

/// An open span: timed from [`span`] to its drop.
pub struct Span<'a> {
    open: Option<(&'a GpuContext, &'static str, Instant)>,
}

/// Opens span `name` on `gpu`'s stream (a no-op unless profiling).
pub fn span<'a>(gpu: &'a GpuContext, name: &'static str) -> Span<'a> {
    if !enabled() {
        return Span { open: None };
    }
    // A failed wait shows up as an error at the next real use of the stream.
    let _ = gpu.synchronize();
    Span {
        open: Some((gpu, name, Instant::now())),
    }
}

impl Drop for Span<'_> {
    fn drop(&mut self) {
        if let Some((gpu, name, start)) = self.open.take() {
            let _ = gpu.synchronize();
            let took = start.elapsed();
            let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
            let entry = totals.entry(name).or_default();
            entry.0 += 1;
            entry.1 += took;
        }
    }
}

/// The profile since the last call, slowest spans first, one per line
/// (`None` unless profiling).
pub fn take_report() -> Option<String> {
    if !enabled() {
        return None;
    }
    let totals = std::mem::take(&mut *TOTALS.lock().unwrap_or_else(|e| e.into_inner()));
    let mut rows: Vec<_> = totals.into_iter().collect();
    rows.sort_by_key(|(_, (_, t))| std::cmp::Reverse(*t));
    let mut out = String::from("gpu profile (span: calls, total ms, ms per call):");
    for (name, (calls, total)) in rows {
        let ms = total.as_secs_f64() * 1e3;
        out.push_str(&format!(
            "\n  {name}: {calls}, {ms:.1}, {:.3}",
            ms / calls as f64
        ));
    }
    Some(out)
}
