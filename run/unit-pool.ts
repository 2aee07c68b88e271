// Which units run when, in one process. `places` units run at once. A unit gives its place up
// early, at its tail (`leaveEarly`): when it waits only on work outside this process (the web
// pipeline says so once every row is downloading and decode has caught up), or, at the latest,
// when its last row is out and only its finishing remains (shards flushed, hashed, renamed, the
// commit). The next unit starts then, so neither a URL hanging among a unit's last rows nor a
// slow commit leaves a place idle until it is over. At most `maxTails` units are in their tail at once; beyond that a place waits for a
// tail to end, which bounds what the tails hold (their in-flight rows, reorder and shard buffers).
//
// Each unit still commits on its own, atomically, whatever the order they end in; an abort
// starts nothing new, and what runs settles (its own unit decides what is committed).

export interface UnitPoolOptions {
  /** Units running and not yet in their tail. */
  places: number;
  /** Units in their tail (given their place up, not finished) at once. */
  maxTails: number;
  signal: AbortSignal;
}

/**
 * Runs `run` for each unit in order, `places` at a time, with early hand-over as above. `run`
 * returns false to start no further units (the run was interrupted in it); an error it throws
 * rejects the pool after the running units settle, so callers catch per unit.
 */
export async function runUnitPool<U>(units: readonly U[], options: UnitPoolOptions, run: (unit: U, leaveEarly: () => void) => Promise<boolean>): Promise<void> {
  const places = Math.max(1, options.places);
  const maxTails = Math.max(0, options.maxTails);
  let next = 0;
  let running = 0;
  let tails = 0;
  let stopped = false;
  let failure: { error: unknown } | undefined;
  let resolveAll!: () => void;
  const allDone = new Promise<void>((resolve) => (resolveAll = resolve));

  const fill = () => {
    while (!stopped && !options.signal.aborted && !failure && next < units.length && running < places && running + tails < places + maxTails) {
      start(units[next++]);
    }
    if (running === 0 && tails === 0) resolveAll();
  };

  const start = (unit: U) => {
    running++;
    let inTail = false;
    const leaveEarly = () => {
      if (inTail) return;
      inTail = true;
      running--;
      tails++;
      fill();
    };
    run(unit, leaveEarly).then(
      (goOn) => {
        if (!goOn) stopped = true;
      },
      (error: unknown) => {
        failure ??= { error };
      },
    ).finally(() => {
      if (inTail) tails--;
      else running--;
      fill();
    });
  };

  fill();
  await allDone;
  if (failure) throw failure.error;
}
