import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { startServer, type RunningServer } from "../src/server/server.js";
import { defaultModelDir } from "./paths.js";
import { until } from "./helpers.js";

const KEY = "sk-hardening";
const APP = "https://app.example";

interface Served {
  engine: LLMEngine;
  server: RunningServer;
  logs: string[];
  close: () => Promise<void>;
}

async function serve(allowedOrigins: string[]): Promise<Served> {
  const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 4, numBlocks: 64 });
  const logs: string[] = [];
  const server = await startServer({ engine, port: 0, apiKey: KEY, allowedOrigins, log: (line) => logs.push(line) });
  return {
    engine,
    server,
    logs,
    close: async () => {
      await server.close();
      engine.close();
    },
  };
}

interface ErrorJson {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function isErrorJson(v: unknown): v is ErrorJson {
  return typeof v === "object" && v !== null && "error" in v && typeof v.error === "object" && v.error !== null && "message" in v.error;
}

async function errorOf(res: Response): Promise<ErrorJson["error"]> {
  const body: unknown = await res.json();
  assert.ok(isErrorJson(body), JSON.stringify(body));
  assert.ok(!body.error.message.includes("\n"), `one line: ${body.error.message}`);
  return body.error;
}

/** A GET whose path goes out byte for byte (fetch and URL would tidy "//health"). */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: hostname, port, path, headers: { Authorization: `Bearer ${KEY}` } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

/** Sends `request` on a raw socket, then half-closes (FIN) or closes it, and collects what comes back. */
function rawExchange(url: string, request: string, then: "end" | "destroy-when-running", engine?: LLMEngine): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(request);
      if (then === "end") socket.end();
      else until("the request to run", () => engine?.stats().running === 1).then(() => socket.destroy(), reject);
    });
    let got = "";
    socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => resolve(got));
  });
}

function postRequest(body: object, extra = ""): string {
  const text = JSON.stringify(body);
  return (
    `POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(text)}\r\n${extra}\r\n${text}`
  );
}

describe("CORS, content types and the API key's reach", () => {
  let s: Served;
  before(async () => {
    s = await serve([APP, "http://localhost:3000"]);
  });
  after(() => s.close());

  const preflight = (origin: string, path = "/v1/chat/completions"): Promise<Response> =>
    fetch(`${s.server.url}${path}`, {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type" },
    });

  it("a preflight from an allowed origin: 204 echoing it, with methods, headers and max-age", async () => {
    const res = await preflight(APP);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), APP);
    assert.match(res.headers.get("vary") ?? "", /\bOrigin\b/);
    assert.match(res.headers.get("access-control-allow-methods") ?? "", /\bPOST\b/);
    const allowHeaders = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase();
    assert.match(allowHeaders, /\bauthorization\b/);
    assert.match(allowHeaders, /\bcontent-type\b/);
    assert.ok(Number(res.headers.get("access-control-max-age")) > 0);
    assert.equal((await preflight("http://localhost:3000", "/v1/models")).headers.get("access-control-allow-origin"), "http://localhost:3000");
  });

  it("a preflight from any other origin: 403 without CORS headers", async () => {
    for (const origin of ["https://evil.example", "https://app.example:444", "null"]) {
      const res = await preflight(origin);
      assert.equal(res.status, 403, origin);
      assert.equal(res.headers.get("access-control-allow-origin"), null);
      const err = await errorOf(res);
      assert.equal(err.code, "origin_not_allowed");
      assert.ok(err.message.includes(origin), err.message);
    }
  });

  it("actual responses carry the CORS headers for an allowed origin: JSON, SSE and errors", async () => {
    const headers = { Origin: APP, Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" };
    const json = await fetch(`${s.server.url}/v1/completions`, { method: "POST", headers, body: JSON.stringify({ prompt: "ROMEO:", max_tokens: 2 }) });
    assert.equal(json.status, 200);
    assert.equal(json.headers.get("access-control-allow-origin"), APP);
    await json.json();
    const sse = await fetch(`${s.server.url}/v1/completions`, { method: "POST", headers, body: JSON.stringify({ prompt: "ROMEO:", max_tokens: 2, stream: true }) });
    assert.equal(sse.headers.get("content-type"), "text/event-stream");
    assert.equal(sse.headers.get("access-control-allow-origin"), APP);
    assert.match(sse.headers.get("vary") ?? "", /\bOrigin\b/);
    assert.ok((await sse.text()).endsWith("data: [DONE]\n\n"));
    // A browser must be able to read a 401 too, or the page cannot tell the user why.
    const denied = await fetch(`${s.server.url}/v1/models`, { headers: { Origin: APP } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get("access-control-allow-origin"), APP);
    const other = await fetch(`${s.server.url}/v1/models`, { headers: { Origin: "https://evil.example", Authorization: `Bearer ${KEY}` } });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  });

  it("a POST whose body is not declared application/json: 415, and nothing is generated", async () => {
    const before = s.engine.stats().generatedTokens;
    const body = JSON.stringify({ prompt: "ROMEO:", max_tokens: 4 });
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", undefined]) {
      const res = await fetch(`${s.server.url}/v1/completions`, {
        method: "POST",
        headers: { Authorization: `Bearer ${KEY}`, ...(type === undefined ? {} : { "Content-Type": type }) },
        body: type === undefined ? new Uint8Array(Buffer.from(body)) : body,
      });
      assert.equal(res.status, 415, String(type));
      const err = await errorOf(res);
      assert.equal(err.code, "unsupported_media_type");
      assert.match(err.message, type === undefined ? /got no Content-Type/ : /must be sent as Content-Type: application\/json, got Content-Type "/);
    }
    assert.equal(s.engine.stats().generatedTokens, before);
    const charset = await fetch(`${s.server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "Application/JSON; charset=utf-8" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
    });
    assert.equal(charset.status, 200);
    await charset.json();
  });

  it("--api-key guards /v1/*; /health and /metrics stay open", async () => {
    assert.equal((await fetch(`${s.server.url}/v1/models`)).status, 401);
    assert.equal((await fetch(`${s.server.url}/v1/completions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status, 401);
    assert.equal((await fetch(`${s.server.url}/health`)).status, 200);
    const metrics = await fetch(`${s.server.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^nanogpt_requests_total/m);
  });

  it('allowed origins "*" echoes any origin', async () => {
    const any = await serve(["*"]);
    try {
      const res = await fetch(`${any.server.url}/v1/models`, { method: "OPTIONS", headers: { Origin: "https://whoever.example", "Access-Control-Request-Method": "GET" } });
      assert.equal(res.status, 204);
      assert.equal(res.headers.get("access-control-allow-origin"), "https://whoever.example");
    } finally {
      await any.close();
    }
  });

  it("no allowed origins (the default): preflights get 403, responses no CORS headers", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 1, numBlocks: 16 });
    const server = await startServer({ engine, port: 0 });
    try {
      const res = await fetch(`${server.url}/v1/models`, { method: "OPTIONS", headers: { Origin: APP, "Access-Control-Request-Method": "GET" } });
      assert.equal(res.status, 403);
      const get = await fetch(`${server.url}/v1/models`, { headers: { Origin: APP } });
      assert.equal(get.status, 200);
      assert.equal(get.headers.get("access-control-allow-origin"), null);
    } finally {
      await server.close();
      engine.close();
    }
  });
});

describe("odd requests get 4xx with what they sent", () => {
  let s: Served;
  before(async () => {
    s = await serve([]);
  });
  after(() => s.close());

  it("a model id that is not valid percent-encoding: 400, no internal error", async () => {
    const r = await rawGet(s.server.url, "/v1/models/%E0%A4%A");
    assert.equal(r.status, 400);
    assert.match(r.body, /the model id in \/v1\/models\/%E0%A4%A is not valid percent-encoding/);
    assert.deepEqual(
      s.logs.filter((l) => l.includes("internal error")),
      [],
    );
  });

  it("temperature 1e999 (Infinity once parsed): 400 saying it must be finite", async () => {
    const res = await fetch(`${s.server.url}/v1/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
      body: '{"prompt": "x", "temperature": 1e999}',
    });
    assert.equal(res.status, 400);
    const err = await errorOf(res);
    assert.equal(err.param, "temperature");
    assert.match(err.message, /^temperature must be a finite number, got Infinity/);
    const neg = await fetch(`${s.server.url}/v1/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
      body: '{"prompt": "x", "top_p": -1e999}',
    });
    assert.match((await errorOf(neg)).message, /^top_p must be a finite number, got -Infinity/);
  });

  it("//health: 404 naming the path as sent (no host/path confusion)", async () => {
    const r = await rawGet(s.server.url, "//health");
    assert.equal(r.status, 404);
    assert.match(r.body, /no route GET \/\/health"/);
    assert.equal((await rawGet(s.server.url, "/health?probe=1")).status, 200);
    assert.equal((await rawGet(s.server.url, "/health/")).status, 200);
  });
});

describe("half-closed and vanished clients", () => {
  let s: Served;
  before(async () => {
    s = await serve([]);
  });
  after(() => s.close());

  it("a client that sends its request and half-closes (FIN) still gets the answer", async () => {
    const t0 = performance.now();
    const reply = await rawExchange(s.server.url, postRequest({ prompt: "ROMEO:", max_tokens: 8 }), "end");
    assert.ok(performance.now() - t0 < 5000);
    const final = reply.replace(/^(HTTP\/1\.1 102 Processing\r\n\r\n)*/, "");
    assert.match(final, /^HTTP\/1\.1 200 OK\r\n/);
    const body: unknown = JSON.parse(final.slice(final.indexOf("\r\n\r\n") + 4));
    assert.ok(typeof body === "object" && body !== null && "choices" in body && Array.isArray(body.choices) && body.choices.length === 1, final);
    assert.ok(!s.logs.some((l) => / 499 /.test(l)), s.logs.join("\n"));
  });

  it("a half-closed streaming client gets the whole stream, [DONE] included", async () => {
    const reply = await rawExchange(s.server.url, postRequest({ prompt: "ROMEO:", max_tokens: 6, stream: true }), "end");
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(reply, /data: \[DONE\]\n\n\r\n0\r\n\r\n$/); // the last chunk, then chunked encoding's end
  });

  it("a client that really closes still cancels a non-streamed request at once", async () => {
    const before = s.engine.stats().generatedTokens;
    await rawExchange(s.server.url, postRequest({ prompt: "JULIET:", max_tokens: 240, ignore_eos: true }), "destroy-when-running", s.engine);
    await until("the request to be cancelled", () => s.engine.stats().running === 0, 3000);
    assert.equal(s.engine.stats().blocks.usedBlocks, 0);
    // 240 tokens take seconds on this backend; a cancelled request stops after a few.
    assert.ok(s.engine.stats().generatedTokens - before < 120, `generated ${s.engine.stats().generatedTokens - before}`);
  });

  it("a client that half-closes before its body is complete is dropped, not waited for", async () => {
    const text = JSON.stringify({ prompt: "ROMEO:" });
    const request = `POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${text.length + 10}\r\n\r\n${text}`;
    const t0 = performance.now();
    const reply = await rawExchange(s.server.url, request, "end");
    assert.ok(performance.now() - t0 < 3000);
    assert.doesNotMatch(reply, /^HTTP\/1\.1 200/);
  });
});
