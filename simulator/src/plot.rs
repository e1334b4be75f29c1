//! PNG plots of a run (or of several runs side by side): deliveries over
//! time, and the latency CDF.

use std::path::Path;

use plotters::prelude::*;

use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
#[error("cannot draw {file}: {reason}")]
pub struct PlotError {
    file: String,
    reason: String,
}

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a system font for labels; plots come out without text if none.
fn font() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        FONT_PATHS.iter().any(|p| match std::fs::read(p) {
            Ok(bytes) => {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            }
            Err(_) => false,
        })
    })
}

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn err(file: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError {
        file: file.display().to_string(),
        reason: e.to_string(),
    }
}

/// Writes `delivery.png` and `latency_cdf.png` into `dir`.
pub fn write(dir: &Path, runs: &[Metrics], duration_s: f64) -> Result<(), PlotError> {
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let title = runs.first().map(|m| m.scenario.clone()).unwrap_or_default();
    let delivery = runs
        .iter()
        .map(|m| {
            let total = m.messages.max(1) as f64;
            let mut pts = vec![(0.0, 0.0)];
            pts.extend(m.curve.iter().map(|(t, n)| (*t, *n as f64 / total)));
            pts.push((duration_s, m.delivered as f64 / total));
            (m.routing.clone(), pts)
        })
        .collect();
    line_chart(
        &dir.join("delivery.png"),
        &format!("{title}: messages delivered over time"),
        ("virtual time (s)", "fraction of messages delivered"),
        duration_s,
        delivery,
        SeriesLabelPosition::MiddleRight,
    )?;
    let latency = runs
        .iter()
        .map(|m| {
            let n = m.latencies_s.len().max(1) as f64;
            let pts = m
                .latencies_s
                .iter()
                .enumerate()
                .map(|(i, l)| (*l, (i + 1) as f64 / n))
                .collect();
            (m.routing.clone(), pts)
        })
        .collect();
    let max = runs
        .iter()
        .flat_map(|m| m.latencies_s.last().copied())
        .fold(1.0f64, f64::max);
    line_chart(
        &dir.join("latency_cdf.png"),
        &format!("{title}: latency of delivered messages"),
        ("latency (s)", "fraction of delivered messages"),
        max,
        latency,
        SeriesLabelPosition::LowerRight,
    )
}

/// One PNG: a line per named series, x from 0 to `x_max`, y from 0 to 1.
fn line_chart(
    file: &Path,
    caption: &str,
    (x_desc, y_desc): (&str, &str),
    x_max: f64,
    series: Vec<(String, Vec<(f64, f64)>)>,
    legend_at: SeriesLabelPosition,
) -> Result<(), PlotError> {
    let labels = font();
    let root = BitMapBackend::new(file, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(file, e))?;
    let mut b = ChartBuilder::on(&root);
    b.margin(20).x_label_area_size(40).y_label_area_size(50);
    if labels {
        b.caption(caption, ("sans-serif", 22));
    }
    let mut chart = b
        .build_cartesian_2d(0f64..x_max, 0f64..1.0)
        .map_err(|e| err(file, e))?;
    let mut mesh = chart.configure_mesh();
    if labels {
        mesh.x_desc(x_desc).y_desc(y_desc);
    } else {
        mesh.disable_x_mesh().disable_y_mesh();
    }
    mesh.draw().map_err(|e| err(file, e))?;
    for (k, (name, pts)) in series.into_iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let s = chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| err(file, e))?;
        if labels {
            s.label(name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if labels {
        chart
            .configure_series_labels()
            .position(legend_at)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| err(file, e))?;
    }
    root.present().map_err(|e| err(file, e))
}
