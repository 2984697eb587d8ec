//! Cohorts at each threshold's edge, for weeks and months.

use super::*;

#[test]
fn week_thresholds_at_each_edge() {
    let t = CohortThresholds::for_period(AlignPeriod::Week);
    let got: Vec<Cohort> = [0, 1, 2, 3, 4, 7].map(|d| t.cohort(d)).to_vec();
    use Cohort::*;
    assert_eq!(got, [None, Light, Moderate, Moderate, Heavy, Heavy]);
    assert_eq!(
        (
            t.light_min,
            t.light_max,
            t.moderate_min,
            t.moderate_max,
            t.heavy_min
        ),
        (1, 1, 2, 3, 4)
    );
    assert_eq!(
        t.bands(),
        crate::charts::Bands {
            light_max: 1,
            moderate_max: 3
        }
    );
    assert_eq!(
        t.describe(),
        "Codex-active days per week: none 0, light 1, moderate 2–3, heavy 4 or more"
    );
}

#[test]
fn month_thresholds_at_each_edge() {
    let t = CohortThresholds::for_period(AlignPeriod::Month);
    let got: Vec<Cohort> = [0, 1, 3, 4, 9, 10, 31].map(|d| t.cohort(d)).to_vec();
    use Cohort::*;
    assert_eq!(got, [None, Light, Light, Moderate, Moderate, Heavy, Heavy]);
    assert_eq!(
        t.bands(),
        crate::charts::Bands {
            light_max: 3,
            moderate_max: 9
        }
    );
    assert_eq!(
        t.describe(),
        "Codex-active days per month: none 0, light 1–3, moderate 4–9, heavy 10 or more"
    );
    let json = serde_json::to_value(t).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"period": "month", "light_min": 1, "light_max": 3, "moderate_min": 4,
            "moderate_max": 9, "heavy_min": 10})
    );
}

/// Distinct UTC days: both paths on one day is one day. One person per edge of the week's
/// bands: 0 (commits only), 1, 2, 3 and 4 Codex-active days.
#[test]
fn people_fall_in_cohorts_by_distinct_active_days() {
    let mut codex = Vec::new();
    for (email, days) in [
        ("one@x.io", 1),
        ("two@x.io", 2),
        ("three@x.io", 3),
        ("four@x.io", 4),
    ] {
        for d in 0..days {
            let date = format!("2026-01-{:02}", 5 + d);
            codex.push(api_day(email, &date, 1, 1));
            codex.push(chat_day(email, &date, &[("CODEX_CLI", 1)]));
        }
    }
    let input = AlignmentInput {
        codex_days: codex,
        commits: vec![commit("z", "zero@x.io", "2026-01-05T10:00:00Z", 1, 0)],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    let got: Vec<(&str, u32, Option<Cohort>)> = r
        .rows
        .iter()
        .map(|x| (x.email.as_deref().unwrap(), x.codex_active_days, x.cohort))
        .collect();
    use Cohort::*;
    assert_eq!(
        got,
        [
            ("four@x.io", 4, Some(Heavy)),
            ("one@x.io", 1, Some(Light)),
            ("three@x.io", 3, Some(Moderate)),
            ("two@x.io", 2, Some(Moderate)),
            ("zero@x.io", 0, Some(None)),
        ]
    );
    // Per month the same days are lighter: 4 days is moderate, 3 light.
    let r = run(&input, By::Person, AlignPeriod::Month);
    assert_eq!(row(&r, "four@x.io", "2026-01-01").cohort, Some(Moderate));
    assert_eq!(row(&r, "three@x.io", "2026-01-01").cohort, Some(Light));
    assert_eq!(
        r.thresholds,
        CohortThresholds::for_period(AlignPeriod::Month)
    );
}
