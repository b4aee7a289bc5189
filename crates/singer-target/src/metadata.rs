//! The `_sdc_*` metadata columns (`add_record_metadata`), as the Meltano
//! SDK names and types them.

use serde_json::{Value, json};

use crate::loader::RowBuilder;
use crate::stream::{RecordContext, RecordView};

/// One metadata column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataColumn {
    /// `_sdc_extracted_at`: the RECORD's `time_extracted` (NULL if absent).
    ExtractedAt,
    /// `_sdc_received_at`: when the target read the record (UTC, µs).
    ReceivedAt,
    /// `_sdc_batched_at`: when the record's batch was written (UTC, µs).
    BatchedAt,
    /// `_sdc_deleted_at`: the record's own `_sdc_deleted_at` property (a
    /// tap's soft-delete marker), else NULL.
    DeletedAt,
    /// `_sdc_sequence`: a number that grows with every record of the run
    /// (nanoseconds since the epoch at receipt, kept strictly increasing),
    /// so later records sort after earlier ones across runs too.
    Sequence,
    /// `_sdc_table_version`: the RECORD's `version` (NULL if absent).
    TableVersion,
}

impl MetadataColumn {
    /// Every metadata column, in the order they are added.
    pub const ALL: [Self; 6] = [
        Self::ExtractedAt,
        Self::ReceivedAt,
        Self::BatchedAt,
        Self::DeletedAt,
        Self::Sequence,
        Self::TableVersion,
    ];

    /// The column name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ExtractedAt => "_sdc_extracted_at",
            Self::ReceivedAt => "_sdc_received_at",
            Self::BatchedAt => "_sdc_batched_at",
            Self::DeletedAt => "_sdc_deleted_at",
            Self::Sequence => "_sdc_sequence",
            Self::TableVersion => "_sdc_table_version",
        }
    }

    /// The property's JSON schema.
    #[must_use]
    pub fn schema(self) -> Value {
        match self {
            Self::Sequence | Self::TableVersion => json!({"type": ["null", "integer"]}),
            _ => json!({"type": ["null", "string"], "format": "date-time"}),
        }
    }
}

/// Adds the metadata properties a schema does not already declare; returns
/// the ones added, in order.
pub(crate) fn add_properties(schema: &mut Value) -> Vec<MetadataColumn> {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return Vec::new();
    };
    MetadataColumn::ALL
        .into_iter()
        .filter(|column| {
            if properties.contains_key(column.name()) {
                false
            } else {
                properties.insert(column.name().to_owned(), column.schema());
                true
            }
        })
        .collect()
}

/// Fills one metadata cell of a row (the record's own values are already
/// in). `_sdc_batched_at` is set when the batch is written.
pub(crate) fn fill(
    column: MetadataColumn,
    index: usize,
    row: &mut RowBuilder<'_>,
    record: &RecordView<'_>,
    context: &RecordContext<'_>,
) {
    match column {
        MetadataColumn::ExtractedAt => match record.time_extracted {
            Some(time) => {
                let begin = row.text_mut().len();
                singer_protocol::push_json_string(row.text_mut(), time);
                row.set_range(index, begin);
            }
            None => row.set(index, "null"),
        },
        MetadataColumn::ReceivedAt => row.set(index, context.received_at),
        MetadataColumn::Sequence => {
            row.set(index, itoa::Buffer::new().format(context.sequence));
        }
        MetadataColumn::TableVersion => match record.version {
            Some(version) => row.set(index, itoa::Buffer::new().format(version)),
            None => row.set(index, "null"),
        },
        MetadataColumn::BatchedAt | MetadataColumn::DeletedAt => {
            if !row.is_set(index) {
                row.set(index, "null");
            }
        }
    }
}

/// Now, as a JSON string: `"2024-05-01T12:00:00.123456Z"`.
pub(crate) fn now_json() -> String {
    format!(
        "\"{}\"",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ")
    )
}

/// Nanoseconds since the epoch (0 before 1970, saturating past 2554).
pub(crate) fn epoch_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_only_missing_properties() {
        let mut schema = json!({"properties": {"id": {}, "_sdc_deleted_at": {"type": "string"}}});
        let added = add_properties(&mut schema);
        assert_eq!(added.len(), 5);
        assert!(!added.contains(&MetadataColumn::DeletedAt));
        assert_eq!(
            schema["properties"]["_sdc_deleted_at"],
            json!({"type": "string"})
        );
        assert_eq!(
            schema["properties"]["_sdc_sequence"],
            json!({"type": ["null", "integer"]})
        );
        assert!(now_json().ends_with("Z\""));
        assert!(epoch_nanos() > 1_600_000_000_000_000_000);
    }
}
