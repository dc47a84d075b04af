// Media files on local disk, content-addressed: `<media_path>/<sha[0:2]>/<sha[2:4]>/<sha256>`.
// Identical uploads share one file. Uploads stream through a hash into a temporary file in the
// same folder tree (so the final rename is atomic) and never sit whole in memory.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const SHA256 = /^[0-9a-f]{64}$/;

/** The stream carried more bytes than allowed; the partial file is gone. */
export class ContentTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`content larger than ${limit} bytes`);
    this.name = 'ContentTooLargeError';
  }
}

export interface StoredFile { sha256: string; size: number }

export class FileStore {
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.tmpDir = join(root, 'tmp');
  }

  /** Where a file with this hash lives. The hash comes from us, but is checked so no path can escape. */
  path(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a sha256: ${JSON.stringify(sha256)}`);
    return join(this.root, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  /**
   * Writes a stream to the store, hashing it on the way; more than `maxBytes` aborts the write
   * (ContentTooLargeError) and removes the temporary file.
   */
  async write(source: Readable, maxBytes: number): Promise<StoredFile> {
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      highWaterMark: 1024 * 1024,
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new ContentTooLargeError(maxBytes));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // The source is piped rather than part of the pipeline: when the limit is hit, the request
    // must stay open long enough to carry the 413 answer back (a pipeline would destroy it).
    const written = pipeline(meter, createWriteStream(tmp, { flags: 'wx', highWaterMark: 1024 * 1024 }));
    const abort = () => { if (!source.readableEnded) meter.destroy(new Error('upload aborted')); };
    source.once('error', abort).once('close', abort);
    source.pipe(meter);
    try {
      await written;
    } catch (err) {
      source.unpipe(meter);
      await rm(tmp, { force: true });
      throw err;
    } finally {
      source.off('error', abort).off('close', abort);
    }
    const sha256 = hash.digest('hex');
    await this.moveIntoPlace(tmp, sha256);
    return { sha256, size };
  }

  /** Stores bytes already in memory (thumbnails, which are small). */
  async writeBuffer(bytes: Buffer): Promise<StoredFile> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const final = this.path(sha256);
    if (await exists(final)) return { sha256, size: bytes.length };
    await mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`);
    await writeFile(tmp, bytes, { flag: 'wx' });
    await this.moveIntoPlace(tmp, sha256);
    return { sha256, size: bytes.length };
  }

  /** A stream of the file's bytes `start`..`end` (inclusive), or all of them. */
  read(sha256: string, range?: { start: number; end: number }): ReadStream {
    // Larger reads than the 64 KiB default: fewer trips through the event loop per download.
    return createReadStream(this.path(sha256), { ...range, highWaterMark: 512 * 1024 });
  }

  private async moveIntoPlace(tmp: string, sha256: string): Promise<void> {
    const final = this.path(sha256);
    await mkdir(join(this.root, sha256.slice(0, 2), sha256.slice(2, 4)), { recursive: true });
    // Same bytes, same name: replacing an existing copy is harmless and atomic.
    await rename(tmp, final);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
