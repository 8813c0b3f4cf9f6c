/** A connection that can sit in a WaitingList (the links live on the connection: no allocation). */
export interface Waiter {
  prevWaiting: Waiter | null;
  nextWaiting: Waiter | null;
  waiting: boolean;
}

/**
 * Connections without a request in flight (silent, sending a head, idle between requests, or
 * closing), oldest first: at the connection cap the proxy evicts the head of the list.
 */
export class WaitingList<T extends Waiter> {
  private head: T | null = null;
  private tail: T | null = null;

  push(c: T): void {
    if (c.waiting) return;
    c.waiting = true;
    c.prevWaiting = this.tail;
    c.nextWaiting = null;
    if (this.tail !== null) this.tail.nextWaiting = c;
    else this.head = c;
    this.tail = c;
  }

  remove(c: T): void {
    if (!c.waiting) return;
    c.waiting = false;
    const p = c.prevWaiting as T | null;
    const n = c.nextWaiting as T | null;
    if (p !== null) p.nextWaiting = n;
    else this.head = n;
    if (n !== null) n.prevWaiting = p;
    else this.tail = p;
    c.prevWaiting = null;
    c.nextWaiting = null;
  }

  /** The connection that has waited longest, taken off the list. */
  shift(): T | null {
    const c = this.head;
    if (c !== null) this.remove(c);
    return c;
  }
}
