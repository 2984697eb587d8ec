// The host's outbound policy, as pure functions: no I/O, no secret values, no WASI shim.
// `host.mjs` applies it to every request the connector sends; `test/policy.test.mjs` tests it.
//
// The contract (wit/since_v0.2.0/connector.wit, `origin` and `secret-use`):
// - an origin is (scheme, host, port); the scheme is `https`; the host a lower-case DNS name
//   without a trailing dot, never an IP address;
// - `configure` returns the origins a configuration calls: the allow-list;
// - a secret travels only to its `secret-use.origins`, over https, in `secret-use.header`
//   after `secret-use.value-prefix`;
// - a host may redirect an https origin to a loopback test server of its own (the only
//   place plain http is allowed).

/** Thrown for a bad origin, redirect or connector description. */
export class PolicyError extends Error {}

const DNS_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/**
 * Lower-case, drop one trailing dot; `null` when it is not a DNS name (IP literals included:
 * a name whose last label is numeric or hex, like `127.1` or `0x7f.1`, is an IPv4 address
 * to a URL parser; anything with `:` or `[` is IPv6).
 */
export function normalizeHost(host) {
  if (typeof host !== "string") return null;
  let h = host.toLowerCase();
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (h.length === 0 || h.length > 253 || !DNS_NAME.test(h)) return null;
  const last = h.slice(h.lastIndexOf(".") + 1);
  if (/^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/.test(last)) return null;
  return h;
}

/** `https://host:port`, the key origins are compared by. */
export function originKey({ scheme, host, port }) {
  return `${scheme}://${host}:${port}`;
}

const DEFAULT_PORT = { https: 443, http: 80 };

function parsePort(text) {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/**
 * A request's scheme and authority as an origin `{ scheme, host, port }`, or
 * `{ error }`. `scheme` is a plain lower-case name (`https`, `http`, ...).
 */
export function requestOrigin(scheme, authority) {
  if (typeof authority !== "string" || authority.length === 0) {
    return { error: "the request has no authority" };
  }
  if (authority.includes("@")) return { error: "user info in the authority" };
  if (authority.includes("[")) return { error: "an IP address, not a DNS name" };
  let hostPart = authority;
  let port = DEFAULT_PORT[scheme];
  const colon = authority.lastIndexOf(":");
  if (colon !== -1) {
    hostPart = authority.slice(0, colon);
    port = parsePort(authority.slice(colon + 1));
    if (port === null) return { error: "a bad port" };
  }
  if (port === undefined) return { error: `scheme ${scheme}` };
  const host = normalizeHost(hostPart);
  if (host === null) return { error: "not a DNS name (IP addresses are refused)" };
  return { scheme, host, port };
}

/** Checks an origin the connector declared; returns it, or throws a PolicyError. */
export function checkDeclaredOrigin(o, where) {
  const ok =
    o &&
    o.scheme === "https" &&
    typeof o.host === "string" &&
    normalizeHost(o.host) === o.host &&
    Number.isInteger(o.port) &&
    o.port >= 1 &&
    o.port <= 65535;
  if (!ok) {
    throw new PolicyError(
      `${where}: origin ${JSON.stringify(o)} is not https with a lower-case DNS name and a port`,
    );
  }
  return o;
}

/** Loopback names a test server may listen on (IPv4 only: the HTTP shim takes no brackets). */
export function isLoopbackHost(host) {
  if (host === "localhost") return true;
  const m = /^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((x) => Number(x) <= 255);
}

/**
 * Parses `--redirect FROM=TO`: FROM is `host` or `host:port` (an https origin, port 443 by
 * default); TO is `http://127.0.0.1:PORT` or `https://localhost:PORT` — a loopback server,
 * nothing else. Returns `{ from: origin, to: { scheme, host, port, authority } }`.
 */
export function parseRedirect(spec) {
  const eq = typeof spec === "string" ? spec.indexOf("=") : -1;
  if (eq <= 0) throw new PolicyError(`--redirect ${spec}: expected HOST=URL`);
  const fromText = spec.slice(0, eq);
  const from = requestOrigin("https", fromText);
  if (from.error) throw new PolicyError(`--redirect ${fromText}: ${from.error}`);
  let url;
  try {
    url = new URL(spec.slice(eq + 1));
  } catch {
    throw new PolicyError(`--redirect ${spec}: the target is not a URL`);
  }
  const scheme = url.protocol.replace(/:$/, "");
  if (scheme !== "http" && scheme !== "https") {
    throw new PolicyError(`--redirect ${spec}: the target must be http or https`);
  }
  if (url.username || url.password || (url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new PolicyError(`--redirect ${spec}: the target is scheme://host:port, nothing more`);
  }
  const host = url.hostname;
  if (!isLoopbackHost(host)) {
    throw new PolicyError(
      `--redirect ${spec}: the target must be a loopback test server (127.x.x.x or localhost)`,
    );
  }
  const port = url.port ? Number(url.port) : DEFAULT_PORT[scheme];
  return { from, to: { scheme, host, port, authority: `${host}:${port}` } };
}

/**
 * The policy of one connector instance.
 *
 * - `secretUses`: Map secret setting key -> `secret-use` record (from `describe`).
 * - `redirects`: results of `parseRedirect`.
 * - `setAllowList(origins)`: the origins `configure` returned (until then, nothing is
 *   allowed: `describe` and `configure` make no calls).
 * - `decide({ scheme, authority, secretKeys })` -> `{ ok: true, origin, target, inject }` or
 *   `{ ok: false, reason }`. `target` is the `{ scheme, authority }` to send to (the
 *   canonical authority, or the redirect's); `inject` lists `{ key, header, prefix }` for
 *   the attached secrets.
 */
export function createPolicy({ secretUses = new Map(), redirects = [] } = {}) {
  const uses = new Map();
  for (const [key, use] of secretUses) {
    if (!use || !Array.isArray(use.origins) || use.origins.length === 0) {
      throw new PolicyError(`secret setting ${key} has no secret-use origins`);
    }
    if (typeof use.header !== "string" || !/^[a-z0-9!#$%&'*+.^_`|~-]+$/i.test(use.header)) {
      throw new PolicyError(`secret setting ${key}: bad header name ${JSON.stringify(use.header)}`);
    }
    if (["host", "connection", "keep-alive", "content-length", "transfer-encoding"].includes(use.header.toLowerCase())) {
      throw new PolicyError(`secret setting ${key}: header ${use.header} cannot carry a secret`);
    }
    uses.set(key, {
      origins: new Set(use.origins.map((o) => originKey(checkDeclaredOrigin(o, `secret ${key}`)))),
      header: use.header.toLowerCase(),
      prefix: use.valuePrefix ?? "",
    });
  }
  const redirectMap = new Map(redirects.map((r) => [originKey(r.from), r.to]));
  let allow = new Set();

  return {
    setAllowList(origins) {
      allow = new Set(origins.map((o) => originKey(checkDeclaredOrigin(o, "configure"))));
    },
    allowList() {
      return [...allow];
    },
    hasSecret(key) {
      return uses.has(key);
    },
    decide({ scheme, authority, secretKeys = [] }) {
      if (scheme !== "https") {
        return { ok: false, reason: `scheme ${scheme} (only https)` };
      }
      const origin = requestOrigin(scheme, authority);
      if (origin.error) return { ok: false, reason: origin.error };
      const key = originKey(origin);
      if (!allow.has(key)) return { ok: false, reason: `${key} is not in the allow-list` };
      const inject = [];
      for (const secretKey of secretKeys) {
        const use = uses.get(secretKey);
        if (!use) return { ok: false, reason: `unknown secret ${secretKey}` };
        if (!use.origins.has(key)) {
          return { ok: false, reason: `secret ${secretKey} may not go to ${key}` };
        }
        inject.push({ key: secretKey, header: use.header, prefix: use.prefix });
      }
      const redirect = redirectMap.get(key);
      const canonical = origin.port === 443 ? origin.host : `${origin.host}:${origin.port}`;
      const target = redirect
        ? { scheme: redirect.scheme, authority: redirect.authority }
        : { scheme: "https", authority: canonical };
      return { ok: true, origin: key, target, inject };
    },
  };
}

/**
 * Replaces every secret value, and anything shaped like an OpenAI key (`sk-…`, as
 * providers echo key fragments in errors), with a marker.
 */
export function createRedactor(secretValues) {
  const current = typeof secretValues === "function" ? secretValues : () => secretValues;
  return (text) => {
    let s = String(text);
    for (const v of current()) {
      if (typeof v === "string" && v.length > 0) s = s.split(v).join("[redacted]");
    }
    return s.replace(/sk-[A-Za-z0-9_*\u2026-]*/g, "[redacted]");
  };
}
