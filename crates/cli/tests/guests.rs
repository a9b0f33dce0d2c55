//! Every bundled guest runs under `cloak execute` with its documented output
//! (guests/expected.txt), and the committed ELFs rebuild byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn field<'a>(stdout: &'a str, name: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
}

fn cloak(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloak"))
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bundled_guests_give_their_documented_outputs() {
    let table = std::fs::read_to_string(repo().join("guests/expected.txt")).unwrap();
    let mut cases = 0;
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').collect();
        let [name, inputs, exit, public_values] = parts[..] else {
            panic!("malformed line in guests/expected.txt: {line}");
        };
        let elf = format!("guests/bin/{name}.elf");
        let mut args = vec!["execute", elf.as_str()];
        for input in inputs.split_whitespace() {
            args.extend(["--input", input]);
        }
        let out = cloak(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            field(&stdout, "exit code:"),
            Some(exit),
            "{line}\n{stdout}\n{stderr}"
        );
        assert_eq!(
            field(&stdout, "public values:"),
            Some(public_values),
            "{line}\n{stdout}"
        );
        assert_eq!(
            out.status.success(),
            exit == "0",
            "{line}: process status {:?}",
            out.status
        );
        cases += 1;
    }
    assert!(cases >= 20, "only {cases} cases in guests/expected.txt");
}

#[test]
fn json_workload_runs_at_least_ten_million_cycles() {
    let out = cloak(&[
        "execute",
        "guests/bin/json.elf",
        "--input",
        "vec@guests/inputs/json-records.json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cycles: u64 = field(&stdout, "cycles:").unwrap().parse().unwrap();
    assert!(cycles >= 10_000_000, "json ran {cycles} cycles");
}

#[test]
fn execute_reports_errors_with_context() {
    let run = |args: &[&str]| {
        let out = cloak(args);
        assert!(!out.status.success(), "{args:?} must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&[
        "execute",
        "guests/bin/fibonacci.elf",
        "--input",
        "u32:10",
        "--max-cycles",
        "100",
    ]);
    assert!(err.contains("cycle limit of 100"), "{err}");
    let err = run(&["execute", "guests/inputs/json-records.json"]);
    assert!(err.contains("e_ident[EI_MAG]"), "{err}");
    let err = run(&["execute", "guests/bin/fibonacci.elf"]);
    assert!(
        err.contains("HINT_LEN") && err.contains("no input buffer left"),
        "{err}"
    );
    let err = run(&["execute", "guests/bin/fibonacci.elf", "--input", "float:1"]);
    assert!(err.contains("unknown form"), "{err}");
}

#[test]
fn trace_mode_matches_fast_mode() {
    let args = |mode: &'static str| {
        [
            "execute",
            "guests/bin/sha256.elf",
            "--input",
            "vec@guests/inputs/abc.txt",
            "--mode",
            mode,
            "--shard-cycles",
            "1024",
        ]
    };
    let fast = String::from_utf8(cloak(&args("fast")).stdout).unwrap();
    let out = cloak(&args("trace"));
    let traced = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{traced}");
    assert_eq!(field(&traced, "shards:"), Some("8"));
    for name in ["cycles:", "exit code:", "public values:"] {
        assert_eq!(field(&traced, name), field(&fast, name));
    }
}

/// guests/build.sh needs Debian's clang, lld, rustc 1.63 and rust-src
/// (scripts/test.sh installs them); without them this test fails saying so.
#[test]
fn committed_guest_elfs_rebuild_byte_for_byte() {
    let repo = repo();
    let out_dir = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(repo.join("guests/build.sh"))
        .arg(out_dir.path())
        .status()
        .expect("running guests/build.sh");
    assert!(
        status.success(),
        "guests/build.sh failed (are its Debian packages installed? see scripts/test.sh)"
    );
    let mut compared = 0;
    for entry in std::fs::read_dir(repo.join("guests/bin")).unwrap() {
        let path = entry.unwrap().path();
        let rebuilt = out_dir.path().join(path.file_name().unwrap());
        let ours = std::fs::read(&path).unwrap();
        let theirs = std::fs::read(&rebuilt).unwrap_or_default();
        assert!(
            ours == theirs,
            "{} differs from its rebuild",
            path.display()
        );
        compared += 1;
    }
    assert!(compared >= 8, "only {compared} ELFs in guests/bin");
}
