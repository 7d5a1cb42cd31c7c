import { availableParallelism } from "node:os";
import { UserError } from "../errors.js";
import { enableRelaxedSimd, type BackendKind } from "../kernels/index.js";
import { defaultModelDir } from "../model/default-model.js";
import type { LoadOptions } from "../engine/llm.js";
import type { WeightDType } from "../model/matrix.js";
import { KV_DTYPES } from "../kernels/backend.js";

/** Options every model-loading command shares, in parseArgs form. */
export const modelOptions = {
  model: { type: "string" },
  tokenizer: { type: "string" },
  backend: { type: "string" },
  threads: { type: "string" },
  dtype: { type: "string" },
  simd: { type: "string" },
  "kv-dtype": { type: "string" },
  quiet: { type: "boolean" },
  json: { type: "boolean" },
} as const;

export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function stringFlag(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new UserError(`--${name} needs a value`);
  return v;
}

export function intFlag(values: FlagValues, name: string, min: number): number | undefined {
  const s = stringFlag(values, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^-?\d+$/.test(s.trim()) || !Number.isSafeInteger(n) || n < min) throw new UserError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(s)}`);
  return n;
}

export function numberFlag(values: FlagValues, name: string): number | undefined {
  const s = stringFlag(values, name);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (s.trim() === "" || !Number.isFinite(n)) throw new UserError(`--${name} must be a number, got ${JSON.stringify(s)}`);
  return n;
}

export function choiceFlag<T extends string>(values: FlagValues, name: string, choices: readonly T[]): T | undefined {
  const s = stringFlag(values, name);
  if (s === undefined) return undefined;
  const found = choices.find((c) => c === s);
  if (found === undefined) throw new UserError(`--${name} must be one of ${choices.join(", ")}, got ${JSON.stringify(s)}`);
  return found;
}

export const BACKENDS: readonly BackendKind[] = ["wasm", "reference"];
export const DTYPES: readonly WeightDType[] = ["f32", "f16", "q8", "q5", "q4"];

export function modelSource(values: FlagValues): string {
  return stringFlag(values, "model") ?? defaultModelDir();
}

export function loadOptions(values: FlagValues): LoadOptions {
  return {
    backend: choiceFlag(values, "backend", BACKENDS) ?? "wasm",
    threads: threadsFlag(values),
    dtype: choiceFlag(values, "dtype", DTYPES),
    simd: simdFlag(values),
    kvDtype: choiceFlag(values, "kv-dtype", KV_DTYPES) ?? "f32",
    quiet: values.quiet === true,
    tokenizer: stringFlag(values, "tokenizer"),
  };
}

export const SIMD_LEVELS = ["auto", "relaxed", "baseline"] as const;

/**
 * --simd: "auto" (default) and "relaxed" run the relaxed-SIMD kernels, turning the engine's
 * relaxed SIMD on first where it is behind a flag (Node 20): the CLI is the application, so
 * this process-wide switch is its call. "baseline" leaves the flag alone and gives the same bits
 * on every machine.
 */
export function simdFlag(values: FlagValues): (typeof SIMD_LEVELS)[number] {
  const simd = choiceFlag(values, "simd", SIMD_LEVELS) ?? "auto";
  if (simd !== "baseline" && !enableRelaxedSimd() && simd === "relaxed") {
    throw new UserError("--simd relaxed: this Node.js cannot run relaxed SIMD; use --simd baseline or auto");
  }
  return simd;
}

/**
 * More threads than the machine runs at once only adds waiting: every step joins all of them, so
 * one descheduled thread stalls the rest (1000 threads on 2 cores took over a minute for 3 tokens).
 */
export function threadsFlag(values: FlagValues): number | undefined {
  const threads = intFlag(values, "threads", 1);
  const cpus = availableParallelism();
  if (threads !== undefined && threads > cpus) throw new UserError(`--threads ${threads} is more than the ${cpus} this machine can run at once (os.availableParallelism())`);
  return threads;
}

/**
 * parseArgs refuses `--temperature -1` as ambiguous (the value looks like a flag); joining a
 * negative number onto its flag (`--temperature=-1`) lets range checks report the real problem.
 */
export function joinNegativeNumbers(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    if (argv[i].startsWith("--") && !argv[i].includes("=") && next !== undefined && /^-\d*\.?\d+(e[-+]?\d+)?$/i.test(next)) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

/** A subcommand: what runs it and its --help text. Each command's module exports one as `command`. */
export interface Command {
  readonly run: (argv: string[]) => Promise<void>;
  readonly help: string;
}
