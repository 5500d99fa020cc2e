//! Report output: Markdown tables, JSON, and precision–recall PNGs.

use crate::breakdown::{ErrorBreakdown, ErrorKind};
use crate::detection::{DetectionReport, PrPoint};
use crate::tracking::{TrackMatching, TrackingReport};
use crate::{EvalError, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Font family name the embedded DejaVu Sans is registered under.
const FONT: &str = "sans-serif";

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.4}"))
}

impl DetectionReport {
    /// Two Markdown tables: KITTI AP|R40 per class, metric and level, then nuScenes
    /// centre-distance AP per class and threshold with the mAP.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### KITTI AP|R40 ({} frames)\n", self.num_frames);
        let _ = writeln!(s, "| class | metric | IoU > | difficulty | GT | dets | TP | FP | ignored | AP R40 |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
        for c in &self.classes {
            for k in &c.kitti {
                let level = k.difficulty.map_or("all", |d| d.as_str());
                let n = &k.counts;
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.class,
                    k.metric.as_str(),
                    k.iou_threshold,
                    level,
                    n.num_gt,
                    n.num_dets,
                    n.tp,
                    n.fp,
                    n.ignored,
                    fmt_opt(k.ap_r40)
                );
            }
        }
        let thresholds = &self.config.center_distance_thresholds_m;
        let _ = writeln!(s, "\n### nuScenes centre-distance AP\n");
        let header: String = thresholds.iter().map(|t| format!(" AP@{t} m |")).collect();
        let _ = writeln!(s, "| class | GT |{header} mAP |");
        let _ = writeln!(s, "|---|---|{}---|", "---|".repeat(thresholds.len()));
        for c in &self.classes {
            let num_gt = c.center_distance.first().map_or(0, |cd| cd.counts.num_gt);
            let cells: String = c.center_distance.iter().map(|cd| format!(" {} |", fmt_opt(cd.ap))).collect();
            let _ = writeln!(s, "| {} | {} |{cells} {} |", c.class, num_gt, fmt_opt(c.center_distance_map));
        }
        s
    }

    /// The whole report (configuration, counts, APs and curves) as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes the report's JSON to `path`.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_text(path.as_ref(), &self.to_json()?)
    }

    /// Draws precision–recall curves into `dir` (created if missing), two PNGs per class with
    /// scored ground truth: `pr_<class>_kitti.png` (BEV and 3D at each level) and
    /// `pr_<class>_center_distance.png` (one curve per threshold). Returns the files written.
    pub fn write_pr_plots(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| EvalError::Io { path: dir.to_path_buf(), source })?;
        let mut written = Vec::new();
        for c in &self.classes {
            if c.kitti.iter().all(|k| k.counts.num_gt == 0) {
                continue;
            }
            let kitti: Vec<(String, &[PrPoint])> = c
                .kitti
                .iter()
                .map(|k| {
                    let level = k.difficulty.map_or("all", |d| d.as_str());
                    let label = format!("{} {level} AP {}", k.metric.as_str(), fmt_opt(k.ap_r40));
                    (label, k.curve.as_slice())
                })
                .collect();
            let path = dir.join(format!("pr_{}_kitti.png", c.class));
            draw_pr(&path, &format!("{}: KITTI IoU > {}", c.class, self.config.iou_threshold(c.class)), &kitti)?;
            written.push(path);
            let cd: Vec<(String, &[PrPoint])> = c
                .center_distance
                .iter()
                .map(|cd| (format!("{} m AP {}", cd.threshold_m, fmt_opt(cd.ap)), cd.curve.as_slice()))
                .collect();
            let path = dir.join(format!("pr_{}_center_distance.png", c.class));
            draw_pr(&path, &format!("{}: centre distance, mAP {}", c.class, fmt_opt(c.center_distance_map)), &cd)?;
            written.push(path);
        }
        Ok(written)
    }
}

impl TrackingReport {
    /// A Markdown table of the CLEAR MOT and identity metrics.
    pub fn to_markdown(&self) -> String {
        let matching = match self.config.matching {
            TrackMatching::CenterDistance { max_m } => format!("BEV centre distance < {max_m} m"),
            TrackMatching::IouBev { min_iou } => format!("BEV IoU > {min_iou}"),
        };
        let mut s = String::new();
        let _ = writeln!(s, "### Tracking ({} frames, match: {matching})\n", self.num_frames);
        let _ = writeln!(
            s,
            "| GT | tracks | GT ids | track ids | matches | FN | FP | IDSW | MOTA | MOTP (m) | MOTP (IoU) | IDF1 |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.num_gt,
            self.num_tracks,
            self.num_gt_ids,
            self.num_track_ids,
            self.matches,
            self.false_negatives,
            self.false_positives,
            self.id_switches,
            fmt_opt(self.mota),
            fmt_opt(self.motp_distance_m),
            fmt_opt(self.motp_iou),
            fmt_opt(self.idf1)
        );
        s
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes the report's JSON to `path`.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        write_text(path.as_ref(), &self.to_json()?)
    }
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })
}

/// Registers the embedded DejaVu Sans once; `false` when the font bytes are refused (text is
/// then left out of the plots rather than failing them).
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok())
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One PNG with a precision–recall curve per series, recall on x and precision on y in [0, 1].
fn draw_pr(path: &Path, title: &str, series: &[(String, &[PrPoint])]) -> Result<()> {
    let plot_err = |e: &dyn std::fmt::Display| EvalError::Plot { path: path.to_path_buf(), why: e.to_string() };
    let text = font_ready();
    let root = BitMapBackend::new(path, (800, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20).x_label_area_size(40).y_label_area_size(50);
    if text {
        builder.caption(title, (FONT, 22));
    }
    let mut chart = builder.build_cartesian_2d(0.0..1.0f64, 0.0..1.05f64).map_err(|e| plot_err(&e))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("recall").y_desc("precision").label_style((FONT, 14));
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().map_err(|e| plot_err(&e))?;
    for (i, (label, curve)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // Start at recall 0 with the first precision so a one-point curve is still a line.
        let start = curve.first().map(|p| (0.0, p.precision));
        let points: Vec<(f64, f64)> = start.into_iter().chain(curve.iter().map(|p| (p.recall, p.precision))).collect();
        let drawn = chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(|e| plot_err(&e))?;
        if text {
            drawn
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
    }
    if text {
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft, path)?;
    }
    root.present().map_err(|e| plot_err(&e))?;
    Ok(())
}

/// Draws the labelled series' legend of `chart` at `position`.
fn draw_legend<'a, 'b: 'a>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(|e| EvalError::Plot { path: path.to_path_buf(), why: e.to_string() })
}

impl ErrorBreakdown {
    /// Draws one horizontal bar per row into `path` (PNG), labelled by its label and class: the
    /// AP, then each error kind's oracle gain stacked after it (the gains overlap, so a bar may
    /// pass 1).
    pub fn write_plot(path: impl AsRef<Path>, rows: &[(String, ErrorBreakdown)]) -> Result<()> {
        let path = path.as_ref();
        let plot_err = |e: &dyn std::fmt::Display| EvalError::Plot { path: path.to_path_buf(), why: e.to_string() };
        let text = font_ready();
        let ap = |b: &ErrorBreakdown| b.ap_r40.unwrap_or(0.0);
        let end = |b: &ErrorBreakdown| ap(b) + b.errors.iter().map(|e| e.delta_ap.max(0.0)).sum::<f64>();
        let x0 = rows.iter().map(|(_, b)| ap(b)).fold(1.0, f64::min).min(0.95) - 0.05;
        // Room on the right for the legend, clear of the bars.
        let x1 = rows.iter().map(|(_, b)| end(b)).fold(1.0, f64::max) + 0.13;
        let n = rows.len();
        let root = BitMapBackend::new(path, (1200, 120 + 26 * n as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(15).x_label_area_size(35).y_label_area_size(if text { 330 } else { 10 });
        if text {
            builder.caption("Where the AP goes: BEV AP R40, then what fixing each kind of error would add", (FONT, 20));
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, -0.5..n as f64 - 0.5).map_err(|e| plot_err(&e))?;
        let label_of = |y: &f64| {
            let i = y.round();
            if (y - i).abs() < 0.01 && i >= 0.0 {
                // Row 0 at the top.
                rows.get(n.saturating_sub(1 + i as usize)).map_or(String::new(), |(l, b)| format!("{l} — {}", b.class))
            } else {
                String::new()
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_y_mesh().y_labels(n).y_label_formatter(&label_of).x_desc("BEV AP R40");
        if text {
            mesh.label_style((FONT, 13));
        }
        mesh.draw().map_err(|e| plot_err(&e))?;
        let colors = ErrorKind::ALL.map(kind_color);
        for (i, (_, b)) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let mut x = ap(b);
            let mut bars = vec![Rectangle::new([(x0, y - 0.35), (x, y + 0.35)], PALETTE[0].filled())];
            for e in &b.errors {
                let w = e.delta_ap.max(0.0);
                bars.push(Rectangle::new([(x, y - 0.35), (x + w, y + 0.35)], kind_color(e.kind).filled()));
                x += w;
            }
            chart.draw_series(bars).map_err(|e| plot_err(&e))?;
        }
        if text {
            let names = std::iter::once("AP").chain(ErrorKind::ALL.iter().map(|k| k.as_str()));
            for (name, color) in names.zip(std::iter::once(PALETTE[0]).chain(colors)) {
                chart
                    .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                    .map_err(|e| plot_err(&e))?
                    .label(name)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
            }
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight, path)?;
        }
        root.present().map_err(|e| plot_err(&e))?;
        Ok(())
    }
}

/// The colour of an error kind in [`ErrorBreakdown::write_plot`] (the AP is `PALETTE[0]`).
const fn kind_color(kind: ErrorKind) -> RGBColor {
    match kind {
        ErrorKind::Localization => PALETTE[3],
        ErrorKind::Duplicate => PALETTE[4],
        ErrorKind::Confusion => PALETTE[1],
        ErrorKind::Background => PALETTE[5],
        ErrorKind::Missed => PALETTE[7],
    }
}
