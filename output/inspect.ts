// weft inspect: a shard's schema, metadata and first rows, or an OUT folder's summary.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import type { Manifest } from '../schemas/manifest.ts';
import { UsageError } from '../core/usage-error.ts';

export async function inspectPath(p: string, rows: number): Promise<string> {
  const st = await stat(p).catch(() => null);
  if (!st) throw new UsageError(`${p}: no such file or folder`);
  if (st.isDirectory()) return inspectOutDir(p);
  return inspectShard(p, rows);
}

async function inspectShard(file: string, rows: number): Promise<string> {
  const table = arrow.tableFromIPC(await readFile(file));
  const lines: string[] = [`${file}: ${table.numRows} rows, ${table.batches.length} record batch(es)`, '', 'schema:'];
  for (const f of table.schema.fields) lines.push(`  ${f.name}: ${f.type}${f.nullable ? ' (nullable)' : ''}`);
  lines.push('', 'metadata:');
  for (const [k, v] of table.schema.metadata) lines.push(`  ${k}: ${v}`);
  lines.push('', `first ${Math.min(rows, table.numRows)} row(s):`);
  for (let i = 0; i < Math.min(rows, table.numRows); i++) {
    const row = table.get(i)!.toJSON() as Record<string, unknown>;
    lines.push(`  [${i}] ${JSON.stringify(row, (_k, v) => summariseValue(v))}`);
  }
  return lines.join('\n') + '\n';
}

function summariseValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.length > 200) return v.slice(0, 200) + '…';
  if (v && typeof v === 'object' && 'toJSON' in v && typeof (v as { toJSON: unknown }).toJSON === 'function' && !Array.isArray(v)) {
    return (v as { toJSON(): unknown }).toJSON();
  }
  return v;
}

async function inspectOutDir(dir: string): Promise<string> {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const lines = [
    `${dir}: weft ${manifest.weft_version}, schema ${manifest.schema_version}, config ${manifest.config_fingerprint.slice(0, 16)}`,
    `units ${manifest.units.length}, kept ${manifest.totals.kept}, dropped ${manifest.totals.dropped}, shards ${manifest.totals.shards}, ${manifest.totals.bytes} bytes`,
  ];
  for (const s of manifest.scorers) lines.push(`scorer ${s.id} sha256 ${s.model_sha256.slice(0, 16)}`);
  lines.push('', 'shards:');
  for (const s of manifest.shards) lines.push(`  ${s.path}  ${s.kind}  ${s.rows} rows  ${s.bytes} bytes  sha256 ${s.sha256.slice(0, 12)}`);
  return lines.join('\n') + '\n';
}
