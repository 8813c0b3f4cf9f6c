// STUB (seam): kv.ndjson.gz, owned by the format helper.

export interface KvPair {
  key: string;
  value: string;
}

/** gzip (level 9) of one `{"key","value"}\n` per pair, sorted by key (UTF-8 bytes). */
export async function encodeKvNdjsonGz(_pairs: KvPair[]): Promise<Buffer> {
  throw new Error('not implemented');
}

/** Parses and checks (sorted, unique); throws ArchiveError. */
export async function decodeKvNdjsonGz(_data: Buffer): Promise<KvPair[]> {
  throw new Error('not implemented');
}
