/**
 * Everything the peer benchmark needs before it times anything, made once and cached under
 * bench/.peers/: the pinned peers (installed there, never in the project's dependencies), a
 * random GPT-2-124M checkpoint, its GGUFs from `nanogpt-infer convert`, and ONNX weight files
 * assembled from the same checkpoints.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { makeRandomGPT2 } from "../../scripts/make-random-gpt2.js";
import { makeRandomLlama } from "../../scripts/make-random-llama.js";
import { peersDir, repoRoot } from "../../scripts/peers/paths.js";

/** A prepared input, or why it could not be made (shown in the table instead of a number). */
export type Prepared = { ok: true; path: string } | { ok: false; reason: string };

export function cacheDir(): string {
  return path.join(peersDir(), "cache");
}

export function cliPath(): string {
  return path.join(repoRoot(), "dist", "src", "cli", "main.js");
}

/** True when `out` exists and is newer than every input, so a changed input or converter rebuilds it. */
function fresh(out: string, inputs: string[]): boolean {
  if (!fs.existsSync(out)) return false;
  const t = fs.statSync(out).mtimeMs;
  return inputs.every((i) => !fs.existsSync(i) || fs.statSync(i).mtimeMs <= t);
}

/**
 * Makes `out` through a temporary sibling renamed at the end, so an interrupted or failed run
 * leaves no half file behind; `make` returns null or what went wrong.
 */
async function makeAtomically(out: string, make: (tmp: string) => Promise<string | null>): Promise<Prepared> {
  const tmp = `${out}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const error = await make(tmp);
  fs.rmSync(out, { recursive: true, force: true });
  if (error !== null) {
    fs.rmSync(tmp, { recursive: true, force: true });
    return { ok: false, reason: error };
  }
  fs.renameSync(tmp, out);
  return { ok: true, path: out };
}

export async function randomGPT2(log: (s: string) => void): Promise<string> {
  const dir = path.join(cacheDir(), "random-gpt2-124m");
  if (!fs.existsSync(path.join(dir, "model.safetensors"))) {
    log(`writing a random GPT-2-124M-shaped checkpoint to ${dir} ...`);
    await makeAtomically(dir, async (tmp) => {
      makeRandomGPT2(tmp);
      return null;
    });
  }
  return dir;
}

function firstError(r: { status: number | null; stderr: string; error?: Error }): string {
  if (r.error) return r.error.message;
  const line = r.stderr.split("\n").find((l) => l.trim() !== "");
  return line ?? `exit status ${r.status}`;
}

/** A random checkpoint of SmolLM2-135M's shapes (Llama family, GQA 9/3, tied, vocab 49152). */
export async function randomSmolLM2(log: (s: string) => void): Promise<string> {
  const dir = path.join(cacheDir(), "random-smollm2-135m");
  if (!fs.existsSync(path.join(dir, "model.safetensors"))) {
    log(`writing a random SmolLM2-135M-shaped checkpoint to ${dir} ...`);
    await makeAtomically(dir, async (tmp) => {
      makeRandomLlama(tmp, "smollm2");
      return null;
    });
  }
  return dir;
}

/** A GGUF of `modelDir` written by the engine's `nanogpt-infer convert --to gguf`. */
export async function gguf(modelDir: string, dtype: "f32" | "f16" | "q8_0" | "q4_0" | "q4_k_m", log: (s: string) => void): Promise<Prepared> {
  const out = path.join(cacheDir(), `${path.basename(modelDir)}-${dtype}.gguf`);
  // Sources, not dist/: every build rewrites dist/ and would void the cache.
  const io = path.join(repoRoot(), "src", "io");
  const families = path.join(repoRoot(), "src", "model", "families");
  const exporters = fs.readdirSync(families).map((f) => path.join(families, f, "export-gguf.ts"));
  const converter = [path.join(repoRoot(), "src", "cli", "convert.ts"), ...exporters, ...fs.readdirSync(io).filter((f) => f.startsWith("gguf")).map((f) => path.join(io, f))];
  if (fresh(out, [path.join(modelDir, "model.safetensors"), ...converter])) return { ok: true, path: out };
  log(`converting ${modelDir} to ${out} ...`);
  return makeAtomically(out, async (tmp) => {
    // A child process: conversion holds a whole model in memory, and Linux hands a parent's peak
    // RSS down to every child it spawns later, which would inflate the peak RSS column.
    const r = spawnSync(process.execPath, [cliPath(), "convert", "--model", modelDir, "--to", "gguf", "--dtype", dtype, "--quiet", tmp], { encoding: "utf8" });
    return r.status === 0 ? null : `convert failed: ${firstError(r)}`;
  });
}

/** model.onnx + model.onnx.data for `graph` (a folder of bench/onnx/), filled from `modelDir`'s weights. */
export async function onnxModel(graph: string, modelDir: string, log: (s: string) => void): Promise<Prepared> {
  const graphDir = path.join(repoRoot(), "bench", "onnx", graph);
  const out = path.join(cacheDir(), `onnx-${graph}`);
  const inputs = [path.join(graphDir, "model.onnx"), path.join(graphDir, "manifest.json"), path.join(modelDir, "model.safetensors")];
  if (fresh(path.join(out, "model.onnx.data"), inputs)) return { ok: true, path: out };
  log(`assembling ${out} from ${modelDir} ...`);
  return makeAtomically(out, async (tmp) => {
    const script = path.join(repoRoot(), "bench", "onnx", "onnx-assemble.mjs");
    const r = spawnSync(process.execPath, [script, graphDir, modelDir, tmp], { encoding: "utf8" });
    return r.status === 0 ? null : `onnx-assemble failed: ${firstError(r)}`;
  });
}
