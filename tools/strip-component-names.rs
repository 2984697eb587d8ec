//! Drop the `component-name` custom section from a WebAssembly component, in place.
//!
//! wasm-component-ld names the component's internal items (its canonical functions, core
//! instances and the like) in that section: about 9 KB that nothing reads at run time, and
//! no linker flag leaves it out. Every other byte of the file is kept as it is. A core
//! module, or a component without the section, is left untouched; a malformed component is
//! refused and left untouched.
//!
//! A single file with no dependencies: `tools/wasm-link` compiles it with the `rustc` that
//! is building the component, so the build needs nothing beyond the Rust toolchain.
//!
//! usage: strip-component-names FILE.wasm

use std::process::ExitCode;

const MAGIC: &[u8] = b"\0asm";
const COMPONENT_LAYER: &[u8] = b"\x0d\x00\x01\x00";
const DROP: &[u8] = b"component-name";

/// The unsigned LEB128 (at most 32 bits) at `i`, and the index after it.
fn leb128(data: &[u8], mut i: usize) -> Result<(usize, usize), String> {
    let (mut value, mut shift) = (0usize, 0);
    loop {
        let byte = match data.get(i) {
            Some(&b) if shift <= 28 => b,
            _ => return Err(format!("bad LEB128 at byte {i}")),
        };
        i += 1;
        value |= usize::from(byte & 0x7F) << shift;
        shift += 7;
        if byte < 0x80 {
            return Ok((value, i));
        }
    }
}

/// `data` without its top-level `component-name` sections (`None`: nothing to drop).
fn strip(data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if data.get(..4) != Some(MAGIC) || data.get(4..8) != Some(COMPONENT_LAYER) {
        return Ok(None);
    }
    let mut out = data[..8].to_vec();
    let (mut i, mut dropped) = (8, false);
    while i < data.len() {
        let start = i;
        let (size, body) = leb128(data, i + 1)?;
        let end = body
            .checked_add(size)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| format!("section at byte {start} runs past the end"))?;
        if data[start] == 0 {
            let (len, name) = leb128(data, body)?;
            if data.get(name..name.saturating_add(len)) == Some(DROP) {
                dropped = true;
                i = end;
                continue;
            }
        }
        out.extend_from_slice(&data[start..end]);
        i = end;
    }
    Ok(dropped.then_some(out))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, path] = args.as_slice() else {
        eprintln!("usage: strip-component-names FILE.wasm");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), String> {
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        if let Some(stripped) = strip(&data)? {
            // written beside the file, then renamed over it: never half a component
            let tmp = format!("{path}.strip-tmp");
            std::fs::write(&tmp, stripped).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, path).map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strip-component-names: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}
