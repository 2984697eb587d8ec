//! The host's checks of one page's records ([`crate::records::check`]) before they are
//! committed: parsing and re-serializing every payload is CPU work, so it runs on blocking
//! threads (the run's task goes on pulling the next page meanwhile), and a large page is
//! split over the machine's cores. The result is the one checking the page in one piece
//! gives: the records in order, or the first bad record's message.

use super::HostError;
use crate::bindings::v0_2::types as wit;
use crate::records::{self, CheckedRecord};
use crate::redact::Redactor;

/// No part smaller than this: below it, a thread's start costs more than it saves.
const MIN_PART: usize = 2_048;
/// At most this many parts per page.
const MAX_PARTS: usize = 4;

/// How many parts to check `n` records in.
fn parts(n: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    (n / MIN_PART).clamp(1, cores.clamp(1, MAX_PARTS))
}

/// Check `records` of a page of `stream` (whose primary key has `key_len` fields).
pub(super) async fn check(
    stream: &str,
    key_len: usize,
    mut records: Vec<wit::NormalizedRecord>,
    redactor: &Redactor,
) -> Result<Vec<CheckedRecord>, HostError> {
    let n = records.len();
    let k = parts(n);
    // Split from the end: part i holds records [i·n/k, (i+1)·n/k).
    let mut split = Vec::with_capacity(k);
    for i in (1..k).rev() {
        let first = i * n / k;
        split.push((first, records.split_off(first)));
    }
    split.push((0, records));
    split.reverse();
    let running: Vec<_> = split
        .into_iter()
        .map(|(first, part)| {
            let (stream, r) = (stream.to_string(), redactor.clone());
            tokio::task::spawn_blocking(move || {
                records::check_part(&stream, key_len, first, part, &r)
            })
        })
        .collect();
    let mut checked = Vec::with_capacity(n);
    // In page order: the first bad record is the one reported.
    for part in running {
        let part = part
            .await
            .map_err(|e| HostError::new("internal", format!("checking the records failed: {e}")))?
            .map_err(|m| HostError::new("sandbox", redactor.redact(&m)))?;
        checked.extend(part);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize, payload: &str) -> wit::NormalizedRecord {
        wit::NormalizedRecord {
            stream: "s".into(),
            key: vec![Some(i.to_string())],
            schema_version: 1,
            payload: payload.into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_give_what_one_piece_gives() {
        let r = Redactor::default();
        let n = 3 * MIN_PART + 5;
        let page: Vec<_> = (0..n)
            .map(|i| rec(i, &format!("{{ \"n\" : {i} }}")))
            .collect();
        let whole = records::check("s", 1, page.clone(), &r).unwrap();
        assert_eq!(check("s", 1, page.clone(), &r).await.unwrap(), whole);

        // The first bad record is reported, by its place in the page, wherever it falls.
        let mut bad = page;
        bad[n - 3].payload = "[]".into();
        bad[MIN_PART + 1].payload = "[]".into();
        let e = check("s", 1, bad.clone(), &r).await.unwrap_err();
        assert_eq!(e.message, records::check("s", 1, bad, &r).unwrap_err());
        assert!(
            e.message.contains(&format!("record {}", MIN_PART + 1)),
            "{e:?}"
        );
    }

    #[test]
    fn small_pages_are_one_part() {
        assert_eq!(parts(0), 1);
        assert_eq!(parts(MIN_PART - 1), 1);
        assert!(parts(100 * MIN_PART) <= MAX_PARTS);
    }
}
