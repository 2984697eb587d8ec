//! The generated WIT bindings (`analytics:connector@0.2.0`, world `connector-plugin`) and
//! the export of [`Component`]. The only place in the crate with `unsafe` code: the
//! canonical-ABI glue wit-bindgen writes.

#![allow(unsafe_code)]

use super::Component;

wit_bindgen::generate!({
    path: "wit/since_v0.2.0",
    world: "connector-plugin",
    generate_all,
});

export!(Component);
