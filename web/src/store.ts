// A value that can be watched. The app's shared state (signed-in user, balances, markets,
// open orders) lives in a few of these; views subscribe and re-render their part.

export class Store<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(private current: T) {}

  get value(): T {
    return this.current;
  }

  set(value: T): void {
    this.current = value;
    for (const fn of [...this.listeners]) fn(value);
  }

  update(fn: (value: T) => T): void {
    this.set(fn(this.current));
  }

  /** Calls `fn` now and on every change; returns the unsubscribe function. */
  watch(fn: (value: T) => void): () => void {
    this.listeners.add(fn);
    fn(this.current);
    return () => this.listeners.delete(fn);
  }
}

/** Coalesce bursts of updates into one call per animation frame (or timeout when hidden). */
export function frameThrottle(fn: () => void): () => void {
  let queued = false;
  const run = () => {
    queued = false;
    fn();
  };
  return () => {
    if (queued) return;
    queued = true;
    if (typeof requestAnimationFrame === "function" && typeof document !== "undefined" && !document.hidden) {
      requestAnimationFrame(run);
    } else {
      setTimeout(run, 100);
    }
  };
}
