/**
 * Wire codec driven by the AWS SDK's own schemas (the Smithy models the SDK is
 * generated from): a form body becomes the SDK-shaped input object, an SDK-
 * shaped output object becomes the XML the SDK parses back into the same
 * object. Element and parameter names therefore match AWS by construction.
 */
import { NormalizedSchema } from '@smithy/core/schema';
import type { StaticOperationSchema } from '@smithy/types';
import { XMLBuilder } from 'fast-xml-parser';
import { invalidParameter, missingParameter } from './errors.js';

/** ec2: the EC2 query flavour (flattened lists, capitalised keys); query: awsQuery (IAM). */
export type Flavor = 'ec2' | 'query';

type Obj = Record<string, unknown>;

const cap = (s: string): string => (s ? s[0]!.toUpperCase() + s.slice(1) : s);

interface Traits {
  xmlName?: string;
  ec2QueryName?: string;
  xmlFlattened?: number | boolean;
}

const traitsOf = (ns: NormalizedSchema): Traits => ns.getMergedTraits() as Traits;

/** The form parameters of one request, with every dotted prefix indexed. */
export class FormParams {
  readonly values = new Map<string, string>();
  private readonly prefixes = new Set<string>();

  constructor(params: Iterable<[string, string]>) {
    for (const [k, v] of params) {
      this.values.set(k, v);
      let i = k.indexOf('.');
      while (i !== -1) {
        this.prefixes.add(k.slice(0, i));
        i = k.indexOf('.', i + 1);
      }
    }
  }

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.values.has(key) || this.prefixes.has(key);
  }

  hasChildren(key: string): boolean {
    return this.prefixes.has(key);
  }
}

function operationParts(op: StaticOperationSchema): { input: NormalizedSchema; output: NormalizedSchema } {
  return { input: NormalizedSchema.of(op[4]), output: NormalizedSchema.of(op[5]) };
}

function requiredCount(ns: NormalizedSchema): number {
  const raw = ns.getSchema() as unknown;
  if (Array.isArray(raw) && typeof raw[6] === 'number') return raw[6];
  return 0;
}

function structKey(flavor: Flavor, name: string, t: Traits): string {
  if (flavor === 'ec2') return t.ec2QueryName ?? cap(t.xmlName ?? name);
  return t.xmlName ?? name;
}

function readScalar(ns: NormalizedSchema, raw: string, key: string): unknown {
  if (ns.isBooleanSchema()) {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    throw invalidParameter(key, `'${raw}' is not a boolean`);
  }
  if (ns.isNumericSchema() || ns.isBigIntegerSchema() || ns.isBigDecimalSchema()) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw invalidParameter(key, `'${raw}' is not a number`);
    return n;
  }
  if (ns.isTimestampSchema()) {
    const d = /^\d+(\.\d+)?$/.test(raw) ? new Date(Number(raw) * 1000) : new Date(raw);
    if (Number.isNaN(d.getTime())) throw invalidParameter(key, `'${raw}' is not a timestamp`);
    return d;
  }
  return raw;
}

function readValue(ns: NormalizedSchema, p: FormParams, key: string, flavor: Flavor): unknown {
  if (ns.isListSchema()) {
    const member = ns.getValueSchema();
    const flat = flavor === 'ec2' || !!traitsOf(ns).xmlFlattened;
    const mt = traitsOf(member);
    const out: unknown[] = [];
    if (!p.hasChildren(key)) return p.get(key) === '' ? [] : undefined;
    for (let i = 1; ; i++) {
      const k = flat ? `${key}.${i}` : `${key}.${mt.xmlName ?? 'member'}.${i}`;
      if (!p.has(k)) break;
      const v = readValue(member, p, k, flavor);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
  if (ns.isMapSchema()) {
    if (!p.hasChildren(key)) return undefined;
    const flat = !!traitsOf(ns).xmlFlattened;
    const out: Obj = {};
    for (let i = 1; ; i++) {
      const base = flat ? `${key}.${i}` : `${key}.entry.${i}`;
      const k = p.get(`${base}.key`);
      if (k === undefined) break;
      out[k] = readValue(ns.getValueSchema(), p, `${base}.value`, flavor);
    }
    return out;
  }
  if (ns.isStructSchema()) {
    if (!p.hasChildren(key)) return undefined;
    return readStruct(ns, p, `${key}.`, flavor);
  }
  const raw = p.get(key);
  if (raw === undefined) return undefined;
  return readScalar(ns, raw, key);
}

function readStruct(ns: NormalizedSchema, p: FormParams, prefix: string, flavor: Flavor): Obj {
  const out: Obj = {};
  const req = requiredCount(ns);
  let i = 0;
  for (const [name, member] of ns.structIterator()) {
    const key = prefix + structKey(flavor, name, traitsOf(member));
    const v = readValue(member, p, key, flavor);
    if (v !== undefined) out[name] = v;
    else if (i < req) throw missingParameter(key);
    i++;
  }
  return out;
}

/** The SDK-shaped input of `op` from the form parameters (MissingParameter / InvalidParameterValue name the parameter). */
export function decodeInput(op: StaticOperationSchema, params: FormParams, flavor: Flavor): Obj {
  const { input } = operationParts(op);
  if (input.isUnitSchema() || !input.isStructSchema()) return {};
  return readStruct(input, params, '', flavor);
}

function writeValue(ns: NormalizedSchema, value: unknown): unknown {
  if (value === undefined || value === null) return undefined;
  if (ns.isListSchema()) {
    if (!Array.isArray(value)) return undefined;
    const member = ns.getValueSchema();
    const items = value.map((v) => writeValue(member, v)).filter((v) => v !== undefined);
    if (traitsOf(ns).xmlFlattened) return items;
    if (items.length === 0) return '';
    return { [traitsOf(member).xmlName ?? 'member']: items };
  }
  if (ns.isMapSchema()) {
    const entries = Object.entries(value as Obj).map(([k, v]) => ({ key: k, value: writeValue(ns.getValueSchema(), v) }));
    return entries.length ? { entry: entries } : '';
  }
  if (ns.isStructSchema()) {
    const obj = value as Obj;
    const out: Obj = {};
    for (const [name, member] of ns.structIterator()) {
      const v = writeValue(member, obj[name]);
      if (v === undefined) continue;
      const el = (member.getMemberTraits() as Traits).xmlName ?? name;
      out[el] = v;
    }
    return out;
  }
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return String(value);
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', suppressEmptyNode: false, processEntities: true });

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** The XML answer of `op` for the SDK-shaped `output`. */
export function encodeOutput(op: StaticOperationSchema, output: Obj, flavor: Flavor, requestId: string, xmlns: string): string {
  const { output: ns } = operationParts(op);
  const action = op[2];
  const body = ns.isUnitSchema() ? {} : ((writeValue(ns, output) as Obj | undefined) ?? {});
  if (flavor === 'ec2') {
    const root = { '@_xmlns': xmlns, requestId, ...body };
    return XML_DECL + builder.build({ [`${action}Response`]: root });
  }
  const root: Obj = { '@_xmlns': xmlns };
  if (!ns.isUnitSchema()) root[`${action}Result`] = body;
  root.ResponseMetadata = { RequestId: requestId };
  return XML_DECL + builder.build({ [`${action}Response`]: root });
}

export function encodeError(flavor: Flavor, code: string, message: string, requestId: string): string {
  if (flavor === 'ec2') {
    return XML_DECL + builder.build({ Response: { Errors: { Error: { Code: code, Message: message } }, RequestID: requestId } });
  }
  const type = code === 'ServiceUnavailable' || code === 'InternalFailure' ? 'Receiver' : 'Sender';
  return (
    XML_DECL +
    builder.build({
      ErrorResponse: { '@_xmlns': 'https://iam.amazonaws.com/doc/2010-05-08/', Error: { Type: type, Code: code, Message: message }, RequestId: requestId },
    })
  );
}
