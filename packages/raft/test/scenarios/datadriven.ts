// The file format of cockroachdb/datadriven, as etcd-io/raft's testdata uses it:
//
//   # comment
//   command arg key=val key=(a,b)
//   optional input lines
//   ----
//   expected output
//   <blank line>
//
// Output that itself contains a blank line is fenced by a doubled separator ("----\n----" before
// and after it). Parsing keeps comments and blank lines verbatim so a rewrite changes only outputs.

export interface CmdArg {
  key: string;
  vals: string[];
}

export interface TestCase {
  /** 1-based line of the command, for error messages. */
  line: number;
  cmd: string;
  args: CmdArg[];
  /** The command line as written. */
  cmdLine: string;
  input: string;
  expected: string;
}

export type Chunk = { kind: 'text'; text: string } | { kind: 'case'; tc: TestCase };

const SEP = '----';

export function parseCommandLine(line: string): { cmd: string; args: CmdArg[] } {
  const tokens = line.match(/[^\s=]+=\([^)]*\)|\S+/g) ?? [];
  const [cmd = '', ...rest] = tokens;
  const args = rest.map((tok): CmdArg => {
    const eq = tok.indexOf('=');
    if (eq < 0) return { key: tok, vals: [] };
    const key = tok.slice(0, eq);
    let val = tok.slice(eq + 1);
    if (val.startsWith('(') && val.endsWith(')')) {
      val = val.slice(1, -1);
      return { key, vals: val.split(/[\s,]+/).filter((v) => v !== '') };
    }
    return { key, vals: [val] };
  });
  return { cmd, args };
}

export function parseFile(text: string, name: string): Chunk[] {
  const lines = text.split('\n');
  const chunks: Chunk[] = [];
  let i = 0;
  const pushText = (t: string) => {
    const last = chunks[chunks.length - 1];
    if (last?.kind === 'text') last.text += t;
    else chunks.push({ kind: 'text', text: t });
  };
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) {
      // The split leaves a final empty string for a file ending in "\n": not a line of its own.
      if (!(i === lines.length - 1 && line === '')) pushText(`${line}\n`);
      i++;
      continue;
    }
    const start = i;
    const input: string[] = [];
    i++;
    while (i < lines.length && lines[i] !== SEP) input.push(lines[i++]);
    if (i >= lines.length) throw new Error(`${name}:${start + 1}: command without "${SEP}"`);
    i++;
    const out: string[] = [];
    if (lines[i] === SEP) {
      i++;
      while (i < lines.length && !(lines[i] === SEP && lines[i + 1] === SEP)) out.push(lines[i++]);
      if (i >= lines.length) throw new Error(`${name}:${start + 1}: unterminated "${SEP}" block`);
      i += 2;
    } else {
      while (i < lines.length && lines[i].trim() !== '') out.push(lines[i++]);
    }
    // The blank line that ends a case belongs to it: formatCase writes it back.
    if (i < lines.length && lines[i].trim() === '') i++;
    const { cmd, args } = parseCommandLine(line);
    chunks.push({
      kind: 'case',
      tc: { line: start + 1, cmd, args, cmdLine: line, input: input.join('\n'), expected: out.join('\n') },
    });
  }
  return chunks;
}

export function formatCase(tc: TestCase, output: string): string {
  const head = tc.input === '' ? `${tc.cmdLine}\n` : `${tc.cmdLine}\n${tc.input}\n`;
  if (output.split('\n').some((l) => l.trim() === '')) {
    return `${head}${SEP}\n${SEP}\n${output}\n${SEP}\n${SEP}\n\n`;
  }
  return `${head}${SEP}\n${output}\n\n`;
}

/** The file with every case's output replaced; ends with exactly one newline. */
export function formatFile(chunks: Chunk[], outputs: Map<TestCase, string>): string {
  let s = '';
  for (const c of chunks) {
    s += c.kind === 'text' ? c.text : formatCase(c.tc, outputs.get(c.tc) ?? c.tc.expected);
  }
  return `${s.replace(/\n+$/, '')}\n`;
}
