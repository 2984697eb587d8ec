//! Tests of the delivery read, on repositories made in temporary directories with the `git`
//! command (only the tests run it; the library never does).

mod fixture;

mod counts;
mod identity;
mod incremental;
mod merges;
mod oracle;
mod performance;
mod refused;
