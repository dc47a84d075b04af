// Media repository figures: upload and download throughput of a 10 MB file over loopback HTTP
// (target >= 200 MB/s), thumbnail time for a 4000×3000 JPEG, and the server's peak RSS during a
// 1 GB upload sent from a generated stream. The server runs in its own process (the TypeScript
// sources through tsx, so no build is needed); its RSS is read from /proc.
//
//   node --import tsx bench/media.ts [sqlite|postgres] [--runs 10] [--big-mb 1024]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import sharp from 'sharp';
import { createDataDir, enginesFromArgv, fmt, machine, registerUser, ROOT, waitForPort, type Engine } from './lib/server.js';
import { probeImage, renderThumbnail } from '../src/services/media/thumbnails.js';

const MB = 1_000_000;

function rssKiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function uploadBody(baseUrl: string, token: string, body: Buffer | Readable, length?: number): Promise<string> {
  const res = await request(`${baseUrl}/_matrix/media/v3/upload`, {
    method: 'POST', body,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...(length !== undefined ? { 'content-length': String(length) } : {}) },
  });
  const json = await res.body.json() as { content_uri?: string };
  if (res.statusCode !== 200 || !json.content_uri) throw new Error(`upload answered ${res.statusCode} ${JSON.stringify(json)}`);
  return json.content_uri;
}

async function download(baseUrl: string, token: string, mxc: string, query = ''): Promise<number> {
  const res = await request(`${baseUrl}/_matrix/client/v1/media/${query ? 'thumbnail' : 'download'}/${mxc.slice(6)}${query}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.statusCode !== 200) throw new Error(`download answered ${res.statusCode}`);
  let n = 0;
  for await (const chunk of res.body) n += (chunk as Buffer).length;
  return n;
}

export async function benchMedia(engine: Engine, runs: number, bigMb: number): Promise<void> {
  const data = await createDataDir(engine, {
    listeners: [{ port: 0, bind_address: '127.0.0.1', resources: ['client', 'media'] }],
    media: { max_upload_bytes: 4 * 1024 * 1024 * 1024 },
  });
  // createDataDir picked a free port; the listener override must use it.
  const yaml = readFileSync(data.configPath, 'utf8').replace(/port: 0/, `port: ${data.port}`);
  writeFileSync(data.configPath, yaml);
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli.ts'), 'start', '--config', data.configPath], {
    cwd: data.dir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_ENV: 'production' },
  });
  try {
    await waitForPort(data.port, child, 60_000);
    const baseUrl = `http://127.0.0.1:${data.port}`;
    const { access_token: token } = await registerUser(baseUrl, 'bench');
    const pid = child.pid!;

    // 10 MB up and down, sequentially.
    const ten = Buffer.alloc(10 * MB);
    for (let i = 0; i < ten.length; i += 4) ten.writeUInt32LE((i * 2654435761) >>> 0, i);
    await uploadBody(baseUrl, token, ten); // warm-up
    const up: number[] = [];
    let mxc = '';
    for (let i = 0; i < runs; i++) {
      ten.writeUInt32LE(i, 0); // distinct content every time
      const t0 = performance.now();
      mxc = await uploadBody(baseUrl, token, ten);
      up.push(performance.now() - t0);
    }
    const down: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const t0 = performance.now();
      const n = await download(baseUrl, token, mxc);
      if (n !== ten.length) throw new Error(`downloaded ${n} bytes`);
      if (i > 0) down.push(performance.now() - t0);
    }
    const mbps = (ms: number) => 10 / (ms / 1000);
    process.stdout.write(`[${engine}] 10 MB upload: median ${fmt(median(up), 1)} ms = ${fmt(mbps(median(up)), 0)} MB/s (best ${fmt(mbps(Math.min(...up)), 0)} MB/s)\n`);
    process.stdout.write(`[${engine}] 10 MB download: median ${fmt(median(down), 1)} ms = ${fmt(mbps(median(down)), 0)} MB/s (best ${fmt(mbps(Math.min(...down)), 0)} MB/s)\n`);

    // A 4000×3000 JPEG: rendering time in this process, and over HTTP.
    const w = 4000;
    const h = 3000;
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      raw[o] = (x * 7 + y) & 255; raw[o + 1] = (y * 3) & 255; raw[o + 2] = ((x ^ y) * 5) & 255;
    }
    const jpeg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    const tmp = join(data.dir, 'big.jpg');
    writeFileSync(tmp, jpeg);
    const probe = await probeImage(tmp, 32_000_000);
    if (!probe.ok) throw new Error('probe failed');
    const render: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await renderThumbnail(tmp, probe.image, { width: 320, height: 240, method: 'scale' }, false, 32_000_000);
      render.push(performance.now() - t0);
    }
    const crop: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await renderThumbnail(tmp, probe.image, { width: 96, height: 96, method: 'crop' }, false, 32_000_000);
      crop.push(performance.now() - t0);
    }
    const jpegMxc = await uploadBody(baseUrl, token, jpeg);
    const t0 = performance.now();
    await download(baseUrl, token, jpegMxc, '?width=1000&height=1000&method=scale');
    const onDemand = performance.now() - t0;
    const t1 = performance.now();
    await download(baseUrl, token, jpegMxc, '?width=320&height=240&method=scale');
    const firstConfigured = performance.now() - t1;
    const t2 = performance.now();
    await download(baseUrl, token, jpegMxc, '?width=320&height=240&method=scale');
    const cached = performance.now() - t2;
    process.stdout.write(`[${engine}] 4000×3000 JPEG (${fmt(jpeg.length / MB, 1)} MB): render 320×240 scale median ${fmt(median(render), 0)} ms, 96×96 crop median ${fmt(median(crop), 0)} ms (in-process); over HTTP 1000×1000 rendered per request ${fmt(onDemand, 0)} ms, 320×240 first request ${fmt(firstConfigured, 0)} ms, cached ${fmt(cached, 1)} ms\n`);

    // 1 GB from a generated stream: the server's peak RSS.
    const before = rssKiB(pid);
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    const total = bigMb * MB;
    let peak = before.rss;
    const poll = setInterval(() => { peak = Math.max(peak, rssKiB(pid).rss); }, 20);
    const tb = performance.now();
    await uploadBody(baseUrl, token, Readable.from((function* () {
      let sent = 0;
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        yield n === chunk.length ? chunk : chunk.subarray(0, n);
      }
    })()), total);
    const bigMs = performance.now() - tb;
    clearInterval(poll);
    const after = rssKiB(pid);
    process.stdout.write(`[${engine}] ${bigMb} MB streamed upload: ${fmt(bigMs / 1000, 1)} s = ${fmt(bigMb / (bigMs / 1000), 0)} MB/s; server RSS ${fmt(before.rss / 1024, 0)} MiB before, peak ${fmt(peak / 1024, 0)} MiB during (sampled every 20 ms), ${fmt(after.rss / 1024, 0)} MiB after; VmHWM ${fmt(after.hwm / 1024, 0)} MiB\n`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await data.destroy();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, 'big-mb': { type: 'string', default: '1024' } }, allowPositionals: true, strict: false });
  process.stdout.write(`Weft media benchmark — ${machine()}\n`);
  for (const engine of await enginesFromArgv()) await benchMedia(engine, Number(values.runs), Number(values['big-mb']));
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
