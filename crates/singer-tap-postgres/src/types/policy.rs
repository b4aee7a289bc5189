//! What to do with values JSON or the usual targets cannot hold as they are,
//! and the counters of how often that happened.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What to do with a date or timestamp value that is `infinity`/`-infinity`,
/// before the common era, or after the year 9999.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialValuePolicy {
    /// Keep the value as a string that says what it is: `"infinity"`,
    /// `"-infinity"`, a BC date as its ISO 8601 astronomical year
    /// (`"-0043-03-15"`, 44 BC; `"0000-…"` is 1 BC) and a year past 9999 in
    /// ISO 8601 expanded form (`"+10000-01-01T00:00:00.000000+00:00"`).
    /// The default: nothing is lost, and a target that cannot load the value
    /// fails loudly instead of storing a wrong one.
    #[default]
    Keep,
    /// Emit `null` (the schema then admits `null` even for `NOT NULL` columns).
    Null,
    /// Replace the value with the nearest value in `0001-01-01 ..= 9999-12-31`
    /// (`infinity` → `9999-12-31T23:59:59.999999+00:00`, `-infinity` and BC →
    /// `0001-01-01T00:00:00.000000+00:00`; dates likewise).
    Clamp,
    /// Fail the sync with [`EncodeError::SpecialValue`](super::EncodeError::SpecialValue).
    Error,
}

/// What to do with a number that JSON cannot hold: `NaN`, `Infinity` and
/// `-Infinity` in `real`, `double precision` and `numeric`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberSpecialPolicy {
    /// Emit the JSON string `"NaN"`, `"Infinity"` or `"-Infinity"` (the
    /// spellings PostgreSQL, Snowflake and Python's `float()` accept). A
    /// float column's schema then admits those three strings besides numbers:
    /// `{"anyOf":[{"type":["number","null"]},{"type":"string","enum":["NaN","Infinity","-Infinity"]}]}`.
    /// The default.
    #[default]
    Keep,
    /// Emit `null` (the schema then admits `null` even for `NOT NULL` columns).
    Null,
    /// Fail the sync with [`EncodeError::SpecialValue`](super::EncodeError::SpecialValue).
    Error,
}

/// The special-value policies of a tap, one per kind of value. Every hit is
/// counted whatever the policy, so the sync can log it.
///
/// Deserializes from the tap config (snake_case keys, every key optional):
///
/// ```
/// use singer_tap_postgres::{NumberSpecialPolicy, SpecialValuePolicy, ValuePolicy};
///
/// let policy: ValuePolicy = serde_json::from_str(r#"{"temporal_infinity": "clamp", "number_special": "null"}"#)
///     .map_err(|e| e.to_string())?;
/// assert_eq!(policy.temporal_infinity, SpecialValuePolicy::Clamp);
/// assert_eq!(policy.temporal_out_of_range, SpecialValuePolicy::Keep);
/// assert_eq!(policy.number_special, NumberSpecialPolicy::Null);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValuePolicy {
    /// `infinity` and `-infinity` in `date`, `timestamp` and `timestamptz`.
    pub temporal_infinity: SpecialValuePolicy,
    /// Dates and timestamps before 0001-01-01 (BC) or after 9999-12-31.
    pub temporal_out_of_range: SpecialValuePolicy,
    /// `NaN`, `Infinity`, `-Infinity` in `real`, `double precision`, `numeric`.
    pub number_special: NumberSpecialPolicy,
}

/// A kind of value that a [`ValuePolicy`] decides about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialValue {
    /// A date or timestamp `infinity`.
    TemporalInfinity,
    /// A date or timestamp `-infinity`.
    TemporalNegativeInfinity,
    /// A date or timestamp before the common era (year 1 BC or earlier).
    BeforeCommonEra,
    /// A date or timestamp after the year 9999.
    YearAfter9999,
    /// A `NaN` in `real`, `double precision` or `numeric`.
    NaN,
    /// `Infinity` in `real`, `double precision` or `numeric`.
    NumberInfinity,
    /// `-Infinity` in `real`, `double precision` or `numeric`.
    NumberNegativeInfinity,
}

impl SpecialValue {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 7] = [
        Self::TemporalInfinity,
        Self::TemporalNegativeInfinity,
        Self::BeforeCommonEra,
        Self::YearAfter9999,
        Self::NaN,
        Self::NumberInfinity,
        Self::NumberNegativeInfinity,
    ];

    /// A stable snake_case name, for log fields and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TemporalInfinity => "temporal_infinity",
            Self::TemporalNegativeInfinity => "temporal_negative_infinity",
            Self::BeforeCommonEra => "before_common_era",
            Self::YearAfter9999 => "year_after_9999",
            Self::NaN => "nan",
            Self::NumberInfinity => "number_infinity",
            Self::NumberNegativeInfinity => "number_negative_infinity",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::TemporalInfinity => 0,
            Self::TemporalNegativeInfinity => 1,
            Self::BeforeCommonEra => 2,
            Self::YearAfter9999 => 3,
            Self::NaN => 4,
            Self::NumberInfinity => 5,
            Self::NumberNegativeInfinity => 6,
        }
    }
}

impl fmt::Display for SpecialValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many special values [`Codec::encode`](super::Codec::encode) met, by
/// kind. The sync keeps one per stream and logs the non-zero counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeStats {
    counts: [u64; SpecialValue::ALL.len()],
}

impl EncodeStats {
    /// A zeroed counter.
    #[cfg(test)]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            counts: [0; SpecialValue::ALL.len()],
        }
    }

    /// How many values of `kind` were met.
    #[must_use]
    pub fn count(&self, kind: SpecialValue) -> u64 {
        self.counts.get(kind.index()).copied().unwrap_or(0)
    }

    /// How many special values were met in all.
    #[cfg(test)]
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// The non-zero counts, in [`SpecialValue::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (SpecialValue, u64)> + '_ {
        SpecialValue::ALL
            .into_iter()
            .map(|kind| (kind, self.count(kind)))
            .filter(|(_, n)| *n > 0)
    }

    /// Adds the counts of `other` (a parallel read's parts).
    pub fn merge(&mut self, other: &Self) {
        for (n, m) in self.counts.iter_mut().zip(other.counts) {
            *n = n.saturating_add(m);
        }
    }

    /// Counts one value of `kind`.
    pub fn record(&mut self, kind: SpecialValue) {
        if let Some(n) = self.counts.get_mut(kind.index()) {
            *n = n.saturating_add(1);
        }
    }
}
