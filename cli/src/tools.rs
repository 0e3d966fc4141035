//! The inspection and maintenance commands: stats, manifest, sst, wal, vlog, verify,
//! compact, checkpoint, import, export. Printing of artifacts lives in `stratakv::inspect`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use stratakv::fs::OsFs;
use stratakv::inspect;
use stratakv::{Db, WriteBatch};

use crate::{print, usage, Failure};

fn io_err(e: std::io::Error) -> Failure {
    Failure {
        code: 1,
        message: e.to_string(),
    }
}

fn json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })?;
    outln!("{s}")?;
    Ok(())
}

/// A spinner on a terminal; invisible when stderr is piped.
fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// Prints a report as JSON or as its text form.
fn emit<T: serde::Serialize + std::fmt::Display>(v: &T, as_json: bool) -> Result<(), Failure> {
    if as_json {
        json(v)
    } else {
        out!("{v}")?;
        Ok(())
    }
}

pub fn stats(db: &Db, as_json: bool, prometheus: bool) -> Result<(), Failure> {
    let s = db.stats();
    if prometheus {
        out!("{}", inspect::stats_prometheus(&s))?;
        return Ok(());
    }
    emit(&s, as_json)
}

pub fn manifest(dir: &Path, as_json: bool) -> Result<(), Failure> {
    emit(&inspect::dump_manifest(&OsFs::new(), dir)?, as_json)
}

pub fn sst(file: &Path, entries: bool, as_json: bool) -> Result<(), Failure> {
    emit(&inspect::dump_sst(&OsFs::new(), file, entries)?, as_json)
}

pub fn wal(file: &Path, as_json: bool) -> Result<(), Failure> {
    emit(&inspect::dump_wal(&OsFs::new(), file)?, as_json)
}

pub fn vlog_list(db: &Db, as_json: bool) -> Result<(), Failure> {
    let listing = inspect::VlogListing {
        files: db.vlog_files(),
    };
    emit(&listing, as_json)
}

pub fn vlog_gc(db: &Db, as_json: bool) -> Result<(), Failure> {
    let pb = spinner("collecting value-log files");
    let r = db.vlog_gc()?;
    pb.finish_and_clear();
    if as_json {
        json(&r)
    } else {
        outln!("{r}")?;
        Ok(())
    }
}

pub fn vlog_dump(file: &Path, as_json: bool) -> Result<(), Failure> {
    emit(&inspect::dump_vlog(&OsFs::new(), file)?, as_json)
}

pub fn verify(db: &Db, as_json: bool) -> Result<(), Failure> {
    let pb = spinner("verifying");
    let r = db.verify()?;
    pb.finish_and_clear();
    emit(&r, as_json)?;
    if r.is_ok() {
        Ok(())
    } else {
        Err(Failure {
            code: 4,
            message: format!("{} damaged spots found", r.damage.len()),
        })
    }
}

pub fn compact(db: &Db) -> Result<(), Failure> {
    let pb = spinner("compacting");
    db.compact()?;
    pb.finish_and_clear();
    let s = db.stats();
    for l in s.levels.iter().filter(|l| l.tables > 0) {
        outln!(
            "L{}: {} tables, {} bytes, {} keys",
            l.level,
            l.tables,
            l.bytes,
            l.keys
        )?;
    }
    Ok(())
}

pub fn checkpoint(db: &Db, dest: &Path) -> Result<(), Failure> {
    db.checkpoint(dest)?;
    outln!("checkpoint written to {}", dest.display())?;
    Ok(())
}

/// Export/import formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    /// One JSON object per line: {"key": ..., "value": ...} (UTF-8), or key_hex / value_hex.
    Jsonl,
    /// `key,value` rows, RFC 4180 quoting; binary keys and values need --hex.
    Csv,
}

fn text_or_hex(b: &[u8], name: &str, out: &mut serde_json::Map<String, serde_json::Value>) {
    match std::str::from_utf8(b) {
        Ok(s) => {
            out.insert(name.into(), s.into());
        }
        Err(_) => {
            out.insert(format!("{name}_hex"), print::show(b, true).into());
        }
    }
}

fn csv_field(b: &[u8], hex: bool) -> Result<String, Failure> {
    if hex {
        return Ok(print::show(b, true));
    }
    let s = std::str::from_utf8(b)
        .map_err(|_| usage("a key or value is not UTF-8: export CSV with --hex"))?;
    Ok(if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    })
}

/// One entry as a JSON object: `key`/`value` as text when UTF-8, else `key_hex`/`value_hex`
/// (the JSON-lines format of `export` and `import`, and `get`/`scan --json`).
pub fn json_entry(k: &[u8], v: &[u8]) -> String {
    let mut m = serde_json::Map::new();
    text_or_hex(k, "key", &mut m);
    text_or_hex(v, "value", &mut m);
    serde_json::Value::Object(m).to_string()
}

pub fn export(db: &Db, format: Format, prefix: Option<&str>, hex: bool) -> Result<(), Failure> {
    let it = match prefix {
        Some(p) => db.prefix(p),
        None => db.iter(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for item in it {
        let (k, v) = item?;
        let line = match format {
            Format::Jsonl => json_entry(&k, &v),
            Format::Csv => format!("{},{}", csv_field(&k, hex)?, csv_field(&v, hex)?),
        };
        writeln!(out, "{line}").map_err(crate::output_error)?;
    }
    out.flush().map_err(crate::output_error)
}

fn parse_csv_line(line: &str) -> Option<(String, String)> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if cur.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', true) => quoted = false,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    if quoted || fields.len() != 2 {
        return None;
    }
    let v = fields.pop()?;
    let k = fields.pop()?;
    Some((k, v))
}

fn field(m: &serde_json::Map<String, serde_json::Value>, name: &str) -> Option<Vec<u8>> {
    if let Some(s) = m.get(name).and_then(|v| v.as_str()) {
        return Some(s.as_bytes().to_vec());
    }
    print::from_hex(m.get(&format!("{name}_hex"))?.as_str()?)
}

/// Imports records; every line is checked first, so a bad file applies nothing.
pub fn import(db: &Db, file: &Path, format: Format, hex: bool) -> Result<(), Failure> {
    let f = std::fs::File::open(file).map_err(io_err)?;
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io_err)?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            usage(format!(
                "{}: line {} is not a valid record",
                file.display(),
                n + 1
            ))
        };
        let kv = match format {
            Format::Jsonl => {
                let v: serde_json::Value = serde_json::from_str(&line).map_err(|_| bad())?;
                let m = v.as_object().ok_or_else(bad)?;
                (
                    field(m, "key").ok_or_else(bad)?,
                    field(m, "value").ok_or_else(bad)?,
                )
            }
            Format::Csv => {
                let (k, v) = parse_csv_line(&line).ok_or_else(bad)?;
                if hex {
                    (
                        print::from_hex(&k).ok_or_else(bad)?,
                        print::from_hex(&v).ok_or_else(bad)?,
                    )
                } else {
                    (k.into_bytes(), v.into_bytes())
                }
            }
        };
        records.push(kv);
    }
    let pb = ProgressBar::new(records.len() as u64);
    for chunk in records.chunks(1000) {
        let mut b = WriteBatch::new();
        for (k, v) in chunk {
            b.put(k, v);
        }
        db.write(b)?;
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    db.sync()?;
    outln!("imported {} records", records.len())?;
    Ok(())
}

/// `DIR` for commands that read files without opening the database.
pub fn db_dir(db: &Option<PathBuf>) -> Result<&Path, Failure> {
    db.as_deref()
        .ok_or_else(|| usage("this command needs --db DIR"))
}
