//! What the GraphQL benchmarks (`server.rs`, `hostile.rs`) share: the length of a timed
//! phase from `ORGLEDGER_BENCH_SECS`, and an HTTP/1.1 keep-alive client (plain, or over TLS)
//! that posts GraphQL bodies (or sends a GET), light enough that the load generator does not
//! measure itself.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

/// How long each timed phase runs: `ORGLEDGER_BENCH_SECS`, else `default`. A value that is
/// not a positive number stops `bench` with a message.
pub fn timed_seconds(bench: &str, default: Duration) -> Duration {
    match std::env::var("ORGLEDGER_BENCH_SECS") {
        Err(_) => default,
        Ok(text) => match text.parse::<f64>() {
            Ok(s) if s > 0.0 => Duration::from_secs_f64(s),
            _ => {
                eprintln!("{bench} bench: ORGLEDGER_BENCH_SECS must be a positive number of seconds, not {text:?}");
                std::process::exit(2);
            }
        },
    }
}

/// One keep-alive HTTP/1.1 connection to the server, with the token it sends.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    authorization: HeaderValue,
}

impl Connection {
    pub async fn open(addr: SocketAddr, token: &str) -> Result<Connection, String> {
        Connection::open_with(addr, token, None).await
    }

    /// A connection to `addr`, over TLS when `tls` is given (trusting what it trusts; the
    /// server's name is its IP address), with the same HTTP/1.1 client on top.
    pub async fn open_with(
        addr: SocketAddr,
        token: &str,
        tls: Option<&tokio_rustls::TlsConnector>,
    ) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        // Requests are small and sent whole; Nagle's delay would only add latency.
        stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let sender = match tls {
            None => {
                let (sender, connection) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                sender
            }
            Some(connector) => {
                let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                let (sender, connection) = http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                sender
            }
        };
        Ok(Connection {
            sender,
            host: HeaderValue::from_str(&addr.to_string()).map_err(|e| format!("host header: {e}"))?,
            authorization: HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| format!("authorization header: {e}"))?,
        })
    }

    /// Posts one GraphQL request body and returns the status and the whole answer body.
    pub async fn post(&mut self, body: Bytes) -> Result<(StatusCode, Bytes), String> {
        let request = Request::post("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body));
        self.send(request).await
    }

    /// Sends `GET path` (its query string included) and returns the status and the whole
    /// answer body.
    pub async fn get(&mut self, path: &str) -> Result<(StatusCode, Bytes), String> {
        self.send(Request::get(path).body(Full::new(Bytes::new()))).await
    }

    /// Sends one request, with the host and token, and reads its whole answer.
    async fn send(
        &mut self,
        request: Result<Request<Full<Bytes>>, hyper::http::Error>,
    ) -> Result<(StatusCode, Bytes), String> {
        self.sender.ready().await.map_err(|e| format!("connection lost: {e}"))?;
        let mut request = request.map_err(|e| format!("request: {e}"))?;
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host.clone());
        headers.insert(header::AUTHORIZATION, self.authorization.clone());
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok((status, bytes))
    }
}

/// A GraphQL request body holding only `query`.
pub fn graphql_body(query: &str) -> Bytes {
    Bytes::from(json!({ "query": query }).to_string())
}
