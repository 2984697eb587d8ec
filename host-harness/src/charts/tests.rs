//! Each chart rendered from known data, parsed as XML, and held to its input (the series'
//! `data-values`), to the CSP rules ([`super::check`]) and to readability basics.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::check::csp_findings;
use super::*;

/// What a test needs from one SVG.
#[derive(Debug, Default)]
struct Parsed {
    /// The root element's attributes.
    root: Vec<(String, String)>,
    /// The attributes of each `<g class="series">`, in document order.
    series: Vec<Vec<(String, String)>>,
    /// The elements in each series group (`polyline`, `circle`, `rect`, `text`…).
    series_elements: Vec<Vec<String>>,
    /// Every `<text>`'s content (trimmed) with its `font-size`.
    texts: Vec<(String, f64)>,
    /// Every element's name and every attribute's name.
    elements: Vec<String>,
    attribute_names: Vec<String>,
    /// Nested `<svg>` roots (for a stack).
    nested: Vec<Vec<(String, String)>>,
}

impl Parsed {
    fn text(&self) -> Vec<&str> {
        self.texts.iter().map(|(t, _)| t.as_str()).collect()
    }
    fn root_attr(&self, name: &str) -> Option<&str> {
        get(&self.root, name)
    }
    fn series(&self, name: &str) -> &Vec<(String, String)> {
        self.series
            .iter()
            .find(|g| get(g, "data-series") == Some(name))
            .unwrap_or_else(|| panic!("no series {name:?} in {:?}", self.series))
    }
    fn values(&self, name: &str) -> Vec<f64> {
        values_of(self.series(name))
    }
}

fn get<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn values_of(group: &[(String, String)]) -> Vec<f64> {
    let v = get(group, "data-values").expect("data-values");
    if v.is_empty() {
        return Vec::new();
    }
    v.split(',').map(|x| x.parse().expect("a number")).collect()
}

/// Parse `svg` (panics when it is not well-formed XML) and check it against the CSP rules.
fn parse(svg: &str) -> Parsed {
    assert_eq!(
        csp_findings(svg),
        Vec::<String>::new(),
        "CSP findings in:\n{svg}"
    );
    assert!(!svg.contains('\u{E000}'), "a group placeholder was left");
    let mut reader = Reader::from_str(svg);
    reader.config_mut().check_end_names = true;
    let mut p = Parsed::default();
    let mut stack: Vec<(String, bool)> = Vec::new(); // element, is a series group
    let mut in_text: Option<f64> = None;
    let mut depth_series: Option<usize> = None;
    loop {
        let event = reader.read_event().expect("well-formed XML");
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                let attrs: Vec<(String, String)> = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("an attribute");
                        (
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().expect("an escaped value").into_owned(),
                        )
                    })
                    .collect();
                p.attribute_names
                    .extend(attrs.iter().map(|(k, _)| k.clone()));
                p.elements.push(name.clone());
                if let Some(i) = depth_series {
                    p.series_elements[i].push(name.clone());
                }
                let is_series = name == "g" && get(&attrs, "class") == Some("series");
                if name == "svg" {
                    if p.root.is_empty() {
                        p.root = attrs.clone();
                    } else {
                        p.nested.push(attrs.clone());
                    }
                }
                if name == "text" {
                    in_text = Some(
                        get(&attrs, "font-size")
                            .expect("font-size on <text>")
                            .parse()
                            .expect("a number"),
                    );
                    p.texts.push((String::new(), in_text.unwrap()));
                }
                if is_series {
                    assert!(depth_series.is_none(), "series groups do not nest");
                    p.series.push(attrs);
                    p.series_elements.push(Vec::new());
                    depth_series = Some(p.series.len() - 1);
                }
                if matches!(event, Event::Start(_)) {
                    stack.push((name, is_series));
                } else if name == "text" {
                    in_text = None;
                }
            }
            Event::End(_) => {
                let (name, is_series) = stack.pop().expect("balanced");
                if is_series {
                    depth_series = None;
                }
                if name == "text" {
                    in_text = None;
                    let t = p.texts.last_mut().unwrap();
                    t.0 = t.0.trim().to_string();
                }
            }
            Event::Text(t) => {
                if in_text.is_some() {
                    p.texts.last_mut().unwrap().0 += &t.unescape().expect("text");
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) => {}
            other => panic!("unexpected XML: {other:?}"),
        }
    }
    assert!(stack.is_empty());
    for name in &p.attribute_names {
        let n = name.to_ascii_lowercase();
        assert!(!n.starts_with("on"), "event attribute {name}");
        assert!(
            n != "style" && !n.ends_with("href") && n != "src",
            "attribute {name}"
        );
    }
    for e in &p.elements {
        assert!(
            ["svg", "title", "g", "rect", "line", "polyline", "polygon", "circle", "text"]
                .contains(&e.as_str()),
            "element <{e}>"
        );
    }
    p
}

/// Readable at 800 wide: no text under 11 px, and a root of 800 × something with a viewBox.
fn assert_readable(p: &Parsed) {
    for (t, size) in &p.texts {
        assert!(*size >= 11.0, "{t:?} at {size}px");
        assert_eq!((size * 100.0).round() / 100.0, *size, "font-size {size}");
    }
    assert_eq!(p.root_attr("width"), Some("800"));
    let h = p.root_attr("height").unwrap();
    assert_eq!(
        p.root_attr("viewBox"),
        Some(format!("0 0 800 {h}").as_str())
    );
}

fn weeks(n: usize) -> Vec<String> {
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 6).unwrap();
    (0..n)
        .map(|i| {
            (start + chrono::Duration::days(7 * i as i64))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect()
}

fn use_data() -> UseOverTime {
    UseOverTime {
        title: "Codex use over time".into(),
        periods: weeks(6),
        panels: vec![
            Panel {
                title: "By path".into(),
                unit: "tokens".into(),
                series: vec![
                    Series::new(
                        "API keys: tokens",
                        vec![1_200_000.0, 1_500_000.0, 0.0, 2_250_000.5, 3e6, 2.9e6],
                    ),
                    Series::new(
                        "ChatGPT sign-in: tokens",
                        vec![800_000.0, 950_000.0, 1e6, 1.1e6, 1.3e6, 1.25e6],
                    ),
                ],
            },
            Panel {
                title: "ChatGPT sign-in, by surface".into(),
                unit: "credits".into(),
                series: vec![
                    Series::new("CLI", vec![10.25, 12.5, 14.0, 0.0, 20.75, 22.0]),
                    Series::new("IDE extension", vec![5.0, 6.0, 7.5, 9.0, 9.25, 11.0]),
                    Series::new("Cloud", vec![0.0, 0.0, 1.0, 2.0, 3.5, 4.0]),
                ],
            },
        ],
    }
}

fn cohort_data() -> Cohorts {
    Cohorts {
        title: "Adoption cohorts".into(),
        periods: weeks(5),
        none: vec![20, 16, 12, 10, 8],
        light: vec![12, 13, 14, 12, 11],
        moderate: vec![6, 8, 9, 11, 12],
        heavy: vec![2, 3, 5, 7, 9],
        bands: Some(Bands {
            light_max: 1,
            moderate_max: 3,
        }),
    }
}

fn delivery_data() -> UseBesideDelivery {
    UseBesideDelivery {
        title: "Codex use beside delivery".into(),
        periods: weeks(6),
        usage: Series::new(
            "Codex-active days",
            vec![42.0, 55.0, 61.0, 58.0, 70.0, 76.0],
        ),
        commits: vec![120.0, 131.0, 140.0, 128.0, 152.0, 160.0],
        lines_changed: vec![15_400.0, 17_250.0, 16_000.0, 21_300.0, 19_800.0, 24_100.0],
    }
}

#[test]
fn use_over_time_draws_each_series_with_its_values() {
    let data = use_data();
    let svg = use_over_time::render(&data).unwrap();
    let p = parse(&svg);
    assert_readable(&p);
    assert_eq!(p.root_attr("data-chart"), Some("use-over-time"));
    assert_eq!(
        p.root_attr("data-periods"),
        Some(data.periods.join(",").as_str())
    );
    assert_eq!(p.root_attr("aria-label"), Some("Codex use over time"));
    assert_eq!(p.series.len(), 5);
    for panel in &data.panels {
        for s in &panel.series {
            let g = p.series(&s.name);
            assert_eq!(values_of(g), s.values, "{}", s.name);
            assert_eq!(get(g, "data-panel"), Some(panel.title.as_str()));
            assert_eq!(get(g, "data-unit"), Some(panel.unit.as_str()));
        }
    }
    // Each series is one line with a dot per period.
    for elements in &p.series_elements {
        assert_eq!(elements.iter().filter(|e| *e == "polyline").count(), 1);
        assert_eq!(elements.iter().filter(|e| *e == "circle").count(), 6);
    }
    let text = p.text();
    for expected in [
        "Codex use over time",
        "By path",
        "ChatGPT sign-in, by surface",
        "tokens",
        "credits",
        "API keys: tokens",
        "IDE extension",
        "2025-01-06",
        "3M",
        "0",
    ] {
        assert!(text.contains(&expected), "{expected:?} not in {text:?}");
    }
}

#[test]
fn cohorts_stack_the_four_cohorts() {
    let data = cohort_data();
    let svg = cohorts::render(&data).unwrap();
    let p = parse(&svg);
    assert_readable(&p);
    assert_eq!(p.root_attr("data-chart"), Some("cohorts"));
    // Drawn from the baseline up.
    let order: Vec<&str> = p
        .series
        .iter()
        .map(|g| get(g, "data-series").unwrap())
        .collect();
    assert_eq!(order, ["heavy", "moderate", "light", "none"]);
    let as_f64 = |v: &[u32]| v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>();
    assert_eq!(p.values("none"), as_f64(&data.none));
    assert_eq!(p.values("light"), as_f64(&data.light));
    assert_eq!(p.values("moderate"), as_f64(&data.moderate));
    assert_eq!(p.values("heavy"), as_f64(&data.heavy));
    for elements in &p.series_elements {
        assert_eq!(elements.iter().filter(|e| *e == "rect").count(), 5);
    }
    let text = p.text();
    for expected in [
        "Adoption cohorts",
        "None (0 days)",
        "Light (1 day)",
        "Moderate (2–3 days)",
        "Heavy (4+ days)",
        "people",
        "2025-02-03",
        "40",
    ] {
        assert!(text.contains(&expected), "{expected:?} not in {text:?}");
    }
    // Segments tall enough carry their count.
    assert!(text.contains(&"20") && text.contains(&"12"));
}

#[test]
fn use_beside_delivery_aligns_three_measures() {
    let data = delivery_data();
    let svg = beside_delivery::render(&data).unwrap();
    let p = parse(&svg);
    assert_readable(&p);
    assert_eq!(p.root_attr("data-chart"), Some("use-beside-delivery"));
    assert_eq!(p.values("Codex-active days"), data.usage.values);
    assert_eq!(p.values("commits"), data.commits);
    assert_eq!(p.values("lines changed"), data.lines_changed);
    let text = p.text();
    for expected in [
        "Codex use beside delivery",
        "Codex-active days",
        "Commits",
        "Lines changed",
        "30k",
        "2025-01-06",
    ] {
        assert!(text.contains(&expected), "{expected:?} not in {text:?}");
    }
    // Periods are labelled once, under the bottom panel.
    assert_eq!(text.iter().filter(|t| **t == "2025-01-06").count(), 1);
}

#[test]
fn no_periods_says_no_data_yet() {
    let empty_use = UseOverTime {
        title: String::new(),
        periods: vec![],
        panels: vec![],
    };
    let mut no_series = use_data();
    for panel in &mut no_series.panels {
        panel.series.clear();
    }
    let empty_cohorts = Cohorts {
        title: String::new(),
        periods: vec![],
        none: vec![],
        light: vec![],
        moderate: vec![],
        heavy: vec![],
        bands: None,
    };
    let empty_delivery = UseBesideDelivery {
        title: String::new(),
        periods: vec![],
        usage: Series::new("tokens", vec![]),
        commits: vec![],
        lines_changed: vec![],
    };
    for svg in [
        use_over_time::render(&empty_use).unwrap(),
        use_over_time::render(&no_series).unwrap(),
        cohorts::render(&empty_cohorts).unwrap(),
        beside_delivery::render(&empty_delivery).unwrap(),
    ] {
        let p = parse(&svg);
        assert_readable(&p);
        assert_eq!(p.root_attr("data-empty"), Some("true"));
        assert!(p.series.is_empty());
        assert!(p.text().contains(&empty::NO_DATA), "{svg}");
    }
    // A generic title when none is given.
    let p = parse(&cohorts::render(&empty_cohorts).unwrap());
    assert!(p.text().contains(&"Adoption cohorts"));
}

#[test]
fn a_panel_without_series_says_no_data_yet_in_its_place() {
    let mut data = use_data();
    data.panels[1].series.clear();
    let p = parse(&use_over_time::render(&data).unwrap());
    assert_eq!(p.root_attr("data-empty"), None);
    assert_eq!(p.series.len(), 2);
    assert!(p.text().contains(&empty::NO_DATA));
}

#[test]
fn one_period_draws_a_dot_and_bars() {
    let mut u = use_data();
    u.periods.truncate(1);
    for panel in &mut u.panels {
        for s in &mut panel.series {
            s.values.truncate(1);
        }
    }
    let p = parse(&use_over_time::render(&u).unwrap());
    assert_eq!(p.values("CLI"), vec![10.25]);
    assert!(p
        .series_elements
        .iter()
        .all(|e| e.contains(&"circle".to_string())));
    assert!(p.text().contains(&"2025-01-06"));

    let c = Cohorts {
        title: String::new(),
        periods: vec!["2025-01-06".into()],
        none: vec![3],
        light: vec![0],
        moderate: vec![1],
        heavy: vec![2],
        bands: None,
    };
    let p = parse(&cohorts::render(&c).unwrap());
    assert_eq!(p.values("light"), vec![0.0]);
    assert_eq!(p.values("none"), vec![3.0]);
    let counts: Vec<usize> = p
        .series_elements
        .iter()
        .map(|e| e.iter().filter(|x| *x == "rect").count())
        .collect();
    assert_eq!(counts, [1, 1, 0, 1]); // heavy, moderate, light, none

    let mut d = delivery_data();
    d.periods.truncate(1);
    d.usage.values.truncate(1);
    d.commits.truncate(1);
    d.lines_changed.truncate(1);
    let p = parse(&beside_delivery::render(&d).unwrap());
    assert_eq!(p.values("commits"), vec![120.0]);
    assert!(p.series_elements.iter().all(|e| e == &["title", "rect"]));
}

#[test]
fn many_periods_keep_labels_apart_and_values_exact() {
    let n = 90;
    let periods: Vec<String> = (0..n)
        .map(|i| {
            (chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Duration::days(i))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let values: Vec<f64> = (0..n).map(|i| (i as f64) * 0.1 + 1e-3).collect();
    let data = UseOverTime {
        title: String::new(),
        periods: periods.clone(),
        panels: vec![Panel {
            title: "By path".into(),
            unit: "tokens".into(),
            series: vec![Series::new("API keys: tokens", values.clone())],
        }],
    };
    let p = parse(&use_over_time::render(&data).unwrap());
    assert_eq!(p.values("API keys: tokens"), values);
    let labels = p
        .text()
        .iter()
        .filter(|t| periods.iter().any(|d| d == *t))
        .count();
    assert!((3..=6).contains(&labels), "{labels} period labels");
    // No dots past 40 periods: the line alone.
    assert_eq!(p.series_elements[0], ["title", "polyline"]);
}

#[test]
fn input_text_cannot_inject_markup_or_forge_a_group() {
    let mut data = use_data();
    data.title = "</title><script>alert(1)</script>".into();
    data.panels[0].series[0].name = "x\" onload=\"alert(1)".into();
    data.panels[0].series[1].name = "\u{E000}0\u{E000} & <b>bold</b>\u{7}".into();
    data.panels[1].title = "a'b\"c<d>".into();
    let svg = use_over_time::render(&data).unwrap();
    let p = parse(&svg);
    assert_eq!(
        p.root_attr("aria-label"),
        Some("</title><script>alert(1)</script>")
    );
    assert_eq!(
        p.values("x\" onload=\"alert(1)"),
        data.panels[0].series[0].values
    );
    assert_eq!(p.values("0 & <b>bold</b>"), data.panels[0].series[1].values);
    assert_eq!(p.series.len(), 5);
    assert!(p.text().contains(&"a'b\"c<d>"));
}

#[test]
fn data_that_does_not_fit_is_refused() {
    let mut data = use_data();
    data.panels[1].series[2].values.pop();
    assert!(matches!(
        use_over_time::render(&data),
        Err(ChartError::Length { series, expected: 6, got: 5, .. }) if series == "Cloud"
    ));
    let mut data = delivery_data();
    data.commits[2] = f64::NAN;
    assert!(matches!(
        beside_delivery::render(&data),
        Err(ChartError::BadValue { index: 2, .. })
    ));
    let mut data = delivery_data();
    data.lines_changed[0] = -1.0;
    assert!(beside_delivery::render(&data).is_err());
    let mut data = cohort_data();
    data.heavy.push(1);
    assert!(cohorts::render(&data).is_err());
    let mut data = cohort_data();
    data.periods[0] = "2025,01".into();
    assert!(matches!(
        cohorts::render(&data),
        Err(ChartError::BadPeriod { index: 0, .. })
    ));
}

#[test]
fn stacked_charts_make_one_file() {
    let charts = [
        use_over_time::render(&use_data()).unwrap(),
        cohorts::render(&cohort_data()).unwrap(),
        beside_delivery::render(&delivery_data()).unwrap(),
    ];
    let svg = stack("Codex use", &charts).unwrap();
    let p = parse(&svg);
    assert_eq!(p.root_attr("class"), Some("charts"));
    let kinds: Vec<&str> = p
        .nested
        .iter()
        .map(|a| get(a, "data-chart").unwrap())
        .collect();
    assert_eq!(kinds, ["use-over-time", "cohorts", "use-beside-delivery"]);
    let heights: Vec<u32> = charts
        .iter()
        .map(|c| {
            let parsed = parse(c);
            parsed.root_attr("height").unwrap().parse().unwrap()
        })
        .collect();
    let ys: Vec<u32> = p
        .nested
        .iter()
        .map(|a| get(a, "y").unwrap().parse().unwrap())
        .collect();
    assert_eq!(ys, [0, heights[0] + 16, heights[0] + heights[1] + 32]);
    assert_eq!(
        p.root_attr("height").unwrap().parse::<u32>().unwrap(),
        heights.iter().sum::<u32>() + 32
    );
    assert_eq!(p.series.len(), 5 + 4 + 3);
}

#[test]
fn inputs_read_from_json() {
    let data: UseBesideDelivery = serde_json::from_value(serde_json::json!({
        "periods": ["2025-01-06"],
        "use": {"name": "tokens", "values": [10.0]},
        "commits": [1.0],
        "lines_changed": [20.0]
    }))
    .unwrap();
    assert_eq!(data.usage.name, "tokens");
    let c: Cohorts = serde_json::from_value(serde_json::json!({
        "periods": ["2025-01-06"], "none": [1], "light": [2], "moderate": [3], "heavy": [4],
        "bands": {"light_max": 3, "moderate_max": 9}
    }))
    .unwrap();
    assert!(parse(&cohorts::render(&c).unwrap())
        .text()
        .contains(&"Moderate (4–9 days)"));
}

#[test]
fn long_legend_names_keep_both_ends() {
    use super::document::{truncate, truncate_middle};
    assert_eq!(truncate_middle("CLI", 23), "CLI");
    let cut = truncate_middle(
        "ChatGPT sign-in: credits — IDE extension, model gpt-3-codex",
        23,
    );
    assert!(cut.chars().count() <= 23, "{cut}");
    assert!(
        cut.starts_with("ChatGPT") && cut.ends_with("gpt-3-codex"),
        "{cut}"
    );
    assert_eq!(truncate("Use over time", 8), "Use ove…");
}
