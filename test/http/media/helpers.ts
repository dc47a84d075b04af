// Shared by the media tests: raw uploads and downloads over HTTP, and images made with sharp.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Agent, fetch as undiciFetch } from 'undici';

export interface RawResponse { status: number; headers: { get(name: string): string | null }; bytes: Buffer; json: Record<string, unknown> }

export async function raw(baseUrl: string, method: string, path: string, opts: { token?: string; body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  // A connection per request, closed after it: a server closing right after a response must not
  // wait for a keep-alive connection the test still holds.
  const dispatcher = new Agent();
  let bytes: Buffer;
  let res: Awaited<ReturnType<typeof undiciFetch>>;
  try {
    res = await undiciFetch(new URL(path, baseUrl), { method, headers, body: opts.body, dispatcher });
    bytes = Buffer.from(await res.arrayBuffer());
  } finally {
    await dispatcher.close();
  }
  let json: Record<string, unknown> = {};
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, bytes, json };
}

export async function upload(baseUrl: string, token: string, body: Buffer | string, contentType?: string, filename?: string): Promise<RawResponse> {
  const q = filename === undefined ? '' : `?filename=${encodeURIComponent(filename)}`;
  return raw(baseUrl, 'POST', `/_matrix/media/v3/upload${q}`, { token, body, headers: contentType ? { 'content-type': contentType } : {} });
}

/** `mxc://server/id` → `server/id`, for download paths. */
export const mxcPath = (mxc: string) => mxc.slice('mxc://'.length);

export async function image(format: 'png' | 'jpeg' | 'gif' | 'webp', width: number, height: number): Promise<Buffer> {
  // A gradient, so that encoders have something to encode.
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const o = (y * width + x) * 3;
    data[o] = (x * 255) / width; data[o + 1] = (y * 255) / height; data[o + 2] = 128;
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).toFormat(format).toBuffer();
}

export async function animatedGif(width: number, height: number, frames: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * frames * 4);
  for (let f = 0; f < frames; f++) for (let i = 0; i < width * height; i++) {
    const o = (f * width * height + i) * 4;
    data[o] = (f * 80) % 256; data[o + 1] = 60; data[o + 2] = 200 - f * 40; data[o + 3] = 255;
  }
  return sharp(data, { raw: { width, height: height * frames, channels: 4, pageHeight: height } }).gif({ delay: Array(frames).fill(100), loop: 0 }).toBuffer();
}

/** Every content file under the media path (temporary files excluded). */
export function storedFiles(mediaPath: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try { entries = readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (e.isDirectory()) { if (e.name !== 'tmp') walk(join(dir, e.name)); } else out.push(e.name);
    }
  };
  walk(mediaPath);
  return out;
}

export function tmpFiles(mediaPath: string): string[] {
  try { return readdirSync(join(mediaPath, 'tmp')); } catch { return []; }
}
