/**
 * The engine in headless Chromium against wllama (llama.cpp in wasm), on one GGUF file, the same
 * prompt and the same threads, plus the command line's `bench` on that file for reference.
 * Rounds alternate engine → wllama → CLI (at the SIMD level the page runs), so a noisy
 * neighbour slows all columns alike; each cell is the median over the rounds.
 *
 *   npm run bench:browser [-- --model FILE.gguf] [--threads N] [--prompt-len P] [--gen G] [--rounds R] [--json]
 *
 * Without --model, the embedded model is converted to an f32 GGUF (the engine's default dtype,
 * so both run f32 matmuls) in bench/.peers/cache/. wllama is installed on demand into
 * bench/.peers (scripts/peers/install.ts). Chromium is Debian's, /usr/bin/chromium.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium, type Page } from "playwright-core";
import { startWebServer } from "../src/cli/web.js";
import { installPeers } from "../scripts/peers/install.js";
import { peersDir, repoRoot } from "../scripts/peers/paths.js";
import { median } from "../src/numeric/median.js";

const CHROMIUM = "/usr/bin/chromium";
const main = path.join(repoRoot(), "dist", "src", "cli", "main.js");
const PASSAGE =
  "ROMEO: But soft, what light through yonder window breaks? It is the east, and Juliet is the sun. Arise, fair sun, and kill the envious moon, " +
  "who is already sick and pale with grief that thou, her maid, art far more fair than she. Be not her maid, since she is envious; her vestal " +
  "livery is but sick and green, and none but fools do wear it; cast it off. It is my lady, O, it is my love! O, that she knew she were! ";

interface Speeds {
  prefill_tok_s: number;
  decode_tok_s: number;
  prompt_tokens: number;
}

function options() {
  const { values } = parseArgs({
    options: { model: { type: "string" }, threads: { type: "string" }, "prompt-len": { type: "string" }, gen: { type: "string" }, rounds: { type: "string" }, json: { type: "boolean" } },
  });
  const int = (v: string | undefined, fallback: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got ${v}`);
    return n;
  };
  return {
    model: values.model,
    threads: int(values.threads, availableParallelism()),
    promptChars: int(values["prompt-len"], 128),
    gen: int(values.gen, 128),
    rounds: int(values.rounds, 3),
    json: values.json === true,
  };
}

/** The embedded model as an f32 GGUF, written once. */
function defaultGGUF(log: (s: string) => void): string {
  const file = path.join(peersDir(), "cache", "shakespeare-byte-gpt2-f32.gguf");
  if (!fs.existsSync(file)) {
    log(`writing ${file} ...`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const r = spawnSync(process.execPath, [main, "convert", "--to", "gguf", "--dtype", "f32", file], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`convert failed: ${r.stderr}`);
  }
  return file;
}

function medians(runs: Speeds[]): Speeds {
  return { prefill_tok_s: median(runs.map((r) => r.prefill_tok_s)), decode_tok_s: median(runs.map((r) => r.decode_tok_s)), prompt_tokens: runs[0]?.prompt_tokens ?? 0 };
}

async function main_(): Promise<void> {
  const o = options();
  const log = (s: string) => process.stderr.write(s + "\n");
  const failure = installPeers(log, ["@wllama/wllama"])["@wllama/wllama"];
  if (failure !== null) throw new Error(failure);
  const gguf = path.resolve(o.model ?? defaultGGUF(log));
  const prompt = PASSAGE.repeat(Math.ceil(o.promptChars / PASSAGE.length)).slice(0, o.promptChars);
  const wllamaDir = path.join(peersDir(), "node_modules", "@wllama", "wllama", "esm");
  const server = await startWebServer({ model: gguf, port: 0, mounts: { "/wllama/": wllamaDir } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => log(`page error: ${e.message}`));
    // A blank same-origin page: the demo would load its model too.
    await page.route(`${server.url}bench`, (route) => route.fulfill({ body: "<!doctype html><title>bench</title>", contentType: "text/html", headers: { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" } }));
    await page.goto(`${server.url}bench`);
    if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error("the bench page is not cross-origin isolated");
    const modelUrl = `/model/${encodeURIComponent(path.basename(gguf))}`;
    log(`loading ${path.basename(gguf)} in both engines (${o.threads} threads) ...`);
    // The CLI runs the kernel build the page picked ("auto": relaxed SIMD where Chromium has it).
    const simd = await load(page, modelUrl, o.threads);
    const engine: Speeds[] = [];
    const wllama: Speeds[] = [];
    const cli: Speeds[] = [];
    for (let r = 0; r < o.rounds; r++) {
      engine.push(await runEngine(page, prompt, o.gen));
      wllama.push(await runWllama(page, prompt, o.gen));
      cli.push(runCli(gguf, o.threads, simd, engine[0].prompt_tokens, o.gen));
      log(`round ${r + 1}/${o.rounds}: decode engine ${engine[r].decode_tok_s.toFixed(0)}, wllama ${wllama[r].decode_tok_s.toFixed(0)}, cli ${cli[r].decode_tok_s.toFixed(0)} tok/s`);
    }
    const result = { model: path.basename(gguf), threads: o.threads, simd, gen_tokens: o.gen, rounds: o.rounds, engine: medians(engine), wllama: medians(wllama), cli: medians(cli) };
    if (o.json) {
      process.stdout.write(JSON.stringify(result) + "\n");
      return;
    }
    const row = (name: string, s: Speeds) => `${name.padEnd(22)} ${s.prefill_tok_s.toFixed(0).padStart(10)} ${s.decode_tok_s.toFixed(0).padStart(10)}`;
    process.stdout.write(
      [
        `${result.model}, ${o.threads} threads, ${simd} SIMD, prompt ${result.engine.prompt_tokens} tokens, ${o.gen} generated, median of ${o.rounds} alternating rounds`,
        `${"".padEnd(22)} ${"prefill/s".padStart(10)} ${"decode/s".padStart(10)}`,
        row("engine (Chromium)", result.engine),
        row("wllama (Chromium)", result.wllama),
        row("engine CLI (Node)", result.cli),
        `engine/wllama decode ${(result.engine.decode_tok_s / result.wllama.decode_tok_s).toFixed(2)}x, browser/CLI decode ${(result.engine.decode_tok_s / result.cli.decode_tok_s).toFixed(2)}x`,
      ].join("\n") + "\n",
    );
  } finally {
    await browser.close();
    await server.close();
  }
}

/** Loads the model into both; returns the SIMD level the engine runs. */
async function load(page: Page, modelUrl: string, threads: number): Promise<"relaxed" | "baseline"> {
  return page.evaluate(
    async ({ modelUrl, threads }) => {
      const g = globalThis as unknown as Record<string, unknown>;
      const { BrowserLLM } = (await import("/lib/browser/index.js" as string)) as typeof import("../src/browser/index.js");
      const engine = await BrowserLLM.load(modelUrl, { threads });
      g.engine = engine;
      const { Wllama } = (await import("/wllama/index.js" as string)) as { Wllama: new (paths: object, config: object) => WllamaLike };
      const w = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { suppressNativeLog: true });
      await w.loadModelFromUrl(location.origin + modelUrl, { n_threads: threads, n_ctx: 1024, n_batch: 512, useCache: false });
      g.wllama = w;
      return engine.info.simd;
    },
    { modelUrl, threads },
  );
}

interface WllamaLike {
  loadModelFromUrl(url: string, params: object): Promise<void>;
  createCompletion(params: object): Promise<{ timings?: { prompt_n: number; prompt_per_second: number; predicted_per_second: number } }>;
}

/**
 * One timed generation, after an untimed one-token one on the prompt behind another first token:
 * the engine reuses the longest cached prefix of its last call, so the same prompt again would
 * prefill a single token. The warm-up also tiers up the prefill code, as the CLI's does.
 */
function runEngine(page: Page, prompt: string, gen: number): Promise<Speeds> {
  return page.evaluate(
    async ({ prompt, gen }) => {
      const llm = (globalThis as unknown as { engine: import("../src/browser/index.js").BrowserLLM }).engine;
      await llm.generate("\n" + prompt, { maxTokens: 1, temperature: 0, ignoreEos: true });
      const s = await llm.generate(prompt, { maxTokens: gen, temperature: 0, ignoreEos: true });
      // At most a BOS the tokenizer puts first can still be shared with the warm-up's prompt.
      if (s.reusedTokens > 1) throw new Error(`the engine reused ${s.reusedTokens} cached prompt tokens: its prefill was not measured`);
      return { prefill_tok_s: s.prefillTokensPerSecond, decode_tok_s: s.decodeTokensPerSecond, prompt_tokens: s.promptTokens };
    },
    { prompt, gen },
  );
}

function runWllama(page: Page, prompt: string, gen: number): Promise<Speeds> {
  return page.evaluate(
    async ({ prompt, gen }) => {
      const w = (globalThis as unknown as { wllama: WllamaLike }).wllama;
      const r = await w.createCompletion({ prompt, max_tokens: gen, n_predict: gen, temperature: 0, ignore_eos: true, cache_prompt: false });
      if (r.timings === undefined) throw new Error("wllama returned no timings");
      return { prefill_tok_s: r.timings.prompt_per_second, decode_tok_s: r.timings.predicted_per_second, prompt_tokens: r.timings.prompt_n };
    },
    { prompt, gen },
  );
}

/** `nanogpt-infer bench` on the same file, threads and SIMD level, one timed run after one warm-up. */
function runCli(gguf: string, threads: number, simd: string, promptTokens: number, gen: number): Speeds {
  const r = spawnSync(process.execPath, [main, "bench", "--model", gguf, "--threads", String(threads), "--simd", simd, "--prompt-len", String(promptTokens), "--gen", String(gen), "--repeat", "1", "--warmup", "1", "--json"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`nanogpt-infer bench failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { prefill_tok_s: number; decode_tok_s: number };
  return { prefill_tok_s: j.prefill_tok_s, decode_tok_s: j.decode_tok_s, prompt_tokens: promptTokens };
}

main_().catch((e: unknown) => {
  process.stderr.write(`bench:browser: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
