import { parseArgs } from "node:util";
import { LLM } from "../engine/llm.js";
import { Rng } from "../engine/rng.js";
import { StaticKVCache } from "../engine/static-cache.js";
import type { KernelProfile } from "../kernels/profile.js";
import { createReadProbe, type ReadProbe } from "../kernels/read-probe.js";
import { intFlag, loadOptions, modelOptions, modelSource, type Command } from "./options.js";
import { median } from "../numeric/median.js";

export const benchHelp = `nanogpt-infer bench [--model DIR] [--threads N] [--prompt-len P] [--gen G] [--dtype f32|f16|q8|q5|q4] [--kv-dtype f32|f16] [--simd auto|relaxed|baseline] [--repeat R] [--warmup W] [--profile] [--json]
  times prefill of a P-token prompt and greedy decode of G tokens (median of R runs, after W warm-up runs of the same shape, default 2);
  prints {prefill_tok_s, decode_tok_s, ttft_ms, peak_rss_mb, load_ms}, and the decode ceiling measured between the runs:
  how fast the threads read what a decode step reads in full, the weights and the KV cache at the run's mean position
  (read_gb_s), and the tok/s that allows (decode_ceiling_tok_s);
  --profile adds a per-kernel breakdown of prefill and of decode (last run)`;

export interface BenchResult {
  prefill_tok_s: number;
  decode_tok_s: number;
  ttft_ms: number;
  peak_rss_mb: number;
  load_ms: number;
  weight_bytes_per_token: number;
  /** Keys and values a decode step reads, averaged over the run's steps. */
  kv_bytes_per_token: number;
  read_gb_s: number;
  decode_ceiling_tok_s: number;
  backend: string;
  threads: number;
  dtype: string;
  kv_dtype: string;
  prompt_len: number;
  gen: number;
  profile?: { prefill: KernelShare[]; decode: KernelShare[] };
}

interface KernelShare {
  kernel: string;
  calls: number;
  ms: number;
  share: number;
}

export async function benchCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { ...modelOptions, "prompt-len": { type: "string" }, gen: { type: "string" }, repeat: { type: "string" }, warmup: { type: "string" }, profile: { type: "boolean" } },
  });
  const promptLen = intFlag(values, "prompt-len", 1) ?? 128;
  const gen = intFlag(values, "gen", 2) ?? 128;
  const repeat = intFlag(values, "repeat", 1) ?? 3;
  const warmup = intFlag(values, "warmup", 0) ?? 2;
  const options = loadOptions(values);
  const t0 = performance.now();
  const llm = await LLM.load(modelSource(values), { ...options, profile: values.profile, contextLength: undefined });
  const loadMs = performance.now() - t0;
  let probe: ReadProbe | null = null;
  try {
    // Random ids (seeded) instead of text: the cost of a step does not depend on which tokens.
    const rng = new Rng(1234);
    const prompt = Array.from({ length: promptLen }, () => rng.nextUint32() % Math.min(llm.shape.vocabSize, llm.tokenizer.vocabSize));
    const params = { temperature: 0, maxTokens: gen, ignoreEos: true };
    // Warm-up at the measured shape. V8 tiers the JavaScript up, and two threads settle to
    // their speed only after some hundred decode steps, so the first runs are much slower.
    for (let w = 0; w < warmup; w++) llm.generateBatch([prompt], params);
    const runs: { prefillMs: number; decodeMs: number }[] = [];
    let prefillProfile: KernelProfile[] = [];
    // The ceiling is measured between the decode runs, so both see the same state of a machine
    // whose memory bandwidth drifts (shared caches, neighbours on the host). Decode steps 1..G-1
    // see P + 1 .. P + G - 1 positions, P + G/2 on average. (A run longer than the context fails
    // below, with its own error.)
    const weights = llm.model.decodeWeightArrays();
    const weightBytes = weights.reduce((sum, a) => sum + a.byteLength, 0);
    const kvBytes = StaticKVCache.bytes(llm.shape, 1, Math.min(promptLen + Math.round(gen / 2), llm.contextLength), options.kvDtype ?? "f32");
    // Copies in the probe's own memory, read by as many threads: the same bytes a step reads.
    const reader = await createReadProbe(options.backend ?? "wasm", llm.backend.threads, options.simd);
    probe = reader;
    const reads = [...weights.map((w) => reader.copy(w)), reader.filled(kvBytes)];
    const readPassMs: number[] = [];
    for (let r = 0; r < repeat; r++) {
      llm.profiler?.reset();
      const start = performance.now();
      const run = llm.start([prompt], params);
      const prefillMs = performance.now() - start;
      prefillProfile = llm.profiler?.report() ?? [];
      llm.profiler?.reset();
      const decodeStart = performance.now();
      while (run.step() !== null);
      runs.push({ prefillMs, decodeMs: performance.now() - decodeStart });
      for (let pass = 0; pass < CEILING_PASSES; pass++) {
        const readStart = performance.now();
        for (const a of reads) reader.readSum(a);
        readPassMs.push(performance.now() - readStart);
      }
    }
    const prefillMs = median(runs.map((r) => r.prefillMs));
    const decodeMs = median(runs.map((r) => r.decodeMs));
    const last = runs[runs.length - 1];
    const readMs = median(readPassMs);
    const result: BenchResult = {
      prefill_tok_s: round((promptLen / prefillMs) * 1000),
      decode_tok_s: round(((gen - 1) / decodeMs) * 1000),
      ttft_ms: round(prefillMs),
      peak_rss_mb: round(process.resourceUsage().maxRSS / 1024),
      load_ms: round(loadMs),
      weight_bytes_per_token: weightBytes,
      kv_bytes_per_token: kvBytes,
      read_gb_s: round((weightBytes + kvBytes) / readMs / 1e6),
      decode_ceiling_tok_s: round(1000 / readMs),
      backend: llm.backend.name,
      threads: llm.backend.threads,
      dtype: llm.dtype ?? "as stored",
      kv_dtype: options.kvDtype ?? "f32",
      prompt_len: promptLen,
      gen,
      profile: llm.profiler ? { prefill: shares(prefillProfile, last.prefillMs), decode: shares(llm.profiler.report(), last.decodeMs) } : undefined,
    };
    if (values.json) {
      process.stdout.write(JSON.stringify(result) + "\n");
      return;
    }
    process.stdout.write(
      `${result.backend}, ${result.dtype}, ${result.kv_dtype} KV: prefill ${result.prefill_tok_s} tok/s (ttft ${result.ttft_ms} ms), decode ${result.decode_tok_s} tok/s, peak RSS ${result.peak_rss_mb} MB, load ${result.load_ms} ms\n` +
        `decode ceiling: ${round(weightBytes / 1e6)} MB of weights + ${round(kvBytes / 1e6)} MB of KV cache per token read at ${result.read_gb_s} GB/s = ${result.decode_ceiling_tok_s} tok/s; ` +
        `decode runs at ${Math.round((result.decode_tok_s / result.decode_ceiling_tok_s) * 100)}% of it\n`,
    );
    if (result.profile) {
      writeProfile("prefill", result.profile.prefill, last.prefillMs);
      writeProfile("decode", result.profile.decode, last.decodeMs);
    }
  } finally {
    probe?.close();
    llm.close();
  }
}

function shares(profile: KernelProfile[], totalMs: number): KernelShare[] {
  return profile.map((p) => ({ ...p, ms: round(p.ms), share: Math.round((p.ms / totalMs) * 1000) / 1000 }));
}

function writeProfile(phase: string, profile: KernelShare[], totalMs: number): void {
  process.stdout.write(`${phase} profile (last run, ${round(totalMs)} ms):\n`);
  for (const p of profile) process.stdout.write(`  ${p.kernel.padEnd(11)} ${String(p.calls).padStart(7)} calls ${p.ms.toFixed(1).padStart(9)} ms ${(p.share * 100).toFixed(1).padStart(5)}%\n`);
  const kernels = profile.reduce((a, p) => a + p.ms, 0);
  process.stdout.write(`  ${"other (JS)".padEnd(11)} ${"".padStart(13)} ${(totalMs - kernels).toFixed(1).padStart(9)} ms ${((1 - kernels / totalMs) * 100).toFixed(1).padStart(5)}%\n`);
}

/** Passes over the weights after each decode run; their median is the ceiling. */
const CEILING_PASSES = 3;

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

export const command: Command = { run: benchCommand, help: benchHelp };
