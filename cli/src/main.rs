//! `stratakv`: look inside and drive a StrataKV database from the shell.
//!
//! Exit codes: 0 ok, 1 error, 2 usage, 3 locked, 4 corruption found. A reader of the
//! output that goes away (`stratakv scan | head`) ends the command quietly, with 0.

/// `print!` that returns the write's error as a [`Failure`] instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::write_out(format_args!($($t)*))
    };
}

/// `println!` that returns the write's error as a [`Failure`] instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::write_out(format_args!("{}\n", format_args!($($t)*)))
    };
}

mod bench;
mod hist;
mod print;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stratakv::{Db, Options};

#[derive(Parser, Debug)]
#[command(
    name = "stratakv",
    version,
    about = "StrataKV: an embedded LSM key-value store"
)]
struct Cli {
    /// Database directory.
    #[arg(long, global = true)]
    db: Option<PathBuf>,
    /// Options file (TOML, keys named as the `Options` fields).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum VlogAction {
    /// Rewrite the live values of files past the discard ratio and delete them.
    Gc {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a value-log file's records (key, value length, offsets).
    Dump {
        /// The .vlog file.
        file: PathBuf,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the value of KEY.
    Get {
        /// The key.
        key: String,
        /// KEY is hex, and the value is printed as hex.
        #[arg(long)]
        hex: bool,
        /// As a JSON object (`key`/`value` as text, or `key_hex`/`value_hex` when not UTF-8).
        #[arg(long)]
        json: bool,
    },
    /// Set KEY to VALUE.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// KEY and VALUE are hex.
        #[arg(long)]
        hex: bool,
        /// Fsync before returning.
        #[arg(long)]
        sync: bool,
    },
    /// Delete KEY.
    Delete {
        /// The key.
        key: String,
        /// KEY is hex.
        #[arg(long)]
        hex: bool,
    },
    /// Print entries in key order.
    Scan {
        /// Only keys starting with this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// First key (inclusive).
        #[arg(long)]
        start: Option<String>,
        /// Last key (exclusive).
        #[arg(long)]
        end: Option<String>,
        /// Newest key first.
        #[arg(long)]
        reverse: bool,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
        /// Arguments are hex, and keys and values are printed as hex.
        #[arg(long)]
        hex: bool,
        /// As JSON lines, one object per entry (as `export`).
        #[arg(long)]
        json: bool,
    },
    /// Run db_bench-style workloads and print a table of results.
    Bench(bench::BenchArgs),
    /// Print the engine's figures.
    Stats {
        /// As JSON.
        #[arg(long)]
        json: bool,
        /// In the Prometheus text exposition format.
        #[arg(long)]
        prometheus: bool,
    },
    /// Print the live manifest: levels, tables, key and sequence ranges.
    Manifest {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a table file: properties, blocks, filter, and optionally every entry.
    Sst {
        /// The .sst file.
        file: PathBuf,
        /// List every entry.
        #[arg(long)]
        entries: bool,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a WAL segment: records, batches, torn tail.
    Wal {
        /// The .wal file.
        file: PathBuf,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the value-log files with their discard ratios; `vlog gc` collects them,
    /// `vlog dump FILE` prints a file's records.
    Vlog {
        #[command(subcommand)]
        action: Option<VlogAction>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum of every live file (exit code 4 when damage is found).
    Verify {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compact every level down.
    Compact,
    /// Write a consistent, openable copy of the database to DIR.
    Checkpoint {
        /// The new directory (must not exist).
        dir: PathBuf,
    },
    /// Print every entry (or those under --prefix) as JSON lines or CSV.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: tools::Format,
        /// Only keys starting with this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// CSV fields as hex.
        #[arg(long)]
        hex: bool,
    },
    /// Load JSON lines or CSV records from FILE (all lines are checked before any is applied).
    Import {
        /// The file to read.
        file: PathBuf,
        /// Input format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: tools::Format,
        /// CSV fields are hex.
        #[arg(long)]
        hex: bool,
    },
}

/// An error with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl From<stratakv::Error> for Failure {
    fn from(e: stratakv::Error) -> Self {
        let code = if e.is_locked() {
            3
        } else if e.is_corruption() {
            4
        } else {
            1
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

/// Writes to stdout.
///
/// # Errors
///
/// The write's error as a [`Failure`] ([`output_error`]).
fn write_out(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_fmt(args)
        .map_err(output_error)
}

/// A failed write of the output: a closed pipe (the reader has all it wanted) ends the
/// command quietly; anything else is an error.
fn output_error(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure {
            code: 0,
            message: String::new(),
        }
    } else {
        Failure {
            code: 1,
            message: format!("writing the output: {e}"),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn options(cli: &Cli) -> Result<Options, Failure> {
    match &cli.config {
        Some(p) => Ok(Options::from_file(p)?),
        None => Ok(Options::default()),
    }
}

fn open(cli: &Cli) -> Result<Db, Failure> {
    let dir = cli
        .db
        .as_ref()
        .ok_or_else(|| usage("this command needs --db DIR"))?;
    Ok(Db::open_with(dir, options(cli)?)?)
}

fn arg_bytes(s: &str, hex: bool) -> Result<Vec<u8>, Failure> {
    if hex {
        print::from_hex(s).ok_or_else(|| usage(format!("not valid hex: {s:?}")))
    } else {
        Ok(s.as_bytes().to_vec())
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Get { key, hex, json } => {
            let db = open(cli)?;
            let k = arg_bytes(key, *hex)?;
            match db.get(&k)? {
                Some(v) if *json => outln!("{}", tools::json_entry(&k, &v))?,
                Some(v) => outln!("{}", print::show(&v, *hex))?,
                None => {
                    return Err(Failure {
                        code: 1,
                        message: "key not found".into(),
                    })
                }
            }
            db.close()?;
        }
        Command::Put {
            key,
            value,
            hex,
            sync,
        } => {
            let db = open(cli)?;
            db.put_with(
                arg_bytes(key, *hex)?,
                arg_bytes(value, *hex)?,
                stratakv::WriteOptions { sync: *sync },
            )?;
            db.close()?;
        }
        Command::Delete { key, hex } => {
            let db = open(cli)?;
            db.delete(arg_bytes(key, *hex)?)?;
            db.close()?;
        }
        Command::Scan {
            prefix,
            start,
            end,
            reverse,
            limit,
            hex,
            json,
        } => {
            let db = open(cli)?;
            let it = match prefix {
                Some(p) => db.prefix(arg_bytes(p, *hex)?),
                None => {
                    use std::ops::Bound;
                    let lo = match start {
                        Some(s) => Bound::Included(arg_bytes(s, *hex)?),
                        None => Bound::Unbounded,
                    };
                    let hi = match end {
                        Some(s) => Bound::Excluded(arg_bytes(s, *hex)?),
                        None => Bound::Unbounded,
                    };
                    db.range::<Vec<u8>, _>((lo, hi))
                }
            };
            let it: Box<dyn Iterator<Item = stratakv::Result<_>>> = if *reverse {
                Box::new(it.rev())
            } else {
                Box::new(it)
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for item in it.take(limit.unwrap_or(usize::MAX)) {
                let (k, v) = item?;
                use std::io::Write;
                let line = if *json {
                    tools::json_entry(&k, &v)
                } else {
                    format!("{}\t{}", print::show(&k, *hex), print::show(&v, *hex))
                };
                writeln!(out, "{line}").map_err(output_error)?;
            }
            std::io::Write::flush(&mut out).map_err(output_error)?;
            drop(out);
            db.close()?;
        }
        Command::Bench(args) => bench::run(args, cli.db.as_deref(), options(cli)?)?,
        Command::Stats { json, prometheus } => {
            let db = open(cli)?;
            tools::stats(&db, *json, *prometheus)?;
            db.close()?;
        }
        Command::Manifest { json } => tools::manifest(tools::db_dir(&cli.db)?, *json)?,
        Command::Sst {
            file,
            entries,
            json,
        } => tools::sst(file, *entries, *json)?,
        Command::Wal { file, json } => tools::wal(file, *json)?,
        Command::Vlog { action, json } => match action {
            Some(VlogAction::Dump { file, json }) => tools::vlog_dump(file, *json)?,
            Some(VlogAction::Gc { json }) => {
                let db = open(cli)?;
                tools::vlog_gc(&db, *json)?;
                db.close()?;
            }
            None => {
                let db = open(cli)?;
                tools::vlog_list(&db, *json)?;
                db.close()?;
            }
        },
        Command::Verify { json } => {
            let db = open(cli)?;
            let r = tools::verify(&db, *json);
            db.close()?;
            r?;
        }
        Command::Compact => {
            let db = open(cli)?;
            tools::compact(&db)?;
            db.close()?;
        }
        Command::Checkpoint { dir } => {
            let db = open(cli)?;
            tools::checkpoint(&db, dir)?;
            db.close()?;
        }
        Command::Export {
            format,
            prefix,
            hex,
        } => {
            let db = open(cli)?;
            tools::export(&db, *format, prefix.as_deref(), *hex)?;
            db.close()?;
        }
        Command::Import { file, format, hex } => {
            let db = open(cli)?;
            tools::import(&db, file, *format, *hex)?;
            db.close()?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.code == 0 => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("stratakv: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
