//! The component build's post-link step (`tools/wasm-link`, `tools/strip-component-names.rs`):
//! the release component carries no `component-name` section, and the stripper drops that
//! section and nothing else, leaves other files alone and refuses a malformed component
//! without touching it.

mod common;

use std::path::Path;
use std::process::Command;

/// The top-level sections of a component or module: (id, custom section name, bytes).
fn sections(wasm: &[u8]) -> Vec<(u8, Option<String>, Vec<u8>)> {
    fn leb(b: &[u8], mut i: usize) -> (usize, usize) {
        let (mut v, mut shift) = (0usize, 0);
        loop {
            let byte = b[i];
            i += 1;
            v |= ((byte & 0x7F) as usize) << shift;
            shift += 7;
            if byte < 0x80 {
                return (v, i);
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 8;
    while i < wasm.len() {
        let id = wasm[i];
        let (size, body) = leb(wasm, i + 1);
        let name = (id == 0).then(|| {
            let (n, at) = leb(wasm, body);
            String::from_utf8_lossy(&wasm[at..at + n]).into_owned()
        });
        out.push((id, name, wasm[i..body + size].to_vec()));
        i = body + size;
    }
    out
}

/// A custom section named `name` holding `data`.
fn custom(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut s = vec![0u8];
    let mut n = body.len();
    loop {
        let byte = (n & 0x7F) as u8;
        n >>= 7;
        s.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    s.extend(body);
    s
}

/// The stripper, compiled as `tools/wasm-link` compiles it.
fn stripper(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("strip-component-names");
    let status = Command::new("rustc")
        .args(["--edition", "2021", "-O", "-o"])
        .arg(&bin)
        .arg(common::workspace().join("tools/strip-component-names.rs"))
        .status()
        .expect("run rustc");
    assert!(
        status.success(),
        "compiling tools/strip-component-names.rs failed"
    );
    bin
}

fn strip(bin: &Path, path: &Path) -> std::process::Output {
    Command::new(bin)
        .arg(path)
        .output()
        .expect("run the stripper")
}

#[test]
fn the_release_component_has_no_component_name_section() {
    let wasm = std::fs::read(common::connector_wasm()).unwrap();
    assert_eq!(&wasm[4..8], b"\x0d\x00\x01\x00", "a component");
    let s = sections(&wasm);
    assert!(s.len() > 10, "sections were read");
    assert!(
        s.iter()
            .all(|(_, name, _)| name.as_deref() != Some("component-name")),
        "the linker step left the component-name section in"
    );
}

#[test]
fn the_stripper_drops_component_names_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let bin = stripper(dir.path());
    let original = std::fs::read(common::connector_wasm()).unwrap();
    // names at the end (as wasm-component-ld writes them) and, to be thorough, in the middle
    let s = sections(&original);
    let mut named = original[..8].to_vec();
    for (i, (_, _, bytes)) in s.iter().enumerate() {
        if i == s.len() / 2 {
            named.extend(custom("component-name", b"\x00\x01middle"));
        }
        named.extend(bytes);
    }
    named.extend(custom("component-name", &[7u8; 300]));
    named.extend(custom("component-name-not", b"kept"));
    let path = dir.path().join("c.wasm");
    std::fs::write(&path, &named).unwrap();
    let out = strip(&bin, &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = original.clone();
    expected.extend(custom("component-name-not", b"kept"));
    assert_eq!(std::fs::read(&path).unwrap(), expected);

    // not a component (a core module, or not wasm at all): left as it is
    for other in [
        b"\0asm\x01\x00\x00\x00\x00\x0e\x0ecomponent-name".to_vec(),
        b"hello".to_vec(),
    ] {
        std::fs::write(&path, &other).unwrap();
        assert!(strip(&bin, &path).status.success());
        assert_eq!(std::fs::read(&path).unwrap(), other);
    }

    // a component whose last section runs past the end: refused, file untouched
    let mut broken = named.clone();
    broken.truncate(broken.len() - 3);
    std::fs::write(&path, &broken).unwrap();
    let out = strip(&bin, &path);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs past the end"));
    assert_eq!(std::fs::read(&path).unwrap(), broken);
    assert!(!dir.path().join("c.wasm.strip-tmp").exists());
}
