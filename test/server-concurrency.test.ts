import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import OpenAI from "openai";
import { LLM } from "../src/engine/llm.js";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { startServer, type RunningServer } from "../src/server/server.js";
import { startServeChild } from "./helpers.js";
import { defaultModelDir, repoRoot } from "./paths.js";

const main = path.join(repoRoot, "dist", "src", "cli", "main.js");

const SPEAKERS = ["ROMEO", "JULIET", "MERCUTIO", "KING RICHARD III", "First Citizen", "GLOUCESTER", "LADY ANNE", "BUCKINGHAM"];

describe("continuous batching through the server (default model, reference backend)", () => {
  let engine: LLMEngine;
  let server: RunningServer;
  let client: OpenAI;
  let model: string;

  before(async () => {
    engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 32 });
    server = await startServer({ engine, port: 0 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
    model = engine.modelName;
  });
  after(async () => {
    await server.close();
    engine.close();
  });

  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    assert.ok(m, `metric ${name}`);
    return Number(m[1]);
  };

  it("32 concurrent streams of different prompts and lengths each equal their solo greedy output; then every block is free", async () => {
    const prompts = Array.from({ length: 32 }, (_, i) => `${SPEAKERS[i % SPEAKERS.length]}:${"\nO, ".repeat(i % 5)}${i % 3 === 0 ? "\nWhat say you?" : ""}`);
    const lengths = prompts.map((_, i) => 8 + ((i * 13) % 57));
    // Greedy decoding without end-of-text: the first k tokens do not depend on max_tokens, so one
    // static-cache batch of 64 tokens gives every expected output. (Batch = solo is generation.test's.)
    const llm = await LLM.load(defaultModelDir, { backend: "reference", maxBatch: 32 });
    const reference = llm.generateBatch(prompts, { temperature: 0, maxTokens: 64, ignoreEos: true });
    const expected = reference.map((r, i) => llm.detokenize(r.tokens.slice(0, lengths[i])));
    llm.close();

    const texts = await Promise.all(
      prompts.map(async (prompt, i) => {
        const stream = await client.completions.create({ model, prompt, max_tokens: lengths[i], temperature: 0, stream: true, ...{ ignore_eos: true } });
        let text = "";
        for await (const chunk of stream) text += chunk.choices.map((c) => c.text).join("");
        return text;
      }),
    );
    prompts.forEach((_, i) => assert.equal(texts[i], expected[i], `request ${i}`));
    assert.equal(await metric("nanogpt_kv_blocks_used"), 0);
    assert.equal(await metric("nanogpt_running_sequences"), 0);
    assert.equal(await metric("nanogpt_queue_length"), 0);
    assert.equal(engine.stats().blocks.freeBlocks, engine.stats().blocks.numBlocks);
  });

  it("a second request sharing a long prefix gets its first token sooner, and /metrics shows the hit", async () => {
    const prefix = (who: string): string =>
      `${who}:\nNow is the winter of our discontent\nMade glorious summer by this sun of York;\nAnd all the clouds that lour'd upon our house\nIn the deep bosom of the ocean buried.\n`;
    const ttft = async (prompt: string): Promise<number> => {
      const t0 = performance.now();
      const stream = await client.completions.create({ model, prompt, max_tokens: 3, temperature: 0, stream: true });
      let first = 0;
      for await (const chunk of stream) if (first === 0 && chunk.choices.some((c) => c.text !== "")) first = performance.now() - t0;
      return first;
    };
    await ttft(prefix("WARWICK") + "Warm up the JIT."); // not measured
    const hitsBefore = await metric("nanogpt_prefix_cache_hits_total");
    const cold = await ttft(prefix("GLOUCESTER") + "First Citizen:");
    const warm = await ttft(prefix("GLOUCESTER") + "Second Citizen:");
    const hits = (await metric("nanogpt_prefix_cache_hits_total")) - hitsBefore;
    assert.ok(hits >= 160, `prefix tokens found in the cache: ${hits}`);
    assert.ok(warm < cold * 0.6, `time to first token: ${cold.toFixed(0)} ms cold, ${warm.toFixed(0)} ms with the prefix cached`);
    assert.ok((await metric("nanogpt_prefix_cache_hit_rate")) > 0);
  });
});

describe("nanogpt-infer serve --kv-dtype f16 (child process, wasm backend)", () => {
  it("12 concurrent streams each equal their solo greedy output over a static f16 cache; then every block is free", async () => {
    const prompts = Array.from({ length: 12 }, (_, i) => `${SPEAKERS[i % SPEAKERS.length]}:${"\nO, ".repeat(i % 4)}`);
    const lengths = prompts.map((_, i) => 8 + ((i * 11) % 41));
    const llm = await LLM.load(defaultModelDir, { backend: "wasm", threads: 1, maxBatch: 12, kvDtype: "f16" });
    const reference = llm.generateBatch(prompts, { temperature: 0, maxTokens: 48, ignoreEos: true });
    const expected = reference.map((r, i) => llm.detokenize(r.tokens.slice(0, lengths[i])));
    llm.close();
    const { child, url, log } = await startServeChild(main, ["--port", "0", "--kv-dtype", "f16", "--max-batch", "8", "--max-step-tokens", "16", "--threads", "1", "--quiet"]);
    try {
      assert.match(log(), /tokens of f16\)/);
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "none", maxRetries: 0 });
      const texts = await Promise.all(
        prompts.map(async (prompt, i) => {
          const stream = await client.completions.create({ model: "shakespeare-byte-gpt2", prompt, max_tokens: lengths[i], temperature: 0, stream: true, ...{ ignore_eos: true } });
          let text = "";
          for await (const chunk of stream) text += chunk.choices.map((c) => c.text).join("");
          return text;
        }),
      );
      prompts.forEach((_, i) => assert.equal(texts[i], expected[i], `request ${i}`));
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /^nanogpt_kv_blocks_used 0$/m);
    } finally {
      child.kill("SIGTERM");
    }
  });
});

describe("memory over many requests (default model, wasm backend for speed)", () => {
  it("stays flat over 500 requests", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "wasm", threads: 2, maxBatch: 16 });
    const server = await startServer({ engine, port: 0 });
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "none", maxRetries: 0 });
    try {
      v8.setFlagsFromString("--expose-gc");
      const gc = runInNewContext("gc") as () => void;
      const run = async (count: number): Promise<void> => {
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < count) {
            const i = next++;
            const prompt = `${SPEAKERS[i % SPEAKERS.length]}: ${i}`;
            if (i % 2 === 0) {
              const r = await client.completions.create({ model: engine.modelName, prompt, max_tokens: 4, temperature: 0.7, seed: i });
              assert.equal(r.choices.length, 1);
            } else {
              const stream = await client.chat.completions.create({ model: engine.modelName, messages: [{ role: "user", content: prompt }], max_tokens: 4, stream: true });
              for await (const chunk of stream) void chunk;
            }
          }
        };
        await Promise.all(Array.from({ length: 16 }, worker));
      };
      await run(100); // warm-up: JIT, sockets, caches
      gc();
      const before = process.memoryUsage().heapUsed;
      await run(500);
      gc();
      const growth = process.memoryUsage().heapUsed - before;
      assert.ok(growth < 8 * 2 ** 20, `heap grew ${(growth / 2 ** 20).toFixed(1)} MB over 500 requests`);
      assert.equal(engine.numActive, 0);
      assert.equal(engine.stats().blocks.usedBlocks, 0);
    } finally {
      await server.close();
      engine.close();
    }
  });
});
