/** Reading the deploy files as CloudFormation and compose read them: YAML with CloudFormation's short-form tags. */
import { readFileSync } from 'node:fs';
import YAML, { type Tags } from 'yaml';

export const read = (p: string): string => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

/** `!Ref x` is `{Ref: x}`, `!GetAtt a.b` is `{"Fn::GetAtt": [a, b]}`, `!Sub s` is `{"Fn::Sub": s}` ... as CloudFormation reads them. */
function cfnTags(): Tags {
  const names = ['Base64', 'Cidr', 'Equals', 'FindInMap', 'GetAZs', 'ImportValue', 'Join', 'Select', 'Split', 'Sub', 'If', 'Not', 'And', 'Or', 'Condition', 'GetAtt', 'Ref'];
  const key = (name: string) => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`);
  const scalar = (name: string, value: string): unknown => (name === 'GetAtt' ? { [key(name)]: value.split('.', 2) } : { [key(name)]: value });
  return names.flatMap((name) => [
    { tag: `!${name}`, identify: (): boolean => false, resolve: (value: string) => scalar(name, value) },
    { tag: `!${name}`, identify: (): boolean => false, collection: 'seq' as const, resolve: (seq: YAML.YAMLSeq) => ({ [key(name)]: seq.toJSON() }) },
    { tag: `!${name}`, identify: (): boolean => false, collection: 'map' as const, resolve: (map: YAML.YAMLMap) => ({ [key(name)]: map.toJSON() }) },
  ]) as unknown as Tags;
}

export function parseTemplate(p: string): Template {
  const doc = YAML.parseDocument(read(p), { customTags: cfnTags(), uniqueKeys: true });
  if (doc.errors.length) throw new Error(`${p}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS({ maxAliasCount: 100 }) as Template;
}

/** Parsed template values are free-form JSON (what JSON.parse returns); the tests assert their shape. */
export type Json = ReturnType<typeof JSON.parse>;

export interface Resource {
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
  Properties: Record<string, Json>;
}

export interface Template {
  Parameters: Record<string, { Type: string; Default?: unknown; AllowedPattern?: string }>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
}

/** The resources of one type, by logical id. */
export function resourcesOf(t: Template, type: string): Array<[string, Resource]> {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

/** What a `!Sub` string names: `${Name}` and `${Name.Attr}` (not `${!literal}`). */
export function subNames(s: string): string[] {
  return [...s.matchAll(/\$\{(?!!)([^}]+)\}/g)].map((m) => m[1]!);
}

/** Every logical id or parameter a value refers to (Ref, GetAtt, Sub variables, Condition names of If). */
export function references(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const v of value) references(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Ref' && typeof v === 'string') out.add(v);
      else if (k === 'Fn::GetAtt' && Array.isArray(v)) out.add(String(v[0]));
      else if (k === 'Fn::Sub') {
        const [s, vars] = Array.isArray(v) ? [v[0] as string, (v[1] ?? {}) as Record<string, unknown>] : [v as string, {}];
        for (const n of subNames(s)) if (!(n in vars)) out.add(n.split('.')[0]!);
        references(vars, out);
      } else references(v, out);
    }
  }
  return out;
}
