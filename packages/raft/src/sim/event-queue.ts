// A deterministic timer queue for the simulator's fake clock: events at the same time run in
// the order they were scheduled, so a seed fully determines a run.

interface Scheduled {
  time: number;
  seq: number;
  fn: () => void;
}

export class EventQueue {
  now = 0;
  private heap: Scheduled[] = [];
  private seq = 0;

  at(time: number, fn: () => void): void {
    this.push({ time: Math.max(time, this.now), seq: this.seq++, fn });
  }

  after(delay: number, fn: () => void): void {
    this.at(this.now + delay, fn);
  }

  get size(): number {
    return this.heap.length;
  }

  /** Runs the next event; false when none is left. */
  runNext(): boolean {
    const ev = this.pop();
    if (!ev) return false;
    this.now = ev.time;
    ev.fn();
    return true;
  }

  private less(a: Scheduled, b: Scheduled): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private push(ev: Scheduled): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Scheduled | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
