//! Readable dumps of the on-disk artifacts: a table, a WAL segment, the manifest. Each is a
//! serializable report (for `--json`) whose `Display` is the tool's text output.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::batch::decode_batch;
use crate::error::{Error, Result};
use crate::filename::{current_path, manifest_path, parse_file_name, FileKind};
use crate::fs::FileSystem;
use crate::iter::InternalIterator;
use crate::key::{parse_internal_key, Kind};
use crate::manifest::{VersionEdit, VersionSet};
use crate::sstable::{Table, TableOpenOptions};
use crate::wal::format::{LogKind, RecordType};
use crate::wal::read_log;

/// Renders bytes: UTF-8 without control characters as is, else escaped.
pub fn show_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => b.escape_ascii().to_string(),
    }
}

/// One table entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntryDump {
    /// User key, rendered.
    pub key: String,
    /// Sequence number.
    pub seq: u64,
    /// "put" or "delete".
    pub kind: &'static str,
    /// Value length.
    pub value_len: usize,
}

/// A table.
#[derive(Debug, Clone, Serialize)]
pub struct SstDump {
    /// File size.
    pub size: u64,
    /// Properties.
    pub properties: crate::sstable::props::TableProperties,
    /// Data blocks: (offset, stored size).
    pub blocks: Vec<(u64, u64)>,
    /// Filter bytes (0: none).
    pub filter_bytes: usize,
    /// Entries, when asked for.
    pub entries: Vec<EntryDump>,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Put => "put",
        Kind::Pointer => "vlog-pointer",
        Kind::Delete => "delete",
    }
}

/// Reads a table: properties, blocks, filter, and (with `entries`) every entry.
///
/// # Errors
///
/// `Corruption` or `Io` naming the file.
pub fn dump_sst(fs: &dyn FileSystem, path: &Path, entries: bool) -> Result<SstDump> {
    let t = Table::open(fs, path, 0, None, &TableOpenOptions::default())?;
    let blocks = t
        .data_block_handles()?
        .iter()
        .map(|h| (h.offset, h.size))
        .collect();
    let mut out = SstDump {
        size: t.size(),
        properties: t.properties().clone(),
        blocks,
        filter_bytes: t.filter_size(),
        entries: Vec::new(),
    };
    if entries {
        let mut it = t.iter_verified();
        it.seek_to_first()?;
        while it.valid() {
            let (uk, seq, kind) = parse_internal_key(it.key())
                .ok_or_else(|| Error::corruption(path, 0, "malformed internal key"))?;
            out.entries.push(EntryDump {
                key: show_bytes(uk),
                seq,
                kind: kind_name(kind),
                value_len: it.value().len(),
            });
            it.next()?;
        }
    }
    Ok(out)
}

impl fmt::Display for SstDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.properties;
        writeln!(f, "size: {} bytes", self.size)?;
        writeln!(
            f,
            "entries: {} ({} deletes), sequence {}..={}",
            p.num_entries, p.num_deletions, p.smallest_seq, p.largest_seq
        )?;
        writeln!(
            f,
            "raw keys: {} bytes, raw values: {} bytes, compression tag {}",
            p.raw_key_bytes, p.raw_value_bytes, p.compression
        )?;
        writeln!(
            f,
            "filter: {} bytes ({} bits per key)",
            self.filter_bytes, p.bloom_bits_per_key
        )?;
        writeln!(f, "data blocks: {}", self.blocks.len())?;
        for (i, (off, size)) in self.blocks.iter().enumerate() {
            writeln!(f, "  block {i}: offset {off}, {size} bytes")?;
        }
        if !self.entries.is_empty() {
            writeln!(f, "entries:")?;
            for e in &self.entries {
                writeln!(
                    f,
                    "  {} @{} {} ({} bytes)",
                    e.key, e.seq, e.kind, e.value_len
                )?;
            }
        }
        Ok(())
    }
}

/// One WAL record.
#[derive(Debug, Clone, Serialize)]
pub struct WalRecordDump {
    /// Offset in the file.
    pub offset: u64,
    /// First sequence number of the batch.
    pub seq: u64,
    /// Operations: (kind, key, value length).
    pub ops: Vec<(&'static str, String, usize)>,
}

/// A WAL segment.
#[derive(Debug, Clone, Serialize)]
pub struct WalDump {
    /// File number from the name.
    pub number: u64,
    /// Records.
    pub records: Vec<WalRecordDump>,
    /// Bytes of torn tail at the end.
    pub torn_tail_bytes: u64,
    /// Zeros after the last record: space preallocated for records not written yet.
    pub preallocated_bytes: u64,
}

/// Reads a WAL segment (a torn tail is reported, not an error).
///
/// # Errors
///
/// `InvalidArgument` for a name that is not `<n>.wal`; `Corruption` or `Io`.
pub fn dump_wal(fs: &dyn FileSystem, path: &Path) -> Result<WalDump> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let Some(FileKind::Wal(number)) = parse_file_name(name) else {
        return Err(Error::invalid("a WAL file is named <number>.wal"));
    };
    let data = fs
        .read_file(path)
        .map_err(|e| Error::io("reading", path, e))?;
    let log = read_log(path, data, LogKind::Wal, number, true)?;
    let mut records = Vec::new();
    for r in &log.records {
        if r.ty != RecordType::WalBatch {
            return Err(Error::corruption(path, r.offset, "unexpected record type"));
        }
        let (seq, recs) = decode_batch(&r.payload)
            .ok_or_else(|| Error::corruption(path, r.offset, "malformed write batch"))?;
        records.push(WalRecordDump {
            offset: r.offset,
            seq,
            ops: recs
                .iter()
                .map(|o| (kind_name(o.kind), show_bytes(o.key), o.value.len()))
                .collect(),
        });
    }
    Ok(WalDump {
        number,
        records,
        torn_tail_bytes: log.torn_tail_bytes,
        preallocated_bytes: log.zeroed_tail_bytes,
    })
}

impl fmt::Display for WalDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "WAL segment {}: {} records",
            self.number,
            self.records.len()
        )?;
        for r in &self.records {
            writeln!(
                f,
                "  offset {}: batch at sequence {}, {} ops",
                r.offset,
                r.seq,
                r.ops.len()
            )?;
            for (kind, key, vlen) in &r.ops {
                writeln!(f, "    {kind} {key} ({vlen} bytes)")?;
            }
        }
        if self.torn_tail_bytes > 0 {
            writeln!(f, "torn tail: {} bytes", self.torn_tail_bytes)?;
        }
        if self.preallocated_bytes > 0 {
            writeln!(
                f,
                "preallocated, not yet written: {} bytes",
                self.preallocated_bytes
            )?;
        }
        Ok(())
    }
}

/// A table as the manifest records it.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestFile {
    /// File number.
    pub number: u64,
    /// Size.
    pub size: u64,
    /// Smallest user key, rendered.
    pub smallest: String,
    /// Largest user key, rendered.
    pub largest: String,
    /// Sequence range.
    pub seqs: (u64, u64),
    /// Entries.
    pub entries: u64,
}

/// The live manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestDump {
    /// Its number.
    pub number: u64,
    /// Edits it holds.
    pub edits: usize,
    /// WAL segments below this are obsolete.
    pub log_number: u64,
    /// Next file number.
    pub next_file_number: u64,
    /// Last sequence number recorded.
    pub last_sequence: u64,
    /// Tables per level.
    pub levels: Vec<Vec<ManifestFile>>,
    /// Value-log files by number.
    pub vlog_files: std::collections::BTreeMap<u64, crate::manifest::VlogMeta>,
}

fn render_user_key(ikey: &[u8]) -> String {
    show_bytes(crate::key::user_key(ikey))
}

/// Reads `CURRENT` and the manifest it names, replaying its edits (tables are not opened).
///
/// # Errors
///
/// `Corruption` or `Io` naming the file.
pub fn dump_manifest(fs: &dyn FileSystem, dir: &Path) -> Result<ManifestDump> {
    let cur = current_path(dir);
    let data = fs
        .read_file(&cur)
        .map_err(|e| Error::io("reading", &cur, e))?;
    let number = VersionSet::parse_current_file(&cur, &data)?;
    let mp = manifest_path(dir, number);
    let log = read_log(
        &mp,
        fs.read_file(&mp)
            .map_err(|e| Error::io("reading", &mp, e))?,
        LogKind::Manifest,
        number,
        true,
    )?;
    let mut files = std::collections::BTreeMap::new();
    let mut out = ManifestDump {
        number,
        edits: log.records.len(),
        log_number: 0,
        next_file_number: 0,
        last_sequence: 0,
        levels: Vec::new(),
        vlog_files: std::collections::BTreeMap::new(),
    };
    for r in &log.records {
        let e =
            VersionEdit::decode(&r.payload).map_err(|why| Error::corruption(&mp, r.offset, why))?;
        out.log_number = e.log_number.unwrap_or(out.log_number);
        out.next_file_number = e.next_file_number.unwrap_or(out.next_file_number);
        out.last_sequence = e.last_sequence.unwrap_or(out.last_sequence);
        crate::manifest::apply_vlog_edit(&mut out.vlog_files, &e);
        for (_, n) in &e.deleted_files {
            files.remove(n);
        }
        for f in e.new_files {
            files.insert(f.number, f);
        }
    }
    for f in files.into_values() {
        let l = f.level as usize;
        if out.levels.len() <= l {
            out.levels.resize(l + 1, Vec::new());
        }
        out.levels[l].push(ManifestFile {
            number: f.number,
            size: f.size,
            smallest: render_user_key(&f.smallest),
            largest: render_user_key(&f.largest),
            seqs: (f.smallest_seq, f.largest_seq),
            entries: f.num_entries,
        });
    }
    Ok(out)
}

impl fmt::Display for ManifestDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "MANIFEST-{:06}: {} edits, log number {}, next file {}, last sequence {}",
            self.number, self.edits, self.log_number, self.next_file_number, self.last_sequence
        )?;
        for (l, files) in self.levels.iter().enumerate() {
            if files.is_empty() {
                continue;
            }
            writeln!(f, "L{l}: {} tables", files.len())?;
            for t in files {
                writeln!(
                    f,
                    "  {:06}.sst {} bytes, {} entries, keys {} .. {}, sequence {}..={}",
                    t.number, t.size, t.entries, t.smallest, t.largest, t.seqs.0, t.seqs.1
                )?;
            }
        }
        if !self.vlog_files.is_empty() {
            writeln!(f, "value log: {} files", self.vlog_files.len())?;
        }
        for (n, m) in &self.vlog_files {
            let state = match (m.sealed_len, m.collected) {
                (_, Some(seq)) => format!("collected at sequence {seq}"),
                (Some(len), None) => format!("sealed at {len} bytes"),
                (None, None) => "active".to_string(),
            };
            writeln!(f, "  {n:06}.vlog {state}, {} bytes discarded", m.discard)?;
        }
        Ok(())
    }
}

/// `Stats` in the Prometheus text exposition format.
pub fn stats_prometheus(s: &crate::Stats) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, v: f64| {
        out.push_str(&format!(
            "# HELP stratakv_{name} {help}\n# TYPE stratakv_{name} {kind}\nstratakv_{name} {v}\n"
        ));
    };
    metric(
        "memtable_bytes",
        "gauge",
        "Bytes in the active memtable.",
        s.memtable_bytes as f64,
    );
    metric(
        "immutable_memtables",
        "gauge",
        "Frozen memtables waiting for flush.",
        s.immutable_memtables as f64,
    );
    metric(
        "block_cache_hits_total",
        "counter",
        "Block cache hits.",
        s.block_cache_hits as f64,
    );
    metric(
        "block_cache_misses_total",
        "counter",
        "Block cache misses.",
        s.block_cache_misses as f64,
    );
    metric(
        "block_cache_bytes",
        "gauge",
        "Bytes held by the block cache.",
        s.block_cache_bytes as f64,
    );
    for (name, kind, help, v) in [
        (
            "block_cache_evictions_total",
            "counter",
            "Block cache entries evicted or refused admission.",
            s.block_cache_evictions,
        ),
        (
            "table_cache_open",
            "gauge",
            "Tables holding an open file, index and filter.",
            s.table_cache_open,
        ),
        (
            "table_cache_opens_total",
            "counter",
            "Table opens, first ones and after eviction.",
            s.table_cache_opens,
        ),
        (
            "table_cache_evictions_total",
            "counter",
            "Tables closed to respect max_open_files.",
            s.table_cache_evictions,
        ),
        (
            "hot_cache_hits_total",
            "counter",
            "Hot-key cache hits.",
            s.hot_cache_hits,
        ),
        (
            "hot_cache_misses_total",
            "counter",
            "Hot-key cache misses.",
            s.hot_cache_misses,
        ),
        (
            "hot_cache_bytes",
            "gauge",
            "Bytes held by the hot-key cache.",
            s.hot_cache_bytes,
        ),
        (
            "hot_cache_evictions_total",
            "counter",
            "Hot-key cache entries evicted or refused admission.",
            s.hot_cache_evictions,
        ),
    ] {
        metric(name, kind, help, v as f64);
    }
    metric(
        "bloom_checks_total",
        "counter",
        "Bloom filters consulted.",
        s.bloom_checks as f64,
    );
    metric(
        "bloom_useful_total",
        "counter",
        "Bloom checks that ruled a table out.",
        s.bloom_useful as f64,
    );
    metric(
        "wal_bytes",
        "gauge",
        "Bytes in the active WAL segment.",
        s.wal_bytes as f64,
    );
    metric(
        "flushes_total",
        "counter",
        "Memtable flushes.",
        s.flushes as f64,
    );
    metric(
        "compactions_total",
        "counter",
        "Compactions.",
        s.compactions as f64,
    );
    metric(
        "write_stalls_total",
        "counter",
        "Writer stops.",
        s.write_stalls as f64,
    );
    metric(
        "write_slowdowns_total",
        "counter",
        "Writer slowdowns.",
        s.write_slowdowns as f64,
    );
    metric(
        "writes_total",
        "counter",
        "Writes acknowledged.",
        s.writes as f64,
    );
    metric(
        "user_bytes_written_total",
        "counter",
        "Key and value bytes written by users.",
        s.user_bytes_written as f64,
    );
    metric(
        "disk_bytes_written_total",
        "counter",
        "Bytes written to disk.",
        s.disk_bytes_written as f64,
    );
    metric(
        "write_amplification",
        "gauge",
        "Disk bytes written per user byte.",
        s.write_amplification,
    );
    metric(
        "vlog_files",
        "gauge",
        "Value-log files.",
        s.vlog_files as f64,
    );
    metric(
        "vlog_bytes",
        "gauge",
        "Bytes in value-log files.",
        s.vlog_bytes as f64,
    );
    metric(
        "vlog_discardable_bytes",
        "gauge",
        "Value-log bytes no longer referenced.",
        s.vlog_discardable_bytes as f64,
    );
    metric(
        "vlog_gc_runs_total",
        "counter",
        "Value-log garbage collections that collected at least one file.",
        s.vlog_gc_runs as f64,
    );
    metric(
        "vlog_gc_bytes_moved_total",
        "counter",
        "Bytes of live values rewritten by value-log GC.",
        s.vlog_gc_bytes_moved as f64,
    );
    metric(
        "txn_conflicts_total",
        "counter",
        "Transaction commits refused with a conflict.",
        s.txn_conflicts as f64,
    );
    out.push_str("# HELP stratakv_level_bytes Bytes of tables per level.\n# TYPE stratakv_level_bytes gauge\n");
    for l in &s.levels {
        out.push_str(&format!(
            "stratakv_level_bytes{{level=\"{}\"}} {}\n",
            l.level, l.bytes
        ));
    }
    out.push_str(
        "# HELP stratakv_level_tables Tables per level.\n# TYPE stratakv_level_tables gauge\n",
    );
    for l in &s.levels {
        out.push_str(&format!(
            "stratakv_level_tables{{level=\"{}\"}} {}\n",
            l.level, l.tables
        ));
    }
    out
}
