//! Server-rendered SVG charts in NHS colours: no JavaScript, nothing from a CDN. Each chart
//! has a title and a description (`role="img"`, `aria-labelledby`), says what its axis
//! counts, and names every series in words. Colour is never the only cue: each bar series
//! also has its own fill pattern (solid, stripes, dots, cross-hatching...), shown in the
//! legend; each line has its own dash and marker shape and is labelled at its end. The page
//! puts the data table beside each chart, so the numbers are there for everyone.

/// NHS identity colours, one per series.
pub const COLOURS: [&str; 6] = [
    "#005eb8", "#009639", "#ffb81c", "#330072", "#ae2573", "#00a499",
];

/// Fill patterns drawn over a series' colour, on an 8 by 8 tile: (name, SVG drawn over the
/// colour). The first is plain colour.
const PATTERNS: [(&str, &str); 7] = [
    ("solid", ""),
    (
        "diagonal stripes",
        r#"<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke-width="2"/>"#,
    ),
    ("dots", r#"<circle cx="4" cy="4" r="1.8" stroke="none"/>"#),
    (
        "horizontal stripes",
        r#"<path d="M0,4 h8" stroke-width="2"/>"#,
    ),
    (
        "cross-hatching",
        r#"<path d="M0,0 l8,8 M8,0 l-8,8" stroke-width="1.5"/>"#,
    ),
    (
        "vertical stripes",
        r#"<path d="M4,0 v8" stroke-width="2"/>"#,
    ),
    (
        "reverse stripes",
        r#"<path d="M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4" stroke-width="2"/>"#,
    ),
];

/// Dash patterns for lines (none for the first).
const DASHES: [&str; 4] = ["", "9 5", "3 4", "12 4 3 4"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One bar per label, the series stacked.
    StackedBars,
    /// One line per series.
    Lines,
}

pub struct Chart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub description: &'a str,
    /// What the vertical axis counts, e.g. "Patients".
    pub y_label: &'a str,
    pub labels: &'a [String],
    pub series: &'a [Series],
    pub kind: Kind,
}

/// The overlay colour for a pattern on `colour`: dark on the light yellow, white otherwise.
fn ink(colour: &str) -> &'static str {
    if colour == "#ffb81c" {
        "#212b32"
    } else {
        "#ffffff"
    }
}

fn colour(k: usize) -> &'static str {
    COLOURS[k % COLOURS.len()]
}

/// The fill of bar series `k`: its colour, with its pattern over it.
fn fill(id: &str, k: usize) -> String {
    if PATTERNS[k % PATTERNS.len()].1.is_empty() {
        colour(k).to_string()
    } else {
        format!("url(#{id}-fill-{k})")
    }
}

/// A marker for line series `k` at (x, y): circle, square, triangle or diamond.
fn marker(k: usize, x: f64, y: f64, c: &str) -> String {
    match k % 4 {
        0 => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{c}"/>"#),
        1 => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="{c}"/>"#,
            x - 4.0,
            y - 4.0
        ),
        2 => format!(
            r#"<path d="M{x:.1},{:.1} l5,9 h-10 z" fill="{c}"/>"#,
            y - 5.0
        ),
        _ => format!(
            r#"<path d="M{x:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="{c}"/>"#,
            y - 5.0
        ),
    }
}

/// Renders the chart as an SVG element.
pub fn render(c: &Chart) -> String {
    let stacked = c.kind == Kind::StackedBars;
    let legend_rows = c.series.len() as f64;
    let (w, left, top) = (720.0, 56.0, 16.0);
    // lines are labelled at their right-hand end
    let right = if stacked { 16.0 } else { 170.0 };
    let (plot_h, axis_h) = (220.0, 28.0);
    let legend_top = top + plot_h + axis_h + 8.0;
    let h = legend_top + 18.0 * legend_rows + 8.0;
    let plot_w = w - left - right;
    let n = c.labels.len().max(1);
    let max = if stacked {
        (0..c.labels.len())
            .map(|i| {
                c.series
                    .iter()
                    .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max)
    } else {
        c.series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0, f64::max)
    };
    let max = if max <= 0.0 { 1.0 } else { nice_ceiling(max) };
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let step = plot_w / n as f64;
    let id = c.id;
    let mut out = format!(
        r#"<svg class="hw-chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        esc(c.title),
        esc(c.description)
    );
    if stacked {
        out.push_str("<defs>");
        for k in 0..c.series.len() {
            let (_, overlay) = PATTERNS[k % PATTERNS.len()];
            if overlay.is_empty() {
                continue;
            }
            let (bg, fg) = (colour(k), ink(colour(k)));
            out.push_str(&format!(
                r#"<pattern id="{id}-fill-{k}" patternUnits="userSpaceOnUse" width="8" height="8"><rect width="8" height="8" fill="{bg}"/><g stroke="{fg}" fill="{fg}">{overlay}</g></pattern>"#
            ));
        }
        out.push_str("</defs>");
    }
    // the vertical axis: its label, gridlines and values
    out.push_str(&format!(
        r##"<text x="14" y="{:.1}" font-size="12" fill="#212b32" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}</text>"##,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(c.y_label)
    ));
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let yy = y(v);
        out.push_str(&format!(
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#d8dde0" stroke-width="1"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#4c6272">{}</text>"##,
            w - right,
            left - 6.0,
            yy + 4.0,
            trim(v)
        ));
    }
    // x labels: at most about twelve
    let every = c.labels.len().div_ceil(12).max(1);
    if stacked {
        for (i, label) in c.labels.iter().enumerate() {
            let mut base = 0.0;
            for (k, s) in c.series.iter().enumerate() {
                let v = s.values.get(i).copied().unwrap_or(0.0);
                if v > 0.0 {
                    let x = left + step * i as f64 + step * 0.15;
                    out.push_str(&format!(
                        r##"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" stroke="#ffffff" stroke-width="0.5"><title>{}: {}</title></rect>"##,
                        y(base + v),
                        step * 0.7,
                        y(base) - y(base + v),
                        fill(id, k),
                        esc(&format!("{}, {}", label, s.name)),
                        trim(v)
                    ));
                }
                base += v;
            }
        }
    } else {
        let mut ends: Vec<(f64, usize)> = vec![];
        for (k, s) in c.series.iter().enumerate() {
            let col = colour(k);
            let points: Vec<(f64, f64)> = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| (left + step * (i as f64 + 0.5), y(*v)))
                .collect();
            let dash = DASHES[k % DASHES.len()];
            let dash = if dash.is_empty() {
                String::new()
            } else {
                format!(r#" stroke-dasharray="{dash}""#)
            };
            out.push_str(&format!(
                r#"<polyline fill="none" stroke="{col}" stroke-width="3"{dash} points="{}"><title>{}</title></polyline>"#,
                points
                    .iter()
                    .map(|(x, y)| format!("{x:.1},{y:.1}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                esc(&s.name)
            ));
            for (i, (x, yy)) in points.iter().enumerate() {
                if i % every == 0 || i + 1 == points.len() {
                    out.push_str(&marker(k, *x, *yy, col));
                }
            }
            if let Some((_, yy)) = points.last() {
                ends.push((*yy, k));
            }
        }
        // direct labels at the lines' ends, nudged apart so they never overlap
        ends.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut last = f64::MIN;
        for (yy, k) in ends {
            let ly = (yy + 4.0).max(last + 14.0);
            last = ly;
            out.push_str(&format!(
                r#"<text x="{:.1}" y="{ly:.1}" font-size="12" font-weight="bold" fill="{}">{}</text>"#,
                w - right + 8.0,
                colour(k),
                esc(&c.series[k].name)
            ));
        }
    }
    for (i, l) in c.labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let x = left + step * (i as f64 + 0.5);
        out.push_str(&format!(
            r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#4c6272">{}</text>"##,
            top + plot_h + 16.0,
            esc(l)
        ));
    }
    // the legend: one series a line, its swatch drawn as the series is
    for (k, s) in c.series.iter().enumerate() {
        let ly = legend_top + 18.0 * k as f64;
        if stacked {
            out.push_str(&format!(
                r##"<rect x="{left}" y="{ly:.1}" width="14" height="14" fill="{}" stroke="#212b32" stroke-width="0.5"/>"##,
                fill(id, k)
            ));
        } else {
            let dash = DASHES[k % DASHES.len()];
            let dash = if dash.is_empty() {
                String::new()
            } else {
                format!(r#" stroke-dasharray="{dash}""#)
            };
            out.push_str(&format!(
                r#"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"{dash}/>"#,
                left + 28.0,
                ly + 7.0,
                ly + 7.0,
                colour(k)
            ));
            out.push_str(&marker(k, left + 14.0, ly + 7.0, colour(k)));
        }
        let pattern = if stacked {
            format!(" ({})", PATTERNS[k % PATTERNS.len()].0)
        } else {
            String::new()
        };
        out.push_str(&format!(
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#212b32">{}{}</text>"##,
            left + 36.0,
            ly + 11.0,
            esc(&s.name),
            esc(&pattern)
        ));
    }
    out.push_str("</svg>");
    out
}

fn trim(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10.0 * mag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart<'a>(labels: &'a [String], series: &'a [Series], kind: Kind) -> Chart<'a> {
        Chart {
            id: "c1",
            title: "Discharges <per day>",
            description: "desc",
            y_label: "Patients",
            labels,
            series,
            kind,
        }
    }

    #[test]
    fn charts_are_accessible_svg_and_escape_labels() {
        let labels = vec!["1 Nov".to_string(), "2 Nov".to_string()];
        let series = [Series {
            name: "P1 & P2".into(),
            values: vec![2.0, 3.0],
        }];
        let svg = render(&chart(&labels, &series, Kind::StackedBars));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains(r#"role="img""#)
                && svg.contains("<title id=\"c1-title\">Discharges &lt;per day&gt;</title>")
        );
        assert!(svg.contains("P1 &amp; P2"));
        assert!(
            svg.contains(">Patients</text>"),
            "the axis says what it counts"
        );
        assert_eq!(
            svg.matches("<rect x=").count(),
            3,
            "two bars and a legend key"
        );
    }

    #[test]
    fn every_bar_series_has_its_own_pattern_and_colour() {
        let labels = vec!["1 Nov".to_string()];
        let series: Vec<Series> = (0..7)
            .map(|k| Series {
                name: format!("series {k}"),
                values: vec![1.0],
            })
            .collect();
        let svg = render(&chart(&labels, &series, Kind::StackedBars));
        let fills: Vec<String> = (0..7).map(|k| fill("c1", k)).collect();
        let mut unique = fills.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 7, "{fills:?}");
        // each legend entry names its pattern, so the legend reads without colour
        assert!(svg.contains("series 1 (diagonal stripes)"));
        assert!(svg.contains("series 2 (dots)"));
        assert_eq!(svg.matches("<pattern ").count(), 6);
    }

    #[test]
    fn lines_are_labelled_at_their_ends_with_distinct_dashes() {
        let labels = vec!["1 Nov".to_string(), "2 Nov".to_string()];
        let series = [
            Series {
                name: "Demand".into(),
                values: vec![2.0, 2.0],
            },
            Series {
                name: "Places available".into(),
                values: vec![2.0, 2.0],
            },
        ];
        let svg = render(&chart(&labels, &series, Kind::Lines));
        assert!(svg.contains(r##"font-weight="bold" fill="#005eb8">Demand</text>"##));
        assert!(svg.contains(r##"font-weight="bold" fill="#009639">Places available</text>"##));
        assert!(svg.contains(r#"stroke-dasharray="9 5""#));
        // the two end labels, at the same value, are pushed apart
        let ys: Vec<f64> = svg
            .match_indices(r#"font-weight="bold""#)
            .map(|(i, _)| {
                let before = &svg[..i];
                let y_at = before.rfind("y=\"").unwrap_or(0) + 3;
                before[y_at..].split('"').next().unwrap().parse().unwrap()
            })
            .collect();
        assert!((ys[0] - ys[1]).abs() >= 14.0, "{ys:?}");
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(23.0), 25.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
    }
}
