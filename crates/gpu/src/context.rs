//! The device, its stream and the run-time-compiled kernel modules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::transfer::{bytes_of, Direction, TransferMode, TransferTotals, Transfers};

use cudarc::driver::{
    sys, CudaContext, CudaEvent, CudaFunction, CudaModule, CudaSlice, CudaStream, CudaView,
    DevicePtr, DeviceRepr, DriverError, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use std::ffi::{c_char, CStr, CString};

use cudarc::nvrtc::{self, sys as nvrtc_sys};

/// KoalaBear arithmetic shared by every kernel source (prepended before NVRTC runs).
pub const FIELD_CUH: &str = include_str!("../cuda/field.cuh");

/// Why the GPU path could not run.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no CUDA driver: libcuda could not be loaded (no NVIDIA driver installed?)")]
    NoDriver,
    #[error(
        "no NVRTC: libnvrtc could not be loaded; put the CUDA toolkit's lib64 on LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    #[error("CUDA driver call failed: {0}")]
    Driver(#[from] DriverError),
    #[error("NVRTC could not compile kernel module `{module}`: {log}")]
    Compile { module: String, log: String },
    #[error("invalid input: {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, GpuError>;

/// Counted, timed copies on a GPU's compute stream, encrypted first under
/// [`TransferMode::CcEmulated`].
#[derive(Clone)]
pub struct ComputeCopies {
    stream: Arc<CudaStream>,
    transfers: Arc<Transfers>,
}

impl ComputeCopies {
    /// Copies `data` to a new device buffer. Plainly, the copy is queued in
    /// stream order without waiting for the GPU, as `cudaMemcpyAsync` from
    /// pageable memory is: the data are staged before this returns, so the
    /// caller may drop them, and the time is the host's part. Under
    /// [`TransferMode::CcEmulated`] it blocks as a secure copy does: it
    /// waits for the work queued before it (untimed), then encrypts and
    /// copies (timed to the copy's end).
    pub fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        let blocking = self.transfers.mode() == TransferMode::CcEmulated;
        if blocking {
            self.stream.synchronize()?;
        }
        copy_up(&self.transfers, &self.stream, data, blocking)
    }

    /// Copies a device buffer back once the work queued before is done;
    /// the time is the copy's (and its decryption's), not the wait.
    pub fn download<T: DeviceRepr + Default + Clone>(&self, buf: &CudaSlice<T>) -> Result<Vec<T>> {
        self.stream.synchronize()?;
        let start = Instant::now();
        let out = self.stream.clone_dtoh(buf)?;
        self.transfers
            .crypt(Direction::DeviceToHost, bytes_of(&out));
        self.transfers
            .record_d2h(std::mem::size_of_val(&out[..]), start.elapsed());
        Ok(out)
    }

    /// The stream the copies go to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// A zeroed device buffer of `len` (at least one) elements, set on the
    /// device: no copy.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>> {
        Ok(self.stream.alloc_zeros(len.max(1))?)
    }
}

/// Encrypts `data` (under the CC emulation) and copies it on `stream`,
/// counting and timing it; with `wait`, the time runs to the copy's end.
fn copy_up<T: DeviceRepr>(
    transfers: &Transfers,
    stream: &Arc<CudaStream>,
    data: &[T],
    wait: bool,
) -> Result<CudaSlice<T>> {
    let start = Instant::now();
    transfers.crypt(Direction::HostToDevice, bytes_of(data));
    let buf = stream.clone_htod(data)?;
    if wait {
        stream.synchronize()?;
    }
    transfers.record_h2d(std::mem::size_of_val(data), start.elapsed());
    Ok(buf)
}

/// Page-locked staging buffers ([`GpuContext::reserve_pinned`]); a staged
/// upload takes one that fits and gives it back once its copy is done.
#[derive(Default)]
struct PinnedPool {
    free: Mutex<Vec<cudarc::driver::PinnedHostSlice<u32>>>,
}

impl PinnedPool {
    fn take(&self, words: usize) -> Option<cudarc::driver::PinnedHostSlice<u32>> {
        let mut free = self.free.lock().ok()?;
        let i = free.iter().position(|b| b.len() >= words)?;
        Some(free.swap_remove(i))
    }

    fn give_back(&self, buf: cudarc::driver::PinnedHostSlice<u32>) {
        if let Ok(mut free) = self.free.lock() {
            free.push(buf);
        }
    }
}

thread_local! {
    /// The host buffer this thread's staged uploads are written into
    /// ([`GpuContext::upload_staged_with`]).
    static STAGING: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One GPU, its streams, and a cache of compiled kernel modules.
///
/// All computation goes to one stream, in order, so cudarc's per-buffer
/// event tracking (meant for several streams) is switched off. A second
/// stream takes staged uploads ([`Self::upload_staged`]) from other threads
/// while the first computes; those buffers are handed over with explicit
/// waits (the upload's end before use, [`Self::free_after_compute`] before
/// they are freed).
pub struct GpuContext {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    uploads: Arc<CudaStream>,
    name: String,
    arch: (i32, i32),
    sm_count: u32,
    /// Shared with [`Self::sibling`]s: one CUDA context, modules loaded once.
    modules: Arc<Mutex<HashMap<String, Arc<CudaModule>>>>,
    transfers: Arc<Transfers>,
    /// `stream`'s copies, shareable ([`Self::copies`]).
    copies: ComputeCopies,
    /// Held by the one staged upload in flight ([`Self::upload_staged`]).
    staging: Mutex<()>,
    /// Page-locked host buffers for staged uploads, shared with siblings
    /// ([`Self::reserve_pinned`]).
    pinned: Arc<PinnedPool>,
    /// The most device memory seen in use (total minus free) by [`Self::note_memory`].
    peak_used: AtomicU64,
    /// Staged buffers to free once the compute stream has passed each
    /// event ([`Self::free_after_compute`]).
    deferred: Mutex<Deferred>,
}

/// Buffers, each freed once the compute stream has passed its event.
type Deferred = Vec<(CudaEvent, Box<dyn Send>)>;

/// Frees (drops) the buffers of `pending` whose event has completed.
fn free_done(pending: &mut Deferred) -> Result<()> {
    let mut i = 0;
    while i < pending.len() {
        if pending[i].0.try_is_complete()? {
            drop(pending.swap_remove(i));
        } else {
            i += 1;
        }
    }
    Ok(())
}

impl Drop for GpuContext {
    /// The deferred buffers may still be read by queued work: it finishes
    /// first (an error here leaves nothing to report to).
    fn drop(&mut self) {
        let _ = self.stream.synchronize();
    }
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("name", &self.name)
            .field("arch", &self.arch)
            .finish()
    }
}

impl GpuContext {
    /// Opens device `ordinal`. Fails with [`GpuError::NoDriver`],
    /// [`GpuError::NoNvrtc`] or [`GpuError::NoDevice`] where there is nothing
    /// to run on, so callers (and tests) can fall back or skip.
    pub fn new(ordinal: usize) -> Result<Self> {
        // SAFETY: these only try to dlopen the libraries.
        if !unsafe { sys::is_culib_present() } {
            return Err(GpuError::NoDriver);
        }
        if !unsafe { nvrtc::sys::is_culib_present() } {
            return Err(GpuError::NoNvrtc);
        }
        let count = CudaContext::device_count()
            .map_err(|e| GpuError::NoDevice(format!("cuDeviceGetCount: {e}")))?;
        if count <= 0 {
            return Err(GpuError::NoDevice("the driver reports no devices".into()));
        }
        if ordinal >= count as usize {
            return Err(GpuError::NoDevice(format!(
                "device {ordinal} asked for, {count} present"
            )));
        }
        set_sync_mode(ordinal, SyncMode::from_env()?)?;
        let ctx = CudaContext::new(ordinal)?;
        // SAFETY: every buffer of this crate is used on `stream` only, but
        // staged uploads, whose hand-over is ordered by hand (see the type).
        unsafe { ctx.disable_event_tracking() };
        keep_pool_memory(&ctx)?;
        let stream = ctx.new_stream()?;
        let uploads = ctx.new_stream()?;
        let name = ctx.name()?;
        let arch = ctx.compute_capability()?;
        let sm_count = ctx
            .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?
            as u32;
        let transfers = Arc::new(Transfers::new());
        Ok(Self {
            ctx,
            stream: stream.clone(),
            uploads,
            name,
            arch,
            sm_count,
            modules: Arc::new(Mutex::new(HashMap::new())),
            copies: ComputeCopies {
                stream: stream.clone(),
                transfers: transfers.clone(),
            },
            transfers,
            staging: Mutex::new(()),
            pinned: Arc::new(PinnedPool::default()),
            peak_used: AtomicU64::new(0),
            deferred: Mutex::new(Vec::new()),
        })
    }

    /// Another handle on the same device with streams of its own (so its
    /// work runs beside this one's) and its own transfer log, sharing the
    /// CUDA context and the loaded modules: a second prover on the GPU
    /// loads no kernel again.
    pub fn sibling(&self) -> Result<Self> {
        let stream = self.ctx.new_stream()?;
        let uploads = self.ctx.new_stream()?;
        let transfers = Arc::new(Transfers::new());
        transfers.set_mode(self.transfers.mode());
        Ok(Self {
            ctx: self.ctx.clone(),
            stream: stream.clone(),
            uploads,
            name: self.name.clone(),
            arch: self.arch,
            sm_count: self.sm_count,
            modules: self.modules.clone(),
            copies: ComputeCopies {
                stream,
                transfers: transfers.clone(),
            },
            transfers,
            staging: Mutex::new(()),
            pinned: self.pinned.clone(),
            peak_used: AtomicU64::new(0),
            deferred: Mutex::new(Vec::new()),
        })
    }

    /// Page-locks `count` host buffers of `words` words each for staged
    /// uploads ([`Self::upload_staged_with`]), shared by this context's
    /// siblings. Pinning is slow, so it is done here, when the backend
    /// starts, not on a proof's path (stop 21 pinned on first use and lost
    /// 40-50 ms on the first shards). A copy from pinned memory
    /// is one DMA; from pageable memory the driver first copies it through
    /// its own pinned bounce buffer, on the calling core.
    pub fn reserve_pinned(&self, count: usize, words: usize) -> Result<()> {
        let mut free = self.pinned.free.lock().expect("pinned pool poisoned");
        for _ in 0..count {
            // SAFETY: the buffer is written before any copy reads it
            // (`upload_staged_with` copies only what `fill` wrote).
            let buf = unsafe { self.ctx.alloc_pinned_with_flags::<u32>(words, 0) }?;
            free.push(buf);
        }
        Ok(())
    }

    /// How many CUDA devices the driver reports (0 without a driver).
    pub fn device_count() -> usize {
        // SAFETY: this only tries to dlopen the library.
        if !unsafe { sys::is_culib_present() } {
            return 0;
        }
        CudaContext::device_count().map_or(0, |n| n.max(0) as usize)
    }

    /// The first device, or why there is none.
    pub fn first() -> Result<Self> {
        Self::new(0)
    }

    /// The device's name, e.g. "NVIDIA H100 80GB HBM3".
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Compute capability (major, minor); (9, 0) on Hopper.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.arch
    }

    /// Number of streaming multiprocessors.
    pub fn sm_count(&self) -> u32 {
        self.sm_count
    }

    /// Total device memory in bytes.
    pub fn total_mem(&self) -> Result<usize> {
        Ok(self.ctx.total_mem()?)
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    pub fn cuda_context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// Waits for all queued work.
    pub fn synchronize(&self) -> Result<()> {
        Ok(self.stream.synchronize()?)
    }

    /// The module `name`, compiled from `source()` (with field.cuh in front)
    /// for this device's architecture the first time it is asked for.
    pub(crate) fn module(
        &self,
        name: &str,
        source: impl FnOnce() -> String,
    ) -> Result<Arc<CudaModule>> {
        let mut modules = self.modules.lock().expect("module cache poisoned");
        if let Some(m) = modules.get(name) {
            return Ok(m.clone());
        }
        let compiled = compile(name, &source(), self.arch)?;
        let ptx = nvrtc::Ptx::from_binary(compiled.cubin);
        let module = self.ctx.load_module(ptx)?;
        modules.insert(name.to_string(), module.clone());
        Ok(module)
    }

    /// Whether module `name` is compiled and loaded.
    pub(crate) fn has_module(&self, name: &str) -> bool {
        let modules = self.modules.lock().expect("module cache poisoned");
        modules.contains_key(name)
    }

    /// Loads a module compiled elsewhere ([`compile`], e.g. several in
    /// parallel) into the cache under `name`.
    pub(crate) fn load_compiled(&self, name: &str, compiled: Compiled) -> Result<()> {
        let module = self
            .ctx
            .load_module(nvrtc::Ptx::from_binary(compiled.cubin))?;
        let mut modules = self.modules.lock().expect("module cache poisoned");
        modules.insert(name.to_string(), module);
        Ok(())
    }

    /// Kernel `func` of module `name`.
    pub(crate) fn function(
        &self,
        name: &str,
        source: impl FnOnce() -> String,
        func: &str,
    ) -> Result<CudaFunction> {
        Ok(self.module(name, source)?.load_function(func)?)
    }

    /// Copies `data` to a new device buffer on the compute stream
    /// ([`ComputeCopies::upload`]).
    pub fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        self.copies.upload(data)
    }

    /// The compute stream's counted copies, as a handle that owns what it
    /// needs (for work outside a borrow of the context, such as the
    /// challenger's proof-of-work search).
    pub fn copies(&self) -> &ComputeCopies {
        &self.copies
    }

    /// [`Self::upload`] on the upload stream, for a thread that prepares
    /// work while the compute stream is busy: the copy (and its CC-mode
    /// encryption) overlaps the computation, and is complete on return. Free the buffer with
    /// [`Self::free_after_compute`] once work that reads it is queued.
    ///
    /// One staged upload of this context runs at a time: the bus (and, in
    /// CC mode, the secure channel) carries one copy at a time anyway, and
    /// the compute stream's own copies then queue behind one staging
    /// thread's chunk, not behind one of every staging thread. A
    /// [`Self::sibling`] has its own turn (and its own emulated channel).
    pub fn upload_staged<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        let _one = self.staging.lock().expect("staging lock poisoned");
        self.free_deferred()?;
        copy_up(&self.transfers, &self.uploads, data, true)
    }

    /// [`Self::upload_staged`] of `len` words that `fill` writes into a
    /// host buffer of the calling thread, kept and reused, so a shard's
    /// uploads fault in no fresh pages (it grows to the thread's largest
    /// upload, a shard's largest packed table; the pipeline's threads end
    /// with the proof), or into a page-locked buffer of the context's pool
    /// where one that fits is free ([`Self::reserve_pinned`]), which spares
    /// the driver's bounce copy (json's uploads 609 → 169 ms, BENCHMARKS.md,
    /// stop 24). `fill` runs before this context's turn to upload, so other
    /// threads' copies go on meanwhile.
    pub fn upload_staged_with(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u32]),
    ) -> Result<CudaSlice<u32>> {
        if let Some(mut pinned) = self.pinned.take(len) {
            // SAFETY: no copy reads the buffer while it is out of the pool
            // (the last one was synchronized before it went back).
            let host = unsafe { std::slice::from_raw_parts_mut(pinned.as_mut_ptr()?, len) };
            fill(host);
            let up = self.upload_staged(&host[..]);
            // Back to the pool only once its copy is known complete (an
            // error may leave one in flight; the buffer is then dropped).
            if up.is_ok() {
                self.pinned.give_back(pinned);
            }
            return up;
        }
        STAGING.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            if buffer.len() < len {
                buffer.resize(len, 0);
            }
            fill(&mut buffer[..len]);
            self.upload_staged(&buffer[..len])
        })
    }

    /// Frees staged buffers (allocated on the upload stream) once the
    /// compute stream has done the work queued on it so far, which may read
    /// them. They wait in a list, freed by a later call that finds the
    /// compute stream past that point: making the upload stream wait for
    /// the compute stream instead would hold every later upload behind the
    /// GPU's queued work (the next shard's behind this one's commitment).
    pub fn free_after_compute<B: Send + 'static>(&self, buffers: B) -> Result<()> {
        let done = self.stream.record_event(None)?;
        let mut pending = self.deferred.lock().expect("deferred frees poisoned");
        pending.push((done, Box::new(buffers)));
        free_done(&mut pending)
    }

    /// Frees the deferred buffers the compute stream is done with.
    fn free_deferred(&self) -> Result<()> {
        free_done(&mut self.deferred.lock().expect("deferred frees poisoned"))
    }

    /// Copies a device buffer back ([`ComputeCopies::download`]).
    pub fn download<T: DeviceRepr + Default + Clone>(&self, buf: &CudaSlice<T>) -> Result<Vec<T>> {
        self.copies.download(buf)
    }

    /// Copies a device view into `out` (counted and timed, as [`Self::upload`]).
    pub fn download_into<T: DeviceRepr>(
        &self,
        view: &CudaView<'_, T>,
        out: &mut [T],
    ) -> Result<()> {
        self.stream.synchronize()?;
        let start = Instant::now();
        self.stream.memcpy_dtoh(view, out)?;
        self.stream.synchronize()?;
        self.transfers.crypt(Direction::DeviceToHost, bytes_of(out));
        self.transfers
            .record_d2h(std::mem::size_of_val(out), start.elapsed());
        Ok(())
    }

    /// How copies are made from now on.
    pub fn set_transfer_mode(&self, mode: TransferMode) {
        self.transfers.set_mode(mode);
    }

    pub fn transfer_mode(&self) -> TransferMode {
        self.transfers.mode()
    }

    /// Bytes and times of all copies so far (take two and subtract with
    /// [`TransferTotals::since`] for one proof's).
    pub fn transfer_totals(&self) -> TransferTotals {
        self.transfers.totals()
    }

    /// Samples device memory in use (all of the device's, this process's
    /// buffers and pools included) and keeps the largest value seen.
    pub fn note_memory(&self) -> Result<u64> {
        self.ctx.bind_to_thread()?;
        let (free, total) = self.ctx.mem_get_info()?;
        let used = total.saturating_sub(free) as u64;
        self.peak_used.fetch_max(used, Ordering::Relaxed);
        Ok(used)
    }

    /// Hands the memory the device's pool keeps (see `keep_pool_memory`)
    /// back to the driver, once this context's work is done: before a
    /// proof whose peak is to be measured on its own.
    pub fn release_pool_memory(&self) -> Result<()> {
        self.synchronize()?;
        self.uploads.synchronize()?;
        if !self.ctx.has_async_alloc() {
            return Ok(());
        }
        let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
        // SAFETY: `pool` is an out-parameter for the context's device; every
        // stream of this context is idle, and trimming frees only unused memory.
        unsafe {
            sys::cuDeviceGetDefaultMemPool(&mut pool, self.ctx.cu_device()).result()?;
            sys::cuMemPoolTrimTo(pool, 0).result()?;
        }
        Ok(())
    }

    /// The largest device memory use [`Self::note_memory`] has seen, and
    /// resets it to zero.
    pub fn take_peak_memory(&self) -> u64 {
        self.peak_used.swap(0, Ordering::Relaxed)
    }

    /// A zeroed device buffer of `len` elements.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>> {
        self.copies.zeros(len)
    }

    /// A device buffer of `len` u32 whose contents are unspecified (to be overwritten).
    pub fn alloc_u32(&self, len: usize) -> Result<CudaSlice<u32>> {
        // SAFETY: u32 has no invalid bit patterns; callers overwrite the contents.
        Ok(unsafe { self.stream.alloc::<u32>(len.max(1)) }?)
    }

    /// A device buffer of `len` u64 whose contents are unspecified (to be overwritten).
    pub fn alloc_u64(&self, len: usize) -> Result<CudaSlice<u64>> {
        // SAFETY: u64 has no invalid bit patterns; callers overwrite the contents.
        Ok(unsafe { self.stream.alloc::<u64>(len.max(1)) }?)
    }

    /// Sets every element of `buf` to `value` (poisons outputs in checks).
    pub fn fill_u32(&self, buf: &mut CudaSlice<u32>, value: u32) -> Result<()> {
        let f = self.function("field", String::new, "fill_u32")?;
        let n = buf.len() as u64;
        let blocks = (n.div_ceil(256)).clamp(1, 65_535) as u32;
        let mut b = self.stream.launch_builder(&f);
        b.arg(buf).arg(&n).arg(&value);
        // SAFETY: the kernel writes buf[0..n).
        unsafe { b.launch(LaunchConfig::grid(blocks, 256)) }?;
        Ok(())
    }

    /// The raw device address of a buffer (for kernels that take pointer tables).
    pub(crate) fn device_ptr<T>(&self, buf: &CudaSlice<T>) -> u64 {
        let (ptr, _sync) = buf.device_ptr(&self.stream);
        ptr
    }
}

/// A kernel module compiled by NVRTC: machine code for one architecture and
/// the compiler's log (ptxas's register and spill report for each kernel).
pub struct Compiled {
    pub cubin: Vec<u8>,
    pub log: String,
}

/// Whether NVRTC can be loaded (it is all [`compile`] needs; no GPU or driver).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { nvrtc_sys::is_culib_present() }
}

/// Compiles kernel source `src` (field.cuh is put in front) for compute
/// capability `arch` (e.g. (9, 0) for sm_90) with NVRTC, to a CUBIN.
pub fn compile(name: &str, src: &str, arch: (i32, i32)) -> Result<Compiled> {
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
    }
    let fail = |what: &str, e: nvrtc::result::NvrtcError| GpuError::Compile {
        module: name.into(),
        log: format!("{what}: {e:?}"),
    };
    let source = format!("{FIELD_CUH}\n{src}");
    let options = [
        format!("--gpu-architecture=sm_{}{}", arch.0, arch.1),
        "--std=c++17".to_string(),
        "--ptxas-options=--verbose".to_string(),
    ];
    let cache = crate::cubin_cache::dir().map(|dir| {
        let key = crate::cubin_cache::key(&source, &options, arch, nvrtc_version());
        (dir, key)
    });
    if let Some((dir, key)) = &cache {
        if let Some(cubin) = crate::cubin_cache::load(dir, key) {
            let log = format!("(CUBIN from the cache: {})", dir.join(key).display());
            return Ok(Compiled { cubin, log });
        }
    }
    let full = CString::new(source)
        .map_err(|_| GpuError::Invalid("kernel source contains a NUL byte".into()))?;
    let cname = CString::new(format!("{name}.cu")).expect("module names have no NUL");
    let prog = nvrtc::result::create_program(&full, Some(&cname)).map_err(|e| fail("create", e))?;
    // SAFETY: prog is a live program until destroyed at the end.
    let compiled = unsafe { nvrtc::result::compile_program(prog, &options) };
    let log = unsafe { nvrtc::result::get_program_log(prog) }
        .map(|raw| {
            // SAFETY: NVRTC returns a NUL-terminated log.
            unsafe { CStr::from_ptr(raw.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let result = match compiled {
        Err(_) => Err(GpuError::Compile {
            module: name.into(),
            log: log.clone(),
        }),
        Ok(()) => (|| {
            let mut size = 0usize;
            // SAFETY: prog compiled successfully; the buffer has the size NVRTC reports.
            unsafe { nvrtc_sys::nvrtcGetCUBINSize(prog, &mut size) }
                .result()
                .map_err(|e| fail("cubin size", e))?;
            let mut cubin = vec![0u8; size];
            unsafe { nvrtc_sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr().cast::<c_char>()) }
                .result()
                .map_err(|e| fail("cubin", e))?;
            Ok(Compiled { cubin, log })
        })(),
    };
    // SAFETY: prog is not used after this.
    let _ = unsafe { nvrtc::result::destroy_program(prog) };
    if let (Ok(c), Some((dir, key))) = (&result, &cache) {
        crate::cubin_cache::store(dir, key, &c.cubin);
    }
    result
}

/// NVRTC's (major, minor) version, part of the CUBIN cache key; (0, 0) if it
/// cannot say (the key then still differs from any real version's).
fn nvrtc_version() -> (i32, i32) {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is loaded (checked by the caller); it writes two ints.
    match unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) }.result() {
        Ok(()) => (major, minor),
        Err(_) => (0, 0),
    }
}

/// Launch-configuration shorthand.
pub(crate) trait LaunchConfigExt {
    fn grid(blocks: u32, threads: u32) -> Self;
}

impl LaunchConfigExt for LaunchConfig {
    fn grid(blocks: u32, threads: u32) -> Self {
        LaunchConfig {
            grid_dim: (blocks.max(1), 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

/// Device time between two points on the stream, from CUDA events.
pub struct GpuTimer {
    start: cudarc::driver::CudaEvent,
    stream: Arc<CudaStream>,
}

impl GpuTimer {
    /// Records the start event on the context's stream.
    pub fn start(gpu: &GpuContext) -> Result<Self> {
        let start = gpu
            .ctx
            .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))?;
        start.record(&gpu.stream)?;
        Ok(Self {
            start,
            stream: gpu.stream.clone(),
        })
    }

    /// Records the end event, waits for it, and returns the elapsed milliseconds.
    pub fn stop(self) -> Result<f64> {
        let end = self
            .stream
            .context()
            .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))?;
        end.record(&self.stream)?;
        end.synchronize()?;
        Ok(self.start.elapsed_ms(&end)? as f64)
    }
}

/// How a host thread waits for the GPU (a stream's or an event's
/// synchronization). CUDA's default for one context on a many-core host is
/// to spin: every prover thread waiting for its kernels, and every
/// generating thread waiting for its upload, then keeps a core at 100%,
/// which the executor and the trace generation of pass 1 need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// CUDA's own choice (`CU_CTX_SCHED_AUTO`: spin, on these hosts).
    Auto,
    /// Spin on the core (`CU_CTX_SCHED_SPIN`): the lowest latency.
    Spin,
    /// Spin, yielding the core to any thread that can run (`CU_CTX_SCHED_YIELD`).
    Yield,
    /// Sleep until the GPU signals (`CU_CTX_SCHED_BLOCKING_SYNC`).
    Block,
}

impl SyncMode {
    /// `CLOAK_GPU_SYNC` (`auto`, `spin`, `yield` or `block`), else [`SyncMode::Yield`].
    pub fn from_env() -> Result<SyncMode> {
        match std::env::var("CLOAK_GPU_SYNC") {
            Err(_) => Ok(SyncMode::Yield),
            Ok(v) => match v.as_str() {
                "auto" => Ok(SyncMode::Auto),
                "spin" => Ok(SyncMode::Spin),
                "yield" => Ok(SyncMode::Yield),
                "block" => Ok(SyncMode::Block),
                other => Err(GpuError::Invalid(format!(
                    "CLOAK_GPU_SYNC={other}: expected auto, spin, yield or block"
                ))),
            },
        }
    }

    fn flags(self) -> u32 {
        use sys::CUctx_flags::*;
        (match self {
            SyncMode::Auto => CU_CTX_SCHED_AUTO,
            SyncMode::Spin => CU_CTX_SCHED_SPIN,
            SyncMode::Yield => CU_CTX_SCHED_YIELD,
            SyncMode::Block => CU_CTX_SCHED_BLOCKING_SYNC,
        }) as u32
    }
}

/// Sets how threads wait on device `ordinal`'s primary context (the one
/// `CudaContext::new` retains), before it is retained. A driver that
/// refuses while the context is active (a second open of the device in
/// this process) leaves it with the flags the first open set.
fn set_sync_mode(ordinal: usize, mode: SyncMode) -> Result<()> {
    cudarc::driver::result::init()?;
    let device = cudarc::driver::result::device::get(ordinal as i32)?;
    // SAFETY: `device` is a valid device handle; the call only records
    // the flags the primary context is (or was) created with.
    match unsafe { sys::cuDevicePrimaryCtxSetFlags_v2(device, mode.flags()) } {
        sys::CUresult::CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE => Ok(()),
        other => Ok(other.result()?),
    }
}

/// Keeps the memory that buffers freed by the device's default pool
/// (`cuMemAllocAsync`, which every allocation here uses) instead of handing
/// it back to the driver at each synchronization, its default: a proof
/// syncs at every download, so every proof mapped its buffers afresh
/// (BENCHMARKS.md, stop 16). The pool keeps at most the peak a proof needs,
/// which the prover uses again and again. A device without memory pools
/// allocates synchronously (cudarc), and there is nothing to keep.
fn keep_pool_memory(ctx: &CudaContext) -> Result<()> {
    if !ctx.has_async_alloc() {
        return Ok(());
    }
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold = u64::MAX;
    // SAFETY: `pool` is an out-parameter for the context's device; the
    // attribute's value is a u64, as CU_MEMPOOL_ATTR_RELEASE_THRESHOLD takes.
    unsafe {
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result()?;
        sys::cuMemPoolSetAttribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        )
        .result()?;
    }
    Ok(())
}
