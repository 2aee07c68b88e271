// A streaming parser for CSV/TSV text (RFC 4180 quoting): fields may be quoted, quoted fields
// may hold delimiters, doubled quotes and line breaks. Fed in chunks, so a large list never has
// to sit in memory as one string.
//
// Leniencies, as Python's csv and pandas have them: a quote inside an unquoted field is a plain
// character; text after a closing quote is appended to the field; lines that are entirely empty
// are skipped. TSV uses the same quoting rules with a tab delimiter.

export interface DelimitedRecord {
  fields: string[];
  /** 1-based line of the file where the record starts. */
  line: number;
  /** Set when the file ended inside a quoted field: the fields are what was read. */
  error?: string;
}

export class DelimitedParser {
  private fields: string[] = [];
  private field = '';
  private inQuotes = false;
  /** The previous char was the quote closing a quoted field (or the first of a doubled pair). */
  private quoteSeen = false;
  private fieldWasQuoted = false;
  private pendingCR = false;
  private line = 1;
  private recordLine = 1;
  private atStart = true;

  constructor(private readonly delimiter: string) {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new Error(`invalid delimiter ${JSON.stringify(delimiter)}`);
    }
  }

  /** Parse a chunk; returns the records it completed. */
  push(chunk: string): DelimitedRecord[] {
    const out: DelimitedRecord[] = [];
    let i = 0;
    if (this.atStart) {
      this.atStart = false;
      if (chunk.charCodeAt(0) === 0xfeff) i = 1; // byte order mark
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i];
      const afterCR = this.pendingCR;
      this.pendingCR = c === '\r';
      if (c === '\r' || (c === '\n' && !afterCR)) this.line += 1;
      if (this.inQuotes) {
        if (this.quoteSeen) {
          this.quoteSeen = false;
          if (c === '"') {
            this.field += '"'; // doubled quote
            continue;
          }
          this.inQuotes = false; // the quote closed the field; handle c as unquoted below
        } else if (c === '"') {
          this.quoteSeen = true;
          continue;
        } else {
          this.field += c; // line breaks inside quotes are kept as they are
          continue;
        }
      }
      if (c === '\n' && afterCR) continue; // CRLF ends one record
      if (c === this.delimiter) {
        this.endField();
      } else if (c === '\n' || c === '\r') {
        this.endRecord(out);
      } else if (c === '"' && this.field === '' && !this.fieldWasQuoted) {
        this.inQuotes = true;
        this.fieldWasQuoted = true;
      } else {
        this.field += c;
      }
    }
    return out;
  }

  /** Flush the last record at end of input. */
  end(): DelimitedRecord[] {
    const out: DelimitedRecord[] = [];
    if (this.inQuotes && this.quoteSeen) {
      this.inQuotes = false; // a closing quote was the file's last char
      this.quoteSeen = false;
    }
    if (this.inQuotes) {
      this.fields.push(this.field);
      out.push({ fields: this.fields, line: this.recordLine, error: `unterminated quoted field starting on line ${this.recordLine}` });
      this.reset();
      return out;
    }
    if (this.field !== '' || this.fields.length > 0 || this.fieldWasQuoted) this.endRecord(out);
    return out;
  }

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.fieldWasQuoted = false;
  }

  private endRecord(out: DelimitedRecord[]): void {
    const blank = this.fields.length === 0 && this.field === '' && !this.fieldWasQuoted;
    this.endField();
    if (!blank) out.push({ fields: this.fields, line: this.recordLine });
    this.reset();
  }

  private reset(): void {
    this.fields = [];
    this.field = '';
    this.fieldWasQuoted = false;
    this.inQuotes = false;
    this.quoteSeen = false;
    this.recordLine = this.line;
  }
}

/** Parse a whole string (small inputs and tests). */
export function parseDelimited(text: string, delimiter: string): DelimitedRecord[] {
  const parser = new DelimitedParser(delimiter);
  return [...parser.push(text), ...parser.end()];
}

/** Records of a stream of text chunks, in order. */
export async function* delimitedRecords(chunks: AsyncIterable<string>, delimiter: string): AsyncGenerator<DelimitedRecord> {
  const parser = new DelimitedParser(delimiter);
  for await (const chunk of chunks) yield* parser.push(chunk);
  yield* parser.end();
}
