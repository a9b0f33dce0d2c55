//! skeleton
use cloak_machine::{MachineKeys, Proof};
#[test]
fn placeholder() {
    let _ = std::mem::size_of::<Option<&MachineKeys>>();
    let _: Option<Proof> = None;
}
