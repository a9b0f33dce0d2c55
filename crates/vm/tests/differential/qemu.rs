//! Running ELF files under Debian's `qemu-riscv32` (qemu-user).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `$CLOAK_QEMU`, else `qemu-riscv32` found on `$PATH`.
pub fn find_qemu() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CLOAK_QEMU") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("qemu-riscv32"))
        .find(|p| p.is_file())
}

/// A qemu-riscv32 process whose stdout and stderr are being collected.
pub struct Running {
    child: Child,
    out: JoinHandle<Vec<u8>>,
    err: JoinHandle<Vec<u8>>,
    deadline: Instant,
    timeout: Duration,
}

fn collect(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

pub fn spawn(qemu: &Path, elf_path: &Path, timeout: Duration) -> Result<Running, String> {
    let mut child = Command::new(qemu)
        .arg(elf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", qemu.display()))?;
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    Ok(Running {
        child,
        out,
        err,
        deadline: Instant::now() + timeout,
        timeout,
    })
}

impl Running {
    /// The process's stdout, if it exited with status 0 in time.
    pub fn wait(mut self) -> Result<Vec<u8>, String> {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() >= self.deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("qemu-riscv32 timed out after {:?}", self.timeout));
                }
                Ok(None) => std::thread::sleep(Duration::from_micros(300)),
                Err(e) => return Err(format!("waiting for qemu-riscv32: {e}")),
            }
        };
        let out = self.out.join().unwrap();
        let err = self.err.join().unwrap();
        if !status.success() {
            let mut msg = format!(
                "qemu-riscv32 exited with {status}; stderr: {:?}; stdout: {} bytes",
                String::from_utf8_lossy(&err).trim(),
                out.len()
            );
            if out.is_empty() && err.is_empty() && status.code() == Some(1) {
                // qemu-user printf()s loader errors to stdout and then _exit()s,
                // so the message is lost when stdout is a pipe.
                msg += " (silent exit 1: qemu's ELF loader probably rejected the file; run it on a terminal to see why)";
            }
            return Err(msg);
        }
        Ok(out)
    }
}

/// Write `elf` to `path` as an executable file (qemu-user refuses to load a
/// file without execute permission: "Permission denied").
pub fn write_elf(path: &Path, elf: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, elf).map_err(|e| format!("writing {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// Write `elf` to `path` and run it to completion.
pub fn run_bytes(
    qemu: &Path,
    path: &Path,
    elf: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    write_elf(path, elf)?;
    spawn(qemu, path, timeout)?.wait()
}
