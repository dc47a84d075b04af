// One stream's writes, one at a time in this process, so that positions become visible in the
// order they were allocated: once `position()` says P, every change up to P is committed, and a
// reader that saw P never later finds a change below it. (Several processes writing to one
// PostgreSQL database would need more than this.)
export class OrderedStream {
  private current = 0;
  private loaded: Promise<void> | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  /** `highWater` reads the highest position handed out so far from the database. */
  constructor(private readonly highWater: () => Promise<number>) {}

  /** The position up to which every change is committed. */
  async position(): Promise<number> {
    await this.load();
    return this.current;
  }

  /** Waits for the writes queued so far, then answers `position()`. */
  async settledPosition(): Promise<number> {
    await this.tail;
    return this.position();
  }

  /** Runs `write` after every write queued before it; `write` returns the last position it used (0 for none). */
  write<T extends { position: number }>(write: () => Promise<T>): Promise<T> {
    const run = async () => {
      await this.load();
      const result = await write();
      if (result.position > this.current) this.current = result.position;
      return result;
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private load(): Promise<void> {
    this.loaded ??= this.highWater().then((p) => { if (p > this.current) this.current = p; }, (err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }
}
