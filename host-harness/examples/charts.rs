//! Writes the three charts, from made-up data, to a directory, to look at them:
//!
//! ```sh
//! cargo run --release -p host-harness --example charts -- /tmp/charts
//! chromium --headless --screenshot=/tmp/charts/page.png --window-size=840,1900 \
//!     file:///tmp/charts/page.html
//! ```
//!
//! Besides `use-over-time.svg`, `cohorts.svg`, `use-beside-delivery.svg` (12 weeks) it
//! writes `use-over-time-daily.svg` (90 days), `empty.svg`, `single-period.svg`,
//! `all.svg` (the three stacked in one file, as `report --chart` would write) and
//! `page.html`, which inlines the charts under the settings page's Content-Security-Policy
//! (as a `<meta>`), so a screenshot shows what that policy lets through.

use std::path::PathBuf;

use host_harness::charts::{
    beside_delivery, cohorts, stack, use_over_time, Bands, Cohorts, Panel, Series,
    UseBesideDelivery, UseOverTime,
};

fn periods(n: usize, step_days: i64) -> Vec<String> {
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 6).unwrap();
    (0..n)
        .map(|i| {
            (start + chrono::Duration::days(step_days * i as i64))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect()
}

/// A smooth made-up curve: `base` growing by `growth` a period, with a wobble.
fn curve(n: usize, base: f64, growth: f64, wobble: f64, seed: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let t = i as f64;
            ((base + growth * t) * (1.0 + wobble * (t * 0.9 + seed).sin()))
                .max(0.0)
                .round()
        })
        .collect()
}

fn use_over_time(periods: Vec<String>, scale: f64) -> UseOverTime {
    let n = periods.len();
    UseOverTime {
        title: "Codex use over time".into(),
        periods,
        panels: vec![
            Panel {
                title: "By path".into(),
                unit: "tokens".into(),
                series: vec![
                    Series::new(
                        "API keys",
                        curve(n, 900_000.0 * scale, 120_000.0 * scale, 0.12, 0.0),
                    ),
                    Series::new(
                        "ChatGPT sign-in",
                        curve(n, 400_000.0 * scale, 180_000.0 * scale, 0.1, 1.0),
                    ),
                ],
            },
            Panel {
                title: "ChatGPT sign-in, by surface".into(),
                unit: "credits".into(),
                series: vec![
                    Series::new("CLI", curve(n, 60.0 * scale, 9.0 * scale, 0.15, 2.0)),
                    Series::new(
                        "IDE extension",
                        curve(n, 40.0 * scale, 6.0 * scale, 0.1, 3.0),
                    ),
                    Series::new("Cloud", curve(n, 5.0 * scale, 4.0 * scale, 0.2, 4.0)),
                    Series::new("Code review", curve(n, 0.0, 2.0 * scale, 0.3, 5.0)),
                ],
            },
        ],
    }
}

/// Many series with long names, to see the legend cope.
fn long_names(periods: Vec<String>) -> UseOverTime {
    let n = periods.len();
    UseOverTime {
        title: "Codex use over time, by path and by surface, every team, last twelve weeks of the quarter".into(),
        periods,
        panels: vec![Panel {
            title: "ChatGPT sign-in: credits by surface and model".into(),
            unit: "credits".into(),
            series: (0..14)
                .map(|i| {
                    Series::new(
                        format!("ChatGPT sign-in: credits — IDE extension, model gpt-{i}-codex"),
                        curve(n, 10.0 * i as f64, 3.0, 0.1, i as f64),
                    )
                })
                .collect(),
        }],
    }
}

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/charts".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let weeks = periods(12, 7);
    let n = weeks.len();

    let people = 40u32;
    let heavy: Vec<u32> = (0..n as u32).map(|i| 1 + i * 9 / 11).collect();
    let moderate: Vec<u32> = (0..n as u32).map(|i| 3 + i * 7 / 11).collect();
    let light: Vec<u32> = (0..n as u32).map(|i| 8 + (i % 4)).collect();
    let none: Vec<u32> = (0..n)
        .map(|i| people - heavy[i] - moderate[i] - light[i])
        .collect();
    let cohort_data = Cohorts {
        title: "Adoption cohorts".into(),
        periods: weeks.clone(),
        none,
        light,
        moderate,
        heavy,
        bands: Some(Bands {
            light_max: 1,
            moderate_max: 3,
        }),
    };
    let delivery = UseBesideDelivery {
        title: "Codex use beside delivery".into(),
        periods: weeks.clone(),
        usage: Series::new("Codex-active days", curve(n, 60.0, 9.0, 0.1, 0.0)),
        commits: curve(n, 180.0, 6.0, 0.15, 1.0),
        lines_changed: curve(n, 14_000.0, 900.0, 0.25, 2.0),
    };

    let charts = [
        (
            "use-over-time.svg",
            use_over_time::render(&use_over_time(weeks.clone(), 1.0))?,
        ),
        ("cohorts.svg", cohorts::render(&cohort_data)?),
        (
            "use-beside-delivery.svg",
            beside_delivery::render(&delivery)?,
        ),
        (
            "use-over-time-daily.svg",
            use_over_time::render(&use_over_time(periods(90, 1), 0.15))?,
        ),
        (
            "empty.svg",
            cohorts::render(&Cohorts {
                periods: vec![],
                none: vec![],
                light: vec![],
                moderate: vec![],
                heavy: vec![],
                ..cohort_data.clone()
            })?,
        ),
        (
            "long-names.svg",
            use_over_time::render(&long_names(weeks.clone()))?,
        ),
        (
            "single-period.svg",
            use_over_time::render(&use_over_time(weeks[..1].to_vec(), 1.0))?,
        ),
        (
            "cohorts-large.svg",
            cohorts::render(&Cohorts {
                none: cohort_data.none.iter().map(|v| v * 60).collect(),
                light: cohort_data.light.iter().map(|v| v * 60).collect(),
                moderate: cohort_data.moderate.iter().map(|v| v * 60).collect(),
                heavy: cohort_data.heavy.iter().map(|v| v * 60).collect(),
                ..cohort_data.clone()
            })?,
        ),
    ];
    let mut page = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'nonce-abc'; script-src 'nonce-abc'; img-src 'self' data:\">\n\
         <style nonce=\"abc\">body{margin:0;padding:20px;background:#f4f4f4;font-family:sans-serif} svg.chart{display:block;margin:0 0 20px;background:#fff;max-width:100%;height:auto}</style>\n\
         </head><body>\n",
    );
    for (name, svg) in &charts {
        std::fs::write(dir.join(name), svg)?;
        page.push_str(svg);
    }
    let all: Vec<String> = charts[..3].iter().map(|(_, s)| s.clone()).collect();
    std::fs::write(dir.join("all.svg"), stack("Codex use", &all)?)?;
    page.push_str("</body></html>\n");
    std::fs::write(dir.join("page.html"), page)?;
    println!("wrote the charts and page.html to {}", dir.display());
    Ok(())
}
