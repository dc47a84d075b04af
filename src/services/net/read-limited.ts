// Reading an answer from a server we do not trust (a push gateway, another homeserver): at most
// `max` bytes are kept, so that an endless answer cannot exhaust memory.
import type { Readable } from 'node:stream';

/** The body as UTF-8 text; throws once it passes `max` bytes, after destroying the stream. */
export async function readAtMost(body: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      body.destroy();
      throw new Error(`answer larger than ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
