import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { assembleFixtureModel, type GPT2FixtureModel } from "../scripts/fixture-models.js";
import { repoRoot as findRepoRoot } from "../scripts/make-random-gpt2.js";

export const repoRoot = findRepoRoot();
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
