// Unit tests of the policy hook (lib/policy.mjs): pure functions, no component, no network.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createPolicy,
  createRedactor,
  normalizeHost,
  parseRedirect,
  PolicyError,
  requestOrigin,
} from "../lib/policy.mjs";

const openai = { scheme: "https", host: "api.openai.com", port: 443 };
const other = { scheme: "https", host: "status.example.com", port: 443 };
const secretUses = new Map([
  ["api_token", { origins: [openai], header: "Authorization", valuePrefix: "Bearer " }],
]);

function policy(redirects = []) {
  const p = createPolicy({ secretUses, redirects });
  p.setAllowList([openai, other]);
  return p;
}

test("an allowed origin goes out over https to its canonical authority", () => {
  for (const authority of ["api.openai.com", "api.openai.com:443"]) {
    const d = policy().decide({ scheme: "https", authority });
    assert.equal(d.ok, true, authority);
    assert.equal(d.origin, "https://api.openai.com:443");
    assert.deepEqual(d.target, { scheme: "https", authority: "api.openai.com" });
    assert.deepEqual(d.inject, []);
  }
});

test("nothing is allowed before configure sets the allow-list", () => {
  const p = createPolicy({ secretUses });
  assert.equal(p.decide({ scheme: "https", authority: "api.openai.com" }).ok, false);
});

test("a wrong port is refused", () => {
  const d = policy().decide({ scheme: "https", authority: "api.openai.com:8443" });
  assert.equal(d.ok, false);
  assert.match(d.reason, /not in the allow-list/);
  assert.equal(policy().decide({ scheme: "https", authority: "api.openai.com:0" }).ok, false);
  assert.equal(policy().decide({ scheme: "https", authority: "api.openai.com:99999" }).ok, false);
  assert.equal(policy().decide({ scheme: "https", authority: "api.openai.com:" }).ok, false);
});

test("plain http and other schemes are refused", () => {
  for (const scheme of ["http", "ftp", "HTTPS "]) {
    const d = policy().decide({ scheme, authority: "api.openai.com" });
    assert.equal(d.ok, false, scheme);
  }
  const d = policy().decide({ scheme: "http", authority: "api.openai.com:443" });
  assert.match(d.reason, /only https/);
});

test("hosts are compared lower-cased, without a trailing dot", () => {
  for (const authority of ["API.OpenAI.com", "api.openai.com.", "Api.OpenAI.Com.:443"]) {
    const d = policy().decide({ scheme: "https", authority });
    assert.equal(d.ok, true, authority);
    assert.deepEqual(d.target, { scheme: "https", authority: "api.openai.com" }, authority);
  }
  assert.equal(normalizeHost("api.openai.com.."), null);
  assert.equal(normalizeHost("."), null);
  assert.equal(normalizeHost(""), null);
  assert.equal(policy().decide({ scheme: "https", authority: "api.openai.com.evil.example" }).ok, false);
  assert.equal(policy().decide({ scheme: "https", authority: "xapi.openai.com" }).ok, false);
});

test("IP literals are refused, whatever their spelling", () => {
  for (const authority of ["127.0.0.1", "127.0.0.1:443", "10.0.0.1", "127.1", "0x7f.1", "2130706433", "[::1]", "[::1]:443", "::1"]) {
    const d = policy().decide({ scheme: "https", authority });
    assert.equal(d.ok, false, authority);
  }
  assert.equal(normalizeHost("1.2.3.4"), null);
  assert.equal(normalizeHost("example.123"), null);
  assert.equal(normalizeHost("123.example"), "123.example");
});

test("odd authorities are refused", () => {
  for (const authority of [undefined, "", "user@api.openai.com", "api.openai.com/x", "api_openai.com", "api.openai.com:443:1", "-api.openai.com"]) {
    assert.equal(policy().decide({ scheme: "https", authority }).ok, false, String(authority));
  }
});

test("a secret is attached only on its own origins", () => {
  const d = policy().decide({ scheme: "https", authority: "api.openai.com", secretKeys: ["api_token"] });
  assert.equal(d.ok, true);
  assert.deepEqual(d.inject, [{ key: "api_token", header: "authorization", prefix: "Bearer " }]);

  // status.example.com is allow-listed, but not an origin of the secret: refused with it ...
  const refused = policy().decide({ scheme: "https", authority: "status.example.com", secretKeys: ["api_token"] });
  assert.equal(refused.ok, false);
  assert.match(refused.reason, /may not go to https:\/\/status\.example\.com:443/);
  // ... and allowed without it.
  assert.equal(policy().decide({ scheme: "https", authority: "status.example.com" }).ok, true);
  // nor over http, nor on another port of its host
  assert.equal(policy().decide({ scheme: "http", authority: "api.openai.com", secretKeys: ["api_token"] }).ok, false);
  // an unknown secret key refuses the request
  assert.equal(policy().decide({ scheme: "https", authority: "api.openai.com", secretKeys: ["nope"] }).ok, false);
});

test("a redirect applies to its origin only and keeps the secret", () => {
  const r = parseRedirect("api.openai.com=http://127.0.0.1:8080");
  assert.deepEqual(r.from, openai);
  assert.deepEqual(r.to, { scheme: "http", host: "127.0.0.1", port: 8080, authority: "127.0.0.1:8080" });
  const p = policy([r]);
  const d = p.decide({ scheme: "https", authority: "api.openai.com.", secretKeys: ["api_token"] });
  assert.equal(d.ok, true);
  assert.deepEqual(d.target, { scheme: "http", authority: "127.0.0.1:8080" });
  assert.equal(d.inject.length, 1);
  // the redirect does not allow http to the declared origin itself
  assert.equal(p.decide({ scheme: "http", authority: "api.openai.com" }).ok, false);
  // other origins are not redirected
  assert.deepEqual(p.decide({ scheme: "https", authority: "status.example.com" }).target, {
    scheme: "https",
    authority: "status.example.com",
  });
  // a redirect does not add its origin to the allow-list
  const q = createPolicy({ secretUses, redirects: [parseRedirect("other.example.com=http://127.0.0.1:1")] });
  q.setAllowList([openai]);
  assert.equal(q.decide({ scheme: "https", authority: "other.example.com" }).ok, false);
});

test("redirect targets are loopback servers only", () => {
  assert.equal(parseRedirect("api.openai.com=https://localhost:9443").to.scheme, "https");
  assert.equal(parseRedirect("api.openai.com:8443=http://127.0.0.2:80").from.port, 8443);
  for (const spec of [
    "api.openai.com=http://10.0.0.1:8080",
    "api.openai.com=http://192.168.1.1",
    "api.openai.com=http://example.com:8080",
    "api.openai.com=https://evil.example.com",
    "api.openai.com=http://[::1]:8080",
    "api.openai.com=http://127.0.0.1.nip.io:8080",
    "api.openai.com=ftp://127.0.0.1:21",
    "api.openai.com=http://127.0.0.1:8080/v1",
    "api.openai.com=http://user@127.0.0.1:8080",
    "api.openai.com=127.0.0.1:8080",
    "127.0.0.1=http://127.0.0.1:8080",
    "=http://127.0.0.1:8080",
    "api.openai.com",
  ]) {
    assert.throws(() => parseRedirect(spec), PolicyError, spec);
  }
});

test("declared origins and secret uses are checked", () => {
  const p = createPolicy({ secretUses });
  assert.throws(() => p.setAllowList([{ scheme: "http", host: "api.openai.com", port: 80 }]), PolicyError);
  assert.throws(() => p.setAllowList([{ scheme: "https", host: "API.openai.com", port: 443 }]), PolicyError);
  assert.throws(() => p.setAllowList([{ scheme: "https", host: "api.openai.com.", port: 443 }]), PolicyError);
  assert.throws(() => p.setAllowList([{ scheme: "https", host: "10.0.0.1", port: 443 }]), PolicyError);
  assert.throws(() => p.setAllowList([{ scheme: "https", host: "api.openai.com", port: 0 }]), PolicyError);
  const bad = (use) => () => createPolicy({ secretUses: new Map([["k", use]]) });
  assert.throws(bad({ origins: [], header: "authorization", valuePrefix: "" }), PolicyError);
  assert.throws(bad({ origins: [openai], header: "host", valuePrefix: "" }), PolicyError);
  assert.throws(bad({ origins: [openai], header: "bad header", valuePrefix: "" }), PolicyError);
  assert.throws(bad({ origins: [{ ...openai, scheme: "http" }], header: "x-key", valuePrefix: "" }), PolicyError);
});

test("requestOrigin defaults the port by scheme", () => {
  assert.deepEqual(requestOrigin("https", "a.example"), { scheme: "https", host: "a.example", port: 443 });
  assert.deepEqual(requestOrigin("http", "a.example"), { scheme: "http", host: "a.example", port: 80 });
});

test("the redactor removes secret values and key-shaped text", () => {
  const values = new Map();
  const redact = createRedactor(() => values.values());
  values.set("api_token", "s3cr3t-value-0123456789");
  assert.equal(redact("a s3cr3t-value-0123456789 b s3cr3t-value-0123456789"), "a [redacted] b [redacted]");
  assert.equal(redact("Incorrect API key provided: sk-admin****1234."), "Incorrect API key provided: [redacted].");
  assert.equal(redact("nothing here"), "nothing here");
});
