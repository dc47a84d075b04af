// Thumbnails with sharp. spec: client-server-api modules/content_repo "Thumbnails"
// An image is probed (its header only) before anything is decoded: only JPEG, PNG, GIF and WebP
// are thumbnailed, whatever the uploader claimed the type to be, and only up to a pixel count.
import sharp from 'sharp';
import type { ThumbnailMethod, ThumbnailSize } from '../../config.js';

// Decoded images are not worth caching: each file is thumbnailed a few times at most.
sharp.cache(false);

/** sharp's format names of what we thumbnail, with their media types. */
const FORMAT_TYPES: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', gif: 'image/gif', webp: 'image/webp' };

export interface ImageProbe {
  /** The media type of the format found in the file (not the one the uploader claimed). */
  contentType: string;
  format: string;
  /** Dimensions as displayed (EXIF orientation applied), of one frame. */
  width: number;
  height: number;
  pages: number;
}

export type ProbeResult = { ok: true; image: ImageProbe } | { ok: false; reason: 'unsupported' | 'too_large' };

/** Reads an image's header: its format, size and frame count; nothing is decoded. */
export async function probeImage(path: string, maxPixels: number): Promise<ProbeResult> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(path).metadata();
  } catch {
    return { ok: false, reason: 'unsupported' };
  }
  const contentType = meta.format ? FORMAT_TYPES[meta.format] : undefined;
  if (!contentType || !meta.width || !meta.height) return { ok: false, reason: 'unsupported' };
  if (meta.width * meta.height > maxPixels) return { ok: false, reason: 'too_large' };
  const rotated = (meta.orientation ?? 1) >= 5;
  return {
    ok: true,
    image: {
      contentType, format: meta.format as string, pages: meta.pages ?? 1,
      width: rotated ? meta.height : meta.width, height: rotated ? meta.width : meta.height,
    },
  };
}

export interface Rendered { data: Buffer; contentType: string; width: number; height: number }

/**
 * Renders one thumbnail. `scale` fits the image inside width×height keeping its aspect; `crop`
 * fills width×height and cuts what overflows. Never upscales (spec: "MUST NOT upscale").
 * Animated output (WebP, as the spec prefers) only when asked for and the source has frames,
 * and only if all frames together stay within the pixel limit; otherwise the first frame.
 */
export async function renderThumbnail(path: string, image: ImageProbe, size: ThumbnailSize, animated: boolean, maxPixels: number): Promise<Rendered> {
  const animate = animated && isAnimated(image, maxPixels);
  const pipeline = sharp(path, { animated: animate, limitInputPixels: maxPixels * (animate ? image.pages : 1) })
    .rotate()
    .resize({ width: size.width, height: size.height, fit: fitOf(size.method), withoutEnlargement: true });
  const { data, info } = animate
    ? await pipeline.webp({ quality: 80, effort: 2 }).toBuffer({ resolveWithObject: true })
    : image.format === 'jpeg'
      ? await pipeline.jpeg({ quality: 80 }).toBuffer({ resolveWithObject: true })
      : await pipeline.png({ compressionLevel: 6 }).toBuffer({ resolveWithObject: true });
  // An animated image's frames are stacked: its height is the height of all of them.
  const frames = animate ? image.pages : 1;
  return { data, contentType: animate ? 'image/webp' : `image/${info.format}`, width: info.width, height: Math.round(info.height / frames) };
}

export function isAnimated(image: ImageProbe, maxPixels: number): boolean {
  return image.pages > 1 && image.width * image.height * image.pages <= maxPixels;
}

function fitOf(method: ThumbnailMethod): 'inside' | 'cover' {
  return method === 'scale' ? 'inside' : 'cover';
}

/**
 * The configured size to serve for a request: the smallest of the requested method that is at
 * least as large as asked (spec: "the smallest thumbnail larger than the requested size"), or
 * none when every configured size is smaller than what was asked.
 */
export function chooseThumbnailSize(sizes: readonly ThumbnailSize[], width: number, height: number, method: ThumbnailMethod): ThumbnailSize | undefined {
  return sizes
    .filter((s) => s.method === method && s.width >= width && s.height >= height)
    .sort((a, b) => a.width * a.height - b.width * b.height)[0];
}
