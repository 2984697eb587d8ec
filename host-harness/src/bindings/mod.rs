//! Generated host bindings, one module per contract version this host accepts (Zed's
//! pattern): a new contract version lands as a new module beside the old ones.

pub mod v0_2;
