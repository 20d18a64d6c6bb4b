/**
 * The AWS actions a program can send, derived from the code: walk the static
 * import graph from the program's entry file and collect the AWS SDK command
 * classes (`XCommand`) and paginators (`paginateX`) that each reached file
 * imports and uses, mapped to IAM actions (`service:X`).
 *
 * - File-level: a file's commands count as soon as the file is reached, even
 *   when the program only uses another of its exports (a file with CreateQueue
 *   beside GetQueueUrl gives both: setup-only calls live in shared/setup.ts, which
 *   no deployed program imports). An over-approximation, never an under-one.
 * - Static only: `import()` is not followed (the CLI loads local mode, the
 *   emulators and the simulator that way; a dispatcher never runs them), nor are
 *   `import type` and type-only specifiers (they send nothing).
 * - Libraries that send on the program's behalf: sqs-consumer's commands are read
 *   from its own ES module build; lib-storage's `Upload` and lib-dynamodb's
 *   document commands are mapped below.
 * - Implicit calls (what AWS checks although no command names it) are listed,
 *   with the reason, in scripts/iam-policy.ts (IMPLICIT).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { DYNAMODB_READS } from '../shared/aws.js';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The programs the deploy runs, by their entry file (relative to the repository). */
export const PROGRAMS = {
  dispatcher: 'services/cli/commands/dispatcher.ts',
  'status-page': 'services/cli/commands/status-page.ts',
} as const;
export type Program = keyof typeof PROGRAMS;

/**
 * Programs whose DynamoDB client is read-only (createCoreClients({ readOnlyTables:
 * true }), shared/aws.ts: it refuses any other operation before sending): of
 * the DynamoDB actions their files bring, only the reads (DYNAMODB_READS) count.
 * The status page shows what the dispatchers wrote and writes nothing; it
 * reaches the stores whose classes also write, and the file-level derivation
 * would otherwise grant those writes to a network-facing program.
 */
export const READ_ONLY_TABLES: ReadonlySet<Program> = new Set<Program>(['status-page']);

/** IAM service prefix of an `@aws-sdk/client-*` package, where it is not the package's own suffix. */
const SERVICE_PREFIX: Record<string, string> = {
  eventbridge: 'events',
  'cloudwatch-logs': 'logs',
  'secrets-manager': 'secretsmanager',
  scheduler: 'scheduler',
};

/**
 * API operations whose IAM action has another name (the service authorization
 * references: "Actions, resources, and condition keys for Amazon SQS / Amazon S3").
 * A batch API is authorized as its single action; S3 reads and writes of parts
 * are s3:GetObject / s3:PutObject.
 */
const ACTION_OF: Record<string, Record<string, string[]>> = {
  sqs: {
    SendMessageBatch: ['SendMessage'],
    DeleteMessageBatch: ['DeleteMessage'],
    ChangeMessageVisibilityBatch: ['ChangeMessageVisibility'],
  },
  s3: {
    HeadObject: ['GetObject'],
    HeadBucket: ['ListBucket'],
    ListObjects: ['ListBucket'],
    ListObjectsV2: ['ListBucket'],
    ListObjectVersions: ['ListBucketVersions'],
    DeleteObjects: ['DeleteObject'],
    CreateMultipartUpload: ['PutObject'],
    UploadPart: ['PutObject'],
    CompleteMultipartUpload: ['PutObject'],
    CopyObject: ['GetObject', 'PutObject'],
    UploadPartCopy: ['GetObject', 'PutObject'],
    ListMultipartUploads: ['ListBucketMultipartUploads'],
    ListParts: ['ListMultipartUploadParts'],
  },
};

/** lib-dynamodb's document commands: the DynamoDB operation each one sends. */
const LIB_DYNAMODB: Record<string, string> = {
  GetCommand: 'GetItem',
  PutCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  QueryCommand: 'Query',
  ScanCommand: 'Scan',
  BatchGetCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  TransactGetCommand: 'TransactGetItems',
  TransactWriteCommand: 'TransactWriteItems',
  ExecuteStatementCommand: 'PartiQLSelect',
  paginateQuery: 'Query',
  paginateScan: 'Scan',
};

/** lib-storage's Upload: one PutObject, or a multipart upload (create, parts, complete; abort when a part fails). */
const LIB_STORAGE: Record<string, string[]> = {
  Upload: ['s3:PutObject', 's3:AbortMultipartUpload'],
};

/** Libraries that send commands themselves: their commands are read from their ES module build. */
const SENDING_LIBRARIES = new Set(['sqs-consumer']);

/** `service:Action` for an operation of an `@aws-sdk/client-*` package. */
export function iamActions(pkg: string, operation: string): string[] {
  const suffix = pkg.replace(/^@aws-sdk\/client-/, '');
  const service = SERVICE_PREFIX[suffix] ?? suffix;
  return (ACTION_OF[service]?.[operation] ?? [operation]).map((a) => `${service}:${a}`);
}

function operationOf(name: string): string | undefined {
  return /^(\w+)Command$/.exec(name)?.[1] ?? /^paginate(\w+)$/.exec(name)?.[1];
}

interface Found {
  /** IAM action -> the files that make the program send it. */
  actions: Map<string, Set<string>>;
  /** Every reached file (relative). */
  files: string[];
}

function add(found: Found, action: string, file: string): void {
  let from = found.actions.get(action);
  if (!from) found.actions.set(action, (from = new Set()));
  from.add(file);
}

/** The identifiers a file uses besides its imports. */
function usedIdentifiers(sf: ts.SourceFile): Set<string> {
  const used = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) return;
    if (ts.isIdentifier(node)) used.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return used;
}

interface ImportOf {
  spec: string;
  /** Value (not type-only) names it imports or re-exports; '*' for a namespace or `export *`. */
  names: string[];
}

function importsOf(sf: ts.SourceFile): ImportOf[] {
  const out: ImportOf[] = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const clause = st.importClause;
      if (clause?.isTypeOnly) continue;
      const names: string[] = [];
      if (!clause) names.push('*'); // import 'x' (side effects)
      if (clause?.name) names.push('default');
      const nb = clause?.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) names.push('*');
      if (nb && ts.isNamedImports(nb)) for (const el of nb.elements) if (!el.isTypeOnly) names.push((el.propertyName ?? el.name).text);
      // An import whose every name is type-only still loads the module (without verbatimModuleSyntax it is elided; count it: over, never under).
      out.push({ spec: st.moduleSpecifier.text, names });
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) && !st.isTypeOnly) {
      const names = st.exportClause && ts.isNamedExports(st.exportClause) ? st.exportClause.elements.filter((e) => !e.isTypeOnly).map((e) => (e.propertyName ?? e.name).text) : ['*'];
      out.push({ spec: st.moduleSpecifier.text, names });
    }
  }
  return out;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

/** A relative specifier of a TypeScript file (`./x.js` is `./x.ts` on disk). */
function resolveRelative(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** A package's ES module entry point (package.json exports["."].import, module or main), as the dispatcher's Node loads it. */
function esmEntry(pkg: string): string {
  const root = path.join(ROOT, 'node_modules', pkg);
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports?: Record<string, unknown>; module?: string; main?: string };
  const dot = manifest.exports?.['.'] as { import?: string | { default?: string } } | undefined;
  const entry = (typeof dot?.import === 'string' ? dot.import : dot?.import?.default) ?? manifest.module ?? manifest.main ?? 'index.js';
  return path.join(root, entry);
}

/** The `@aws-sdk/client-*` commands a sending library's ES module build imports (its dist files, not followed further). */
function libraryActions(pkg: string): string[] {
  const dir = path.dirname(esmEntry(pkg));
  const actions: string[] = [];
  for (const name of existsSync(dir) ? ts.sys.readDirectory(dir, ['.js']) : []) {
    for (const imp of importsOf(parse(name))) {
      if (!imp.spec.startsWith('@aws-sdk/client-')) continue;
      for (const n of imp.names) {
        const op = operationOf(n);
        if (op) actions.push(...iamActions(imp.spec, op));
      }
    }
  }
  if (actions.length === 0) throw new Error(`${pkg}: found no AWS commands in ${dir} (its build changed: update scripts/iam-actions.ts)`);
  return actions;
}

/** The IAM actions the program that starts at `entry` (absolute, or relative to the repository) can send, and the files behind each. */
export function deriveActions(entry: string): Found {
  const found: Found = { actions: new Map(), files: [] };
  const seen = new Set<string>();
  const queue = [path.resolve(ROOT, entry)];
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = path.relative(ROOT, file);
    found.files.push(rel);
    const sf = parse(file);
    const used = usedIdentifiers(sf);
    for (const imp of importsOf(sf)) {
      if (imp.spec.startsWith('.')) {
        const target = resolveRelative(file, imp.spec);
        if (target) queue.push(target);
        continue;
      }
      const isUsed = (n: string): boolean => n !== '*' && used.has(n);
      if (imp.spec.startsWith('@aws-sdk/client-')) {
        for (const n of imp.names.filter(isUsed)) {
          const op = operationOf(n);
          if (op) for (const a of iamActions(imp.spec, op)) add(found, a, rel);
        }
      } else if (imp.spec === '@aws-sdk/lib-dynamodb') {
        for (const n of imp.names.filter(isUsed)) if (LIB_DYNAMODB[n]) add(found, `dynamodb:${LIB_DYNAMODB[n]}`, rel);
      } else if (imp.spec === '@aws-sdk/lib-storage') {
        for (const n of imp.names.filter(isUsed)) for (const a of LIB_STORAGE[n] ?? []) add(found, a, rel);
      } else if (SENDING_LIBRARIES.has(imp.spec) && imp.names.some(isUsed)) {
        for (const a of libraryActions(imp.spec)) add(found, a, `${rel} (${imp.spec})`);
      }
    }
  }
  found.files.sort();
  return found;
}

/** The sorted IAM actions of a program. */
export function programActions(program: Program): string[] {
  let actions = derived.get(program);
  if (!actions) {
    actions = [...deriveActions(PROGRAMS[program]).actions.keys()].sort();
    if (READ_ONLY_TABLES.has(program)) actions = actions.filter((a) => !a.startsWith('dynamodb:') || DYNAMODB_READS.includes(a.slice('dynamodb:'.length)));
    derived.set(program, actions);
  }
  return [...actions];
}
/** Per process: the code does not change while a test or the generator runs. */
const derived = new Map<Program, string[]>();
