// Pairs the files of an image folder with their sidecar captions: `a/b/x.jpg` + `a/b/x.txt`.
// The listing is done once, when units are planned, so every unit knows exactly which files it
// reads even if the folder is large.
import { readdir } from 'node:fs/promises';
import path from 'node:path';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp', '.avif', '.heic', '.heif']);
/** Sidecars that describe an image rather than being one (img2dataset writes x.json next to x.jpg). */
const METADATA_EXTENSIONS = new Set(['.txt', '.json']);

export interface FolderEntry {
  /** Sample id: the relative path without extension (with it, when two images share a stem). */
  id: string;
  /** Image path relative to the folder, '/'-separated; absent when only a caption exists. */
  image?: string;
  /** Caption path relative to the folder; absent when the image has no sidecar. */
  caption?: string;
}

/**
 * Every image-caption pair of a folder, recursively, sorted by relative path. An image is a
 * file with an image extension, or any non-metadata file whose stem has a sidecar .txt (so a
 * mislabelled file is still read, and rejected by decode with a reason). A .txt with no such
 * file is an entry without image. Hidden files and folders are skipped.
 */
export async function listFolderEntries(root: string): Promise<FolderEntry[]> {
  const groups = new Map<string, string[]>();
  for (const rel of await walk(root, '')) {
    const stem = rel.slice(0, rel.length - path.posix.extname(rel).length);
    const group = groups.get(stem);
    if (group) group.push(rel);
    else groups.set(stem, [rel]);
  }
  const entries: FolderEntry[] = [];
  for (const [stem, files] of groups) {
    const caption = files.find((f) => extOf(f) === '.txt');
    let images = files.filter((f) => IMAGE_EXTENSIONS.has(extOf(f)));
    if (images.length === 0 && caption) images = files.filter((f) => !METADATA_EXTENSIONS.has(extOf(f)));
    if (images.length === 0) {
      if (caption) entries.push({ id: stem, caption });
      continue;
    }
    for (const image of images) entries.push({ id: images.length > 1 ? image : stem, image, ...(caption ? { caption } : {}) });
  }
  const key = (e: FolderEntry) => e.image ?? e.caption!;
  return entries.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function extOf(rel: string): string {
  return path.posix.extname(rel).toLowerCase();
}

async function walk(root: string, relDir: string): Promise<string[]> {
  const out: string[] = [];
  const dirents = await readdir(path.join(root, relDir), { withFileTypes: true });
  for (const d of dirents) {
    if (d.name.startsWith('.')) continue;
    const rel = relDir ? `${relDir}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await walk(root, rel)));
    // FIFOs, sockets and devices are listed too, so the reader rejects them (not_regular_file)
    // instead of their vanishing from the ledger.
    else out.push(rel);
  }
  return out;
}
