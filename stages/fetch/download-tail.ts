// When a web unit waits only on the network: every row has started its download (the fetch
// stage's input has ended and nothing waits in its per-host queues) and decode has caught up with
// the downloads (it asks the read-ahead queue for a row and the queue is empty). What is left of
// the unit then is requests in flight and the little CPU work on their rows, so the executor may
// start its next unit (ctx.unitTail, run/unit-pool.ts): a URL hanging among a unit's last rows
// no longer leaves the unit's place idle until it times out. Until decode has caught up, the
// unit still has CPU work queued and keeps its place, so a run keeps `run.unit_concurrency`
// units' worth of work going, not more.
export class DownloadTail {
  private allStarted = false;
  private decodeWaiting = false;

  constructor(private onTail: (() => void) | undefined) {}

  /** The fetch stage: every row has started (fetchStage's onAllStarted). */
  everyRowStarted(): void {
    this.allStarted = true;
    this.check();
  }

  /** The read-ahead queue: decode waits on it, empty (readAhead's onWaiting). */
  decodeWaits(waiting: boolean): void {
    this.decodeWaiting = waiting;
    this.check();
  }

  private check(): void {
    if (!this.allStarted || !this.decodeWaiting || !this.onTail) return;
    const onTail = this.onTail;
    this.onTail = undefined;
    onTail();
  }
}
