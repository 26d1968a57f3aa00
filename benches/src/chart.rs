//! The report's chart, `target/bench-report.svg`: a horizontal bar per benchmark of the ratio
//! ours/wasmtime on a logarithmic axis, from a line at 1.0 (left of it we are faster), grouped
//! and labelled by group, with each group's geometric mean (of durations, as in the table) as a
//! last, darker bar. Rows whose figures are not durations (`proto`'s memory, density, rates) are
//! grey: their better side depends on the figure. Written by hand (a few hundred bytes of SVG
//! per row) rather than with a plotting crate, to keep the dependency tree lean.

use crate::report::{Row, Unit, geomean};
use std::fmt::Write;

const WIDTH: f64 = 960.0;
/// Where the plot area starts and ends (the labels are left of it).
const PLOT_LEFT: f64 = 300.0;
const PLOT_RIGHT: f64 = 900.0;
const TOP: f64 = 56.0;
const ROW_HEIGHT: f64 = 18.0;
const BAR_HEIGHT: f64 = 12.0;
const AXIS_HEIGHT: f64 = 40.0;
const FASTER: &str = "#3a8f3a";
const SLOWER: &str = "#d9822b";
const MEAN_FASTER: &str = "#1f5c1f";
const MEAN_SLOWER: &str = "#9c4f0c";
const VALUE: &str = "#8a8a8a";

/// One line of the chart.
#[derive(Debug)]
enum Line {
    /// A group's title.
    Group(String),
    /// A benchmark's ratio (none if a peer did not run it), and whether it is of durations.
    Bar(String, Option<f64>, bool),
    /// A group's geometric mean.
    Mean(f64),
}

/// The chart of `rows` as an SVG document.
pub fn svg(rows: &[Row]) -> String {
    let lines = lines(rows);
    let ratios: Vec<f64> = lines.iter().filter_map(Line::ratio).collect();
    let axis = Axis::fitting(&ratios);
    let height = TOP + lines.len() as f64 * ROW_HEIGHT + AXIS_HEIGHT;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"24\" font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">\
         faasm-rs / Wasmtime per benchmark (log scale; for times, left of 1 is faster)</text>\n",
        WIDTH / 2.0
    );
    legend(
        &mut svg,
        lines
            .iter()
            .any(|line| matches!(line, Line::Bar(_, _, false))),
    );
    let bottom = height - AXIS_HEIGHT;
    axis.draw(&mut svg, bottom);
    for (index, line) in lines.iter().enumerate() {
        let y = TOP + index as f64 * ROW_HEIGHT;
        line.draw(&mut svg, &axis, y);
    }
    let one = axis.x(1.0);
    let _ = writeln!(
        svg,
        "<line x1=\"{one:.1}\" y1=\"{}\" x2=\"{one:.1}\" y2=\"{bottom}\" stroke=\"black\" \
         stroke-width=\"1.5\"/>",
        TOP - 6.0
    );
    svg.push_str("</svg>\n");
    svg
}

/// The chart's lines: per group, its title, its benchmarks and its geometric mean.
fn lines(rows: &[Row]) -> Vec<Line> {
    let mut groups: Vec<&str> = rows.iter().map(|row| row.group).collect();
    groups.dedup();
    let mut lines = Vec::new();
    for group in groups {
        let in_group: Vec<&Row> = rows.iter().filter(|row| row.group == group).collect();
        lines.push(Line::Group(group.to_string()));
        lines.extend(
            in_group
                .iter()
                .map(|row| Line::Bar(row.name.clone(), row.ratio(), row.unit == Unit::Seconds)),
        );
        // Only durations enter the mean (as in the table): counts and rates are not comparable.
        let ratios: Vec<f64> = in_group
            .iter()
            .filter(|row| row.unit == Unit::Seconds)
            .filter_map(|row| row.ratio())
            .collect();
        lines.extend(geomean(&ratios).map(Line::Mean));
    }
    lines
}

impl Line {
    fn ratio(&self) -> Option<f64> {
        match self {
            Line::Group(_) => None,
            Line::Bar(_, ratio, _) => *ratio,
            Line::Mean(mean) => Some(*mean),
        }
    }

    /// Draws the line with its top at `y`.
    fn draw(&self, svg: &mut String, axis: &Axis, y: f64) {
        let text_y = y + ROW_HEIGHT / 2.0 + 4.0;
        let label_x = PLOT_LEFT - 8.0;
        match self {
            Line::Group(name) => {
                let _ = writeln!(
                    svg,
                    "<line x1=\"8\" y1=\"{y}\" x2=\"{PLOT_RIGHT}\" y2=\"{y}\" stroke=\"#bbb\"/>\n\
                     <text x=\"8\" y=\"{text_y}\" font-weight=\"bold\">{}</text>",
                    escape(name)
                );
            }
            Line::Bar(name, ratio, timed) => {
                label(svg, label_x, text_y, &escape(name), "normal");
                let colors = if *timed { [FASTER, SLOWER] } else { [VALUE; 2] };
                match ratio {
                    Some(ratio) => bar(svg, axis, y, *ratio, colors),
                    None => label(svg, axis.x(1.0) + 6.0, text_y, "–", "normal"),
                }
            }
            Line::Mean(mean) => {
                label(svg, label_x, text_y, "geomean", "bold");
                bar(svg, axis, y, *mean, [MEAN_FASTER, MEAN_SLOWER]);
            }
        }
    }
}

/// The colours' meaning, under the title (grey only if some row is not a duration).
fn legend(svg: &mut String, values: bool) {
    let mut entries = vec![(FASTER, "ours faster"), (SLOWER, "ours slower")];
    if values {
        entries.push((VALUE, "not a time"));
    }
    for (index, (color, text)) in entries.into_iter().enumerate() {
        let x = PLOT_LEFT + index as f64 * 120.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"34\" width=\"10\" height=\"10\" fill=\"{color}\"/>\n\
             <text x=\"{}\" y=\"43\" font-size=\"11\">{text}</text>",
            x + 14.0
        );
    }
}

/// Right-aligned text ending at `x`.
fn label(svg: &mut String, x: f64, y: f64, text: &str, weight: &str) {
    let _ = writeln!(
        svg,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"end\" font-weight=\"{weight}\">{text}</text>"
    );
}

/// A bar from 1 to `ratio` in the row at `y`, with its value beyond its end.
fn bar(svg: &mut String, axis: &Axis, y: f64, ratio: f64, [faster, slower]: [&str; 2]) {
    let (one, end) = (axis.x(1.0), axis.x(ratio));
    let (left, right) = (one.min(end), one.max(end).max(one.min(end) + 1.0));
    let color = if ratio <= 1.0 { faster } else { slower };
    let top = y + (ROW_HEIGHT - BAR_HEIGHT) / 2.0;
    let (value_x, anchor) = if ratio <= 1.0 {
        (left - 4.0, "end")
    } else {
        (right + 4.0, "start")
    };
    let _ = writeln!(
        svg,
        "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{BAR_HEIGHT}\" \
         fill=\"{color}\"/>\n<text x=\"{value_x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" \
         font-size=\"11\">{ratio:.2}</text>",
        right - left,
        y + ROW_HEIGHT / 2.0 + 4.0
    );
}

/// The logarithmic ratio axis: powers of two from `low` to `high`.
#[derive(Debug)]
struct Axis {
    low: f64,
    high: f64,
}

impl Axis {
    /// At least 1/2 to 2, widened to whole powers of two around every ratio, at most 2^-10 to
    /// 2^10 (beyond it bars are cut at the edge).
    fn fitting(ratios: &[f64]) -> Axis {
        let finite = ratios.iter().copied().filter(|r| r.is_finite() && *r > 0.0);
        let (min, max) = finite.fold((0.5f64, 2.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
        Axis {
            low: min.log2().floor().max(-10.0).exp2(),
            high: max.log2().ceil().min(10.0).exp2(),
        }
    }

    /// The horizontal position of `ratio`, clamped to the plot area.
    fn x(&self, ratio: f64) -> f64 {
        let span = self.high.log2() - self.low.log2();
        let position = (ratio.max(self.low).min(self.high).log2() - self.low.log2()) / span;
        PLOT_LEFT + position * (PLOT_RIGHT - PLOT_LEFT)
    }

    /// Grid lines and labels at the powers of two (every other one on a wide axis), from the
    /// top to `bottom`.
    fn draw(&self, svg: &mut String, bottom: f64) {
        let (first, last) = (self.low.log2() as i32, self.high.log2() as i32);
        let step = if last - first > 10 { 2 } else { 1 };
        for power in (first..=last).step_by(step) {
            let ratio = f64::from(power).exp2();
            let x = self.x(ratio);
            let text = if power < 0 {
                format!("1/{}", 1u32 << -power)
            } else {
                format!("{}", 1u32 << power)
            };
            let _ = writeln!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#e4e4e4\"/>\n\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{text}×</text>",
                TOP - 6.0,
                bottom + 16.0
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">ours / wasmtime \
             (median time per iteration)</text>",
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            bottom + 32.0
        );
    }
}

/// `text` with XML's special characters escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
