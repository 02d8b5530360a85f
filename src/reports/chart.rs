//! Server-rendered SVG charts in NHS colours: no JavaScript, nothing from a CDN. Each chart
//! has a title and a description (`role="img"`, `aria-labelledby`); the page puts the data
//! table beside it, so the numbers are there for everyone.

/// NHS identity colours, one per series.
pub const COLOURS: [&str; 6] = [
    "#005eb8", "#009639", "#ffb81c", "#330072", "#ae2573", "#00a499",
];

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

/// Stacked bars (one bar per label) or lines (one line per series), with a legend.
pub fn render(
    id: &str,
    title: &str,
    description: &str,
    labels: &[String],
    series: &[Series],
    stacked_bars: bool,
) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 300.0, 48.0, 16.0, 16.0, 64.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let n = labels.len().max(1);
    let max = if stacked_bars {
        (0..labels.len())
            .map(|i| {
                series
                    .iter()
                    .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max)
    } else {
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0, f64::max)
    };
    let max = if max <= 0.0 { 1.0 } else { nice_ceiling(max) };
    let y = |v: f64| top + plot_h - v / max * plot_h;
    let step = plot_w / n as f64;
    let mut out = format!(
        r#"<svg class="hw-chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        esc(title),
        esc(description)
    );
    // axis and gridlines
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
    if stacked_bars {
        for (i, label) in labels.iter().enumerate() {
            let mut base = 0.0;
            for (si, s) in series.iter().enumerate() {
                let v = s.values.get(i).copied().unwrap_or(0.0);
                if v > 0.0 {
                    let x = left + step * i as f64 + step * 0.15;
                    out.push_str(&format!(
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                        y(base + v),
                        step * 0.7,
                        y(base) - y(base + v),
                        COLOURS[si % COLOURS.len()],
                        esc(&format!("{} {}", label, s.name)),
                        trim(v)
                    ));
                }
                base += v;
            }
        }
    } else {
        for (si, s) in series.iter().enumerate() {
            let points: Vec<String> = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{:.1},{:.1}", left + step * (i as f64 + 0.5), y(*v)))
                .collect();
            let dash = if s.name.contains("projected") {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            out.push_str(&format!(
                r#"<polyline fill="none" stroke="{}" stroke-width="3"{dash} points="{}"/>"#,
                COLOURS[si % COLOURS.len()],
                points.join(" ")
            ));
        }
    }
    // x labels: at most about twelve
    let every = labels.len().div_ceil(12).max(1);
    for (i, l) in labels.iter().enumerate().filter(|(i, _)| i % every == 0) {
        let x = left + step * (i as f64 + 0.5);
        out.push_str(&format!(
            r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#4c6272">{}</text>"##,
            top + plot_h + 16.0,
            esc(l)
        ));
    }
    // legend
    let mut lx = left;
    for (si, s) in series.iter().enumerate() {
        out.push_str(&format!(
            r##"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="#212b32">{}</text>"##,
            h - 22.0,
            COLOURS[si % COLOURS.len()],
            lx + 16.0,
            h - 12.0,
            esc(&s.name)
        ));
        lx += 24.0 + 7.0 * s.name.chars().count() as f64;
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

    #[test]
    fn charts_are_accessible_svg_and_escape_labels() {
        let svg = render(
            "c1",
            "Discharges <per day>",
            "desc",
            &["1 Nov".into(), "2 Nov".into()],
            &[Series {
                name: "P1 & P2".into(),
                values: vec![2.0, 3.0],
            }],
            true,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains(r#"role="img""#)
                && svg.contains("<title id=\"c1-title\">Discharges &lt;per day&gt;</title>")
        );
        assert!(svg.contains("P1 &amp; P2"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            3,
            "two bars and a legend key"
        );
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(23.0), 25.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
    }
}
