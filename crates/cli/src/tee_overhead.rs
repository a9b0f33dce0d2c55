//! `cloak bench --tee-overhead`: the study's experiment on Cloak. Each case
//! is proven twice on the GPU backend, with plain host-device copies and
//! with confidential-computing transfer encryption emulated
//! (`cloak_gpu::transfer` documents the model and what it leaves out), and
//! the overhead is the difference in proving time. On a GPU really in CC
//! mode the driver encrypts for real: each case is proven once and the CSV
//! says `real-cc` (the plain baseline needs a run outside CC mode).

use crate::bench::{measure, Measured};
use crate::prove::{GpuSet, Prover};
use anyhow::{bail, Context, Result};
use cloak_gpu::TransferMode;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `(program, input, nominal cycles)`: loop and fibonacci from 100 K to
/// 100 M cycles (about 7 and 6 cycles an iteration plus ~6 K of start-up),
/// the precompile hashes of 150 KB, and the real workload (json, 20.6 M).
const SUITE: &[(&str, &str, u64)] = &[
    ("loop", "u32:13430", 100_000),
    ("loop", "u32:142000", 1_000_000),
    ("loop", "u32:1428000", 10_000_000),
    ("loop", "u32:14285000", 100_000_000),
    ("fibonacci", "u32:15700", 100_000),
    ("fibonacci", "u32:165700", 1_000_000),
    ("fibonacci", "u32:1666000", 10_000_000),
    ("fibonacci", "u32:16666000", 100_000_000),
    ("sha256", "vec@guests/inputs/json-records.json", 817_000),
    ("keccak256", "vec@guests/inputs/json-records.json", 791_000),
    ("json", "vec@guests/inputs/json-records.json", 20_600_000),
];

/// A small input per program, proven once (unmeasured) before its first
/// case: the first proof of a program compiles its tables' kernels (NVRTC,
/// or the CUBIN cache), which must not land in one mode's time.
const WARM_UP: &[(&str, &str)] = &[
    ("loop", "u32:1000"),
    ("fibonacci", "u32:1000"),
    ("sha256", "vec@guests/inputs/abc.txt"),
    ("keccak256", "vec@guests/inputs/abc.txt"),
    ("json", "vec@guests/inputs/json-small.json"),
];

const HEADER: &str = "program,input,cycles,shards,transfer_mode,plain_prove_ms,cc_prove_ms,overhead_pct,h2d_bytes,d2h_bytes,plain_transfer_ms,cc_transfer_ms,aes_gcm_ms,aes_gcm_pct_of_plain,repeats";

pub struct Config {
    pub output: PathBuf,
    pub only: Option<String>,
    pub up_to: Option<u64>,
    pub shard_cycles: u64,
    /// Proofs per mode and case; the row takes each mode's median run.
    pub repeats: usize,
}

/// Whether this machine's GPUs are in CC mode (NVML says so).
fn gpu_in_cc_mode() -> bool {
    cloak_tee::detect().gpu().is_some_and(|g| g.usable)
}

pub fn run(root: &Path, gpu: &GpuSet, prover: &Prover, cfg: &Config) -> Result<ExitCode> {
    let real = gpu_in_cc_mode();
    eprintln!(
        "TEE overhead on {}: {}",
        gpu.context().name(),
        if real {
            "the GPU is in CC mode: the driver encrypts every transfer for real; one run per case"
                .to_string()
        } else {
            format!(
                "the GPU is not in CC mode: each case plain, then with CC transfer encryption \
                 emulated (AES-256-GCM by {:?}; CLOAK_CC_CIPHER chooses)",
                cloak_gpu::transfer::CcCipher::from_env()
            )
        }
    );
    let runs_path = runs_path(&cfg.output);
    let mut out = std::fs::File::create(&cfg.output)
        .with_context(|| format!("creating {}", cfg.output.display()))?;
    let mut runs = std::fs::File::create(&runs_path)
        .with_context(|| format!("creating {}", runs_path.display()))?;
    writeln!(out, "{HEADER}")?;
    writeln!(runs, "transfer_mode,{}", crate::bench::HEADER)?;
    println!("{HEADER}");
    let mut warmed = std::collections::HashSet::new();
    for &(name, input, nominal) in SUITE {
        if cfg.only.as_deref().is_some_and(|o| !name.contains(o))
            || cfg.up_to.is_some_and(|max| nominal > max)
        {
            continue;
        }
        if warmed.insert(name) {
            let small = WARM_UP
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(input, |(_, i)| *i);
            gpu.set_transfer_mode(TransferMode::Plain);
            let m = measure(root, name, small, cfg.shard_cycles, true, prover)
                .with_context(|| format!("warming up with {name} on {small}"))?;
            writeln!(runs, "warm-up,{}", m.line)?;
        }
        let mut prove = |mode: TransferMode, label: &str| -> Result<Measured> {
            gpu.set_transfer_mode(mode);
            let m = measure(root, name, input, cfg.shard_cycles, true, prover)
                .with_context(|| format!("proving {name} with {input} ({label})"))?;
            writeln!(runs, "{label},{}", m.line)?;
            runs.flush()?;
            eprintln!(
                "{name} {input} ({label}): {}",
                m.gpu.as_ref().expect("gpu").summary
            );
            Ok(m)
        };
        let repeats = cfg.repeats.max(1);
        let line = if real {
            let mut cc = Vec::new();
            for _ in 0..repeats {
                cc.push(prove(TransferMode::Plain, "real-cc")?);
            }
            row(name, input, "real-cc", None, &median(cc), repeats)
        } else {
            // Alternate which mode goes first, so drift over the run
            // weighs on both alike.
            let (mut plain, mut cc) = (Vec::new(), Vec::new());
            for i in 0..repeats {
                if i % 2 == 0 {
                    plain.push(prove(TransferMode::Plain, "plain")?);
                    cc.push(prove(TransferMode::CcEmulated, "cc-emulated")?);
                } else {
                    cc.push(prove(TransferMode::CcEmulated, "cc-emulated")?);
                    plain.push(prove(TransferMode::Plain, "plain")?);
                }
            }
            row(
                name,
                input,
                "cc-emulated",
                Some(&median(plain)),
                &median(cc),
                repeats,
            )
        };
        gpu.set_transfer_mode(TransferMode::Plain);
        writeln!(out, "{line}")?;
        out.flush()?;
        println!("{line}");
    }
    eprintln!("wrote {} and {}", cfg.output.display(), runs_path.display());
    let png = cfg.output.with_extension("png");
    match plot_csv(&cfg.output, &png) {
        Ok(()) => eprintln!("wrote {}", png.display()),
        Err(e) => eprintln!(
            "no plot: {e:#}\n(draw it elsewhere with `cloak bench --plot-overhead {}`)",
            cfg.output.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `tee.csv` → `tee-runs.csv`: every proof's bench line.
fn runs_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("tee-overhead");
    output.with_file_name(format!("{stem}-runs.csv"))
}

/// The run with the median proving time (the upper one of an even count).
fn median(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by_key(|m| m.report.wall());
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

fn row(
    name: &str,
    input: &str,
    mode: &str,
    plain: Option<&Measured>,
    cc: &Measured,
    repeats: usize,
) -> String {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let t = &cc.gpu.as_ref().expect("gpu").transfers;
    let cc_ms = ms(cc.report.wall());
    let (plain_ms, overhead, plain_transfer, crypt_pct) = match plain {
        Some(p) => {
            let p_ms = ms(p.report.wall());
            let pt = &p.gpu.as_ref().expect("gpu").transfers;
            (
                format!("{p_ms:.1}"),
                format!("{:.2}", (cc_ms - p_ms) / p_ms * 100.0),
                format!("{:.1}", ms(pt.h2d_time + pt.d2h_time)),
                format!("{:.2}", ms(t.crypt_time) / p_ms * 100.0),
            )
        }
        None => (String::new(), String::new(), String::new(), String::new()),
    };
    format!(
        "{name},{input},{},{},{mode},{plain_ms},{cc_ms:.1},{overhead},{},{},{plain_transfer},{:.1},{:.1},{crypt_pct},{repeats}",
        cc.report.cycles,
        cc.report.shards,
        t.h2d_bytes,
        t.d2h_bytes,
        ms(t.h2d_time + t.d2h_time),
        ms(t.crypt_time),
    )
}

/// One program's points: (cycles, overhead %, AES-GCM % of plain time).
type Series = Vec<(f64, f64, f64)>;

/// Reads a `--tee-overhead` CSV: each program's points, in file order.
fn read_csv(csv: &Path) -> Result<Vec<(String, Series)>> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("reading {}", csv.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("{}: no `{name}` column", csv.display()))
    };
    let (c_prog, c_cycles) = (col("program")?, col("cycles")?);
    let (c_over, c_aes) = (col("overhead_pct")?, col("aes_gcm_pct_of_plain")?);
    let c_mode = col("transfer_mode")?;
    let mut series: Vec<(String, Series)> = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.get(c_mode) == Some(&"real-cc") {
            continue; // no plain baseline in the same run
        }
        let num = |c: usize| -> Result<f64> {
            f.get(c)
                .filter(|s| !s.is_empty())
                .with_context(|| format!("{} line {}: column {c} is empty", csv.display(), i + 2))?
                .parse()
                .with_context(|| format!("{} line {}: column {c}", csv.display(), i + 2))
        };
        let point = (num(c_cycles)?, num(c_over)?, num(c_aes)?);
        let prog = f[c_prog].to_string();
        match series.iter_mut().find(|(p, _)| *p == prog) {
            Some((_, pts)) => pts.push(point),
            None => series.push((prog, vec![point])),
        }
    }
    if series.is_empty() {
        bail!("{}: no rows with a plain baseline to plot", csv.display());
    }
    Ok(series)
}

/// A TrueType font for the plot's text: `$CLOAK_PLOT_FONT` or DejaVu Sans
/// where Debian and others put it.
fn font() -> Result<&'static [u8]> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("CLOAK_PLOT_FONT")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        ]
        .map(PathBuf::from),
    );
    for path in &candidates {
        if let Ok(bytes) = std::fs::read(path) {
            return Ok(Box::leak(bytes.into_boxed_slice()));
        }
    }
    bail!(
        "no TrueType font for the plot's text (looked at {}); install fonts-dejavu-core or set CLOAK_PLOT_FONT",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Draws overhead percent against cycles (log scale), one colour per
/// program: measured overhead (solid, dots) and the AES-GCM time's share of
/// the plain proving time (dashed).
pub fn plot_csv(csv: &Path, png: &Path) -> Result<()> {
    use plotters::prelude::*;
    use plotters::style::{register_font, FontStyle};

    let series = read_csv(csv)?;
    register_font("sans-serif", FontStyle::Normal, font()?)
        .map_err(|_| anyhow::anyhow!("the plot font is not a usable TrueType font"))?;
    let xs = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.0));
    let (x_min, x_max) = xs.fold((f64::MAX, 0f64), |(a, b), x| (a.min(x), b.max(x)));
    let ys = series
        .iter()
        .flat_map(|(_, s)| s.iter().flat_map(|p| [p.1, p.2]));
    let (y_min, y_max) = ys.fold((0f64, 1f64), |(a, b), y| (a.min(y), b.max(y)));
    // Headroom above the data for the legend.
    let (pad_low, pad_high) = ((y_max - y_min) * 0.1, (y_max - y_min) * 0.9);

    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(png, (960, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Cloak: proving-time overhead of CC-mode transfer encryption",
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(
                ((x_min / 1.5)..(x_max * 1.5)).log_scale(),
                (y_min - pad_low)..(y_max + pad_high),
            )?;
        chart
            .configure_mesh()
            .x_desc("cycles (log scale)")
            .y_desc("overhead (%)")
            .x_label_formatter(&|x| format!("{:.0e}", x))
            .draw()?;
        for (i, (prog, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let measured: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
            let aes: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.2)).collect();
            chart
                .draw_series(LineSeries::new(measured.clone(), color.stroke_width(2)))?
                .label(format!("{prog}: measured"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart.draw_series(measured.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            chart.draw_series(aes.iter().map(|&p| Cross::new(p, 4, color.stroke_width(1))))?;
            chart
                .draw_series(DashedLineSeries::new(aes, 6, 4, color.stroke_width(1)))?
                .label(format!("{prog}: AES-GCM time / plain time"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.mix(0.5)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", png.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_from_csv_writes_a_png_and_bad_csv_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("t.csv");
        std::fs::write(
            &csv,
            format!(
                "{HEADER}\nloop,u32:1,100000,1,cc-emulated,10.0,11.0,10.00,4,32,1.0,2.0,0.5,5.00\n\
                 loop,u32:2,1000000,1,cc-emulated,100.0,103.0,3.00,4,32,1.0,2.0,0.5,2.00\n"
            ),
        )
        .unwrap();
        let series = read_csv(&csv).unwrap();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].1[1], (1_000_000.0, 3.0, 2.0));
        if font().is_ok() {
            let png = dir.path().join("t.png");
            plot_csv(&csv, &png).unwrap();
            let bytes = std::fs::read(&png).unwrap();
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        } else {
            eprintln!("SKIP drawing the plot: no TrueType font on this machine");
        }
        // A real-CC row has no baseline: nothing to plot, and the error says so.
        std::fs::write(
            &csv,
            format!("{HEADER}\nloop,u32:1,100000,1,real-cc,,11.0,,4,32,,2.0,0.0,\n"),
        )
        .unwrap();
        let err = format!("{:#}", read_csv(&csv).unwrap_err());
        assert!(err.contains("no rows with a plain baseline"), "{err}");
        // A damaged emulated row says which line.
        std::fs::write(
            &csv,
            format!(
                "{HEADER}\nloop,u32:1,100000,1,cc-emulated,10.0,11.0,x,4,32,1.0,2.0,0.5,5.00\n"
            ),
        )
        .unwrap();
        let err = format!("{:#}", read_csv(&csv).unwrap_err());
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn runs_csv_sits_beside_the_output() {
        assert_eq!(
            runs_path(Path::new("/x/tee.csv")),
            PathBuf::from("/x/tee-runs.csv")
        );
    }
}
