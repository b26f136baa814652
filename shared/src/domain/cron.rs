//! Cron schedules in an IANA time zone: parsing (the seconds field is
//! optional), the next fire times, and which fires are due now, on time or
//! missed, under a misfire policy. Pure: no clock and no store.
//!
//! Daylight-saving changes follow the zone's rules (croner's, after the
//! Open Cron Pattern Specification): a wall-clock time that a spring-forward
//! skips fires at the first instant after the gap; a fixed time that a
//! fall-back repeats fires once; an interval pattern (`*/30 * * * *`) fires
//! in both copies of the repeated hour, as real time passes.

use chrono::{DateTime, Duration, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;

/// The most fires one [`CronSchedule::due`] call looks at on time (a
/// per-second schedule with a long grace), so no call runs unbounded.
const MAX_ON_TIME: usize = 1_000;

/// What to do with fires missed while no worker ran (older than the grace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfire {
    /// Drop them; fire again from the next on-time fire.
    Skip,
    /// One job for all of them, at the latest missed fire time.
    RunOnce,
    /// One job per missed fire, the latest `cap` of them.
    RunAll,
}

impl Misfire {
    pub const ALL: [Misfire; 3] = [Misfire::Skip, Misfire::RunOnce, Misfire::RunAll];

    pub fn as_str(self) -> &'static str {
        match self {
            Misfire::Skip => "skip",
            Misfire::RunOnce => "run_once",
            Misfire::RunAll => "run_all",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Why an expression or zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronProblem {
    #[error("invalid cron expression: {0}")]
    Expression(String),
    #[error("unknown IANA time zone {0:?}")]
    TimeZone(String),
}

/// One fire: when it was due, and whether it was missed (older than the
/// grace when it was made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    pub at: DateTime<Utc>,
    pub misfired: bool,
}

/// What is due at a moment: the fires to make now, earliest first, and the
/// next fire time after the moment (`None`: the schedule has ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub fires: Vec<Fire>,
    pub next: Option<DateTime<Utc>>,
}

/// A parsed cron expression in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: chrono_tz::Tz,
}

impl CronSchedule {
    /// Five fields (minute first) or six (second first); names such as
    /// `MON` and `JAN`, ranges, lists and steps; `@daily` and friends.
    pub fn parse(expression: &str, time_zone: &str) -> Result<Self, CronProblem> {
        let tz: chrono_tz::Tz = time_zone.parse().map_err(|_| CronProblem::TimeZone(time_zone.to_string()))?;
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression.trim())
            .map_err(|e| CronProblem::Expression(e.to_string()))?;
        Ok(Self { cron, tz })
    }

    /// The first fire strictly after `t`, if there is one at or before `ends_at`.
    pub fn next_after(&self, t: DateTime<Utc>, ends_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        self.upcoming(t, 1, ends_at).pop()
    }

    /// Up to `n` fires strictly after `t`, none after `ends_at`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize, ends_at: Option<DateTime<Utc>>) -> Vec<DateTime<Utc>> {
        self.cron
            .iter_after(whole_second_before(t).with_timezone(&self.tz))
            .map(|f| f.with_timezone(&Utc))
            .skip_while(|f| *f <= t)
            .take_while(|f| ends_at.is_none_or(|end| *f <= end))
            .take(n)
            .collect()
    }

    /// The fires due at `now` for a schedule whose next unmade fire is
    /// `next`. Fires at or after `now − grace` are on time and all made;
    /// older ones were missed and follow `policy` (`cap` bounds `RunAll`).
    /// No fire is after `ends_at`.
    pub fn due(
        &self,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
        grace: Duration,
        policy: Misfire,
        cap: usize,
        ends_at: Option<DateTime<Utc>>,
    ) -> Due {
        let end = ends_at.map_or(now, |e| e.min(now));
        let cutoff = now - grace;
        let mut fires = Vec::new();
        if next < cutoff && policy != Misfire::Skip {
            // Walk back from the cutoff (or just past the end): the latest
            // missed fires first.
            let take = if policy == Misfire::RunOnce { 1 } else { cap };
            let mut missed: Vec<Fire> = self
                .cron
                .iter_before(whole_second_after(cutoff.min(end)).with_timezone(&self.tz))
                .map(|f| f.with_timezone(&Utc))
                .skip_while(|f| *f >= cutoff || *f > end)
                .take_while(|f| *f >= next)
                .take(take)
                .map(|at| Fire { at, misfired: true })
                .collect();
            missed.reverse();
            fires.extend(missed);
        }
        let on_time_from = next.max(cutoff);
        fires.extend(
            self.cron
                .iter_from(whole_second_before(on_time_from).with_timezone(&self.tz), croner::Direction::Forward)
                .map(|f| f.with_timezone(&Utc))
                .skip_while(|f| *f < on_time_from)
                .take_while(|f| *f <= end)
                .take(MAX_ON_TIME)
                .map(|at| Fire { at, misfired: false }),
        );
        let after = fires.last().map_or(now, |f| f.at.max(now));
        Due { fires, next: self.next_after(after, ends_at) }
    }
}

/// Cron works in whole seconds: iterators start from one, and the caller
/// filters the exact bounds (so no rounding inside the library can drop or
/// repeat a fire).
fn whole_second_before(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn whole_second_after(t: DateTime<Utc>) -> DateTime<Utc> {
    whole_second_before(t) + Duration::seconds(1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn seconds_are_optional_and_bad_input_is_named() {
        let five = CronSchedule::parse("*/5 * * * *", "UTC").unwrap();
        assert_eq!(five.next_after(utc(2026, 1, 1, 0, 1, 0), None), Some(utc(2026, 1, 1, 0, 5, 0)));
        let six = CronSchedule::parse("*/10 * * * * *", "UTC").unwrap();
        assert_eq!(six.next_after(utc(2026, 1, 1, 0, 0, 1), None), Some(utc(2026, 1, 1, 0, 0, 10)));
        assert!(matches!(CronSchedule::parse("61 * * * * *", "UTC"), Err(CronProblem::Expression(_))));
        assert!(matches!(CronSchedule::parse("* * *", "UTC"), Err(CronProblem::Expression(_))));
        assert_eq!(
            CronSchedule::parse("* * * * *", "Mars/Olympus").unwrap_err(),
            CronProblem::TimeZone("Mars/Olympus".into())
        );
    }

    #[test]
    fn daylight_saving_changes_follow_the_zone() {
        // Berlin springs forward at 02:00 on 29 March 2026: 02:30 does not
        // exist that day, so the daily 02:30 fire is at 03:00 CEST (01:00 UTC).
        let daily = CronSchedule::parse("30 2 * * *", "Europe/Berlin").unwrap();
        let spring = daily.upcoming(utc(2026, 3, 27, 12, 0, 0), 3, None);
        assert_eq!(spring, [utc(2026, 3, 28, 1, 30, 0), utc(2026, 3, 29, 1, 0, 0), utc(2026, 3, 30, 0, 30, 0)]);
        // It falls back at 03:00 on 25 October: 02:30 happens twice, and
        // the daily fire is made once, at the first (CEST).
        let fall = daily.upcoming(utc(2026, 10, 24, 12, 0, 0), 2, None);
        assert_eq!(fall, [utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0)]);
        // An interval pattern fires in both copies of the repeated hour.
        let half_hourly = CronSchedule::parse("*/30 * * * *", "Europe/Berlin").unwrap();
        let repeated = half_hourly.upcoming(utc(2026, 10, 24, 23, 45, 0), 4, None);
        assert_eq!(
            repeated,
            [
                utc(2026, 10, 25, 0, 0, 0),
                utc(2026, 10, 25, 0, 30, 0),
                utc(2026, 10, 25, 1, 0, 0),
                utc(2026, 10, 25, 1, 30, 0)
            ]
        );
        // New York: 9:00 local is 14:00 UTC in winter, 13:00 UTC in summer.
        let nine = CronSchedule::parse("0 9 * * *", "America/New_York").unwrap();
        assert_eq!(
            nine.upcoming(utc(2026, 3, 7, 15, 0, 0), 2, None),
            [utc(2026, 3, 8, 13, 0, 0), utc(2026, 3, 9, 13, 0, 0)]
        );
    }

    #[test]
    fn misfire_policies_decide_what_missed_fires_become() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        let next = utc(2026, 1, 1, 0, 0, 1);
        let now = utc(2026, 1, 1, 0, 0, 12);
        let grace = Duration::seconds(2);
        // Fires 00:00:01..=00:00:09 were missed; 10, 11 and 12 are on time.
        let on_time: Vec<DateTime<Utc>> = (10..=12).map(|s| utc(2026, 1, 1, 0, 0, s)).collect();
        let made = |policy, cap| every_second.due(next, now, grace, policy, cap, None);
        let skip = made(Misfire::Skip, 100);
        assert_eq!(skip.fires.iter().map(|f| f.at).collect::<Vec<_>>(), on_time);
        assert!(skip.fires.iter().all(|f| !f.misfired));
        assert_eq!(skip.next, Some(utc(2026, 1, 1, 0, 0, 13)));
        let once = made(Misfire::RunOnce, 100);
        assert_eq!(once.fires[0], Fire { at: utc(2026, 1, 1, 0, 0, 9), misfired: true });
        assert_eq!(once.fires.len(), 4);
        let all = made(Misfire::RunAll, 100);
        assert_eq!(all.fires.iter().filter(|f| f.misfired).count(), 9);
        assert_eq!(all.fires.first().unwrap().at, next);
        assert_eq!(all.fires.len(), 12);
        let capped = made(Misfire::RunAll, 3);
        let missed: Vec<DateTime<Utc>> = capped.fires.iter().filter(|f| f.misfired).map(|f| f.at).collect();
        assert_eq!(missed, [7, 8, 9].map(|s| utc(2026, 1, 1, 0, 0, s)));
        // Nothing missed: only what is due, and the next after now.
        let fresh = every_second.due(now, now, grace, Misfire::Skip, 100, None);
        assert_eq!(fresh.fires, [Fire { at: now, misfired: false }]);
    }

    #[test]
    fn a_fraction_of_a_second_neither_drops_nor_repeats_a_fire() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        let next = utc(2026, 1, 1, 0, 0, 1);
        let now = utc(2026, 1, 1, 0, 0, 10) + Duration::milliseconds(300);
        let due = every_second.due(next, now, Duration::seconds(2), Misfire::RunAll, 100, None);
        let at: Vec<DateTime<Utc>> = due.fires.iter().map(|f| f.at).collect();
        assert_eq!(at, (1..=10).map(|s| utc(2026, 1, 1, 0, 0, s)).collect::<Vec<_>>());
        // 00:00:08 is older than now − 2 s (00:00:08.3): missed; 9 and 10 are on time.
        assert_eq!(due.fires.iter().filter(|f| !f.misfired).count(), 2);
        assert_eq!(due.next, Some(utc(2026, 1, 1, 0, 0, 11)));
    }

    #[test]
    fn nothing_fires_after_the_end() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        let end = utc(2026, 1, 1, 0, 0, 5);
        let due = every_second.due(
            utc(2026, 1, 1, 0, 0, 1),
            utc(2026, 1, 1, 0, 0, 30),
            Duration::seconds(2),
            Misfire::RunAll,
            100,
            Some(end),
        );
        assert_eq!(due.fires.len(), 5);
        assert_eq!(due.fires.last().unwrap().at, end);
        assert_eq!(due.next, None);
        assert!(every_second.upcoming(end, 5, Some(end)).is_empty());
    }
}
