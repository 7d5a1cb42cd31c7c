/**
 * What every peer child process shares with `nanogpt-infer bench`: its flags, its seeded prompt,
 * its warm-up, how it times a run and the JSON line it prints, so the columns measure the same thing.
 */
import { parseArgs } from "node:util";
import { Rng } from "../../src/engine/rng.js";
import { median } from "../../src/numeric/median.js";

export interface ChildArgs {
  model: string;
  threads: number;
  promptLen: number;
  gen: number;
  repeat: number;
  warmup: number;
  vocab: number;
}

/** The same keys as the engine's `bench --json`. */
export interface ChildResult {
  prefill_tok_s: number;
  decode_tok_s: number;
  ttft_ms: number;
  peak_rss_mb: number;
  load_ms: number;
  peer: string;
  threads: number;
  /** The engine's only: its decode ceiling, measured between its runs (see `bench --help`). */
  read_gb_s?: number;
  decode_ceiling_tok_s?: number;
  /** The peer's own timers, where it has them, on the same runs (tok/s). */
  own?: { prefill_tok_s: number; decode_tok_s: number };
}

/** One timed generation: the prompt's forward pass up to the first token, then gen - 1 decode steps. */
export interface Timing {
  prefillMs: number;
  decodeMs: number;
}

export function childArgs(): ChildArgs {
  const { values } = parseArgs({
    options: {
      model: { type: "string" },
      threads: { type: "string", default: "1" },
      "prompt-len": { type: "string", default: "128" },
      gen: { type: "string", default: "128" },
      repeat: { type: "string", default: "1" },
      warmup: { type: "string", default: "2" },
      vocab: { type: "string" },
    },
  });
  if (values.model === undefined || values.vocab === undefined) throw new Error("needs --model and --vocab");
  const int = (s: string, min: number) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`bad number ${s}`);
    return n;
  };
  return {
    model: values.model,
    threads: int(values.threads, 1),
    promptLen: int(values["prompt-len"], 1),
    gen: int(values.gen, 2),
    repeat: int(values.repeat, 1),
    warmup: int(values.warmup, 0),
    vocab: int(values.vocab, 1),
  };
}

/** The ids `nanogpt-infer bench` uses: a step's cost does not depend on which tokens. */
export function promptIds(promptLen: number, vocab: number): number[] {
  const rng = new Rng(1234);
  return Array.from({ length: promptLen }, () => rng.nextUint32() % vocab);
}

/** `warmup` untimed runs of the measured shape first, as the engine's bench does; then the median of `repeat`. */
export async function measure(args: ChildArgs, run: (prompt: number[], gen: number) => Promise<Timing>): Promise<Timing> {
  const prompt = promptIds(args.promptLen, args.vocab);
  for (let w = 0; w < args.warmup; w++) await run(prompt, args.gen);
  const runs: Timing[] = [];
  for (let r = 0; r < args.repeat; r++) runs.push(await run(prompt, args.gen));
  return medianTiming(runs);
}

export function medianTiming(runs: Timing[]): Timing {
  return { prefillMs: median(runs.map((r) => r.prefillMs)), decodeMs: median(runs.map((r) => r.decodeMs)) };
}

export function report(args: ChildArgs, peer: string, loadMs: number, t: Timing, own?: Timing): void {
  const round = (x: number) => Math.round(x * 100) / 100;
  const tokS = (t: Timing) => ({ prefill_tok_s: round((args.promptLen / t.prefillMs) * 1000), decode_tok_s: round(((args.gen - 1) / t.decodeMs) * 1000) });
  const result: ChildResult = {
    ...tokS(t),
    ttft_ms: round(t.prefillMs),
    peak_rss_mb: round(process.resourceUsage().maxRSS / 1024),
    load_ms: round(loadMs),
    peer,
    threads: args.threads,
    own: own === undefined ? undefined : tokS(own),
  };
  process.stdout.write(JSON.stringify(result) + "\n");
}

export function runChild(name: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    process.stderr.write(`${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
