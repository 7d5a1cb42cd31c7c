import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LLM } from "../src/engine/llm.js";
import { UserError } from "../src/errors.js";
import { readGGUF } from "../src/io/gguf-read.js";
import { readSafetensorsHeader } from "../src/io/safetensors.js";
import { assertUserError as assertOneLineUserError } from "./helpers.js";
import { fixtureModel, fixtures, repoRoot } from "./paths.js";
import type { GPT2FixtureModel } from "../scripts/fixture-models.js";

const main = path.join(repoRoot, "dist", "src", "cli", "main.js");

interface Run {
  status: number | null;
  stderr: string;
  ms: number;
}

function runCli(args: string[], timeoutMs = 20000): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Exit 1, one line on stderr matching `pattern`, within a few seconds. */
function assertUserError(r: Run, pattern: RegExp): void {
  assertOneLineUserError(r, pattern);
  assert.ok(r.ms < 5000, `${r.ms} ms`);
}

let tmp: string;
/** A copy of a fixture folder, to break. */
function copyOf(fixture: GPT2FixtureModel | "llama-tiny-random", name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(fixture === "llama-tiny-random" ? path.join(fixtures, fixture) : fixtureModel(fixture), dir, { recursive: true });
  return dir;
}
function editConfig(dir: string, edit: Record<string, unknown>): void {
  const file = path.join(dir, "config.json");
  fs.writeFileSync(file, JSON.stringify({ ...(JSON.parse(fs.readFileSync(file, "utf8")) as object), ...edit }));
}
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hardening-loaders-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("paths that are not regular files", () => {
  it("a FIFO as model.safetensors: exit 1 naming it instead of hanging", async () => {
    const dir = copyOf("gpt2-tiny-random", "fifo-st");
    fs.rmSync(path.join(dir, "model.safetensors"));
    execFileSync("mkfifo", [path.join(dir, "model.safetensors")]);
    assertUserError(await runCli(["generate", "hi", "--model", dir]), new RegExp(`^nanogpt-infer: ${esc(dir)}/model\\.safetensors: not a regular file \\(a FIFO\\)$`, "m"));
  });

  it("a directory as model.safetensors: the same, not an internal EISDIR", async () => {
    const dir = copyOf("gpt2-tiny-random", "dir-st");
    fs.rmSync(path.join(dir, "model.safetensors"));
    fs.mkdirSync(path.join(dir, "model.safetensors"));
    assertUserError(await runCli(["generate", "hi", "--model", dir]), /model\.safetensors: not a regular file \(a directory\)$/m);
  });

  it("a FIFO as tokenizer.json", async () => {
    const dir = copyOf("gpt2-tiny-random", "fifo-tok");
    fs.rmSync(path.join(dir, "tokenizer.json"));
    execFileSync("mkfifo", [path.join(dir, "tokenizer.json")]);
    assertUserError(await runCli(["generate", "hi", "--model", dir]), /tokenizer\.json: not a regular file \(a FIFO\)$/m);
  });

  it("a FIFO named .gguf and /dev/zero as --model", async () => {
    const fifo = path.join(tmp, "model.gguf");
    execFileSync("mkfifo", [fifo]);
    assertUserError(await runCli(["generate", "hi", "--model", fifo]), new RegExp(`^nanogpt-infer: --model ${esc(fifo)}: not a regular file or a folder \\(a FIFO\\)$`, "m"));
    assertUserError(await runCli(["info", "--model", "/dev/zero"]), /^nanogpt-infer: --model \/dev\/zero: not a regular file or a folder \(a character device\)$/m);
    // The readers check too, for callers that do not come through --model.
    assert.throws(() => readGGUF(fifo), (e: unknown) => e instanceof UserError && /not a regular file \(a FIFO\)/.test(e.message));
    assert.throws(() => readSafetensorsHeader(tmp), (e: unknown) => e instanceof UserError && /not a regular file \(a directory\)/.test(e.message));
  });
});

describe("NaN or Inf in the weights", () => {
  /** Writes `value` over element `index` of tensor `suffix` (an F32 or F16 tensor). */
  function poison(dir: string, suffix: string, index: number, value: number): void {
    const file = path.join(dir, "model.safetensors");
    const t = readSafetensorsHeader(file).find((x) => x.name.endsWith(suffix));
    assert.ok(t !== undefined, suffix);
    const fd = fs.openSync(file, "r+");
    const buf = Buffer.alloc(t.dtype === "F32" ? 4 : 2);
    if (t.dtype === "F32") buf.writeFloatLE(value, 0);
    else buf.writeUInt16LE(Number.isNaN(value) ? 0x7e00 : value > 0 ? 0x7c00 : 0xfc00, 0);
    fs.writeSync(fd, buf, 0, buf.length, t.byteOffset + index * buf.length);
    fs.closeSync(fd);
  }

  it("a NaN in an f32 checkpoint: LLM.load and the CLI name the tensor and element", async () => {
    const dir = copyOf("gpt2-tiny-random", "nan");
    poison(dir, "h.1.mlp.c_fc.weight", 77, NaN);
    for (const backend of ["wasm", "reference"] as const) {
      await assert.rejects(LLM.load(dir, { backend }), (e: unknown) => e instanceof UserError && /tensor transformer\.h\.1\.mlp\.c_fc\.weight holds NaN at element 77/.test(e.message));
    }
    assertUserError(await runCli(["generate", "hi", "--model", dir, "--dtype", "q8"]), /^nanogpt-infer: model\.safetensors: tensor transformer\.h\.1\.mlp\.c_fc\.weight holds NaN at element 77 \(a corrupt or diverged checkpoint\)$/m);
  });

  it("an Inf in the embedding of an f16 checkpoint", async () => {
    const dir = copyOf("gpt2-tiny-random-f16", "inf");
    poison(dir, "wte.weight", 5000, Infinity);
    assertUserError(await runCli(["generate", "hi", "--model", dir, "--backend", "reference"]), /^nanogpt-infer: model\.safetensors: tensor transformer\.wte\.weight holds Infinity at element 5000 /m);
  });

  it("a -Inf in a GGUF file", async () => {
    const file = path.join(tmp, "inf.gguf");
    const r = await runCli(["convert", "--model", fixtureModel("gpt2-tiny-random"), "--to", "gguf", "--dtype", "f32", file]);
    assert.equal(r.status, 0, r.stderr);
    const t = readGGUF(file).tensors.find((x) => x.name === "blk.0.ffn_down.weight");
    assert.ok(t !== undefined);
    const fd = fs.openSync(file, "r+");
    const buf = Buffer.alloc(4);
    buf.writeFloatLE(-Infinity, 0);
    fs.writeSync(fd, buf, 0, 4, t.byteOffset + 4 * 300);
    fs.closeSync(fd);
    for (const dtype of ["f32", "q8"]) {
      assertUserError(await runCli(["generate", "hi", "--model", file, "--dtype", dtype]), new RegExp(`^nanogpt-infer: ${esc(file)}: tensor blk\\.0\\.ffn_down\\.weight holds -Infinity at element 300 `, "m"));
    }
  });
});

describe("sizes known before allocating", () => {
  /**
   * A consistent GPT-2 checkpoint of `nLayer` layers of width C as a sparse file: a real header,
   * no data on disk. The tokenizer is the tiny fixture's (same 50257 tokens).
   */
  function sparseGPT2(name: string, nLayer: number, C: number): { dir: string; bytes: number } {
    const dir = copyOf("gpt2-tiny-random", name);
    const V = 50257;
    const P = 1024;
    editConfig(dir, { n_layer: nLayer, n_embd: C, n_head: C / 64, n_positions: P });
    const shapes: [string, number[]][] = [["wte.weight", [V, C]], ["wpe.weight", [P, C]], ["ln_f.weight", [C]], ["ln_f.bias", [C]]];
    for (let l = 0; l < nLayer; l++) {
      const h = `h.${l}`;
      shapes.push(
        [`${h}.ln_1.weight`, [C]], [`${h}.ln_1.bias`, [C]], [`${h}.attn.c_attn.weight`, [C, 3 * C]], [`${h}.attn.c_attn.bias`, [3 * C]],
        [`${h}.attn.c_proj.weight`, [C, C]], [`${h}.attn.c_proj.bias`, [C]], [`${h}.ln_2.weight`, [C]], [`${h}.ln_2.bias`, [C]],
        [`${h}.mlp.c_fc.weight`, [C, 4 * C]], [`${h}.mlp.c_fc.bias`, [4 * C]], [`${h}.mlp.c_proj.weight`, [4 * C, C]], [`${h}.mlp.c_proj.bias`, [C]],
      );
    }
    const header: Record<string, unknown> = {};
    let at = 0;
    for (const [n, shape] of shapes) {
      const bytes = 4 * shape.reduce((a, b) => a * b, 1);
      header[n] = { dtype: "F32", shape, data_offsets: [at, at + bytes] };
      at += bytes;
    }
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const file = path.join(dir, "model.safetensors");
    fs.writeFileSync(file, Buffer.concat([len, json]));
    fs.truncateSync(file, 8 + json.length + at);
    return { dir, bytes: at };
  }

  it("a 160 GB checkpoint: refused up front on both backends, naming both numbers", async () => {
    // 48 layers of 8192 (40,000M parameters), or more on a machine with more than 80 GB.
    const layers = Math.max(48, Math.ceil((2 * os.totalmem()) / (48 * 8192 * 8192)));
    const { dir, bytes } = sparseGPT2("huge", layers, 8192);
    assert.ok(bytes > 150e9);
    assertUserError(
      await runCli(["generate", "hi", "--model", dir]),
      /^nanogpt-infer: the model and its caches need \d+\.\d\d GiB of wasm memory \(\d+ bytes\), more than the 4 GiB \(4294967296 bytes\) wasm32 can address: the f32 weights take \d+\.\d\d GiB and the KV cache \(1 × 1024 positions of f32\) \d+\.\d\d GiB; even q8 weights take \d+\.\d\d GiB: the model is too big for this backend$/m,
    );
    const total = os.totalmem();
    assertUserError(
      await runCli(["generate", "hi", "--model", dir, "--backend", "reference"]),
      new RegExp(`^nanogpt-infer: the model and its caches need \\d+\\.\\d\\d GiB of memory \\(\\d+ bytes\\), more than this machine's \\d+\\.\\d\\d GiB \\(${total} bytes, os\\.totalmem\\(\\)\\): the f32 weights take`, "m"),
    );
    assertUserError(await runCli(["serve", "--model", dir, "--port", "0", "--backend", "reference"]), /^nanogpt-infer: the model and its caches need .* the KV cache \(the default pool of f32\) /m);
  });

  it("a 6 GB checkpoint on wasm: names the dtype that would fit", async () => {
    const { dir } = sparseGPT2("six", 8, 4096);
    assertUserError(await runCli(["generate", "hi", "--model", dir]), /^nanogpt-infer: the model and its caches need 7\.\d\d GiB of wasm memory .*the f32 weights take 6\.\d\d GiB .*; --dtype f16 would fit \(3\.\d\d GiB\)$/m);
    await assert.rejects(LLM.load(dir, { dtype: "f32" }), (e: unknown) => e instanceof UserError && /--dtype f16 would fit/.test(e.message));
  });
});

describe("config values that disagree with the weights", () => {
  const gpt2 = [
    ["n_positions", 1e9, /tensor wpe\.weight has shape \[64, 32\] but config\.json implies \[1000000000, 32\]$/m],
    ["n_inner", 1e12, /tensor h\.0\.mlp\.c_fc\.weight has shape \[32, 128\] but config\.json implies \[32, 1000000000000\]$/m],
    ["n_embd", 1e308, /tensor wte\.weight has shape \[50257, 32\] but config\.json implies \[50257, 1e\+308\]$/m],
  ] as const;
  for (const [key, value, pattern] of gpt2) {
    it(`gpt2 ${key} ${value}: exit 1 naming it`, async () => {
      const dir = copyOf("gpt2-tiny-random", `gpt2-${key}`);
      editConfig(dir, { [key]: value });
      assertUserError(await runCli(["generate", "hi", "--model", dir]), pattern);
      assertUserError(await runCli(["serve", "--model", dir, "--port", "0", "--backend", "reference"]), pattern);
    });
  }
  const llama = [
    ["max_position_embeddings", 1e9, /config\.json: max_position_embeddings 1000000000 is more than the 16777216 positions this engine supports$/m],
    ["intermediate_size", 1e12, /tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[172, 64\] but config\.json implies \[1000000000000, 64\]$/m],
    ["hidden_size", 1e308, /tensor model\.embed_tokens\.weight has shape \[1000, 64\] but config\.json implies \[1000, 1e\+308\]$/m],
  ] as const;
  for (const [key, value, pattern] of llama) {
    it(`llama ${key} ${value}: exit 1 naming it`, async () => {
      const dir = copyOf("llama-tiny-random", `llama-${key}`);
      editConfig(dir, { [key]: value });
      assertUserError(await runCli(["generate", "--prompt-ids", "1,2", "--model", dir]), pattern);
    });
  }
});

describe("serve: listen and KV pool errors", () => {
  it("a port in use: exit 1 with one line", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const address = blocker.address();
    assert.ok(address !== null && typeof address !== "string");
    try {
      const r = await runCli(["serve", "--port", String(address.port)]);
      assertUserError(r, new RegExp(`^nanogpt-infer: cannot listen on 127\\.0\\.0\\.1:${address.port}: port ${address.port} is already in use \\(EADDRINUSE\\)`, "m"));
    } finally {
      blocker.close();
    }
  });

  it("--host 256.1.1.1 and --host 192.0.2.1 (not this machine's)", async () => {
    assertUserError(await runCli(["serve", "--host", "256.1.1.1", "--port", "0"]), /^nanogpt-infer: cannot listen on 256\.1\.1\.1:0: --host 256\.1\.1\.1 is not an IP address or a resolvable name \((ENOTFOUND|EAI_AGAIN|EAI_FAIL)\)$/m);
    assertUserError(await runCli(["serve", "--host", "192.0.2.1", "--port", "0"]), /^nanogpt-infer: cannot listen on 192\.0\.2\.1:0: --host 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\)$/m);
  });

  it("--kv-memory 1000000 on both backends: the numbers and the most that fits", async () => {
    assertUserError(
      await runCli(["serve", "--kv-memory", "1000000", "--port", "0"]),
      /^nanogpt-infer: the model and its caches need 976\.\d\d GiB of wasm memory \(\d+ bytes\), more than the 4 GiB \(4294967296 bytes\) wasm32 can address: the f32 weights take 0\.\d\d GiB and the KV cache \(--kv-memory 1000000 MB of f32\) 976\.56 GiB; keep the KV cache under \d+ MB with a smaller --kv-memory$/m,
    );
    assertUserError(await runCli(["serve", "--kv-memory", "1000000", "--port", "0", "--backend", "reference"]), /more than this machine's \d+\.\d\d GiB \(\d+ bytes, os\.totalmem\(\)\): .*--kv-memory 1000000 MB/m);
  });
});
