// A precise "nothing arrived for N ms" timer. undici's own headersTimeout/bodyTimeout tick
// about every half second, so a 300 ms limit fires after about a second; this one fires on
// time and stays armed across the header wait and every gap between body chunks.

export const IDLE_TIMEOUT_CODE = 'ERR_IDLE_TIMEOUT';

export class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private phase = 'waiting for response headers';

  constructor(private readonly ms: number) {
    this.arm();
  }

  /** Aborts when the peer stays silent for longer than the limit. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Something arrived: restart the countdown, now for `phase`. */
  touch(phase = this.phase): void {
    this.phase = phase;
    this.arm();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const err: NodeJS.ErrnoException = new Error(`nothing received for ${this.ms} ms ${this.phase}`);
      err.code = IDLE_TIMEOUT_CODE;
      this.controller.abort(err);
    }, this.ms);
  }
}
