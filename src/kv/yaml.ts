/**
 * The small YAML subset `.kv/policy.yaml` needs: nested block mappings of
 * scalars (plain, 'single' or "double" quoted), `#` comments, and block
 * sequences of scalars. Anything else is reported with its line number.
 */
export type YamlValue = string | YamlValue[] | { [k: string]: YamlValue };

export class YamlError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'YamlError';
  }
}

interface Line {
  no: number;
  indent: number;
  text: string;
}

export function parseYaml(src: string): YamlValue {
  const lines: Line[] = [];
  src.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*(#.*)?$/.test(raw) || raw === '---') return;
    if (/^\s*\t/.test(raw)) throw new YamlError(i + 1, 'tabs are not allowed for indentation');
    const indent = raw.length - raw.trimStart().length;
    lines.push({ no: i + 1, indent, text: stripComment(raw.trim()) });
  });
  let pos = 0;
  const block = (indent: number): YamlValue => {
    const first = lines[pos];
    if (first.text.startsWith('- ') || first.text === '-') {
      const out: YamlValue[] = [];
      while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text.startsWith('- ') || lines[pos].text === '-')) {
        const l = lines[pos++];
        out.push(scalar(l.text.slice(1).trim(), l.no));
      }
      return out;
    }
    const out: Record<string, YamlValue> = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const l = lines[pos++];
      const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:#'"][^:]*?)\s*:(?:\s+(.*))?$/.exec(l.text);
      if (!m) throw new YamlError(l.no, `expected "key: value", got ${JSON.stringify(l.text)}`);
      const key = scalar(m[1], l.no) as string;
      const rest = m[2]?.trim() ?? '';
      if (rest) out[key] = scalar(rest, l.no);
      else if (pos < lines.length && lines[pos].indent > indent) out[key] = block(lines[pos].indent);
      else out[key] = '';
    }
    if (pos < lines.length && lines[pos].indent > indent) throw new YamlError(lines[pos].no, 'unexpected indentation');
    return out;
  };
  if (lines.length === 0) return {};
  const v = block(lines[0].indent);
  if (pos < lines.length) throw new YamlError(lines[pos].no, 'unexpected indentation');
  return v;
}

function stripComment(t: string): string {
  let q: string | null = null;
  for (let i = 0; i < t.length; i++) {
    const c = t[i];
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '#' && (i === 0 || /\s/.test(t[i - 1]))) return t.slice(0, i).trimEnd();
  }
  return t;
}

function scalar(t: string, no: number): YamlValue {
  if (t.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(t)) throw new YamlError(no, 'unterminated double-quoted string');
    try {
      return JSON.parse(t) as string;
    } catch {
      throw new YamlError(no, 'unsupported escape in double-quoted string');
    }
  }
  if (t.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(t)) throw new YamlError(no, 'unterminated single-quoted string');
    return t.slice(1, -1).replace(/''/g, "'");
  }
  if (/^[[{&*!|>]/.test(t)) throw new YamlError(no, `unsupported YAML syntax ${JSON.stringify(t.slice(0, 20))} (only plain mappings, lists and scalars)`);
  return t;
}
