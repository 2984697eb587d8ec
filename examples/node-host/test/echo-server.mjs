// A loopback test server that tells whether a request carried the expected Authorization
// header, without ever echoing it. Prints `{"port":N}` on stdout once listening.
//
// ECHO_EXPECT_AUTH=value: the exact header value that counts as authorized.
// Answers JSON: { path, method, auth: "ok" | "missing" | "wrong", header_names, next }.
// `next` is "p2" on a request without `page=p2` in its query, null with it (two pages).
// Paths under /v1/organization/ answer 401 unless auth is "ok".
import { createServer } from "node:http";

const expected = process.env.ECHO_EXPECT_AUTH ?? "";
delete process.env.ECHO_EXPECT_AUTH;

const server = createServer((req, res) => {
  const got = req.headers.authorization;
  const auth = got === undefined ? "missing" : got === expected && expected !== "" ? "ok" : "wrong";
  const url = new URL(req.url, "http://x");
  const body = {
    path: url.pathname,
    method: req.method,
    auth,
    header_names: Object.keys(req.headers).sort(),
    x_guest: req.headers["x-guest"] ?? null,
    next: url.searchParams.get("page") === "p2" ? null : "p2",
  };
  const status = url.pathname.startsWith("/v1/organization/") && auth !== "ok" ? 401 : 200;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => process.exit(0));
