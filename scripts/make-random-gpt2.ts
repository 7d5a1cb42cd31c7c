/**
 * Writes a Hugging Face GPT-2 folder with random weights (config.json, model.safetensors and the
 * real GPT-2 tokenizer files): a 124M-shaped checkpoint for benchmarks and llama.cpp checks
 * without downloading one.
 *
 *   node dist/scripts/make-random-gpt2.js OUT_DIR [--seed N] [--n-layer 12] [--n-head 12]
 *        [--n-embd 768] [--n-positions 1024] [--vocab-size 50257]
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface RandomGPT2Options {
  seed?: number;
  nLayer?: number;
  nHead?: number;
  nEmbd?: number;
  nPositions?: number;
  vocabSize?: number;
  /** Standard deviation of the weight matrices and embeddings (GPT-2's initializer_range). */
  std?: number;
}

const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"];

/** The repository root (the nearest folder up with a package.json), compiled or from sources. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("cannot find the repository root");
    dir = parent;
  }
  return dir;
}

/** mulberry32: uniform numbers in [0, 1) from a seed; tiny, and good enough for weights nobody trains or for reproducible random tests. */
export function makeUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeNormal(seed: number): () => number {
  const uniform = makeUniform(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    // Box-Muller; 1 - u keeps log() away from 0.
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

interface TensorPlan {
  name: string;
  shape: number[];
  fill: "normal" | "ones" | "zeros" | "small";
}

/** Writes the folder and returns its path. Deterministic for a given seed and shape. */
export function makeRandomGPT2(outDir: string, options: RandomGPT2Options = {}): string {
  const nLayer = options.nLayer ?? 12;
  const nHead = options.nHead ?? 12;
  const C = options.nEmbd ?? 768;
  const P = options.nPositions ?? 1024;
  const V = options.vocabSize ?? 50257;
  const std = options.std ?? 0.02;
  const normal = makeNormal(options.seed ?? 1234);
  if (C % nHead !== 0) throw new Error(`n_embd ${C} is not divisible by n_head ${nHead}`);

  // HF's GPT2LMHeadModel layout: Conv1D weights are (in, out); the head is tied to wte.
  const plan: TensorPlan[] = [
    { name: "transformer.wte.weight", shape: [V, C], fill: "normal" },
    { name: "transformer.wpe.weight", shape: [P, C], fill: "normal" },
  ];
  for (let l = 0; l < nLayer; l++) {
    const h = `transformer.h.${l}`;
    plan.push(
      { name: `${h}.ln_1.weight`, shape: [C], fill: "ones" },
      { name: `${h}.ln_1.bias`, shape: [C], fill: "zeros" },
      { name: `${h}.attn.c_attn.weight`, shape: [C, 3 * C], fill: "normal" },
      { name: `${h}.attn.c_attn.bias`, shape: [3 * C], fill: "small" },
      { name: `${h}.attn.c_proj.weight`, shape: [C, C], fill: "normal" },
      { name: `${h}.attn.c_proj.bias`, shape: [C], fill: "small" },
      { name: `${h}.ln_2.weight`, shape: [C], fill: "ones" },
      { name: `${h}.ln_2.bias`, shape: [C], fill: "zeros" },
      { name: `${h}.mlp.c_fc.weight`, shape: [C, 4 * C], fill: "normal" },
      { name: `${h}.mlp.c_fc.bias`, shape: [4 * C], fill: "small" },
      { name: `${h}.mlp.c_proj.weight`, shape: [4 * C, C], fill: "normal" },
      { name: `${h}.mlp.c_proj.bias`, shape: [C], fill: "small" },
    );
  }
  plan.push({ name: "transformer.ln_f.weight", shape: [C], fill: "ones" }, { name: "transformer.ln_f.bias", shape: [C], fill: "zeros" });

  fs.mkdirSync(outDir, { recursive: true });
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const t of plan) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  // safetensors pads the JSON header with spaces so the data starts 8-byte aligned.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const file = path.join(outDir, "model.safetensors");
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    // Tensors are written in slices so the 154 MB embedding never sits in memory twice.
    const slice = new Float32Array(1 << 20);
    for (const t of plan) {
      let left = t.shape.reduce((a, b) => a * b, 1);
      while (left > 0) {
        const n = Math.min(left, slice.length);
        for (let i = 0; i < n; i++) {
          slice[i] = t.fill === "ones" ? 1 : t.fill === "zeros" ? 0 : t.fill === "small" ? 0.1 * std * normal() : std * normal();
        }
        fs.writeSync(fd, new Uint8Array(slice.buffer, 0, n * 4));
        left -= n;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);

  const config = {
    activation_function: "gelu_new",
    architectures: ["GPT2LMHeadModel"],
    attn_pdrop: 0.0,
    bos_token_id: 50256,
    embd_pdrop: 0.0,
    eos_token_id: 50256,
    initializer_range: std,
    layer_norm_epsilon: 1e-5,
    model_type: "gpt2",
    n_ctx: P,
    n_embd: C,
    n_head: nHead,
    n_inner: null,
    n_layer: nLayer,
    n_positions: P,
    resid_pdrop: 0.0,
    scale_attn_weights: true,
    tie_word_embeddings: true,
    torch_dtype: "float32",
    vocab_size: V,
  };
  fs.writeFileSync(path.join(outDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  fs.writeFileSync(path.join(outDir, "generation_config.json"), JSON.stringify({ bos_token_id: 50256, eos_token_id: 50256 }, null, 2) + "\n");
  const tokenizerDir = path.join(repoRoot(), "test", "fixtures", "gpt2-tokenizer");
  for (const name of TOKENIZER_FILES) fs.copyFileSync(path.join(tokenizerDir, name), path.join(outDir, name));
  return outDir;
}

function parseArgs(argv: string[]): { out: string; options: RandomGPT2Options } {
  const keys: Record<string, keyof RandomGPT2Options> = {
    "--seed": "seed",
    "--n-layer": "nLayer",
    "--n-head": "nHead",
    "--n-embd": "nEmbd",
    "--n-positions": "nPositions",
    "--vocab-size": "vocabSize",
    "--std": "std",
  };
  const options: RandomGPT2Options = {};
  let out: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const key = keys[argv[i]];
    if (key !== undefined) {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value)) throw new Error(`${argv[i - 1]} needs a number`);
      options[key] = value;
    } else if (out === null && !argv[i].startsWith("--")) {
      out = argv[i];
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (out === null) throw new Error("usage: make-random-gpt2 OUT_DIR [--seed N] [--n-layer N] [--n-head N] [--n-embd N] [--n-positions N] [--vocab-size N]");
  return { out, options };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { out, options } = parseArgs(process.argv.slice(2));
    const t0 = performance.now();
    makeRandomGPT2(out, options);
    console.log(`wrote ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`make-random-gpt2: ${(e as Error).message}`);
    process.exit(1);
  }
}
