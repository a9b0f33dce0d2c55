//! The CPU table made on the device from its rows' inputs
//! (`cloak_machine::cpu_rows`): the host generates and uploads 24 small
//! values a cycle instead of the table's 81 columns, and `cpu_expand`
//! (cuda/cpu_rows.cu) writes the same cells `expand_row` would. The
//! inputs go up bit-packed like any trace ([`crate::packed`]); each
//! program's messages go up once per backend and stay.

use std::sync::{Arc, Mutex};

use cloak_machine::cpu::{self, cols as c, SYSCALLS};
use cloak_machine::cpu_rows::{inputs as i, CpuRowInputs, COPIED};
use cloak_machine::program::{fields as f, ProgramAir, FETCH_WIDTH};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use crate::context::{GpuContext, LaunchConfigExt, Result};
use crate::ntt::DeviceMatrix;
use crate::packed::StagedMatrix;

/// The kernel's source: the column constants, from this workspace's Rust
/// definitions, then cuda/cpu_rows.cu.
pub fn cpu_rows_source() -> String {
    let mut s = String::new();
    let mut def = |name: &str, v: usize| s.push_str(&format!("#define {name} {v}\n"));
    for (name, v) in [
        ("C_WIDTH", cpu::WIDTH),
        ("FETCH_WIDTH", FETCH_WIDTH),
        ("C_IS_REAL", c::IS_REAL),
        ("C_CLK", c::CLK),
        ("C_C_LO", c::C_LO),
        ("C_A_LO", c::A_LO),
        ("C_ADDR_HI", c::ADDR_HI),
        ("C_ADDR_W", c::ADDR_W),
        ("C_ADDR_BIT0", c::ADDR_BIT0),
        ("C_ADDR_BIT1", c::ADDR_BIT1),
        ("C_MEM_PREV_LO", c::MEM_PREV_LO),
        ("C_MEM_PREV_HI", c::MEM_PREV_HI),
        ("C_Q0", c::Q0),
        ("C_Q1", c::Q1),
        ("C_QX", c::QX),
        ("C_R0", c::R0),
        ("C_R1", c::R1),
        ("C_RX", c::RX),
        ("C_SIGN", c::SIGN),
        ("C_SIGN_REST", c::SIGN_REST),
        ("C_EQ", c::EQ),
        ("C_INV_LO", c::INV_LO),
        ("C_INV_HI", c::INV_HI),
        ("C_TAKEN", c::TAKEN),
        ("C_SYS_HINT_LEN", c::SYS_HINT_LEN),
        ("C_SYS_DEFERRED", c::SYS_DEFERRED),
        ("C_STORED", c::STORED),
        ("C_ENDS", c::ENDS),
        ("C_ADDR_HI_SCALED", c::ADDR_HI_SCALED),
        ("F_PC", f::PC),
        ("F_TARGET", f::TARGET),
        ("F_JAL", f::JAL),
        ("F_JALR", f::JALR),
        ("F_BRANCH_EQ", f::BRANCH_EQ),
        ("F_BRANCH_LT", f::BRANCH_LT),
        ("F_BRANCH_NEG", f::BRANCH_NEG),
        ("F_LB", f::LB),
        ("F_LBU", f::LBU),
        ("F_LH", f::LH),
        ("F_SB", f::SB),
        ("F_SH", f::SH),
        ("F_SW", f::SW),
        ("IN_WIDTH", i::WIDTH),
        ("IN_PROGRAM_ROW", i::PROGRAM_ROW),
        ("IN_B_LO", i::B_LO),
        ("IN_C_LO", i::C_LO),
        ("IN_A_LO", i::A_LO),
        ("IN_ADDR_LO", i::ADDR_LO),
        ("IN_ADDR_HI", i::ADDR_HI),
        ("IN_MEM_PREV_LO", i::MEM_PREV_LO),
        ("COPIED_RUNS", COPIED.len()),
        ("IN_SYSCALL", i::SYSCALL),
    ] {
        def(name, v);
    }
    let cols: Vec<String> = SYSCALLS.iter().map(|(_, col)| col.to_string()).collect();
    s.push_str(&format!("#define SYSCALL_COLS {{{}}}\n", cols.join(", ")));
    let copied: Vec<String> = COPIED
        .iter()
        .map(|(from, to, count)| format!("{{{from}, {to}, {count}}}"))
        .collect();
    s.push_str(&format!("#define COPIED {{{}}}\n", copied.join(", ")));
    s.push_str(include_str!("../cuda/cpu_rows.cu"));
    s
}

/// A CPU trace staged as its inputs: uploaded, waiting for
/// [`expand`] on the compute stream.
pub struct StagedCpuRows {
    inputs: StagedMatrix,
    messages: Arc<CudaSlice<u32>>,
    start_clk: u64,
    height: usize,
}

impl StagedCpuRows {
    /// Bytes uploaded for this trace (its program's messages, uploaded once
    /// per backend, not counted).
    pub fn bytes(&self) -> usize {
        self.inputs.bytes
    }
}

/// Each program's messages on the device, uploaded once: the program table
/// they came from (kept, so its identity is not reused) and the buffer.
#[derive(Default)]
pub struct MessageCache {
    entries: Mutex<Vec<(ProgramAir, Arc<CudaSlice<u32>>)>>,
}

/// Programs whose messages a backend keeps on the device at once.
const CACHED_PROGRAMS: usize = 4;

impl MessageCache {
    fn get(&self, gpu: &GpuContext, program: &ProgramAir) -> Result<Arc<CudaSlice<u32>>> {
        let mut entries = self.entries.lock().expect("message cache poisoned");
        if let Some((_, buf)) = entries.iter().find(|(p, _)| p.same_table(program)) {
            return Ok(buf.clone());
        }
        let words = program.message_words();
        let buf = Arc::new(gpu.upload_staged(if words.is_empty() {
            &[0u32][..]
        } else {
            &words
        })?);
        if entries.len() == CACHED_PROGRAMS {
            entries.remove(0);
        }
        entries.push((program.clone(), buf.clone()));
        Ok(buf)
    }
}

/// Packs and uploads `rows`' inputs on the upload stream (the generating
/// thread's part), and its program's messages if this backend has not.
pub fn stage(gpu: &GpuContext, cache: &MessageCache, rows: &CpuRowInputs) -> Result<StagedCpuRows> {
    let packed = crate::packed::pack_words(&rows.inputs, i::WIDTH)?;
    Ok(StagedCpuRows {
        inputs: crate::packed::stage_packed(gpu, packed)?,
        messages: cache.get(gpu, &rows.program)?,
        start_clk: rows.start_clk,
        height: rows.height,
    })
}

/// The CPU trace (`height × cpu::WIDTH`, Montgomery words) from staged
/// inputs, on the compute stream.
pub fn expand(gpu: &GpuContext, staged: StagedCpuRows) -> Result<DeviceMatrix> {
    let StagedCpuRows {
        inputs,
        messages,
        start_clk,
        height,
    } = staged;
    let inputs = DeviceMatrix::from_staged(gpu, inputs)?;
    let n = inputs.height as u64;
    let mut out = gpu.alloc_u32(height * cpu::WIDTH)?;
    let func = gpu.function("cpu_rows", cpu_rows_source, "cpu_expand")?;
    let height64 = height as u64;
    let mut l = gpu.stream().launch_builder(&func);
    l.arg(&inputs.buf)
        .arg(&*messages)
        .arg(&mut out)
        .arg(&n)
        .arg(&height64)
        .arg(&start_clk);
    // SAFETY: `inputs` holds n rows of IN_WIDTH words whose program rows
    // index `messages` (FETCH_WIDTH words a row; the host found each row
    // by its pc in the same table); `out` holds height rows of C_WIDTH.
    unsafe { l.launch(LaunchConfig::grid(height64.div_ceil(128) as u32, 128)) }?;
    gpu.free_after_compute((inputs, messages))?;
    Ok(DeviceMatrix {
        buf: out,
        width: cpu::WIDTH,
        height,
    })
}
