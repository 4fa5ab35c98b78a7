/** Small HTTP helpers shared by the API routes: bounded JSON bodies and Docker's response shapes. */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidArgument, SwarmletError } from '../errors.ts';

/** Service specs are small; anything larger is a mistake or an attack. */
export const MAX_BODY_BYTES = 1024 * 1024;

export async function readJson(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw invalidArgument(`request body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Errors go out as Docker sends them, `{"message": "..."}`, with the status their code maps to. */
export function sendError(res: ServerResponse, err: unknown): void {
  const status = err instanceof SwarmletError ? err.status : 500;
  const message = err instanceof Error ? err.message : String(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { message });
}
