use singer_state::State;

use super::*;

const STREAM: &str = "GITLAB_DB_ISSUES";

fn t(text: &str) -> DateTime<Utc> {
    parse_timestamp(text).expect("timestamp")
}

/// A state file as earlier versions of the tap wrote it reads into the
/// typed bookmark, and writing the same values back gives the same JSON,
/// byte for byte (existing state files keep working).
#[test]
fn typed_bookmark_round_trips_existing_state_files() {
    let text = r#"{"bookmarks":{"GITLAB_DB_ISSUES":{"version":1717200000000,"high_water_mark":"2024-06-03T00:00:00.000000+00:00","columns":["id","title"],"in_progress":"backfill","run_uploaded_at":1717200000.250000,"last_finished_range":[1,5000000],"max_id":42,"other":"kept"}},"currently_syncing":"GITLAB_DB_ISSUES"}"#;
    let state = State::from_json(text).expect("state");
    let before = state.to_json();
    let typed = ManifestBookmark::read(state.bookmark(STREAM));
    assert_eq!(typed.high_water_mark(), Ok(Some(t("2024-06-03T00:00:00Z"))));
    assert_eq!(typed.max_id, Some(42));
    assert_eq!(
        typed.columns.as_deref(),
        Some(&["id".to_owned(), "title".to_owned()][..])
    );
    assert!(typed.is_in_progress(CopyKind::Backfill));
    assert!(!typed.is_in_progress(CopyKind::Full));
    assert_eq!(typed.last_finished_through, Some(5_000_000));
    assert_eq!(
        typed.run_uploaded_at.as_ref().map(ToString::to_string),
        Some("1717200000.250000".to_owned())
    );
    assert_eq!(typed.version, Some(1_717_200_000_000));

    let mut written = state.clone();
    let bookmark = written.bookmark_mut(STREAM);
    ManifestBookmark::set_high_water_mark(bookmark, t("2024-06-03T00:00:00Z"));
    ManifestBookmark::set_columns(bookmark, &["id".to_owned(), "title".to_owned()]);
    ManifestBookmark::start_copy(bookmark, CopyKind::Backfill, "1717200000.250000", true);
    ManifestBookmark::set_last_finished_range(bookmark, 1, 5_000_000);
    ManifestBookmark::set_max_id(bookmark, 42);
    assert_eq!(written.to_json(), before);
    assert_eq!(ManifestBookmark::read(written.bookmark(STREAM)), typed);
}

/// The lifecycle of a full copy then a backfill writes the keys in the
/// order (and with the values) the string-keyed code wrote them.
#[test]
fn typed_bookmark_writes_the_state_json_of_string_keys() {
    let mut state = State::new();
    let bookmark = state.bookmark_mut(STREAM);
    ManifestBookmark::start_copy(bookmark, CopyKind::Full, "1717200000.000000", false);
    ManifestBookmark::set_last_finished_range(bookmark, 1, 10);
    assert_eq!(
        state.to_value()["bookmarks"][STREAM].to_string(),
        r#"{"in_progress":"full","run_uploaded_at":1717200000.000000,"last_finished_range":[1,10]}"#
    );
    let bookmark = state.bookmark_mut(STREAM);
    ManifestBookmark::finish_copy(bookmark);
    ManifestBookmark::set_columns(bookmark, &["id".to_owned()]);
    ManifestBookmark::set_high_water_mark(bookmark, t("2024-06-01"));
    assert_eq!(
        state.to_value()["bookmarks"][STREAM].to_string(),
        r#"{"columns":["id"],"high_water_mark":"2024-06-01T00:00:00.000000+00:00"}"#
    );
    let bookmark = state.bookmark_mut(STREAM);
    ManifestBookmark::start_copy(bookmark, CopyKind::Backfill, "1717200001.5", false);
    ManifestBookmark::set_max_id(bookmark, 7);
    assert_eq!(
        state.to_value()["bookmarks"][STREAM].to_string(),
        r#"{"columns":["id"],"high_water_mark":"2024-06-01T00:00:00.000000+00:00","in_progress":"backfill","run_uploaded_at":1717200001.5,"max_id":7}"#
    );
    let unusable = State::from_json(r#"{"bookmarks":{"S":{"high_water_mark":5}}}"#).expect("state");
    assert_eq!(
        ManifestBookmark::read(unusable.bookmark("S")).high_water_mark(),
        Err("bookmark high_water_mark is unusable: 5".to_owned())
    );
}
