import type { IncomingMessage, ServerResponse } from "node:http";
import { errorBody, HttpError } from "./errors.js";

/**
 * Reads a JSON request body of at most `limit` bytes. A larger body is drained and discarded
 * before the 413 goes out, because a client still uploading would not read an early answer;
 * one past `hardLimit` gets its connection cut instead.
 */
export function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const hardLimit = Math.max(64 * 2 ** 20, 8 * limit);
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) parts.push(chunk);
      else if (size > hardLimit) req.destroy();
    });
    let ended = false;
    req.on("error", reject);
    // A client gone mid-upload never sends "end": settle anyway, so nothing waits forever.
    req.on("close", () => {
      if (!ended) reject(new HttpError(400, "the client closed the connection before the body was complete"));
    });
    req.on("end", () => {
      ended = true;
      if (size > limit) {
        reject(new HttpError(413, `the request body is ${size} bytes, more than the limit of ${limit}`, "invalid_request_error", null, "request_too_large"));
        return;
      }
      const text = Buffer.concat(parts).toString("utf8");
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`));
      }
    });
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, errorBody(e), e.status === 413 ? { Connection: "close" } : {});
}

/** Server-Sent Events: one `data: <json>` event per chunk, closed by `data: [DONE]`. */
export class EventStream {
  constructor(private readonly res: ServerResponse) {}

  open(headers: Record<string, string>): void {
    this.res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive", ...headers });
    this.res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.writableEnded || this.res.destroyed;
  }

  send(data: unknown): void {
    if (!this.closed) this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream; an error travels as an event, the way OpenAI reports one mid-stream. */
  end(error?: HttpError): void {
    if (this.closed) return;
    if (error !== undefined) this.send(errorBody(error));
    this.res.end("data: [DONE]\n\n");
  }
}
