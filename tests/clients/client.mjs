// A real GraphQL client from outside the Rust ecosystem, run against a live orgledger
// server by tests/clients.rs: graphql-js fetches the schema by introspection and validates
// (then runs) every ```graphql example of the README, and graphql-ws follows the log and
// the head by subscription while this script appends three events over HTTP.
//
// Usage: node client.mjs <http-url-of-/graphql> <clerk-token> <path-to-README.md>
// Prints a short summary and exits 0, or prints what failed and exits 1.

import { readFileSync } from 'node:fs';

import {
  buildClientSchema,
  getIntrospectionQuery,
  Kind,
  parse,
  printSchema,
  validate,
} from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

// How long the whole run may take before it gives up: a hung subscription must not hang CI.
const OVERALL_DEADLINE_MS = 120_000;
// How long to keep listening after the last expected event, so that a repeat would be seen.
const QUIET_AFTER_LAST_MS = 500;

// An expected failure of the client: its message is printed as is, without a stack.
class ClientFailure extends Error {}

function fail(message) {
  throw new ClientFailure(message);
}

const [httpUrl, token, readmePath] = process.argv.slice(2);
if (!httpUrl || !token || !readmePath) {
  console.error('usage: node client.mjs <http-url-of-/graphql> <clerk-token> <path-to-README.md>');
  process.exit(2);
}

// Sends one GraphQL request over HTTP POST, as the GraphQL-over-HTTP specification
// describes, and returns the parsed answer whatever its status (the caller judges it).
async function post(query, variables, operationName) {
  const response = await fetch(httpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables, operationName }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`POST ${httpUrl} answered ${response.status} with a body that is not JSON:\n${text}`);
  }
  return { status: response.status, body };
}

// Like `post`, but any `errors` in the answer, or a status other than 200, is a failure.
async function postExpectingData(what, query, variables, operationName) {
  const { status, body } = await post(query, variables, operationName);
  if (status !== 200 || body.errors !== undefined || body.data == null) {
    fail(`${what}: status ${status}, answer:\n${JSON.stringify(body, null, 2)}`);
  }
  return body.data;
}

// The schema as the server describes it by introspection, checked for what this script
// (and the README) relies on.
async function introspectedSchema() {
  const data = await postExpectingData('introspection', getIntrospectionQuery());
  const schema = buildClientSchema(data);
  const sdl = printSchema(schema);
  if (sdl.trim().length === 0) fail('the introspected schema prints as empty SDL');
  const fieldsOf = (type, role) => {
    if (!type) fail(`the introspected schema has no ${role} type`);
    return Object.keys(type.getFields());
  };
  const mutations = fieldsOf(schema.getMutationType(), 'mutation');
  if (!mutations.includes('append')) {
    fail(`the mutation type has no \`append\`; it has: ${mutations.join(', ')}`);
  }
  const subscriptions = fieldsOf(schema.getSubscriptionType(), 'subscription');
  for (const field of ['events', 'head']) {
    if (!subscriptions.includes(field)) {
      fail(`the subscription type has no \`${field}\`; it has: ${subscriptions.join(', ')}`);
    }
  }
  return { schema, sdlLines: sdl.split('\n').length };
}

// Every ```graphql fenced block of the README, with the line it starts on.
function readmeGraphqlBlocks() {
  const lines = readFileSync(readmePath, 'utf8').split('\n');
  const blocks = [];
  let open = null;
  lines.forEach((line, index) => {
    if (open === null) {
      if (/^\s*```graphql\s*$/.test(line)) open = { line: index + 1, text: [] };
    } else if (/^\s*```\s*$/.test(line)) {
      blocks.push({ line: open.line, text: open.text.join('\n') });
      open = null;
    } else {
      open.text.push(line);
    }
  });
  if (open !== null) fail(`${readmePath}:${open.line}: a \`\`\`graphql block is never closed`);
  if (blocks.length === 0) {
    fail(`${readmePath} has no \`\`\`graphql block: the README must show the queries it documents`);
  }
  return blocks;
}

const PLURAL = { query: 'queries', mutation: 'mutations', subscription: 'subscriptions' };

// Validates every README block against the schema, then runs each query operation over
// HTTP. Mutations and subscriptions are validated only: running the README's mutation
// would append to the ledger, and the subscriptions are exercised below.
async function checkReadmeBlocks(schema) {
  const blocks = readmeGraphqlBlocks();
  const counts = { blocks: blocks.length, queries: 0, mutations: 0, subscriptions: 0 };
  for (const block of blocks) {
    const where = `${readmePath}:${block.line}`;
    let document;
    try {
      document = parse(block.text);
    } catch (e) {
      fail(`${where}: the block does not parse: ${e.message}\n${block.text}`);
    }
    const errors = validate(schema, document);
    if (errors.length > 0) {
      fail(
        `${where}: the block does not validate against the served schema:\n` +
          errors.map((e) => `  - ${e.message}`).join('\n') +
          `\n${block.text}`,
      );
    }
    const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    for (const operation of operations) {
      counts[PLURAL[operation.operation]] += 1;
      if (operation.operation !== 'query') continue;
      // A README example is meant to be pasted into the explorer as is, so it may not
      // need variables the reader would have to supply.
      const required = (operation.variableDefinitions ?? []).filter(
        (v) => v.type.kind === Kind.NON_NULL_TYPE && v.defaultValue === undefined,
      );
      if (required.length > 0) {
        fail(
          `${where}: the query needs variables without defaults ` +
            `(${required.map((v) => '$' + v.variable.name.value).join(', ')}), so it cannot run as shown`,
        );
      }
      const name = operation.name?.value;
      const { status, body } = await post(block.text, undefined, name);
      if (status !== 200 || body.errors !== undefined || body.data == null) {
        fail(
          `${where}: the query ${name ?? '(anonymous)'} answered status ${status} with:\n` +
            `${JSON.stringify(body, null, 2)}\n${block.text}`,
        );
      }
    }
  }
  return counts;
}

// The WebSocket URL the server serves subscriptions on, next to the HTTP endpoint.
function subscriptionUrl() {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = url.pathname.replace(/\/$/, '') + '/ws';
  return url.toString();
}

// A subscription whose messages are collected as they come, with a way to wait until
// one of them satisfies a condition.
function follow(client, what, query, pick) {
  const received = [];
  let waiter = null;
  let failure = null;
  const wake = () => {
    if (waiter && (failure || waiter.until(received))) {
      const w = waiter;
      waiter = null;
      failure ? w.reject(failure) : w.resolve();
    }
  };
  const unsubscribe = client.subscribe(
    { query },
    {
      next: (message) => {
        if (message.errors !== undefined || message.data == null) {
          failure = new ClientFailure(`${what}: the subscription sent ${JSON.stringify(message)}`);
        } else {
          received.push(pick(message.data));
        }
        wake();
      },
      error: (e) => {
        failure = new ClientFailure(`${what}: the subscription failed: ${describe(e)}`);
        wake();
      },
      complete: () => {
        failure ??= new ClientFailure(`${what}: the server completed the subscription early`);
        wake();
      },
    },
  );
  return {
    received,
    unsubscribe,
    waitFor(description, until) {
      return new Promise((resolve, reject) => {
        waiter = { until, resolve, reject };
        wake();
      }).catch((e) => {
        throw e instanceof ClientFailure ? e : new ClientFailure(`${what}: ${description}: ${e}`);
      });
    },
  };
}

// What a graphql-ws error is: an Error, a CloseEvent, or the GraphQL errors of the answer.
function describe(e) {
  if (e instanceof Error) return e.message;
  if (e && typeof e.code === 'number') return `socket closed with code ${e.code} ${e.reason ?? ''}`;
  return JSON.stringify(e);
}

const APPEND = `
  mutation AppendHamlet($event: LocalityRegisteredInput!, $key: String) {
    append(events: [{ localityRegistered: $event }], idempotencyKey: $key) {
      events { seq hash }
      head { seq hash }
    }
  }`;

// Follows the log and the head by subscription from two events before the head, appends
// three hamlets over HTTP, and checks the subscription delivered every seq once, in order.
async function checkSubscriptions() {
  const before = await postExpectingData(
    'the head and a commune',
    `query HeadAndCommune {
      head { seq }
      localities(kind: COMMUNE, first: 1) { edges { node { slug name } } }
    }`,
  );
  const head = before.head.seq;
  const commune = before.localities.edges[0]?.node;
  if (!commune) fail('the ledger lists no commune to register hamlets under');
  if (head < 3) fail(`the ledger's head is ${head}; this check needs at least 3 events`);
  const fromSeq = head - 2;

  const client = createClient({
    url: subscriptionUrl(),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  try {
    const events = follow(
      client,
      `events(fromSeq: ${fromSeq})`,
      `subscription FollowFrom { events(fromSeq: ${fromSeq}) { seq type } }`,
      (data) => data.events,
    );
    const heads = follow(client, 'head', 'subscription FollowHead { head { seq } }', (data) => data.head.seq);
    // Both subscriptions are live once they have answered: the catch-up up to the head,
    // and the current head.
    await events.waitFor(`catching up to ${head}`, (r) => r.some((e) => e.seq >= head));
    await heads.waitFor('the current head', (r) => r.length > 0);

    // Unique ids per run, so reruns against the same data never collide.
    const stamp = Date.now().toString(36);
    const today = new Date().toISOString().slice(0, 10);
    const appended = [];
    for (const i of [1, 2, 3]) {
      const data = await postExpectingData(`appending hamlet ${i}`, APPEND, {
        event: {
          effective: today,
          locality: `xom-client-${stamp}-${i}`,
          name: `Xóm thử ${stamp} ${i}`,
          kind: 'HAMLET',
          parent: commune.slug,
          border: false,
        },
        key: `client-${stamp}-${i}`,
      });
      const seqs = data.append.events.map((e) => e.seq);
      if (seqs.length !== 1 || data.append.head.seq !== seqs[0]) {
        fail(`appending hamlet ${i}: unexpected answer ${JSON.stringify(data.append)}`);
      }
      appended.push(seqs[0]);
    }
    const last = appended[appended.length - 1];
    if (appended.join() !== [head + 1, head + 2, head + 3].join()) {
      fail(`the appends got seqs ${appended.join(', ')}, not ${head + 1}..${head + 3}`);
    }

    await events.waitFor(`the event ${last}`, (r) => r.some((e) => e.seq >= last));
    await heads.waitFor(`the head ${last}`, (r) => r.includes(last));
    // A repeat or an event past the last one would arrive shortly after it.
    await new Promise((resolve) => setTimeout(resolve, QUIET_AFTER_LAST_MS));
    events.unsubscribe();
    heads.unsubscribe();

    const got = events.received.map((e) => e.seq);
    const expected = Array.from({ length: last - fromSeq + 1 }, (_, i) => fromSeq + i);
    if (got.join() !== expected.join()) {
      fail(
        `the events subscription from ${fromSeq} delivered seqs [${got.join(', ')}], ` +
          `expected [${expected.join(', ')}] (no gap, no repeat, in order)`,
      );
    }
    const ours = events.received.filter((e) => appended.includes(e.seq));
    if (!ours.every((e) => e.type === 'LocalityRegistered')) {
      fail(`the appended events came back as ${JSON.stringify(ours)}`);
    }
    const headSeqs = heads.received;
    if (headSeqs[0] !== head || headSeqs.some((s, i) => i > 0 && s <= headSeqs[i - 1])) {
      fail(`the head subscription sent [${headSeqs.join(', ')}]: it must start at ${head} and only rise`);
    }
    return { commune: commune.slug, fromSeq, last, heads: headSeqs };
  } finally {
    await client.dispose();
  }
}

async function main() {
  const { schema, sdlLines } = await introspectedSchema();
  console.log(`introspection: the served schema prints as ${sdlLines} lines of SDL`);
  const counts = await checkReadmeBlocks(schema);
  console.log(
    `README: ${counts.blocks} graphql blocks validate (${counts.queries} queries run without errors, ` +
      `${counts.mutations} mutations and ${counts.subscriptions} subscriptions validated)`,
  );
  const live = await checkSubscriptions();
  // The test that runs this script checks the stopped store against this line.
  console.log(`final head: ${live.last}`);
  console.log(
    `graphql-ws: events(fromSeq: ${live.fromSeq}) delivered seqs ${live.fromSeq}..${live.last} once each, ` +
      `in order, across three appends of hamlets under ${live.commune}; head went ${live.heads.join(' -> ')}`,
  );
}

const deadline = setTimeout(() => {
  console.error(`FAILED: the client did not finish within ${OVERALL_DEADLINE_MS / 1000} s`);
  process.exit(1);
}, OVERALL_DEADLINE_MS);
deadline.unref();

try {
  await main();
  console.log('ok');
  process.exit(0);
} catch (e) {
  console.error(`FAILED: ${e instanceof ClientFailure ? e.message : (e?.stack ?? e)}`);
  process.exit(1);
}
