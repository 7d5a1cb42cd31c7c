import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { LLM } from "../src/engine/llm.js";
import { LLMEngine, type EngineOptions } from "../src/engine/llm-engine.js";
import { startServer, type RunningServer } from "../src/server/server.js";
import { defaultModelDir } from "./paths.js";
import { until } from "./helpers.js";

const KEY = "sk-faults";

async function serve(options: EngineOptions): Promise<{ engine: LLMEngine; server: RunningServer; client: OpenAI; close: () => Promise<void> }> {
  const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", ...options });
  const server = await startServer({ engine, port: 0, apiKey: KEY });
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  return {
    engine,
    server,
    client,
    close: async () => {
      await server.close();
      engine.close();
    },
  };
}

async function post(url: string, body: string | object, headers: Record<string, string> = { Authorization: `Bearer ${KEY}` }): Promise<{ status: number; json: { error: { message: string; type: string; param: string | null; code: string | null } } }> {
  const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

describe("server faults", () => {
  let s: Awaited<ReturnType<typeof serve>>;
  let url: string;
  let model: string;
  before(async () => {
    s = await serve({ maxBatch: 8, numBlocks: 64 });
    url = `${s.server.url}/v1/completions`;
    model = s.engine.modelName;
  });
  after(() => s.close());

  it("malformed JSON: 400 with OpenAI's error body", async () => {
    const r = await post(url, '{"prompt": "ROMEO:", ');
    assert.equal(r.status, 400);
    assert.equal(r.json.error.type, "invalid_request_error");
    assert.match(r.json.error.message, /not valid JSON/);
    assert.ok("param" in r.json.error && "code" in r.json.error);
    assert.equal((await post(url, "[1, 2]")).status, 400);
  });

  it("wrong types name the parameter", async () => {
    const cases: [object, string][] = [
      [{ prompt: "x", temperature: "hot" }, "temperature"],
      [{ prompt: "x", max_tokens: 2.5 }, "max_tokens"],
      [{ prompt: "x", n: 0 }, "n"],
      [{ prompt: "x", stream: "yes" }, "stream"],
      [{ prompt: "x", stop: [1] }, "stop"],
      [{ prompt: "x", top_p: 3 }, "top_p"],
      [{ prompt: "x", logprobs: true }, "logprobs"],
      [{ prompt: { text: "x" } }, "prompt"],
      [{ prompt: [1, "a"] }, "prompt"],
    ];
    for (const [body, param] of cases) {
      const r = await post(url, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.param, param, JSON.stringify(body));
    }
    const chat = await post(`${s.server.url}/v1/chat/completions`, { messages: "hello" });
    assert.equal(chat.status, 400);
    assert.equal(chat.json.error.param, "messages");
    const role = await post(`${s.server.url}/v1/chat/completions`, { messages: [{ role: "wizard", content: "hi" }] });
    assert.equal(role.json.error.param, "messages[0].role");
  });

  it("negative or huge max_tokens: 400, the latter with the numbers", async () => {
    const neg = await post(url, { prompt: "ROMEO:", max_tokens: -1 });
    assert.equal(neg.status, 400);
    assert.equal(neg.json.error.param, "max_tokens");
    const huge = await post(url, { prompt: "ROMEO:", max_tokens: 1e9 });
    assert.equal(huge.status, 400);
    assert.match(huge.json.error.message, /prompt \(6 tokens\) \+ max_tokens \(1000000000\) = 1000000006 exceeds the context of 256 tokens/);
    await assert.rejects(s.client.completions.create({ model, prompt: "ROMEO:", max_tokens: 300 }), (e: unknown) => e instanceof OpenAI.BadRequestError);
  });

  it("a request the KV pool can never hold: 400 with the numbers", async () => {
    const small = await serve({ maxBatch: 2, numBlocks: 3 });
    try {
      const r = await post(`${small.server.url}/v1/completions`, { prompt: "ROMEO:", max_tokens: 100 });
      assert.equal(r.status, 400);
      assert.match(r.json.error.message, /needs 105 KV positions \(7 blocks of 16\) but the KV pool has 3 blocks/);
    } finally {
      await small.close();
    }
  });

  it("a 10 MB body: 413, and the server keeps serving", async () => {
    const r = await post(url, JSON.stringify({ prompt: "x".repeat(10 * 2 ** 20) }));
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, "request_too_large");
    const ok = await s.client.completions.create({ model, prompt: "ROMEO:", max_tokens: 2 });
    assert.equal(ok.choices.length, 1);
  });

  it("unknown model: 404 model_not_found", async () => {
    await assert.rejects(s.client.completions.create({ model: "gpt-5", prompt: "x", max_tokens: 1 }), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found");
    await assert.rejects(s.client.chat.completions.create({ model: "gpt-5", messages: [{ role: "user", content: "x" }] }), OpenAI.NotFoundError);
  });

  it("wrong or missing API key: 401; /health stays open", async () => {
    const bad = new OpenAI({ baseURL: `${s.server.url}/v1`, apiKey: "sk-wrong", maxRetries: 0 });
    await assert.rejects(bad.completions.create({ model, prompt: "x", max_tokens: 1 }), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.code === "invalid_api_key");
    assert.equal((await post(url, { prompt: "x" }, {})).status, 401);
    assert.equal((await fetch(`${s.server.url}/v1/models`)).status, 401);
    assert.equal((await fetch(`${s.server.url}/health`)).status, 200);
  });

  it("unknown routes 404, wrong methods 405", async () => {
    const auth = { Authorization: `Bearer ${KEY}` };
    assert.equal((await fetch(`${s.server.url}/v1/nothing`, { headers: auth })).status, 404);
    assert.equal((await fetch(url, { headers: auth })).status, 405);
    assert.equal((await fetch(`${s.server.url}/nothing`)).status, 404);
  });

  it("a client aborting mid-stream cancels its request and frees its blocks at once", async () => {
    const stream = await s.client.completions.create({ model, prompt: "ROMEO:", max_tokens: 200, temperature: 0, stream: true, ...{ ignore_eos: true } });
    let chunks = 0;
    for await (const chunk of stream) {
      void chunk;
      if (++chunks === 5) break; // leaving the loop aborts the HTTP request
    }
    await until("the request to be cancelled", () => s.engine.stats().running === 0 && s.engine.stats().waiting === 0);
    assert.equal(s.engine.stats().blocks.usedBlocks, 0);
    assert.ok(s.engine.stats().generatedTokens < 100, "generation stopped long before max_tokens");
  });

  it("a client that disconnects before a non-streamed answer also cancels it", async () => {
    const controller = new AbortController();
    const pending = s.client.completions.create({ model, prompt: "JULIET:", max_tokens: 200, ...{ ignore_eos: true } }, { signal: controller.signal });
    await until("the request to start", () => s.engine.stats().running === 1);
    controller.abort();
    await assert.rejects(pending);
    await until("the request to be cancelled", () => s.engine.stats().running === 0);
    assert.equal(s.engine.stats().blocks.usedBlocks, 0);
  });
});

describe("server under pressure", () => {
  it("an exhausted KV pool preempts and recomputes; every request still completes correctly", async () => {
    const s = await serve({ maxBatch: 8, numBlocks: 24, maxStepTokens: 64 });
    const llm = await LLM.load(defaultModelDir, { backend: "reference", maxBatch: 1 });
    try {
      const prompts = Array.from({ length: 8 }, (_, i) => `${["ROMEO", "JULIET", "KING", "QUEEN"][i % 4]}:${" O".repeat(i)}`);
      const results = await Promise.all(
        prompts.map((prompt) => s.client.completions.create({ model: s.engine.modelName, prompt, max_tokens: 60, temperature: 0, ...{ ignore_eos: true } })),
      );
      const stats = s.engine.stats();
      assert.ok(stats.preemptions > 0, "8 × ~70 positions do not fit in 24 × 16");
      assert.equal(stats.blocks.usedBlocks, 0);
      const metrics = await (await fetch(`${s.server.url}/metrics`)).text();
      assert.match(metrics, /^nanogpt_preemptions_total [1-9]\d*$/m);
      // Last: these solo runs block the event loop, and the server with it.
      prompts.forEach((p, i) => assert.equal(results[i].choices[0].text, llm.generateBatch([p], { temperature: 0, maxTokens: 60, ignoreEos: true })[0].text, p));
    } finally {
      await s.close();
      llm.close();
    }
  });

  it("a full queue answers 429, and the requests it took still complete", async () => {
    const s = await serve({ maxBatch: 1, maxQueue: 2 });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          post(`${s.server.url}/v1/completions`, { prompt: `ROMEO:${i}`, max_tokens: 20 }).then((r) => [r.status, r.json.error?.code ?? null] as const),
        ),
      );
      const ok = statuses.filter(([st]) => st === 200).length;
      const busy = statuses.filter(([st, code]) => st === 429 && code === "queue_full").length;
      assert.ok(ok >= 3, `ok ${ok}`);
      assert.ok(busy >= 1, `429s ${busy}`);
      assert.equal(ok + busy, 6);
    } finally {
      await s.close();
    }
  });
});
