import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UserError } from "../src/errors.js";
import { Arena, MAX_MEMORY_BYTES } from "../src/kernels/wasm/arena.js";

describe("wasm arena above 2 GiB", () => {
  it("allocates and touches memory past 2^31 (offsets stay positive)", () => {
    const arena = new Arena(1 << 20);
    arena.allocBytes(2 ** 31 + 3); // pushes the next offset past 2^31, unaligned
    const high = arena.f32(16);
    assert.ok(high.byteOffset > 2 ** 31, `offset ${high.byteOffset}`);
    assert.equal(high.byteOffset % 16, 0);
    assert.ok(arena.owns(high));
    high[0] = 1.5;
    high[15] = -2.25;
    const again = new Float32Array(arena.memory.buffer, high.byteOffset, 16);
    assert.equal(again[0], 1.5);
    assert.equal(again[15], -2.25);
    const next = arena.i8(1);
    assert.ok(next.byteOffset >= high.byteOffset + 64);
  });

  it("past 4 GiB: a one-line UserError with the numbers and the smaller dtypes", () => {
    const arena = new Arena(1 << 20);
    const request = 5 * 2 ** 30;
    assert.throws(
      () => arena.allocBytes(request),
      (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.ok(!e.message.includes("\n"));
        assert.match(e.message, /need 5\.00 GiB of wasm memory \(\d+ bytes\), more than the 4 GiB \(4294967296 bytes\) wasm32 can address/);
        assert.match(e.message, /f16 .*half.*f32, q8 about a quarter/);
        return true;
      },
    );
    assert.equal(MAX_MEMORY_BYTES, 2 ** 32);
    // The arena is still usable after the refusal.
    assert.equal(arena.f32(4).length, 4);
  });
});
