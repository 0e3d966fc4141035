//! SVG charts of a comparison run: throughput per workload and latency percentiles, one bar
//! per engine, drawn with plotters' SVG backend.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::Row;

/// Colors per engine, in the order engines first appear.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn ordered<'a>(rows: &'a [Row], f: impl Fn(&'a Row) -> &'a str) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for r in rows {
        let v = f(r);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The rows drawn: timed workloads (not the bookkeeping "close" and "recovery" rows).
fn timed(rows: &[Row]) -> Vec<&Row> {
    rows.iter()
        .filter(|r| r.workload != "close" && r.workload != "recovery" && r.ops > 0)
        .collect()
}

/// Grouped bars: one group per workload, one bar per engine, `value` on a log axis.
fn grouped_bars(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    rows: &[&Row],
    title: &str,
    y_desc: &str,
    value: impl Fn(&Row) -> f64,
) -> DrawResult<()> {
    let owned: Vec<Row> = rows.iter().map(|r| (*r).clone()).collect();
    let workloads = ordered(&owned, |r| &r.workload);
    let engines = ordered(&owned, |r| &r.engine);
    let vals: Vec<f64> = owned.iter().map(&value).filter(|v| *v > 0.0).collect();
    let (lo, hi) = vals
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if vals.is_empty() {
        (1.0, 10.0)
    } else {
        (lo / 2.0, hi * 2.0)
    };
    let n = workloads.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(workloads.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < workloads.len() {
                workloads[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc(y_desc)
        .y_label_formatter(&|y| human(*y))
        .draw()?;
    let width = 0.8 / engines.len().max(1) as f64;
    for (e, engine) in engines.iter().enumerate() {
        let color = PALETTE[e % PALETTE.len()];
        let bars = owned
            .iter()
            .filter(|r| r.engine == *engine)
            .filter_map(|r| {
                let w = workloads.iter().position(|w| *w == r.workload)? as f64;
                let x0 = w + 0.1 + width * e as f64;
                let v = value(r);
                (v > 0.0).then(|| Rectangle::new([(x0, lo), (x0 + width * 0.9, v)], color.filled()))
            });
        chart
            .draw_series(bars)?
            .label(*engine)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}K", v / 1e3)
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Draws `<prefix>-throughput.svg` and `<prefix>-latency.svg`; returns their paths.
///
/// # Errors
///
/// A drawing or file error.
pub fn draw(rows: &[Row], title: &str, prefix: &Path) -> DrawResult<Vec<PathBuf>> {
    let rows = timed(rows);
    let workloads = ordered(
        &rows.iter().map(|r| (*r).clone()).collect::<Vec<_>>(),
        |r| &r.workload,
    )
    .len();
    let width = (160 + 110 * workloads as u32).max(700);
    let tp = prefix.with_file_name(format!(
        "{}-throughput.svg",
        prefix.file_name().unwrap_or_default().to_string_lossy()
    ));
    {
        let root = SVGBackend::new(&tp, (width, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        grouped_bars(
            &root,
            &rows,
            &format!("{title}: throughput"),
            "ops/s (log)",
            |r| r.ops_per_sec,
        )?;
        root.present()?;
    }
    let lat = prefix.with_file_name(format!(
        "{}-latency.svg",
        prefix.file_name().unwrap_or_default().to_string_lossy()
    ));
    {
        let root = SVGBackend::new(&lat, (width, 1100)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((3, 1));
        type Pick = fn(&Row) -> f64;
        let picks: [(&str, Pick); 3] = [
            ("p50", |r| r.p50_us),
            ("p99", |r| r.p99_us),
            ("p99.9", |r| r.p999_us),
        ];
        for (panel, (name, pick)) in panels.iter().zip(picks) {
            grouped_bars(
                panel,
                &rows,
                &format!("{title}: {name} latency"),
                "µs (log)",
                pick,
            )?;
        }
        root.present()?;
    }
    Ok(vec![tp, lat])
}
