// Checks a local input path against the source's read policy before anything opens it:
// inside the source root (list rows may not name /etc/passwd or ../../x unless allowed),
// symlinks followed only as configured, regular files only (a FIFO would hang the reader, a
// device such as /dev/zero never ends), and a size cap taken from stat. The reader enforces the
// cap again while streaming (stages/sources/bounded-read.ts): the file may change after this.
import { lstat, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';

export type FollowSymlinks = 'inside_root' | 'never' | 'always';

export interface LocalReadPolicy {
  /** The folder every path must stay inside (the source folder, or the list's folder). */
  root: string;
  followSymlinks: FollowSymlinks;
  allowOutsideRoot: boolean;
  maxFileBytes: number;
}

export type LocalFileCheck = { ok: true; size: number } | { ok: false; reason: string; detail: string } | { ok: false; error: NodeJS.ErrnoException };

/** What a non-regular file is, for a reject detail. */
export function fileTypeName(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a folder';
  return 'not a regular file';
}

export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Whether `file` may be read under `policy`: a reject reason for what the policy refuses, an
 * error for what the file system could not tell (missing, no permission): those are the
 * caller's to treat as failures, not as facts about the content.
 */
export async function checkLocalFile(file: string, policy: LocalReadPolicy): Promise<LocalFileCheck> {
  const name = path.relative(policy.root, file) || path.basename(file);
  if (!policy.allowOutsideRoot && !isInside(policy.root, file)) {
    return { ok: false, reason: 'path_outside_root', detail: `${JSON.stringify(name)} resolves outside ${path.basename(policy.root)}/ (set allow_paths_outside_root to read it)` };
  }
  try {
    const link = await lstat(file);
    if (link.isSymbolicLink()) {
      if (policy.followSymlinks === 'never') return { ok: false, reason: 'symlink_refused', detail: `${name} is a symlink (follow_symlinks: never)` };
      if (policy.followSymlinks === 'inside_root') {
        const [target, root] = await Promise.all([realpath(file), realpath(policy.root)]);
        if (!isInside(root, target)) return { ok: false, reason: 'symlink_outside_root', detail: `${name} is a symlink that resolves outside the source folder (follow_symlinks: inside_root)` };
      }
    }
    const st = link.isSymbolicLink() ? await stat(file) : link;
    if (!st.isFile()) return { ok: false, reason: 'not_regular_file', detail: `${name} is ${fileTypeName(st)}` };
    if (st.size > policy.maxFileBytes) return { ok: false, reason: 'too_large', detail: `${name} is ${st.size} bytes, above max_file_bytes ${policy.maxFileBytes}` };
    return { ok: true, size: st.size };
  } catch (err) {
    return { ok: false, error: err as NodeJS.ErrnoException };
  }
}
