// GraphiQL at /graphql: queries and mutations over HTTP POST, subscriptions over
// /graphql/ws (graphql-transport-ws), both with the token of the field above the editor
// (an `Authorization` header typed in GraphiQL's own header editor takes its place). The
// article's questions open as tabs each time the page loads; GraphiQL's history keeps what
// was run.
'use strict';

(function () {
  const ledger = window.orgledger;
  ledger.token.fromFragment();
  ledger.token.bindField(document.getElementById('token'), document.getElementById('token-forget'));

  // The operations of a document, `{ kind, name }`, read from the text GraphiQL sends (its
  // parsed `documentAST` can be that of the tab run before): the words that open each
  // definition at the top level, outside strings and comments.
  function operations(query) {
    const ops = [];
    let depth = 0;
    let words = '';
    const text = query.replace(/"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*/g, ' ');
    for (const c of text) {
      if (c === '{') {
        if (depth === 0) {
          const [kind, opName] = words.trim().split(/[\s(@]+/);
          if (kind !== 'fragment') ops.push({ kind: kind || 'query', name: opName });
          words = '';
        }
        depth++;
      } else if (c === '}') {
        depth--;
      } else if (depth === 0) {
        words += c;
      }
    }
    return ops;
  }

  // The operation to run: the one named, or the only one (GraphiQL can pass the name of the
  // operation of the tab run before, which this document does not have).
  function operationOf(query, name) {
    const ops = operations(query);
    return ops.find((o) => name && o.name === name) || (ops.length === 1 ? ops[0] : null);
  }

  function fetcher(params, opts) {
    const op = operationOf(params.query, params.operationName);
    params = Object.assign({}, params, { operationName: op ? op.name : params.operationName });
    if (op && op.kind === 'subscription') {
      return ledger.wsClient().iterate({
        query: params.query,
        variables: params.variables || undefined,
        operationName: params.operationName,
      });
    }
    return ledger.post(params, opts && opts.headers).then((r) => r.json());
  }

  // GraphiQL keeps its settings, headers and history in local storage; its open tabs are
  // not kept, so that each load starts from the article's questions.
  const NOT_KEPT = ['graphiql:tabState', 'graphiql:query'];
  const storage = {
    getItem: (k) => (NOT_KEPT.includes(k) ? null : safe(() => localStorage.getItem(k), null)),
    setItem: (k, v) => NOT_KEPT.includes(k) || safe(() => localStorage.setItem(k, v)),
    removeItem: (k) => safe(() => localStorage.removeItem(k)),
    clear: () => safe(() => localStorage.clear()),
    get length() {
      return safe(() => localStorage.length, 0);
    },
  };
  function safe(f, otherwise) {
    try {
      return f();
    } catch (e) {
      return otherwise;
    }
  }

  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  // Rendered again with a new token (a new `key`), so that the schema is asked for with it.
  function render() {
    root.render(
      React.createElement(GraphiQL, {
        key: ledger.token.get() || 'no token',
        fetcher,
        storage,
        defaultTabs: window.orgledgerExamples,
        defaultEditorToolsVisibility: 'variables',
      })
    );
  }
  render();
  ledger.token.onChange(render);
})();
