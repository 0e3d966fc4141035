//! Kill -9 crash loop (the loop is in `support/kill.rs`): a child process writes seeded
//! atomic batches and reports each acknowledgement; the parent kills it at random moments,
//! reopens and checks that every acknowledged batch is there, with no holes and no torn
//! batch, and that point reads and scans agree.
//!
//! `STRATAKV_CRASH_ROUNDS` sets the number of kills (default 50); `STRATAKV_SEED` the seed.
//! `scripts/crash_loop.sh` runs it long. A failure prints the seed and keeps the directory.

mod common;
#[path = "support/kill.rs"]
mod kill;

/// Run as a child by `kill_nine_loses_nothing_acknowledged` (does nothing otherwise).
#[test]
fn crash_kill_child() {
    kill::child();
}

#[test]
fn kill_nine_loses_nothing_acknowledged() {
    kill::run(&[17], kill::rounds(), None);
}
