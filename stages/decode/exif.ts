// EXIF of an original image as one JSON object, for the `exif` column (decode.extract_exif),
// as img2dataset's --extract_exif keeps it: re-encoding drops the EXIF block, and camera,
// lens, exposure, date and GPS tags are what some filters and audits need.
//
// Keys are "<IFD> <tag>" ("Image Make", "Photo ExposureTime", "GPSInfo GPSLatitude"); values
// keep their JSON type (numbers, strings, arrays of numbers), dates become ISO strings. Binary
// blobs (MakerNote, thumbnails, undefined-type fields) are left out: they are large, vendor
// specific and not text.
import exifReader from 'exif-reader';

const IFDS = ['Image', 'Photo', 'GPSInfo', 'Iop'] as const;

/** The EXIF block sharp reports (metadata().exif) as a JSON string; null when there is none. Throws on a malformed block. */
export function exifJson(block: Buffer | undefined): string | null {
  if (!block || block.length === 0) return null;
  const parsed = exifReader(block) as unknown as Record<string, Record<string, unknown> | undefined>;
  const out: Record<string, unknown> = {};
  for (const ifd of IFDS) {
    for (const [tag, value] of Object.entries(parsed[ifd] ?? {})) {
      const v = jsonValue(value);
      if (v !== undefined) out[`${ifd} ${tag}`] = v;
    }
  }
  return Object.keys(out).length ? JSON.stringify(out) : null;
}

function jsonValue(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return undefined;
  if (typeof value === 'string') return value.replace(/\0+$/, '').trim();
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (Array.isArray(value)) {
    const items = value.map(jsonValue);
    return items.every((x) => x !== undefined) ? items : undefined;
  }
  return undefined;
}
