/**
 * Writes test/fixtures/gguf-mix/*.txt: the type llama.cpp's own quantizer gives every tensor of
 * a few real model shapes under Q4_K_M and Q5_K_M, so test/gguf-mix.test.ts can hold
 * src/io/gguf-mix.ts to it. mix-types.cpp asks libllama (node-llama-cpp's prebuilt linux-x64
 * build in bench/.peers) through llama_quant_compute_types, the entry point llama.cpp's
 * test-quant-type-selection uses: the same llama_tensor_get_type as llama-quantize, over a model
 * built from the shapes (llama_quant_model_from_metadata), no weights needed.
 *
 *   git clone bench/.peers/node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llama.cpp
 *   npm run build && node dist/scripts/quant-goldens/make-mix-goldens.js [/tmp/llama.cpp]
 *
 * Each file: a header `arch n_embd n_ff n_layer n_head n_head_kv head_dim vocab tied`, then
 * `name ne0 ne1 q4_k_m-type q5_k_m-type` per tensor (ne1 0 for a vector).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { peersDir, repoRoot } from "../peers/paths.js";

interface Shape {
  readonly file: string;
  readonly arch: "llama" | "qwen2" | "qwen3" | "gpt2";
  readonly embd: number;
  readonly ff: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocab: number;
  readonly tied: boolean;
}

const SHAPES: readonly Shape[] = [
  { file: "smollm2-135m", arch: "llama", embd: 576, ff: 1536, layers: 30, heads: 9, kvHeads: 3, headDim: 64, vocab: 49152, tied: true },
  { file: "qwen2.5-0.5b", arch: "qwen2", embd: 896, ff: 4864, layers: 24, heads: 14, kvHeads: 2, headDim: 64, vocab: 151936, tied: true },
  { file: "qwen3-0.6b", arch: "qwen3", embd: 1024, ff: 3072, layers: 28, heads: 16, kvHeads: 8, headDim: 128, vocab: 151936, tied: true },
  { file: "llama-3.1-8b", arch: "llama", embd: 4096, ff: 14336, layers: 32, heads: 32, kvHeads: 8, headDim: 128, vocab: 128256, tied: false },
  { file: "llama-70b", arch: "llama", embd: 8192, ff: 28672, layers: 80, heads: 64, kvHeads: 8, headDim: 128, vocab: 128256, tied: false },
  { file: "gpt2-124m", arch: "gpt2", embd: 768, ff: 3072, layers: 12, heads: 12, kvHeads: 12, headDim: 64, vocab: 50257, tied: true },
];

/** The tensors convert writes for a shape, as [name, ne0, ne1] (ne1 0 for vectors). */
function tensors(s: Shape): [string, number, number][] {
  const t: [string, number, number][] = [["token_embd.weight", s.embd, s.vocab]];
  if (s.arch === "gpt2") t.push(["position_embd.weight", s.embd, 1024]);
  for (let l = 0; l < s.layers; l++) {
    const p = `blk.${l}`;
    t.push([`${p}.attn_norm.weight`, s.embd, 0]);
    if (s.arch === "gpt2") t.push([`${p}.attn_qkv.weight`, s.embd, 3 * s.embd]);
    else t.push([`${p}.attn_q.weight`, s.embd, s.heads * s.headDim], [`${p}.attn_k.weight`, s.embd, s.kvHeads * s.headDim], [`${p}.attn_v.weight`, s.embd, s.kvHeads * s.headDim]);
    t.push([`${p}.attn_output.weight`, s.heads * s.headDim, s.embd], [`${p}.ffn_norm.weight`, s.embd, 0]);
    if (s.arch !== "gpt2") t.push([`${p}.ffn_gate.weight`, s.embd, s.ff]);
    t.push([`${p}.ffn_up.weight`, s.embd, s.ff], [`${p}.ffn_down.weight`, s.ff, s.embd]);
  }
  t.push(["output_norm.weight", s.embd, 0]);
  if (!s.tied) t.push(["output.weight", s.embd, s.vocab]);
  return t;
}

function main(): void {
  const llamaCpp = process.argv[2] ?? "/tmp/llama.cpp";
  const bins = path.join(peersDir(), "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64");
  const libllama = fs.readdirSync(bins).find((f) => /^libllama\..*\.so$/.test(f) || f === "libllama.so");
  const libggml = fs.readdirSync(bins).find((f) => /^libggml\..*\.so$/.test(f) || f === "libggml.so");
  if (libllama === undefined || libggml === undefined) throw new Error(`no libllama/libggml in ${bins}: run npm run check:llama-cpp once to install node-llama-cpp`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mix-goldens-"));
  const exe = path.join(tmp, "mix-types");
  const here = path.join(repoRoot(), "scripts", "quant-goldens");
  execFileSync("g++", ["-std=c++17", "-O1", `-I${llamaCpp}/include`, `-I${llamaCpp}/ggml/include`, `-I${llamaCpp}/src`, path.join(here, "mix-types.cpp"), "-o", exe,
    path.join(bins, libllama), path.join(bins, "libggml-base.so"), path.join(bins, libggml), `-Wl,-rpath,${bins}`], { stdio: "inherit" });
  const out = path.join(repoRoot(), "test", "fixtures", "gguf-mix");
  fs.mkdirSync(out, { recursive: true });
  for (const s of SHAPES) {
    const list = tensors(s);
    const input = [`${s.arch} ${s.embd} ${s.ff} ${s.layers} ${s.heads} ${s.kvHeads} ${s.headDim}`, ...list.map(([n, a, b]) => `${n} ${a} ${b}`)].join("\n") + "\n";
    const lines = execFileSync(exe, ["q4_k_m", "q5_k_m"], { input, stdio: ["pipe", "pipe", "ignore"] }).toString().trim().split("\n");
    const chosen = new Map<string, string[]>();
    for (const line of lines) {
      const [mix, name, type] = line.split(" ");
      // Tensors llama.cpp does not quantize keep their type: the F32 convert writes them in.
      const types = mix === "-" ? [type, type] : [...(chosen.get(name) ?? []), type.toUpperCase()];
      chosen.set(name, types);
    }
    const body = list.map(([n, a, b]) => {
      const t = chosen.get(n);
      if (t === undefined || t.length !== 2) throw new Error(`${s.file}: no type for ${n}`);
      return `${n} ${a} ${b} ${t[0]} ${t[1]}`;
    });
    const header = `${s.arch} ${s.embd} ${s.ff} ${s.layers} ${s.heads} ${s.kvHeads} ${s.headDim} ${s.vocab} ${s.tied}`;
    fs.writeFileSync(path.join(out, `${s.file}.txt`), [header, ...body].join("\n") + "\n");
    console.log(`${s.file}: ${list.length} tensors`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

main();
