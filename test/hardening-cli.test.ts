import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { UserError } from "../src/errors.js";
import { readSafetensorsHeader } from "../src/io/safetensors.js";
import { assertUserError, startServeChild } from "./helpers.js";
import { fixtureModel, repoRoot } from "./paths.js";

const main = path.join(repoRoot, "dist", "src", "cli", "main.js");

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the CLI without blocking this process (a test server may need the event loop meanwhile). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 20000): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

describe("tokenizer ids beyond the vocabulary", () => {
  let tmp: string;
  const copy = (name: string, edit: (tokenizer: { model: { vocab: Record<string, number> }; added_tokens: object[] }) => void): string => {
    const dir = path.join(tmp, name);
    fs.cpSync(fixtureModel("gpt2-tiny-random"), dir, { recursive: true });
    const file = path.join(dir, "tokenizer.json");
    const json = JSON.parse(fs.readFileSync(file, "utf8")) as { model: { vocab: Record<string, number> }; added_tokens: object[] };
    edit(json);
    fs.writeFileSync(file, JSON.stringify(json));
    return dir;
  };
  let addedBad: string;
  let vocabBad: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hardening-tok-"));
    addedBad = copy("added", (t) => t.added_tokens.push({ id: 99_999_999, content: "<|huge|>", special: true }));
    vocabBad = copy("vocab", (t) => (t.model.vocab["zzzhuge"] = 99_999_999));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("an added token with id 99,999,999: tokenize exits 1 with one line naming it, at once", async () => {
    const r = await runCli(["tokenize", "hello", "--model", addedBad]);
    assertUserError(r, /^nanogpt-infer: invalid \S+tokenizer\.json: token "<\|huge\|>" has id 99999999, beyond the 50259 tokens the file defines/);
    assert.ok(r.ms < 5000, `${r.ms} ms`);
  });

  it("a vocabulary entry with id 99,999,999: the same", async () => {
    const r = await runCli(["tokenize", "hello", "--model", vocabBad]);
    assertUserError(r, /^nanogpt-infer: invalid \S+tokenizer\.json: token "zzzhuge" has id 99999999, beyond the 50259 tokens/);
    assert.ok(r.ms < 5000, `${r.ms} ms`);
  });

  it("info on it exits 1 too instead of hanging", async () => {
    const r = await runCli(["info", "--model", addedBad]);
    assertUserError(r, /^nanogpt-infer: \S+: token "<\|huge\|>" has id 99999999, beyond the 50259 tokens/);
    assert.ok(r.ms < 5000, `${r.ms} ms`);
  });
});

describe("flags with limits", () => {
  it("--threads above os.availableParallelism(): exit 1 naming both numbers", async () => {
    const cpus = os.availableParallelism();
    const r = await runCli(["generate", "ROMEO:", "--threads", String(cpus + 1), "--max-tokens", "2"]);
    assertUserError(r, new RegExp(`^nanogpt-infer: --threads ${cpus + 1} is more than the ${cpus} this machine can run at once`));
    const ok = await runCli(["generate", "ROMEO:", "--threads", String(cpus), "--max-tokens", "2", "--quiet"]);
    assert.equal(ok.status, 0, ok.stderr);
  });

  it("--allowed-origins must list origins (or *)", async () => {
    for (const bad of ["https://app.example/", "app.example", "https://app.example/path", "https://a.example,ftp:"]) {
      const r = await runCli(["serve", "--allowed-origins", bad, "--port", "0"]);
      assertUserError(r, /^nanogpt-infer: --allowed-origins: "[^"]+" is not an origin like https:\/\/app\.example/);
    }
  });

  it("--kv-memory beyond the 4 GiB wasm limit: exit 1 with the numbers and what to change", async () => {
    const r = await runCli(["serve", "--kv-memory", "5000", "--port", "0"]);
    assertUserError(r, /^nanogpt-infer: the model and its caches need 4\.\d\d GiB of wasm memory \(\d+ bytes\), more than the 4 GiB \(4294967296 bytes\) wasm32 can address: the f32 weights take 0\.\d\d GiB and the KV cache \(--kv-memory 5000 MB of f32\) 4\.88 GiB; keep the KV cache under \d+ MB with a smaller --kv-memory$/m);
  });

  it("--kv-dtype: f32 or f16, anything else exits 1 naming the choices", async () => {
    const r = await runCli(["generate", "ROMEO:", "--kv-dtype", "q8", "--max-tokens", "2"]);
    assertUserError(r, /^nanogpt-infer: --kv-dtype must be one of f32, f16, got "q8"$/m);
    // The same greedy tokens from both caches on the default model (generation.test has the tolerances).
    const run = async (kv: string) => {
      const ok = await runCli(["generate", "ROMEO:", "--kv-dtype", kv, "--temperature", "0", "--max-tokens", "40", "--json"]);
      assert.equal(ok.status, 0, ok.stderr);
      return (JSON.parse(ok.stdout) as { tokens: number[] }).tokens;
    };
    assert.deepEqual(await run("f16"), await run("f32"));
  });

  it("--kv-memory beyond the 4 GiB wasm limit with --kv-dtype f16: the halves are what is counted", async () => {
    const r = await runCli(["serve", "--kv-memory", "5000", "--kv-dtype", "f16", "--port", "0"]);
    assertUserError(r, /the KV cache \(--kv-memory 5000 MB of f16\) 4\.88 GiB; keep the KV cache under \d+ MB with a smaller --kv-memory$/m);
  });

  it("--kv-memory 2100 (past 2 GiB of wasm memory) serves", async () => {
    const { child, url, log } = await startServeChild(main, ["--kv-memory", "2100", "--port", "0", "--quiet"]);
    try {
      const res = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ prompt: "ROMEO:", max_tokens: 3 }) });
      assert.equal(res.status, 200, await res.clone().text());
      await res.json();
    } finally {
      child.kill("SIGTERM");
    }
    assert.doesNotMatch(log(), /internal error/);
  });
});

describe("exact numbers in messages", () => {
  it("a huge safetensors header length is printed as the exact integer", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hardening-st-"));
    try {
      const file = path.join(dir, "model.safetensors");
      const buf = Buffer.alloc(16);
      buf.writeBigUInt64LE(2n ** 64n - 1n, 0);
      fs.writeFileSync(file, buf);
      assert.throws(
        () => readSafetensorsHeader(file),
        (e: unknown) => e instanceof UserError && e.message.includes("header length 18446744073709551615 runs past the end of the 16-byte file"),
      );
      buf.writeBigUInt64LE(9007199254740993n, 0); // 2^53 + 1: a double would print ...992
      fs.writeFileSync(file, buf);
      assert.throws(() => readSafetensorsHeader(file), (e: unknown) => e instanceof UserError && e.message.includes("header length 9007199254740993 "));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
