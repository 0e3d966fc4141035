//! Running a compaction task: merge, drop what no reader can see, write outputs, install.
//!
//! Which versions survive, for each user key (newest first): snapshots cut the sequence
//! space into stripes (`seq <= s1`, `s1 < seq <= s2`, ..., after the newest snapshot); only
//! the newest version of each stripe can be read by anyone, so older versions in the same
//! stripe are dropped. A tombstone in the oldest stripe of a bottommost compaction hides
//! nothing any reader needs and is dropped too. Iterators pin the tables they read, so they
//! need no stripe: input files are deleted only when the last reader releases them.
//!
//! A dropped entry that points into the value log adds its record's length to that file's
//! discard count, which garbage collection reads to choose files worth rewriting. The count
//! is recorded by the edit that removes the table the entry came from: the [`Step`] that
//! removes an output-level input, the last edit for the upper level's inputs. A crash
//! between edits then neither loses a count (the removed table's entries are never seen
//! again) nor records one twice (the tables still listed are merged again, their drops
//! counted then).
//!
//! Inputs are read around the block cache (a compaction reads each block once; caching
//! them would evict what readers use), with every checksum verified.
//!
//! Outputs are cut at `target_file_size`, but never between two versions of one user key,
//! so user-key ranges of one level never share a key. Every edit that adds outputs comes
//! after they and the directory are synced (RELIABILITY rule 3).
//!
//! **Installing in steps.** The output level's inputs are sorted and disjoint, and the merge
//! passes them one after another. Once it has passed one (the next user key is past its
//! largest) and no output is open, every key of the finished outputs and of the inputs passed
//! lies before that next key, and the first input left starts at it or later. Swapping them
//! then ([`Step`]: outputs added, inputs passed removed, in one manifest edit) keeps the
//! output level sorted and disjoint, and reads right: the upper level's inputs stay in the
//! version until the last edit, above the outputs, with the same or newer versions of every
//! key the outputs hold; a tombstone dropped from the outputs is still read from there. So
//! the passed inputs can be deleted while the task runs, and the space a compaction needs on
//! top of its inputs is a few outputs, not all of them (an L0 -> L1 compaction rewrites all
//! of L1 when the keys are random). So that steps come at every input's end, outputs are
//! cut there once they hold half the target size, and inside an input at the target only
//! when the input's rest makes an output of its own (else at twice the target): see
//! `cut_here`.
//! The last edit adds the remaining outputs and removes the upper level's inputs and the
//! output level's inputs left. A crash between edits leaves a version that reads right,
//! and the next compaction finishes the job.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::picker::Task;
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::iter::merging::{Direction, MergingIter};
use crate::iter::InternalIterator;
use crate::key::{parse_internal_key, user_key, Kind};
use crate::manifest::{FileMeta, NewFile};
use crate::sstable::{create_table, TableBuilder, TableOptions};
use crate::vlog::format::Handle;

/// What a compaction produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// New tables for the output level not yet installed by a [`Step`].
    pub outputs: Vec<NewFile>,
    /// Inputs not yet removed by a [`Step`]: every input of the upper level, and the output
    /// level's inputs left.
    pub remaining: Vec<Arc<FileMeta>>,
    /// Bytes read from input tables.
    pub bytes_read: u64,
    /// Bytes written to output tables (steps' included).
    pub bytes_written: u64,
    /// Entries dropped (shadowed versions and tombstones).
    pub dropped: u64,
    /// Value-log bytes no longer referenced, by file number, not yet recorded by a
    /// [`Step`].
    pub vlog_discard: BTreeMap<u64, u64>,
}

/// Finished outputs and the output level's inputs they replace, to install while the task
/// runs (see the module docs, "Installing in steps"). The outputs are synced, and the
/// directory too.
#[derive(Debug)]
pub struct Step {
    /// New tables for the output level.
    pub outputs: Vec<NewFile>,
    /// Inputs of the output level passed by the merge; the merge no longer reads them.
    pub replaced: Vec<Arc<FileMeta>>,
    /// Value-log bytes that entries of `replaced` pointed at and the merge dropped, by
    /// file number (see the module docs).
    pub vlog_discard: BTreeMap<u64, u64>,
}

/// The stripe of `seq` among ascending snapshot sequence numbers.
fn stripe(snapshots: &[u64], seq: u64) -> usize {
    snapshots.partition_point(|&s| s < seq)
}

/// Where and how a compaction writes its output tables.
pub struct OutputSpec<'a> {
    /// The filesystem and directory of the tables.
    pub fs: &'a Arc<dyn FileSystem>,
    /// The database directory.
    pub dir: &'a Path,
    /// Table-building settings.
    pub table: TableOptions,
    /// An output is cut between user keys once it reaches this size.
    pub target_file_size: u64,
    /// The block cache the outputs' blocks are offered to, if any.
    pub cache: Option<&'a Arc<BlockCache>>,
}

/// Writes the merged, filtered inputs of `task` into new tables numbered by `next_number`,
/// handing finished outputs and the inputs they replace to `step` whenever they can be
/// installed before the end (`None`: everything is left for one edit at the end).
///
/// `snapshots` are the live snapshot sequence numbers, ascending.
///
/// # Errors
///
/// I/O or corruption reading inputs or writing outputs, or `step`'s error; outputs not yet
/// handed to `step` are left as orphans for the next open to delete (they are not in the
/// manifest).
pub fn run(
    task: Task,
    spec: &OutputSpec<'_>,
    snapshots: &[u64],
    next_number: &mut dyn FnMut() -> u64,
    mut step: Option<&mut dyn FnMut(Step) -> Result<()>>,
) -> Result<Outcome> {
    let mut out = Outcome {
        bytes_read: task.input_bytes(),
        ..Outcome::default()
    };
    let Task {
        inputs,
        mut next_inputs,
        output_level,
        bottommost,
        ..
    } = task;
    next_inputs.sort_by(|a, b| user_key(&a.smallest).cmp(user_key(&b.smallest)));
    let children: Vec<Box<dyn InternalIterator>> = inputs
        .iter()
        .chain(&next_inputs)
        .map(|f| Box::new(f.table.iter_verified()) as Box<dyn InternalIterator>)
        .collect();
    let mut merge = MergingIter::new(children, Direction::Forward);
    merge.position(None)?;
    let mut builder: Option<(TableBuilder, u64)> = None;
    let mut current_key: Vec<u8> = Vec::new();
    let mut last_stripe: Option<usize> = None;
    // Output-level inputs wholly before the current user key (a prefix of `next_inputs`).
    let mut passed = 0;
    // What `cut_here` knows of the open output.
    let mut open = Open::default();
    // Output bytes per byte of the output level's inputs, as a fraction (see `cut_here`).
    let scale = (
        out.bytes_read,
        next_inputs.iter().map(|f| f.size).sum::<u64>(),
    );
    // Children from this index on read the output level's inputs.
    let upper = inputs.len();
    // Value-log bytes dropped from the output level's inputs since the last step.
    let mut lower_discard = BTreeMap::new();
    while merge.valid() {
        let (uk, seq, kind) = parse_internal_key(merge.key())
            .ok_or_else(|| Error::corruption("(compaction input)", 0, "malformed internal key"))?;
        if uk != current_key.as_slice() {
            current_key.clear();
            current_key.extend_from_slice(uk);
            last_stripe = None;
            let before = passed;
            while passed < next_inputs.len()
                && user_key(&next_inputs[passed].largest) < current_key.as_slice()
            {
                passed += 1;
            }
            let stepping = step.is_some() && passed < next_inputs.len();
            let crossed = passed > before && step.is_some();
            // Cut the output between user keys once it is large enough. While steps can
            // come, outputs end where the merge passes an input's end (RocksDB's
            // `level_compaction_dynamic_file_size` aligns outputs with the level below the
            // same way), since only there can they be installed: see `cut_here`.
            let place = if crossed {
                Place::InputEnd
            } else if stepping {
                Place::Within(&next_inputs[passed], merge.key(), scale)
            } else {
                Place::Free
            };
            let cut = match builder.as_ref() {
                Some((b, _)) => {
                    cut_here(b.estimated_size(), spec.target_file_size, place, &mut open)?
                }
                None => false,
            };
            if crossed {
                // The next output starts at this input's end, or spans it.
                open = Open::default();
            }
            if cut {
                if let Some((b, number)) = builder.take() {
                    push_output(&mut out, b, number, output_level)?;
                }
            }
            if let (true, None, Some(step)) = (crossed, &builder, step.as_mut()) {
                // Only the sources passed are exhausted: let go of their tables so that
                // the step's removal deletes them.
                merge.release_exhausted();
                sync_dir_for(spec, &out.outputs)?;
                // Every entry dropped from the output level so far came from the inputs
                // passed: the first one left starts at the current key or later.
                step(Step {
                    outputs: std::mem::take(&mut out.outputs),
                    replaced: next_inputs.drain(..passed).collect(),
                    vlog_discard: std::mem::take(&mut lower_discard),
                })?;
                passed = 0;
            }
        }
        let st = stripe(snapshots, seq);
        let drop = if last_stripe == Some(st) {
            true // shadowed by a newer version in the same stripe
        } else {
            last_stripe = Some(st);
            kind == Kind::Delete && bottommost && st == 0
        };
        if drop {
            out.dropped += 1;
            if kind == Kind::Pointer {
                let h = Handle::decode(merge.value()).ok_or_else(|| {
                    Error::corruption("(compaction input)", 0, "malformed value-log handle")
                })?;
                let counts = if merge.source() >= upper {
                    &mut lower_discard
                } else {
                    &mut out.vlog_discard
                };
                *counts.entry(h.file).or_insert(0) += h.len;
            }
        } else {
            if builder.is_none() {
                let number = next_number();
                let b = create_table(spec.fs, spec.dir, spec.table, number, spec.cache)?;
                builder = Some((b, number));
            }
            if let Some((b, _)) = builder.as_mut() {
                b.add(merge.key(), merge.value())?;
            }
        }
        merge.advance()?;
    }
    if let Some((b, number)) = builder.take() {
        push_output(&mut out, b, number, output_level)?;
    }
    sync_dir_for(spec, &out.outputs)?;
    for (file, bytes) in lower_discard {
        *out.vlog_discard.entry(file).or_insert(0) += bytes;
    }
    out.remaining = inputs.into_iter().chain(next_inputs).collect();
    Ok(out)
}

/// Where the merge stands when an output may be cut.
enum Place<'a> {
    /// At the first key past the end of an output-level input: a step can follow a cut.
    InputEnd,
    /// Before the end of this output-level input, at this internal key; with the task's
    /// input bytes over its output-level input bytes.
    Within(&'a FileMeta, &'a [u8], (u64, u64)),
    /// No step can come (every output-level input is passed, or nobody installs steps).
    Free,
}

/// What [`cut_here`] keeps about the open output.
#[derive(Debug, Default)]
struct Open {
    /// Past the target, held open to the end of the input being passed.
    holding: bool,
    /// Began inside an output-level input, where the output before it was cut: it ends at
    /// that input's end whatever its size, so that the step that cut counted on comes.
    split: bool,
}

/// Whether to cut an output of `size` bytes at `place`.
///
/// Without steps, outputs are cut at the target. With them, outputs end where an input does
/// once they hold half the target (or began inside that input). Inside an input, an output
/// reaching the target is cut there only if the input's rest makes an output of three
/// quarters of the target: the rest's bytes from the input's index, scaled by the task's
/// input bytes over its output-level input bytes (the upper level's entries land in the
/// same outputs). Otherwise it is held open to the input's end, up to twice the target.
/// Cutting inside an input wherever the output reached twice the target left the input's
/// tail in an output still open at its end: once inputs grew a little past twice the target
/// (they did, to 30-33 MiB), that was every input, no step came, and the task held its
/// inputs and all its outputs on disk at once.
fn cut_here(size: u64, target: u64, place: Place<'_>, open: &mut Open) -> Result<bool> {
    let cut = match place {
        Place::InputEnd => size >= target / 2 || open.split,
        Place::Free => size >= target,
        Place::Within(..) if size >= target.saturating_mul(2) => true,
        Place::Within(..) if size < target || open.holding => false,
        Place::Within(input, key, (all, lower)) => {
            let rest = input.table.data_bytes_from(key)?;
            let rest = u128::from(rest) * u128::from(all) / u128::from(lower.max(1));
            let rest = u64::try_from(rest).unwrap_or(u64::MAX);
            open.holding = rest < target / 4 * 3;
            !open.holding
        }
    };
    if cut {
        *open = Open {
            holding: false,
            split: matches!(place, Place::Within(..)),
        };
    }
    Ok(cut)
}

/// Finishes (and syncs) an output and counts it.
fn push_output(out: &mut Outcome, b: TableBuilder, number: u64, level: usize) -> Result<()> {
    let f = NewFile::from_built(level as u32, number, b.finish()?);
    out.bytes_written += f.size;
    out.outputs.push(f);
    Ok(())
}

/// Syncs the directory when `outputs` created entries in it.
fn sync_dir_for(spec: &OutputSpec<'_>, outputs: &[NewFile]) -> Result<()> {
    if outputs.is_empty() {
        return Ok(());
    }
    spec.fs
        .sync_dir(spec.dir)
        .map_err(|e| Error::io("syncing directory", spec.dir, e))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::filename::table_path;
    use crate::fs::MemFs;
    use crate::key::make_internal_key;
    use crate::options::Compression;
    use crate::sstable::{Table, TableOpenOptions};

    /// A user key's newest entry in a table: (sequence, is a put, value).
    type Newest = BTreeMap<Vec<u8>, (u64, bool, Vec<u8>)>;

    const DIR: &str = "/run";

    fn table_options() -> TableOptions {
        TableOptions {
            block_size: 512,
            restart_interval: 4,
            compression: Compression::None,
            bloom_bits_per_key: 0,
        }
    }

    fn open(fs: &Arc<dyn FileSystem>, nf: &NewFile) -> Arc<FileMeta> {
        let path = table_path(Path::new(DIR), nf.number);
        let table = Table::open(
            &**fs,
            &path,
            nf.number,
            Some(nf.size),
            &TableOpenOptions::default(),
        )
        .unwrap();
        Arc::new(FileMeta {
            number: nf.number,
            level: nf.level,
            size: nf.size,
            file_crc: nf.file_crc,
            smallest: nf.smallest.clone(),
            largest: nf.largest.clone(),
            smallest_seq: nf.smallest_seq,
            largest_seq: nf.largest_seq,
            num_entries: nf.num_entries,
            table,
            read_budget: crate::manifest::ReadBudget::for_size(nf.size),
        })
    }

    /// A table of `entries` (user key, sequence, put or delete), sorted as tables are.
    fn table(
        fs: &Arc<dyn FileSystem>,
        number: u64,
        level: u32,
        mut entries: Vec<(Vec<u8>, u64, bool)>,
    ) -> Arc<FileMeta> {
        entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut b = create_table(fs, Path::new(DIR), table_options(), number, None).unwrap();
        for (k, seq, put) in &entries {
            let kind = if *put { Kind::Put } else { Kind::Delete };
            b.add(&make_internal_key(k, *seq, kind as u8), &value(k, *seq))
                .unwrap();
        }
        open(fs, &NewFile::from_built(level, number, b.finish().unwrap()))
    }

    /// An empty in-memory filesystem holding `DIR`.
    fn mem_fs() -> Arc<dyn FileSystem> {
        let mem = MemFs::new();
        mem.create_dir_all(Path::new(DIR)).unwrap();
        Arc::new(mem)
    }

    /// A bottommost level-0 -> level-1 task.
    fn l0_to_l1(inputs: Vec<Arc<FileMeta>>, next_inputs: Vec<Arc<FileMeta>>) -> Task {
        Task {
            level: 0,
            output_level: 1,
            inputs,
            next_inputs,
            trivial_move: false,
            bottommost: true,
            score: 1.0,
        }
    }

    /// Outputs in `DIR` of `fs`, cut at `target_file_size`.
    fn output_spec(fs: &Arc<dyn FileSystem>, target_file_size: u64) -> OutputSpec<'_> {
        OutputSpec {
            fs,
            dir: Path::new(DIR),
            table: table_options(),
            target_file_size,
            cache: None,
        }
    }

    /// Runs `task` with no snapshots, numbering outputs from 101, handing steps to `step`.
    fn run_with_steps(
        task: Task,
        spec: &OutputSpec<'_>,
        step: &mut dyn FnMut(Step) -> Result<()>,
    ) -> Outcome {
        let mut number = 100;
        let mut next_number = || {
            number += 1;
            number
        };
        run(task, spec, &[], &mut next_number, Some(step)).unwrap()
    }

    fn value(k: &[u8], seq: u64) -> Vec<u8> {
        let mut v = k.to_vec();
        v.extend_from_slice(&seq.to_le_bytes());
        v.resize(40 + (seq % 50) as usize, b'v');
        v
    }

    fn newest(f: &FileMeta) -> Newest {
        let mut out = Newest::new();
        let mut it = f.table.iter();
        it.seek_to_first().unwrap();
        while it.valid() {
            let (uk, seq, kind) = parse_internal_key(it.key()).unwrap();
            out.entry(uk.to_vec())
                .or_insert((seq, kind == Kind::Put, it.value().to_vec()));
            it.next().unwrap();
        }
        out
    }

    /// What a read finds in a version made of `upper` over the sorted level `level`.
    fn read(upper: &[Newest], level: &[(Arc<FileMeta>, Newest)], k: &[u8]) -> Option<Vec<u8>> {
        let found = upper.iter().filter_map(|t| t.get(k)).max_by_key(|e| e.0);
        let found = found.or_else(|| {
            let i = level.partition_point(|(f, _)| user_key(&f.largest) < k);
            level
                .get(i)
                .filter(|(f, _)| user_key(&f.smallest) <= k)
                .and_then(|(_, t)| t.get(k))
        });
        found.and_then(|(_, put, v)| put.then(|| v.clone()))
    }

    /// Random level-1 tables (some tiny, some many times the output size) under random
    /// level-0 tables of newer puts and deletes, compacted with a check after every step:
    /// the level stays sorted and disjoint, and every key reads its newest put (or nothing
    /// after a delete). Then the same after the last edit.
    #[test]
    fn every_step_leaves_a_version_that_reads_right() {
        for seed in 1..=60u64 {
            let mut rnd = crate::testing::seeded_rng(seed);
            let fs = mem_fs();
            let key = |i: u64| format!("k{i:05}").into_bytes();
            let universe = 3000;
            let mut number = 0;
            let mut seq = 0;
            // Level 1: sorted distinct keys cut into runs of random length.
            let mut keys: Vec<u64> = (0..universe).filter(|_| rnd(3) == 0).collect();
            keys.dedup();
            let mut next_inputs = Vec::new();
            let mut at = 0;
            while at < keys.len() {
                let n = [1, 5, 40, 200][rnd(4) as usize].min(keys.len() - at);
                let entries = keys[at..at + n]
                    .iter()
                    .map(|&k| {
                        seq += 1;
                        (key(k), seq, rnd(10) != 0)
                    })
                    .collect();
                number += 1;
                next_inputs.push(table(&fs, number, 1, entries));
                at += n;
            }
            let inputs: Vec<Arc<FileMeta>> = (0..1 + rnd(3))
                .map(|_| {
                    let entries = (0..rnd(400))
                        .map(|_| {
                            seq += 1;
                            (key(rnd(universe)), seq, rnd(4) != 0)
                        })
                        .collect();
                    number += 1;
                    table(&fs, number, 0, entries)
                })
                .collect();
            let upper: Vec<Newest> = inputs.iter().map(|f| newest(f)).collect();
            let mut level: Vec<(Arc<FileMeta>, Newest)> =
                next_inputs.iter().map(|f| (f.clone(), newest(f))).collect();
            let expected: Vec<Option<Vec<u8>>> = (0..universe)
                .map(|k| read(&upper, &level, &key(k)))
                .collect();
            let check = |level: &[(Arc<FileMeta>, Newest)], upper: &[Newest], when: &str| {
                for w in level.windows(2) {
                    assert!(
                        user_key(&w[0].0.largest) < user_key(&w[1].0.smallest),
                        "seed {seed}, {when}: tables {} and {} overlap",
                        w[0].0.number,
                        w[1].0.number
                    );
                }
                for k in 0..universe {
                    let got = read(upper, level, &key(k));
                    assert_eq!(got, expected[k as usize], "seed {seed}, {when}: key {k}");
                }
            };
            let task = l0_to_l1(inputs, next_inputs);
            let spec = output_spec(&fs, [1 << 10, 4 << 10, 16 << 10][rnd(3) as usize]);
            let mut steps = 0;
            let apply = |level: &mut Vec<(Arc<FileMeta>, Newest)>,
                         add: &[NewFile],
                         remove: &[Arc<FileMeta>]| {
                level.retain(|(f, _)| remove.iter().all(|r| r.number != f.number));
                for nf in add {
                    let f = open(&fs, nf);
                    let t = newest(&f);
                    level.push((f, t));
                }
                level.sort_by(|a, b| user_key(&a.0.smallest).cmp(user_key(&b.0.smallest)));
            };
            let mut on_step = |s: Step| -> Result<()> {
                steps += 1;
                apply(&mut level, &s.outputs, &s.replaced);
                check(&level, &upper, &format!("step {steps}"));
                Ok(())
            };
            let mut next_number = || {
                number += 1;
                number
            };
            let out = run(task, &spec, &[], &mut next_number, Some(&mut on_step)).unwrap();
            assert!(steps > 0 || keys.len() < 10, "seed {seed}: no step");
            apply(&mut level, &out.outputs, &out.remaining);
            check(&level, &[], "at the end");
        }
    }

    /// Output-level inputs of one to three times the output size under a level-0 table
    /// overwriting keys across all of them: a step comes at the end of every input but the
    /// last (whose outputs the last edit installs), and outputs stay between half and twice
    /// the target. Cut inside an input wherever the output reached twice the target,
    /// inputs a little over twice the target left each input's tail in an open output at
    /// its end, and no step came there.
    #[test]
    fn a_step_comes_at_every_inputs_end() {
        let target: u64 = 16 << 10;
        for tenths in [10u64, 13, 17, 19, 21, 25, 32] {
            let fs = mem_fs();
            let key = |i: u64| format!("k{i:06}").into_bytes();
            // ~88 bytes a stored entry: keys per input for `tenths` tenths of the target.
            let per_input = target * tenths / 10 / 88;
            let mut seq = 0;
            let next_inputs: Vec<Arc<FileMeta>> = (0..4)
                .map(|t| {
                    let entries = (t * per_input..(t + 1) * per_input)
                        .map(|k| {
                            seq += 1;
                            (key(k), seq, true)
                        })
                        .collect();
                    table(&fs, t + 1, 1, entries)
                })
                .collect();
            let sizes: Vec<u64> = next_inputs.iter().map(|f| f.size).collect();
            let overwrites = (0..4 * per_input)
                .step_by(7)
                .map(|k| {
                    seq += 1;
                    (key(k), seq, true)
                })
                .collect();
            let inputs = vec![table(&fs, 10, 0, overwrites)];
            let task = l0_to_l1(inputs, next_inputs);
            let spec = output_spec(&fs, target);
            let mut replaced = Vec::new();
            let mut outputs = Vec::new();
            let mut on_step = |s: Step| -> Result<()> {
                replaced.push(s.replaced.iter().map(|f| f.number).collect::<Vec<_>>());
                outputs.extend(s.outputs.iter().map(|f| f.size));
                Ok(())
            };
            let out = run_with_steps(task, &spec, &mut on_step);
            let what = format!("inputs of {sizes:?} bytes, target {target}");
            assert_eq!(replaced, [[1], [2], [3]], "{what}: one step per input end");
            let last = out.outputs.last().map(|f| f.size);
            outputs.extend(out.outputs.iter().map(|f| f.size));
            for &size in &outputs {
                assert!(size <= 2 * target + 1024, "{what}: output of {size} bytes");
                assert!(
                    size >= target / 2 || Some(size) == last,
                    "{what}: outputs {outputs:?}"
                );
            }
        }
    }

    /// Value-log discards ride with the edit that removes the table whose entry was dropped:
    /// each step carries exactly those of the output-level inputs it replaces, the last
    /// edit those of the rest and of the upper level's inputs.
    #[test]
    fn discards_ride_with_the_edit_that_removes_their_table() {
        let fs = mem_fs();
        let key = |k: u64| format!("k{k:05}").into_bytes();
        // Output level: pointers into files 7 and 8; upper level: pointers into file 9.
        let lower = |k: u64| Handle {
            file: 7 + k % 2,
            offset: k * 300,
            len: 100 + k,
        };
        let upper = |k: u64| Handle {
            file: 9,
            offset: k * 300,
            len: 1000 + k,
        };
        let build = |number: u64, level: u32, entries: &[(u64, u64, Option<Handle>)]| {
            let mut b = create_table(&fs, Path::new(DIR), table_options(), number, None).unwrap();
            for &(k, seq, h) in entries {
                let (kind, value) = match h {
                    Some(h) => (Kind::Pointer, h.encode()),
                    None => (Kind::Put, value(&key(k), seq)),
                };
                b.add(&make_internal_key(&key(k), seq, kind as u8), &value)
                    .unwrap();
            }
            open(
                &fs,
                &NewFile::from_built(level, number, b.finish().unwrap()),
            )
        };
        let next_inputs: Vec<Arc<FileMeta>> = (0..4u64)
            .map(|t| {
                let entries: Vec<_> = (t * 100..(t + 1) * 100)
                    .map(|k| (k, k + 1, Some(lower(k))))
                    .collect();
                build(t + 1, 1, &entries)
            })
            .collect();
        // Two upper tables: pointers for every 5th key, puts over every 3rd and 10th.
        let pointers: Vec<_> = (0..400)
            .filter(|k| k % 5 == 0)
            .map(|k| (k, 2000 + k, Some(upper(k))))
            .collect();
        let puts: Vec<_> = (0..400)
            .filter(|k| k % 3 == 0 || k % 10 == 0)
            .map(|k| (k, 3000 + k, None))
            .collect();
        let inputs = vec![build(10, 0, &pointers), build(11, 0, &puts)];
        let shadowed = |k: u64| k.is_multiple_of(3) || k.is_multiple_of(5);
        let expect_lower = |tables: &[Arc<FileMeta>]| {
            let mut m = BTreeMap::new();
            for t in tables {
                for k in (t.number - 1) * 100..t.number * 100 {
                    if shadowed(k) {
                        *m.entry(lower(k).file).or_insert(0) += lower(k).len;
                    }
                }
            }
            m
        };
        let task = l0_to_l1(inputs, next_inputs);
        let spec = output_spec(&fs, 1 << 10);
        let mut steps = 0;
        let mut on_step = |s: Step| -> Result<()> {
            steps += 1;
            assert_eq!(s.vlog_discard, expect_lower(&s.replaced), "step {steps}");
            Ok(())
        };
        let out = run_with_steps(task, &spec, &mut on_step);
        assert!(steps >= 3, "a step at each output-level input's end");
        let lower_left: Vec<_> = out
            .remaining
            .iter()
            .filter(|f| f.level == 1)
            .cloned()
            .collect();
        let mut expected = expect_lower(&lower_left);
        let upper_dropped: u64 = (0..400)
            .filter(|k| k % 5 == 0 && (k % 3 == 0 || k % 10 == 0))
            .map(|k| upper(k).len)
            .sum();
        expected.insert(9, upper_dropped);
        assert_eq!(out.vlog_discard, expected, "the last edit's discards");
    }

    #[test]
    fn stripes() {
        let snaps = [10, 20];
        assert_eq!(stripe(&snaps, 5), 0);
        assert_eq!(stripe(&snaps, 10), 0);
        assert_eq!(stripe(&snaps, 11), 1);
        assert_eq!(stripe(&snaps, 25), 2);
        assert_eq!(stripe(&[], 25), 0);
    }
}
