// The roots of the run-wide near pass (run-wide-marks.ts) on disk, in seq order: fixed-size
// binary records (the hash's high and low 32-bit words, the id's byte offset and length) in one
// file and the ids in another (UTF-16, so any string comes back exactly). Every block of rows
// scans all earlier roots, so a scan reads the records in chunks into one reused buffer and
// parses nothing; an id is read back by its offset only for the roots a row ends up pointing at.
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** hi u32, lo u32, id length u32, id offset f64. */
const RECORD_BYTES = 20;
/** Records read (and staged for writing) at once. */
const CHUNK_RECORDS = 4096;

export class NearRootsFile {
  private count = 0;
  private idBytes = 0;
  private readonly chunk = Buffer.alloc(RECORD_BYTES * CHUNK_RECORDS);
  /** Appended records not yet written, and their ids. */
  private staged = 0;
  private stagedIds: string[] = [];
  private stagedIdBytes = 0;

  private constructor(
    private readonly recordsPath: string,
    private readonly idsPath: string,
    private readonly records: FileHandle,
    private readonly ids: FileHandle,
  ) {}

  static async create(recordsPath: string, idsPath: string): Promise<NearRootsFile> {
    // The spill folder exists only once something spilled: a run with no rows has none yet.
    await mkdir(path.dirname(recordsPath), { recursive: true });
    const records = await open(recordsPath, 'w+');
    const ids = await open(idsPath, 'w+').catch(async (err) => {
      await records.close();
      throw err;
    });
    return new NearRootsFile(recordsPath, idsPath, records, ids);
  }

  get length(): number {
    return this.count + this.staged;
  }

  /** Appends a root; it is written before the next scan. */
  async append(hi: number, lo: number, id: string): Promise<void> {
    const o = this.staged * RECORD_BYTES;
    const bytes = id.length * 2;
    this.chunk.writeUInt32LE(hi >>> 0, o);
    this.chunk.writeUInt32LE(lo >>> 0, o + 4);
    this.chunk.writeUInt32LE(bytes, o + 8);
    this.chunk.writeDoubleLE(this.idBytes + this.stagedIdBytes, o + 12);
    this.stagedIds.push(id);
    this.stagedIdBytes += bytes;
    if (++this.staged === CHUNK_RECORDS) await this.flush();
  }

  /** Calls `visit` for every root, in the order appended, with its hash words and where its id lies (for `id`). */
  async scan(visit: (hi: number, lo: number, idOffset: number, idLength: number) => void): Promise<void> {
    await this.flush();
    for (let first = 0; first < this.count; first += CHUNK_RECORDS) {
      const n = Math.min(CHUNK_RECORDS, this.count - first);
      await readFully(this.records, this.chunk, n * RECORD_BYTES, first * RECORD_BYTES);
      for (let i = 0, o = 0; i < n; i++, o += RECORD_BYTES) {
        visit(this.chunk.readUInt32LE(o), this.chunk.readUInt32LE(o + 4), this.chunk.readDoubleLE(o + 12), this.chunk.readUInt32LE(o + 8));
      }
    }
  }

  /** The id of a root, from the offset and length `scan` gave. */
  async id(offset: number, length: number): Promise<string> {
    const bytes = Buffer.alloc(length);
    await readFully(this.ids, bytes, length, offset);
    return bytes.toString('utf16le');
  }

  async remove(): Promise<void> {
    await this.records.close();
    await this.ids.close();
    await rm(this.recordsPath, { force: true });
    await rm(this.idsPath, { force: true });
  }

  private async flush(): Promise<void> {
    if (!this.staged) return;
    await writeFully(this.records, this.chunk.subarray(0, this.staged * RECORD_BYTES), this.count * RECORD_BYTES);
    await writeFully(this.ids, Buffer.from(this.stagedIds.join(''), 'utf16le'), this.idBytes);
    this.count += this.staged;
    this.idBytes += this.stagedIdBytes;
    this.staged = 0;
    this.stagedIds = [];
    this.stagedIdBytes = 0;
  }
}

async function readFully(fh: FileHandle, into: Buffer, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesRead } = await fh.read(into, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`near roots file: ${length - done} bytes missing at ${position + done}`);
    done += bytesRead;
  }
}

async function writeFully(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}
