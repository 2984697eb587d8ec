//! The component's size: what every host downloads, stores and reads before it compiles.

use serde_json::json;

use host_harness::human::thousands;

use super::report::{Row, Verdict};

/// 1 MB, decimal.
pub const MAX_BYTES: u64 = 1_000_000;

pub fn measure(bytes: u64) -> Row {
    Row {
        id: "component_size",
        what: "component size",
        measured: format!("{} bytes ({:.0} KB)", thousands(bytes), bytes as f64 / 1e3),
        target: "≤ 1 MB",
        verdict: Verdict::judge(bytes <= MAX_BYTES, || {
            format!(
                "{} bytes is {} over 1,000,000",
                thousands(bytes),
                thousands(bytes - MAX_BYTES)
            )
        }),
        figures: json!({ "bytes": bytes, "max_bytes": MAX_BYTES }),
    }
}
