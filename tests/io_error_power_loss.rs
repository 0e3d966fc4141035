//! Failed writes, fsyncs, renames and creates at random points, then a power loss: the first
//! failure stops the write path, and every synced write acknowledged before it survives (the
//! loop is in `support/io_faults.rs`). Prints counts per fault kind.

mod common;
#[path = "support/io_faults.rs"]
mod io_faults;

use stratakv::fs::FaultOp;

#[test]
fn acknowledged_synced_writes_survive_io_errors_and_power_loss() {
    // How often each kind fails: renames happen only at open and close, creates a few times
    // per run, writes and fsyncs on every put.
    for (op, one_in) in [
        (FaultOp::Write, 300),
        (FaultOp::Sync, 200),
        (FaultOp::Rename, 2),
        (FaultOp::Create, 15),
        (FaultOp::Any, 500),
    ] {
        let (mut cases, mut acked, mut failed) = (0, 0, 0);
        for seed in common::seeds(&[1, 2, 3, 4, 5, 6, 7, 8]) {
            let _g = common::SeedGuard {
                name: "io_error_power_loss",
                seed,
            };
            let o = io_faults::synced_writes_survive(seed, op, one_in);
            cases += 1;
            acked += o.acked;
            failed += o.failed;
        }
        eprintln!(
            "scenario io_error/{op:?}: cases={cases} acked={acked} refused={failed} acked_lost=0"
        );
        assert!(failed > 0, "{op:?}: no fault was ever hit");
    }
}
