//! Chart inputs hold the rows' numbers, and render.

use super::*;
use crate::charts;
use chart_inputs::{beside_delivery, cohorts, use_over_time};

/// Per period, `f` summed over the rows by hand.
fn sums(r: &AlignmentReport, f: impl Fn(&Row) -> f64) -> Vec<f64> {
    r.periods
        .iter()
        .map(|p| r.rows.iter().filter(|x| &x.period_start == p).map(&f).sum())
        .collect()
}

#[test]
fn use_over_time_by_path_and_surface() {
    let r = run(&trend::input(), By::Person, AlignPeriod::Week);
    let u = r.use_over_time_chart();
    assert_eq!(u.periods, r.periods);
    assert_eq!(u.panels.len(), 2);
    let by_path: Vec<(&str, &Vec<f64>)> = u.panels[0]
        .series
        .iter()
        .map(|s| (s.name.as_str(), &s.values))
        .collect();
    assert_eq!(
        by_path,
        [
            ("Either path", &vec![2.0, 0.0, 7.0, 1.0]),
            ("API key", &vec![1.0, 0.0, 5.0, 1.0]),
            ("ChatGPT sign-in", &vec![1.0, 0.0, 2.0, 0.0]),
        ]
    );
    assert_eq!(
        u.panels[0].series[0].values,
        sums(&r, |x| f64::from(x.codex_active_days))
    );
    assert_eq!(
        u.panels[0].series[1].values,
        sums(&r, |x| f64::from(x.api_key_active_days))
    );
    assert_eq!(
        u.panels[0].series[2].values,
        sums(&r, |x| f64::from(x.chatgpt_active_days))
    );
    let by_surface: Vec<(&str, &Vec<f64>)> = u.panels[1]
        .series
        .iter()
        .map(|s| (s.name.as_str(), &s.values))
        .collect();
    assert_eq!(
        by_surface,
        [
            ("CODEX_CLI", &vec![0.0, 0.0, 2.0, 0.0]),
            ("CODEX_WEB", &vec![1.0, 0.0, 1.0, 0.0])
        ]
    );
    assert_eq!(
        (u.panels[1].unit.as_str(), u.panels[1].title.as_str()),
        ("person-days", "ChatGPT sign-in, by surface")
    );
    let svg = charts::use_over_time::render(&u).unwrap();
    assert!(svg.contains(r#"data-values="2,0,7,1""#), "{svg}");
    assert!(svg.contains(r#"data-periods="2026-01-05,2026-01-12,2026-01-19,2026-01-26""#));
}

#[test]
fn cohorts_over_time_with_the_thresholds_as_bands() {
    let r = run(&trend::input(), By::Person, AlignPeriod::Week);
    let c = r.cohorts_chart();
    assert_eq!(c.periods, r.periods);
    assert_eq!(
        (&c.none, &c.light, &c.moderate, &c.heavy),
        (
            &vec![2, 0, 1, 3],
            &vec![2, 0, 1, 1],
            &vec![0, 0, 1, 0],
            &vec![0, 0, 1, 0]
        )
    );
    assert_eq!(
        c.bands,
        Some(charts::Bands {
            light_max: 1,
            moderate_max: 3
        })
    );
    // From the person rows: the same as the trend's.
    assert_eq!(cohorts(&r.periods, &r.rows, &r.thresholds), c);
    let svg = charts::cohorts::render(&c).unwrap();
    assert!(
        svg.contains(r#"data-series="none" data-values="2,0,1,3""#),
        "{svg}"
    );
    assert!(
        svg.contains("Light (1 day)") && svg.contains("Heavy (4+ days)"),
        "{svg}"
    );

    // A team's row adds its head counts per cohort.
    let teams = AlignmentInput {
        teams: [(
            "all".to_string(),
            ["p1@x.io", "p2@x.io", "p3@x.io", "p4@x.io", "p5@x.io"]
                .map(String::from)
                .to_vec(),
        )]
        .into(),
        ..trend::input()
    };
    let t = run(&teams, By::Team, AlignPeriod::Week);
    assert_eq!(cohorts(&t.periods, &t.rows, &t.thresholds), c);
}

#[test]
fn use_beside_delivery_per_period() {
    let r = run(&trend::input(), By::Person, AlignPeriod::Week);
    let b = r.beside_delivery_chart();
    assert_eq!(b.usage.name, "Codex-active days");
    assert_eq!(b.usage.values, [2.0, 0.0, 7.0, 1.0]);
    assert_eq!(b.commits, [3.0, 0.0, 1.0, 2.0]);
    assert_eq!(b.lines_changed, [6.0, 0.0, 5.0, 11.0]);
    assert_eq!(b.usage.values, sums(&r, |x| f64::from(x.codex_active_days)));
    assert_eq!(b.commits, sums(&r, |x| x.commits as f64));
    assert_eq!(
        b.lines_changed,
        sums(&r, |x| (x.lines_added + x.lines_deleted) as f64)
    );
    // One team's rows chart that team.
    let one: Vec<Row> = r
        .rows
        .iter()
        .filter(|x| x.email.as_deref() == Some("p4@x.io"))
        .cloned()
        .collect();
    assert_eq!(
        beside_delivery(&r.periods, &one).commits,
        [1.0, 0.0, 1.0, 0.0]
    );
    assert_eq!(use_over_time(&r.periods, &one).panels[1].series.len(), 0);
    let svg = charts::beside_delivery::render(&b).unwrap();
    assert!(
        svg.contains(r#"data-series="commits" data-values="3,0,1,2""#),
        "{svg}"
    );
}

#[test]
fn no_data_gives_empty_charts() {
    let r = run(&AlignmentInput::default(), By::Person, AlignPeriod::Month);
    assert!(r.periods.is_empty() && r.rows.is_empty() && r.trend.is_empty());
    assert!(charts::use_over_time::render(&r.use_over_time_chart())
        .unwrap()
        .contains(r#"data-empty="true""#));
    assert!(charts::cohorts::render(&r.cohorts_chart())
        .unwrap()
        .contains(r#"data-empty="true""#));
    assert!(charts::beside_delivery::render(&r.beside_delivery_chart())
        .unwrap()
        .contains(r#"data-empty="true""#));
}
