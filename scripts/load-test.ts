/**
 * Load test for `nanogpt-infer serve`: streams completions at several concurrency levels and
 * prints throughput and latency percentiles as a Markdown table.
 *
 *   node dist/scripts/load-test.js [--url http://127.0.0.1:8080] [--model DIR] [--backend wasm|reference]
 *        [--concurrency 1,4,16,64] [--requests N] [--max-tokens 64] [--api-key KEY] [--threads N]
 *
 * Without --url it starts `nanogpt-infer serve` as a child process on a free port (its own
 * event loop, as in production) and stops it at the end. Every request asks for exactly
 * max_tokens (ignore_eos), so levels compare like for like.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const LINES = [
  "ROMEO:\nBut, soft! what light through yonder window breaks?",
  "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?",
  "First Citizen:\nBefore we proceed any further, hear me speak.",
  "KING RICHARD III:\nNow is the winter of our discontent",
  "MERCUTIO:\nO, then, I see Queen Mab hath been with you.",
  "GLOUCESTER:\nWas ever woman in this humour woo'd?",
  "LADY ANNE:\nSet down, set down your honourable load,",
  "BUCKINGHAM:\nMy lord, I hear the citizens are mum.",
];

interface Sample {
  ttftMs: number;
  latencyMs: number;
  tokens: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function streamOne(url: string, apiKey: string | undefined, prompt: string, maxTokens: number): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0.8, stream: true, stream_options: { include_usage: true }, ignore_eos: true }),
  });
  if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffered = "";
  let ttftMs = 0;
  let tokens = 0;
  for await (const bytes of res.body) {
    buffered += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffered.indexOf("\n\n")) !== -1) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = event.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data) as { choices: { text: string }[]; usage?: { completion_tokens: number } | null };
      if (ttftMs === 0 && chunk.choices.some((c) => c.text !== "")) ttftMs = performance.now() - t0;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  return { ttftMs, latencyMs: performance.now() - t0, tokens };
}

async function level(url: string, apiKey: string | undefined, concurrency: number, requests: number, maxTokens: number): Promise<string> {
  const samples: Sample[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        samples.push(await streamOne(url, apiKey, `${LINES[i % LINES.length]}\n`, maxTokens));
      }
    }),
  );
  const wallS = (performance.now() - t0) / 1000;
  const tokens = samples.reduce((a, s) => a + s.tokens, 0);
  const ttft = samples.map((s) => s.ttftMs).sort((a, b) => a - b);
  const latency = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  // Per-stream decode speed: the tokens after the first over the time after the first.
  const perStream = samples.map((s) => ((s.tokens - 1) / (s.latencyMs - s.ttftMs)) * 1000).sort((a, b) => a - b);
  const f = (x: number, digits = 0): string => x.toFixed(digits);
  return `| ${concurrency} | ${requests} | ${f(tokens / wallS, 1)} | ${f(requests / wallS, 2)} | ${f(percentile(perStream, 50), 1)} | ${f(percentile(ttft, 50))} | ${f(percentile(ttft, 90))} | ${f(percentile(ttft, 99))} | ${f(percentile(latency, 50))} | ${f(percentile(latency, 90))} | ${f(percentile(latency, 99))} |`;
}

/** Starts the CLI's server on a free port and resolves with its URL once it is listening. */
function startChild(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json"))) dir = path.dirname(dir);
  const main = path.join(dir, "dist", "src", "cli", "main.js");
  const child = spawn(process.execPath, [main, "serve", "--port", "0", "--quiet", ...args], { stdio: ["ignore", "inherit", "pipe"] });
  return new Promise((resolve, reject) => {
    let log = "";
    child.stderr?.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /serving .* on (http:\/\/\S+)/.exec(log);
      if (m) resolve({ url: m[1], child });
    });
    child.on("exit", (code) => reject(new Error(`the server exited with code ${code}:\n${log}`)));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string" },
      model: { type: "string" },
      backend: { type: "string" },
      threads: { type: "string" },
      dtype: { type: "string" },
      concurrency: { type: "string", default: "1,4,16,64" },
      requests: { type: "string" },
      "max-tokens": { type: "string", default: "64" },
      "api-key": { type: "string" },
      "kv-memory": { type: "string" },
    },
  });
  const levels = values.concurrency.split(",").map(Number);
  const maxTokens = Number(values["max-tokens"]);
  let url = values.url;
  let child: ChildProcess | null = null;
  if (url === undefined) {
    const args = ["--max-batch", String(Math.max(...levels))];
    for (const flag of ["model", "backend", "threads", "dtype", "kv-memory"] as const) {
      const v = values[flag];
      if (v !== undefined) args.push(`--${flag}`, v);
    }
    ({ url, child } = await startChild(args));
  }
  try {
    process.stdout.write(`server ${url}, streaming completions of ${maxTokens} tokens (ignore_eos), temperature 0.8\n\n`);
    process.stdout.write("| concurrency | requests | tokens/s | requests/s | decode tok/s per stream (p50) | TTFT p50 ms | TTFT p90 ms | TTFT p99 ms | latency p50 ms | latency p90 ms | latency p99 ms |\n");
    process.stdout.write("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    await level(url, values["api-key"], 1, 2, 8); // warm-up, not reported
    for (const c of levels) {
      const requests = values.requests !== undefined ? Number(values.requests) : Math.max(8, 3 * c);
      process.stdout.write((await level(url, values["api-key"], c, requests, maxTokens)) + "\n");
    }
  } finally {
    child?.kill("SIGTERM");
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`load-test: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
