//! The pages the server gives a browser, embedded in the binary so that it serves them with
//! no request leaving the server and no npm at build time:
//!
//! - `GET /`: the dashboard (`web/index.html`, `web/dashboard.js`);
//! - `GET /graphql` without a `query`: GraphiQL (`web/graphiql.html`, `web/explorer.js`);
//! - `GET /assets/NAME`: their scripts and styles, and the libraries of `web/vendor/`
//!   (GraphiQL, React, graphql-ws, uPlot), copied there by `web/refresh` from the pinned
//!   versions of `web/package-lock.json`, with their licences.
//!
//! The pages' Content-Security-Policy lets them load scripts and styles from the server only
//! and connect to it only (its HTTP and WebSocket endpoints).

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One file served under `/assets/`.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $path:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// Every file under `/assets/`.
pub const ASSETS: &[Asset] = &[
    asset!("common.js", "common.js", JS),
    asset!("dashboard.js", "dashboard.js", JS),
    asset!("explorer.js", "explorer.js", JS),
    asset!("examples.js", "examples.js", JS),
    asset!("orgledger.css", "orgledger.css", CSS),
    asset!("graphiql.min.js", "vendor/graphiql.min.js", JS),
    asset!("graphiql.min.css", "vendor/graphiql.min.css", CSS),
    asset!("react.production.min.js", "vendor/react.production.min.js", JS),
    asset!("react-dom.production.min.js", "vendor/react-dom.production.min.js", JS),
    asset!("graphql-ws.min.js", "vendor/graphql-ws.min.js", JS),
    asset!("uPlot.iife.min.js", "vendor/uPlot.iife.min.js", JS),
    asset!("uPlot.min.css", "vendor/uPlot.min.css", CSS),
    asset!("LICENSE.graphiql", "vendor/LICENSE.graphiql", TEXT),
    asset!("LICENSE.graphql-ws", "vendor/LICENSE.graphql-ws", TEXT),
    asset!("LICENSE.react", "vendor/LICENSE.react", TEXT),
    asset!("LICENSE.react-dom", "vendor/LICENSE.react-dom", TEXT),
    asset!("LICENSE.uplot", "vendor/LICENSE.uplot", TEXT),
    asset!("VERSIONS", "vendor/VERSIONS", TEXT),
];

const DASHBOARD: &str = include_str!("../web/index.html");
const GRAPHIQL: &str = include_str!("../web/graphiql.html");

/// What the pages may load and connect to: the server, and nothing else. GraphiQL's editor
/// sets styles inline, and its fonts are `data:` URLs.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

fn page(html: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        html,
    )
        .into_response()
}

/// `GET /`.
pub async fn dashboard() -> Response {
    page(DASHBOARD)
}

/// `GET /graphql` without a query.
pub fn graphiql() -> Response {
    page(GRAPHIQL)
}

/// The entity tag of an asset: its BLAKE3 hash, worked out once.
fn etag(index: usize) -> &'static str {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &blake3::hash(a.body).to_hex()[..32]))
            .collect()
    })[index]
}

/// `GET /assets/NAME`: revalidated on each use (`no-cache` with an entity tag), so that a
/// new binary's files are never hidden behind an old one's.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, TEXT)],
            format!("no asset {name:?}\n"),
        )
            .into_response();
    };
    let (asset, tag) = (&ASSETS[index], etag(index));
    let common = [
        (header::ETAG, HeaderValue::from_static(tag)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
        asset.body,
    )
        .into_response()
}
