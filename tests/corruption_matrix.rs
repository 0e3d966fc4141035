//! The corruption matrix (see `support/corruption_matrix.rs`): every file kind times every
//! fault, on a cleanly closed store; prints the counts per scenario.
//! `STRATAKV_SEED` picks the store's seed; `STRATAKV_MATRIX_FILES` how many files of each
//! kind are damaged (default 4).

mod common;
#[path = "support/corruption_matrix.rs"]
mod matrix;

use common::{seeds, SeedGuard};

#[test]
fn every_fault_in_every_file_is_reported_never_wrong() {
    let files = std::env::var("STRATAKV_MATRIX_FILES").map_or(4, |s| s.parse().expect("a number"));
    for seed in seeds(&[31]) {
        let _g = SeedGuard {
            name: "corruption_matrix",
            seed,
        };
        let summary = matrix::run(seed, files);
        eprint!("{summary}");
        let total: u32 = summary.0.values().map(|c| c.cases).sum();
        assert!(total >= 250, "only {total} cases ran");
    }
}
