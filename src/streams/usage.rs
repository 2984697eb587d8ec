//! `usage`: incremental by bucket time. A run reads the window from the checkpoint minus a
//! lookback (buckets still filling up, usage reported late) up to now, following the
//! provider's `next_page`; every page checkpoints how far the read has got.

use serde::Deserialize;

use super::cursor::{self, UsageCheckpoint, UsageCursor, CHECKPOINT_VERSION};
use super::{encode, platform_read};
use crate::capability::Capability;
use crate::model::{ConnectorError, Page, RawPage, TimeWindow};
use crate::normalize::envelope::{parse_body, PageEnvelope};
use crate::normalize::USAGE;
use crate::settings::Settings;
use crate::time::align_down;
use crate::transport::Transport;

/// All paging needs of a bucket.
#[derive(Deserialize)]
struct BucketEnd {
    end_time: i64,
}

/// The `[start, end)` window the next usage run reads: from the checkpoint minus the
/// lookback (so buckets that were still filling are re-read and replaced), never earlier
/// than the backfill horizon, up to now. A checkpoint this connector cannot use (another
/// bucket width, unreadable, or so far out that the arithmetic would overflow) counts as
/// none: the run starts at the horizon.
pub fn usage_window(
    settings: &Settings,
    checkpoint: Option<&str>,
    now: i64,
) -> Result<TimeWindow, ConnectorError> {
    let clock = || {
        ConnectorError::Internal(format!(
            "the clock reads {now} s since 1970, outside the range a usage window can start from"
        ))
    };
    let width = settings.bucket_width.seconds();
    let current = align_down(now, width).ok_or_else(clock)?;
    let horizon = i64::from(settings.backfill_days)
        .checked_mul(86_400)
        .and_then(|back| current.checked_sub(back))
        .and_then(|h| h.checked_add(width))
        .ok_or_else(clock)?;
    let resume = cursor::read_checkpoint::<UsageCheckpoint>(checkpoint)
        .filter(|c| c.v == CHECKPOINT_VERSION && c.width == settings.bucket_width.as_str())
        .and_then(|c| {
            let lookback = i64::from(settings.lookback_buckets)
                .saturating_sub(1)
                .checked_mul(width)?;
            align_down(c.through.min(now), width)?.checked_sub(lookback)
        });
    let start = resume.map_or(horizon, |r| r.max(horizon)).min(current);
    let end = now.max(start.checked_add(1).ok_or_else(clock)?);
    Ok(TimeWindow { start, end })
}

/// Pull one page of usage.
pub(crate) fn page(
    t: &mut dyn Transport,
    settings: &Settings,
    checkpoint: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let now = t.now();
    let cur: UsageCursor = match cursor {
        Some(c) => cursor::read_cursor(USAGE, c)?,
        None => {
            let w = usage_window(settings, checkpoint, now)?;
            UsageCursor {
                start: w.start,
                end: w.end,
                page: None,
            }
        }
    };
    let width = settings.bucket_width;
    let mut path = format!(
        "/v1/organization/usage/completions?start_time={}&end_time={}&bucket_width={}&group_by=user_id&group_by=api_key_id&group_by=project_id&group_by=model&limit={}",
        cur.start,
        cur.end,
        width.as_str(),
        width.max_page_buckets()
    );
    if let Some(p) = &cur.page {
        path.push_str("&page=");
        path.push_str(&encode(p));
    }
    let resp = platform_read(t, settings, &path, Capability::PlatformUsage)?;

    let (has_more, next, last_end) = {
        let env: PageEnvelope<BucketEnd> = parse_body(USAGE, &resp.body)?;
        (
            env.has_more.unwrap_or(false),
            env.next_page.map(|p| p.0.into_owned()),
            env.data.iter().map(|b| b.end_time).max(),
        )
    };
    let next_cursor = match (has_more, next) {
        (false, _) => None,
        (true, Some(p)) if !p.is_empty() && Some(&p) != cur.page.as_ref() => {
            Some(cursor::write(&UsageCursor {
                start: cur.start,
                end: cur.end,
                page: Some(p),
            }))
        }
        (true, _) => {
            return Err(ConnectorError::provider_changed(
                USAGE,
                "next_page",
                "has_more is true but next_page is missing or repeats the current page",
            ))
        }
    };
    // Everything before the last bucket's end has been read; with no buckets and no more
    // pages, the whole window has.
    let through = match last_end {
        Some(end) => Some(end.min(now)),
        None if !has_more => Some(cur.end.min(now)),
        None => None,
    };
    Ok(Page {
        raw: RawPage {
            stream: USAGE.into(),
            scope: None,
            fetched_at: now,
            body: resp.body,
        },
        next_cursor,
        checkpoint: through.map(|through| {
            cursor::write(&UsageCheckpoint {
                v: CHECKPOINT_VERSION,
                width: width.as_str().into(),
                through,
            })
        }),
        window: Some(TimeWindow {
            start: cur.start,
            end: cur.end,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fake::{ok, Fake};
    use super::super::pull_page;
    use super::*;
    use crate::settings::BucketWidth;

    fn settings(days: u32) -> Settings {
        let mut s = Settings::for_normalize("*codex*", &[], &[]);
        s.backfill_days = days;
        s
    }
    const NOW: i64 = 1_700_000_000 + 43_200; // mid-day
    const DAY: i64 = 86_400;

    fn checkpoint(width: &str, through: i64) -> String {
        cursor::write(&UsageCheckpoint {
            v: 1,
            width: width.into(),
            through,
        })
    }

    fn window(start: i64, end: i64) -> TimeWindow {
        TimeWindow { start, end }
    }

    #[test]
    fn first_run_covers_the_backfill_and_later_runs_look_back() {
        let s = settings(90);
        let today = align_down(NOW, DAY).unwrap();
        let horizon = today - 89 * DAY;
        assert_eq!(usage_window(&s, None, NOW).unwrap(), window(horizon, NOW));
        let cp = checkpoint("1d", NOW - 3_600);
        assert_eq!(
            usage_window(&s, Some(&cp), NOW).unwrap(),
            window(today - DAY, NOW)
        );
        // a checkpoint older than the horizon restarts at the horizon
        let old = checkpoint("1d", NOW - 400 * DAY);
        assert_eq!(usage_window(&s, Some(&old), NOW).unwrap().start, horizon);
        // a checkpoint of another bucket width, another version, or garbage is ignored
        for cp in [
            checkpoint("1h", NOW),
            r#"{"v":2,"width":"1d","through":0}"#.into(),
            "{oops".into(),
        ] {
            assert_eq!(
                usage_window(&s, Some(&cp), NOW).unwrap().start,
                horizon,
                "{cp}"
            );
        }
        // a checkpoint from the future reads from today's bucket
        let future = checkpoint("1d", NOW + 50 * DAY);
        assert_eq!(
            usage_window(&s, Some(&future), NOW).unwrap(),
            window(today - DAY, NOW)
        );
        // hourly buckets
        let mut h = settings(1);
        h.bucket_width = BucketWidth::Hour;
        h.lookback_buckets = 3;
        let hour = align_down(NOW, 3_600).unwrap();
        assert_eq!(
            usage_window(&h, None, NOW).unwrap(),
            window(hour - DAY + 3_600, NOW)
        );
        let cp = checkpoint("1h", hour);
        assert_eq!(
            usage_window(&h, Some(&cp), NOW).unwrap().start,
            hour - 2 * 3_600
        );
    }

    /// `align_down(through)` and the lookback subtraction overflowed here on a stored
    /// checkpoint near the ends of i64; the window now starts at the horizon instead.
    #[test]
    fn checkpoints_at_the_ends_of_i64_fall_back_to_the_horizon() {
        let s = settings(30);
        let horizon = usage_window(&s, None, NOW).unwrap();
        for through in [i64::MIN, i64::MIN + 1, i64::MIN + DAY] {
            let cp = checkpoint("1d", through);
            assert_eq!(
                usage_window(&s, Some(&cp), NOW).unwrap(),
                horizon,
                "{through}"
            );
        }
        let cp = checkpoint("1d", i64::MAX);
        assert_eq!(
            usage_window(&s, Some(&cp), NOW).unwrap().start,
            align_down(NOW, DAY).unwrap() - DAY
        );
    }

    /// The clock at the ends of i64: a typed error, or a window that fits.
    #[test]
    fn clocks_at_the_ends_of_i64() {
        let s = settings(365);
        for now in [i64::MIN, i64::MIN + 1] {
            assert!(
                matches!(
                    usage_window(&s, None, now),
                    Err(ConnectorError::Internal(_))
                ),
                "{now}"
            );
        }
        let w = usage_window(&s, Some(&checkpoint("1d", i64::MAX)), i64::MAX).unwrap();
        assert!(w.start < w.end && w.end == i64::MAX);
        let mut t = Fake::new(i64::MIN, []);
        assert!(matches!(
            pull_page(&mut t, &s, USAGE, None, None),
            Err(ConnectorError::Internal(_))
        ));
        assert!(t.seen.is_empty());
    }

    #[test]
    fn follows_next_page_and_checkpoints_each_page() {
        let s = settings(90);
        let mut t = Fake::new(
            NOW,
            [
                ok(
                    r#"{"object":"page","data":[{"start_time":10,"end_time":86410,"results":[]}],"has_more":true,"next_page":"p 2/é"}"#,
                ),
                ok(r#"{"object":"page","data":[],"has_more":false,"next_page":null}"#),
            ],
        );
        let p1 = pull_page(&mut t, &s, USAGE, None, None).unwrap();
        let today = align_down(NOW, DAY).unwrap();
        assert_eq!(
            t.paths()[0],
            format!("/v1/organization/usage/completions?start_time={}&end_time={NOW}&bucket_width=1d&group_by=user_id&group_by=api_key_id&group_by=project_id&group_by=model&limit=31", today - 89 * DAY)
        );
        assert_eq!(p1.window, Some(window(today - 89 * DAY, NOW)));
        assert_eq!(p1.raw.fetched_at, NOW);
        let cp: UsageCheckpoint = serde_json::from_str(p1.checkpoint.as_deref().unwrap()).unwrap();
        assert_eq!(cp.through, 86_410);
        let p2 = pull_page(&mut t, &s, USAGE, None, p1.next_cursor.as_deref()).unwrap();
        assert!(
            t.paths()[1].ends_with("&page=p%202%2F%C3%A9"),
            "{}",
            t.paths()[1]
        );
        assert_eq!(p2.next_cursor, None);
        assert_eq!(p2.window, p1.window);
        let cp: UsageCheckpoint = serde_json::from_str(p2.checkpoint.as_deref().unwrap()).unwrap();
        assert_eq!(cp.through, NOW);
    }

    #[test]
    fn has_more_without_a_new_next_page_is_provider_changed() {
        for body in [
            r#"{"data":[],"has_more":true}"#,
            r#"{"data":[],"has_more":true,"next_page":""}"#,
        ] {
            let mut t = Fake::new(NOW, [ok(body)]);
            let e = pull_page(&mut t, &settings(30), USAGE, None, None).unwrap_err();
            assert!(
                matches!(e, ConnectorError::ProviderChanged { ref field, .. } if field == "next_page"),
                "{e:?}"
            );
        }
        let cur = cursor::write(&UsageCursor {
            start: 0,
            end: 10,
            page: Some("same".into()),
        });
        let mut t = Fake::new(
            NOW,
            [ok(r#"{"data":[],"has_more":true,"next_page":"same"}"#)],
        );
        assert!(pull_page(&mut t, &settings(30), USAGE, None, Some(&cur)).is_err());
    }

    #[test]
    fn a_page_of_no_buckets_with_more_to_come_keeps_the_checkpoint() {
        let mut t = Fake::new(NOW, [ok(r#"{"data":[],"has_more":true,"next_page":"n"}"#)]);
        let p = pull_page(&mut t, &settings(30), USAGE, None, None).unwrap();
        assert_eq!(p.checkpoint, None);
        assert!(p.next_cursor.is_some());
    }

    #[test]
    fn errors_are_typed() {
        let mut t = Fake::new(
            NOW,
            [super::super::fake::status(
                403,
                r#"{"error":"Missing scopes: api.usage.read."}"#,
            )],
        );
        let e = pull_page(&mut t, &settings(30), USAGE, None, None).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Forbidden(m) if m.contains("api.usage.read")),
            "{e:?}"
        );
        let mut t = Fake::new(NOW, [ok(r#"{"data":[{"end_time":"x"}]}"#)]);
        match pull_page(&mut t, &settings(30), USAGE, None, None).unwrap_err() {
            ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, "data[0].end_time"),
            e => panic!("{e:?}"),
        }
        let mut t = Fake::new(NOW, []);
        assert!(matches!(
            pull_page(
                &mut t,
                &settings(30),
                USAGE,
                None,
                Some("{\"after\":\"x\"}")
            ),
            Err(ConnectorError::Internal(_))
        ));
    }
}
