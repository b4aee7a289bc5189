//! Reading a described query: by key ranges `[a, a+step-1]` (integer keys)
//! with STATE after each range, or in one statement, each read in one
//! read-only REPEATABLE READ transaction that resumes after the last key
//! emitted when a transient failure reconnects.

use std::io::Write;

use postgres::types::ToSql;
use singer_protocol::Writer;
use singer_state::State;
use tracing::debug;

use super::{Run, TableLoad};
use crate::error::{Error, Result};
use crate::ident::quote_ident;
use crate::manifest::bookmark::ManifestBookmark;
use crate::manifest::template;
use crate::session::Subject;
use crate::stream::{RecordLayout, stream_records, write_state};

/// What the STATE after each range records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Progress {
    /// `last_finished_range` (full copies and backfills).
    Range,
    /// `max_id` (load-by-id).
    MaxId,
}

/// Counts of one read.
#[derive(Default)]
pub(super) struct Span {
    /// Records written.
    pub(super) records: u64,
    /// The highest key written (ranged reads).
    pub(super) max_pk: Option<i64>,
}

impl Run<'_> {
    /// Copies the table by key ranges `[a, a+step-1]`, starting after
    /// `after` (or at the smallest key), writing STATE after each range as
    /// `progress` says. A key that is not an integer is read in one
    /// statement.
    pub(super) fn copy<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        after: Option<i64>,
        version: Option<u64>,
        progress: Progress,
        state: &mut State,
        out: &mut Writer<W>,
    ) -> Result<Span> {
        let mut total = Span::default();
        if !load.described.ranged {
            return self.read(load, i64::MIN, i64::MAX, version, out);
        }
        let step = i64::try_from(self.options.step.max(1)).unwrap_or(i64::MAX);
        let Some((min, max)) = self.bounds(load, after)? else {
            debug!(table = %load.plan.spec.key, "No rows past the starting point.");
            return Ok(total);
        };
        let mut next = Some(min);
        while let Some(lo) = next
            && lo <= max
        {
            let hi = lo.saturating_add(step - 1);
            let span = self.read(load, lo, hi, version, out)?;
            total.records += span.records;
            total.max_pk = total.max_pk.max(span.max_pk);
            let bookmark = state.bookmark_mut(&load.plan.stream);
            match progress {
                Progress::Range => ManifestBookmark::set_last_finished_range(bookmark, lo, hi),
                Progress::MaxId => {
                    if let Some(max_pk) = span.max_pk {
                        ManifestBookmark::set_max_id(bookmark, max_pk);
                    }
                }
            }
            write_state(out, state)?;
            next = match (span.records, hi.checked_add(1)) {
                (_, None) => None,
                // An empty range: jump to the next key that exists.
                (0, Some(_)) => self.bounds(load, Some(hi))?.map(|(m, _)| m),
                (_, Some(n)) => Some(n),
            };
        }
        Ok(total)
    }

    /// `(min, max)` of the key past `after`, or `None` when there is none.
    fn bounds(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        after: Option<i64>,
    ) -> Result<Option<(i64, i64)>> {
        let described = &load.described;
        let pk = described
            .columns
            .get(described.pk)
            .map(|c| quote_ident(&c.name))
            .unwrap_or_default();
        let sql = format!(
            "SELECT min(q.{pk})::int8, max(q.{pk})::int8 FROM (\n{}\n) q WHERE q.{pk} > $1::int8",
            described.body
        );
        let after = after.unwrap_or(i64::MIN);
        let stream = &load.plan.stream;
        let query_error = |action, source| Error::Query {
            stream: Some(stream.clone()),
            action,
            source,
        };
        let (min, max): (Option<i64>, Option<i64>) = self.session.with_retry(
            Subject::Table(&load.plan.spec.key),
            &mut load.budget,
            |client| {
                let row = client
                    .query_one(sql.as_str(), &[&after])
                    .map_err(|e| query_error("finding the key range", e))?;
                let min = row
                    .try_get(0)
                    .map_err(|e| query_error("reading the key range", e))?;
                let max = row
                    .try_get(1)
                    .map_err(|e| query_error("reading the key range", e))?;
                Ok((min, max))
            },
        )?;
        Ok(min.zip(max))
    }

    /// Reads keys `lo..=hi` (or, for a non-integer key, the whole query)
    /// in key order inside one read-only REPEATABLE READ transaction; after
    /// a transient failure it reconnects and continues after the last key
    /// emitted.
    pub(super) fn read<W: Write>(
        &mut self,
        load: &mut TableLoad<'_, '_>,
        lo: i64,
        hi: i64,
        version: Option<u64>,
        out: &mut Writer<W>,
    ) -> Result<Span> {
        let described = &load.described;
        let plan = load.plan;
        let select: Vec<String> = described
            .columns
            .iter()
            .map(|c| c.codec.select_expr(&format!("q.{}", quote_ident(&c.name))))
            .collect();
        let pk = described
            .columns
            .get(described.pk)
            .map(|c| quote_ident(&c.name))
            .unwrap_or_default();
        let sql = template::wrap(
            &select.join(", "),
            &described.body,
            Some(&pk),
            described.ranged,
        );
        let key_columns = if described.ranged {
            vec![described.pk]
        } else {
            Vec::new()
        };
        let layout = RecordLayout {
            tap_stream_id: &plan.stream,
            stream: &plan.stream,
            columns: &described.columns,
            key_columns: &key_columns,
            suffix: &load.suffix,
            version,
            counter: &load.counter,
        };
        let stats = &mut load.stats;
        let mut span = Span::default();
        let mut from = Some(lo);
        self.session
            .with_retry(Subject::Table(&plan.spec.key), &mut load.budget, |client| {
                let Some(start) = from else {
                    return Ok(());
                };
                let query_error = |action, source| Error::Query {
                    stream: Some(plan.stream.clone()),
                    action,
                    source,
                };
                let mut tx = crate::session::begin_snapshot(client)
                    .map_err(|e| query_error("starting a read-only transaction", e))?;
                let mut rows = if described.ranged {
                    tx.query_raw(sql.as_str(), [&start as &(dyn ToSql + Sync), &hi])
                } else {
                    tx.query_raw(sql.as_str(), std::iter::empty::<&(dyn ToSql + Sync)>())
                }
                .map_err(|e| query_error("starting the table read", e))?;
                stream_records(&mut rows, &layout, stats, out, |record, ranges, _| {
                    span.records += 1;
                    if let Some(id) = ranges
                        .first()
                        .and_then(|r| record.get(r.clone()))
                        .and_then(|raw| std::str::from_utf8(raw).ok())
                        .and_then(|text| text.parse::<i64>().ok())
                    {
                        span.max_pk = Some(id);
                        from = id.checked_add(1);
                    }
                    Ok(())
                })?;
                drop(rows);
                tx.commit()
                    .map_err(|e| query_error("ending the read-only transaction", e))?;
                from = None;
                Ok(())
            })?;
        Ok(span)
    }
}
