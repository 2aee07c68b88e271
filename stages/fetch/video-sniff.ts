// Is a downloaded body a video container? Checked on its first bytes, so an HTML error page or
// an image served in place of a video is abandoned before it is downloaded in full. ffprobe
// has the last word; this only catches what is plainly not a video.

/** Bytes sniffVideoContainer looks at (an MPEG-TS packet is 188 bytes; the check wants two sync bytes). */
export const VIDEO_SNIFF_BYTES = 377;

export type VideoContainer = 'mp4' | 'matroska' | 'avi' | 'mpeg-ts' | 'mpeg-ps' | 'flv' | 'ogg' | 'asf';

export function sniffVideoContainer(b: Uint8Array): VideoContainer | null {
  const ascii = (at: number, s: string) => b.length >= at + s.length && [...s].every((ch, i) => b[at + i] === ch.charCodeAt(0));
  // ISO BMFF (mp4, mov, m4v, 3gp): a box size then a box type; ftyp first, or an early moov/mdat/free/wide.
  if (['ftyp', 'moov', 'mdat', 'free', 'wide', 'skip'].some((t) => ascii(4, t))) return 'mp4';
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'matroska';
  if (ascii(0, 'RIFF') && ascii(8, 'AVI ')) return 'avi';
  if (b[0] === 0x47 && b.length > 188 && b[188] === 0x47) return 'mpeg-ts';
  if (b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0xba) return 'mpeg-ps';
  if (ascii(0, 'FLV')) return 'flv';
  if (ascii(0, 'OggS')) return 'ogg';
  if (b[0] === 0x30 && b[1] === 0x26 && b[2] === 0xb2 && b[3] === 0x75) return 'asf';
  return null;
}

/** The first bytes, printable, for a reject detail. */
export function describeHead(b: Uint8Array, n = 24): string {
  const text = Array.from(b.subarray(0, n), (c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');
  return `starts with "${text}"`;
}
