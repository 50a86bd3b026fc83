// Drives Debian's headless Chromium through the server's dashboard and GraphiQL, on the demo
// ledger: run by tests/browser.rs, which starts `orgledger serve --demo` and passes:
//
//   BASE       the server's origin (http://127.0.0.1:PORT, or https:// over TLS)
//   DASHBOARD  the link `serve --demo` printed (BASE/#token=<reader token>)
//   CLERK      the demo's clerk token, to append events while the pages watch
//   SHOTS      where the screenshots go (under target/)
//   CHROMIUM   the browser (/usr/bin/chromium)
//   MODE       `full`, or `tls` for the shorter run over HTTPS and WSS
//
// Every check prints a line; the first failure ends the run with status 1. The run gives up by
// itself after five minutes.
import { chromium } from 'playwright-core';
import { readFile, mkdir } from 'node:fs/promises';

const { BASE, DASHBOARD, CLERK, SHOTS, CHROMIUM, MODE } = process.env;
const TLS = MODE === 'tls';
const origin = new URL(BASE);
setTimeout(() => fail('the browser run took more than five minutes'), 300_000).unref();

function fail(message) {
  console.error('FAILED: ' + message);
  process.exit(1);
}
function check(ok, message, detail) {
  if (!ok) fail(message + (detail === undefined ? '' : ': ' + JSON.stringify(detail)));
  console.log('ok: ' + message);
}

// The server's own answers, from Node: what the page must agree with. Over TLS, Node trusts
// the test's own CA (NODE_EXTRA_CA_CERTS, set by tests/browser.rs); Chromium is told to accept
// the certificate (`ignoreHTTPSErrors`), as a person would after checking it.
async function graphql(token, query, variables = {}) {
  const response = await fetch(new URL('/graphql', BASE), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) fail('the server refused ' + query + ': ' + JSON.stringify(body.errors));
  return body.data;
}

// Registers a hamlet with the clerk token, as an office would while the pages watch (the TLS
// run, on the same ledger, registers its own); the new head.
async function appendHamlet(effective, locality, name, key) {
  const suffix = TLS ? '-tls' : '';
  const data = await graphql(
    CLERK,
    `mutation ($e: Date!, $l: String!, $n: String!, $key: String) {
      append(events: [{ localityRegistered: { effective: $e, locality: $l, name: $n, kind: HAMLET, parent: "xa-dam-thuy", border: false } }],
             idempotencyKey: $key) { head { seq } } }`,
    { e: effective, l: locality + suffix, n: name, key: key + suffix }
  );
  return data.append.head.seq;
}

const reader = decodeURIComponent(new URL(DASHBOARD).hash.replace(/^#token=/, ''));
check(reader.startsWith('olt_'), 'the dashboard link carries a reader token in its fragment', DASHBOARD);

// Chromium runs on the machine's own clock: CI's second pass moves the clock of the tests and
// what they start with libfaketime (LD_PRELOAD), under which Chromium hangs; the clock that
// matters is the server's.
const browserEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD' && !k.startsWith('FAKETIME'))
);
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  env: browserEnv,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
await mkdir(SHOTS, { recursive: true });

// Every page is watched: console errors, uncaught exceptions, and requests to any host but
// the server.
const problems = [];
function watch(page, name) {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: uncaught: ${e.message}`));
  page.on('request', (r) => {
    const url = new URL(r.url());
    const local = url.host === origin.host && ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol);
    if (!local && url.protocol !== 'data:' && url.protocol !== 'blob:') problems.push(`${name}: a request to ${r.url()}`);
  });
  page.on('websocket', (ws) => {
    if (new URL(ws.url()).host !== origin.host) problems.push(`${name}: a WebSocket to ${ws.url()}`);
  });
}
function noProblems(what) {
  check(problems.length === 0, `${what}: no console error, no uncaught exception, no request elsewhere`, problems);
}

const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: TLS });
const page = await context.newPage();
watch(page, 'dashboard');

// ---- the dashboard, opened from the link `serve --demo` printed ----

await page.goto(DASHBOARD);
await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120_000 });
check((await page.evaluate(() => location.hash)) === '', 'the token is taken out of the address bar');
check(
  (await page.evaluate(() => localStorage.getItem('orgledger.token'))) === reader,
  'the page keeps the token of the link'
);
const head = (await graphql(reader, '{ head { seq } }')).head.seq;
check((await page.textContent('#head')).includes(String(head)), 'the header shows the head', head);
await page.screenshot({ path: `${SHOTS}/dashboard${TLS ? '-tls' : ''}.png`, fullPage: true });

// Moves a slider as a person would (its value, then the `input` event it fires), and waits
// until the page has drawn that point.
async function moveTo(date, seq) {
  await page.evaluate(
    ([date, seq]) => {
      const d = document.getElementById('date');
      const i = window.dashboard.state.monthEnds.indexOf(date);
      if (i < 0) throw new Error('no month end ' + date + ' on the date slider');
      d.value = String(i);
      d.dispatchEvent(new Event('input', { bubbles: true }));
      const s = document.getElementById('seq');
      s.value = String(seq);
      s.dispatchEvent(new Event('input', { bubbles: true }));
    },
    [date, seq]
  );
  try {
    await page.waitForFunction((want) => document.body.dataset.rendered === want && document.body.dataset.state === 'ready', `${date}|${seq}`, {
      timeout: 60_000,
    });
  } catch (e) {
    const why = await page.evaluate(() => [document.body.dataset.state, document.body.dataset.rendered, document.getElementById('status').textContent]);
    fail(`the page did not draw ${date} at seq ${seq}: ${JSON.stringify(why)}`);
  }
}

// What the coverage chart plots at the chosen date: its legend, label by label.
async function plotted(chart) {
  return page.evaluate((chart) => {
    const u = window.dashboard.charts[chart];
    const out = {};
    u.root.querySelectorAll('.u-legend .u-series').forEach((row) => {
      const label = row.querySelector('.u-label').textContent.trim();
      out[label] = row.querySelector('.u-value').textContent.trim();
    });
    return out;
  }, chart);
}

// What the communes grid shows: hamlets without a member (red and orange squares), and
// without a cell (red and blue).
async function grid() {
  return page.evaluate(() => {
    const count = (sel) => document.querySelectorAll('#communes ' + sel).length;
    return {
      localities: count('.hamlets i'),
      withoutMember: count('.hamlets i.none') + count('.hamlets i.cell'),
      withoutCell: count('.hamlets i.none') + count('.hamlets i.member'),
      date: document.getElementById('communes-date').textContent,
    };
  });
}

async function agrees(date, seq) {
  await moveTo(date, seq);
  const report = (
    await graphql(reader, 'query ($d: Date, $s: Int) { coverage(date: $d, seq: $s) { localities withMember withCell } }', {
      d: date,
      s: seq,
    })
  ).coverage;
  const legend = await plotted('coverage');
  check(legend['Month'] === date.slice(0, 7), `the chart's legend is at ${date}`, legend);
  const fromChart = {
    localities: Number(legend['Hamlets']),
    withoutMember: Number(legend['Hamlets']) - Number(legend['With a member']),
    withoutCell: Number(legend['Hamlets']) - Number(legend['With a cell']),
  };
  const fromReport = {
    localities: report.localities,
    withoutMember: report.localities - report.withMember,
    withoutCell: report.localities - report.withCell,
  };
  check(
    JSON.stringify(fromChart) === JSON.stringify(fromReport),
    `the chart plots the coverage report on ${date} at seq ${seq}`,
    { fromChart, fromReport }
  );
  const g = await grid();
  check(
    g.date === date && g.localities === report.localities && g.withoutMember === fromReport.withoutMember && g.withoutCell === fromReport.withoutCell,
    `the communes show the coverage report on ${date} at seq ${seq}`,
    { g, fromReport }
  );
  return fromReport;
}

// The article's milestones, read off the page and checked against the reports.
const dec2007 = await agrees('2007-12-31', head);
const dec2008 = await agrees('2008-12-31', head);
const dec2012 = await agrees('2012-12-31', head);
const sep2013 = await agrees('2013-09-30', head);
check(dec2007.withoutMember === 8 && dec2008.withoutMember === 0, 'F1: 8 hamlets without a member at the end of 2007, none a year later', [dec2007, dec2008]);
check(dec2012.withoutCell === 11 && sep2013.withoutCell === 0, 'F2: 11 hamlets without a cell at the end of 2012, none in September 2013', [dec2012, sep2013]);

if (!TLS) {
  // Transaction time: the ledger as it stood a fifth of the way in knew fewer members.
  const early = Math.floor(head / 5);
  const then = await agrees('2008-12-31', early);
  check((await page.textContent('#seq-value')).includes(String(early)), 'the seq slider shows the chosen event', early);
  check(then.withoutMember !== dec2008.withoutMember, 'the page follows the seq slider: the ledger said otherwise then', [then, dec2008]);

  // F5 on the standardization chart: 76 below standard at the start, none at the end.
  await moveTo('2012-01-31', head);
  const start = await plotted('standardization');
  await moveTo('2015-12-31', head);
  const end = await plotted('standardization');
  const report = (await graphql(reader, '{ s: standardization(programme: "03-da-tu", date: "2012-01-31") { belowStandard } e: standardization(programme: "03-da-tu", date: "2015-12-31") { belowStandard standardized retiredUnderPolicy } }'));
  check(
    Number(start['Below standard']) === report.s.belowStandard && Number(end['Below standard']) === 0 && Number(end['Standardized']) === report.e.standardized && Number(end['Retired under policy']) === report.e.retiredUnderPolicy,
    'F5: the standardization chart plots the report, down to none below standard',
    { start, end, report }
  );

  // F4 on the admissions chart: the year of the chosen date, by sex.
  const adm = await plotted('admissions');
  const year = (await graphql(reader, '{ admissions(fromYear: 2015, toYear: 2015) { years { year female male admitted } } }')).admissions.years[0];
  check(
    Number(adm['Women']) === year.female && Number(adm['Men']) === year.male && Number(adm['In all']) === year.admitted && year.admitted >= 150,
    'F4: the admissions chart plots the report for 2015',
    { adm, year }
  );

  // The CSV download: the coverage report on the chosen date, as `report --format csv`.
  await moveTo('2008-12-31', head);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('button[data-report="coverage"]')]);
  check(download.suggestedFilename() === `coverage-2008-12-31-seq${head}.csv`, 'the download is named for its report, date and seq', download.suggestedFilename());
  const csv = await readFile(await download.path(), 'utf8');
  const [header, row] = csv.split('\n');
  const cols = header.split(',');
  const cells = row.split(',');
  check(cols[0] === 'table' && cells[0] === 'coverage', 'the download is the coverage report as CSV', header);
  check(
    Number(cells[cols.indexOf('localities')]) === dec2008.localities && Number(cells[cols.indexOf('with_member')]) === dec2008.localities - dec2008.withoutMember,
    'the CSV holds the report on the chosen date',
    { header, row }
  );
}

// The live tail: an event appended now reaches the page by subscription, and moves the head.
const appended = await appendHamlet('2016-02-01', 'xom-tu-trinh', 'Tu Trình', 'browser-test');
await page.waitForFunction((seq) => document.querySelector('#tail li')?.dataset.seq === String(seq), appended, { timeout: 60_000 });
check(true, `the live tail shows event ${appended} once it is appended`);
await page.waitForFunction((seq) => document.getElementById('head').textContent.includes(String(seq)), appended);
check(Number(await page.getAttribute('#seq', 'max')) === appended, 'the seq slider reaches the new head');
noProblems('the dashboard');

// ---- GraphiQL, with its token field ----

// A new browser profile: nothing kept; the token is typed into the field.
const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: TLS });
const gq = await fresh.newPage();
watch(gq, 'graphiql');
await gq.goto(new URL('/graphql', BASE).href);
await gq.waitForSelector('.graphiql-container', { timeout: 60_000 });
// Without a token this server refuses GraphiQL's schema request (401), which Chromium logs as
// a failed load: expected here, and nothing else.
await gq.waitForTimeout(1000);
const refused = problems.splice(0);
check(
  refused.every((p) => p.includes('status of 401')),
  'GraphiQL without a token: only the refused schema request',
  refused
);
await gq.fill('#token', reader);
await gq.dispatchEvent('#token', 'change');
await gq.waitForSelector('.graphiql-container', { timeout: 60_000 });
const tabs = await gq.$$eval('.graphiql-tab', (els) => els.map((e) => e.textContent.trim()));
for (const f of ['F1', 'F2', 'F3', 'F4', 'F5', 'F6', 'F7', 'F8']) {
  check(tabs.some((t) => t.startsWith(f + '_')), `GraphiQL opens the article's question ${f} as a tab`, tabs);
}

// The text of GraphiQL's answer pane.
const answer = () => gq.evaluate(() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() || '');

// Waits until the answer pane holds `text`; on failure, says what it holds.
async function waitAnswer(text, what) {
  try {
    await gq.waitForFunction(
      (text) => (document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() || '').includes(text),
      text,
      { timeout: 60_000 }
    );
  } catch (e) {
    await gq.screenshot({ path: `${SHOTS}/graphiql-failed.png` });
    fail(`${what}: GraphiQL's answer never held ${text}; it holds ${JSON.stringify(await answer())}`);
  }
}

async function run(tabPrefix) {
  await gq.click(`.graphiql-tab:has-text("${tabPrefix}")`);
  await gq.click('.graphiql-execute-button');
}

await run('F1_');
await waitAnswer('"after"', 'F1');
const f1 = JSON.parse(await answer());
check(
  f1.data && f1.data.before.withoutMember.length === 8 && f1.data.after.withoutMember.length === 0,
  'GraphiQL runs F1 with the token of its field',
  f1
);
await gq.screenshot({ path: `${SHOTS}/graphiql${TLS ? '-tls' : ''}.png` });

// A subscription over /graphql/ws: the log from seq 39730, then an event appended now.
await run('FollowTheLog');
await waitAnswer('"seq"', 'the subscription');
const next = await appendHamlet('2016-02-02', 'xom-ban-giang', 'Bản Giàng', 'browser-test-subscription');
await waitAnswer(`"seq": ${next}`, 'the subscription');
check(true, `GraphiQL's subscription shows event ${next} once it is appended`);

if (!TLS) {
  // Every ready example answers without an error (the subscription aside).
  const examples = await gq.evaluate(async () => {
    const out = [];
    for (const e of window.orgledgerExamples) {
      if (/^\s*subscription/m.test(e.query.replace(/^#.*$/gm, ''))) continue;
      const name = /(?:query|mutation)\s+(\w+)/.exec(e.query)[1];
      try {
        await window.orgledger.query(e.query, e.variables ? JSON.parse(e.variables) : {});
        out.push([name, 'ok']);
      } catch (err) {
        out.push([name, err.message]);
      }
    }
    return out;
  });
  check(examples.length === 8 && examples.every(([, r]) => r === 'ok'), 'every example of GraphiQL answers without an error', examples);
}
noProblems('GraphiQL');

await browser.close();
console.log('all checks passed');
