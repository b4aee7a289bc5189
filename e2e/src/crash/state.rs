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
    if syncing
        || bookmark.get("last_pk_fetched").is_some()
        || bookmark.get("pending_ranges").is_some()
    {
        return None;
    }
    bookmark.get("version")?.as_u64()
}

/// Which keys a resumed FULL_TABLE copy sends again under the same
/// version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resume {
    /// Keys after this one (`last_pk_fetched`; 0: from the start).
    After(u64),
    /// Keys in these ranges (a parallel copy's `pending_ranges`).
    Ranges(Vec<(u64, u64)>),
}

impl Resume {
    /// Whether the resumed copy sends `key` again.
    pub(super) fn covers(&self, key: u64) -> bool {
        match self {
            Self::After(after) => key > *after,
            Self::Ranges(ranges) => ranges.iter().any(|&(from, to)| from <= key && key <= to),
        }
    }
}

/// Where a resumed FULL_TABLE copy continues under the same version: after
/// `last_pk_fetched` (0: from the start), or in the `pending_ranges` of a
/// parallel copy, when `state` has the stream's version and the copy is
/// unfinished; `None` when no copy is in progress or the next one starts a
/// new version.
pub(super) fn resume_point(state: Option<&str>) -> Option<Resume> {
    let state: Value = serde_json::from_str(state?).ok()?;
    let bookmark = state.get("bookmarks")?.get(stream_of(FULL_TABLE))?;
    bookmark.get("version")?;
    if completed_version(Some(&state.to_string())).is_some() {
        return None;
    }
    if let Some(ranges) = bookmark.get("pending_ranges").and_then(Value::as_array) {
        return Some(Resume::Ranges(
            ranges
                .iter()
                .filter_map(|r| Some((r.get(0)?.as_u64()?, r.get(1)?.as_u64()?)))
                .collect(),
        ));
    }
    Some(Resume::After(
        bookmark
            .get("last_pk_fetched")
            .and_then(|pk| pk.get(KEY))
            .and_then(Value::as_u64)
            .unwrap_or(0),
    ))
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

#[cfg(test)]
mod tests {
    use super::{Resume, completed_version, last_state, resume_point};

    const SYNCING: &str = r#"{"currently_syncing":"public-crash_full","bookmarks":{"public-crash_full":{"version":7,"last_pk_fetched":{"id":42}}}}"#;
    const STARTED: &str = r#"{"currently_syncing":"public-crash_full","bookmarks":{"public-crash_full":{"version":7}}}"#;
    const DONE: &str =
        r#"{"currently_syncing":null,"bookmarks":{"public-crash_full":{"version":7}}}"#;

    #[test]
    fn a_copy_in_progress_resumes_after_the_last_key_fetched_under_its_version() {
        assert_eq!(resume_point(Some(SYNCING)), Some(Resume::After(42)));
        assert_eq!(resume_point(Some(STARTED)), Some(Resume::After(0)));
        assert_eq!(completed_version(Some(SYNCING)), None);
        assert_eq!(completed_version(Some(STARTED)), None);
    }

    #[test]
    fn a_parallel_copy_resumes_its_pending_ranges() {
        let state = r#"{"currently_syncing":"public-other","bookmarks":{"public-crash_full":{"version":7,"pending_ranges":[[5,9],[20,30]]}}}"#;
        let resume = resume_point(Some(state)).unwrap();
        assert_eq!(resume, Resume::Ranges(vec![(5, 9), (20, 30)]));
        assert!(resume.covers(5) && resume.covers(9) && resume.covers(25));
        assert!(!resume.covers(4) && !resume.covers(10) && !resume.covers(31));
        assert_eq!(completed_version(Some(state)), None);
    }

    #[test]
    fn a_finished_copy_has_its_version_completed_and_no_resume_point() {
        assert_eq!(completed_version(Some(DONE)), Some(7));
        assert_eq!(resume_point(Some(DONE)), None);
        assert_eq!(resume_point(None), None);
        assert_eq!(resume_point(Some(r#"{"bookmarks":{}}"#)), None);
    }

    #[test]
    fn last_state_skips_a_line_cut_by_the_kill_and_non_objects() {
        let path =
            std::env::temp_dir().join(format!("singer-e2e-state-{}.jsonl", std::process::id()));
        std::fs::write(&path, format!("{DONE}\n{SYNCING}\n42\n{{\"cut\":")).unwrap();
        assert_eq!(last_state(&path).unwrap().as_deref(), Some(SYNCING));
        std::fs::write(&path, "{\"cut\":").unwrap();
        assert_eq!(last_state(&path).unwrap(), None);
        let _ = std::fs::remove_file(&path);
    }
}
