//! Host bindings of contract `analytics:connector@0.2.x` (`wit/since_v0.2.0`).

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "analytics:connector/connector-plugin",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub use analytics::connector::types;
pub use analytics::connector::{host_log, secrets};
