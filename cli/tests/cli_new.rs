//! `lmos new`: starter descriptions that pass `lmos validate`.

mod common;

use common::{json, lmos};

#[tokio::test]
async fn a_new_agent_validates() {
    let new = lmos(&["new", "agent", "--title", "Weather"], None).await;
    assert_eq!(new.code, 0, "{new:?}");
    assert_eq!(new.stderr, "");
    let run = lmos(&["validate", "-"], Some(new.stdout.as_bytes())).await;
    assert_eq!(run.code, 0, "{run:?}\n{}", new.stdout);
    assert_eq!(run.stdout, "-: valid (Thing Description, lmos:Agent)\n");

    let td = json(&new.stdout);
    assert_eq!(td["title"], "Weather");
    assert_eq!(td["@type"], "lmos:Agent");
    assert_eq!(
        td["@context"][1]["lmos"],
        "https://eclipse.dev/lmos/protocol/v1"
    );
    assert!(td["actions"]["chat"]["forms"][0]["href"].is_string());
    assert!(td["properties"].as_object().is_some_and(|p| !p.is_empty()));
}

#[tokio::test]
async fn a_new_tool_validates_and_is_typed_a_tool() {
    let new = lmos(
        &[
            "new",
            "tool",
            "--title",
            "Geocoder",
            "--description",
            "Finds places",
            "--id",
            "urn:example:geocoder",
            "--base",
            "https://tools.example.com/geocoder/",
        ],
        None,
    )
    .await;
    assert_eq!(new.code, 0, "{new:?}");
    let td = json(&new.stdout);
    assert_eq!(td["@type"], "lmos:Tool");
    assert_eq!(td["id"], "urn:example:geocoder");
    assert_eq!(td["description"], "Finds places");
    assert_eq!(td["base"], "https://tools.example.com/geocoder/");
    let run = lmos(&["validate", "-"], Some(new.stdout.as_bytes())).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "-: valid (Thing Description, lmos:Tool)\n");
}

#[tokio::test]
async fn each_new_description_gets_its_own_uuid_v4_id() {
    let first = json(&lmos(&["new", "agent", "--title", "A"], None).await.stdout);
    let second = json(&lmos(&["new", "agent", "--title", "A"], None).await.stdout);
    let ids: Vec<&str> = [&first, &second]
        .iter()
        .map(|td| td["id"].as_str().expect("an id"))
        .collect();
    assert_ne!(ids[0], ids[1]);
    for id in ids {
        let uuid = id.strip_prefix("urn:uuid:").expect("a urn:uuid id");
        let parsed = uuid::Uuid::parse_str(uuid).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4, "{id}");
    }
}

#[tokio::test]
async fn bad_arguments_exit_two_with_a_sentence() {
    let run = lmos(&["new", "agent"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--title"), "{}", run.stderr);

    let run = lmos(&["new", "robot", "--title", "R"], None).await;
    assert_eq!(run.code, 2, "{run:?}");

    let run = lmos(&["new", "agent", "--title", "  "], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr, "lmos new: the title must not be empty\n");

    let run = lmos(
        &["new", "tool", "--title", "T", "--base", "not a url"],
        None,
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("lmos new: --base \"not a url\" is not an absolute URL"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}
