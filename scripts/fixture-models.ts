import fs from "node:fs";
import path from "node:path";

/** The GPT-2 tokenizer's files, kept once in test/fixtures/gpt2-tokenizer. */
export const GPT2_TOKENIZER_FILES = ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"] as const;

/** The tiny GPT-2 checkpoints in test/fixtures, stored without the tokenizer they share. */
export const GPT2_FIXTURE_MODELS = ["gpt2-tiny-random", "gpt2-tiny-random-f16", "gpt2-tiny-random-f16-sharded"] as const;
export type GPT2FixtureModel = (typeof GPT2_FIXTURE_MODELS)[number];

/**
 * Writes the complete model folder `name` (its checkpoint files plus the shared tokenizer files)
 * under `into` and returns its path. Copies, not links: loaders accept regular files only.
 */
export function assembleFixtureModel(fixtures: string, name: GPT2FixtureModel, into: string): string {
  const dir = path.join(into, name);
  if (fs.existsSync(path.join(dir, "config.json"))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  for (const file of fs.readdirSync(path.join(fixtures, name))) fs.copyFileSync(path.join(fixtures, name, file), path.join(dir, file), fs.constants.COPYFILE_FICLONE);
  for (const file of GPT2_TOKENIZER_FILES) fs.copyFileSync(path.join(fixtures, "gpt2-tokenizer", file), path.join(dir, file), fs.constants.COPYFILE_FICLONE);
  return dir;
}
