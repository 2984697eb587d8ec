// The imports a Node host gives the connector component: a sandboxed WASI (no files, no
// environment, no sockets, no arguments), wasi:http wrapped by the policy hook, and the
// contract's own `host-log` and `secrets` interfaces.
//
// How a secret gets into a request without entering the sandbox:
// - The connector builds an `outgoing-request` (its headers are immutable from then on, as
//   wasi:http says) and calls `secrets.attach(request, key)`. The host only records the key
//   against that request object; the connector never sees the value.
// - Our `OutgoingRequest` is a subclass of the shim's. It copies the connector's headers
//   into a `SecretFields` (a subclass of the shim's `Fields`), which the request keeps.
// - The wrapped `outgoing-handler.handle` runs the policy. If it allows the request, it arms
//   the `SecretFields` with the secret header, calls the shim's `handle` (which reads the
//   headers synchronously, through `entries()`, and hands them to its I/O worker), and
//   disarms it in `finally`. The connector is not running during that call, and reading the
//   headers through `get`/`has`/`clone` never shows the secret.
// - A request the policy refuses fails with wasi:http's `HTTP-request-denied`.
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import { types as shimTypes, outgoingHandler as shimHandler } from "@bytecodealliance/preview2-shim/http";
import { checkDeclaredOrigin, createPolicy, createRedactor, PolicyError } from "./policy.mjs";

const ARMED = Symbol("armed");
const ms = (n) => BigInt(n) * 1_000_000n;

/** Longest the host lets a connector wait, per phase (wasi:http's default is 600 s). */
export const TIMEOUT_CAPS = { connect: ms(10_000), firstByte: ms(60_000), betweenBytes: ms(60_000) };

/** Headers whose `entries()` include the secret header while (and only while) armed. */
class SecretFields extends shimTypes.Fields {
  [ARMED] = null;
  entries() {
    const base = super.entries();
    const armed = this[ARMED];
    if (!armed) return base;
    const names = new Set(armed.map(([n]) => n));
    return [...base.filter(([n]) => !names.has(n.toLowerCase())), ...armed];
  }
}

/** The `outgoing-request` the connector constructs; see the file comment. */
class HostOutgoingRequest extends shimTypes.OutgoingRequest {
  #fields;
  constructor(headers) {
    const fields = new SecretFields();
    for (const [name, value] of headers.entries()) fields.append(name, value);
    super(fields);
    this.#fields = fields;
  }
  static fieldsOf(request) {
    return request.#fields;
  }
}

function schemeName(scheme) {
  if (!scheme) return "https"; // the shim's default when the connector sets none
  if (scheme.tag === "HTTPS") return "https";
  if (scheme.tag === "HTTP") return "http";
  return String(scheme.val).toLowerCase();
}

/**
 * Creates the host side of one connector instance.
 *
 * - `secretValues`: Map setting key -> value, the host's secret store (never passed to
 *   the component; read when a request is sent, so it may be filled after `describe`).
 * - `redirects`: parsed `--redirect`s.
 * - `stderr`: a writable for log lines (default process.stderr).
 *
 * Returns `{ imports, useDescription, setAllowList, redact, stats, log }`: pass `imports`
 * to the transpiled component's `instantiate`; call `useDescription(info)` with what
 * `describe` returned (it registers each secret's `secret-use`), then
 * `setAllowList(configured.origins)` after `configure`. Until then nothing may go out.
 */
export function createHost({ secretValues, redirects = [], stderr = process.stderr }) {
  let policy = createPolicy({ redirects });
  const redact = createRedactor(() => secretValues.values());
  const attached = new WeakMap(); // request -> Set of secret keys
  const sent = new WeakSet();
  const stats = { requests: 0, denied: 0 };
  const line = (text) => stderr.write(redact(text) + "\n");

  const secrets = {
    attach(request, key) {
      if (!(request instanceof HostOutgoingRequest) || sent.has(request)) {
        return { tag: "err", val: "refused" };
      }
      if (!policy.hasSecret(key)) return { tag: "err", val: "unknown-secret" };
      if (!secretValues.get(key)) return { tag: "err", val: "not-set" };
      let keys = attached.get(request);
      if (!keys) attached.set(request, (keys = new Set()));
      keys.add(key);
      return { tag: "ok", val: undefined };
    },
  };

  const outgoingHandler = {
    handle(request, options) {
      const scheme = schemeName(request.scheme());
      const authority = request.authority();
      const secretKeys = [...(attached.get(request) ?? [])];
      const decision =
        request instanceof HostOutgoingRequest
          ? policy.decide({ scheme, authority, secretKeys })
          : { ok: false, reason: "not a request this host created" };
      if (!decision.ok) {
        stats.denied++;
        line(`[host] denied ${scheme}://${authority ?? ""}: ${decision.reason}`);
        throw { tag: "HTTP-request-denied" };
      }
      request.setScheme(decision.target.scheme === "http" ? { tag: "HTTP" } : { tag: "HTTPS" });
      request.setAuthority(decision.target.authority);

      const opts = options ?? new shimTypes.RequestOptions();
      const cap = (get, set, max) => {
        const v = get.call(opts);
        if (v === undefined || v > max) set.call(opts, max);
      };
      cap(opts.connectTimeout, opts.setConnectTimeout, TIMEOUT_CAPS.connect);
      cap(opts.firstByteTimeout, opts.setFirstByteTimeout, TIMEOUT_CAPS.firstByte);
      cap(opts.betweenBytesTimeout, opts.setBetweenBytesTimeout, TIMEOUT_CAPS.betweenBytes);

      const fields = HostOutgoingRequest.fieldsOf(request);
      const encoder = new TextEncoder();
      fields[ARMED] = decision.inject.map(({ key, header, prefix }) => [
        header,
        encoder.encode(prefix + secretValues.get(key)),
      ]);
      try {
        stats.requests++;
        return shimHandler.handle(request, opts);
      } finally {
        fields[ARMED] = null;
        sent.add(request);
        attached.delete(request);
      }
    },
  };

  const hostLog = {
    log(level, message) {
      line(`[connector ${level}] ${message}`);
    },
  };

  // No files, no environment, no arguments, no sockets: the connector's only way out is
  // the wrapped outgoing-handler.
  const wasi = new WASIShim({
    sandbox: { preopens: {}, env: {}, args: ["connector"], enableNetwork: false },
  }).getImportObject();
  const imports = {
    ...wasi,
    "wasi:http/types": { ...shimTypes, OutgoingRequest: HostOutgoingRequest },
    "wasi:http/outgoing-handler": outgoingHandler,
    "analytics:connector/host-log": hostLog,
    "analytics:connector/secrets": secrets,
  };
  return {
    imports,
    useDescription(info) {
      policy = createPolicy({ secretUses: describedSecretUses(info), redirects });
    },
    setAllowList(origins) {
      policy.setAllowList(origins);
    },
    redact,
    stats,
    log: line,
  };
}

/**
 * Map secret setting key -> `secret-use`, from a `connector-info`. Checks every origin the
 * connector declares, and refuses a connector whose secret field lacks its `secret-use`.
 */
export function describedSecretUses(info) {
  for (const o of info.origins) checkDeclaredOrigin(o, "describe");
  const uses = new Map();
  for (const f of info.settings) {
    if (f.kind !== "secret") continue;
    if (!f.secretUse) {
      throw new PolicyError(`secret setting ${f.key} has no secret-use: this host refuses the connector`);
    }
    uses.set(f.key, f.secretUse);
  }
  return uses;
}
