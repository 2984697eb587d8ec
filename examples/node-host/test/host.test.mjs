// Tests of lib/host.mjs against the real preview2-shim, without a component: these calls
// are the ones a connector makes through its wasi:http and secrets imports. The requests go
// to test/echo-server.mjs on loopback (in a child process: the shim blocks this thread
// while it waits for a response).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createHost } from "../lib/host.mjs";
import { parseRedirect, PolicyError } from "../lib/policy.mjs";

const SECRET = "sk-admin-" + "t3st".repeat(8) + Date.now();
const enc = (s) => new TextEncoder().encode(s);
const openai = { scheme: "https", host: "api.openai.com", port: 443 };
const status = { scheme: "https", host: "status.example.com", port: 443 };
const info = {
  id: "test",
  origins: [openai, status],
  settings: [
    { key: "api_token", kind: "secret", secretUse: { origins: [openai], header: "authorization", valuePrefix: "Bearer " } },
    { key: "spare_token", kind: "secret", secretUse: { origins: [openai], header: "x-spare", valuePrefix: "" } },
    { key: "note", kind: "text" },
  ],
};

let server;
let port;
before(async () => {
  server = spawn(process.execPath, [fileURLToPath(new URL("./echo-server.mjs", import.meta.url))], {
    env: { ...process.env, ECHO_EXPECT_AUTH: `Bearer ${SECRET}` },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = await once(server.stdout, "data");
  port = JSON.parse(String(line)).port;
});
after(() => server.kill());

function setup({ allow = [openai, status] } = {}) {
  const logged = [];
  const secretValues = new Map([["api_token", SECRET]]);
  const host = createHost({
    secretValues,
    redirects: [
      parseRedirect(`api.openai.com=http://127.0.0.1:${port}`),
      parseRedirect(`status.example.com=http://127.0.0.1:${port}`),
    ],
    stderr: { write: (s) => logged.push(s) },
  });
  host.useDescription(info);
  if (allow) host.setAllowList(allow);
  const types = host.imports["wasi:http/types"];
  const { attach } = host.imports["analytics:connector/secrets"];
  const { handle } = host.imports["wasi:http/outgoing-handler"];
  // What a connector does: build a request with its own headers.
  const request = ({ scheme = { tag: "HTTPS" }, authority = "api.openai.com", path = "/v1/organization/usage/completions", headers = [] } = {}) => {
    const fields = new types.Fields();
    for (const [k, v] of headers) fields.append(k, enc(v));
    const req = new types.OutgoingRequest(fields);
    req.setMethod({ tag: "get" });
    req.setScheme(scheme);
    req.setAuthority(authority);
    req.setPathWithQuery(path);
    return req;
  };
  // ... and send it, reading the whole response.
  const send = (req) => {
    const body = req.body();
    const future = handle(req, undefined);
    types.OutgoingBody.finish(body, undefined);
    future.subscribe().block();
    const result = future.get();
    assert.equal(result.tag, "ok");
    assert.equal(result.val.tag, "ok", JSON.stringify(result.val));
    const response = result.val.val;
    const stream = response.consume().stream();
    const chunks = [];
    for (;;) {
      try {
        chunks.push(stream.blockingRead(65536n));
      } catch (e) {
        if (e?.tag === "closed") break;
        throw e;
      }
    }
    return { status: response.status(), json: JSON.parse(Buffer.concat(chunks).toString()) };
  };
  return { host, logged, attach, handle, request, send, secretValues };
}

const denied = (fn) => assert.throws(fn, (e) => e?.tag === "HTTP-request-denied");

test("an attached secret reaches its origin in its header with its prefix", () => {
  const { attach, request, send } = setup();
  const req = request({ headers: [["x-guest", "kept"]] });
  assert.deepEqual(attach(req, "api_token"), { tag: "ok", val: undefined });
  const { status, json } = send(req);
  assert.equal(status, 200);
  assert.equal(json.auth, "ok");
  assert.equal(json.x_guest, "kept");
  assert.equal(json.path, "/v1/organization/usage/completions");
});

test("the secret header replaces one the connector set itself", () => {
  const { attach, request, send } = setup();
  const req = request({ headers: [["Authorization", "Bearer forged"]] });
  attach(req, "api_token");
  assert.equal(send(req).json.auth, "ok");
  // without attach, the connector's own header goes as it is (and is no secret of ours)
  assert.equal(send(request({ headers: [["authorization", "Bearer forged"]] })).json.auth, "wrong");
});

test("the connector never sees the secret in its request's headers", () => {
  const { attach, request } = setup();
  const req = request();
  attach(req, "api_token");
  const headers = req.headers();
  assert.deepEqual(headers.get("authorization"), []);
  assert.equal(headers.has("authorization"), false);
  assert.equal(JSON.stringify(headers.entries().map(([k, v]) => [k, String(v)])).includes(SECRET), false);
  assert.equal(headers.clone().get("authorization").length, 0);
});

test("without attach, no secret goes out", () => {
  const { request, send } = setup();
  assert.equal(send(request()).json.auth, "missing");
});

test("a request carrying a secret to another origin is refused", () => {
  const { attach, request, send, host } = setup();
  const req = request({ authority: "status.example.com" });
  attach(req, "api_token");
  denied(() => send(req));
  assert.equal(host.stats.denied, 1);
  // the same origin without the secret is allowed (it is in the allow-list)
  assert.equal(send(request({ authority: "status.example.com", path: "/x" })).json.auth, "missing");
});

test("http, other ports, IP literals and undeclared hosts are refused", () => {
  const { request, send, logged } = setup();
  denied(() => send(request({ scheme: { tag: "HTTP" } })));
  denied(() => send(request({ authority: "api.openai.com:8443" })));
  denied(() => send(request({ authority: "127.0.0.1" })));
  denied(() => send(request({ authority: `127.0.0.1:${port}` })));
  denied(() => send(request({ authority: "evil.example.com" })));
  assert.equal(logged.filter((l) => l.includes("denied")).length, 5);
});

test("a trailing dot and upper case reach the same origin", () => {
  const { attach, request, send } = setup();
  const req = request({ authority: "API.OpenAI.com." });
  attach(req, "api_token");
  assert.equal(send(req).json.auth, "ok");
});

test("nothing goes out before configure set the allow-list", () => {
  const { request, send } = setup({ allow: null });
  denied(() => send(request()));
});

test("attach reports unknown, unset and already-sent secrets", () => {
  const { attach, request, send } = setup();
  assert.deepEqual(attach(request(), "note"), { tag: "err", val: "unknown-secret" });
  assert.deepEqual(attach(request(), "nope"), { tag: "err", val: "unknown-secret" });
  assert.deepEqual(attach(request(), "spare_token"), { tag: "err", val: "not-set" });
  const req = request();
  send(req);
  assert.deepEqual(attach(req, "api_token"), { tag: "err", val: "refused" });
  assert.deepEqual(attach({}, "api_token"), { tag: "err", val: "refused" });
});

test("host-log lines are redacted", () => {
  const { host, logged } = setup();
  host.imports["analytics:connector/host-log"].log("warn", `echoed ${SECRET} and sk-admin****abcd`);
  assert.equal(logged.length, 1);
  assert.equal(logged[0].includes(SECRET), false);
  assert.match(logged[0], /^\[connector warn\] echoed \[redacted\] and \[redacted\]\n$/);
});

test("a connector whose secret field lacks secret-use is refused", () => {
  const { host } = setup();
  assert.throws(
    () => host.useDescription({ ...info, settings: [{ key: "k", kind: "secret", secretUse: undefined }] }),
    PolicyError,
  );
  assert.throws(
    () => host.useDescription({ ...info, origins: [{ scheme: "https", host: "1.2.3.4", port: 443 }] }),
    PolicyError,
  );
});

test("the sandbox has no environment, arguments, files or sockets", () => {
  process.env.SHOULD_NOT_LEAK = "x";
  const { host } = setup();
  const env = host.imports["wasi:cli/environment"];
  assert.deepEqual(env.getEnvironment(), []);
  assert.deepEqual(env.getArguments(), ["connector"]);
  assert.deepEqual(host.imports["wasi:filesystem/preopens"].getDirectories(), []);
});
