//! Leveled compaction: `picker.rs` decides (pure), `run.rs` merges and writes, and the
//! engine (`engine/compact.rs`) schedules, installs and throttles.

pub mod picker;
pub mod run;
#[cfg(test)]
mod sim;

pub use picker::{PickerOptions, Task};
