import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { assembleFixtureModel, type GPT2FixtureModel } from "../scripts/fixture-models.js";

/** The repository root, whether tests run from test/ (sources) or dist/test/ (compiled). */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (path.basename(dir) !== "test") dir = path.dirname(dir);
  const parent = path.dirname(dir);
  return path.basename(parent) === "dist" ? path.dirname(parent) : parent;
}

export const repoRoot = findRoot();
export const fixtures = path.join(repoRoot, "test", "fixtures");
export const defaultModelDir = path.join(repoRoot, "models", "shakespeare-byte-gpt2");

let assembled: string | null = null;

/**
 * A tiny GPT-2 checkpoint from test/fixtures as a complete model folder (with the GPT-2 tokenizer
 * files stored once in gpt2-tokenizer), made in a temporary folder once per test process.
 */
export function fixtureModel(name: GPT2FixtureModel): string {
  if (assembled === null) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-infer-fixtures-"));
    process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
    assembled = dir;
  }
  return assembleFixtureModel(fixtures, name, assembled);
}
