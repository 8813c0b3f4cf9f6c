/** Thrown by open() when durable data is damaged or missing and recovering would silently lose it. */
export class StorageCorruptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageCorruptionError';
  }
}

/** Rejects calls made after close(). */
export class StorageClosedError extends Error {
  constructor() {
    super('storage is closed');
    this.name = 'StorageClosedError';
  }
}
