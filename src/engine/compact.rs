//! Scheduling and installing compactions, manual compaction, and write pressure.
//!
//! Compaction threads take tasks from the pure picker under the structure lock, marking
//! their tables busy so that concurrent tasks never share one; they run without the lock and
//! install their outputs under it, in steps as they go (`compaction::run`, "Installing in
//! steps"; a step's outputs stay busy until the task ends) and with a last edit at the end.
//! Inputs leave the version at the edit that replaces them and are deleted when the last
//! reader (an iterator, a lookup in flight, the merge) drops them; nothing here holds a
//! version across a task. The flush thread is separate, so flushes never wait behind a
//! compaction.
//!
//! `compact_range` flushes, pauses automatic compactions, waits for running ones, and then
//! compacts every level overlapping the range into the next, down to the deepest level
//! holding data in it, rewriting even lone tables so that tombstones can be dropped.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flush::{cache_to_offer, table_options};
use super::{lock, Engine, State};
use crate::compaction::picker::{self, PickerOptions, ReadPick, Task};
use crate::compaction::run;
use crate::error::Result;
use crate::iter::db_iter::as_slices;
use crate::iter::level::overlaps;
use crate::key::user_key;
use crate::manifest::{FileMeta, NewFile, Version, VlogChange};
use crate::stats::Counters;

/// Write pressure, refreshed whenever the version changes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Pressure {
    pub l0_files: usize,
    pub pending_bytes: u64,
}

/// What the idle drain wants a compaction thread to do.
enum Idle {
    /// Run this task.
    Drain(Task),
    /// Freeze the memtable first.
    Freeze,
    /// Look again after this long.
    WakeIn(Duration),
    /// Wait for the next wake-up.
    Nothing,
}

/// How long writes have been quiet, judged by the last sequence number handed out.
struct Quiet {
    seq: u64,
    since: Instant,
}

impl Quiet {
    fn new(seq: u64) -> Self {
        Quiet {
            seq,
            since: Instant::now(),
        }
    }

    /// Time left until writes will have been quiet for `after` (zero once they have), given
    /// the last sequence number now.
    fn left(&mut self, seq: u64, after: Duration) -> Duration {
        if seq != self.seq {
            *self = Quiet::new(seq);
        }
        after.saturating_sub(self.since.elapsed())
    }
}

impl Engine {
    pub(crate) fn picker_options(&self) -> PickerOptions {
        PickerOptions {
            max_levels: self.opts.max_levels,
            level0_compaction_trigger: self.opts.level0_compaction_trigger,
            base_level_size: self.opts.base_level_size,
            level_size_multiplier: self.opts.level_size_multiplier as u64,
        }
    }

    /// Recomputes write pressure from the live version (call under the state lock after
    /// every version change).
    pub(crate) fn refresh_pressure(&self, st: &mut State) {
        let v = st.versions.current();
        st.pressure = Pressure {
            l0_files: v.levels.first().map_or(0, Vec::len),
            pending_bytes: picker::pending_bytes(&v, &self.picker_options()),
        };
    }

    /// Asks the compaction threads to compact a table whose read budget ran out (level,
    /// file number). One request is kept at a time: a table exhausted while another's
    /// request waits is not asked for (its budget stays spent), which costs little since a
    /// level-0 request takes every level-0 table.
    pub(crate) fn want_read_compaction(&self, wanted: (usize, u64)) {
        if !self.opts.read_triggered_compaction {
            return;
        }
        let mut st = lock(&self.state);
        if st.read_wanted.is_none() {
            st.read_wanted = Some(wanted);
            drop(st);
            self.bg_cv.notify_all();
        }
    }

    /// Live snapshot sequence numbers, ascending.
    fn snapshot_seqs(&self) -> Vec<u64> {
        lock(&self.snapshots).keys().copied().collect()
    }

    /// Body of a compaction thread.
    pub fn compaction_loop(&self) {
        let po = self.picker_options();
        let idle_after = (self.opts.read_triggered_compaction && self.opts.idle_compaction_ms > 0)
            .then(|| Duration::from_millis(self.opts.idle_compaction_ms));
        let mut quiet = Quiet::new(self.last_seq.load(Ordering::Relaxed));
        loop {
            let task = {
                let mut st = lock(&self.state);
                loop {
                    if st.shutting_down {
                        return;
                    }
                    let mut wake_in = None;
                    if self.poison.get().is_none() && !st.manual {
                        let v = st.versions.current();
                        let mut task = picker::pick(&v, &po, &st.busy);
                        if let (None, Some((level, number))) = (&task, st.read_wanted) {
                            match picker::pick_for_reads(&v, &po, &st.busy, level, number) {
                                ReadPick::Task(t) => {
                                    st.read_wanted = None;
                                    let asked = t.inputs.iter().find(|f| f.number == number);
                                    if asked.is_none_or(|f| f.read_budget.afford(t.input_bytes())) {
                                        Counters::add(&self.counters.read_compactions, 1);
                                        task = Some(t);
                                    }
                                }
                                ReadPick::Wait => {}
                                ReadPick::Drop => st.read_wanted = None,
                            }
                        }
                        if let (None, Some(after)) = (&task, idle_after) {
                            match self.idle_drain(&st, &v, &po, &mut quiet, after) {
                                Idle::Drain(t) => task = Some(t),
                                Idle::Freeze => {
                                    drop(st);
                                    // A no-op if a write or the other thread froze it first.
                                    let r = self.freeze();
                                    st = lock(&self.state);
                                    match r {
                                        Ok(()) => continue,
                                        // Closing, or writes stopped: look again later
                                        // rather than spin.
                                        Err(e) => {
                                            tracing::debug!(error = %e, "idle freeze refused");
                                            wake_in = Some(after);
                                        }
                                    }
                                }
                                Idle::WakeIn(d) => wake_in = Some(d),
                                Idle::Nothing => {}
                            }
                        }
                        if let Some(t) = task {
                            st.busy.extend(t.file_numbers());
                            st.running += 1;
                            break t;
                        }
                    }
                    st = match wake_in {
                        Some(d) => {
                            let r = self.bg_cv.wait_timeout(st, d);
                            r.unwrap_or_else(|p| p.into_inner()).0
                        }
                        None => self.bg_cv.wait(st).unwrap_or_else(|p| p.into_inner()),
                    };
                }
            };
            let numbers: Vec<u64> = task.file_numbers().collect();
            let r = self.run_task(task);
            {
                let mut st = lock(&self.state);
                for n in numbers {
                    st.busy.remove(&n);
                }
                st.running -= 1;
            }
            self.bg_cv.notify_all();
            if let Err(e) = r {
                self.set_poison(&e);
            }
        }
    }

    /// The idle drain's next step (see `Options::idle_compaction_ms`), when no other task
    /// is due: while level 0 holds tables, wait until writes have been quiet for `after`;
    /// then, if reads pay for level 0, freeze a non-empty memtable (so that the drain takes
    /// its entries too, and scans stop merging it), wait for its flush, and drain.
    fn idle_drain(
        &self,
        st: &State,
        v: &Version,
        po: &PickerOptions,
        quiet: &mut Quiet,
        after: Duration,
    ) -> Idle {
        if v.levels.first().is_none_or(Vec::is_empty) {
            return Idle::Nothing;
        }
        let left = quiet.left(self.last_seq.load(Ordering::Relaxed), after);
        if !left.is_zero() {
            return Idle::WakeIn(left);
        }
        if !st.imms.is_empty() {
            return Idle::Nothing; // the flush's end wakes us
        }
        match picker::pick_idle(v, po, &st.busy) {
            Some(_) if !st.mem.is_empty() => Idle::Freeze,
            Some(t) => {
                Counters::add(&self.counters.idle_compactions, 1);
                Idle::Drain(t)
            }
            // Reads have not charged level 0 yet, or it is too small for level 1.
            None => Idle::WakeIn(after),
        }
    }

    /// Runs one task and installs its result: outputs in steps while it runs (see
    /// `compaction::run`, "Installing in steps"), the rest in one edit at the end.
    pub(crate) fn run_task(&self, task: Task) -> Result<()> {
        if task.trivial_move {
            let removed = task
                .inputs
                .iter()
                .chain(&task.next_inputs)
                .map(|f| (f.level, f.number))
                .collect();
            let moved = task
                .inputs
                .iter()
                .map(|f| Arc::new(f.at_level(task.output_level as u32)))
                .collect();
            let mut st = lock(&self.state);
            st.versions.log_and_apply(moved, removed, None, 0)?;
            self.refresh_pressure(&mut st);
            self.install_sv(&st);
            drop(st);
            Counters::add(&self.counters.compactions, 1);
            Counters::add(&self.counters.trivial_moves, 1);
            tracing::debug!(
                level = task.level,
                tables = task.inputs.len(),
                "tables moved down without rewriting"
            );
            return Ok(());
        }
        let (level, output_level) = (task.level, task.output_level);
        let inputs = task.inputs.len() + task.next_inputs.len();
        let snapshots = self.snapshot_seqs();
        let spec = run::OutputSpec {
            fs: &self.fs,
            dir: &self.dir,
            table: table_options(&self.opts),
            target_file_size: self.opts.target_file_size,
            cache: cache_to_offer(&self.opts, &self.block_cache),
        };
        // Outputs installed by steps stay busy until the task ends, as its inputs do.
        let mut stepped: Vec<u64> = Vec::new();
        let mut steps = 0u64;
        let mut step = |s: run::Step| {
            steps += 1;
            self.install_step(s, &mut stepped)
        };
        let outcome = run::run(
            task,
            &spec,
            &snapshots,
            &mut || lock(&self.state).versions.new_file_number(),
            Some(&mut step),
        );
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.release_busy(&stepped);
                return Err(e);
            }
        };
        let installed = self.install_outcome(&outcome);
        self.release_busy(&stepped);
        installed?;
        let c = &self.counters;
        Counters::add(&c.compactions, 1);
        Counters::add(&c.compaction_bytes_read, outcome.bytes_read);
        Counters::add(&c.compaction_bytes_written, outcome.bytes_written);
        Counters::add(&c.table_bytes_written, outcome.bytes_written);
        tracing::info!(
            level,
            output_level,
            inputs,
            outputs = outcome.outputs.len() + stepped.len(),
            steps,
            bytes_read = outcome.bytes_read,
            bytes_written = outcome.bytes_written,
            dropped = outcome.dropped,
            "compaction installed"
        );
        Ok(())
    }

    /// Installs one step of a running compaction: its outputs added (and held busy, their
    /// numbers pushed to `stepped`), the inputs it replaces removed and marked for deletion.
    fn install_step(&self, s: run::Step, stepped: &mut Vec<u64>) -> Result<()> {
        let vc = VlogChange {
            discard: s.vlog_discard.into_iter().collect(),
            ..VlogChange::default()
        };
        self.install_edit(&s.outputs, &s.replaced, vc, Some(stepped))?;
        Counters::add(&self.counters.compaction_steps, 1);
        Ok(())
    }

    /// The last edit of a compaction: the outputs left added, the inputs left removed.
    fn install_outcome(&self, outcome: &run::Outcome) -> Result<()> {
        let vc = VlogChange {
            discard: outcome.vlog_discard.iter().map(|(&n, &b)| (n, b)).collect(),
            ..VlogChange::default()
        };
        self.install_edit(&outcome.outputs, &outcome.remaining, vc, None)
    }

    /// One edit of a compaction: `outputs` opened and added, `removed` taken out of the
    /// version and marked for deletion. With `busy`, the outputs are held busy and their
    /// numbers pushed there (until the task ends).
    fn install_edit(
        &self,
        outputs: &[NewFile],
        removed: &[Arc<FileMeta>],
        vc: VlogChange,
        busy: Option<&mut Vec<u64>>,
    ) -> Result<()> {
        let opener = lock(&self.state).versions.table_opener();
        let metas = outputs
            .iter()
            .map(|nf| opener.open(nf))
            .collect::<Result<Vec<_>>>()?;
        let deletes = removed.iter().map(|f| (f.level, f.number)).collect();
        let mut st = lock(&self.state);
        st.versions
            .log_and_apply_with(metas, deletes, None, 0, vc)?;
        if let Some(busy) = busy {
            st.busy.extend(outputs.iter().map(|f| f.number));
            busy.extend(outputs.iter().map(|f| f.number));
        }
        self.refresh_pressure(&mut st);
        self.install_sv(&st);
        drop(st);
        for f in removed {
            f.table.mark_obsolete(self.fs.clone());
        }
        Ok(())
    }

    /// Frees the tables a finished task held busy beyond its inputs.
    fn release_busy(&self, numbers: &[u64]) {
        if numbers.is_empty() {
            return;
        }
        let mut st = lock(&self.state);
        for n in numbers {
            st.busy.remove(n);
        }
    }

    /// Flushes, then waits until no compaction is owed: level 0 below its trigger and no
    /// pending compaction bytes. Polls every 20 ms (the wait is for benchmarks and tools,
    /// not for a hot path).
    pub fn wait_for_compaction(&self) -> Result<()> {
        self.flush()?;
        loop {
            // A failed background compaction stops the write path: report it, never spin.
            self.check_writable()?;
            let pending = lock(&self.state).pressure.pending_bytes;
            let l0 = self.sv.load().version.levels.first().map_or(0, Vec::len);
            if pending == 0 && l0 < self.opts.level0_compaction_trigger {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Compacts every level overlapping `[lo, hi]` down to the deepest level holding data in
    /// the range.
    pub fn compact_range(&self, lo: Bound<Vec<u8>>, hi: Bound<Vec<u8>>) -> Result<()> {
        self.flush()?;
        {
            let mut st = lock(&self.state);
            st.manual = true;
            while st.running > 0 && !st.shutting_down {
                st = self.bg_cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        let r = self.compact_range_paused(&lo, &hi);
        lock(&self.state).manual = false;
        self.bg_cv.notify_all();
        r
    }

    fn compact_range_paused(&self, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Result<()> {
        let (lower, upper) = (as_slices(lo), as_slices(hi));
        let in_range =
            |f: &Arc<FileMeta>| overlaps(user_key(&f.smallest), user_key(&f.largest), lower, upper);
        let (deepest, levels) = {
            let v = lock(&self.state).versions.current();
            let deepest = v
                .levels
                .iter()
                .rposition(|files| files.iter().any(in_range));
            (deepest.unwrap_or(0), v.levels.len())
        };
        let last_output = deepest.max(1).min(levels.saturating_sub(1));
        for level in 0..last_output {
            self.check_writable()?;
            let v = lock(&self.state).versions.current();
            // L0 tables overlap one another: all of them go down together.
            let inputs: Vec<Arc<FileMeta>> = if level == 0 {
                v.levels[0].clone()
            } else {
                v.levels[level]
                    .iter()
                    .filter(|f| in_range(f))
                    .cloned()
                    .collect()
            };
            let task = picker::task_for(&v, level, inputs, &HashSet::new(), 0.0);
            // The version would keep every input alive until the task ends: the tables
            // its steps replace are deleted as it goes.
            drop(v);
            if let Some(mut task) = task {
                task.trivial_move = false;
                self.run_task(task)?;
            }
        }
        Ok(())
    }
}
