/**
 * Just enough of an XML reader for the chart tests: the elements of a
 * document (name and attributes, entities decoded), checking on the way that
 * every tag is closed in order (so a string that broke out of escaping fails).
 */
export interface Element {
  name: string;
  attrs: Record<string, string>;
}

const decode = (s: string) =>
  s.replace(/&(lt|gt|amp|quot|#39|#96);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', '#39': "'", '#96': '`' })[e]!);

export function elements(xml: string): Element[] {
  const out: Element[] = [];
  const open: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = tag.exec(xml))) {
    const between = xml.slice(last, m.index);
    if (between.includes('<') || between.includes('>')) throw new Error(`not well formed near ${JSON.stringify(xml.slice(last, m.index + 20).slice(0, 120))}`);
    last = tag.lastIndex;
    const [, close, name, attrText, self] = m;
    if (close) {
      if (open.pop() !== name) throw new Error(`</${name}> closes nothing open`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]!] = decode(a[2]!);
    out.push({ name: name!, attrs });
    if (!self) open.push(name!);
  }
  if (/[<>]/.test(xml.slice(last))) throw new Error('not well formed at the end');
  if (open.length) throw new Error(`unclosed: ${open.join(', ')}`);
  return out;
}

/** Elements named `name` whose class list has `cls`. */
export const byClass = (els: Element[], name: string, cls: string) => els.filter((e) => e.name === name && (e.attrs.class ?? '').split(/\s+/).includes(cls));

/** The points of a path made of M/L commands. */
export const pathPoints = (d: string) => [...d.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
