//! GraphQL errors as good as the command line's: an impossible date says why and which form
//! is expected, whether it comes as a literal or in a variable; an error in a variable names
//! the variable (in the message and in `extensions.variable`); a syntax error is one line
//! with its line and column.

mod common;

use common::server::TestServer;
use serde_json::{json, Value};

/// The one error of a refused request.
fn only_error(body: &Value) -> &Value {
    assert!(body.get("data").is_none(), "a refused request has no data: {body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    &errors[0]
}

const WHY: &str = "invalid date \"2013-02-30\": February 2013 has 28 days; expected a real calendar date as YYYY-MM-DD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_date_says_why_as_a_literal_and_as_a_variable() {
    let server = TestServer::start().await;
    let (_, body) = server
        .gql(
            Some(&server.reader),
            r#"{ coverage(date: "2013-02-30") { withCell } }"#,
            json!({}),
        )
        .await;
    let error = only_error(&body);
    assert_eq!(error["message"], format!("Invalid value for argument \"date\": {WHY}"));
    assert!(error["extensions"].get("variable").is_none(), "{error}");

    let (_, body) = server
        .gql(
            Some(&server.reader),
            "query Q($day: Date!) { coverage(date: $day) { withCell } }",
            json!({"day": "2013-02-30"}),
        )
        .await;
    let error = only_error(&body);
    assert_eq!(
        error["message"],
        format!("Invalid value for variable $day (argument \"date\"): {WHY}")
    );
    assert_eq!(error["extensions"]["variable"], "day");

    // Deep inside an input object, in a variable: the path inside the variable is named.
    let (_, body) = server
        .gql(
            Some(&server.clerk),
            "mutation M($events: [EventInput!]!) { append(events: $events) { head { seq } } }",
            json!({"events": [{"localityRegistered": {"effective": "2013-02-30", "locality": "xom-moi", "name": "Mới", "kind": "HAMLET", "parent": "xa-dam-thuy", "border": false}}]}),
        )
        .await;
    let error = only_error(&body);
    let message = error["message"].as_str().expect("a message");
    assert!(
        message.starts_with("Invalid value for variable $events at 0.localityRegistered.effective")
            && message.ends_with(WHY),
        "{message}"
    );
    assert_eq!(error["extensions"]["variable"], "events");
    let head = server.data(&server.reader, "{ head { seq } }", json!({})).await;
    assert_eq!(
        head["head"]["seq"],
        json!(12),
        "nothing was appended: the fixture holds 12 events"
    );

    // A value of the wrong kind says what was expected.
    let (_, body) = server
        .gql(
            Some(&server.reader),
            "query Q($day: Date!) { coverage(date: $day) { withCell } }",
            json!({"day": 20130230}),
        )
        .await;
    assert_eq!(
        only_error(&body)["message"],
        "Invalid value for variable $day (argument \"date\"): 20130230 is not a Date: expected a string YYYY-MM-DD"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_bad_variable_is_named_and_a_syntax_error_is_one_line() {
    let server = TestServer::start().await;
    let (_, body) = server
        .gql(
            Some(&server.reader),
            "query Q($at: Int) { coverage(seq: $at) { withCell } }",
            json!({"at": "twelve"}),
        )
        .await;
    let error = only_error(&body);
    assert_eq!(
        error["message"],
        "Invalid value for variable $at (argument \"seq\"): expected type \"Int\""
    );
    assert_eq!(error["extensions"]["variable"], "at");

    let (_, body) = server
        .gql(
            Some(&server.reader),
            "{ coverage(date: \"2013-09-30\") { withCell }",
            json!({}),
        )
        .await;
    let error = only_error(&body);
    let message = error["message"].as_str().expect("a message");
    assert!(!message.contains('\n'), "{message:?}");
    assert!(message.starts_with("syntax error at 1:"), "{message:?}");
    assert!(message.contains("expected"), "{message:?}");
}
