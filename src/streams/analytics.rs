//! `workspace_usage`, `code_reviews`, `code_review_responses`: the ChatGPT workspace's Codex
//! Analytics API (`https://api.chatgpt.com/v1/analytics/codex/workspaces/{id}/…`),
//! incremental by period.
//!
//! A workspace's rows for a day keep changing for days, so every run re-reads a trailing
//! window: from the day the previous run had read through, minus `workspace_reread_days`,
//! up to now; the host upserts by natural key. The API keeps 90 days: a window never starts
//! before `now − 90 days + SAFETY_MARGIN` (rounded up to a whole day), so that the API's
//! `422` for an older `start_time` is never hit, on the first page or on a later one.
//! Pages follow the API's `next_page` (or `next_cursor`); `limit` is the API's maximum.

use serde::Deserialize;

use super::cursor::{self, AnalyticsCheckpoint, AnalyticsCursor, CHECKPOINT_VERSION};
use super::encode;
use crate::capability::Capability;
use crate::model::{ConnectorError, Page, RawPage, TimeWindow};
use crate::normalize::envelope::{parse_body, Text};
use crate::normalize::{CODE_REVIEWS, CODE_REVIEW_RESPONSES, WORKSPACE_USAGE};
use crate::origin::CHATGPT_API;
use crate::provider_error::classify;
use crate::settings::{
    ChatgptSettings, Period, Settings, ANALYTICS_API_KEY, ANALYTICS_HISTORY_DAYS,
};
use crate::time::align_down;
use crate::transport::{HttpResponse, Request, Transport};

/// The Codex Analytics API's base path.
pub const ANALYTICS_BASE: &str = "/v1/analytics/codex/workspaces";
/// Rows per page: the API's maximum.
pub const ANALYTICS_PAGE_LIMIT: u32 = 100;
/// How much younger than the API's 90-day limit a window start stays, in seconds: room
/// for the time between reading the clock and the API checking the request, and for
/// clocks that disagree a little.
pub const SAFETY_MARGIN: i64 = 600;
/// The body of a page of a source that is not configured: no rows, no request made.
pub const EMPTY_ANALYTICS_PAGE: &str = r#"{"data":[],"has_more":false,"next_page":null}"#;

const DAY: i64 = 86_400;

/// The capability (and endpoint) behind a Codex Analytics stream.
pub fn capability(stream: &str) -> Option<Capability> {
    match stream {
        WORKSPACE_USAGE => Some(Capability::WorkspaceUsage),
        CODE_REVIEWS => Some(Capability::CodeReviews),
        CODE_REVIEW_RESPONSES => Some(Capability::CodeReviewResponses),
        _ => None,
    }
}

/// The earliest `start_time` to ask for at `now`: `now − 90 days + SAFETY_MARGIN`.
pub fn history_limit(now: i64) -> Option<i64> {
    now.checked_sub(ANALYTICS_HISTORY_DAYS * DAY)?
        .checked_add(SAFETY_MARGIN)
}

/// The Monday 00:00 UTC of the week holding `t` (1970-01-01 was a Thursday).
fn monday(t: i64) -> Option<i64> {
    let day = align_down(t, DAY)?;
    day.checked_sub(day.div_euclid(DAY).checked_add(3)?.rem_euclid(7) * DAY)
}

/// The previous run's `through`, when its checkpoint is for this workspace and period.
fn prior_through(chatgpt: &ChatgptSettings, checkpoint: Option<&str>) -> Option<i64> {
    cursor::read_checkpoint::<AnalyticsCheckpoint>(checkpoint)
        .filter(|c| {
            c.v == CHECKPOINT_VERSION
                && c.workspace == chatgpt.workspace_id
                && c.period == chatgpt.period.as_str()
        })
        .map(|c| c.through)
}

/// The `[start, end)` window the next run of a Codex Analytics stream reads.
///
/// - First run (or a checkpoint of another workspace or period, or unreadable): from the
///   backfill horizon (`backfill_days` days, today included), capped at the API's history.
/// - Later runs: from the UTC day the previous run read through, minus
///   `workspace_reread_days` days, never before the horizon nor the API's history.
/// - The start is a UTC midnight: the first whole day within the API's history
///   (`now − 90 days + SAFETY_MARGIN`, rounded up), or, for weekly periods, the Monday of
///   its week when that Monday is still within the history. The end is now.
pub fn analytics_window(
    settings: &Settings,
    chatgpt: &ChatgptSettings,
    checkpoint: Option<&str>,
    now: i64,
) -> Result<TimeWindow, ConnectorError> {
    let clock = || {
        ConnectorError::Internal(format!(
            "the clock reads {now} s since 1970, outside the range a Codex Analytics window can start from"
        ))
    };
    let today = align_down(now, DAY).ok_or_else(clock)?;
    let limit = history_limit(now).ok_or_else(clock)?;
    // the first whole day within the API's history
    let cap = limit
        .checked_add(DAY - 1)
        .and_then(|t| align_down(t, DAY))
        .ok_or_else(clock)?;
    let horizon = i64::from(settings.backfill_days)
        .checked_sub(1)
        .and_then(|d| d.checked_mul(DAY))
        .and_then(|back| today.checked_sub(back))
        .ok_or_else(clock)?;
    let first = horizon.max(cap);
    let resume = prior_through(chatgpt, checkpoint).and_then(|through| {
        align_down(through.min(now), DAY)?.checked_sub(i64::from(chatgpt.reread_days) * DAY)
    });
    let mut start = resume.map_or(first, |r| r.max(first)).min(today);
    if chatgpt.period == Period::Week {
        if let Some(m) = monday(start).filter(|m| *m >= limit) {
            start = m;
        }
    }
    // `end_time` must be after `start_time` (only at 00:00:00 could they meet)
    let end = now.max(start.saturating_add(1));
    Ok(TimeWindow { start, end })
}

/// GET `path_and_query` from the Codex Analytics API, with the analytics key attached by
/// the host; the response may have any status.
pub(crate) fn analytics_get(
    t: &mut dyn Transport,
    path_and_query: &str,
) -> Result<HttpResponse, ConnectorError> {
    t.get(&Request {
        origin: &CHATGPT_API,
        path_and_query,
        secret: ANALYTICS_API_KEY,
        headers: &[],
    })
}

/// The request for `capability`'s endpoint over `[start, end)`.
pub(crate) fn analytics_path(
    chatgpt: &ChatgptSettings,
    capability: Capability,
    start: i64,
    end: i64,
    limit: u32,
) -> String {
    format!(
        "{ANALYTICS_BASE}/{}/{}?start_time={start}&end_time={end}&group_by={}&limit={limit}",
        encode(&chatgpt.workspace_id),
        capability.endpoint().unwrap_or("usage"),
        chatgpt.period.as_str(),
    )
}

/// The cheapest read of a Codex Analytics capability: one row since yesterday.
pub(crate) fn probe_path(
    chatgpt: &ChatgptSettings,
    capability: Capability,
    now: i64,
) -> Result<String, ConnectorError> {
    let yesterday = align_down(now, DAY)
        .and_then(|d| d.checked_sub(DAY))
        .ok_or_else(|| {
            ConnectorError::Internal(format!("the clock reads an impossible time ({now})"))
        })?;
    Ok(analytics_path(
        chatgpt,
        capability,
        yesterday,
        now.max(yesterday.saturating_add(1)),
        1,
    ))
}

/// All paging needs of a row: its period start, to tell whether rows come in order.
#[derive(Deserialize)]
struct RowStart {
    #[serde(default)]
    start_time: Option<i64>,
}

/// The envelope: `{"data":[…],"has_more":…,"next_page":…}`, or `next_cursor` instead.
#[derive(Deserialize)]
struct Envelope<'a> {
    data: Vec<RowStart>,
    #[serde(default)]
    has_more: Option<bool>,
    #[serde(default, borrow)]
    next_page: Option<Text<'a>>,
    #[serde(default, borrow)]
    next_cursor: Option<Text<'a>>,
}

/// A page of a stream whose source is not configured: no request, no checkpoint.
pub(crate) fn not_configured(stream: &str, now: i64) -> Page {
    Page {
        raw: RawPage {
            stream: stream.into(),
            scope: None,
            fetched_at: now,
            body: EMPTY_ANALYTICS_PAGE.into(),
        },
        next_cursor: None,
        checkpoint: None,
        window: None,
    }
}

/// Pull one page of a Codex Analytics stream.
pub(crate) fn page(
    t: &mut dyn Transport,
    settings: &Settings,
    stream: &str,
    checkpoint: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    let now = t.now();
    let Some(chatgpt) = &settings.chatgpt else {
        return Ok(not_configured(stream, now));
    };
    let Some(capability) = capability(stream) else {
        return Err(ConnectorError::Internal(format!(
            "{stream} is not a Codex Analytics stream"
        )));
    };
    let fresh = || -> Result<AnalyticsCursor, ConnectorError> {
        let w = analytics_window(settings, chatgpt, checkpoint, now)?;
        Ok(AnalyticsCursor {
            start: w.start,
            end: w.end,
            page: None,
            seen: None,
            ordered: true,
        })
    };
    let cur = match cursor {
        Some(c) => {
            let c: AnalyticsCursor = cursor::read_cursor(stream, c)?;
            // A run that took so long that its start fell out of the API's history would be
            // refused: read the window again from a start the API accepts.
            if history_limit(now).is_none_or(|limit| c.start < limit) {
                fresh()?
            } else {
                c
            }
        }
        None => fresh()?,
    };
    let mut path = analytics_path(
        chatgpt,
        capability,
        cur.start,
        cur.end,
        ANALYTICS_PAGE_LIMIT,
    );
    if let Some(p) = &cur.page {
        path.push_str("&page=");
        path.push_str(&encode(p));
    }
    let resp = analytics_get(t, &path)?;
    classify(&resp, capability)?;

    let (has_more, next, seen, ordered) = {
        let env: Envelope = parse_body(stream, &resp.body)?;
        let next = [env.next_page, env.next_cursor]
            .into_iter()
            .flatten()
            .map(|p| p.0.into_owned())
            .find(|p| !p.is_empty());
        let mut seen = cur.seen;
        let mut ordered = cur.ordered;
        for row in &env.data {
            match (row.start_time, seen) {
                (None, _) => ordered = false,
                (Some(s), Some(before)) if s < before => ordered = false,
                (Some(s), _) => seen = Some(s),
            }
        }
        (env.has_more.unwrap_or(next.is_some()), next, seen, ordered)
    };
    let next_cursor = match (has_more, next) {
        (false, _) => None,
        (true, Some(p)) if Some(&p) != cur.page.as_ref() => Some(cursor::write(&AnalyticsCursor {
            start: cur.start,
            end: cur.end,
            page: Some(p),
            seen,
            ordered,
        })),
        (true, _) => {
            return Err(ConnectorError::provider_changed(
                stream,
                "next_page",
                "has_more is true but neither next_page nor next_cursor names a new page",
            ))
        }
    };
    // Done: the whole window has been read. Part way, with rows in period order: every
    // period before the latest one seen (which may go on on the next page) has been read.
    let prior = prior_through(chatgpt, checkpoint);
    let through = if next_cursor.is_none() {
        Some(cur.end.min(now))
    } else if ordered {
        seen.filter(|s| prior.is_none_or(|p| *s > p))
    } else {
        None
    };
    Ok(Page {
        raw: RawPage {
            stream: stream.into(),
            scope: None,
            fetched_at: now,
            body: resp.body,
        },
        next_cursor,
        checkpoint: through.map(|through| {
            cursor::write(&AnalyticsCheckpoint {
                v: CHECKPOINT_VERSION,
                workspace: chatgpt.workspace_id.clone(),
                period: chatgpt.period.as_str().into(),
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
    use super::super::fake::{ok, status, Fake};
    use super::super::pull_page;
    use super::*;
    use crate::model::ErrorClass;
    use crate::normalize::normalize;
    use crate::settings::DEFAULT_REREAD_DAYS;

    const WS: &str = "123e4567-e89b-42d3-a456-426614174000";
    /// 2023-11-15 10:13:20 UTC, a Wednesday.
    const NOW: i64 = 1_700_043_200;
    const TODAY: i64 = 1_700_006_400;

    fn settings(backfill: u32, period: Period) -> Settings {
        let mut s = Settings::for_normalize("*codex*", &[], &[]).with_chatgpt(WS, period);
        s.backfill_days = backfill;
        s
    }

    fn chatgpt(s: &Settings) -> &ChatgptSettings {
        s.chatgpt.as_ref().unwrap()
    }

    fn checkpoint(workspace: &str, period: &str, through: i64) -> String {
        cursor::write(&AnalyticsCheckpoint {
            v: 1,
            workspace: workspace.into(),
            period: period.into(),
            through,
        })
    }

    fn window(s: &Settings, cp: Option<&str>, now: i64) -> TimeWindow {
        analytics_window(s, chatgpt(s), cp, now).unwrap()
    }

    #[test]
    fn the_first_run_reads_the_backfill_capped_at_the_apis_90_days() {
        // 30 days of backfill: today and the 29 days before
        let s = settings(30, Period::Day);
        assert_eq!(
            window(&s, None, NOW),
            TimeWindow {
                start: TODAY - 29 * DAY,
                end: NOW
            }
        );
        // 365 days: capped at the first whole day within now − 90 days + the margin
        for backfill in [90, 91, 365] {
            let s = settings(backfill, Period::Day);
            let w = window(&s, None, NOW);
            assert_eq!(w.start, TODAY - 89 * DAY, "{backfill}");
            assert!(w.start >= NOW - 90 * DAY + SAFETY_MARGIN);
        }
        // just before midnight the margin would reach into the 90th day: a day later
        let late = TODAY + DAY - SAFETY_MARGIN + 1;
        let w = window(&settings(365, Period::Day), None, late);
        assert_eq!(w.start, TODAY - 88 * DAY);
        assert!(w.start >= late - 90 * DAY + SAFETY_MARGIN);
        // at any time of day the start is never older than the API allows
        for offset in (0..DAY).step_by(997) {
            let now = TODAY + offset;
            let w = window(&settings(365, Period::Day), None, now);
            assert!(w.start >= now - 90 * DAY + SAFETY_MARGIN, "{offset}");
            assert!(w.start <= now - 89 * DAY, "{offset}");
            assert_eq!(w.start % DAY, 0);
            assert!(w.end > w.start);
        }
    }

    #[test]
    fn later_runs_re_read_the_trailing_days() {
        let s = settings(30, Period::Day);
        assert_eq!(chatgpt(&s).reread_days, DEFAULT_REREAD_DAYS as u32);
        // read through an hour ago: today and the 5 days before
        let cp = checkpoint(WS, "day", NOW - 3_600);
        assert_eq!(window(&s, Some(&cp), NOW).start, TODAY - 5 * DAY);
        // read through 10 days ago: from 5 days before that
        let cp = checkpoint(WS, "day", NOW - 10 * DAY);
        assert_eq!(window(&s, Some(&cp), NOW).start, TODAY - 15 * DAY);
        // long ago: the backfill horizon; far beyond 90 days: the API's history
        let cp = checkpoint(WS, "day", NOW - 200 * DAY);
        assert_eq!(window(&s, Some(&cp), NOW).start, TODAY - 29 * DAY);
        let s365 = settings(365, Period::Day);
        assert_eq!(window(&s365, Some(&cp), NOW).start, TODAY - 89 * DAY);
        // the re-read is configurable
        let mut one = settings(30, Period::Day);
        one.chatgpt.as_mut().unwrap().reread_days = 1;
        let cp = checkpoint(WS, "day", NOW);
        assert_eq!(window(&one, Some(&cp), NOW).start, TODAY - DAY);
        // a checkpoint from the future counts as now
        let cp = checkpoint(WS, "day", NOW + 40 * DAY);
        assert_eq!(window(&s, Some(&cp), NOW).start, TODAY - 5 * DAY);
        // another workspace, another period, another version or garbage: a first run
        for cp in [
            checkpoint("other-workspace", "day", NOW),
            checkpoint(WS, "week", NOW),
            format!(r#"{{"v":2,"workspace":"{WS}","period":"day","through":{NOW}}}"#),
            "{oops".into(),
        ] {
            assert_eq!(window(&s, Some(&cp), NOW).start, TODAY - 29 * DAY, "{cp}");
        }
    }

    #[test]
    fn weekly_windows_start_on_a_monday_within_the_history() {
        let s = settings(30, Period::Week);
        // 2023-11-15 is a Wednesday; 5 days back from today is Friday 2023-11-10, whose
        // week starts on Monday 2023-11-06
        let cp = checkpoint(WS, "week", NOW);
        let w = window(&s, Some(&cp), NOW);
        assert_eq!(w.start, TODAY - 9 * DAY);
        assert_eq!(
            crate::time::rfc3339(w.start).unwrap(),
            "2023-11-06T00:00:00Z"
        );
        // capped by the history: the Monday would be too old, the day stays
        let s = settings(365, Period::Week);
        let w = window(&s, None, NOW);
        assert_eq!(w.start, TODAY - 89 * DAY);
        assert!(monday(w.start).unwrap() < w.start);
        assert_eq!(monday(0), Some(-3 * DAY));
        assert_eq!(monday(4 * DAY - 1), Some(-3 * DAY));
        assert_eq!(monday(4 * DAY), Some(4 * DAY));
    }

    #[test]
    fn clocks_and_checkpoints_at_the_ends_of_i64() {
        let s = settings(365, Period::Week);
        for now in [i64::MIN, i64::MIN + 1] {
            assert!(matches!(
                analytics_window(&s, chatgpt(&s), None, now),
                Err(ConnectorError::Internal(_))
            ));
        }
        let w = window(&s, None, i64::MAX);
        assert!(w.start < w.end);
        for through in [i64::MIN, i64::MAX] {
            let cp = checkpoint(WS, "week", through);
            let w = window(&s, Some(&cp), NOW);
            assert!(w.start >= NOW - 90 * DAY && w.end == NOW, "{through}");
        }
        let mut t = Fake::new(i64::MIN, []);
        assert!(pull_page(&mut t, &s, WORKSPACE_USAGE, None, None).is_err());
        assert!(t.seen.is_empty());
    }

    fn row(start: i64) -> String {
        format!(
            r#"{{"start_time":{start},"end_time":{},"user_id":"u","email":"a@b.c","threads":1,"turns":1,"credits":1}}"#,
            start + DAY
        )
    }

    #[test]
    fn requests_carry_the_window_and_the_analytics_key_by_name() {
        let s = settings(30, Period::Day);
        let body = format!(
            r#"{{"data":[{},{}],"has_more":true,"next_page":"p 2/é"}}"#,
            row(TODAY - 2 * DAY),
            row(TODAY - DAY)
        );
        let mut t = Fake::new(
            NOW,
            [
                ok(&body),
                ok(r#"{"data":[],"has_more":false,"next_page":null}"#),
            ],
        );
        let p1 = pull_page(&mut t, &s, WORKSPACE_USAGE, None, None).unwrap();
        let (origin, path, secret, headers) = &t.seen[0];
        assert_eq!(origin, "https://api.chatgpt.com");
        assert_eq!(secret, "analytics_api_key");
        assert!(headers.is_empty());
        assert_eq!(
            path,
            &format!(
                "/v1/analytics/codex/workspaces/{WS}/usage?start_time={}&end_time={NOW}&group_by=day&limit=100",
                TODAY - 29 * DAY
            )
        );
        assert_eq!(
            p1.window,
            Some(TimeWindow {
                start: TODAY - 29 * DAY,
                end: NOW
            })
        );
        assert_eq!(p1.raw.stream, "workspace_usage");
        // part way, rows in order: read through the latest period seen
        let cp: AnalyticsCheckpoint =
            serde_json::from_str(p1.checkpoint.as_deref().unwrap()).unwrap();
        assert_eq!(
            cp,
            AnalyticsCheckpoint {
                v: 1,
                workspace: WS.into(),
                period: "day".into(),
                through: TODAY - DAY
            }
        );
        let p2 = pull_page(&mut t, &s, WORKSPACE_USAGE, None, p1.next_cursor.as_deref()).unwrap();
        assert!(
            t.seen[1].1.ends_with("&limit=100&page=p%202%2F%C3%A9"),
            "{}",
            t.seen[1].1
        );
        assert_eq!(p2.next_cursor, None);
        assert_eq!(p2.window, p1.window);
        let cp: AnalyticsCheckpoint =
            serde_json::from_str(p2.checkpoint.as_deref().unwrap()).unwrap();
        assert_eq!(cp.through, NOW);
        // each stream its endpoint; the period is the configured one
        let s = settings(30, Period::Week);
        for (stream, endpoint) in [
            (CODE_REVIEWS, "code_reviews"),
            (CODE_REVIEW_RESPONSES, "code_review_responses"),
        ] {
            let mut t = Fake::new(NOW, [ok(r#"{"data":[],"has_more":false}"#)]);
            let p = pull_page(&mut t, &s, stream, None, None).unwrap();
            assert!(
                t.paths()[0].starts_with(&format!(
                    "/v1/analytics/codex/workspaces/{WS}/{endpoint}?start_time="
                )),
                "{}",
                t.paths()[0]
            );
            assert!(t.paths()[0].contains("&group_by=week&limit=100"));
            assert!(normalize(&p.raw, &s).unwrap().is_empty());
        }
    }

    #[test]
    fn next_cursor_is_read_like_next_page() {
        let s = settings(30, Period::Day);
        let mut t = Fake::new(
            NOW,
            [
                ok(r#"{"data":[],"has_more":true,"next_cursor":"c1"}"#),
                ok(r#"{"data":[],"next_page":null,"next_cursor":"c2"}"#),
                ok(r#"{"data":[],"has_more":false,"next_cursor":"ignored"}"#),
            ],
        );
        let p1 = pull_page(&mut t, &s, CODE_REVIEWS, None, None).unwrap();
        let p2 = pull_page(&mut t, &s, CODE_REVIEWS, None, p1.next_cursor.as_deref()).unwrap();
        let p3 = pull_page(&mut t, &s, CODE_REVIEWS, None, p2.next_cursor.as_deref()).unwrap();
        assert!(t.paths()[1].ends_with("&page=c1"));
        assert!(t.paths()[2].ends_with("&page=c2"));
        assert_eq!(p3.next_cursor, None);
        // no rows part way: nothing to checkpoint yet
        assert_eq!(
            (p1.checkpoint.as_deref(), p2.checkpoint.as_deref()),
            (None, None)
        );
        assert!(p3.checkpoint.is_some());
    }

    #[test]
    fn paging_problems_are_provider_changed() {
        let s = settings(30, Period::Day);
        for body in [
            r#"{"data":[],"has_more":true}"#,
            r#"{"data":[],"has_more":true,"next_page":"","next_cursor":null}"#,
            r#"{"data":[{"start_time":"monday"}],"has_more":false}"#,
            r#"{"rows":[]}"#,
        ] {
            let mut t = Fake::new(NOW, [ok(body)]);
            let e = pull_page(&mut t, &s, WORKSPACE_USAGE, None, None).unwrap_err();
            assert_eq!(e.class(), ErrorClass::ProviderChanged, "{body}: {e:?}");
        }
        // a next page that repeats the current one is a loop
        let cur = cursor::write(&AnalyticsCursor {
            start: TODAY - DAY,
            end: NOW,
            page: Some("same".into()),
            seen: None,
            ordered: true,
        });
        let mut t = Fake::new(
            NOW,
            [ok(r#"{"data":[],"has_more":true,"next_page":"same"}"#)],
        );
        assert!(matches!(
            pull_page(&mut t, &s, WORKSPACE_USAGE, None, Some(&cur)),
            Err(ConnectorError::ProviderChanged { .. })
        ));
        // a cursor of another stream's kind is not ours
        let mut t = Fake::new(NOW, []);
        assert!(matches!(
            pull_page(&mut t, &s, WORKSPACE_USAGE, None, Some(r#"{"after":"x"}"#)),
            Err(ConnectorError::Internal(_))
        ));
    }

    #[test]
    fn rows_out_of_order_checkpoint_only_at_the_end() {
        let s = settings(30, Period::Day);
        let unordered = format!(
            r#"{{"data":[{},{}],"has_more":true,"next_page":"n"}}"#,
            row(TODAY - DAY),
            row(TODAY - 2 * DAY)
        );
        let mut t = Fake::new(
            NOW,
            [
                ok(&unordered),
                ok(&format!(
                    r#"{{"data":[{}],"has_more":true,"next_page":"m"}}"#,
                    row(TODAY)
                )),
            ],
        );
        let p1 = pull_page(&mut t, &s, WORKSPACE_USAGE, None, None).unwrap();
        assert_eq!(p1.checkpoint, None);
        let p2 = pull_page(&mut t, &s, WORKSPACE_USAGE, None, p1.next_cursor.as_deref()).unwrap();
        assert_eq!(p2.checkpoint, None);
        // a checkpoint never moves back part way: the previous run read further
        let prior = checkpoint(WS, "day", NOW - 3_600);
        let body = format!(
            r#"{{"data":[{}],"has_more":true,"next_page":"n"}}"#,
            row(TODAY - 5 * DAY)
        );
        let mut t = Fake::new(NOW, [ok(&body)]);
        let p = pull_page(&mut t, &s, WORKSPACE_USAGE, Some(&prior), None).unwrap();
        assert_eq!(p.window.unwrap().start, TODAY - 5 * DAY);
        assert_eq!(p.checkpoint, None);
    }

    #[test]
    fn a_run_whose_start_left_the_history_starts_again() {
        let s = settings(365, Period::Day);
        let stale = cursor::write(&AnalyticsCursor {
            start: TODAY - 89 * DAY,
            end: NOW,
            page: Some("p9".into()),
            seen: Some(TODAY - 60 * DAY),
            ordered: true,
        });
        // a day later the old start is beyond the API's 90 days
        let later = NOW + DAY;
        let mut t = Fake::new(later, [ok(r#"{"data":[],"has_more":false}"#)]);
        let p = pull_page(&mut t, &s, WORKSPACE_USAGE, None, Some(&stale)).unwrap();
        let w = p.window.unwrap();
        assert_eq!(w.start, TODAY - 88 * DAY);
        assert_eq!(w.end, later);
        assert!(!t.paths()[0].contains("page="), "{}", t.paths()[0]);
        // within the history the cursor is followed as it is
        let mut t = Fake::new(NOW, [ok(r#"{"data":[],"has_more":false}"#)]);
        pull_page(&mut t, &s, WORKSPACE_USAGE, None, Some(&stale)).unwrap();
        assert!(t.paths()[0].ends_with("&page=p9"), "{}", t.paths()[0]);
    }

    #[test]
    fn each_error_status_is_typed() {
        let s = settings(30, Period::Day);
        let mut limited = status(
            429,
            r#"{"detail":"Rate limit exceeded. Please retry later."}"#,
        );
        limited.retry_after = Some("12".into());
        for (resp, class) in [
            (
                status(401, r#"{"detail":"Invalid API key"}"#),
                ErrorClass::Unauthorized,
            ),
            (
                status(
                    403,
                    r#"{"detail":"Missing scope: codex.enterprise.analytics.read"}"#,
                ),
                ErrorClass::Forbidden,
            ),
            (
                status(404, r#"{"detail":"Workspace not found"}"#),
                ErrorClass::InvalidSettings,
            ),
            (
                status(
                    422,
                    r#"{"detail":[{"loc":["query","start_time"],"msg":"start_time must be within the last 90 days","type":"value_error"}]}"#,
                ),
                ErrorClass::ProviderChanged,
            ),
            (limited, ErrorClass::RateLimited),
            (
                status(503, r#"{"detail":"Service temporarily unavailable."}"#),
                ErrorClass::Transient,
            ),
            (status(400, r#"{"detail":"Bad"}"#), ErrorClass::Internal),
        ] {
            let mut t = Fake::new(NOW, [resp.clone()]);
            let e = pull_page(&mut t, &s, CODE_REVIEW_RESPONSES, None, None).unwrap_err();
            assert_eq!(e.class(), class, "{}: {e:?}", resp.status);
            if let ConnectorError::RateLimited { retry_after_ms, .. } = e {
                assert_eq!(retry_after_ms, Some(12_000));
            }
        }
    }
}
