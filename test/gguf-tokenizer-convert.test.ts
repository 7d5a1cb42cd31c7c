// convert --to gguf writes a Llama-family folder's tokenizer as llama.cpp's converter would: the
// real Llama 2 (SentencePiece-style, "llama"), Llama 3 ("gpt2", llama-bpe) and Qwen3 ("gpt2",
// qwen2) tokenizers on tiny random checkpoints; the GGUF gives the folder's ids, BOS included.
// That llama.cpp reads these files the same way is scripts/check-llama-cpp-tokenizers.ts's check.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand } from "../src/cli/convert.js";
import { infoCommand } from "../src/cli/info.js";
import { LLM } from "../src/engine/llm.js";
import { UserError } from "../src/errors.js";
import { readGGUF } from "../src/io/gguf-read.js";
import { loadGGUFTokenizer, loadTokenizer } from "../src/tokenizer/index.js";
import { makeRandomLlamaWithTokenizer, TOKENIZER_NAMES, type TokenizerName } from "../scripts/random-llama-with-tokenizer.js";
import { tokenizerCorpus } from "./tokenizer-corpus.js";

let work: string;
before(() => (work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-gguf-tokenizer-"))));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const EXPECTED: Record<TokenizerName, { model: string; pre: string; addBos: boolean; bos: number | null; eos: number }> = {
  llama2: { model: "llama", pre: "default", addBos: true, bos: 1, eos: 2 },
  llama3: { model: "gpt2", pre: "llama-bpe", addBos: false, bos: 128000, eos: 128001 },
  qwen3: { model: "gpt2", pre: "qwen2", addBos: false, bos: null, eos: 151645 },
};

// llama.cpp does not normalize; Qwen's tokenizer.json applies NFC, so the texts are NFC already.
const corpus = tokenizerCorpus(200, 77).map((t) => t.normalize("NFC"));

for (const name of TOKENIZER_NAMES) {
  describe(`convert a random llama-family checkpoint with the ${name} tokenizer`, () => {
    let folder: string;
    let file: string;
    before(async () => {
      folder = makeRandomLlamaWithTokenizer(path.join(work, name), name);
      file = path.join(work, `${name}.gguf`);
      await convertCommand({ model: folder, to: "gguf", dtype: "f32", out: file, quiet: true });
    });

    it("writes the vocabulary, its type and pre, BOS/EOS ids and the folder's add_bos_token", () => {
      const g = readGGUF(file);
      const e = EXPECTED[name];
      assert.equal(g.metadata.get("tokenizer.ggml.model"), e.model);
      assert.equal(g.metadata.get("tokenizer.ggml.pre"), e.pre);
      assert.equal(g.metadata.get("tokenizer.ggml.add_bos_token"), e.addBos);
      assert.equal(g.metadata.get("tokenizer.ggml.bos_token_id"), e.bos ?? undefined);
      assert.equal(g.metadata.get("tokenizer.ggml.eos_token_id"), e.eos);
      assert.equal((g.metadata.get("tokenizer.ggml.tokens") as unknown[]).length, g.tensors.find((t) => t.name === "token_embd.weight")?.dims[1]);
      assert.equal(g.metadata.has("tokenizer.ggml.scores"), e.model === "llama");
      assert.equal(g.metadata.has("tokenizer.ggml.merges"), e.model === "gpt2");
    });

    it("the GGUF's tokenizer gives the folder's ids, with the special tokens the folder adds and without", async () => {
      const ours = await loadGGUFTokenizer(file);
      const reference = await loadTokenizer(folder);
      for (const text of corpus) {
        assert.deepEqual(ours.encode(text), reference.encode(text), `encode ${JSON.stringify(text)}`);
        assert.deepEqual(ours.encode(text, { addSpecialTokens: false }), reference.encode(text, { addSpecialTokens: false }), `without specials ${JSON.stringify(text)}`);
      }
    });

    it("converting the GGUF again carries its tokenizer over unchanged", async () => {
      const again = path.join(work, `${name}-again.gguf`);
      await convertCommand({ model: file, to: "gguf", dtype: "f32", out: again, quiet: true });
      const [a, b] = [readGGUF(file), readGGUF(again)];
      for (const [key, value] of a.metadata) if (key.startsWith("tokenizer.")) assert.deepEqual(b.metadata.get(key), value, key);
    });

    it("loads as a model whose prompts are text", async () => {
      const llm = await LLM.load(file, { backend: "reference" });
      try {
        assert.equal(llm.tokenizer.hasText, true);
        assert.deepEqual(llm.tokenize("Hello world"), (await loadTokenizer(folder)).encode("Hello world"));
      } finally {
        llm.close();
      }
    });
  });
}

describe("tokenizers convert cannot write are refused with one line", () => {
  const refused = (pattern: RegExp) => (e: unknown) => e instanceof UserError && pattern.test(e.message) && !e.message.includes("\n");

  it("a pre-tokenizer llama.cpp has no name for", async () => {
    const folder = makeRandomLlamaWithTokenizer(path.join(work, "odd-pre"), "llama3");
    const json = JSON.parse(fs.readFileSync(path.join(folder, "tokenizer.json"), "utf8")) as { pre_tokenizer: { pretokenizers: { pattern: { Regex: string } }[] } };
    json.pre_tokenizer.pretokenizers[0].pattern.Regex = "\\p{L}+|\\s+";
    fs.writeFileSync(path.join(folder, "tokenizer.json"), JSON.stringify(json));
    await assert.rejects(convertCommand({ model: folder, to: "gguf", dtype: "f32", out: path.join(work, "never.gguf"), quiet: true }), refused(/tokenizer\.json: its pre-tokenizer is none that llama\.cpp's tokenizer\.ggml\.pre names/));
    assert.match(await infoCommand({ model: folder, quiet: true }), /tokenizer +tokenizer\.json \(not writable to GGUF: .*pre-tokenizer is none/);
  });

  it("a tokenizer with more tokens than the model's vocab_size", async () => {
    const folder = makeRandomLlamaWithTokenizer(path.join(work, "small-vocab"), "llama2");
    const config = JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(folder, "config.json"), JSON.stringify({ ...config, vocab_size: 31999 }));
    await assert.rejects(convertCommand({ model: folder, to: "gguf", dtype: "f32", out: path.join(work, "never.gguf"), quiet: true }), refused(/the tokenizer has 32000 tokens but the model's vocab_size is 31999/));
  });
});
