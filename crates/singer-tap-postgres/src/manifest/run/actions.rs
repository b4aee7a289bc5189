//! One function per load action: an incremental window, a load by id, and
//! a full (SCD) or backfill copy by key ranges.

use std::io::Write;

use singer_protocol::{ActivateVersionMessage, Message, Writer};
use singer_state::State;
use tracing::info;

use super::ranges::Progress;
use super::{Run, TableLoad};
use crate::error::Result;
use crate::manifest::bookmark::{CopyKind, ManifestBookmark};
use crate::manifest::parse::TableKind;
use crate::stream::{new_version, write_message, write_state};

impl Run<'_> {
    /// An incremental window: the whole query in one read; the window's END
    /// becomes the high-water mark. Returns the records written.
    pub(super) fn incremental<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<u64> {
        write_state(out, state)?;
        let span = self.read(load, i64::MIN, i64::MAX, None, out)?;
        ManifestBookmark::set_high_water_mark(state.bookmark_mut(&load.plan.stream), load.end);
        Ok(span.records)
    }

    /// Keys after the highest one loaded, by key ranges, storing the
    /// highest key after each range. The first load by id covers the whole
    /// table, so it also stores the columns. Returns the records written.
    pub(super) fn load_by_id<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<u64> {
        let max_id = load.bookmark.max_id;
        write_state(out, state)?;
        let span = self.copy(load, max_id, None, Progress::MaxId, state, out)?;
        if max_id.is_none() {
            // The first load by id covered the whole table.
            ManifestBookmark::set_columns(state.bookmark_mut(&load.plan.stream), &load.names);
        }
        Ok(span.records)
    }

    /// A full (SCD) copy or a backfill by key ranges, resumable after the
    /// last finished range; a backfill is a new table version that ends in
    /// ACTIVATE_VERSION and stores the table kind's own bookmark (the
    /// window's END, or the highest id). Returns the records written.
    pub(super) fn copy_table<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        kind: CopyKind,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<u64> {
        let resume = load.bookmark.is_in_progress(kind);
        let backfill = kind == CopyKind::Backfill;
        let after = if resume {
            load.bookmark.last_finished_through
        } else {
            None
        };
        let version = if backfill {
            Some(match (resume, load.bookmark.version) {
                (true, Some(v)) => v,
                _ => new_version(),
            })
        } else {
            None
        };
        if resume {
            info!(table = %load.plan.spec.key, after = ?after, version = ?version, "Resuming an unfinished copy after the last finished range.");
        }
        let bookmark = state.bookmark_mut(&load.plan.stream);
        ManifestBookmark::start_copy(bookmark, kind, &load.uploaded_at, resume);
        if backfill {
            bookmark.version = version;
        }
        let pending = load.bookmark.pending_ranges.clone().filter(|_| resume);
        let span = if load.described.ranged
            && (pending.is_some() || (self.options.sync.parallelism > 1 && !resume))
        {
            // Parallel readers in one snapshot (or the rest of such a copy).
            self.copy_parallel(load, pending, version, state, out)?
        } else {
            write_state(out, state)?;
            self.copy(load, after, version, Progress::Range, state, out)?
        };
        let bookmark = state.bookmark_mut(&load.plan.stream);
        ManifestBookmark::finish_copy(bookmark);
        ManifestBookmark::set_columns(bookmark, &load.names);
        if backfill {
            match load.plan.spec.kind() {
                TableKind::Incremental => ManifestBookmark::set_high_water_mark(bookmark, load.end),
                TableKind::LoadById => {
                    if let Some(max) = span.max_pk.max(load.bookmark.max_id) {
                        ManifestBookmark::set_max_id(bookmark, max);
                    }
                }
                TableKind::Full => {}
            }
            if let Some(version) = version {
                write_message(
                    out,
                    &Message::ActivateVersion(ActivateVersionMessage {
                        stream: load.plan.stream.clone(),
                        version,
                    }),
                )?;
            }
        }
        Ok(span.records)
    }
}
