// Progress on long work: a redrawn line on a terminal, a periodic log line otherwise.
export interface ProgressState {
  unitsDone: number;
  unitsTotal: number;
  kept: number;
  dropped: number;
}

export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly tty: boolean;

  constructor(private readonly label: string, private readonly stream: NodeJS.WriteStream | null = process.stderr, private readonly everyMs = 10_000) {
    this.tty = !!stream?.isTTY;
  }

  update(s: ProgressState, force = false): void {
    if (!this.stream) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < (this.tty ? 100 : this.everyMs)) return;
    this.lastDraw = now;
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? (s.kept + s.dropped) / secs : 0;
    const frac = s.unitsTotal ? s.unitsDone / s.unitsTotal : 1;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const line = `${this.label} [${bar}] units ${s.unitsDone}/${s.unitsTotal}  kept ${s.kept}  dropped ${s.dropped}  ${rate.toFixed(1)} samples/s  ${secs.toFixed(0)}s`;
    if (this.tty) this.stream.write(`\r${line}\x1b[K`);
    else this.stream.write(`[weft] ${line}\n`);
  }

  done(): void {
    if (this.stream && this.tty) this.stream.write('\n');
  }
}
