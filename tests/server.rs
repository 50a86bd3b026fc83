//! The GraphQL server over HTTP, through `orgledger::server::run` on a loopback port: every
//! query of the contract (issue 4) checked against the fixture of
//! `examples/trung-khanh-2005.jsonl` and, for the reports, against the JSON the CLI computes
//! for the same point; the `append` mutation and its atomicity; each access rule; and each
//! HTTP rule and limit, down to status codes, media types and `extensions.code`.
//!
//! The fixture's twelve events, by `seq`: 1-5 the localities (cao-bang, trung-khanh,
//! xa-dam-thuy, xom-ban-gioc, xom-pac-ngoa), 6-9 the organizations (tinh-uy-cao-bang,
//! huyen-uy-trung-khanh, dang-uy-dam-thuy, cb-ban-gioc), 10 the background check of
//! dv-000001 (2005-03-10), 11 her admission (2005-04-02), 12 her officialization
//! (2006-04-02). All were appended by the actor `fixture`.

mod common;

use std::collections::HashMap;

use common::server::*;
use orgledger::commands::report::{compute, AsOf, ReportKind};
use orgledger::commands::CommandError;
use orgledger::event::{Date, Submission};
use orgledger::graphql::Limits;
use orgledger::rules::State;
use orgledger::server::ServerLimits;
use serde_json::{json, Map, Value};

/// The media type of every GraphQL answer unless the client accepts only JSON.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json; charset=utf-8";

/// The number of events in the fixture.
const FIXTURE_EVENTS: u64 = 12;

/// The `append` mutation as a client sends it, with everything in variables.
const APPEND: &str = "mutation Append($events: [EventInput!]!, $expectedSeq: Int, $key: String) {
  append(events: $events, expectedSeq: $expectedSeq, idempotencyKey: $key) {
    events { seq hash }
    head { seq hash }
  }
}";

/// One page of the log, with every field of an event.
const EVENTS_PAGE: &str = "query Page($first: Int, $after: String, $last: Int, $before: String, $filter: EventFilter) {
  events(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    edges { cursor node { id seq hash prev type effective recordedAt actor payload } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

// ---------------------------------------------------------------------------------------
// What the tests share: raw HTTP answers, the fixture as the file holds it, and the head.
// ---------------------------------------------------------------------------------------

/// An HTTP answer whole, for the tests that look past the GraphQL body: status, headers
/// and text.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header"))
            .unwrap_or("")
    }

    fn content_type(&self) -> &str {
        self.header("content-type")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("a JSON body, not {:?}", self.text))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    Reply { status, headers, text }
}

/// A POST of `body` (sent as is) with a content type and maybe a token.
async fn post_with_type(server: &TestServer, token: Option<&str>, content_type: &str, body: String) -> Reply {
    let mut request = server
        .http
        .post(server.graphql_url())
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    send(request).await
}

/// A GET of /graphql with these query parameters.
async fn get_graphql(server: &TestServer, token: Option<&str>, params: &[(&str, &str)]) -> Reply {
    let mut request = server.http.get(server.graphql_url()).query(params);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    send(request).await
}

/// A POST of `body` as JSON with no `Accept` header, written by hand over one connection:
/// reqwest always sends `Accept: */*`.
async fn post_without_accept(server: &TestServer, token: &str, body: &str) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("the server listens");
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("the request is sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("the answer is read");
    let raw = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, text) = raw.split_once("\r\n\r\n").expect("headers, then a body");
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).expect("a status line");
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
            value.trim().parse().expect("a header value"),
        );
    }
    assert!(
        headers.get("transfer-encoding").is_none(),
        "answers of known length: {head}"
    );
    Reply {
        status: status.parse().expect("a numeric status"),
        headers,
        text: text.to_owned(),
    }
}

/// The durable head of the ledger behind the server, as the store has it.
fn log_head(server: &TestServer) -> (u64, String) {
    let head = server.ledger.head();
    (head.seq, head.hash.to_hex())
}

/// The fixture's lines as JSON objects, in `seq` order (index 0 is `seq` 1).
fn fixture_lines() -> Vec<Map<String, Value>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/trung-khanh-2005.jsonl"))
        .expect("the example file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str(l).expect("a JSON line") {
            Value::Object(map) => map,
            other => panic!("a line is an object, not {other}"),
        })
        .collect()
}

/// The `Event` node of `seq` as the contract describes it: the type, date and fields from
/// the fixture file, the hash and times from the store.
fn expected_event(server: &TestServer, seq: u64) -> Value {
    let record = server
        .ledger
        .store()
        .record(seq)
        .expect("the store reads")
        .expect("the record");
    let mut line = fixture_lines().swap_remove(seq as usize - 1);
    let type_name = line.remove("type").expect("a type");
    let effective = line.remove("effective").expect("an effective date");
    json!({
        "id": format!("Event:{seq}"),
        "seq": seq,
        "hash": record.hash().to_hex(),
        "prev": record.prev().to_hex(),
        "type": type_name,
        "effective": effective,
        "recordedAt": record.recorded_at().to_string(),
        "actor": "fixture",
        "payload": Value::Object(line),
    })
}

/// The `seq`s of a connection's nodes.
fn seqs(connection: &Value) -> Vec<u64> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a connection, not {connection}"))
        .iter()
        .map(|e| e["node"]["seq"].as_u64().expect("a seq"))
        .collect()
}

/// The `slug`s of a list of objects.
fn slugs(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list, not {list}"))
        .iter()
        .map(|o| o["slug"].as_str().expect("a slug"))
        .collect()
}

/// A hamlet under `parent`, as an `EventInput`.
fn hamlet(slug: &str, name: &str, parent: &str) -> Value {
    json!({"localityRegistered": {
        "effective": "2007-01-01", "locality": slug, "name": name,
        "kind": "HAMLET", "parent": parent, "border": false,
    }})
}

/// The same hamlet as a line of `orgledger append` input.
fn hamlet_submission(slug: &str, name: &str, parent: &str) -> Submission {
    let line = json!({
        "type": "LocalityRegistered", "effective": "2007-01-01", "locality": slug, "name": name,
        "kind": "hamlet", "parent": parent, "border": false,
    });
    Submission::from_json(&line.to_string()).expect("a valid line")
}

/// Asserts that an answer is one error of `code`, answered with `status`.
fn assert_refused(status: u16, body: &Value, expected_status: u16, expected_code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(code(body), expected_code, "{body}");
}

// ---------------------------------------------------------------------------------------
// 1. Queries.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_the_last_record_of_the_log() {
    let server = TestServer::start().await;
    let data = server
        .data(&server.reader, "{ head { seq hash recordedAt } }", json!({}))
        .await;
    let last = server.ledger.store().record(FIXTURE_EVENTS).unwrap().unwrap();
    assert_eq!(
        data["head"],
        json!({
            "seq": FIXTURE_EVENTS,
            "hash": last.hash().to_hex(),
            "recordedAt": last.recorded_at().to_string(),
        })
    );
    assert_eq!(log_head(&server), (FIXTURE_EVENTS, last.hash().to_hex()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_page_forward_and_backward_through_the_whole_log() {
    let server = TestServer::start().await;
    let expected: Vec<Value> = (1..=FIXTURE_EVENTS).map(|s| expected_event(&server, s)).collect();

    // Forward, five at a time, each page after the previous one's end cursor.
    let mut forward = Vec::new();
    let mut after = Value::Null;
    for _ in 0..5 {
        let data = server
            .data(&server.reader, EVENTS_PAGE, json!({"first": 5, "after": after}))
            .await;
        let page = data["events"].clone();
        after = page["pageInfo"]["endCursor"].clone();
        let more = page["pageInfo"]["hasNextPage"] == json!(true);
        forward.push(page);
        if !more {
            break;
        }
    }
    assert_eq!(
        forward.iter().map(seqs).collect::<Vec<_>>(),
        vec![vec![1, 2, 3, 4, 5], vec![6, 7, 8, 9, 10], vec![11, 12]]
    );
    let flags = |pages: &[Value]| -> Vec<(bool, bool)> {
        pages
            .iter()
            .map(|p| {
                (
                    p["pageInfo"]["hasPreviousPage"].as_bool().unwrap(),
                    p["pageInfo"]["hasNextPage"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(flags(&forward), vec![(false, true), (true, true), (true, false)]);

    // Backward, five at a time, each page before the previous one's start cursor.
    let mut backward = Vec::new();
    let mut before = Value::Null;
    for _ in 0..5 {
        let data = server
            .data(&server.reader, EVENTS_PAGE, json!({"last": 5, "before": before}))
            .await;
        let page = data["events"].clone();
        before = page["pageInfo"]["startCursor"].clone();
        let more = page["pageInfo"]["hasPreviousPage"] == json!(true);
        backward.push(page);
        if !more {
            break;
        }
    }
    assert_eq!(
        backward.iter().map(seqs).collect::<Vec<_>>(),
        vec![vec![8, 9, 10, 11, 12], vec![3, 4, 5, 6, 7], vec![1, 2]]
    );
    assert_eq!(flags(&backward), vec![(true, false), (true, true), (false, true)]);

    // Every page's cursors: the start and end cursors are those of its first and last
    // edges, and a `seq` has the same cursor whichever way it was reached.
    let mut cursor_of: HashMap<u64, String> = HashMap::new();
    for page in forward.iter().chain(&backward) {
        let edges = page["edges"].as_array().unwrap();
        assert_eq!(page["pageInfo"]["startCursor"], edges[0]["cursor"], "{page}");
        assert_eq!(
            page["pageInfo"]["endCursor"],
            edges[edges.len() - 1]["cursor"],
            "{page}"
        );
        for edge in edges {
            let seq = edge["node"]["seq"].as_u64().unwrap();
            let cursor = edge["cursor"].as_str().expect("a string cursor").to_owned();
            assert_eq!(
                cursor_of.entry(seq).or_insert_with(|| cursor.clone()),
                &cursor,
                "seq {seq}"
            );
            assert_eq!(edge["node"], expected[seq as usize - 1], "seq {seq}");
        }
    }
    assert_eq!(cursor_of.len(), FIXTURE_EVENTS as usize);
    let distinct: std::collections::HashSet<&String> = cursor_of.values().collect();
    assert_eq!(
        distinct.len(),
        FIXTURE_EVENTS as usize,
        "cursors must differ: {cursor_of:?}"
    );

    // Past either end: an empty page, with no cursors, that knows what lies behind it.
    let data = server
        .data(
            &server.reader,
            EVENTS_PAGE,
            json!({"first": 5, "after": cursor_of[&12]}),
        )
        .await;
    assert_eq!(
        data["events"],
        json!({"edges": [], "pageInfo": {"hasNextPage": false, "hasPreviousPage": true, "startCursor": null, "endCursor": null}})
    );
    let data = server
        .data(&server.reader, EVENTS_PAGE, json!({"last": 5, "before": cursor_of[&1]}))
        .await;
    assert_eq!(
        data["events"],
        json!({"edges": [], "pageInfo": {"hasNextPage": true, "hasPreviousPage": false, "startCursor": null, "endCursor": null}})
    );

    // Without `first` or `last`: the whole (short) log in one page.
    let data = server.data(&server.reader, EVENTS_PAGE, json!({})).await;
    assert_eq!(seqs(&data["events"]), (1..=FIXTURE_EVENTS).collect::<Vec<_>>());
    assert_eq!(data["events"]["pageInfo"]["hasNextPage"], json!(false));
    assert_eq!(data["events"]["pageInfo"]["hasPreviousPage"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cursor_leads_to_its_neighbours() {
    let server = TestServer::start().await;
    let data = server.data(&server.reader, EVENTS_PAGE, json!({"first": 12})).await;
    let edges = data["events"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 12);
    // One request asks, for each cursor, the event after it and the event before it.
    let mut query = String::from("query Neighbours {\n");
    for edge in &edges {
        let seq = edge["node"]["seq"].as_u64().unwrap();
        let cursor = serde_json::to_string(edge["cursor"].as_str().unwrap()).unwrap();
        query.push_str(&format!(
            "  next{seq}: events(first: 1, after: {cursor}) {{ edges {{ node {{ seq }} }} pageInfo {{ hasNextPage hasPreviousPage }} }}\n\
             \x20 prev{seq}: events(last: 1, before: {cursor}) {{ edges {{ node {{ seq }} }} pageInfo {{ hasNextPage hasPreviousPage }} }}\n"
        ));
    }
    query.push('}');
    let data = server.data(&server.reader, &query, json!({})).await;
    for seq in 1..=FIXTURE_EVENTS {
        let next = &data[format!("next{seq}")];
        let prev = &data[format!("prev{seq}")];
        let after: Vec<u64> = if seq < FIXTURE_EVENTS { vec![seq + 1] } else { vec![] };
        let before: Vec<u64> = if seq > 1 { vec![seq - 1] } else { vec![] };
        assert_eq!(seqs(next), after, "after the cursor of {seq}: {next}");
        assert_eq!(seqs(prev), before, "before the cursor of {seq}: {prev}");
        assert_eq!(next["pageInfo"]["hasPreviousPage"], json!(true), "after {seq}: {next}");
        assert_eq!(
            next["pageInfo"]["hasNextPage"],
            json!(seq + 1 < FIXTURE_EVENTS),
            "after {seq}: {next}"
        );
        assert_eq!(prev["pageInfo"]["hasNextPage"], json!(true), "before {seq}: {prev}");
        assert_eq!(
            prev["pageInfo"]["hasPreviousPage"],
            json!(seq > 2),
            "before {seq}: {prev}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_filters_select_what_the_fixture_holds() {
    let server = TestServer::start().await;
    let filtered = |filter: Value| {
        let server = &server;
        async move {
            let data = server
                .data(&server.reader, EVENTS_PAGE, json!({"first": 100, "filter": filter}))
                .await;
            assert_eq!(data["events"]["pageInfo"]["hasNextPage"], json!(false), "{filter}");
            assert_eq!(data["events"]["pageInfo"]["hasPreviousPage"], json!(false), "{filter}");
            seqs(&data["events"])
        }
    };
    assert_eq!(
        filtered(json!({"types": ["OrganizationFounded"]})).await,
        vec![6, 7, 8, 9]
    );
    assert_eq!(
        filtered(json!({"types": ["MemberAdmitted", "MemberOfficialized"]})).await,
        vec![11, 12]
    );
    assert_eq!(filtered(json!({"types": ["LocalityRetired"]})).await, Vec::<u64>::new());
    // The entity filter lists what `history` lists: the events that named the id.
    assert_eq!(filtered(json!({"entity": "dv-000001"})).await, vec![10, 11, 12]);
    assert_eq!(filtered(json!({"entity": "cb-ban-gioc"})).await, vec![9, 11, 12]);
    assert_eq!(filtered(json!({"entity": "xom-pac-ngoa"})).await, vec![5]);
    assert_eq!(filtered(json!({"entity": "no-such-thing"})).await, Vec::<u64>::new());
    assert_eq!(
        filtered(json!({"effectiveFrom": "2005-03-10", "effectiveTo": "2005-04-02"})).await,
        vec![10, 11]
    );
    assert_eq!(filtered(json!({"effectiveFrom": "2005-04-03"})).await, vec![12]);
    assert_eq!(
        filtered(json!({"effectiveTo": "2005-01-01"})).await,
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(filtered(json!({"seqFrom": 3, "seqTo": 6})).await, vec![3, 4, 5, 6]);
    assert_eq!(filtered(json!({"seqFrom": 11})).await, vec![11, 12]);
    assert_eq!(filtered(json!({"seqTo": 2})).await, vec![1, 2]);
    assert_eq!(filtered(json!({"seqFrom": 13})).await, Vec::<u64>::new());
    assert_eq!(
        filtered(json!({"types": ["OrganizationFounded"], "seqFrom": 8})).await,
        vec![8, 9]
    );
    assert_eq!(
        filtered(json!({"entity": "cb-ban-gioc", "types": ["MemberAdmitted"]})).await,
        vec![11]
    );
    assert_eq!(
        filtered(json!({"entity": "dv-000001", "effectiveTo": "2005-12-31", "seqFrom": 11})).await,
        vec![11]
    );

    // The history report lists the same events as the entity filter.
    for entity in ["dv-000001", "cb-ban-gioc", "xa-dam-thuy", "xom-ban-gioc"] {
        let data = server
            .data(
                &server.reader,
                "query($e: String!) { history(entity: $e, date: \"2100-01-01\") { events { seq } } }",
                json!({"e": entity}),
            )
            .await;
        let history: Vec<u64> = data["history"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert!(!history.is_empty(), "{entity}");
        assert_eq!(filtered(json!({"entity": entity})).await, history, "{entity}");
    }

    // Paging inside a filter: the flags speak of the filtered list, not the log.
    let page = |vars: Value| {
        let server = &server;
        async move { server.data(&server.reader, EVENTS_PAGE, vars).await["events"].clone() }
    };
    let founded = json!({"types": ["OrganizationFounded"]});
    let first = page(json!({"first": 2, "filter": founded})).await;
    assert_eq!(seqs(&first), vec![6, 7]);
    assert_eq!(first["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(first["pageInfo"]["hasPreviousPage"], json!(false));
    let second = page(json!({"first": 2, "after": first["pageInfo"]["endCursor"], "filter": founded})).await;
    assert_eq!(seqs(&second), vec![8, 9]);
    assert_eq!(second["pageInfo"]["hasNextPage"], json!(false));
    assert_eq!(second["pageInfo"]["hasPreviousPage"], json!(true));
    let back = page(json!({"last": 1, "before": second["pageInfo"]["startCursor"], "filter": founded})).await;
    assert_eq!(seqs(&back), vec![7]);
    assert_eq!(back["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(back["pageInfo"]["hasPreviousPage"], json!(true));

    // A type the catalogue does not know and an id that is not one are the request's fault.
    for filter in [json!({"types": ["NoSuchEvent"]}), json!({"entity": "Not An Id"})] {
        let (status, body) = server
            .gql(Some(&server.reader), EVENTS_PAGE, json!({"first": 5, "filter": filter}))
            .await;
        assert_refused(status, &body, 200, "BAD_USER_INPUT");
        assert_eq!(body["data"], Value::Null, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_sizes_and_cursors_are_checked() {
    let server = TestServer::start().await;
    let data = server.data(&server.reader, EVENTS_PAGE, json!({"first": 1000})).await;
    assert_eq!(seqs(&data["events"]).len(), 12, "a page of 1000 is allowed");
    let data = server.data(&server.reader, EVENTS_PAGE, json!({"last": 1000})).await;
    assert_eq!(seqs(&data["events"]).len(), 12, "a page of 1000 is allowed");
    for vars in [
        json!({"first": 1001}),
        json!({"last": 1001}),
        json!({"first": -1}),
        json!({"first": 5, "last": 5}),
        json!({"first": 5, "after": "not-a-cursor"}),
        json!({"last": 5, "before": "zz"}),
    ] {
        let (status, body) = server.gql(Some(&server.reader), EVENTS_PAGE, vars.clone()).await;
        assert_refused(status, &body, 200, "BAD_USER_INPUT");
        assert_eq!(body["data"], Value::Null, "{vars}: {body}");
    }
    // The cap holds for the other connections too.
    for query in [
        "{ localities(first: 1001) { edges { cursor } } }",
        "{ organizations(first: 1001) { edges { cursor } } }",
        "{ members(first: 1001) { edges { cursor } } }",
        "{ organization(id: \"cb-ban-gioc\") { members(first: 1001) { edges { cursor } } } }",
    ] {
        let (status, body) = server.gql(Some(&server.reader), query, json!({})).await;
        assert_refused(status, &body, 200, "BAD_USER_INPUT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_by_seq_and_none_past_the_head() {
    let server = TestServer::start().await;
    let query = "query($seq: Int!) { event(seq: $seq) { id seq hash prev type effective recordedAt actor payload } }";
    for seq in [1, 3, 11, 12] {
        let data = server.data(&server.reader, query, json!({"seq": seq})).await;
        assert_eq!(data["event"], expected_event(&server, seq), "seq {seq}");
    }
    // The chain: each event's `prev` is the hash of the one before.
    let first = server.data(&server.reader, query, json!({"seq": 1})).await;
    assert_eq!(first["event"]["prev"], json!("0".repeat(64)));
    for seq in [13, 0, 1_000_000] {
        let data = server.data(&server.reader, query, json!({"seq": seq})).await;
        assert_eq!(data["event"], Value::Null, "seq {seq}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_finds_every_kind_of_object_by_its_global_id() {
    let server = TestServer::start().await;
    let query = "query($id: ID!) { node(id: $id) {
        __typename id
        ... on Event { seq type }
        ... on Locality { slug name }
        ... on Organization { slug name }
        ... on Member { slug name }
    } }";
    let cases = [
        (
            "Event:3",
            json!({"__typename": "Event", "id": "Event:3", "seq": 3, "type": "LocalityRegistered"}),
        ),
        (
            "Locality:xom-ban-gioc",
            json!({"__typename": "Locality", "id": "Locality:xom-ban-gioc", "slug": "xom-ban-gioc", "name": "Bản Giốc"}),
        ),
        (
            "Organization:cb-ban-gioc",
            json!({"__typename": "Organization", "id": "Organization:cb-ban-gioc", "slug": "cb-ban-gioc", "name": "Chi bộ xóm Bản Giốc"}),
        ),
        (
            "Member:dv-000001",
            json!({"__typename": "Member", "id": "Member:dv-000001", "slug": "dv-000001", "name": "Nông Thị Hoa"}),
        ),
    ];
    for (id, expected) in cases {
        let data = server.data(&server.reader, query, json!({"id": id})).await;
        assert_eq!(data["node"], expected, "{id}");
        // The id a node gives finds the node again.
        let again = server
            .data(&server.reader, query, json!({"id": data["node"]["id"]}))
            .await;
        assert_eq!(again["node"], expected, "{id} again");
    }
    for id in [
        "Event:99",
        "Member:dv-999999",
        "Locality:xom-khong-co",
        "Organization:cb-khong-co",
    ] {
        let data = server.data(&server.reader, query, json!({"id": id})).await;
        assert_eq!(data["node"], Value::Null, "{id}");
    }
    for id in ["nonsense", "Event:three", "Planet:earth", "Member:Not An Id", ""] {
        let (status, body) = server.gql(Some(&server.reader), query, json!({"id": id})).await;
        assert_refused(status, &body, 200, "BAD_USER_INPUT");
        assert_eq!(body["data"]["node"], Value::Null, "{id}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localities_organizations_and_members_travel_in_time() {
    let server = TestServer::start().await;
    let data = server
        .data(
            &server.reader,
            r#"{
  commune: locality(id: "xa-dam-thuy", date: "2005-06-01") {
    id slug kind name border active registered
    parent { slug } children { slug } organizations { slug }
  }
  residents: locality(id: "xom-ban-gioc", date: "2005-06-01") { residents { slug } }
  noResidentsYet: locality(id: "xom-ban-gioc", date: "2005-03-01") { residents { slug } }
  unregistered: locality(id: "xom-pac-ngoa", seq: 4) { slug }
  hamlets: localities(kind: HAMLET) { edges { cursor node { slug } } pageInfo { hasNextPage } }
  committee: organization(id: "dang-uy-dam-thuy", date: "2005-06-01") {
    id slug kind name founded active
    parent { slug parent { slug } }
    children { slug } localities { slug }
  }
  cell: organization(id: "cb-ban-gioc", date: "2005-06-01") {
    members { edges { cursor node { slug name } } pageInfo { hasNextPage hasPreviousPage } }
    beforeAdmission: members(date: "2005-04-01") { edges { node { slug } } }
    unrecorded: members(seq: 10) { edges { node { slug } } }
  }
  unfounded: organization(id: "cb-ban-gioc", seq: 8) { slug }
  cells: organizations(kind: CELL) { edges { node { slug } } }
  probationary: member(id: "dv-000001", date: "2005-06-01") {
    id slug name sex birthDate admitted active status
    homeLocality { slug name } organization { slug name } admittedTo { slug }
  }
  official: member(id: "dv-000001", date: "2006-05-01") { status }
  officializationUnrecorded: member(id: "dv-000001", date: "2006-05-01", seq: 11) { status }
  notYetAdmitted: member(id: "dv-000001", date: "2005-01-01") { status active organization { slug } }
  admissionUnrecorded: member(id: "dv-000001", seq: 10) { slug }
  perField: member(id: "dv-000001", date: "2006-05-01") {
    before: status(date: "2005-06-01") after: status unrecorded: status(seq: 11)
  }
  members(active: true, date: "2005-06-01") { edges { node { slug } } }
  noMembers: members(active: true, date: "2005-01-01") { edges { node { slug } } }
}"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data["commune"],
        json!({
            "id": "Locality:xa-dam-thuy", "slug": "xa-dam-thuy", "kind": "COMMUNE", "name": "Đàm Thủy",
            "border": true, "active": true, "registered": "2005-01-01",
            "parent": {"slug": "trung-khanh"},
            "children": [{"slug": "xom-ban-gioc"}, {"slug": "xom-pac-ngoa"}],
            "organizations": [{"slug": "dang-uy-dam-thuy"}],
        })
    );
    assert_eq!(slugs(&data["residents"]["residents"]), vec!["dv-000001"]);
    assert_eq!(slugs(&data["noResidentsYet"]["residents"]), Vec::<&str>::new());
    assert_eq!(data["unregistered"], Value::Null);
    let hamlets: Vec<&str> = data["hamlets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(hamlets, vec!["xom-ban-gioc", "xom-pac-ngoa"]);
    assert_eq!(
        data["committee"],
        json!({
            "id": "Organization:dang-uy-dam-thuy", "slug": "dang-uy-dam-thuy", "kind": "GRASSROOTS_COMMITTEE",
            "name": "Đảng bộ xã Đàm Thủy", "founded": "2005-01-01", "active": true,
            "parent": {"slug": "huyen-uy-trung-khanh", "parent": {"slug": "tinh-uy-cao-bang"}},
            "children": [{"slug": "cb-ban-gioc"}],
            "localities": [{"slug": "xa-dam-thuy"}],
        })
    );
    let members = &data["cell"]["members"];
    assert_eq!(seqs_free_slugs(members), vec!["dv-000001"]);
    assert_eq!(members["edges"][0]["node"]["name"], json!("Nông Thị Hoa"));
    assert_eq!(
        members["pageInfo"],
        json!({"hasNextPage": false, "hasPreviousPage": false})
    );
    assert_eq!(seqs_free_slugs(&data["cell"]["beforeAdmission"]), Vec::<&str>::new());
    assert_eq!(seqs_free_slugs(&data["cell"]["unrecorded"]), Vec::<&str>::new());
    assert_eq!(data["unfounded"], Value::Null);
    assert_eq!(seqs_free_slugs(&data["cells"]), vec!["cb-ban-gioc"]);
    assert_eq!(
        data["probationary"],
        json!({
            "id": "Member:dv-000001", "slug": "dv-000001", "name": "Nông Thị Hoa", "sex": "FEMALE",
            "birthDate": "1982-06-15", "admitted": "2005-04-02", "active": true, "status": "PROBATIONARY",
            "homeLocality": {"slug": "xom-ban-gioc", "name": "Bản Giốc"},
            "organization": {"slug": "cb-ban-gioc", "name": "Chi bộ xóm Bản Giốc"},
            "admittedTo": {"slug": "cb-ban-gioc"},
        })
    );
    assert_eq!(data["official"], json!({"status": "OFFICIAL"}));
    assert_eq!(data["officializationUnrecorded"], json!({"status": "PROBATIONARY"}));
    assert_eq!(
        data["notYetAdmitted"],
        json!({"status": null, "active": false, "organization": null})
    );
    assert_eq!(data["admissionUnrecorded"], Value::Null);
    assert_eq!(
        data["perField"],
        json!({"before": "PROBATIONARY", "after": "OFFICIAL", "unrecorded": "PROBATIONARY"})
    );
    assert_eq!(seqs_free_slugs(&data["members"]), vec!["dv-000001"]);
    assert_eq!(seqs_free_slugs(&data["noMembers"]), Vec::<&str>::new());
}

/// The `slug`s of a connection's nodes.
fn seqs_free_slugs(connection: &Value) -> Vec<&str> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a connection, not {connection}"))
        .iter()
        .map(|e| e["node"]["slug"].as_str().expect("a slug"))
        .collect()
}

/// Rewrites every key of a JSON value from camelCase to snake_case, as the CLI names them.
fn snake_keys(value: &Value) -> Value {
    fn snake(key: &str) -> String {
        let mut out = String::with_capacity(key.len() + 4);
        for c in key.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (snake(k), snake_keys(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(snake_keys).collect()),
        other => other.clone(),
    }
}

/// The fields of every object type of the served schema, found by introspection: a field's
/// name and, when it is an object, the name of that object type.
async fn object_fields(server: &TestServer) -> HashMap<String, Vec<(String, Option<String>)>> {
    let data = server
        .data(
            &server.reader,
            "{ __schema { types { name kind fields { name type {
                kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
            } } } } }",
            json!({}),
        )
        .await;
    let mut objects = HashMap::new();
    for t in data["__schema"]["types"].as_array().unwrap() {
        if t["kind"] != "OBJECT" {
            continue;
        }
        let fields = t["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let mut ty = &f["type"];
                while ty["kind"] == "NON_NULL" || ty["kind"] == "LIST" {
                    ty = &ty["ofType"];
                }
                let object = (ty["kind"] == "OBJECT").then(|| ty["name"].as_str().unwrap().to_owned());
                (f["name"].as_str().unwrap().to_owned(), object)
            })
            .collect();
        objects.insert(t["name"].as_str().unwrap().to_owned(), fields);
    }
    objects
}

/// A selection of every field of an object type, nested objects included.
fn full_selection(objects: &HashMap<String, Vec<(String, Option<String>)>>, type_name: &str) -> String {
    let fields = objects
        .get(type_name)
        .unwrap_or_else(|| panic!("no object type {type_name}"));
    let inner: Vec<String> = fields
        .iter()
        .map(|(name, object)| match object {
            Some(t) => format!("{name} {}", full_selection(objects, t)),
            None => name.clone(),
        })
        .collect();
    format!("{{ {} }}", inner.join(" "))
}

/// One report, asked of the server and computed the way `orgledger report` computes it.
struct ReportCase {
    /// The query field and its own arguments (`roster(org: "cb-ban-gioc"`), without `)`.
    field: &'static str,
    /// The GraphQL type it answers.
    type_name: &'static str,
    kind: ReportKind,
}

fn report_cases() -> Vec<ReportCase> {
    let case = |field, type_name, kind| ReportCase { field, type_name, kind };
    vec![
        case("coverage(", "Coverage", ReportKind::Coverage),
        case("temporaryActivity(", "TemporaryActivity", ReportKind::TemporaryActivity),
        case(
            "admissions(",
            "Admissions",
            ReportKind::Admissions {
                from_year: None,
                to_year: None,
            },
        ),
        case(
            "admissions(fromYear: 2005, toYear: 2006, ",
            "Admissions",
            ReportKind::Admissions {
                from_year: Some(2005),
                to_year: Some(2006),
            },
        ),
        case("meetings(", "Meetings", ReportKind::Meetings { year: None }),
        case(
            "meetings(year: 2006, ",
            "Meetings",
            ReportKind::Meetings { year: Some(2006) },
        ),
        case("resolutions(", "Resolutions", ReportKind::Resolutions),
        case(
            "roster(org: \"cb-ban-gioc\", ",
            "Roster",
            ReportKind::Roster {
                org: "cb-ban-gioc".into(),
            },
        ),
        case(
            "roster(org: \"dang-uy-dam-thuy\", ",
            "Roster",
            ReportKind::Roster {
                org: "dang-uy-dam-thuy".into(),
            },
        ),
        case(
            "history(entity: \"dv-000001\", ",
            "History",
            ReportKind::History {
                entity: "dv-000001".into(),
            },
        ),
        case(
            "history(entity: \"xa-dam-thuy\", ",
            "History",
            ReportKind::History {
                entity: "xa-dam-thuy".into(),
            },
        ),
        case(
            "history(entity: \"cb-ban-gioc\", ",
            "History",
            ReportKind::History {
                entity: "cb-ban-gioc".into(),
            },
        ),
    ]
}

/// Asks each report at each point and compares the answer, field by field once its keys are
/// snake_case, with what the CLI's `compute` gives for the same point; where the CLI refuses
/// the point (an entity not yet known at that `seq`), the server must refuse it with
/// BAD_USER_INPUT and the same message. Answers how many points were answered.
async fn assert_reports_match_the_cli(server: &TestServer, cases: &[ReportCase], points: &[(&str, u64)]) -> usize {
    let objects = object_fields(server).await;
    let mut answered = 0;
    for case in cases {
        let selection = full_selection(&objects, case.type_name);
        for &(date, seq) in points {
            let query = format!("{{ report: {}date: \"{date}\", seq: {seq}) {selection} }}", case.field);
            let (status, body) = server.gql(Some(&server.reader), &query, json!({})).await;
            let expected = {
                let projection = server.ledger.projection();
                let as_of = AsOf {
                    date: Some(date.to_owned()),
                    seq: Some(seq),
                };
                compute(&case.kind, &as_of, &projection, Some(server.ledger.store()))
            };
            let at = format!("{} at {date} / {seq}", case.field);
            assert_eq!(status, 200, "{at}: {body}");
            match expected {
                Ok(expected) => {
                    assert!(body.get("errors").is_none(), "{at}: {body}");
                    assert_eq!(
                        snake_keys(&body["data"]["report"]),
                        expected,
                        "{at}: the GraphQL answer differs from the CLI's JSON"
                    );
                    answered += 1;
                }
                Err(CommandError::Rejected(message)) => {
                    assert_eq!(code(&body), "BAD_USER_INPUT", "{at}: {body}");
                    assert_eq!(body["errors"][0]["message"], json!(message), "{at}: {body}");
                }
                Err(other) => panic!("{at}: the CLI failed: {other}"),
            }
        }
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_matches_the_json_of_the_cli() {
    let server = TestServer::start().await;
    let points = [
        ("2005-02-01", 9),
        ("2005-06-01", 11),
        ("2005-06-01", 12),
        ("2007-01-01", 11),
        ("2007-01-01", 12),
        ("2030-12-31", 12),
    ];
    let cases = report_cases();
    let answered = assert_reports_match_the_cli(&server, &cases, &points).await;
    // Only the history of dv-000001 at seq 9 (before her first event) is refused.
    assert_eq!(answered, cases.len() * points.len() - 1);

    // The fixture issues no programme and plans no term: both reports refuse the id, with
    // the CLI's own message.
    let refusals = [
        (
            "{ standardization(programme: \"03-da-tu\", date: \"2007-01-01\", seq: 12) { programme } }",
            ReportKind::Standardization {
                programme: "03-da-tu".into(),
            },
        ),
        (
            "{ planning(term: \"2010-2015\", date: \"2007-01-01\", seq: 12) { term } }",
            ReportKind::Planning {
                term: "2010-2015".into(),
            },
        ),
        (
            "{ roster(org: \"cb-khong-co\", date: \"2007-01-01\", seq: 12) { org } }",
            ReportKind::Roster {
                org: "cb-khong-co".into(),
            },
        ),
        (
            "{ history(entity: \"dv-999999\", date: \"2007-01-01\", seq: 12) { entity } }",
            ReportKind::History {
                entity: "dv-999999".into(),
            },
        ),
        (
            "{ admissions(fromYear: 2007, toYear: 2005, date: \"2007-01-01\", seq: 12) { seq } }",
            ReportKind::Admissions {
                from_year: Some(2007),
                to_year: Some(2005),
            },
        ),
    ];
    for (query, kind) in refusals {
        let (status, body) = server.gql(Some(&server.reader), query, json!({})).await;
        assert_refused(status, &body, 200, "BAD_USER_INPUT");
        let as_of = AsOf {
            date: Some("2007-01-01".into()),
            seq: Some(12),
        };
        let cli = {
            let projection = server.ledger.projection();
            compute(&kind, &as_of, &projection, Some(server.ledger.store()))
        };
        match cli {
            Err(CommandError::Rejected(message)) => {
                assert_eq!(body["errors"][0]["message"], json!(message), "{query}")
            }
            other => panic!("the CLI should refuse {kind:?} too, not {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standardization_planning_meetings_and_resolutions_match_the_cli_on_a_richer_ledger() {
    // The fixture, then a programme with an assessment and a training, a plan for a term, a
    // second cell hosting dv-000001 on temporary activity, meetings of a cell rated weak,
    // and a resolution: enough for every count of those reports to be non-zero somewhere.
    let extra = [
        r#"{"type":"OrganizationFounded","effective":"2006-03-01","org":"cb-pac-ngoa","name":"Chi bộ xóm Pác Ngòa","kind":"cell","parent":"dang-uy-dam-thuy","localities":["xom-pac-ngoa"],"decision":{"number":"52-QĐ/ĐU","date":"2006-02-20","issuer":"dang-uy-dam-thuy"}}"#,
        r#"{"type":"InstrumentIssued","effective":"2006-05-01","instrument":"03-da-tu","kind":"project","title":"Chuẩn hóa đội ngũ cán bộ cơ sở","issuer":"tinh-uy-cao-bang","starts":"2006-05-01","ends":"2010-12-31"}"#,
        r#"{"type":"CellMeetingHeld","effective":"2006-05-05","cell":"cb-ban-gioc","kind":"regular","attendance":1}"#,
        r#"{"type":"CadreAssessed","effective":"2006-06-01","person":"dv-000001","programme":"03-da-tu","meets_standard":false,"gaps":["education","political_theory"]}"#,
        r#"{"type":"TrainingCompleted","effective":"2006-09-01","person":"dv-000001","course":"Trung cấp lý luận chính trị","dimension":"political_theory","level":"trung cấp","programme":"03-da-tu"}"#,
        r#"{"type":"QualityRated","effective":"2006-12-31","subject":"cb-ban-gioc","year":2006,"level":"weak"}"#,
        r#"{"type":"CadrePlanned","effective":"2007-01-01","person":"dv-000001","term":"2010-2015","position":"pho-bi-thu","org":"dang-uy-dam-thuy"}"#,
        r#"{"type":"CellMeetingHeld","effective":"2007-03-03","cell":"cb-ban-gioc","kind":"thematic","attendance":1,"supervisor_present":false,"topics":["Hiến đất làm đường"]}"#,
        r#"{"type":"ResolutionAdopted","effective":"2007-03-03","cell":"cb-ban-gioc","resolution":"nq-01-2007","topic":"rural_roads","title":"Làm đường giao thông nông thôn"}"#,
        r#"{"type":"TemporaryActivityStarted","effective":"2007-06-01","member":"dv-000001","host_org":"cb-pac-ngoa"}"#,
    ];
    let mut events = fixture_events();
    events.extend(extra.iter().map(|l| Submission::from_json(l).expect("a valid line")));
    let server = TestServer::start_with(Setup {
        events,
        ..Setup::default()
    })
    .await;
    let head = FIXTURE_EVENTS + extra.len() as u64;
    assert_eq!(log_head(&server).0, head);

    let mut cases = report_cases();
    cases.extend([
        ReportCase {
            field: "standardization(programme: \"03-da-tu\", ",
            type_name: "Standardization",
            kind: ReportKind::Standardization {
                programme: "03-da-tu".into(),
            },
        },
        ReportCase {
            field: "planning(term: \"2010-2015\", ",
            type_name: "Planning",
            kind: ReportKind::Planning {
                term: "2010-2015".into(),
            },
        },
        ReportCase {
            field: "meetings(year: 2007, ",
            type_name: "Meetings",
            kind: ReportKind::Meetings { year: Some(2007) },
        },
        ReportCase {
            field: "roster(org: \"cb-pac-ngoa\", ",
            type_name: "Roster",
            kind: ReportKind::Roster {
                org: "cb-pac-ngoa".into(),
            },
        },
    ]);
    let points = [
        ("2005-06-01", head),
        ("2006-05-15", head),
        ("2006-07-01", head),
        ("2006-10-01", head),
        ("2008-01-01", head),
        ("2008-01-01", 18),
        ("2030-12-31", head),
    ];
    let answered = assert_reports_match_the_cli(&server, &cases, &points).await;
    // Only the plan at seq 18 is refused: the term is planned at seq 19.
    assert_eq!(answered, cases.len() * points.len() - 1);

    // A few figures read from the answers, so that the comparison above is not between two
    // empty reports.
    let data = server
        .data(
            &server.reader,
            r#"{
  standardization(programme: "03-da-tu", date: "2006-10-01") { assessed belowStandard gapsOpen { education politicalTheory } }
  planning(term: "2010-2015", date: "2008-01-01") { planned women cadres { person } }
  meetings(date: "2008-01-01") { meetings regular thematic ofWeakCells }
  resolutions(date: "2008-01-01") { total byTopic { ruralRoads } }
  temporaryActivity(date: "2008-01-01") { members hosts { host } }
  node(id: "Cadre:dv-000001") { __typename id ... on Cadre { slug plans(date: "2008-01-01") { term position organization } } }
}"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({
            "standardization": {"assessed": 1, "belowStandard": 1, "gapsOpen": {"education": 1, "politicalTheory": 0}},
            "planning": {"planned": 1, "women": 1, "cadres": [{"person": "dv-000001"}]},
            "meetings": {"meetings": 2, "regular": 1, "thematic": 1, "ofWeakCells": 1},
            "resolutions": {"total": 1, "byTopic": {"ruralRoads": 1}},
            "temporaryActivity": {"members": 1, "hosts": [{"host": "cb-pac-ngoa"}]},
            "node": {"__typename": "Cadre", "id": "Cadre:dv-000001", "slug": "dv-000001",
                "plans": [{"term": "2010-2015", "position": "pho-bi-thu", "organization": "dang-uy-dam-thuy"}]},
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_past_the_head_is_bad_user_input() {
    let server = TestServer::start().await;
    for query in [
        "{ coverage(seq: 13) { seq } }",
        "{ temporaryActivity(seq: 13) { seq } }",
        "{ admissions(seq: 13) { seq } }",
        "{ meetings(seq: 13) { seq } }",
        "{ resolutions(seq: 13) { seq } }",
        "{ roster(org: \"cb-ban-gioc\", seq: 13) { seq } }",
        "{ history(entity: \"dv-000001\", seq: 13) { seq } }",
        "{ standardization(programme: \"03-da-tu\", seq: 13) { seq } }",
        "{ planning(term: \"2010-2015\", seq: 13) { seq } }",
        "{ member(id: \"dv-000001\", seq: 13) { slug } }",
        "{ locality(id: \"xa-dam-thuy\", seq: 99) { slug } }",
        "{ organization(id: \"cb-ban-gioc\", seq: 13) { slug } }",
        "{ members(seq: 13) { edges { cursor } } }",
        "{ member(id: \"dv-000001\") { status(seq: 13) } }",
    ] {
        let (status, body) = server.gql(Some(&server.reader), query, json!({})).await;
        assert_refused(status, &body, 200, "BAD_USER_INPUT");
        assert!(
            body["errors"][0]["message"].as_str().unwrap_or("").contains("13")
                || body["errors"][0]["message"].as_str().unwrap_or("").contains("99"),
            "the message names the seq: {query}: {body}"
        );
    }
    // At the head itself, the question is fine.
    let data = server
        .data(
            &server.reader,
            "{ coverage(seq: 12, date: \"2006-01-01\") { seq } }",
            json!({}),
        )
        .await;
    assert_eq!(data["coverage"]["seq"], json!(12));
}

// ---------------------------------------------------------------------------------------
// 2. Mutations.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_of_two_hamlets_is_durable_and_recorded_under_the_token_name() {
    let server = TestServer::start().await;
    let events = json!([
        hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy"),
        hamlet("xom-khuoi-ky", "Khuổi Ky", "xa-dam-thuy"),
    ]);
    let data = server
        .data(&server.clerk, APPEND, json!({"events": events, "expectedSeq": 12}))
        .await;
    let appended = &data["append"];
    let (head_seq, head_hash) = log_head(&server);
    assert_eq!(head_seq, 14);
    let hash_of = |seq| server.ledger.store().record(seq).unwrap().unwrap().hash().to_hex();
    assert_eq!(
        appended,
        &json!({
            "events": [{"seq": 13, "hash": hash_of(13)}, {"seq": 14, "hash": hash_of(14)}],
            "head": {"seq": 14, "hash": head_hash},
        })
    );
    let data = server
        .data(
            &server.reader,
            "{ head { seq hash }
               a: event(seq: 13) { actor type effective payload }
               b: event(seq: 14) { actor type payload }
               locality(id: \"xa-dam-thuy\", date: \"2007-06-01\") { children { slug name kind } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["head"], appended["head"]);
    assert_eq!(
        data["a"],
        json!({
            "actor": "clerk-1", "type": "LocalityRegistered", "effective": "2007-01-01",
            "payload": {"locality": "xom-na-ray", "name": "Nà Rày", "kind": "hamlet", "parent": "xa-dam-thuy", "border": false},
        })
    );
    assert_eq!(data["b"]["actor"], json!("clerk-1"));
    assert_eq!(data["b"]["payload"]["locality"], json!("xom-khuoi-ky"));
    assert_eq!(
        slugs(&data["locality"]["children"]),
        vec!["xom-ban-gioc", "xom-khuoi-ky", "xom-na-ray", "xom-pac-ngoa"]
    );
    // The admin appends too, under its own name; literal enums are SCREAMING_CASE.
    let data = server
        .data(
            &server.admin,
            r#"mutation { append(events: [{localityRegistered: {effective: "2007-02-01", locality: "xom-pac-rang", name: "Pác Rằng", kind: HAMLET, parent: "xa-dam-thuy", border: true}}]) { head { seq } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(15));
    let data = server
        .data(&server.reader, "{ event(seq: 15) { actor payload } }", json!({}))
        .await;
    assert_eq!(data["event"]["actor"], json!("admin-1"));
    assert_eq!(data["event"]["payload"]["kind"], json!("hamlet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_second_event_breaks_a_rule_appends_nothing() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    // What the rules say of the same batch, applied to the fixture's state.
    let expected_rule = {
        let mut state = State::new();
        let today = Date::parse("2100-01-01").unwrap();
        for sub in fixture_events() {
            state.submit(&sub, today).expect("the fixture is valid");
        }
        state
            .submit(&hamlet_submission("xom-na-ray", "Nà Rày", "xa-dam-thuy"), today)
            .expect("the first hamlet is valid");
        state
            .submit(&hamlet_submission("xom-lung-ngoa", "Lũng Ngòa", "xa-khong-co"), today)
            .expect_err("a hamlet under an unknown commune breaks a rule")
            .rule
    };
    let events = json!([
        hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy"),
        hamlet("xom-lung-ngoa", "Lũng Ngòa", "xa-khong-co"),
    ]);
    let (status, body) = server.gql(Some(&server.clerk), APPEND, json!({"events": events})).await;
    assert_refused(status, &body, 200, "RULE_VIOLATION");
    let extensions = &body["errors"][0]["extensions"];
    assert_eq!(extensions["rule"], json!(expected_rule), "{body}");
    assert_eq!(extensions["index"], json!(1), "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(log_head(&server), before, "nothing appended");
    let data = server
        .data(
            &server.reader,
            "{ head { seq } locality(id: \"xom-na-ray\") { slug } event(seq: 13) { seq } }",
            json!({}),
        )
        .await;
    assert_eq!(data, json!({"head": {"seq": 12}, "locality": null, "event": null}));
    // The first event alone is fine: the refusal was the batch's, not the first event's.
    let data = server
        .data(
            &server.clerk,
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_expected_seq_is_a_conflict_and_appends_nothing() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    let events = json!([hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]);
    for stale in [11, 0, 13] {
        let (status, body) = server
            .gql(
                Some(&server.clerk),
                APPEND,
                json!({"events": events, "expectedSeq": stale}),
            )
            .await;
        assert_refused(status, &body, 200, "CONFLICT");
        assert_eq!(body["data"], Value::Null, "{body}");
        assert_eq!(log_head(&server), before, "nothing appended for expectedSeq {stale}");
    }
    let data = server
        .data(&server.clerk, APPEND, json!({"events": events, "expectedSeq": 12}))
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(13));
    // The same expectation again is now stale.
    let (status, body) = server
        .gql(
            Some(&server.clerk),
            APPEND,
            json!({"events": [hamlet("xom-khuoi-ky", "Khuổi Ky", "xa-dam-thuy")], "expectedSeq": 12}),
        )
        .await;
    assert_refused(status, &body, 200, "CONFLICT");
    assert_eq!(log_head(&server).0, 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_appends_once() {
    let server = TestServer::start().await;
    let events = json!([
        hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy"),
        hamlet("xom-khuoi-ky", "Khuổi Ky", "xa-dam-thuy"),
    ]);
    let vars = json!({"events": events, "key": "phieu-2007-001"});
    let first = server.data(&server.clerk, APPEND, vars.clone()).await;
    let after_first = log_head(&server);
    assert_eq!(after_first.0, 14);
    let again = server.data(&server.clerk, APPEND, vars.clone()).await;
    assert_eq!(again, first, "the same key returns the first result");
    assert_eq!(log_head(&server), after_first, "and appends nothing");
    let head = server.data(&server.reader, "{ head { seq hash } }", json!({})).await;
    assert_eq!(head["head"], first["append"]["head"]);

    // The same key with other events is refused, and appends nothing either.
    let other = json!({"events": [hamlet("xom-pac-rang", "Pác Rằng", "xa-dam-thuy")], "key": "phieu-2007-001"});
    let (status, body) = server.gql(Some(&server.clerk), APPEND, other).await;
    assert_refused(status, &body, 200, "BAD_USER_INPUT");
    assert_eq!(log_head(&server), after_first);

    // A fresh key appends.
    let fresh = json!({"events": [hamlet("xom-pac-rang", "Pác Rằng", "xa-dam-thuy")], "key": "phieu-2007-002"});
    let data = server.data(&server.clerk, APPEND, fresh).await;
    assert_eq!(data["append"]["head"]["seq"], json!(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_values_are_bad_user_input_and_append_nothing() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    let good = hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy");
    let bad_slug = hamlet("Xóm Bad Slug!", "Nà Rày", "xa-dam-thuy");
    let empty_name = hamlet("xom-khuoi-ky", "", "xa-dam-thuy");
    // Values GraphQL's types let through, that the ledger's own checks refuse.
    for (what, second) in [("a bad slug", bad_slug), ("an empty name", empty_name)] {
        let (status, body) = server
            .gql(Some(&server.clerk), APPEND, json!({"events": [good.clone(), second]}))
            .await;
        assert_refused(status, &body, 200, "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["index"], json!(1), "{what}: {body}");
        assert_eq!(log_head(&server), before, "{what}: nothing appended");
    }
    // A date that is no date, in a literal (refused by validation) and in a variable
    // (refused by the coercion of variables): neither runs.
    let (status, body) = server
        .gql(
            Some(&server.clerk),
            r#"mutation { append(events: [{localityRegistered: {effective: "2007-13-45", locality: "xom-na-ray", name: "Nà Rày", kind: HAMLET, parent: "xa-dam-thuy", border: false}}]) { head { seq } } }"#,
            json!({}),
        )
        .await;
    assert_refused(status, &body, 400, "BAD_USER_INPUT");
    assert!(body.get("data").is_none(), "{body}");
    let mut bad_date = good.clone();
    bad_date["localityRegistered"]["effective"] = json!("2007-02-30");
    let (status, body) = server
        .gql(Some(&server.clerk), APPEND, json!({"events": [good.clone(), bad_date]}))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        status, 400,
        "a variable that cannot be coerced is a request error: {body}"
    );
    assert!(body.get("data").is_none(), "{body}");
    // A field the input type does not have, and a date outside the ledger's calendar.
    let mut unknown_field = good.clone();
    unknown_field["localityRegistered"]["population"] = json!(1200);
    let mut too_early = good.clone();
    too_early["localityRegistered"]["effective"] = json!("1800-01-01");
    for (what, event) in [("an unknown field", unknown_field), ("a date before 1900", too_early)] {
        let (status, body) = server
            .gql(Some(&server.clerk), APPEND, json!({"events": [event]}))
            .await;
        assert_refused(status, &body, 400, "BAD_USER_INPUT");
        assert!(body.get("data").is_none(), "{what}: {body}");
    }
    assert_eq!(log_head(&server), before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_input_with_two_types_and_an_empty_batch_are_refused() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    // Two fields of a @oneOf input, written in the query: a validation error.
    let (status, body) = server
        .gql(
            Some(&server.clerk),
            r#"mutation { append(events: [{
                localityRegistered: {effective: "2007-01-01", locality: "xom-na-ray", name: "Nà Rày", kind: HAMLET, parent: "xa-dam-thuy", border: false},
                memberOfficialized: {effective: "2007-01-01", member: "dv-000001"}
            }]) { head { seq } } }"#,
            json!({}),
        )
        .await;
    assert_refused(status, &body, 400, "BAD_USER_INPUT");
    assert!(body.get("data").is_none(), "{body}");
    // The same in a variable.
    let mut two = hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy");
    two["memberOfficialized"] = json!({"effective": "2007-01-01", "member": "dv-000001"});
    let (status, body) = server.gql(Some(&server.clerk), APPEND, json!({"events": [two]})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(status, 400, "a variable that breaks @oneOf is a request error: {body}");
    // No field at all.
    let (status, body) = server.gql(Some(&server.clerk), APPEND, json!({"events": [{}]})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(status, 400, "an EventInput with no field is a request error: {body}");
    // An empty batch.
    let (status, body) = server.gql(Some(&server.clerk), APPEND, json!({"events": []})).await;
    assert_refused(status, &body, 200, "BAD_USER_INPUT");
    let (status, body) = server
        .gql(
            Some(&server.clerk),
            "mutation { append(events: []) { head { seq } } }",
            json!({}),
        )
        .await;
    assert_refused(status, &body, 200, "BAD_USER_INPUT");
    assert_eq!(log_head(&server), before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enumerations_are_screaming_case() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    let lower = r#"mutation { append(events: [{localityRegistered: {effective: "2007-01-01", locality: "xom-na-ray", name: "Nà Rày", kind: hamlet, parent: "xa-dam-thuy", border: false}}]) { head { seq } } }"#;
    let (status, body) = server.gql(Some(&server.clerk), lower, json!({})).await;
    assert_refused(status, &body, 400, "BAD_USER_INPUT");
    let mut lower_variable = hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy");
    lower_variable["localityRegistered"]["kind"] = json!("hamlet");
    let (_, body) = server
        .gql(Some(&server.clerk), APPEND, json!({"events": [lower_variable]}))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(log_head(&server), before, "nothing appended");
    let upper = lower.replace("kind: hamlet", "kind: HAMLET");
    let data = server.data(&server.clerk, &upper, json!({})).await;
    assert_eq!(data["append"]["head"]["seq"], json!(13));
    let data = server
        .data(&server.reader, "{ locality(id: \"xom-na-ray\") { kind } }", json!({}))
        .await;
    assert_eq!(data["locality"]["kind"], json!("HAMLET"));
}

// ---------------------------------------------------------------------------------------
// 3. Access.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_token_nothing_is_served() {
    let server = TestServer::start().await;
    let query = json!({"query": "{ head { seq } }"});
    let unknown = "olt_0000000000000000000000000000000000000000000";
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("no token", server.http.post(server.graphql_url()).json(&query)),
        (
            "an unknown token",
            server.http.post(server.graphql_url()).json(&query).bearer_auth(unknown),
        ),
        (
            "an empty bearer",
            server
                .http
                .post(server.graphql_url())
                .json(&query)
                .header("authorization", "Bearer "),
        ),
        (
            "another scheme",
            server
                .http
                .post(server.graphql_url())
                .json(&query)
                .header("authorization", format!("Basic {}", server.reader)),
        ),
        (
            "a GET without token",
            server
                .http
                .get(server.graphql_url())
                .query(&[("query", "{ head { seq } }")]),
        ),
        (
            "a mutation without token",
            server.http.post(server.graphql_url()).json(
                &json!({"query": APPEND, "variables": {"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}}),
            ),
        ),
    ];
    for (what, request) in cases {
        let reply = send(request).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        assert_eq!(reply.header("www-authenticate"), "Bearer", "{what}");
        assert_eq!(reply.content_type(), GRAPHQL_RESPONSE, "{what}");
        let body = reply.json();
        assert_eq!(code(&body), "UNAUTHENTICATED", "{what}: {body}");
        assert!(body.get("data").is_none(), "{what}: {body}");
    }
    assert_eq!(log_head(&server).0, FIXTURE_EVENTS, "nothing appended");
    // Every role reads.
    for token in [&server.reader, &server.clerk, &server.auditor, &server.admin] {
        let data = server.data(token, "{ head { seq } }", json!({})).await;
        assert_eq!(data["head"]["seq"], json!(12));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_clerks_and_admins_append() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    for (who, token) in [("reader", &server.reader), ("auditor", &server.auditor)] {
        let (status, body) = server
            .gql(
                Some(token),
                APPEND,
                json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
            )
            .await;
        assert_refused(status, &body, 200, "FORBIDDEN");
        assert_eq!(body["data"], Value::Null, "{who}: {body}");
        assert_eq!(log_head(&server), before, "{who}: nothing appended");
    }
    let data = server
        .data(
            &server.clerk,
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(13));
    let data = server
        .data(
            &server.admin,
            APPEND,
            json!({"events": [hamlet("xom-khuoi-ky", "Khuổi Ky", "xa-dam-thuy")]}),
        )
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(14));
    let data = server
        .data(
            &server.reader,
            "{ a: event(seq: 13) { actor } b: event(seq: 14) { actor } }",
            json!({}),
        )
        .await;
    assert_eq!(data, json!({"a": {"actor": "clerk-1"}, "b": {"actor": "admin-1"}}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_while_the_server_runs_is_refused_at_the_next_request() {
    let server = TestServer::start().await;
    let data = server.data(&server.clerk, "{ head { seq } }", json!({})).await;
    assert_eq!(data["head"]["seq"], json!(12));
    orgledger::tokens::revoke(server.data.path(), "clerk-1").expect("the clerk's token is revoked");
    let (status, body) = server.gql(Some(&server.clerk), "{ head { seq } }", json!({})).await;
    assert_refused(status, &body, 401, "UNAUTHENTICATED");
    let (status, body) = server
        .gql(
            Some(&server.clerk),
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    assert_refused(status, &body, 401, "UNAUTHENTICATED");
    assert_eq!(log_head(&server).0, FIXTURE_EVENTS, "nothing appended");
    // The other tokens still work.
    let data = server.data(&server.reader, "{ head { seq } }", json!({})).await;
    assert_eq!(data["head"]["seq"], json!(12));
    // A token added while the server runs works at once.
    let new_clerk = orgledger::tokens::add(server.data.path(), "clerk-2", orgledger::tokens::Role::Clerk).unwrap();
    let data = server
        .data(
            &new_clerk,
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_read_opens_the_queries_and_never_the_mutations() {
    let server = TestServer::start_with(Setup {
        public_read: true,
        ..Setup::default()
    })
    .await;
    let before = log_head(&server);
    let (status, content_type, body) = server
        .post_raw(
            None,
            &json!({"query": "{ head { seq } member(id: \"dv-000001\") { name } }"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, GRAPHQL_RESPONSE);
    assert_eq!(
        body,
        json!({"data": {"head": {"seq": 12}, "member": {"name": "Nông Thị Hoa"}}})
    );
    let reply = get_graphql(&server, None, &[("query", "{ head { seq } }")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["data"]["head"]["seq"], json!(12));

    let (status, body) = server
        .gql(
            None,
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    assert_refused(status, &body, 200, "UNAUTHENTICATED");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(log_head(&server), before, "nothing appended");

    // A token that is wrong is still refused, for reads too.
    let (status, body) = server.gql(Some("olt_not-a-token"), "{ head { seq } }", json!({})).await;
    assert_refused(status, &body, 401, "UNAUTHENTICATED");
    // A reader's token reads, and still may not append.
    let (status, body) = server
        .gql(
            Some(&server.reader),
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    assert_refused(status, &body, 200, "FORBIDDEN");
    // The export stays closed to anonymous callers.
    let reply = send(server.http.get(format!("{}/export", server.base))).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(code(&reply.json()), "UNAUTHENTICATED");
    assert_eq!(log_head(&server), before, "nothing appended");
    // A clerk appends as usual.
    let data = server
        .data(
            &server.clerk,
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_is_for_auditors_and_admins() {
    let server = TestServer::start().await;
    // One event of the server's own, so the export is more than the fixture.
    server
        .data(
            &server.clerk,
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}),
        )
        .await;
    let expected: String = server
        .ledger
        .store()
        .records(1)
        .map(|r| r.expect("a record").export_line() + "\n")
        .collect();
    assert_eq!(expected.lines().count(), 13);
    let export = |token: Option<&str>| {
        let mut request = server.http.get(format!("{}/export", server.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        send(request)
    };
    for (who, token) in [("auditor", &server.auditor), ("admin", &server.admin)] {
        let reply = export(Some(token)).await;
        assert_eq!(reply.status, 200, "{who}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/x-ndjson", "{who}");
        assert_eq!(reply.text, expected, "{who}");
        // The export verifies on its own, to the head the server serves.
        let verdict = orgledger::commands::check_export(reply.text.as_bytes(), |_| Ok(()))
            .expect("the export reads")
            .expect("the export verifies");
        assert_eq!((verdict.seq, verdict.hash.to_hex()), log_head(&server), "{who}");
    }
    for (who, token) in [("reader", &server.reader), ("clerk", &server.clerk)] {
        let reply = export(Some(token)).await;
        assert_eq!(reply.status, 403, "{who}: {}", reply.text);
        assert_eq!(reply.content_type(), GRAPHQL_RESPONSE, "{who}");
        assert_eq!(code(&reply.json()), "FORBIDDEN", "{who}");
    }
    let reply = export(None).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.header("www-authenticate"), "Bearer");
    assert_eq!(code(&reply.json()), "UNAUTHENTICATED");
    let reply = export(Some("olt_not-a-token")).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_without_a_token() {
    let server = TestServer::start().await;
    let reply = send(server.http.get(format!("{}/healthz", server.base))).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.text, "ok\n");
    let reply = send(server.http.get(format!("{}/no-such-path", server.base))).await;
    assert_eq!(reply.status, 404);
}

// ---------------------------------------------------------------------------------------
// 4. HTTP rules and limits.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_graphql_responses_unless_the_client_accepts_only_json() {
    let server = TestServer::start().await;
    let body = json!({"query": "{ head { seq } }"}).to_string();
    let post = |accept: Option<&str>| {
        let mut request = server
            .http
            .post(server.graphql_url())
            .bearer_auth(&server.reader)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(a) = accept {
            request = request.header("accept", a);
        }
        send(request)
    };
    for (accept, media) in [
        (None, GRAPHQL_RESPONSE),
        (Some("application/graphql-response+json"), GRAPHQL_RESPONSE),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
        (Some("*/*"), GRAPHQL_RESPONSE),
        (Some("application/json"), "application/json; charset=utf-8"),
    ] {
        let reply = post(accept).await;
        assert_eq!(reply.status, 200, "{accept:?}: {}", reply.text);
        assert_eq!(reply.content_type(), media, "Accept: {accept:?}");
        assert_eq!(reply.json(), json!({"data": {"head": {"seq": 12}}}), "{accept:?}");
    }
    // No Accept at all (reqwest always sends one, so the request is written by hand): GraphQL
    // over HTTP reads it as application/json.
    let reply = post_without_accept(&server, &server.reader, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/json; charset=utf-8");
    assert_eq!(reply.json(), json!({"data": {"head": {"seq": 12}}}));
    // A content type with parameters is still JSON.
    let reply = post_with_type(
        &server,
        Some(&server.reader),
        "application/json; charset=utf-8",
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_do_not_parse_or_validate_are_400_without_data() {
    let server = TestServer::start().await;
    for (what, query) in [
        ("does not parse", "{ head { seq "),
        ("does not parse", "query query query"),
        ("an unknown field", "{ head { seq nope } }"),
        ("an unknown root field", "{ nope }"),
        ("a missing argument", "{ event { seq } }"),
        ("an argument of the wrong type", "{ event(seq: \"one\") { seq } }"),
        ("an undefined variable", "query { event(seq: $seq) { seq } }"),
        ("a selection on a scalar", "{ head { seq { x } } }"),
    ] {
        let (status, content_type, body) = server.post_raw(Some(&server.reader), &json!({"query": query})).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(content_type, GRAPHQL_RESPONSE, "{what}");
        assert_eq!(code(&body), "BAD_USER_INPUT", "{what}: {body}");
        assert!(body.get("data").is_none(), "{what}: {body}");
    }
    // A body that is not a GraphQL request at all.
    for body in [
        "{\"query\": ",
        "[1, 2]",
        "\"{ head { seq } }\"",
        "{}",
        "{\"query\": 42}",
        "",
    ] {
        let reply = post_with_type(&server, Some(&server.reader), "application/json", body.into()).await;
        assert_eq!(reply.status, 400, "{body:?}: {}", reply.text);
        assert_eq!(reply.content_type(), GRAPHQL_RESPONSE, "{body:?}");
        let answer = reply.json();
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{body:?}: {answer}");
        assert!(answer.get("data").is_none(), "{body:?}: {answer}");
    }
    // As application/json (asked for, or no Accept at all), the same refusals are 200 with
    // the errors and still no `data`: GraphQL over HTTP keeps 4xx for
    // application/graphql-response+json. A body that is no GraphQL request stays 400.
    for query in ["{ head { seq ", "{ nope }", "{ event { seq } }"] {
        let body = json!({"query": query}).to_string();
        let asked = send(
            server
                .http
                .post(server.graphql_url())
                .bearer_auth(&server.reader)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .body(body.clone()),
        )
        .await;
        let unasked = post_without_accept(&server, &server.reader, &body).await;
        for (how, reply) in [("Accept: application/json", asked), ("no Accept", unasked)] {
            assert_eq!(reply.status, 200, "{query} with {how}: {}", reply.text);
            assert_eq!(reply.content_type(), "application/json; charset=utf-8", "{how}");
            let answer = reply.json();
            assert_eq!(code(&answer), "BAD_USER_INPUT", "{query} with {how}: {answer}");
            assert!(answer.get("data").is_none(), "{query} with {how}: {answer}");
        }
    }
    let reply = post_without_accept(&server, &server.reader, "{\"query\": ").await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    // Two operations and no name: which to run cannot be told.
    let (status, _, body) = server
        .post_raw(
            Some(&server.reader),
            &json!({"query": "query A { head { seq } } query B { head { hash } }"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_are_not_run_over_get() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    let mutation = r#"mutation { append(events: [{localityRegistered: {effective: "2007-01-01", locality: "xom-na-ray", name: "Nà Rày", kind: HAMLET, parent: "xa-dam-thuy", border: false}}]) { head { seq } } }"#;
    let named = format!(
        "query Read {{ head {{ seq }} }} {}",
        mutation.replacen("mutation", "mutation Write", 1)
    );
    for (what, params) in [
        ("a mutation", vec![("query", mutation.to_owned())]),
        (
            "a named mutation",
            vec![("query", named.clone()), ("operationName", "Write".to_owned())],
        ),
    ] {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = get_graphql(&server, Some(&server.clerk), &params).await;
        assert_eq!(reply.status, 405, "{what}: {}", reply.text);
        assert_eq!(reply.header("allow"), "POST", "{what}");
        assert_eq!(reply.content_type(), GRAPHQL_RESPONSE, "{what}");
        let body = reply.json();
        assert_eq!(code(&body), "BAD_USER_INPUT", "{what}: {body}");
        assert!(body.get("data").is_none(), "{what}: {body}");
        assert_eq!(log_head(&server), before, "{what}: nothing appended");
    }
    // The query of the same document runs over GET.
    let reply = get_graphql(
        &server,
        Some(&server.clerk),
        &[("query", named.as_str()), ("operationName", "Read")],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json(), json!({"data": {"head": {"seq": 12}}}));
    // A query over GET, with variables.
    let reply = get_graphql(
        &server,
        Some(&server.reader),
        &[
            ("query", "query($seq: Int!) { event(seq: $seq) { type } }"),
            ("variables", "{\"seq\": 11}"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), GRAPHQL_RESPONSE);
    assert_eq!(reply.json(), json!({"data": {"event": {"type": "MemberAdmitted"}}}));
    // A GET that does not validate is 400 too.
    let reply = get_graphql(&server, Some(&server.reader), &[("query", "{ nope }")]).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(code(&reply.json()), "BAD_USER_INPUT");
    assert_eq!(log_head(&server), before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_bodies_must_be_json() {
    let server = TestServer::start().await;
    let before = log_head(&server);
    let mutation = json!({"query": APPEND, "variables": {"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}});
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql",
        "",
    ] {
        let reply = post_with_type(&server, Some(&server.clerk), content_type, mutation.to_string()).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.text);
        assert_eq!(reply.content_type(), GRAPHQL_RESPONSE, "{content_type:?}");
        assert_eq!(code(&reply.json()), "BAD_USER_INPUT", "{content_type:?}");
    }
    // A form post of the kind a foreign page could make.
    let form = format!("query={}", "mutation%20%7B%20append%20%7D");
    let reply = post_with_type(&server, Some(&server.clerk), "application/x-www-form-urlencoded", form).await;
    assert_eq!(reply.status, 415, "{}", reply.text);
    assert_eq!(log_head(&server), before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_413() {
    let server = TestServer::start_with(Setup {
        limits: ServerLimits {
            max_body: 4096,
            ..Default::default()
        },
        ..Setup::default()
    })
    .await;
    let before = log_head(&server);
    // A query padded with a comment to a given size.
    let padded = |size: usize| {
        let base = json!({"query": "{ head { seq } }\n#"}).to_string();
        let query = format!("{{ head {{ seq }} }}\n#{}", "x".repeat(size - base.len()));
        let body = json!({"query": query}).to_string();
        assert_eq!(body.len(), size);
        body
    };
    let reply = post_with_type(&server, Some(&server.reader), "application/json", padded(4096)).await;
    assert_eq!(
        reply.status, 200,
        "a body of exactly the limit is served: {}",
        reply.text
    );
    let reply = post_with_type(&server, Some(&server.reader), "application/json", padded(4097)).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.content_type(), GRAPHQL_RESPONSE);
    assert_eq!(code(&reply.json()), "BAD_USER_INPUT");
    // A large append is refused before it is read.
    let events: Vec<Value> = (0..40)
        .map(|i| hamlet(&format!("xom-moi-{i}"), &format!("Xóm mới {i}"), "xa-dam-thuy"))
        .collect();
    let body = json!({"query": APPEND, "variables": {"events": events}}).to_string();
    assert!(body.len() > 4096);
    let reply = post_with_type(&server, Some(&server.clerk), "application/json", body).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(log_head(&server), before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_and_complexity_are_limited() {
    let server = TestServer::start().await;
    let limits = Limits::default();
    // `organization` is one level, each `parent` another, and `slug` the last.
    let nested = |parents: usize| {
        format!(
            "{{ organization(id: \"cb-ban-gioc\") {{ slug {} slug {} }} }}",
            "parent { slug ".repeat(parents),
            "} ".repeat(parents)
        )
    };
    let data = server.data(&server.reader, &nested(limits.depth - 2), json!({})).await;
    let organization = &data["organization"];
    assert_eq!(
        organization["parent"]["slug"],
        json!("dang-uy-dam-thuy"),
        "{} deep is allowed",
        limits.depth
    );
    assert_eq!(
        organization["parent"]["parent"]["parent"]["slug"],
        json!("tinh-uy-cao-bang")
    );
    assert_eq!(organization["parent"]["parent"]["parent"]["parent"], Value::Null);
    let (status, _, body) = server
        .post_raw(Some(&server.reader), &json!({"query": nested(limits.depth)}))
        .await;
    assert_eq!(status, 400, "{} deep: {body}", limits.depth + 2);
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    // The depth through a fragment counts the same.
    let fragment = format!("query {{ ...Deep }} fragment Deep on Query {}", nested(limits.depth));
    let (status, _, body) = server.post_raw(Some(&server.reader), &json!({"query": fragment})).await;
    assert_eq!(status, 400, "{} deep through a fragment: {body}", limits.depth + 2);
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // The standard introspection query of GraphiQL and code generators fits.
    let data = server
        .data(
            &server.reader,
            "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }",
            json!({}),
        )
        .await;
    assert!(data["__schema"]["types"].is_array());

    // Many aliased fields: each aliased `head { seq }` costs two.
    let aliased = |n: usize| {
        let fields: String = (0..n).map(|i| format!("h{i}: head {{ seq }} ")).collect();
        format!("{{ {fields}}}")
    };
    let under = limits.complexity / 2 - 50;
    let data = server.data(&server.reader, &aliased(under), json!({})).await;
    assert_eq!(
        data[format!("h{}", under - 1)]["seq"],
        json!(12),
        "a complexity of {} is allowed",
        under * 2
    );
    let over = limits.complexity / 2 + 50;
    let (status, _, body) = server
        .post_raw(Some(&server.reader), &json!({"query": aliased(over)}))
        .await;
    assert_eq!(status, 400, "a complexity of {}: {body}", over * 2);
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body.get("data").is_none(), "{body}");

    // A page costs what one item selects times the items asked for: one page of 1000
    // events with every field fits, three do not.
    let page = |alias: &str| {
        format!("{alias}: events(first: 1000) {{ edges {{ cursor node {{ id seq hash prev type effective recordedAt actor payload }} }} }}")
    };
    let data = server
        .data(&server.reader, &format!("{{ {} }}", page("a")), json!({}))
        .await;
    assert_eq!(data["a"]["edges"].as_array().map(Vec::len), Some(12));
    let three = format!("{{ {} {} {} }}", page("a"), page("b"), page("c"));
    let (status, _, body) = server.post_raw(Some(&server.reader), &json!({"query": three})).await;
    assert_eq!(status, 400, "three pages of 1000: {body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

/// `{ ...Q0 }` where fragment `Qi` spreads `Qi+1` twice, `depth` times over, and the last
/// selects `head { seq }`: 2^depth copies of it once every spread is expanded.
fn fragment_bomb(depth: usize) -> String {
    let mut query = "{ ...Q0 }".to_owned();
    for i in 0..depth {
        query.push_str(&format!(" fragment Q{i} on Query {{ ...Q{} ...Q{} }}", i + 1, i + 1));
    }
    query.push_str(&format!(" fragment Q{depth} on Query {{ head {{ seq }} }}"));
    query
}

/// Queries that cost little to send and much to check or run: each is refused at once with
/// a message that says why, and the server goes on answering. Before the document was
/// measured up front, the fragment bomb of depth 30 held a worker for minutes (async-graphql
/// walks each spread into its fragment) and stopping the server waited for it. The client
/// gives up after 60 s, so a hang fails the test; nothing here depends on how fast it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_queries_are_refused_at_once_and_the_server_goes_on() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("a client");
    let aliases = |n: usize, field: &str| -> String {
        let fields: String = (0..n).map(|i| format!("a{i}: {field} ")).collect();
        format!("{{ {fields}}}")
    };
    let unused_fragments: String = (0..9_000)
        .map(|i| format!(" fragment U{i} on Query {{ head {{ seq }} }}"))
        .collect();
    let chain: String = (0..5_000)
        .map(|i| format!(" fragment C{i} on Query {{ ...C{} }}", i + 1))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "the fragment bomb of depth 30",
            fragment_bomb(30),
            "the query expands too much",
        ),
        (
            "the fragment bomb of depth 25",
            fragment_bomb(25),
            "the query expands too much",
        ),
        (
            "a fragment spread inside itself",
            "{ ...A } fragment A on Query { head { seq } ...B } fragment B on Query { ...A }".to_owned(),
            "the fragment `A` spreads itself",
        ),
        (
            "a chain of 5,000 fragments",
            format!("{{ ...C0 }}{chain} fragment C5000 on Query {{ head {{ seq }} }}"),
            "the query nests more than 32 levels",
        ),
        (
            "8,000 aliases of a report",
            aliases(8_000, "coverage(date: \"2006-01-01\") { seq withMember }"),
            "Query is too complex",
        ),
        (
            "60,000 aliases of head",
            aliases(60_000, "head { seq }"),
            "the query has more than 100000 tokens",
        ),
        (
            "a million fields",
            format!("{{ {}}}", "a ".repeat(1_040_000)),
            "the query has more than 100000 tokens",
        ),
        (
            "20,000 spreads of one fragment",
            format!(
                "{{ {}}} fragment F on Query {{ a: head {{ seq }} b: head {{ seq }} c: head {{ seq }} }}",
                "...F ".repeat(20_000)
            ),
            "the query expands too much",
        ),
        (
            "5,000 directives on one field",
            format!("{{ head {} {{ seq }} }}", "@include(if: true) ".repeat(5_000)),
            "the field `head` has 5000 directives",
        ),
        (
            "5,000 directives on one spread",
            format!(
                "{{ ...F {} }} fragment F on Query {{ head {{ seq }} }}",
                "@include(if: true) ".repeat(5_000)
            ),
            "the spread of `F` has 5000 directives",
        ),
        (
            "9,000 unused fragments",
            format!("{{ head {{ seq }} }}{unused_fragments}"),
            "is never used",
        ),
        (
            "200,000 braces deep",
            format!("{{ {} }}", "head { ".repeat(200_000)),
            "",
        ),
    ];
    for (what, query, message) in cases {
        let started = std::time::Instant::now();
        let body = json!({"query": query}).to_string();
        assert!(
            body.len() <= ServerLimits::default().max_body,
            "{what}: {} bytes",
            body.len()
        );
        let reply = send(
            http.post(server.graphql_url())
                .bearer_auth(&server.reader)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        // An answer to quote in a failure, cut short: some of these would be very long.
        let quoted: String = reply.text.chars().take(400).collect();
        assert_eq!(reply.status, 400, "{what}: {quoted}");
        let answer = reply.json();
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{what}: {quoted}");
        assert!(answer.get("data").is_none(), "{what}: {quoted}");
        let first = answer["errors"][0]["message"].as_str().unwrap_or("");
        assert!(first.contains(message), "{what}: {quoted}");
        // For whoever reads the output; nothing depends on it.
        eprintln!("{what}: refused in {:?}", started.elapsed());
        // The server still answers the smallest query.
        let data = server.data(&server.reader, "{ head { seq } }", json!({})).await;
        assert_eq!(data, json!({"head": {"seq": FIXTURE_EVENTS}}), "after {what}");
    }
    // And the server stops as SIGTERM would stop it, without waiting on any of them.
    tokio::time::timeout(std::time::Duration::from_secs(60), server.stop())
        .await
        .expect("the server stops");
}

/// GraphQL 7.2.2: an answer's fields come in the order the query asked them, not sorted;
/// over POST, GET and in a batch, at every level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_keep_the_order_of_the_query() {
    let server = TestServer::start().await;
    let (_, hash) = log_head(&server);
    let query = "{ z: head { seq hash } a: head { hash seq } m: __typename }";
    let expected = format!(
        "{{\"data\":{{\"z\":{{\"seq\":12,\"hash\":\"{hash}\"}},\"a\":{{\"hash\":\"{hash}\",\"seq\":12}},\"m\":\"Query\"}}}}"
    );
    let post = post_with_type(
        &server,
        Some(&server.reader),
        "application/json",
        json!({"query": query}).to_string(),
    )
    .await;
    assert_eq!(post.status, 200, "{}", post.text);
    assert_eq!(post.text, expected);
    // The same request again comes from the kept answers, in the same order.
    let again = post_with_type(
        &server,
        Some(&server.reader),
        "application/json",
        json!({"query": query}).to_string(),
    )
    .await;
    assert_eq!(again.text, expected);
    let get = get_graphql(&server, Some(&server.reader), &[("query", query)]).await;
    assert_eq!(get.status, 200, "{}", get.text);
    assert_eq!(get.text, expected);
    let batch = post_with_type(
        &server,
        Some(&server.reader),
        "application/json",
        json!([{"query": query}, {"query": "{ y: head { seq } b: head { seq } }"}]).to_string(),
    )
    .await;
    assert_eq!(batch.status, 200, "{}", batch.text);
    assert_eq!(
        batch.text,
        format!("[{expected},{{\"data\":{{\"y\":{{\"seq\":12}},\"b\":{{\"seq\":12}}}}}}]")
    );
}

/// `__schema { description }` is the schema's own description, which this schema does not
/// have: null, not the description of the `__Schema` type that async-graphql answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_has_no_description() {
    let server = TestServer::start().await;
    let data = server
        .data(
            &server.reader,
            "{ __schema { description queryType { name } } __type(name: \"Query\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({"__schema": {"description": null, "queryType": {"name": "Query"}}, "__type": {"name": "Query"}})
    );
    // Other types keep their own descriptions.
    let data = server
        .data(
            &server.reader,
            "{ __type(name: \"__Schema\") { description } }",
            json!({}),
        )
        .await;
    assert!(
        data["__type"]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("A GraphQL Schema")),
        "{data}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_served_up_to_their_limit() {
    let server = TestServer::start().await;
    let batch = json!([
        {"query": "{ head { seq } }"},
        {"query": "query($seq: Int!) { event(seq: $seq) { type } }", "variables": {"seq": 11}},
    ]);
    let (status, content_type, body) = server.post_raw(Some(&server.reader), &batch).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, GRAPHQL_RESPONSE);
    assert_eq!(
        body,
        json!([{"data": {"head": {"seq": 12}}}, {"data": {"event": {"type": "MemberAdmitted"}}}])
    );
    // Ten is the most.
    let ten: Vec<Value> = (0..10).map(|_| json!({"query": "{ head { seq } }"})).collect();
    let (status, _, body) = server.post_raw(Some(&server.reader), &Value::Array(ten)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(10));
    let before = log_head(&server);
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"query": APPEND, "variables": {"events": [hamlet(&format!("xom-moi-{i}"), "Xóm mới", "xa-dam-thuy")]}}))
        .collect();
    let (status, _, body) = server.post_raw(Some(&server.clerk), &Value::Array(eleven)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(log_head(&server), before, "no request of a refused batch runs");
    let (status, _, body) = server.post_raw(Some(&server.reader), &json!([])).await;
    assert_eq!(status, 400, "an empty batch: {body}");
    // A batch where one request is bad still answers the others.
    let mixed = json!([{"query": "{ head { seq } }"}, {"query": "{ nope }"}]);
    let (status, _, body) = server.post_raw(Some(&server.reader), &mixed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0], json!({"data": {"head": {"seq": 12}}}));
    assert_eq!(code(&body[1]), "BAD_USER_INPUT", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_bad_requests_leaves_the_server_serving_and_the_log_untouched() {
    let server = std::sync::Arc::new(
        TestServer::start_with(Setup {
            limits: ServerLimits {
                max_body: 4096,
                ..Default::default()
            },
            ..Setup::default()
        })
        .await,
    );
    let before = log_head(&server);
    let answered_head = server.data(&server.reader, "{ head { seq hash } }", json!({})).await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..200usize {
        let server = server.clone();
        burst.spawn(async move {
            let url = server.graphql_url();
            let http = &server.http;
            let rule_breaking = json!({"query": APPEND, "variables": {"events": [
                hamlet(&format!("xom-moi-{i}"), "Xóm mới", "xa-dam-thuy"),
                hamlet(&format!("xom-sai-{i}"), "Xóm sai", "xa-khong-co"),
            ]}});
            let (what, request, status) = match i % 10 {
                0 => (
                    "bad JSON",
                    http.post(&url).bearer_auth(&server.clerk).header("content-type", "application/json").body("{\"query\": "),
                    400,
                ),
                1 => (
                    "text/plain",
                    http.post(&url).bearer_auth(&server.clerk).header("content-type", "text/plain").body(rule_breaking.to_string()),
                    415,
                ),
                2 => ("unknown field", http.post(&url).bearer_auth(&server.clerk).json(&json!({"query": "{ nope }"})), 400),
                3 => ("rule-breaking append", http.post(&url).bearer_auth(&server.clerk).json(&rule_breaking), 200),
                4 => (
                    "oversize",
                    http.post(&url)
                        .bearer_auth(&server.clerk)
                        .header("content-type", "application/json")
                        .body(format!("{{\"query\": \"{{ head {{ seq }} }}#{}\"}}", "x".repeat(5000))),
                    413,
                ),
                5 => ("no token", http.post(&url).json(&rule_breaking), 401),
                6 => (
                    "reader append",
                    http.post(&url)
                        .bearer_auth(&server.reader)
                        .json(&json!({"query": APPEND, "variables": {"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")]}})),
                    200,
                ),
                7 => (
                    "stale expectedSeq",
                    http.post(&url).bearer_auth(&server.clerk).json(&json!({"query": APPEND, "variables": {
                        "events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")], "expectedSeq": 3}})),
                    200,
                ),
                8 => (
                    "form post",
                    http.post(&url)
                        .bearer_auth(&server.clerk)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("query=mutation"),
                    415,
                ),
                _ => (
                    "mutation over GET",
                    http.get(&url).bearer_auth(&server.clerk).query(&[(
                        "query",
                        r#"mutation { append(events: [{localityRegistered: {effective: "2007-01-01", locality: "xom-na-ray", name: "Nà Rày", kind: HAMLET, parent: "xa-dam-thuy", border: false}}]) { head { seq } } }"#,
                    )]),
                    405,
                ),
            };
            let reply = send(request).await;
            assert_eq!(reply.status, status, "{what}: {}", reply.text);
            let body = reply.json();
            let expected_code = match i % 10 {
                3 => "RULE_VIOLATION",
                5 => "UNAUTHENTICATED",
                6 => "FORBIDDEN",
                7 => "CONFLICT",
                _ => "BAD_USER_INPUT",
            };
            assert_eq!(code(&body), expected_code, "{what}: {body}");
        });
    }
    while let Some(done) = burst.join_next().await {
        done.expect("each bad request got its refusal");
    }
    // Still serving, and the log is as it was.
    let after = server.data(&server.reader, "{ head { seq hash } }", json!({})).await;
    assert_eq!(after, answered_head);
    assert_eq!(log_head(&server), before);
    let verified = server
        .ledger
        .store()
        .verify()
        .expect("the store reads")
        .expect("the chain holds");
    assert_eq!((verified.head.seq, verified.head.hash.to_hex()), before);
    // And the writer still takes a good append.
    let data = server
        .data(
            &server.clerk,
            APPEND,
            json!({"events": [hamlet("xom-na-ray", "Nà Rày", "xa-dam-thuy")], "expectedSeq": 12}),
        )
        .await;
    assert_eq!(data["append"]["head"]["seq"], json!(13));
}

// ---------------------------------------------------------------------------------------
// the answer cache

/// The server keeps answers to queries by role, head, date and request bytes: the very same
/// request after an append answers the new head, and the same request from another role
/// gets that role's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_answers_follow_the_head_and_the_role() {
    let server = TestServer::start().await;
    let body = json!({"query": "{ head { seq } coverage(date: \"2006-01-01\") { withMember } }"});
    let (status, _, first) = server.post_raw(Some(&server.reader), &body).await;
    assert_eq!(status, 200, "{first}");
    let (_, _, again) = server.post_raw(Some(&server.reader), &body).await;
    assert_eq!(again, first, "the same request at the same head answers the same");
    let head = first["data"]["head"]["seq"].as_u64().unwrap();

    let append = json!({"query": "mutation { append(events: [{localityRegistered: {effective: \"2006-02-01\", locality: \"xom-kept\", name: \"Kept\", kind: HAMLET, parent: \"xa-dam-thuy\", border: false}}]) { head { seq } } }"});
    let (status, _, appended) = server.post_raw(Some(&server.clerk), &append).await;
    assert_eq!(status, 200, "{appended}");
    assert!(appended.get("errors").is_none(), "{appended}");
    let (_, _, after) = server.post_raw(Some(&server.reader), &body).await;
    assert_eq!(after["data"]["head"]["seq"].as_u64(), Some(head + 1), "{after}");

    // A mutation is never answered from the cache: sent again, it is refused by the rules
    // (the hamlet exists), not given the first answer.
    let (_, _, repeated) = server.post_raw(Some(&server.clerk), &append).await;
    assert_eq!(code(&repeated), "RULE_VIOLATION", "{repeated}");

    let checkpoint = json!({"query": "{ checkpoint { size } }"});
    let (_, _, as_reader) = server.post_raw(Some(&server.reader), &checkpoint).await;
    assert_eq!(code(&as_reader), "FORBIDDEN", "{as_reader}");
    let (_, _, as_auditor) = server.post_raw(Some(&server.auditor), &checkpoint).await;
    assert_eq!(
        as_auditor["data"]["checkpoint"]["size"].as_u64(),
        Some(head + 1),
        "{as_auditor}"
    );
    let (_, _, as_reader_again) = server.post_raw(Some(&server.reader), &checkpoint).await;
    assert_eq!(code(&as_reader_again), "FORBIDDEN", "{as_reader_again}");
    server.stop().await;
}

/// GraphQL 7.2.2: an answer's keys come in the order of the query's fields, aliases and
/// fragments included, though a report waits its turn before it computes and other fields
/// finish first.
#[tokio::test]
async fn answers_keep_the_order_of_the_querys_fields() {
    let server = TestServer::start().await;
    let query = r#"query Ordered {
        z: coverage(date: "2007-12-31") { withMember localities date }
        a: head { seq }
        ...More
        y: temporaryActivity(date: "2007-12-31") { members }
        b: events(first: 2) { edges { node { type seq } } }
      }
      fragment More on Query { m: coverage(date: "2008-12-31") { date } ... on Query { c: head { hash seq } } }"#;
    // The body's text: a `serde_json::Value` would sort the keys.
    let response = server
        .http
        .post(server.graphql_url())
        .bearer_auth(&server.reader)
        .json(&json!({"query": query, "operationName": "Ordered"}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("a body");
    let at = |key: &str| text.find(key).unwrap_or_else(|| panic!("no {key} in {text}"));
    let top = ["\"z\":", "\"a\":", "\"m\":", "\"c\":", "\"y\":", "\"b\":"];
    let positions: Vec<usize> = top.iter().map(|k| at(k)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{top:?} out of order in {text}"
    );
    let inner = ["\"withMember\":", "\"localities\":", "\"date\":"];
    let positions: Vec<usize> = inner.iter().map(|k| at(k)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{inner:?} out of order in {text}"
    );
    assert!(
        at("\"hash\":") < text[at("\"c\":")..].find("\"seq\":").map_or(0, |i| i + at("\"c\":")),
        "{text}"
    );
    assert!(
        at("\"type\":")
            < text[at("\"edges\":")..]
                .find("\"seq\":")
                .map_or(0, |i| i + at("\"edges\":")),
        "{text}"
    );
    server.stop().await;
}
