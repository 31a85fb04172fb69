//! Deciding, with `rotate-after`, whether a group is due: from each
//! target's last-written time, read in preflight. The report only renders
//! what is decided here.

use std::time::{Duration, SystemTime};

use crate::apis::Age;
use crate::inputs::{Inputs, Target};
use crate::report::rfc3339;
use crate::workflow::Workflow;

/// How far past the clock a last-written time may be before it is no age.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// A target's age as the decision sees it: a time more than
/// [`CLOCK_SKEW`] ahead of the clock (a bad clock or a bad timestamp, which
/// must never stop rotations for good) is no age but `Ahead`, with a warning.
pub fn judged(wf: &Workflow, target: &Target, age: Age) -> Age {
    match age {
        Age::WrittenAt(at)
            if at
                .duration_since(SystemTime::now())
                .is_ok_and(|ahead| ahead > CLOCK_SKEW) =>
        {
            wf.annotate(
                "warning",
                &format!(
                    "{target}: last written {}, more than 5 minutes ahead of this machine's clock (a bad clock or timestamp): counted as due",
                    rfc3339(Some(at)).unwrap_or_else(|| "at an unreadable time".into())
                ),
            );
            Age::Ahead(at)
        }
        age => age,
    }
}

/// With `rotate-after`: a group is due when any target is missing, ahead of
/// the clock or was written at least `rotate-after` ago.
pub fn is_due(inputs: &Inputs, last_written: &[(Target, Age)]) -> bool {
    let Some(after) = inputs.rotate_after else {
        return true;
    };
    // Targets that keep no timestamp (Cloudflare) are left out; a group
    // with none that keeps one is always due.
    let mut tracked = last_written.iter().filter(|(_, age)| *age != Age::Untracked).peekable();
    tracked.peek().is_none()
        || tracked.any(|(_, age)| match age {
            Age::WrittenAt(at) => at.elapsed().unwrap_or_default() >= after,
            _ => true,
        })
}

/// One target in a report: due when it is missing or ahead of the clock,
/// or (with `rotate-after`) written at least that long ago. A target whose
/// platform keeps no timestamp is never due while it exists.
pub fn target_is_due(rotate_after: Option<Duration>, age: Age) -> bool {
    match age {
        Age::Missing | Age::Ahead(_) => true,
        Age::Untracked => false,
        Age::WrittenAt(at) => rotate_after.is_some_and(|after| at.elapsed().unwrap_or_default() >= after),
    }
}
