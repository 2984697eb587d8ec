// Transpiles a connector component into an ES module with jco, once per component build:
// the output goes to gen/<sha256 prefix>/ and is reused while the .wasm is unchanged.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const HERE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_COMPONENT = resolve(HERE, "../../target/wasm32-wasip2/release/codex_connector.wasm");
const GEN = join(HERE, "gen");

/** Returns the path of the transpiled module's entry (`connector.js`). */
export async function transpileComponent(wasmPath) {
  let bytes;
  try {
    bytes = await readFile(wasmPath);
  } catch (e) {
    throw new Error(
      `cannot read the component ${wasmPath} (${e.code ?? e.message}); build it with ` +
        "`cargo build --release --target wasm32-wasip2 -p codex-connector` or pass its path",
    );
  }
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const outDir = join(GEN, digest);
  const entry = join(outDir, "connector.js");
  if (existsSync(entry)) return entry;

  const { transpile } = await import("@bytecodealliance/jco");
  // `instantiation: "async"`: the module exports `instantiate(getCoreModule, imports)`, so
  // the host hands it every import at run time (no import map baked into the output).
  const { files } = await transpile(bytes, {
    name: "connector",
    instantiation: "async",
    noTypescript: true,
    quiet: true,
  });
  const tmp = `${outDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  for (const [name, data] of Object.entries(files)) {
    const path = join(tmp, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
  }
  try {
    await rename(tmp, outDir);
  } catch (e) {
    // another process transpiled the same build meanwhile: use its output
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(entry)) throw e;
  }
  await prune(outDir);
  return entry;
}

/** Keeps the newest few transpiled builds in gen/ (best effort). */
async function prune(keep, max = 4) {
  try {
    const dirs = [];
    for (const name of await readdir(GEN)) {
      if (!/^[0-9a-f]{16}$/.test(name)) continue;
      const path = join(GEN, name);
      dirs.push({ path, mtime: (await stat(path)).mtimeMs });
    }
    dirs.sort((a, b) => b.mtime - a.mtime);
    for (const d of dirs.slice(max)) {
      if (d.path !== keep) await rm(d.path, { recursive: true, force: true });
    }
  } catch {
    // pruning is housekeeping only
  }
}

/** Loads the transpiled module and instantiates it with `imports`. */
export async function instantiateComponent(entry, imports) {
  const mod = await import(new URL(`file://${entry}`).href);
  const dir = dirname(entry);
  const getCoreModule = async (name) => WebAssembly.compile(await readFile(join(dir, name)));
  return mod.instantiate(getCoreModule, imports);
}

// `npm run build [-- path/to/component.wasm]`
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wasm = resolve(process.argv[2] ?? DEFAULT_COMPONENT);
  transpileComponent(wasm).then(
    (entry) => console.error(`transpiled ${wasm} -> ${entry}`),
    (e) => {
      console.error(`node-host build: ${e.message}`);
      process.exit(1);
    },
  );
}
