//! The deadlines of a connection, kept the same way by the tokio and the blocking drivers:
//! the machine's phase deadline, started only when the machine starts a new phase
//! ([`Machine::timer_epoch`]), never because octets arrived; and the session's overall limit
//! ([`IoConfig::session_timeout`](crate::IoConfig::session_timeout)).

use std::time::Duration;

use mail_wire::machine::Machine;

/// A clock's instant: `std::time::Instant` for the blocking driver, tokio's (which a paused
/// test clock moves) for the tokio driver.
pub(crate) trait Moment: Copy + Ord {
    fn now() -> Self;
    fn later(self, by: Duration) -> Option<Self>;
}

impl Moment for std::time::Instant {
    fn now() -> Self {
        Self::now()
    }
    fn later(self, by: Duration) -> Option<Self> {
        self.checked_add(by)
    }
}

#[cfg(feature = "tokio")]
impl Moment for tokio::time::Instant {
    fn now() -> Self {
        Self::now()
    }
    fn later(self, by: Duration) -> Option<Self> {
        self.checked_add(by)
    }
}

/// The deadline of the phase under way, and what it was set for.
#[derive(Debug, Clone, Copy)]
struct PhaseTimer<I> {
    epoch: u64,
    limit: Duration,
    at: I,
}

/// A connection's deadlines.
#[derive(Debug)]
pub(crate) struct Deadlines<I> {
    /// When the connection started: the session limit counts from here.
    started: I,
    phase: Option<PhaseTimer<I>>,
    /// The session limit expired and the machine was told (it says goodbye and closes).
    session_over: bool,
}

/// Which deadline a wait ended at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// The machine's, for the phase under way ([`Machine::handle_timeout`]).
    Phase,
    /// The session's overall limit ([`Machine::handle_session_timeout`]).
    Session,
}

impl Expired {
    /// Tells `machine`.
    pub(crate) fn tell<M: Machine>(self, machine: &mut M) {
        match self {
            Self::Phase => machine.handle_timeout(),
            Self::Session => machine.handle_session_timeout(),
        }
    }
}

/// The bounds of the next wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Next<I> {
    /// The machine's own deadline (`None`: it waits for the application, or for nothing).
    pub(crate) phase: Option<I>,
    /// The earlier of the phase's and the session's: what the wait is bounded by.
    pub(crate) any: Option<I>,
}

impl<I: Moment> Deadlines<I> {
    /// Deadlines for a connection starting now.
    pub(crate) fn new() -> Self {
        Self {
            started: I::now(),
            phase: None,
            session_over: false,
        }
    }

    /// The deadlines of the next wait. The phase deadline is kept while the machine's epoch
    /// and timeout stay the same, and started afresh (from now) when either changes.
    pub(crate) fn next<M: Machine>(&mut self, machine: &M, session: Option<Duration>) -> Next<I> {
        let phase = match machine.timeout() {
            None => {
                self.phase = None;
                None
            }
            Some(limit) => {
                let epoch = machine.timer_epoch();
                match self.phase {
                    Some(timer) if timer.epoch == epoch && timer.limit == limit => Some(timer.at),
                    _ => {
                        self.phase =
                            I::now()
                                .later(limit)
                                .map(|at| PhaseTimer { epoch, limit, at });
                        self.phase.map(|timer| timer.at)
                    }
                }
            }
        };
        let session = self.session_end(session);
        let any = match (phase, session) {
            (Some(phase), Some(session)) => Some(phase.min(session)),
            (phase, session) => phase.or(session),
        };
        Next { phase, any }
    }

    /// When the session ends (`None`: no limit, or already told).
    fn session_end(&self, session: Option<Duration>) -> Option<I> {
        if self.session_over {
            return None;
        }
        session.and_then(|limit| self.started.later(limit))
    }

    /// A wait ended at its deadline: the machine is about to hear of it. The next wait starts
    /// a new phase deadline; if the session's limit was reached, it is not set again.
    pub(crate) fn expired(&mut self, session: Option<Duration>) -> Expired {
        self.phase = None;
        if self.session_end(session).is_some_and(|end| I::now() >= end) {
            self.session_over = true;
            return Expired::Session;
        }
        Expired::Phase
    }

    /// The session limit counts from now (unless it expired already: the machine was told).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn restart_session(&mut self) {
        self.started = I::now();
    }

    /// Whether the session's limit has passed and the machine has not been told yet: checked
    /// before each turn of the drivers' loops, so that a session busy sending (a POP3 server
    /// streaming a message, which never waits to read) ends at its limit too, one write
    /// timeout late at most.
    pub(crate) fn session_due(&self, session: Option<Duration>) -> bool {
        self.session_end(session).is_some_and(|end| I::now() >= end)
    }

    /// Whether the session limit expired (the machine was told): a machine that stays open
    /// after it is closed by the driver.
    pub(crate) fn session_over(&self) -> bool {
        self.session_over
    }
}
