import { UserError } from "../../errors.js";

const PAGE = 65536;
/** wasm32 addresses are 32-bit: 65536 pages of 64 KiB. */
export const MAX_MEMORY_BYTES = 65536 * PAGE;
/** AssemblyScript writes its static data low in the memory at every instantiation: keep out. */
export const RESERVED_BYTES = 65536;

type View = Float32Array | Int8Array | Int16Array | Uint16Array | Int32Array;

/**
 * The shared linear memory and a bump allocator over it. Nothing is ever freed: weights, caches
 * and activations are allocated once at load time. Growing a shared memory keeps old views
 * valid but gives memory.buffer a new SharedArrayBuffer object, so every buffer object handed
 * out is remembered to recognise views into this memory.
 */
export class Arena {
  readonly memory: WebAssembly.Memory;
  private top = RESERVED_BYTES;
  private current: SharedArrayBuffer;
  private readonly known = new WeakSet<ArrayBufferLike>();

  constructor(initialBytes: number) {
    const initial = Math.ceil((RESERVED_BYTES + initialBytes) / PAGE);
    this.memory = new WebAssembly.Memory({ initial, maximum: MAX_MEMORY_BYTES / PAGE, shared: true });
    this.current = this.buffer();
  }

  /** Reserves `bytes` (16-byte aligned) and returns their byte offset. */
  allocBytes(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`invalid allocation size ${bytes}`);
    // Plain arithmetic, not `& ~15`: bitwise operators work on signed 32 bits, and offsets
    // past 2 GiB would turn negative.
    const offset = Math.ceil(this.top / 16) * 16;
    const end = offset + bytes;
    if (end > MAX_MEMORY_BYTES) {
      throw new UserError(
        `the model and its caches need ${gib(end)} of wasm memory (${end} bytes), more than the 4 GiB (${MAX_MEMORY_BYTES} bytes) wasm32 can address: ` +
          `use a smaller --dtype (f16 needs half the weight memory of f32, q8 about a quarter) or a smaller --kv-memory`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(pages);
      } catch (err) {
        throw new Error(`wasm memory cannot grow from ${have} to ${end} bytes: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
    this.top = end;
    this.current = this.buffer();
    return offset;
  }

  f32(length: number): Float32Array {
    const offset = this.allocBytes(length * 4);
    return new Float32Array(this.current, offset, length);
  }

  i8(length: number): Int8Array {
    const offset = this.allocBytes(length);
    return new Int8Array(this.current, offset, length);
  }

  u16(length: number): Uint16Array {
    const offset = this.allocBytes(length * 2);
    return new Uint16Array(this.current, offset, length);
  }

  i16(length: number): Int16Array {
    const offset = this.allocBytes(length * 2);
    return new Int16Array(this.current, offset, length);
  }

  i32(length: number): Int32Array {
    const offset = this.allocBytes(length * 4);
    return new Int32Array(this.current, offset, length);
  }

  /** Whether `view` lies in this memory (and so can be passed to a kernel as its byteOffset). */
  owns(view: View): boolean {
    const b = view.buffer;
    return (b === this.current || this.known.has(b)) && view.byteOffset >= RESERVED_BYTES;
  }

  private buffer(): SharedArrayBuffer {
    const b = this.memory.buffer;
    // Not `instanceof SharedArrayBuffer`: a page that is not cross-origin isolated has shared
    // wasm memory but no SharedArrayBuffer global.
    if (!isShared(b)) throw new Error("wasm memory is not shared");
    this.known.add(b);
    return b;
  }
}

function isShared(b: ArrayBufferLike): b is SharedArrayBuffer {
  return Object.prototype.toString.call(b) === "[object SharedArrayBuffer]";
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
