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

const traitsOf = (ns: NormalizedSchema): Traits => ns.getMergedTraits();

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

/** How to write one shape as XML, computed once per schema (schemas are shared and stable). */
type Plan =
  | { kind: 'struct'; members: { name: string; element: string; ns: NormalizedSchema }[] }
  | { kind: 'list'; item: string; flat: boolean; member: NormalizedSchema }
  | { kind: 'map'; value: NormalizedSchema }
  | { kind: 'scalar' };

const plans = new WeakMap<NormalizedSchema, Plan>();

function planOf(ns: NormalizedSchema): Plan {
  let plan = plans.get(ns);
  if (plan) return plan;
  if (ns.isListSchema()) {
    const member = ns.getValueSchema();
    plan = { kind: 'list', item: traitsOf(member).xmlName ?? 'member', flat: !!traitsOf(ns).xmlFlattened, member };
  } else if (ns.isMapSchema()) {
    plan = { kind: 'map', value: ns.getValueSchema() };
  } else if (ns.isStructSchema()) {
    const members: { name: string; element: string; ns: NormalizedSchema }[] = [];
    for (const [name, member] of ns.structIterator()) {
      members.push({ name, element: (member.getMemberTraits() as Traits).xmlName ?? name, ns: member });
    }
    plan = { kind: 'struct', members };
  } else {
    plan = { kind: 'scalar' };
  }
  plans.set(ns, plan);
  return plan;
}

function writeValue(ns: NormalizedSchema, value: unknown): unknown {
  if (value === undefined || value === null) return undefined;
  const plan = planOf(ns);
  switch (plan.kind) {
    case 'list': {
      if (!Array.isArray(value)) return undefined;
      const items: unknown[] = [];
      for (const v of value) {
        const w = writeValue(plan.member, v);
        if (w !== undefined) items.push(w);
      }
      if (plan.flat) return items;
      return items.length === 0 ? '' : { [plan.item]: items };
    }
    case 'map': {
      const entries = Object.entries(value as Obj).map(([k, v]) => ({ key: k, value: writeValue(plan.value, v) }));
      return entries.length ? { entry: entries } : '';
    }
    case 'struct': {
      const obj = value as Obj;
      const out: Obj = {};
      for (const m of plan.members) {
        const raw = obj[m.name];
        if (raw === undefined || raw === null) continue;
        const v = writeValue(m.ns, raw);
        if (v !== undefined) out[m.element] = v;
      }
      return out;
    }
    default:
      if (value instanceof Date) return value.toISOString();
      if (typeof value === 'boolean') return value ? 'true' : 'false';
      return String(value);
  }
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
