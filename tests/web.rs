//! What the server gives a browser, over HTTP: the dashboard at `/` and GraphiQL at
//! `/graphql`, every file they load served by the binary itself (under `/assets/`, with its
//! type, an entity tag and a policy that lets the pages reach nothing but the server); the
//! vendored libraries as `web/vendor/VERSIONS` says, from `web/package-lock.json`; and the
//! reports as CSV at `/reports/NAME.csv`, with what is wrong named. tests/browser.rs runs the
//! pages in Chromium.

mod common;

use common::server::TestServer;
use serde_json::{json, Value};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The `/assets/...` paths an HTML page loads (its `src` and `href` attributes).
fn assets_of(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let value = &rest[..rest.find('"').expect("a closing quote")];
            if value.starts_with("/assets/") {
                out.push(value.to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn the_pages_and_everything_they_load_come_from_the_server() {
    let server = TestServer::start().await;
    let base = server.graphql_url().trim_end_matches("/graphql").to_owned();
    for (path, script) in [("/", "/assets/dashboard.js"), ("/graphql", "/assets/explorer.js")] {
        let reply = server.http.get(format!("{base}{path}")).send().await.expect("the page");
        assert_eq!(reply.status(), 200, "{path}");
        let header = |name: &str| {
            reply
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(header("content-type").starts_with("text/html"), "{path}");
        let policy = header("content-security-policy");
        for part in ["default-src 'none'", "script-src 'self'", "connect-src 'self'"] {
            assert!(policy.contains(part), "{path}: {policy}");
        }
        let html = reply.text().await.expect("a body");
        assert!(html.to_ascii_lowercase().starts_with("<!doctype html"), "{path}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
        let assets = assets_of(&html);
        assert!(assets.iter().any(|a| a == script), "{path} runs {script}: {assets:?}");
        for asset in assets {
            let reply = server
                .http
                .get(format!("{base}{asset}"))
                .send()
                .await
                .expect("an asset");
            assert_eq!(reply.status(), 200, "{asset}");
            let kind = reply.headers()["content-type"].to_str().unwrap().to_owned();
            let want = if asset.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            };
            assert!(kind.starts_with(want), "{asset}: {kind}");
            let tag = reply.headers()["etag"].to_str().unwrap().to_owned();
            assert!(!reply.bytes().await.unwrap().is_empty(), "{asset}");
            // Revalidated with its entity tag: 304 and no body.
            let again = server
                .http
                .get(format!("{base}{asset}"))
                .header("if-none-match", &tag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{asset}");
        }
    }
    let missing = server
        .http
        .get(format!("{base}/assets/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("nothing.js"));
    // The licences of what is vendored are served beside it.
    for name in ["graphiql", "graphql-ws", "react", "react-dom", "uplot"] {
        let licence = server
            .http
            .get(format!("{base}/assets/LICENSE.{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(licence.status(), 200, "{name}");
        assert!(licence.text().await.unwrap().contains("MIT"), "{name}");
    }
    server.stop().await;
}

/// `web/vendor/VERSIONS` names each vendored package at the version and integrity of the
/// lock file `web/refresh` installs from, and every file the binary embeds is there.
#[test]
fn the_vendored_files_are_those_of_the_lock_file() {
    let web = std::path::Path::new(MANIFEST_DIR).join("web");
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(web.join("package-lock.json")).unwrap()).unwrap();
    let package: Value = serde_json::from_str(&std::fs::read_to_string(web.join("package.json")).unwrap()).unwrap();
    let versions = std::fs::read_to_string(web.join("vendor/VERSIONS")).unwrap();
    let mut named = 0;
    for line in versions.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let [name, version, integrity] = parts[..] else {
            panic!("a VERSIONS line is `name version integrity`: {line:?}")
        };
        let locked = &lock["packages"][format!("node_modules/{name}")];
        assert_eq!(locked["version"], json!(version), "{name}");
        assert_eq!(locked["integrity"], json!(integrity), "{name}");
        assert_eq!(
            package["dependencies"][name],
            json!(version),
            "{name} is pinned in package.json"
        );
        named += 1;
    }
    assert_eq!(named, 5, "{versions}");
    for asset in orgledger::web::ASSETS {
        assert!(!asset.body.is_empty(), "{}", asset.name);
    }
}

#[tokio::test]
async fn reports_come_as_csv_over_http_and_bad_requests_are_named() {
    let server = TestServer::start().await;
    let base = server.graphql_url().trim_end_matches("/graphql").to_owned();
    let get = |path: &str, token: Option<&str>| {
        let mut request = server.http.get(format!("{base}{path}"));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    let reply = get("/reports/coverage.csv?date=2007-12-31", Some(&server.reader))
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(reply.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("coverage.csv"));
    let csv = reply.text().await.unwrap();
    let report = server
        .data(
            &server.reader,
            "{ coverage(date: \"2007-12-31\") { seq localities withMember withCell } }",
            json!({}),
        )
        .await;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cell = |column: &str| {
        row[header
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("{column} in {csv}"))]
    };
    assert_eq!(cell("table"), "coverage");
    assert_eq!(cell("date"), "2007-12-31");
    for (column, field) in [
        ("seq", "seq"),
        ("localities", "localities"),
        ("with_member", "withMember"),
    ] {
        assert_eq!(cell(column), report["coverage"][field].to_string(), "{column}\n{csv}");
    }
    // The same at an earlier seq, and a report with options of its own.
    let early = get("/reports/coverage.csv?date=2007-12-31&seq=3", Some(&server.reader))
        .await
        .unwrap();
    assert_eq!(early.status(), 200);
    assert!(early.text().await.unwrap().lines().nth(1).unwrap().contains(",3,"));
    let years = get(
        "/reports/admissions.csv?from-year=2005&to-year=2006&date=2007-12-31",
        Some(&server.reader),
    )
    .await
    .unwrap();
    assert_eq!(years.status(), 200);

    // Without a token, 401; each bad request names what is wrong.
    let anonymous = get("/reports/coverage.csv", None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    for (path, status, says) in [
        ("/reports/nothing.csv", 404, "no report \"nothing\""),
        ("/reports/coverage", 404, "NAME.csv"),
        ("/reports/coverage.csv?date=2007-13-45", 400, "--date"),
        ("/reports/coverage.csv?seq=many", 400, "`seq` must be a whole number"),
        ("/reports/coverage.csv?seq=999999", 400, "past the head"),
        (
            "/reports/coverage.csv?programme=x",
            400,
            "takes no parameter `programme`",
        ),
        ("/reports/coverage.csv?seq=1&seq=2", 400, "`seq` is given twice"),
        ("/reports/standardization.csv", 400, "needs `programme`"),
        ("/reports/standardization.csv?programme=no-such", 400, "no-such"),
        (
            "/reports/admissions.csv?from-year=soon",
            400,
            "`from-year` must be a year",
        ),
    ] {
        let reply = get(path, Some(&server.reader)).await.unwrap();
        assert_eq!(reply.status().as_u16(), status, "{path}");
        let body: Value = reply.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{path}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{path}: {message}");
    }
    server.stop().await;
}
