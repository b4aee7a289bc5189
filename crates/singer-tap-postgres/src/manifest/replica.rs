//! The replica gate: where the source stands as a replica, the freshness
//! check, and the cap on incremental END at the replay time.

use crate::pg::Client;
use chrono::{DateTime, TimeDelta, Utc};
use tracing::info;

use super::window::{human, timestamp_text};
use crate::error::{Error, Result};

/// Where the source stands as a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaStatus {
    /// Not in recovery: a primary (its data is current).
    Primary,
    /// A hot standby.
    Standby {
        /// `pg_last_xact_replay_timestamp()`.
        replay: Option<DateTime<Utc>>,
        /// The server's `now()`.
        now: DateTime<Utc>,
    },
}

/// Applies the freshness gate and returns the cap for END, if any.
///
/// On a primary (`pg_is_in_recovery()` false, where
/// `pg_last_xact_replay_timestamp()` is NULL) the data is current: the gate
/// passes and END is not capped.
///
/// # Errors
///
/// [`Error::ReplicaStale`] past the limit, [`Error::ReplicaNotReplayed`]
/// for a standby that has replayed nothing (when the gate or the cap is on).
pub fn check_replica(
    status: ReplicaStatus,
    max_lag: Option<TimeDelta>,
    cap: bool,
) -> Result<Option<DateTime<Utc>>> {
    match status {
        ReplicaStatus::Primary => {
            if max_lag.is_some() || cap {
                info!(
                    "The source is not a standby: the freshness gate passes and END is not capped."
                );
            }
            Ok(None)
        }
        ReplicaStatus::Standby { replay: None, .. } if max_lag.is_some() || cap => {
            Err(Error::ReplicaNotReplayed)
        }
        ReplicaStatus::Standby { replay: None, .. } => Ok(None),
        ReplicaStatus::Standby {
            replay: Some(replay),
            now,
        } => {
            let age = now.signed_duration_since(replay);
            if let Some(limit) = max_lag
                && age > limit
            {
                return Err(Error::ReplicaStale {
                    replay: timestamp_text(replay),
                    age: human(age),
                    limit: human(limit),
                });
            }
            info!(replay = %timestamp_text(replay), lag_seconds = age.num_seconds(), "Replica freshness checked.");
            Ok(cap.then_some(replay))
        }
    }
}

/// Asks the server where it stands.
pub(crate) fn replica_status(client: &mut Client) -> Result<ReplicaStatus> {
    let query_error = |source| Error::Query {
        stream: None,
        action: "checking the replica's freshness",
        source,
    };
    let row = client
        .query_one(
            "SELECT pg_is_in_recovery(), \
                    floor(extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000000)::int8, \
                    floor(extract(epoch FROM now()) * 1000000)::int8",
            &[],
        )
        .map_err(query_error)?;
    let in_recovery: bool = row.try_get(0).map_err(query_error)?;
    if !in_recovery {
        return Ok(ReplicaStatus::Primary);
    }
    let replay: Option<i64> = row.try_get(1).map_err(query_error)?;
    let now: i64 = row.try_get(2).map_err(query_error)?;
    Ok(ReplicaStatus::Standby {
        replay: replay.and_then(DateTime::from_timestamp_micros),
        now: DateTime::from_timestamp_micros(now).unwrap_or_else(Utc::now),
    })
}

#[cfg(test)]
mod tests {
    use super::super::options::parse_timestamp;
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        parse_timestamp(text).expect("timestamp")
    }

    #[test]
    fn freshness_gate() {
        let now = t("2024-06-05 12:00:00");
        let lag = Some(TimeDelta::hours(12));
        assert_eq!(
            check_replica(ReplicaStatus::Primary, lag, true).expect("primary passes"),
            None
        );
        let fresh = ReplicaStatus::Standby {
            replay: Some(t("2024-06-05 11:00:00")),
            now,
        };
        assert_eq!(
            check_replica(fresh, lag, true).expect("fresh"),
            Some(t("2024-06-05 11:00:00"))
        );
        assert_eq!(check_replica(fresh, lag, false).expect("fresh"), None);
        let stale = ReplicaStatus::Standby {
            replay: Some(t("2024-06-04 20:00:00")),
            now,
        };
        assert_eq!(
            check_replica(stale, lag, false)
                .expect_err("stale")
                .to_string(),
            "replica is stale: last replayed transaction at 2024-06-04T20:00:00.000000+00:00 is 16h00m old, more than the limit of 12h00m"
        );
        let never = ReplicaStatus::Standby { replay: None, now };
        assert!(matches!(
            check_replica(never, lag, false),
            Err(Error::ReplicaNotReplayed)
        ));
        assert_eq!(check_replica(never, None, false).expect("no gate"), None);
    }
}
