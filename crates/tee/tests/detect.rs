//! Source detection on a machine without a TEE.

use cloak_tee::{detect, detect_with, Attester, DetectConfig, SourceKind, TeeError};

fn missing_paths() -> DetectConfig {
    let base = std::env::temp_dir().join(format!("cloak-tee-detect-{}", std::process::id()));
    DetectConfig {
        tsm_report_dir: base.join("no-such-tsm/report"),
        dstack_sockets: vec![base.join("no-such-dstack.sock")],
        probe_nvml: true,
    }
}

#[test]
fn reports_no_tee_and_why_each_source_is_unusable() {
    let r = detect_with(&missing_paths());
    assert!(!r.tee_present());
    let text = r.to_string();
    assert!(text.contains("No TEE present"), "{text}");
    for k in [
        "configfs-tsm",
        "no-such-tsm/report",
        "does not exist",
        "dstack",
        "no-such-dstack.sock",
        "socket does not exist",
        "NVML",
    ] {
        assert!(text.contains(k), "{k} missing from:\n{text}");
    }
    let nvml = r.gpu().expect("NVML probed");
    if !nvml.usable {
        assert!(!nvml.detail.is_empty());
    }
    // When NVML loads, CC mode is reported per GPU.
    if let Some(st) = &nvml.nvml {
        for g in &st.gpus {
            assert!(text.contains(&format!("GPU {}", g.index)), "{text}");
            assert!(text.contains("CC mode"), "{text}");
        }
    }
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("configfs_tsm") && json.contains("dstack") && json.contains("nvml"));
}

#[test]
fn attester_auto_fails_with_the_report() {
    let e = Attester::auto_with(&missing_paths()).unwrap_err();
    let TeeError::NoTee(report) = &e else {
        panic!("{e}")
    };
    assert_eq!(report.probes.len(), 3);
    let text = e.to_string();
    assert!(
        text.contains("no TEE is present")
            && text.contains("configfs-tsm")
            && text.contains("dstack"),
        "{text}"
    );
}

#[test]
fn a_directory_that_is_not_configfs_is_not_usable() {
    let dir = std::env::temp_dir().join(format!("cloak-tee-fake-tsm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = DetectConfig {
        tsm_report_dir: dir.clone(),
        dstack_sockets: vec![],
        probe_nvml: false,
    };
    let r = detect_with(&cfg);
    let p = r
        .probes
        .iter()
        .find(|p| p.kind == SourceKind::ConfigfsTsm)
        .unwrap();
    assert!(!p.usable);
    assert!(p.detail.contains("not usable"), "{}", p.detail);
    // The probe cleaned up the entry it created.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_detection_lists_every_source() {
    // Whatever this machine is, the report names every source it looked for.
    let r = detect();
    let text = r.to_string();
    println!("{text}");
    for k in [
        "/sys/kernel/config/tsm/report",
        "/var/run/dstack.sock",
        "NVML",
    ] {
        assert!(text.contains(k), "{k} missing from:\n{text}");
    }
}
