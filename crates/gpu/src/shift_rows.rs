//! The Shift table made on the device from its rows' inputs
//! (`cloak_machine::shift::ShiftRowInputs`): five small words an event (the
//! op, `b`'s and `c`'s limbs) go up instead of the table's 79 columns, and
//! `shift_expand` (cuda/shift_rows.cu) writes the cells `fill_row` would.

use cloak_machine::shift::{self, cols as s, inputs as si, ShiftRowInputs};
use cudarc::driver::{LaunchConfig, PushKernelArg};

use crate::context::{GpuContext, LaunchConfigExt, Result};
use crate::ntt::DeviceMatrix;
use crate::packed::StagedMatrix;

/// The kernel's source: the column constants, from the Rust definitions,
/// then cuda/shift_rows.cu.
pub fn shift_rows_source() -> String {
    let mut src = String::new();
    for (name, v) in [
        ("S_WIDTH", shift::WIDTH),
        ("S_A_LO", s::A_LO),
        ("S_B_LO", s::B_LO),
        ("S_C_LO", s::C_LO),
        ("S_B_BITS", s::B_BITS),
        ("S_SHAMT", s::SHAMT),
        ("S_K", s::K),
        ("S_FILL", s::FILL),
        ("S_IS_SLL", s::IS_SLL),
        ("S_SLL_LO", s::SLL_LO),
        ("S_SR_LO", s::SR_LO),
        ("SIN_WIDTH", si::WIDTH),
        ("SIN_OP", si::OP),
        ("SIN_B_LO", si::B_LO),
        ("SIN_C_LO", si::C_LO),
    ] {
        src.push_str(&format!("#define {name} {v}\n"));
    }
    src.push_str(include_str!("../cuda/shift_rows.cu"));
    src
}

/// A Shift trace staged as its inputs, waiting for [`expand`].
pub struct StagedShiftRows {
    inputs: StagedMatrix,
    height: usize,
}

impl StagedShiftRows {
    /// Bytes uploaded for this trace.
    pub fn bytes(&self) -> usize {
        self.inputs.bytes
    }
}

/// Packs and uploads `rows`' inputs on the upload stream.
pub fn stage(gpu: &GpuContext, rows: &ShiftRowInputs) -> Result<StagedShiftRows> {
    let packed = crate::packed::pack_words(&rows.inputs, si::WIDTH)?;
    Ok(StagedShiftRows {
        inputs: crate::packed::stage_packed(gpu, packed)?,
        height: rows.height,
    })
}

/// The Shift trace (`height × shift::WIDTH`, Montgomery words) from staged
/// inputs, on the compute stream.
pub fn expand(gpu: &GpuContext, staged: StagedShiftRows) -> Result<DeviceMatrix> {
    let StagedShiftRows { inputs, height } = staged;
    let inputs = DeviceMatrix::from_staged(gpu, inputs)?;
    let n = inputs.height as u64;
    let mut out = gpu.alloc_u32((height * shift::WIDTH).max(1))?;
    let func = gpu.function("shift_rows", shift_rows_source, "shift_expand")?;
    let height64 = height as u64;
    let mut l = gpu.stream().launch_builder(&func);
    l.arg(&inputs.buf).arg(&mut out).arg(&n).arg(&height64);
    // SAFETY: `inputs` holds n rows of SIN_WIDTH words, `out` height rows
    // of S_WIDTH.
    unsafe {
        l.launch(LaunchConfig::grid(
            height64.div_ceil(128).max(1) as u32,
            128,
        ))
    }?;
    gpu.free_after_compute(inputs)?;
    Ok(DeviceMatrix {
        buf: out,
        width: shift::WIDTH,
        height,
    })
}
