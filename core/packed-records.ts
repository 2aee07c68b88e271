// Tuples of numbers and strings packed into bytes, for sorters that hold many records: a record
// in a shared Buffer is no JS object, so a buffer of 10k records waiting to be sorted leaves
// nothing for V8 to promote to its old generation (arrays of tuples did, enough to set
// finalise's peak RSS at 200k rows). Compared in place, with the order of compareTuples.
//
// Layout of one record: u32 byte length of the whole record, then each field in turn:
//   'num'   f64, big-endian
//   'str'   u32 code-unit count, then the UTF-16 code units big-endian (byte order = code-unit
//           order, so Buffer.compare orders two strings as JS `<` does); any string comes back
//           exactly, lone surrogates included
//   'str?'  as 'str', or the count 0xffffffff for null (null sorts before every string)

export type FieldType = 'num' | 'str' | 'str?';
type FieldValue<F extends FieldType> = F extends 'num' ? number : F extends 'str' ? string : string | null;
export type RecordOf<S extends readonly FieldType[]> = { -readonly [K in keyof S]: S[K] extends FieldType ? FieldValue<S[K]> : never };

const NULL_COUNT = 0xffffffff;
/** Longest string a field holds: its byte length must fit the u32 record length. */
const MAX_UNITS = 0x3fffffff;

export class RecordCodec<S extends readonly FieldType[]> {
  constructor(readonly fields: S) {
    if (fields.length === 0) throw new Error('a packed record needs at least one field');
  }

  /** Bytes `record` takes once encoded. */
  size(record: RecordOf<S>): number {
    let n = 4;
    for (let f = 0; f < this.fields.length; f++) {
      const v = (record as unknown[])[f];
      if (this.fields[f] === 'num') n += 8;
      else n += 4 + (v === null ? 0 : 2 * (v as string).length);
    }
    return n;
  }

  /** Writes `record` at `offset` (room for size(record) bytes is the caller's); returns the bytes written. */
  encode(record: RecordOf<S>, into: Buffer, offset: number): number {
    let o = offset + 4;
    for (let f = 0; f < this.fields.length; f++) {
      const type = this.fields[f];
      const v = (record as unknown[])[f];
      if (type === 'num') {
        if (typeof v !== 'number') throw new Error(`packed record field ${f}: expected a number, got ${typeof v}`);
        into.writeDoubleBE(v, o);
        o += 8;
        continue;
      }
      if (v === null && type === 'str?') {
        into.writeUInt32BE(NULL_COUNT, o);
        o += 4;
        continue;
      }
      if (typeof v !== 'string') throw new Error(`packed record field ${f}: expected a string, got ${v === null ? 'null' : typeof v}`);
      if (v.length > MAX_UNITS) throw new Error(`packed record field ${f}: string of ${v.length} code units is too long`);
      into.writeUInt32BE(v.length, o);
      o += 4;
      const bytes = into.write(v, o, 'utf16le');
      if (bytes !== 2 * v.length) throw new Error('packed record: no room for the string');
      into.subarray(o, o + bytes).swap16();
      o += bytes;
    }
    into.writeUInt32BE(o - offset, offset);
    return o - offset;
  }

  /** The record at `offset`. (`from` is left as it was.) */
  decode(from: Buffer, offset: number): RecordOf<S> {
    const out: unknown[] = new Array(this.fields.length);
    let o = offset + 4;
    for (let f = 0; f < this.fields.length; f++) {
      if (this.fields[f] === 'num') {
        out[f] = from.readDoubleBE(o);
        o += 8;
        continue;
      }
      const count = from.readUInt32BE(o);
      o += 4;
      if (count === NULL_COUNT) {
        out[f] = null;
        continue;
      }
      const units = from.subarray(o, o + 2 * count);
      units.swap16();
      out[f] = units.toString('utf16le');
      units.swap16();
      o += 2 * count;
    }
    return out as RecordOf<S>;
  }

  /** Compares two encoded records field by field: numbers numerically, strings by UTF-16 code units, the shorter first on a common prefix (compareTuples' order). */
  compare(a: Buffer, aOffset: number, b: Buffer, bOffset: number): number {
    let i = aOffset + 4;
    let j = bOffset + 4;
    for (let f = 0; f < this.fields.length; f++) {
      if (this.fields[f] === 'num') {
        const x = a.readDoubleBE(i);
        const y = b.readDoubleBE(j);
        if (x < y) return -1;
        if (x > y) return 1;
        i += 8;
        j += 8;
        continue;
      }
      const m = a.readUInt32BE(i);
      const n = b.readUInt32BE(j);
      i += 4;
      j += 4;
      if (m === NULL_COUNT || n === NULL_COUNT) {
        if (m !== n) return m === NULL_COUNT ? -1 : 1;
        continue;
      }
      const c = a.compare(b, j, j + 2 * n, i, i + 2 * m);
      if (c !== 0) return c;
      i += 2 * m;
      j += 2 * n;
    }
    return 0;
  }
}

/** Byte length of the encoded record at `offset` (its first u32). */
export function recordLength(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset);
}
