//! What the provider stand-in itself costs: the backfill's wall includes the mock
//! rendering the usage pages (on the bench's side of the loopback). A plain client asks it
//! for the backfill's first usage page again; its median time × the usage pages the
//! backfill read is the mock's share of the wall, so a miss can be told apart from a slow
//! mock.

use serde_json::{json, Value};

use super::backfill::Outcome;
use super::fixture::Mock;
use super::minimum::Minimum;
use super::plain_http;
use super::sizes::Sizes;
use super::stats::{mb, median, ms, plural};

pub struct MockCost {
    /// The mock's estimated share of the backfill's wall, 0–1 (0 when unmeasured).
    pub share_of_backfill: f64,
    pub figures: Value,
    pub note: String,
}

pub async fn measure(
    mock: &Mock,
    outcome: &Outcome,
    min: &Minimum,
    sizes: &Sizes,
) -> anyhow::Result<MockCost> {
    let o = outcome.median();
    let Some(first) = o.backfill_log.iter().find(|r| r.path.contains("/usage/")) else {
        return Ok(MockCost {
            share_of_backfill: 0.0,
            figures: Value::Null,
            note: "mock: the backfill read no usage page".into(),
        });
    };
    let path = format!("{}?{}", first.path, first.query);
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..sizes.mock_reps {
        let t = std::time::Instant::now();
        let (status, body) = plain_http::get(mock.server.addr(), &path, &mock.key).await?;
        times.push(t.elapsed());
        anyhow::ensure!(status == 200, "the mock answered {status} to a usage page");
        bytes = body.len() as u64;
    }
    let page = median(&times);
    let pages = o
        .backfill_log
        .iter()
        .filter(|r| r.path.contains("/usage/"))
        .count()
        .max(min.usage as usize);
    let share = ms(page) * pages as f64 / ms(o.end_to_end);
    Ok(MockCost {
        share_of_backfill: share,
        figures: json!({
            "usage_page_ms": ms(page),
            "usage_page_bytes": bytes,
            "usage_pages": pages,
            "share_of_backfill_wall": share,
        }),
        note: format!(
            "mock: the first usage page ({}) takes it {:.0} ms to serve to a plain client (median of {}); {} like it ≈ {:.0}% of the median backfill's wall",
            mb(bytes),
            ms(page),
            sizes.mock_reps,
            plural(pages as u64, "page", "pages"),
            share * 100.0
        ),
    })
}
