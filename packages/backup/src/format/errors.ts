/** A refused or unreadable archive; the message is the one line the operator sees. */
export class ArchiveError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*\n\s*/g, ' ').trim());
    this.name = 'ArchiveError';
  }
}
