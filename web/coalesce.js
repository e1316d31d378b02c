// Latest-value-wins rate limiter for slider drags: at most one send per
// interval, the newest value replaces any pending one, and the trailing
// timer guarantees the final value of a drag is always sent.
export class Coalescer {
  #send;
  #interval;
  #pending = null;
  #timer = 0;
  #last = -Infinity;

  // send(value) returns false when it could not send yet (socket backed up);
  // the value is then retried one interval later unless a newer one arrives.
  constructor(send, perSecond = 30) {
    this.#send = send;
    this.#interval = Math.ceil(1000 / perSecond);
  }

  get pending() {
    return this.#pending !== null;
  }

  push(value) {
    this.#pending = value;
    if (this.#timer) return;
    const wait = this.#last + this.#interval - performance.now();
    if (wait <= 0) this.#fire();
    else this.#timer = setTimeout(() => this.#fire(), wait);
  }

  drop() {
    clearTimeout(this.#timer);
    this.#timer = 0;
    this.#pending = null;
  }

  #fire() {
    this.#timer = 0;
    if (this.#pending === null) return;
    const value = this.#pending;
    this.#last = performance.now();
    if (this.#send(value)) {
      if (this.#pending === value) this.#pending = null;
    }
    if (this.#pending !== null) {
      this.#timer = setTimeout(() => this.#fire(), this.#interval);
    }
  }
}
