//! SIGINT and SIGTERM: a cancelled run, or `timeout-minutes`. Before the
//! first change (an invalidation, a token created) the run stops at once:
//! nothing changed. After it, the request in flight finishes, nothing new
//! starts but the writes of a token that exists, and the run still writes
//! its state message and outputs (and exits 1), so no token is lost.

use std::sync::atomic::{AtomicU8, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::workflow::Workflow;

const UNCHANGED: u8 = 0;
const CHANGING: u8 = 1;
/// A signal came after the first change: finish, then exit 1.
const STOPPING: u8 = 2;
/// A signal came before any change: the process is exiting.
const STOPPED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNCHANGED);

/// Listens for SIGINT and SIGTERM on a thread of its own for the rest of
/// the run. A failure to listen is a warning: the run goes on as before.
pub fn listen(wf: &Workflow) {
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => {
            wf.annotate("warning", &format!("cannot listen for SIGINT/SIGTERM: {e}"));
            return;
        }
    };
    let wf = wf.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
            match STATE.compare_exchange(UNCHANGED, STOPPED, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => {
                    wf.annotate(
                        "error",
                        &format!("stopped by {name} before anything changed: nothing was rotated, re-run the workflow"),
                    );
                    std::process::exit(crate::exit::FAILED.into());
                }
                Err(_) => {
                    STATE.store(STOPPING, Ordering::SeqCst);
                    crate::workflow::log(&format!(
                        "{name}: finishing the request in flight and the writes of tokens already created, then stopping"
                    ));
                }
            }
        }
    });
}

/// Called before a change (an invalidation, a token's creation): false
/// when the run was told to stop, and then the change must not start.
pub fn may_change() -> bool {
    match STATE.compare_exchange(UNCHANGED, CHANGING, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => true,
        Err(state) => state == CHANGING,
    }
}

/// The run was told to stop: start nothing new.
pub fn requested() -> bool {
    STATE.load(Ordering::SeqCst) >= STOPPING
}
