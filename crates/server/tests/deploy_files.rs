//! The dstack deployment example (docs/deploy.md): the app manifest carries
//! exactly the compose file next to it, and both keep what `cloak serve`
//! needs in a CVM.

use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn app_compose_wraps_the_compose_file() {
    let compose = read("deploy/dstack/docker-compose.yaml");
    let app: serde_json::Value =
        serde_json::from_str(&read("deploy/dstack/app-compose.json")).unwrap();
    assert_eq!(
        app["docker_compose_file"].as_str(),
        Some(compose.as_str()),
        "regenerate app-compose.json from docker-compose.yaml (docs/deploy.md, step 5)"
    );
    assert_eq!(app["manifest_version"], 2);
    assert_eq!(app["runner"], "docker-compose");
    // The key seed lives on the data disk: it must be encrypted by a TEE key.
    assert!(
        app["kms_enabled"] == true || app["local_key_provider_enabled"] == true,
        "{app}"
    );
    for needed in [
        "/var/run/dstack.sock:/var/run/dstack.sock",
        "--attest\", \"tee",
        ":/data",
        "driver: nvidia",
    ] {
        assert!(
            compose.contains(needed),
            "the compose file lacks {needed:?}"
        );
    }
}

#[test]
fn the_image_serves_with_tee_attestation_by_default() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked -p cloak-cli"));
    assert!(dockerfile.contains(
        "CMD [\"serve\", \"--attest\", \"tee\", \"--listen\", \"0.0.0.0:8080\", \"--data-dir\", \"/data\"]"
    ));
    // target/ (many GB) must stay out of the build context.
    assert!(read(".dockerignore").lines().any(|l| l.trim() == "target"));
}
