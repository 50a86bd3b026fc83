// The dashboard at `/`: the organization over time, from the ledger's GraphQL API only.
//
// Two sliders choose the point in time: a date (valid time) and an event of the log (transaction
// time: what the ledger said then). The series (coverage by month, admissions by year, members
// hosted by year, the standardization programme by month) are asked for as the ledger stood at
// the chosen event, each in one request; the communes are the coverage report on the chosen
// date at that event. A subscription adds each new event to the live tail and moves the head.
//
// For the browser tests, `document.body.dataset` says what is on the page: `state` (`loading`,
// `ready`, `error`), and `rendered`, the `date|seq` the page last finished drawing; each chart's
// uPlot is `window.dashboard.charts.NAME`.
'use strict';

(function () {
  const ledger = window.orgledger;
  const $ = (id) => document.getElementById(id);

  const COLOURS = {
    localities: '#6b7280',
    member: '#2563eb',
    cell: '#15803d',
    temporary: '#d97706',
    female: '#c026d3',
    male: '#0891b2',
    below: '#dc2626',
    standardized: '#15803d',
    retired: '#6b7280',
    fromBorderPosts: '#b45309',
    members: '#2563eb',
  };

  const state = {
    head: 0, // the head of the log
    monthEnds: [], // the date slider's dates, `YYYY-MM-DD`
    years: [0, 0], // the first and last year shown
    programme: null, // { id, title, starts, ends }
    seriesSeq: -1, // the seq the series were drawn at
    coverage: null, // the coverage series at seriesSeq
    followHead: true, // the seq slider stays on the head as the log grows
  };
  const charts = {};
  window.dashboard = { charts, state };

  // ---- dates ----

  const pad = (n) => String(n).padStart(2, '0');
  function monthEnd(year, month) {
    // The day before the first of the next month (months from 1).
    const d = new Date(Date.UTC(year, month, 1) - 86400000);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  }
  const seconds = (date) => Date.parse(date + 'T00:00:00Z') / 1000;
  const yearOf = (date) => Number(date.slice(0, 4));

  // ---- status ----

  function status(text, kind) {
    const el = $('status');
    el.textContent = text || '';
    el.className = 'status' + (kind ? ' ' + kind : '');
  }

  function explain(error) {
    if (error.code === 'UNAUTHENTICATED') {
      return (
        'This server needs a token: paste one in the field above (orgledger serve --demo ' +
        'prints a link that carries one; orgledger token add makes one).'
      );
    }
    return 'The ledger could not answer: ' + error.message;
  }

  // ---- charts ----

  function chartWidth(el) {
    return Math.max(280, el.clientWidth || 600);
  }

  // Vertical lines on a time chart: the article's milestones (dashed) and the chosen date.
  function markers(getMarks) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            for (const m of getMarks()) {
              const x = Math.round(u.valToPos(m.x, 'x', true));
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
              ctx.strokeStyle = m.colour;
              ctx.lineWidth = m.dashed ? 1.5 * devicePixelRatio : 2 * devicePixelRatio;
              ctx.setLineDash(m.dashed ? [6 * devicePixelRatio, 4 * devicePixelRatio] : []);
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              if (m.label) {
                ctx.setLineDash([]);
                ctx.fillStyle = m.colour;
                ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
                ctx.textAlign = 'right';
                ctx.fillText(m.label, x - 4 * devicePixelRatio, u.bbox.top + u.bbox.height - (m.row || 1) * 14 * devicePixelRatio);
              }
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  // A chart whose legend shows the values at the chosen date (`at` maps the date to the
  // chart's x), and again when the pointer leaves it.
  function makeChart(name, el, opts, data, at) {
    let u = charts[name];
    if (u) {
      u.setData(data);
    } else {
      el.textContent = '';
      u = new uPlot(Object.assign({ width: chartWidth(el), height: 260, cursor: { y: false } }, opts), data, el);
      u.over.addEventListener('mouseleave', () => setTimeout(() => pin(u), 0));
      charts[name] = u;
    }
    u.at = at;
    return u;
  }

  // Puts the chart's cursor on the chosen date, so that its legend reads the values there;
  // none when the date is outside the chart.
  function pin(u) {
    const x = u.at(currentDate());
    const xs = u.data[0];
    if (!xs.length || x < xs[0] || x > xs[xs.length - 1]) {
      u.setCursor({ left: -10, top: -10 });
      return;
    }
    u.setCursor({ left: u.valToPos(x, 'x'), top: u.bbox.height / devicePixelRatio / 2 });
  }

  const bars = (offset) => uPlot.paths.bars({ size: [0.4, 40], align: offset });
  // Whole years on the axis of a chart by year.
  const years = { incrs: [1, 2, 5, 10, 20, 50], values: (u, v) => v.map((y) => String(y)) };
  const byYear = (date) => yearOf(date);

  // A chart by year: two series as bars side by side (`[label, colour]`), and a third shown
  // only in the legend.
  function yearBars(name, [left, right, legendOnly], data) {
    const bar = ([label, colour], offset) => ({ label, fill: colour, stroke: colour, paths: bars(offset), points: { show: false } });
    makeChart(
      name,
      $('chart-' + name),
      {
        scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
        axes: [years, {}],
        series: [
          { label: 'Year', value: (u, v) => (v == null ? '' : String(v)) },
          bar(left, -1),
          bar(right, 1),
          { label: legendOnly, stroke: '#374151', width: 0, points: { show: false }, paths: () => null },
        ],
      },
      data,
      byYear
    );
  }

  // ---- the series, at the chosen seq ----

  // The first step from which `ok` holds at every later step: where the data reaches a
  // milestone for good.
  function reached(points, ok) {
    let at = null;
    for (let i = points.length - 1; i >= 0 && ok(points[i]); i--) at = points[i].date;
    return at;
  }

  async function drawSeries(seq) {
    const [y0, y1] = state.years;
    const from = `${y0}-01-31`;
    const to = `${y1}-12-31`;
    const p = state.programme;
    const data = await ledger.query(
      `query Series($from: Date!, $to: Date!, $yearFrom: Date!, $seq: Int, $fromYear: Int, $toYear: Int,
                    $programme: String!, $pFrom: Date!, $pTo: Date!, $withProgramme: Boolean!) {
        coverageOverTime(from: $from, to: $to, every: MONTH, seq: $seq) {
          date localities withMember withCell temporaryOnly }
        temporaryActivityOverTime(from: $yearFrom, to: $to, every: YEAR, seq: $seq) {
          date members fromBorderPosts hosts }
        admissions(fromYear: $fromYear, toYear: $toYear, date: $to, seq: $seq) {
          years { year admitted female male } }
        standardizationOverTime(programme: $programme, from: $pFrom, to: $pTo, every: MONTH, seq: $seq)
          @include(if: $withProgramme) { date assessed belowStandard standardized retiredUnderPolicy }
      }`,
      {
        from,
        to,
        yearFrom: `${y0}-12-31`,
        seq,
        fromYear: y0,
        toYear: y1,
        programme: p ? p.id : '',
        pFrom: p ? `${yearOf(p.starts) - 1}-12-31` : from,
        pTo: p ? `${yearOf(p.ends || p.starts) + 1}-12-31` : to,
        // The ledger knows the programme from the event that issued it on.
        withProgramme: !!p && p.seq <= seq,
      }
    );
    state.coverage = data.coverageOverTime;
    state.seriesSeq = seq;

    const cov = data.coverageOverTime;
    const x = cov.map((pt) => seconds(pt.date));
    const allMembers = reached(cov, (pt) => pt.localities > 0 && pt.withMember === pt.localities);
    const allCells = reached(cov, (pt) => pt.localities > 0 && pt.withCell === pt.localities);
    state.milestones = [
      allMembers && { x: seconds(allMembers), colour: COLOURS.member, dashed: true, label: 'every hamlet with a member', row: 1 },
      allCells && { x: seconds(allCells), colour: COLOURS.cell, dashed: true, label: 'every hamlet with a cell', row: 2 },
    ].filter(Boolean);
    makeChart(
      'coverage',
      $('chart-coverage'),
      {
        height: 300,
        scales: { y: { range: (u, min, max) => [0, Math.max(1, max) * 1.05] } },
        series: [
          { label: 'Month' , value: (u, v) => (v == null ? '' : new Date(v * 1000).toISOString().slice(0, 7)) },
          { label: 'Hamlets', stroke: COLOURS.localities, width: 2 },
          { label: 'With a member', stroke: COLOURS.member, width: 2 },
          { label: 'With a cell', stroke: COLOURS.cell, width: 2 },
          { label: 'Temporary members only', stroke: COLOURS.temporary, width: 2, dash: [4, 3] },
        ],
        plugins: [
          markers(() =>
            state.milestones.concat([{ x: seconds(currentDate()), colour: '#111827', dashed: false }])
          ),
        ],
      },
      [x, cov.map((pt) => pt.localities), cov.map((pt) => pt.withMember), cov.map((pt) => pt.withCell), cov.map((pt) => pt.temporaryOnly)],
      seconds
    );

    const adm = data.admissions.years;
    yearBars(
      'admissions',
      [['Women', COLOURS.female], ['Men', COLOURS.male], 'In all'],
      [adm.map((y) => y.year), adm.map((y) => y.female), adm.map((y) => y.male), adm.map((y) => y.admitted)]
    );

    const ta = data.temporaryActivityOverTime;
    yearBars(
      'hosted',
      [['From border posts', COLOURS.fromBorderPosts], ['All on temporary activity', COLOURS.members], 'Host cells'],
      [ta.map((pt) => yearOf(pt.date)), ta.map((pt) => pt.fromBorderPosts), ta.map((pt) => pt.members), ta.map((pt) => pt.hosts)]
    );

    if (data.standardizationOverTime) {
      const st = data.standardizationOverTime;
      makeChart(
        'standardization',
        $('chart-standardization'),
        {
          scales: { y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
          series: [
            { label: 'Month', value: (u, v) => (v == null ? '' : new Date(v * 1000).toISOString().slice(0, 7)) },
            { label: 'Below standard', stroke: COLOURS.below, width: 2 },
            { label: 'Standardized', stroke: COLOURS.standardized, width: 2 },
            { label: 'Retired under policy', stroke: COLOURS.retired, width: 2 },
          ],
          plugins: [markers(() => [{ x: seconds(currentDate()), colour: '#111827', dashed: false }])],
        },
        [st.map((pt) => seconds(pt.date)), st.map((pt) => pt.belowStandard), st.map((pt) => pt.standardized), st.map((pt) => pt.retiredUnderPolicy)],
        seconds
      );
    } else {
      if (charts.standardization) charts.standardization.destroy();
      delete charts.standardization;
      $('chart-standardization').textContent = p
        ? `The ledger did not know the programme yet at event ${seq}: it was issued at event ${p.seq}.`
        : 'The ledger names no programme (an instrument of kind project with a start date).';
    }
  }

  // ---- the communes, on the chosen date at the chosen seq ----

  function tile(c) {
    const el = document.createElement('figure');
    el.className = 'commune';
    el.dataset.commune = c.commune;
    const noMember = new Set(c.withoutMember.map((l) => l.id));
    const noCell = new Set(c.withoutCell.map((l) => l.id));
    const names = new Map(c.withoutMember.concat(c.withoutCell).map((l) => [l.id, l.name]));
    const squares = [];
    for (const [id, name] of names) {
      const kind = noMember.has(id) ? (noCell.has(id) ? 'none' : 'cell') : 'member';
      squares.push({ kind, title: name + (kind === 'none' ? ': no member, no cell' : kind === 'cell' ? ': a cell, no resident member' : ': members, no cell') });
    }
    const both = c.localities - names.size;
    for (let i = 0; i < both; i++) squares.push({ kind: 'both', title: 'a member and a cell' });
    const caption = document.createElement('figcaption');
    caption.innerHTML = '<b></b><span></span>';
    caption.firstChild.textContent = c.name;
    caption.lastChild.textContent = ` ${c.withMember}/${c.localities} with a member · ${c.withCell}/${c.localities} with a cell`;
    const grid = document.createElement('div');
    grid.className = 'hamlets';
    for (const s of squares) {
      const i = document.createElement('i');
      i.className = s.kind;
      i.title = s.title;
      grid.appendChild(i);
    }
    el.append(caption, grid);
    return el;
  }

  async function drawCommunes(date, seq) {
    const data = await ledger.query(
      `query Communes($date: Date!, $seq: Int) {
        coverage(date: $date, seq: $seq) {
          date seq localities withMember withCell temporaryOnly
          communes { commune name localities withMember withCell temporaryOnly
                     withoutMember { id name } withoutCell { id name } }
        }
      }`,
      { date, seq }
    );
    const c = data.coverage;
    $('communes-date').textContent = date;
    const box = $('communes');
    box.replaceChildren(...c.communes.map(tile));
    const summary = $('summary');
    summary.textContent =
      `On ${date}, as the ledger stood at event ${c.seq}: ${c.localities} hamlets and residential groups, ` +
      `${c.localities - c.withMember} without a resident member, ${c.localities - c.withCell} without a cell` +
      (c.temporaryOnly ? `, ${c.temporaryOnly} served only by members on temporary activity.` : '.');
    summary.dataset.localities = c.localities;
    summary.dataset.withoutMember = c.localities - c.withMember;
    summary.dataset.withoutCell = c.localities - c.withCell;
  }

  // ---- the sliders ----

  function currentDate() {
    return state.monthEnds[Number($('date').value)] || state.monthEnds[state.monthEnds.length - 1];
  }
  const currentSeq = () => Number($('seq').value);

  function showSliders() {
    $('date-value').textContent = currentDate();
    const seq = currentSeq();
    $('seq-value').textContent = seq === state.head ? `${seq} (the head)` : `${seq} of ${state.head}`;
  }

  let drawing = Promise.resolve();
  let wanted = null;
  // Draws what the sliders say, one drawing at a time; a slider moved during a drawing is
  // drawn next, and only its last position.
  function redraw() {
    wanted = { date: currentDate(), seq: currentSeq() };
    showSliders();
    drawing = drawing.then(async () => {
      if (!wanted) return;
      const { date, seq } = wanted;
      wanted = null;
      document.body.dataset.state = 'loading';
      try {
        if (seq !== state.seriesSeq) await drawSeries(seq);
        Object.values(charts).forEach((u) => {
          u.redraw(false);
          pin(u);
        });
        await drawCommunes(date, seq);
        document.body.dataset.rendered = `${date}|${seq}`;
        document.body.dataset.state = 'ready';
        status('');
      } catch (e) {
        document.body.dataset.state = 'error';
        status(explain(e), 'error');
      }
    });
    return drawing;
  }

  let timer = null;
  function soon() {
    showSliders();
    clearTimeout(timer);
    timer = setTimeout(redraw, 120);
  }

  // ---- the live tail ----

  function tailItem(e) {
    const li = document.createElement('li');
    li.value = e.seq;
    li.dataset.seq = e.seq;
    li.innerHTML = '<code></code> <span></span> <small></small>';
    li.children[0].textContent = e.type;
    li.children[1].textContent = 'effective ' + e.effective;
    li.children[2].textContent = `#${e.seq} by ${e.actor}`;
    return li;
  }

  let unsubscribe = null;
  function follow() {
    if (unsubscribe) unsubscribe();
    const list = $('tail');
    list.textContent = '';
    let refresh = null;
    unsubscribe = ledger.wsClient().subscribe(
      {
        query: 'subscription Tail($from: Int) { events(fromSeq: $from) { seq type effective actor } }',
        variables: { from: Math.max(1, state.head - 9) },
      },
      {
        next: (msg) => {
          const e = msg.data && msg.data.events;
          if (!e) return;
          list.prepend(tailItem(e));
          while (list.children.length > 12) list.lastChild.remove();
          if (e.seq > state.head) {
            state.head = e.seq;
            $('head').textContent = `head: event ${e.seq}`;
            const slider = $('seq');
            slider.max = String(e.seq);
            if (state.followHead) {
              slider.value = String(e.seq);
              clearTimeout(refresh);
              refresh = setTimeout(redraw, 500);
            }
            showSliders();
          }
        },
        error: (err) => status('The live tail stopped: ' + (err && err.message ? err.message : 'the connection closed'), 'error'),
        complete: () => {},
      }
    );
  }

  // ---- CSV downloads ----

  async function download(report) {
    const params = new URLSearchParams({ date: currentDate(), seq: String(currentSeq()) });
    if (report === 'standardization') {
      if (!state.programme) return status('The ledger names no programme.', 'error');
      params.set('programme', state.programme.id);
    }
    if (report === 'meetings') params.set('year', currentDate().slice(0, 4));
    const response = await fetch(`/reports/${report}.csv?${params}`, { headers: ledger.token.headers() });
    if (!response.ok) {
      let message = `the server answered ${response.status}`;
      try {
        message = (await response.json()).errors[0].message;
      } catch (e) { /* not a GraphQL error */ }
      return status(`${report}.csv: ${message}`, 'error');
    }
    const blob = await response.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${report}-${currentDate()}-seq${currentSeq()}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  // ---- start ----

  async function start() {
    document.body.dataset.state = 'loading';
    status('Reading the ledger…');
    let data;
    try {
      data = await ledger.query(`query Start {
        head { seq }
        first: events(first: 1) { edges { node { effective } } }
        last: events(last: 1) { edges { node { effective } } }
        instruments: events(first: 1000, filter: { types: ["InstrumentIssued"] }) { edges { node { seq payload } } }
      }`);
    } catch (e) {
      document.body.dataset.state = 'error';
      status(explain(e), 'error');
      return;
    }
    state.head = data.head.seq;
    $('head').textContent = `head: event ${state.head}`;
    if (state.head === 0) {
      document.body.dataset.state = 'ready';
      status('The ledger is empty: append events (orgledger demo writes the demo) to see them here.');
      return;
    }
    const dates = [data.first.edges[0].node.effective, data.last.edges[0].node.effective].sort();
    const y0 = yearOf(dates[0]);
    // At most 1,000 months in a series: the last 83 years.
    const y1 = Math.max(y0, yearOf(dates[1]));
    state.years = [Math.max(y0, y1 - 82), y1];
    state.monthEnds = [];
    for (let y = state.years[0]; y <= state.years[1]; y++) {
      for (let m = 1; m <= 12; m++) state.monthEnds.push(monthEnd(y, m));
    }
    const projects = data.instruments.edges.filter((e) => e.node.payload.kind === 'project' && e.node.payload.starts);
    const last = projects[projects.length - 1];
    const p = last && last.node.payload;
    state.programme = p ? { id: p.instrument, title: p.title, starts: p.starts, ends: p.ends, seq: last.node.seq } : null;
    $('programme-title').textContent = p ? p.title : 'no programme';

    const date = $('date');
    date.max = String(state.monthEnds.length - 1);
    date.value = String(state.monthEnds.length - 1);
    date.disabled = false;
    const seq = $('seq');
    seq.max = String(state.head);
    seq.value = String(state.head);
    seq.disabled = false;
    status('');
    await redraw();
    follow();
  }

  ledger.token.fromFragment();
  ledger.token.bindField($('token'), $('token-forget'));
  ledger.token.onChange(() => {
    state.seriesSeq = -1;
    start();
  });
  $('date').addEventListener('input', soon);
  $('seq').addEventListener('input', () => {
    state.followHead = currentSeq() === state.head;
    soon();
  });
  $('downloads').addEventListener('click', (e) => {
    const report = e.target.dataset && e.target.dataset.report;
    if (report) download(report);
  });
  window.addEventListener('resize', () => {
    for (const name in charts) {
      const u = charts[name];
      u.setSize({ width: chartWidth(u.root.parentElement), height: u.height });
      pin(u);
    }
  });
  start();
})();
