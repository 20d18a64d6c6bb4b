/**
 * HTML that escapes by default: `html` is a tagged template whose every
 * interpolation is escaped unless it is already Html (made by `html` itself
 * or, for the few trusted constants, by `trusted`). Arrays are joined; null,
 * undefined and false render as nothing. Used by the status page (services/status)
 * and the cost report's HTML (services/ledger/html.ts).
 */

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text made safe for element content and for quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ENTITIES[c]!);
}

export type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => (out += render(v) + strings[i + 1]!));
  return new Html(out);
}

/** A constant the code itself wrote (never data): passed through unescaped. */
export function trusted(text: string): Html {
  return new Html(text);
}
