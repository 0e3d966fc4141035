//! The low-memory run: load many small records into StrataKV with `Options::low_memory()`,
//! sampling resident memory once a second, and report the rate, the peak, records per MiB
//! of peak RSS, and a chart of RSS over time (`<prefix>-rss.svg`, with `<prefix>.csv`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plotters::prelude::*;

use crate::{dir_bytes, proc_field};

/// One sample: seconds since the start, records written, resident KiB.
#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: f64,
    records: u64,
    rss_kib: u64,
}

/// The 16-byte key of record `i` (big-endian counter under a prefix: sequential inserts,
/// as TinyKVS's claim is about).
fn key(i: u64) -> [u8; 16] {
    let mut k = *b"rec:\0\0\0\0\0\0\0\0\0\0\0\0";
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

/// A 16-byte value that does not compress to nothing.
fn value(i: u64) -> [u8; 16] {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&x.to_le_bytes());
    v[8..].copy_from_slice(&(x ^ (x >> 29)).to_le_bytes());
    v
}

/// Loads `n` records into a new store in `dir` and writes the CSV and chart at `prefix`.
///
/// # Errors
///
/// A database, file or drawing error.
/// With `random`, record `i` gets key `key(i * odd constant)`: the same distinct keys
/// (multiplication by an odd number is a bijection on u64) in a scattered order.
pub fn run(
    n: u64,
    random: bool,
    dir: &Path,
    prefix: &Path,
) -> Result<String, Box<dyn std::error::Error>> {
    let key = |i: u64| {
        key(if random {
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        } else {
            i
        })
    };
    let opts = stratakv::Options::low_memory();
    let db = stratakv::Db::open_with(dir, opts.clone())?;
    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let sampler = {
        let (written, done) = (written.clone(), done.clone());
        std::thread::spawn(move || {
            let mut out = Vec::new();
            while !done.load(Ordering::Acquire) {
                out.push(Sample {
                    secs: start.elapsed().as_secs_f64(),
                    records: written.load(Ordering::Relaxed),
                    rss_kib: proc_field("/proc/self/status", "VmRSS:"),
                });
                std::thread::sleep(Duration::from_secs(1));
            }
            out
        })
    };
    let step = (n / 100).max(1);
    for i in 0..n {
        db.put(key(i), value(i))?;
        if i % 4096 == 0 {
            written.store(i, Ordering::Relaxed);
        }
        if i % step == 0 && i > 0 {
            eprint!(
                "\r{:>3}% {i} records, {:.0}/s, RSS {} MiB   ",
                i * 100 / n,
                i as f64 / start.elapsed().as_secs_f64(),
                proc_field("/proc/self/status", "VmRSS:") / 1024
            );
        }
    }
    written.store(n, Ordering::Relaxed);
    let load_secs = start.elapsed().as_secs_f64();
    db.close()?;
    done.store(true, Ordering::Release);
    let mut samples = sampler.join().map_err(|_| "sampler panicked")?;
    samples.push(Sample {
        secs: start.elapsed().as_secs_f64(),
        records: n,
        rss_kib: proc_field("/proc/self/status", "VmRSS:"),
    });
    let peak = proc_field("/proc/self/status", "VmHWM:");
    let disk = dir_bytes(dir);
    // Spot-check that the records are there.
    let db = stratakv::Db::open_with(dir, opts)?;
    for i in [0, n / 3, n / 2, n - 1] {
        if db.get(key(i))?.as_deref() != Some(&value(i)[..]) {
            return Err(format!("record {i} missing after the load").into());
        }
    }
    drop(db);
    let mut csv = String::from("secs,records,rss_kib\n");
    for s in &samples {
        csv.push_str(&format!("{:.1},{},{}\n", s.secs, s.records, s.rss_kib));
    }
    std::fs::write(prefix.with_extension("csv"), csv)?;
    let chart = prefix.with_file_name(format!(
        "{}-rss.svg",
        prefix.file_name().unwrap_or_default().to_string_lossy()
    ));
    draw(&samples, n, load_secs, &chart)?;
    let per_mib = n as f64 / (peak as f64 / 1024.0);
    Ok(format!(
        "low-memory load: {n} records of 16 + 16 bytes, keys {}, Options::low_memory(), \
         one thread, no fsync per write\n\
         rate: {:.0} records/s ({load_secs:.0} s of puts; the samples also cover close)\n\
         peak RSS (VmHWM): {:.1} MiB; {per_mib:.0} records per MiB of peak RSS\n\
         disk after close: {:.2} GiB ({:.1} bytes per record)\n\
         TinyKVS's claim, 1B records in 1 GB of RAM, is {:.0} records per MiB\n\
         chart: {}",
        if random {
            "in scattered order"
        } else {
            "in order"
        },
        n as f64 / load_secs,
        peak as f64 / 1024.0,
        disk as f64 / (1u64 << 30) as f64,
        disk as f64 / n as f64,
        1e9 / 1024.0,
        chart.display()
    ))
}

fn draw(
    samples: &[Sample],
    n: u64,
    secs: f64,
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let t_max = samples.last().map_or(1.0, |s| s.secs).max(1.0);
    let rss_max = samples.iter().map(|s| s.rss_kib).max().unwrap_or(1) as f64 / 1024.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "StrataKV, low_memory(): {}M records in {secs:.0} s, resident memory",
                n / 1_000_000
            ),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0f64..t_max, 0f64..rss_max * 1.2)?
        .set_secondary_coord(0f64..t_max, 0f64..(n as f64 / 1e6) * 1.05);
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("RSS, MiB")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("records written, millions")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (s.secs, s.rss_kib as f64 / 1024.0)),
            BLUE.stroke_width(2),
        ))?
        .label("RSS (MiB)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(
            samples.iter().map(|s| (s.secs, s.records as f64 / 1e6)),
            RED.stroke_width(1),
        ))?
        .label("records written (millions)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(1)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
