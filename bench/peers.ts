/**
 * This engine side by side with onnxruntime and llama.cpp on the same weights, threads and prompt,
 * in one run: `npm run bench:peers -- [--rounds 3] [--threads 1,2] [--repeat 1] [--warmup 2] [--quick] [--quiet-wait 20] [--models gpt2,smollm2] [--weights q4,q8]`.
 * Every peer runs as its users run it: its default settings (llama.cpp's F16 KV cache included).
 * Each measurement is its own child process, so peak RSS and thread pools never mix; the order
 * alternates engine, onnxruntime, llama.cpp, engine, ... for every configuration in every round,
 * so a noisy neighbour slows all columns alike, and each cell is the median over the rounds.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { ChildResult } from "./peers-runner/child.js";
import { installPeers, PEER_VERSIONS } from "../scripts/peers/install.js";
import { repoRoot } from "../scripts/peers/paths.js";
import { cacheDir, cliPath, gguf, onnxModel, randomGPT2, randomSmolLM2, type Prepared } from "./peers-runner/setup.js";
import { waitForQuiet } from "./peers-runner/quiet.js";
import { formatCeilings, formatOwnTimers, formatTable, PEERS, type Peer, type Row } from "./peers-runner/table.js";

interface Options {
  rounds: number;
  threads: number[];
  repeat: number;
  warmup: number;
  promptLen: number;
  gen: number;
  /** Seconds to wait at most for an idle machine before each measurement (0: only look). */
  quietWait: number;
  /** Only the rows whose model name contains one of these (case-insensitive); all when empty. */
  models: string[];
  /** Only the rows whose weights (F32, F16, q8 / Q8_0, q4 / Q4_0, Q4_K_M) contain one of these; all when empty. */
  weights: string[];
}

/** A measurement starts once less than this share of all cores is busy (or the wait runs out). */
const QUIET = 0.25;

/** How to run one peer for one row: a child's arguments, or why it cannot run. */
type Command = { args: string[] } | { error: string };

/** One row of the table and its commands (a missing peer is not part of the row). */
interface Config {
  row: Row;
  commands: Partial<Record<Peer, Command>>;
}

const log = (s: string) => process.stderr.write(`${s}\n`);

function options(): Options {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string" },
      threads: { type: "string", default: "1,2" },
      repeat: { type: "string", default: "1" },
      warmup: { type: "string", default: "2" },
      "prompt-len": { type: "string" },
      gen: { type: "string" },
      quick: { type: "boolean", default: false },
      "quiet-wait": { type: "string", default: "20" },
      models: { type: "string", default: "" },
      weights: { type: "string", default: "" },
    },
  });
  const int = (s: string, name: string, min = 1) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}, got ${s}`);
    return n;
  };
  // --quick: a smoke run of the whole pipeline, not a measurement.
  const quick = values.quick;
  return {
    rounds: int(values.rounds ?? (quick ? "1" : "3"), "rounds"),
    threads: values.threads.split(",").map((t) => int(t, "threads")),
    repeat: int(values.repeat, "repeat"),
    warmup: int(values.warmup, "warmup", 0),
    promptLen: int(values["prompt-len"] ?? (quick ? "16" : "128"), "prompt-len"),
    gen: int(values.gen ?? (quick ? "16" : "128"), "gen"),
    quietWait: int(values["quiet-wait"], "quiet-wait", 0),
    models: values.models.split(",").map((m) => m.trim().toLowerCase()).filter((m) => m !== ""),
    weights: values.weights.split(",").map((m) => m.trim().toLowerCase()).filter((m) => m !== ""),
  };
}

function vocabOf(modelDir: string): number {
  const config: { vocab_size: number } = JSON.parse(fs.readFileSync(path.join(modelDir, "config.json"), "utf8"));
  return config.vocab_size;
}

/** Every row of the table, with the inputs each peer needs made (or the reason they could not be). */
async function configs(opts: Options): Promise<Config[]> {
  const installed = installPeers(log);
  const random = await randomGPT2(log);
  const shakespeare = path.join(repoRoot(), "models", "shakespeare-byte-gpt2");
  const runner = (file: string) => path.join(repoRoot(), "dist", "bench", "peers-runner", file);
  const needs = async (pkg: keyof typeof PEER_VERSIONS, prepared: () => Promise<Prepared>): Promise<Prepared> => {
    const problem = installed[pkg];
    return problem === null ? prepared() : { ok: false, reason: problem };
  };
  const common = (threads: number) => ["--threads", String(threads), "--prompt-len", String(opts.promptLen), "--gen", String(opts.gen), "--repeat", String(opts.repeat), "--warmup", String(opts.warmup)];
  const engine = (model: string, dtype: "f32" | "f16" | "q8" | "q4", t: number): Command => ({
    args: [cliPath(), "bench", "--model", model, "--dtype", dtype, "--json", ...common(t)],
  });
  /**
   * The engine on a GGUF file the peers also read (Q4_0, Q4_K: the same blocks on both sides);
   * null: without --dtype, each matrix as the file stores it.
   */
  const engineOn = (p: Prepared, dtype: "q8" | "q4" | null, t: number): Command =>
    !p.ok ? { error: p.reason } : dtype === null ? { args: [cliPath(), "bench", "--model", p.path, "--json", ...common(t)] } : engine(p.path, dtype, t);
  const peer = (file: string, p: Prepared, t: number, vocab: number): Command =>
    p.ok ? { args: [runner(file), "--model", p.path, "--vocab", String(vocab), ...common(t)] } : { error: p.reason };

  const onnx124 = await needs("onnxruntime-node", () => onnxModel("gpt2-124m", random, log));
  const onnxShakespeare = await needs("onnxruntime-node", () => onnxModel("shakespeare-byte-gpt2", shakespeare, log));
  const ggufF32 = await needs("node-llama-cpp", () => gguf(random, "f32", log));
  const ggufF16 = await needs("node-llama-cpp", () => gguf(random, "f16", log));
  const ggufQ8 = await needs("node-llama-cpp", () => gguf(random, "q8_0", log));
  const ggufQ4 = await needs("node-llama-cpp", () => gguf(random, "q4_0", log));
  // llama-quantize's Q4_K_M mix (convert --dtype q4_k_m): Q4_K, Q6_K for the head and some attn_v
  // and ffn_down; rows not whole 256-blocks fall back (Q5_0, Q8_0), which for SmolLM2's 576-wide
  // rows leaves only ffn_down in K-quants.
  const ggufQ4K = await needs("node-llama-cpp", () => gguf(random, "q4_k_m", log));
  const smol = await randomSmolLM2(log);
  const smolF32 = await needs("node-llama-cpp", () => gguf(smol, "f32", log));
  const smolQ8 = await needs("node-llama-cpp", () => gguf(smol, "q8_0", log));
  const smolQ4 = await needs("node-llama-cpp", () => gguf(smol, "q4_0", log));
  const smolQ4K = await needs("node-llama-cpp", () => gguf(smol, "q4_k_m", log));
  const vSmol = vocabOf(smol);
  const v124 = vocabOf(random);
  const vShakespeare = vocabOf(shakespeare);
  const out: Config[] = [];
  for (const t of opts.threads) {
    const row = (model: string, weights: string): Row => ({ model, weights, threads: t, cells: {} });
    out.push(
      {
        row: row("GPT-2-124M shapes (random)", "F32"),
        commands: { engine: engine(random, "f32", t), onnxruntime: peer("onnx.js", onnx124, t, v124), "llama.cpp": peer("llama-cpp.js", ggufF32, t, v124) },
      },
      { row: row("GPT-2-124M shapes (random)", "F16"), commands: { engine: engine(random, "f16", t), "llama.cpp": peer("llama-cpp.js", ggufF16, t, v124) } },
      { row: row("GPT-2-124M shapes (random)", "q8 / Q8_0"), commands: { engine: engine(random, "q8", t), "llama.cpp": peer("llama-cpp.js", ggufQ8, t, v124) } },
      { row: row("GPT-2-124M shapes (random)", "Q4_0 file widened to q8"), commands: { engine: engineOn(ggufQ4, "q8", t) } },
      { row: row("GPT-2-124M shapes (random)", "q4 / Q4_0 (one file)"), commands: { engine: engineOn(ggufQ4, "q4", t), "llama.cpp": peer("llama-cpp.js", ggufQ4, t, v124) } },
      { row: row("GPT-2-124M shapes (random)", "Q4_K_M file as stored (one file)"), commands: { engine: engineOn(ggufQ4K, null, t), "llama.cpp": peer("llama-cpp.js", ggufQ4K, t, v124) } },
      { row: row("shakespeare-byte-gpt2", "F32"), commands: { engine: engine(shakespeare, "f32", t), onnxruntime: peer("onnx.js", onnxShakespeare, t, vShakespeare) } },
      { row: row("SmolLM2-135M shapes (random)", "F32"), commands: { engine: engine(smol, "f32", t), "llama.cpp": peer("llama-cpp.js", smolF32, t, vSmol) } },
      { row: row("SmolLM2-135M shapes (random)", "q8 / Q8_0"), commands: { engine: engine(smol, "q8", t), "llama.cpp": peer("llama-cpp.js", smolQ8, t, vSmol) } },
      { row: row("SmolLM2-135M shapes (random)", "Q4_0 file widened to q8"), commands: { engine: engineOn(smolQ4, "q8", t) } },
      { row: row("SmolLM2-135M shapes (random)", "q4 / Q4_0 (one file)"), commands: { engine: engineOn(smolQ4, "q4", t), "llama.cpp": peer("llama-cpp.js", smolQ4, t, vSmol) } },
      { row: row("SmolLM2-135M shapes (random)", "Q4_K_M file as stored (one file)"), commands: { engine: engineOn(smolQ4K, null, t), "llama.cpp": peer("llama-cpp.js", smolQ4K, t, vSmol) } },
    );
  }
  const wanted = (names: string[], value: string) => names.length === 0 || names.some((m) => value.toLowerCase().includes(m));
  return out.filter((c) => wanted(opts.models, c.row.model) && wanted(opts.weights, c.row.weights));
}

/** Runs one child; its result is the last JSON line it prints. */
function runOne(args: string[]): ChildResult | string {
  const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 20 * 60_000, maxBuffer: 64 << 20 });
  const last = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .pop();
  if (r.status === 0 && last !== undefined) {
    const result: ChildResult = JSON.parse(last);
    return result;
  }
  // The last line: a failing child's own message comes after any warnings.
  const why = r.error?.message ?? r.stderr.split("\n").filter((l) => l.trim() !== "").pop() ?? `exit status ${r.status ?? r.signal}`;
  return why.replace(/^nanogpt-infer: /, "").slice(0, 120);
}

async function main(): Promise<void> {
  const opts = options();
  const started = new Date();
  const loadStart = os.loadavg();
  const all = await configs(opts);
  const resultsFile = path.join(cacheDir(), `results-${started.toISOString().replace(/[:.]/g, "-")}.jsonl`);
  for (const c of all) for (const peer of PEERS) if (c.commands[peer] !== undefined) c.row.cells[peer] = { results: [] };
  let measured = 0;
  let busyStarts = 0;

  for (let round = 1; round <= opts.rounds; round++) {
    for (const { row, commands } of all) {
      for (const peer of PEERS) {
        const command = commands[peer];
        const cell = row.cells[peer];
        if (command === undefined || cell === undefined) continue;
        const label = `[round ${round}/${opts.rounds}] ${row.model}, ${row.weights}, ${row.threads} thread(s), ${peer}`;
        if ("error" in command) {
          cell.error = command.error;
          continue;
        }
        const busy = await waitForQuiet(QUIET, opts.quietWait * 1000);
        if (busy !== null && busy >= QUIET) busyStarts++;
        measured++;
        const r = runOne(command.args);
        if (typeof r === "string") {
          cell.error = r;
          log(`${label}: failed: ${r}`);
          continue;
        }
        cell.results.push(r);
        fs.appendFileSync(resultsFile, JSON.stringify({ round, model: row.model, weights: row.weights, ...r, peer, busy_before: busy }) + "\n");
        log(`${label}: prefill ${r.prefill_tok_s} tok/s, decode ${r.decode_tok_s} tok/s, peak RSS ${r.peak_rss_mb} MB`);
      }
    }
  }

  const loadEnd = os.loadavg();
  const minutes = ((Date.now() - started.getTime()) / 60_000).toFixed(1);
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const out = [
    `nanogpt-infer vs peers: prompt ${opts.promptLen}, generate ${opts.gen} (greedy), batch 1; median of ${opts.rounds} round(s) × ${opts.repeat} run(s) after ${opts.warmup} warm-up run(s), ±: half the min-max range`,
    `${cpu}, ${os.availableParallelism()} cores, Node ${process.version}; onnxruntime-node ${PEER_VERSIONS["onnxruntime-node"]}, node-llama-cpp ${PEER_VERSIONS["node-llama-cpp"]} (CPU); ${minutes} min`,
    `load average at start ${loadStart.map((x) => x.toFixed(2)).join(" ")}, at end ${loadEnd.map((x) => x.toFixed(2)).join(" ")}; ` +
      `${busyStarts} of ${measured} measurements started while others kept over ${QUIET * 100}% of the cores busy (after waiting up to ${opts.quietWait} s): other work on this machine slows every column`,
    "",
    formatTable(all.map((c) => c.row)),
    "",
    "ratios are engine ÷ peer on medians: above 1 the engine is faster (tok/s) or, for peak RSS, uses more memory.",
    "onnxruntime's graph computes logits for every prompt position; the engine and llama.cpp only for the last. KV caches: F32 in the engine and onnxruntime, llama.cpp's default (F16).",
    formatCeilings(all.map((c) => c.row)),
    formatOwnTimers(all.map((c) => c.row)),
    `raw results: ${path.relative(repoRoot(), resultsFile)}`,
  ];
  process.stdout.write(out.join("\n") + "\n");
}

main().catch((e: unknown) => {
  log(`bench:peers: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
