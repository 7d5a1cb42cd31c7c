/**
 * Incremental decoding for token-by-token output. A token may end in the middle of a multi-byte
 * character (GPT-2 splits most emoji across two or three tokens), so bytes are held back until
 * the character is complete instead of printing U+FFFD and then the rest.
 */
export interface StreamDecoder {
  /** Text completed by this token; "" while a character is still partial. */
  push(id: number): string;
  /** Whatever is still buffered (an incomplete character becomes U+FFFD) and resets the decoder. */
  flush(): string;
}

export function createStreamDecoder(tokenBytes: (id: number) => Uint8Array): StreamDecoder {
  // ignoreBOM keeps a U+FEFF at the start of the text, as HF's decode does.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  return {
    push: (id) => decoder.decode(tokenBytes(id), { stream: true }),
    flush: () => decoder.decode(),
  };
}
