#!/usr/bin/env node
// A second host for the connector: loads the .wasm in Node through jco, gives it the
// contract's imports (lib/host.mjs), and runs describe -> configure -> validate-credentials
// -> pull-page of one stream until it has no next cursor, normalizing every page. Prints a
// one-line JSON summary on stdout; logs (redacted) on stderr.
//
//   OPENAI_ADMIN_KEY=... node run.mjs [component.wasm] \
//       --redirect api.openai.com=http://127.0.0.1:PORT --setting backfill_days=40
//
// The secret comes from the environment variable OPENAI_ADMIN_KEY or from
// --admin-key-file F, never from the command line, and never enters the component.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_COMPONENT, instantiateComponent, transpileComponent } from "./lib/build.mjs";
import { createHost } from "./lib/host.mjs";
import { createRedactor, parseRedirect, PolicyError } from "./lib/policy.mjs";

const USAGE = `usage: node run.mjs [COMPONENT.wasm] [options]
  --redirect HOST=URL       send requests for https HOST to a loopback test server,
                            e.g. api.openai.com=http://127.0.0.1:8080 (repeatable)
  --admin-key-file F        read the admin key from F (default: env OPENAI_ADMIN_KEY)
  --admin-key-setting KEY   the secret setting the admin key fills (default: the one
                            whose secret-use origins include api.openai.com)
  --setting KEY=VALUE       a non-secret setting, typed by its kind (repeatable)
  --stream NAME             the stream to pull (default: usage)
  --max-pages N             stop with an error after N pages (default: 10000)
The component defaults to ${DEFAULT_COMPONENT}.`;

class UsageError extends Error {}

const ADMIN_KEY_ENV = "OPENAI_ADMIN_KEY";
const OPENAI = "https://api.openai.com:443";

function options(argv) {
  for (const a of argv) {
    if (/^--(admin-key|api-key|key|token|secret)(=|$)/.test(a)) {
      throw new UsageError(`${a.split("=")[0]}: a secret is never passed on the command line; use ${ADMIN_KEY_ENV} or --admin-key-file`);
    }
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      redirect: { type: "string", multiple: true, default: [] },
      "admin-key-file": { type: "string" },
      "admin-key-setting": { type: "string" },
      setting: { type: "string", multiple: true, default: [] },
      stream: { type: "string", default: "usage" },
      "max-pages": { type: "string", default: "10000" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stderr.write(USAGE + "\n");
    process.exit(0);
  }
  if (positionals.length > 1) throw new UsageError("more than one component path");
  const maxPages = Number(values["max-pages"]);
  if (!Number.isInteger(maxPages) || maxPages < 1) throw new UsageError("--max-pages: a positive integer");
  return {
    component: resolve(positionals[0] ?? DEFAULT_COMPONENT),
    redirects: values.redirect.map((spec) => {
      try {
        return parseRedirect(spec);
      } catch (e) {
        throw new UsageError(e.message);
      }
    }),
    adminKeyFile: values["admin-key-file"],
    adminKeySetting: values["admin-key-setting"],
    settings: values.setting,
    stream: values.stream,
    maxPages,
  };
}

function readAdminKey(file) {
  let raw;
  if (file) {
    try {
      raw = readFileSync(file, "utf8");
    } catch (e) {
      throw new UsageError(`--admin-key-file ${file}: ${e.code ?? e.message}`);
    }
  } else {
    raw = process.env[ADMIN_KEY_ENV];
    delete process.env[ADMIN_KEY_ENV];
  }
  const key = (raw ?? "").trim(); // trimmed once, at input, as secret-shape says
  if (!key) {
    throw new UsageError(`no admin key: set ${ADMIN_KEY_ENV} or pass --admin-key-file F`);
  }
  return key;
}

/** The secret setting the admin key fills. */
function adminKeySetting(info, wanted) {
  const secrets = info.settings.filter((f) => f.kind === "secret");
  if (wanted) {
    if (!secrets.some((f) => f.key === wanted)) {
      throw new UsageError(`--admin-key-setting ${wanted}: not a secret setting of ${info.id}`);
    }
    return wanted;
  }
  const openai = secrets.filter((f) =>
    f.secretUse.origins.some((o) => `${o.scheme}://${o.host}:${o.port}` === OPENAI),
  );
  const pick = openai.length === 1 ? openai : openai.filter((f) => f.required);
  if (pick.length !== 1) {
    throw new UsageError(
      `cannot tell which secret setting takes the admin key (${openai.map((f) => f.key).join(", ") || "none sent to api.openai.com"}); pass --admin-key-setting`,
    );
  }
  return pick[0].key;
}

/** `--setting KEY=VALUE` as a `setting`, typed by the field's kind. */
function typedSetting(info, spec) {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new UsageError(`--setting ${spec}: expected KEY=VALUE`);
  const key = spec.slice(0, eq);
  const text = spec.slice(eq + 1);
  const field = info.settings.find((f) => f.key === key);
  if (!field) throw new UsageError(`--setting ${key}: ${info.id} has no such setting`);
  switch (field.kind) {
    case "secret":
      throw new UsageError(`--setting ${key}: a secret is never passed on the command line`);
    case "number":
      if (!/^-?[0-9]+$/.test(text)) throw new UsageError(`--setting ${key}: a whole number`);
      return { key, value: { tag: "number", val: BigInt(text) } };
    case "boolean":
      if (text !== "true" && text !== "false") throw new UsageError(`--setting ${key}: true or false`);
      return { key, value: { tag: "boolean", val: text === "true" } };
    case "list":
      return { key, value: { tag: "list", val: text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean) } };
    default:
      return { key, value: { tag: "text", val: text } };
  }
}

function secretShape(value, sameAs) {
  return { tag: "secret", val: { length: [...value].length, prefix: [...value].slice(0, 8).join(""), sameAs } };
}

/** A connector-error (a ComponentError's payload) in words. */
function describeError(e) {
  const p = e?.payload;
  if (p && typeof p === "object" && "tag" in p) {
    const v = p.val;
    switch (p.tag) {
      case "invalid-settings":
        return `invalid settings: ${v.map((f) => `${f.field}: ${f.message}`).join("; ")}`;
      case "rate-limited":
        return `rate limited: ${v.message}`;
      case "provider-changed":
        return `provider changed (${v.stream} ${v.field}): ${v.message}`;
      default:
        return `${p.tag}: ${typeof v === "string" ? v : JSON.stringify(v, bigints)}`;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

const bigints = (_k, v) => (typeof v === "bigint" ? Number(v) : v);
const originKey = (o) => `${o.scheme}://${o.host}:${o.port}`;

async function main(argv, secretValues) {
  const opts = options(argv);
  const host = createHost({ secretValues, redirects: opts.redirects });
  httpStats = host.stats;
  const adminKey = readAdminKey(opts.adminKeyFile);
  readSecrets.push(adminKey); // redacted from everything printed, from now on
  const entry = await transpileComponent(opts.component);
  const instance = await instantiateComponent(entry, host.imports);
  const connector = instance["analytics:connector/connector@0.2.0"];
  if (!connector) {
    throw new Error(`${opts.component} does not export analytics:connector/connector@0.2.0`);
  }

  const info = connector.describe();
  host.useDescription(info);
  const keySetting = adminKeySetting(info, opts.adminKeySetting);
  secretValues.set(keySetting, adminKey);
  host.log(`[host] ${info.id} ${info.version}: the admin key fills ${keySetting}`);

  const settings = [{ key: keySetting, value: secretShape(adminKey, undefined) }];
  for (const spec of opts.settings) settings.push(typedSetting(info, spec));
  const configured = connector.configure(settings);
  const declared = new Set(info.origins.map(originKey));
  for (const o of configured.origins) {
    if (!declared.has(originKey(o))) {
      throw new PolicyError(`configure returned ${originKey(o)}, which describe did not declare`);
    }
  }
  host.setAllowList(configured.origins);
  host.log(`[host] allow-list: ${configured.origins.map(originKey).join(", ") || "(empty)"}`);

  const report = connector.validateCredentials();
  const validate = {
    ok: report.ok,
    capabilities: Object.fromEntries(report.capabilities.map((c) => [c.name, c.status])),
  };
  for (const c of report.capabilities) {
    host.log(`[host] capability ${c.name}: ${c.status}${c.problem ? ` (${c.problem})` : ""} - ${c.message}`);
  }
  if (!report.ok) {
    return { code: 1, summary: { ok: false, error: "credential check failed", validate, http: { ...host.stats } } };
  }

  if (!info.streams.some((s) => s.name === opts.stream)) {
    throw new UsageError(`--stream ${opts.stream}: ${info.id} has no such stream`);
  }
  const records = new Map(); // natural key -> payload (the host upserts by key)
  let pages = 0;
  let cursor;
  const seen = new Set();
  for (;;) {
    const page = connector.pullPage(opts.stream, undefined, cursor);
    pages++;
    const normalized = connector.normalize(page.raw);
    for (const r of normalized) records.set(JSON.stringify([r.stream, r.key]), r.payload);
    host.log(`[host] ${opts.stream} page ${pages}: ${normalized.length} records`);
    cursor = page.nextCursor;
    if (cursor === undefined || cursor === null) break;
    if (seen.has(cursor)) throw new Error(`the connector returned cursor ${JSON.stringify(cursor)} twice`);
    seen.add(cursor);
    if (pages >= opts.maxPages) throw new Error(`more than --max-pages ${opts.maxPages} pages`);
  }

  const totals = { input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, requests: 0 };
  for (const payload of records.values()) {
    const p = JSON.parse(payload);
    for (const k of Object.keys(totals)) totals[k] += Number(p[k] ?? 0);
  }
  return {
    code: 0,
    summary: {
      ok: true,
      connector: { id: info.id, version: info.version },
      validate,
      [opts.stream]: { pages, records: records.size, ...totals },
      http: { ...host.stats },
    },
  };
}

let httpStats = null; // requests sent and refused, once the host exists
const secretValues = new Map(); // the host's secret store
const readSecrets = []; // values read, before they have a setting key
const redact = createRedactor(() => [...readSecrets, ...secretValues.values()]);
let result;
try {
  result = await main(process.argv.slice(2), secretValues);
} catch (e) {
  const usage = e instanceof UsageError || e?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || e?.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE";
  const what = e instanceof PolicyError || usage ? e.message : describeError(e);
  process.stderr.write(redact(`node-host: ${what}\n${usage ? USAGE + "\n" : ""}`));
  result = { code: usage ? 2 : 1, summary: { ok: false, error: what, ...(httpStats && { http: { ...httpStats } }) } };
}
process.stdout.write(redact(JSON.stringify(result.summary, bigints)) + "\n", () => process.exit(result.code));
