//! The built component is what the README and the contract say: within its size budget,
//! exporting the connector interface at the contract version this host accepts, importing
//! only what `wit/since_v0.2.0/connector.wit` documents, and built without `unsafe`.

mod common;

use host_harness::sandbox::Sandbox;

#[test]
fn the_component_exports_the_contract_and_imports_only_what_is_documented() {
    let wasm = common::connector_wasm();
    let size = std::fs::metadata(&wasm).unwrap().len();
    assert!(
        size <= 1_000_000,
        "the component is {size} bytes, over its 1 MB budget"
    );
    let sandbox = Sandbox::load(&wasm).unwrap();
    assert_eq!(sandbox.contract_version(), "0.2.0");
    let (imports, exports) = sandbox.interface();
    assert_eq!(exports, ["analytics:connector/connector@0.2.0"]);
    for i in &imports {
        let documented = i.starts_with("analytics:connector/")
            || i.starts_with("wasi:http/")
            || i.starts_with("wasi:io/")
            || i.starts_with("wasi:clocks/")
            // std's own: environment, exit, standard streams (given empty by the host)
            || i.starts_with("wasi:cli/");
        assert!(documented, "undocumented import {i}");
        assert!(
            !i.starts_with("wasi:filesystem") && !i.starts_with("wasi:sockets"),
            "{i}"
        );
    }
    for needed in [
        "wasi:http/outgoing-handler@0.2.12",
        "wasi:clocks/wall-clock@0.2.12",
        "analytics:connector/host-log@0.2.0",
        "analytics:connector/secrets@0.2.0",
    ] {
        assert!(
            imports.iter().any(|i| i == needed),
            "{needed} missing from {imports:?}"
        );
    }
}

#[test]
fn the_guest_forbids_unsafe_outside_its_generated_bindings() {
    let root = common::workspace();
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "src/lib.rs must deny unsafe code"
    );
    let mut allowed = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read_to_string(&p)
                .unwrap()
                .contains("allow(unsafe_code)")
            {
                allowed.push(p.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert_eq!(
        allowed,
        ["src/component/bindings.rs"],
        "unsafe allowed outside the bindings"
    );
}
