//! The driver's own limits: what the machines cannot know (writes, handshakes, buffers).

use std::time::Duration;

/// How a driver waits and buffers. The machine decides how long each phase of the dialogue may
/// take ([`Machine::timeout`](mail_wire::machine::Machine::timeout), from the start of the
/// phase that [`Machine::timer_epoch`](mail_wire::machine::Machine::timer_epoch) marks, not
/// from the last octet); everything else that can wait is bounded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoConfig {
    /// How long establishing a TCP connection may take (clients): 30 seconds.
    pub connect_timeout: Duration,
    /// How long a TLS handshake may take, from its first octet to its last, implicit or after
    /// STARTTLS/STLS: 30 seconds.
    pub handshake_timeout: Duration,
    /// How long one write may wait for a peer that does not read: 2 minutes. A peer that
    /// stops reading cannot hold a session (or a POP3 maildrop lock) longer than this.
    pub write_timeout: Duration,
    /// Octets read at most in one read once data flows: 64 KiB. Idle connections hold no read
    /// buffer at all (plain TCP) or a small one while a read waits (other transports).
    pub read_buffer: usize,
    /// Transmissions are coalesced into one write until the machine has nothing more to say,
    /// or until this many octets wait: 64 KiB.
    pub write_buffer: usize,
    /// Octets read and not yet taken by a machine that applies back-pressure before the
    /// driver stops reading: 64 KiB.
    pub max_unread: usize,
    /// How long a whole session may last, from the connection to its close, however busy:
    /// then the machine is told its time is up ([`Machine::handle_session_timeout`]: a server
    /// says 421 or `-ERR` and closes, a client fails with a timeout). `None` (the default for
    /// connections made by hand and for clients): no limit. The servers' default
    /// ([`ServeOptions`](crate::ServeOptions)) is 1 hour.
    ///
    /// [`Machine::handle_session_timeout`]: mail_wire::machine::Machine::handle_session_timeout
    pub session_timeout: Option<Duration>,
}

impl Default for IoConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(120),
            read_buffer: 64 * 1024,
            write_buffer: 64 * 1024,
            max_unread: 64 * 1024,
            session_timeout: None,
        }
    }
}

impl IoConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub fn handshake_timeout(mut self, limit: Duration) -> Self {
        self.handshake_timeout = limit;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    pub fn write_timeout(mut self, limit: Duration) -> Self {
        self.write_timeout = limit;
        self
    }

    /// Sets [`read_buffer`](Self::read_buffer) (at least 1 octet).
    pub fn read_buffer(mut self, octets: usize) -> Self {
        self.read_buffer = octets.max(1);
        self
    }

    /// Sets [`write_buffer`](Self::write_buffer).
    pub fn write_buffer(mut self, octets: usize) -> Self {
        self.write_buffer = octets.max(1);
        self
    }

    /// Sets [`session_timeout`](Self::session_timeout).
    pub fn session_timeout(mut self, limit: Option<Duration>) -> Self {
        self.session_timeout = limit;
        self
    }

    /// Sets [`max_unread`](Self::max_unread).
    pub fn max_unread(mut self, octets: usize) -> Self {
        self.max_unread = octets.max(1);
        self
    }
}
