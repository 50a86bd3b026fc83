//! TLS end to end, with the real binary as child processes on loopback: `orgledger tls
//! self-signed` writes a CA, a certificate and a private key; `serve --tls-cert --tls-key`
//! answers queries and appends over HTTPS and subscriptions over WSS, with HSTS, to clients
//! that trust that CA, and a client trusting another CA (or only the system's roots) is
//! refused; a renewed certificate written over the old files is served without a restart;
//! plain HTTP off loopback is refused before anything binds (exit 2, saying how to give a
//! certificate) unless `--insecure-http`, which `/healthz` then warns of; bad certificate,
//! key and CA files are refused naming the file; a follower follows a leader over HTTPS with
//! `--ca`, serves its own copy over HTTPS, and cosigns as a witness the checkpoint that
//! `orgledger checkpoint --witness ... --ca` asks it for over HTTPS.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::running::{stdout_of, Running, PATIENCE};

fn orgledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orgledger"))
        .env_remove("ORGLEDGER_DATA")
        .args(args)
        .output()
        .expect("orgledger runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// `orgledger tls self-signed --host 127.0.0.1 --out DIR`: the CA, the certificate, the key.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let out = stdout_of(
        &orgledger(&[
            "tls",
            "self-signed",
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--out",
            path(dir),
        ]),
        "tls self-signed",
    );
    let v: Value = serde_json::from_str(&out).expect("one JSON line");
    let files = (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"));
    assert_eq!(v["ca"], path(&files.0), "{v}");
    assert_eq!(v["cert"], path(&files.1), "{v}");
    assert_eq!(v["key"], path(&files.2), "{v}");
    assert_eq!(v["hosts"], json!(["127.0.0.1", "localhost"]), "{v}");
    (files.0, files.1, files.2)
}

/// A ledger of the 12 events of `examples/`, a clerk and an auditor token: `(clerk, auditor)`.
fn ledger(data: &Path) -> (String, String) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/trung-khanh-2005.jsonl");
    stdout_of(&orgledger(&["append", path(&example), "--data", path(data)]), "append");
    let token = |name: &str, role: &str| {
        stdout_of(
            &orgledger(&["token", "add", "--name", name, "--role", role, "--data", path(data)]),
            "token add",
        )
        .trim()
        .to_owned()
    };
    (token("clerk-1", "clerk"), token("auditor-1", "auditor"))
}

/// `serve` with the certificate, on a loopback port of its own.
fn serve_tls(data: &Path, cert: &Path, key: &Path) -> (Running, String) {
    let server = Running::orgledger(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path(cert),
        "--tls-key",
        path(key),
        "--data",
        path(data),
    ]);
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    (server, url)
}

/// POSTs a GraphQL request with `client`: the answer's JSON and its headers.
async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
) -> Result<(Value, reqwest::header::HeaderMap), reqwest::Error> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await?;
    let headers = response.headers().clone();
    Ok((response.json().await?, headers))
}

use orgledger::tls::causes;

const APPEND: &str = r#"mutation { append(events: [{ localityRegistered: { effective: "2005-01-01", locality: "xom-na-thia", name: "Nà Thìa", kind: HAMLET, parent: "xa-dam-thuy", border: false } }]) { head { seq } } }"#;
const APPEND_2: &str = r#"mutation { append(events: [{ localityRegistered: { effective: "2005-01-01", locality: "xom-khuoi-ky", name: "Khuổi Ky", kind: HAMLET, parent: "xa-dam-thuy", border: true } }]) { head { seq } } }"#;

/// A WebSocket over TLS to `url` (`https://…/graphql`), trusting only `ca`, speaking
/// graphql-transport-ws, past `connection_ack`.
async fn wss(
    url: &str,
    ca: &Path,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let ws_url = format!("{}/ws", url.replacen("https://", "wss://", 1));
    let host_port = url.trim_start_matches("https://").split('/').next().expect("host:port");
    let tcp = tokio::net::TcpStream::connect(host_port).await.expect("connects");
    let connector = tokio_rustls::TlsConnector::from(orgledger::tls::client_config(ca).expect("the CA"));
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("a name");
    let tls = connector.connect(name, tcp).await.expect("the TLS handshake");
    let mut request = ws_url.into_client_request().expect("a WebSocket URL");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("the WebSocket upgrade over TLS");
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("sends");
    let ack = next_json(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

async fn next_json<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_and_wss_serve_queries_appends_and_subscriptions_to_a_client_that_trusts_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = self_signed(&dir.path().join("tls"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key is private");
    }
    let data = dir.path().join("data");
    let (clerk, _) = ledger(&data);
    let (_server, url) = serve_tls(&data, &cert, &key);

    let client = orgledger::tls::client(Some(&ca)).expect("a client trusting the CA");
    let (head, headers) = post(&client, &url, &clerk, "{ head { seq } }").await.expect("HTTPS");
    assert_eq!(head, json!({"data": {"head": {"seq": 12}}}));
    assert_eq!(
        headers.get("strict-transport-security").map(|v| v.to_str().unwrap()),
        Some("max-age=31536000"),
        "HSTS on HTTPS"
    );

    // A subscription over WSS sees the appends made over HTTPS, live.
    let mut socket = wss(&url, &ca, &clerk).await;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { events(fromSeq: 13) { seq type } }"}});
    socket.send(Message::Text(subscribe.to_string().into())).await.unwrap();
    let (appended, _) = post(&client, &url, &clerk, APPEND).await.expect("an append over HTTPS");
    assert_eq!(appended, json!({"data": {"append": {"head": {"seq": 13}}}}));
    let next = next_json(&mut socket).await;
    assert_eq!(
        next["payload"]["data"]["events"],
        json!({"seq": 13, "type": "LocalityRegistered"}),
        "{next}"
    );
    post(&client, &url, &clerk, APPEND_2)
        .await
        .expect("an append over HTTPS");
    let next = next_json(&mut socket).await;
    assert_eq!(next["payload"]["data"]["events"]["seq"], 14, "{next}");

    // GraphiQL, the dashboard and /healthz over HTTPS; the pages ask their own origin
    // (tests/browser.rs runs them in Chromium over HTTPS and WSS).
    let page = client.get(&url).send().await.expect("GraphiQL");
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("strict-transport-security"));
    assert!(page.text().await.unwrap().contains("/assets/explorer.js"));
    let dashboard = client
        .get(url.replace("/graphql", "/"))
        .send()
        .await
        .expect("the dashboard");
    assert_eq!(dashboard.status(), 200);
    let common = client
        .get(url.replace("/graphql", "/assets/common.js"))
        .send()
        .await
        .expect("common.js");
    assert!(common
        .text()
        .await
        .unwrap()
        .contains("new URL('/graphql', location.origin)"));
    let health = client.get(url.replace("/graphql", "/healthz")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok\n");

    // A client that trusts another CA, or only the system's roots, is refused.
    let (other_ca, _, _) = self_signed(&dir.path().join("other"));
    for (what, refused) in [
        ("another CA", orgledger::tls::client(Some(&other_ca)).unwrap()),
        ("the system's roots", orgledger::tls::client(None).unwrap()),
    ] {
        let e = post(&refused, &url, &clerk, "{ head { seq } }")
            .await
            .expect_err("a certificate the client cannot verify");
        assert!(
            causes(&e).to_lowercase().contains("certificate"),
            "{what}: {}",
            causes(&e)
        );
    }
    // So is a WebSocket client trusting another CA.
    let tcp = tokio::net::TcpStream::connect(url.trim_start_matches("https://").split('/').next().unwrap())
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(orgledger::tls::client_config(&other_ca).unwrap());
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let e = connector.connect(name, tcp).await.expect_err("another CA");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renewed_certificate_written_over_the_files_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, cert, key) = self_signed(&dir.path().join("tls"));
    let data = dir.path().join("data");
    let (clerk, _) = ledger(&data);
    let (server, url) = serve_tls(&data, &cert, &key);
    let old = orgledger::tls::client(Some(&old_ca)).unwrap();
    post(&old, &url, &clerk, "{ head { seq } }")
        .await
        .expect("the first certificate");

    // The renewal: a new certificate from a new CA, written in place of the old files.
    let (new_ca, new_cert, new_key) = self_signed(&dir.path().join("renewed"));
    std::fs::write(&cert, std::fs::read(&new_cert).unwrap()).unwrap();
    std::fs::write(&key, std::fs::read(&new_key).unwrap()).unwrap();
    server.stderr_line("serving the renewed TLS certificate");
    let new = orgledger::tls::client(Some(&new_ca)).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match post(&new, &url, &clerk, "{ head { seq } }").await {
            Ok((v, _)) => {
                assert_eq!(v, json!({"data": {"head": {"seq": 12}}}));
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "the renewed certificate is not served: {}",
                causes(&e)
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A new connection to the same process no longer gets the old certificate.
    let fresh_old = orgledger::tls::client(Some(&old_ca)).unwrap();
    let e = post(&fresh_old, &url, &clerk, "{ head { seq } }")
        .await
        .expect_err("the old CA no longer verifies what is served");
    assert!(causes(&e).to_lowercase().contains("certificate"), "{}", causes(&e));

    // A renewal caught half-written (a key that is not the certificate's) keeps the renewed
    // pair served, and says why.
    let (_, _, stray_key) = self_signed(&dir.path().join("stray"));
    std::fs::write(&key, std::fs::read(&stray_key).unwrap()).unwrap();
    server.stderr_line("was not reloaded");
    post(&new, &url, &clerk, "{ head { seq } }")
        .await
        .expect("still the renewed certificate");
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn plain_http_off_loopback_is_refused_before_anything_binds_unless_insecure_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let refused = orgledger(&["serve", "--listen", "0.0.0.0:0", "--data", path(&data)]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    for says in [
        "--listen 0.0.0.0:0 is not a loopback address",
        "--tls-cert FILE --tls-key FILE",
        "orgledger tls self-signed --host NAME --out DIR",
        "--insecure-http",
    ] {
        assert!(stderr.contains(says), "{says:?} not in {stderr}");
    }
    assert!(refused.stdout.is_empty());
    assert!(!data.exists(), "nothing was written before the refusal");

    // A follower's read-only server carries tokens too.
    let leader_key = dir.path().join("leader.pub");
    ledger(&dir.path().join("leader"));
    let key = stdout_of(
        &orgledger(&["key", "public", "--data", path(&dir.path().join("leader"))]),
        "key public",
    );
    std::fs::write(&leader_key, key).unwrap();
    let follower = orgledger(&[
        "follow",
        "http://127.0.0.1:9/graphql",
        "--token",
        "olt_x",
        "--key",
        path(&leader_key),
        "--listen",
        "0.0.0.0:0",
        "--data",
        path(&data),
    ]);
    assert_eq!(follower.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&follower.stderr).contains("is not a loopback address"));
    assert!(!data.exists());

    // With --insecure-http it serves, and says so at start and in /healthz.
    let server = Running::orgledger(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--insecure-http",
        "--data",
        path(&data),
    ]);
    server.stderr_line("--insecure-http");
    let url = server.url();
    let port = url.trim_start_matches("http://0.0.0.0:").trim_end_matches("/graphql");
    let health = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{port}/healthz")])
        .output();
    let text = match health {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        // Without curl, ask with a runtime of our own.
        _ => tokio::runtime::Runtime::new().unwrap().block_on(async {
            reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }),
    };
    assert!(
        text.starts_with("ok\n") && text.contains("warning: serving plain HTTP"),
        "{text}"
    );
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn bad_certificate_key_and_ca_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = self_signed(&dir.path().join("tls"));
    let (_, _, other_key) = self_signed(&dir.path().join("other"));
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "this is not PEM\n").unwrap();
    let data = dir.path().join("data");
    let serve = |cert: &Path, key: &Path| {
        orgledger(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            path(cert),
            "--tls-key",
            path(key),
            "--data",
            path(&data),
        ])
    };
    for (output, file, says) in [
        (serve(&missing, &key), &missing, "No such file"),
        (serve(&not_pem, &key), &not_pem, "holds no PEM certificate"),
        (serve(&cert, &not_pem), &not_pem, "holds no PEM private key"),
        (serve(&cert, &cert), &cert, "holds no PEM private key"),
        (serve(&key, &key), &key, "holds no PEM certificate"),
        (serve(&cert, &other_key), &other_key, "does not match the certificate"),
    ] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with(&format!("error: {}", file.display())), "{stderr}");
        assert!(stderr.contains(says), "{says:?} not in {stderr}");
        assert!(!data.exists(), "nothing was written before the refusal");
    }
    // `--ca` of the clients, and `tls self-signed` over existing files.
    let checkpoint = orgledger(&[
        "checkpoint",
        "--witness",
        "https://127.0.0.1:9=x.pub",
        "--ca",
        path(&not_pem),
        "--data",
        path(&data),
    ]);
    let stderr = String::from_utf8_lossy(&checkpoint.stderr);
    assert_eq!(checkpoint.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("--ca {}", not_pem.display())), "{stderr}");
    let again = orgledger(&[
        "tls",
        "self-signed",
        "--host",
        "x",
        "--out",
        path(&dir.path().join("tls")),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&ca).unwrap(), std::fs::read(&ca).unwrap());
}

#[test]
fn a_follower_follows_over_https_with_its_ca_and_cosigns_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = self_signed(&dir.path().join("tls"));
    let leader = dir.path().join("leader");
    let (_, auditor) = ledger(&leader);
    let leader_key = dir.path().join("leader.pub");
    std::fs::write(
        &leader_key,
        stdout_of(&orgledger(&["key", "public", "--data", path(&leader)]), "key public"),
    )
    .unwrap();
    let team_pub = dir.path().join("team.pub");
    let team = dir.path().join("team");
    std::fs::write(
        &team_pub,
        stdout_of(
            &orgledger(&[
                "witness",
                "init",
                "--origin",
                "witness.test/team",
                "--data",
                path(&team),
            ]),
            "witness init",
        ),
    )
    .unwrap();
    let (server, url) = serve_tls(&leader, &cert, &key);

    // The follower, trusting the CA, over HTTPS; its own server over HTTPS too.
    let copy = dir.path().join("copy");
    let follower = Running::orgledger(&[
        "follow",
        &url,
        "--token",
        &auditor,
        "--key",
        path(&leader_key),
        "--ca",
        path(&ca),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path(&cert),
        "--tls-key",
        path(&key),
        "--witness-key",
        path(&team.join("witness.key")),
        "--data",
        path(&copy),
    ]);
    let follower_url = follower.url();
    assert!(follower_url.starts_with("https://127.0.0.1:"), "{follower_url}");
    follower.stdout_until("the checkpoint of 12", |l| {
        l.starts_with(r#"{"checkpoint":12,"#).then_some(())
    });

    // A follower trusting another CA copies nothing: the leader's certificate is refused.
    let (other_ca, _, _) = self_signed(&dir.path().join("other"));
    let doubter = Running::orgledger(&[
        "follow",
        &url,
        "--token",
        &auditor,
        "--key",
        path(&leader_key),
        "--ca",
        path(&other_ca),
        "--data",
        path(&dir.path().join("doubter")),
    ]);
    // (Its log says only that the request failed: the follower's messages are its own.)
    doubter.stderr_line("could not be followed");
    assert!(!dir.path().join("doubter").join("follower.json").exists());
    drop(doubter);
    assert_eq!(server.stop(), Some(0));

    // The ledger asks the follower, over HTTPS, to cosign: with the CA it does; trusting
    // only the system's roots, the witness is refused and named.
    let witness = format!("{}={}", follower_url.trim_end_matches("/graphql"), path(&team_pub));
    let cosigned = orgledger(&[
        "checkpoint",
        "--witness",
        &witness,
        "--ca",
        path(&ca),
        "--data",
        path(&leader),
    ]);
    assert!(
        stdout_of(&cosigned, "checkpoint --witness --ca").contains("— witness.test/team "),
        "{}",
        String::from_utf8_lossy(&cosigned.stdout)
    );
    let refused = orgledger(&["checkpoint", "--witness", &witness, "--data", path(&leader)]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(
        said.contains(r#""check":"quorum""#) && said.to_lowercase().contains("certificate"),
        "{said}"
    );
    assert_eq!(follower.stop(), Some(0));
}
