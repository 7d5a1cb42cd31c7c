import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { LLM } from "../src/engine/llm.js";
import { LLMEngine } from "../src/engine/llm-engine.js";
import type { SamplingParams } from "../src/engine/sampling-params.js";
import { startServer, type RunningServer } from "../src/server/server.js";
import { defaultModelDir, fixtureModel } from "./paths.js";

const API_KEY = "sk-test-key";

/** Token counts of a usage block (cached_tokens differs once the prefix cache has the prompt). */
const counts = (u: OpenAI.CompletionUsage | null | undefined): number[] => (u ? [u.prompt_tokens, u.completion_tokens, u.total_tokens] : []);

describe("OpenAI-compatible server (openai client, default model, reference backend)", () => {
  let llm: LLM;
  let engine: LLMEngine;
  let server: RunningServer;
  let client: OpenAI;
  let model: string;
  const solo = (prompt: string, p: Partial<SamplingParams>): string => llm.generateBatch([prompt], { ignoreEos: true, ...p })[0].text;

  before(async () => {
    llm = await LLM.load(defaultModelDir, { backend: "reference", maxBatch: 1 });
    engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 16 });
    server = await startServer({ engine, port: 0, apiKey: API_KEY });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: API_KEY, maxRetries: 0 });
    model = engine.modelName;
  });
  after(async () => {
    await server.close();
    engine.close();
    llm.close();
  });

  it("listens on loopback and lists its model", async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      [model],
    );
    assert.equal((await client.models.retrieve(model)).id, model);
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
  });

  it("completions: greedy text equals a solo static-cache run; usage counts tokens", async () => {
    const r = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 40, temperature: 0, ...{ ignore_eos: true } });
    assert.equal(r.object, "text_completion");
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].text, solo("ROMEO:", { temperature: 0, maxTokens: 40 }));
    assert.equal(r.choices[0].finish_reason, "length");
    assert.deepEqual(r.usage && [r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [6, 40, 46]);
  });

  it("completions: a prompt of token ids works like its text", async () => {
    const ids = llm.tokenize("JULIET:");
    const a = await client.completions.create({ model, prompt: ids, max_tokens: 20, temperature: 0 });
    const b = await client.completions.create({ model, prompt: "JULIET:", max_tokens: 20, temperature: 0 });
    assert.equal(a.choices[0].text, b.choices[0].text);
  });

  it("completions: streaming pieces add up to the non-streamed text, usage comes last", async () => {
    const params = { model, prompt: "KING RICHARD III:", max_tokens: 50, temperature: 0 };
    const whole = await client.completions.create(params);
    const stream = await client.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    let chunksAfterUsage = 0;
    for await (const chunk of stream) {
      if (usage) chunksAfterUsage++;
      for (const c of chunk.choices) {
        text += c.text;
        finish = c.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, whole.choices[0].text);
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.deepEqual(counts(usage), counts(whole.usage));
    assert.equal(chunksAfterUsage, 0);
  });

  it("completions: the stream ends with data: [DONE]", async () => {
    const res = await fetch(`${server.url}/v1/completions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${API_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ model, prompt: "O", max_tokens: 5, stream: true }),
    });
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const body = await res.text();
    assert.ok(body.endsWith("data: [DONE]\n\n"), body.slice(-80));
    for (const event of body.trim().split("\n\n")) assert.match(event, /^data: /);
  });

  it("stop strings cut the text before the stop and finish with reason stop", async () => {
    const full = solo("ROMEO:", { temperature: 0, maxTokens: 64 });
    const stop = "will";
    assert.ok(full.includes(stop));
    const r = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 64, temperature: 0, stop: [stop, "zzz"] });
    assert.equal(r.choices[0].text, full.slice(0, full.indexOf(stop)));
    assert.equal(r.choices[0].finish_reason, "stop");
    const stream = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 64, temperature: 0, stop, stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices.map((c) => c.text).join("");
    assert.equal(text, r.choices[0].text);
  });

  it("n > 1: choice i samples with seed + i, reproducibly, streamed or not", async () => {
    const params = { model, prompt: "JULIET:", max_tokens: 30, temperature: 1, top_p: 0.95, seed: 42, n: 3 };
    const a = await client.completions.create(params);
    const b = await client.completions.create(params);
    assert.deepEqual(
      a.choices.map((c) => c.index),
      [0, 1, 2],
    );
    assert.deepEqual(
      a.choices.map((c) => c.text),
      b.choices.map((c) => c.text),
    );
    a.choices.forEach((c, i) => assert.equal(c.text, solo("JULIET:", { temperature: 1, topP: 0.95, maxTokens: 30, seed: 42 + i, ignoreEos: false })));
    assert.equal(new Set(a.choices.map((c) => c.text)).size, 3);
    assert.equal(a.usage?.prompt_tokens, 7);
    const stream = await client.completions.create({ ...params, stream: true });
    const texts = ["", "", ""];
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.text;
    assert.deepEqual(
      texts,
      a.choices.map((c) => c.text),
    );
  });

  it("sampling extensions (top_k, min_p, repetition_penalty) are accepted and seeded", async () => {
    const extra = { top_k: 20, min_p: 0.05, repetition_penalty: 1.3 };
    const params = { model, prompt: "ROMEO:", max_tokens: 30, temperature: 0.9, seed: 5, presence_penalty: 0.5, frequency_penalty: 0.2, ...extra };
    const r = await client.completions.create(params);
    const expected = solo("ROMEO:", { maxTokens: 30, temperature: 0.9, seed: 5, topK: 20, minP: 0.05, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.2, ignoreEos: false });
    assert.equal(r.choices[0].text, expected);
  });

  it("completions logprobs: one entry per token, top alternatives, echo adds the prompt's", async () => {
    const r = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 8, temperature: 0, logprobs: 3 });
    const lp = r.choices[0].logprobs;
    assert.ok(lp);
    assert.equal(lp.tokens?.length, 8);
    assert.equal(lp.tokens?.join(""), r.choices[0].text);
    for (const [i, top] of (lp.top_logprobs ?? []).entries()) {
      const best = Math.max(...Object.values(top));
      assert.ok(Object.keys(top).length >= 3 && Object.keys(top).length <= 4);
      assert.equal(lp.token_logprobs?.[i], best, "greedy takes the most likely token");
    }
    assert.deepEqual(lp.text_offset, [0, 1, 2, 3, 4, 5, 6, 7]);
    const echo = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 8, temperature: 0, logprobs: 1, echo: true });
    const e = echo.choices[0];
    assert.equal(e.text, "ROMEO:" + r.choices[0].text);
    assert.equal(e.logprobs?.tokens?.length, 6 + 8);
    assert.equal(e.logprobs?.token_logprobs?.[0], null);
    assert.ok((e.logprobs?.token_logprobs ?? []).slice(1).every((x) => typeof x === "number" && x <= 0));
    assert.deepEqual(e.logprobs?.token_logprobs?.slice(6), lp.token_logprobs);
  });

  it("chat without a chat_template uses the documented plain-text format", async () => {
    const messages = [
      { role: "system" as const, content: "A play." },
      { role: "user" as const, content: "Speak." },
    ];
    const r = await client.chat.completions.create({ model, messages, max_tokens: 30, temperature: 0 });
    const prompt = "System: A play.\n\nUser: Speak.\n\nAssistant:";
    const full = solo(prompt, { temperature: 0, maxTokens: 30, stop: ["\nUser:"], ignoreEos: false });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.choices[0].message.role, "assistant");
    assert.equal(r.choices[0].message.content, full);
    assert.equal(r.usage?.prompt_tokens, llm.tokenize(prompt).length);
  });

  it("chat streaming: role first, content deltas, usage, reproducible with a seed", async () => {
    const params = { model, messages: [{ role: "user" as const, content: "Who goes there?" }], max_completion_tokens: 40, temperature: 0.8, seed: 9 };
    const whole = await client.chat.completions.create(params);
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let role: string | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "chat.completion.chunk");
      for (const c of chunk.choices) {
        role ??= c.delta.role;
        text += c.delta.content ?? "";
      }
      usage = chunk.usage ?? usage;
    }
    assert.equal(role, "assistant");
    assert.equal(text, whole.choices[0].message.content);
    assert.deepEqual(counts(usage), counts(whole.usage));
  });

  it("chat logprobs: per-token entries with bytes and top_logprobs", async () => {
    const r = await client.chat.completions.create({ model, messages: [{ role: "user", content: "Hi" }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0].logprobs?.content ?? [];
    assert.equal(content.length, 6);
    assert.equal(content.map((c) => c.token).join(""), r.choices[0].message.content);
    for (const c of content) {
      assert.equal(c.top_logprobs.length, 2);
      assert.equal(c.top_logprobs[0].logprob, c.logprob);
      assert.deepEqual(c.bytes, [...Buffer.from(c.token)]);
    }
  });

  it("metrics: Prometheus text with requests, tokens, queue, running, KV blocks and prefix hits", async () => {
    const res = await fetch(`${server.url}/metrics`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await res.text();
    for (const name of [
      "nanogpt_requests_total",
      "nanogpt_prompt_tokens_total",
      "nanogpt_generation_tokens_total",
      "nanogpt_queue_length",
      "nanogpt_running_sequences",
      "nanogpt_kv_blocks_used",
      "nanogpt_kv_blocks_free",
      "nanogpt_prefix_cache_hits_total",
      "nanogpt_prefix_cache_hit_rate",
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
    }
    assert.match(text, /^nanogpt_requests_total\{endpoint="\/v1\/completions",status="200"\} \d+$/m);
    assert.match(text, /^nanogpt_kv_blocks_used 0$/m);
  });
});

describe("chat with the tokenizer's own chat_template (gpt2-tiny-random, jinja)", () => {
  const template =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  let dir: string;
  let engine: LLMEngine;
  let server: RunningServer;
  let client: OpenAI;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-chat-"));
    const src = fixtureModel("gpt2-tiny-random");
    for (const f of fs.readdirSync(src)) if (f !== "tokenizer_config.json") fs.symlinkSync(path.join(src, f), path.join(dir, f));
    const config = JSON.parse(fs.readFileSync(path.join(src, "tokenizer_config.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ ...config, chat_template: template }));
    engine = await LLMEngine.load(dir, { backend: "reference", maxBatch: 4, modelName: "tiny" });
    server = await startServer({ engine, port: 0 });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  after(async () => {
    await server.close();
    engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("renders the template with @huggingface/jinja and generates from it", async () => {
    const r = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "Hello there" }], max_tokens: 10, temperature: 0 });
    const rendered = "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n";
    assert.equal(r.usage?.prompt_tokens, engine.tokenizer.encode(rendered).length);
    const c = await client.completions.create({ model: "tiny", prompt: rendered, max_tokens: 10, temperature: 0 });
    assert.equal(r.choices[0].message.content, c.choices[0].text);
  });
});
