//! What the target's state lines say: the state an orchestrator would save,
//! and where the FULL_TABLE copy stands in it.

use std::path::Path;

use serde_json::Value;

use super::{FULL_TABLE, KEY, stream_of};
use crate::error::{Result, io};

/// The table version of the FULL_TABLE stream when `state` says its copy
/// is complete (a version, no `last_pk_fetched`, not currently syncing).
pub(super) fn completed_version(state: Option<&str>) -> Option<u64> {
    let state: Value = serde_json::from_str(state?).ok()?;
    let stream = stream_of(FULL_TABLE);
    let bookmark = state.get("bookmarks")?.get(&stream)?;
    let syncing = state.get("currently_syncing").and_then(Value::as_str) == Some(stream.as_str());
    if syncing || bookmark.get("last_pk_fetched").is_some() {
        return None;
    }
    bookmark.get("version")?.as_u64()
}

/// Where a resumed FULL_TABLE copy continues under the same version: after
/// `last_pk_fetched` (0: from the start) when `state` has the stream's
/// version and the copy is unfinished; `None` when no copy is in progress
/// or the next one starts a new version.
pub(super) fn resume_point(state: Option<&str>) -> Option<u64> {
    let state: Value = serde_json::from_str(state?).ok()?;
    let bookmark = state.get("bookmarks")?.get(stream_of(FULL_TABLE))?;
    bookmark.get("version")?;
    if completed_version(Some(&state.to_string())).is_some() {
        return None;
    }
    Some(
        bookmark
            .get("last_pk_fetched")
            .and_then(|pk| pk.get(KEY))
            .and_then(Value::as_u64)
            .unwrap_or(0),
    )
}

/// The last complete line of the target's stdout that is a JSON object:
/// the state an orchestrator would save.
pub(super) fn last_state(path: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    // A line cut by the kill has no newline: not written, not saved.
    let complete = text
        .rfind('\n')
        .map_or("", |end| text.get(..end).unwrap_or(""));
    Ok(complete
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()))
        .map(str::to_owned))
}
