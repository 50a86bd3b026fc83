// What the dashboard and GraphiQL share: the token, the GraphQL endpoints, and requests.
//
// The token comes from the address's fragment (`/#token=olt_…`, as `orgledger serve --demo`
// prints it: a browser never sends a fragment to the server), or from the token field; it is
// kept in the browser's local storage under one key, so that both pages use it, and the
// fragment is taken out of the address bar once read, out of the history and of screenshots.
'use strict';

window.orgledger = (function () {
  const KEY = 'orgledger.token';
  let memory = ''; // where the token lives when local storage is disabled
  const listeners = [];

  function get() {
    try {
      return localStorage.getItem(KEY) || '';
    } catch (e) {
      return memory;
    }
  }

  function set(token) {
    token = (token || '').trim();
    memory = token;
    try {
      if (token) localStorage.setItem(KEY, token);
      else localStorage.removeItem(KEY);
    } catch (e) { /* kept in memory only */ }
    listeners.forEach((f) => f(token));
  }

  function fromFragment() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!m) return;
    set(decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }

  function headers() {
    const token = get();
    return token ? { Authorization: 'Bearer ' + token } : {};
  }

  // The token field of a page: shows the kept token, keeps what is typed, and a button
  // that forgets it.
  function bindField(input, forget) {
    input.value = get();
    input.addEventListener('change', () => set(input.value));
    forget.addEventListener('click', () => {
      input.value = '';
      set('');
    });
    listeners.push((token) => {
      if (input.value.trim() !== token) input.value = token;
    });
  }

  const endpoint = new URL('/graphql', location.origin).href;
  const wsEndpoint = endpoint.replace(/^http/, 'ws') + '/ws';

  // A GraphQL request (`{ query, variables, operationName }`) over HTTP POST with the token;
  // `extra` headers take precedence over it.
  function post(body, extra) {
    return fetch(endpoint, {
      method: 'POST',
      headers: Object.assign(
        { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json' },
        headers(),
        extra || {}
      ),
      body: JSON.stringify(body),
    });
  }

  // One GraphQL request over HTTP; resolves to the answer's `data`, or rejects with the
  // message of its first error.
  async function query(text, variables) {
    const response = await post({ query: text, variables: variables || {} });
    let body;
    try {
      body = await response.json();
    } catch (e) {
      throw new Error('the server answered ' + response.status + ' without a GraphQL answer');
    }
    if (body.errors && body.errors.length) {
      const e = body.errors[0];
      const code = e.extensions && e.extensions.code;
      throw Object.assign(new Error(e.message), { code: code });
    }
    return body.data;
  }

  // A graphql-transport-ws client for subscriptions, made again when the token changes (the
  // server checks the token of `connection_init`).
  let ws = null;
  function wsClient() {
    if (!ws) {
      ws = graphqlWs.createClient({
        url: wsEndpoint,
        lazy: true,
        retryAttempts: 5,
        connectionParams: () => headers(),
      });
    }
    return ws;
  }
  listeners.push(() => {
    if (ws) ws.dispose();
    ws = null;
  });

  return {
    token: { get, set, fromFragment, headers, bindField, onChange: (f) => listeners.push(f) },
    endpoint,
    wsEndpoint,
    post,
    query,
    wsClient,
  };
})();
