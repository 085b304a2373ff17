//! What the blocking driver runs over: any `Read + Write` whose waits can be bounded, plain or
//! upgraded to TLS in place.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

/// A byte stream the blocking driver can run a machine over: TCP, a Unix socket, or your own
/// type.
///
/// The driver bounds every wait with the two timeouts, as `std::net::TcpStream` has them: a
/// read or write that cannot go on within the timeout fails with
/// [`io::ErrorKind::WouldBlock`] or [`io::ErrorKind::TimedOut`]. It sets them before each wait,
/// from deadlines, so that a peer sending or taking one octet at a time cannot stretch a wait
/// past its limit. A transport that cannot time out may ignore them: its waits are then bounded
/// only by the peer.
///
/// [`wait_readable`](Self::wait_readable) lets an idle connection wait without holding a read
/// buffer. The default says "cannot tell", which is always correct: the driver then waits in a
/// read with a small buffer instead.
pub trait Transport: Read + Write {
    /// Bounds the next reads (`None`: no bound), as [`TcpStream::set_read_timeout`].
    fn set_read_timeout(&self, limit: Option<Duration>) -> io::Result<()>;

    /// Bounds the next writes (`None`: no bound), as [`TcpStream::set_write_timeout`].
    fn set_write_timeout(&self, limit: Option<Duration>) -> io::Result<()>;

    /// Waits, within the read timeout, until a read would not block (or the stream has ended
    /// or failed), without taking anything: `Ok(true)`. `Ok(false)` when the transport cannot
    /// tell (the default).
    fn wait_readable(&self) -> io::Result<bool> {
        Ok(false)
    }

    /// Ends the sending side once the last words are out (TCP: FIN). The default does
    /// nothing: dropping the transport closes it.
    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, limit)
    }

    fn set_write_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, limit)
    }

    fn wait_readable(&self) -> io::Result<bool> {
        // A peek of one octet into the stack: the kernel keeps the data, we keep no buffer.
        self.peek(&mut [0; 1]).map(|_| true)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, limit)
    }

    fn set_write_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, limit)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(limit)
    }

    fn set_write_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(limit)
    }

    fn wait_readable(&self) -> io::Result<bool> {
        (**self).wait_readable()
    }

    fn shutdown_write(&self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

/// Whether an I/O error is a timeout of the transport (or a spurious wake-up to retry).
pub(crate) fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The deadline `limit` from now; `None` (no deadline) when it lies beyond what the clock can
/// tell (`Duration::MAX`, say): adding it would overflow.
pub(crate) fn deadline(limit: Duration) -> Option<Instant> {
    Instant::now().checked_add(limit)
}

/// The socket bound for a wait until `until` (`None`: unbounded); an error once it has passed.
fn bound(until: Option<Instant>) -> io::Result<Option<Duration>> {
    match until {
        Some(until) => remaining(until).map(Some).ok_or_else(deadline_passed),
        None => Ok(None),
    }
}

/// The error a wait past its deadline reports.
fn deadline_passed() -> io::Error {
    io::Error::from(io::ErrorKind::TimedOut)
}

/// The shortest timeout a socket accepts (zero means "none" to some and is refused by std).
const SHORTEST: Duration = Duration::from_millis(1);

/// What is left until `until`, at least [`SHORTEST`]; `None` once it has passed.
fn remaining(until: Instant) -> Option<Duration> {
    let left = until.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then(|| left.max(SHORTEST))
}

/// A transport with the timeouts it was last given, so that an unchanged bound costs no
/// system call.
pub(crate) struct Socket<S> {
    pub(crate) io: S,
    read_timeout: Option<Option<Duration>>,
    write_timeout: Option<Option<Duration>>,
}

/// How much longer than asked a bound may stay in place: a deadline computed afresh for each
/// wait is always a little shorter than the last, and a system call for each would buy nothing.
const SLACK: Duration = Duration::from_millis(10);

/// Whether a bound of `set` must be replaced to wait at most `wanted` (give or take
/// [`SLACK`]): never longer; and not much shorter either, which would only wake the driver
/// early.
fn stale(set: Option<Option<Duration>>, wanted: Option<Duration>) -> bool {
    match (set, wanted) {
        (None, _) => true,
        (Some(None), wanted) => wanted.is_some(),
        (Some(Some(_)), None) => true,
        (Some(Some(set)), Some(wanted)) => set > wanted.saturating_add(SLACK) || set < wanted / 2,
    }
}

#[cfg(test)]
pub(crate) fn stale_for_tests(set: Option<Option<Duration>>, wanted: Option<Duration>) -> bool {
    stale(set, wanted)
}

impl<S: Transport> Socket<S> {
    pub(crate) fn new(io: S) -> Self {
        Self {
            io,
            read_timeout: None,
            write_timeout: None,
        }
    }

    fn bound_reads(&mut self, limit: Option<Duration>) -> io::Result<()> {
        let limit = limit.map(|limit| limit.max(SHORTEST));
        if stale(self.read_timeout, limit) {
            self.read_timeout = None;
            self.io.set_read_timeout(limit)?;
            self.read_timeout = Some(limit);
        }
        Ok(())
    }

    fn bound_writes(&mut self, limit: Option<Duration>) -> io::Result<()> {
        let limit = limit.map(|limit| limit.max(SHORTEST));
        if stale(self.write_timeout, limit) {
            self.write_timeout = None;
            self.io.set_write_timeout(limit)?;
            self.write_timeout = Some(limit);
        }
        Ok(())
    }

    /// Reads once, waiting until `until` at most (`None`: as long as it takes).
    fn read_until(&mut self, buf: &mut [u8], until: Option<Instant>) -> io::Result<usize> {
        loop {
            self.bound_reads(bound(until)?)?;
            match self.io.read(buf) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // Woken early (a bound longer ago than now): go on while time is left.
                Err(error) if timed_out(&error) && until.is_some_and(|u| Instant::now() < u) => {}
                result => return result,
            }
        }
    }

    /// Writes once, waiting until `until` at most (`None`: as long as it takes).
    fn write_until(&mut self, buf: &[u8], until: Option<Instant>) -> io::Result<usize> {
        loop {
            self.bound_writes(bound(until)?)?;
            match self.io.write(buf) {
                Ok(0) if !buf.is_empty() => return Err(io::ErrorKind::WriteZero.into()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // Woken early (a bound longer ago than now): go on while time is left.
                Err(error) if timed_out(&error) && until.is_some_and(|u| Instant::now() < u) => {}
                result => return result,
            }
        }
    }

    fn flush_until(&mut self, until: Option<Instant>) -> io::Result<()> {
        self.bound_writes(bound(until)?)?;
        self.io.flush()
    }

    /// Writes all of `buf`, removing from it what went out as it goes (so that a write cut
    /// short by its deadline leaves exactly what was not sent), and flushes.
    fn write_all_until(&mut self, buf: &mut BytesMut, until: Option<Instant>) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write_until(buf, until)?;
            buf.advance(n.min(buf.len()));
        }
        self.flush_until(until)
    }

    fn wait_readable_until(&mut self, until: Option<Instant>) -> io::Result<bool> {
        self.bound_reads(bound(until)?)?;
        self.io.wait_readable()
    }
}

/// `&mut Socket` as a plain `Read + Write` for rustls, within a deadline (its `read_tls` and
/// `write_tls` take `dyn Read` / `dyn Write`).
#[cfg(feature = "rustls")]
struct Within<'a, S> {
    socket: &'a mut Socket<S>,
    until: Option<Instant>,
}

#[cfg(feature = "rustls")]
impl<S: Transport> Read for Within<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.read_until(buf, self.until)
    }
}

#[cfg(feature = "rustls")]
impl<S: Transport> Write for Within<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write_until(buf, self.until)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush_until(self.until)
    }
}

/// A TLS session over a transport (either side), driven by hand so that every socket wait has
/// its deadline.
#[cfg(feature = "rustls")]
pub(crate) struct Tls<S> {
    session: rustls::Connection,
    socket: Socket<S>,
}

#[cfg(feature = "rustls")]
impl<S: Transport> Tls<S> {
    /// Whether TLS 1.3 was negotiated.
    pub(crate) fn is_tls13(&self) -> bool {
        self.session.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
    }

    /// Keying material exported with `label` and no context (RFC 8446 7.5).
    pub(crate) fn export<T: AsMut<[u8]>>(
        &self,
        output: T,
        label: &[u8],
    ) -> Result<T, rustls::Error> {
        self.session.export_keying_material(output, label, None)
    }

    pub(crate) fn new(session: rustls::Connection, socket: Socket<S>) -> Self {
        Self { session, socket }
    }

    /// Runs the handshake on, every socket wait ending by `until` (`None`: no deadline). A
    /// handshake cut short by its deadline can be taken up again: rustls keeps what it read and
    /// what it has still to send.
    pub(crate) fn handshake(&mut self, until: Option<Instant>) -> io::Result<()> {
        loop {
            self.write_tls(until)?;
            if !self.session.is_handshaking() {
                return Ok(());
            }
            self.read_tls(until, until)?;
        }
    }

    /// Sends what rustls has to send.
    fn write_tls(&mut self, until: Option<Instant>) -> io::Result<()> {
        if !self.session.wants_write() {
            return Ok(());
        }
        let mut socket = Within {
            socket: &mut self.socket,
            until,
        };
        while self.session.wants_write() {
            self.session.write_tls(&mut socket)?;
        }
        socket.flush()
    }

    /// Reads one lot of records and processes them; the end of the stream is an error while
    /// the handshake runs. A TLS error is sent to the peer as an alert (within `alert_until`)
    /// and returned.
    fn read_tls(
        &mut self,
        until: Option<Instant>,
        alert_until: Option<Instant>,
    ) -> io::Result<usize> {
        let mut socket = Within {
            socket: &mut self.socket,
            until,
        };
        let n = self.session.read_tls(&mut socket)?;
        if n == 0 && self.session.is_handshaking() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Err(error) = self.session.process_new_packets() {
            // The alert rustls queued tells the peer why; it may not be listening.
            let _ = self.write_tls(alert_until);
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
        Ok(n)
    }

    /// Reads plaintext, waiting for the socket until `until` at most. `Ok(0)` at the end
    /// (`close_notify`, or the end of the stream, which the machine judges).
    fn read(
        &mut self,
        buf: &mut [u8],
        until: Option<Instant>,
        writes: Duration,
    ) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the TCP stream without `close_notify`: an end all the same.
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                result => return result,
            }
            let alerts = deadline(writes);
            self.read_tls(until, alerts)?;
            // Records read may ask for an answer (a key update): send it on.
            self.write_tls(alerts)?;
        }
    }

    /// Waits until plaintext (or the end) can be read, without a buffer of the driver's:
    /// records that carry none (session tickets, key updates) are taken into rustls's own
    /// buffer and processed on the way. `Ok(false)` when the transport cannot tell.
    fn wait_readable(&mut self, until: Option<Instant>, writes: Duration) -> io::Result<bool> {
        loop {
            // Plaintext held by rustls (read with the handshake's last records, say), or the
            // peer's `close_notify`: a read returns at once.
            if !self.session.wants_read() {
                return Ok(true);
            }
            if !self.socket.wait_readable_until(until)? {
                return Ok(false);
            }
            let alerts = deadline(writes);
            if self.read_tls(until, alerts)? == 0 {
                // The end of the stream: the read reports it.
                return Ok(true);
            }
            self.write_tls(alerts)?;
        }
    }

    /// Hands all of `buf` to rustls and sends the records, removing from `buf` what rustls
    /// took as it goes.
    fn write_all(&mut self, buf: &mut BytesMut, until: Option<Instant>) -> io::Result<()> {
        while !buf.is_empty() {
            // rustls takes what fits under its buffer limit and encrypts it; send that on.
            let n = self.session.writer().write(buf)?;
            if n == 0 && !self.session.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf.advance(n.min(buf.len()));
            self.write_tls(until)?;
        }
        self.write_tls(until)
    }

    fn close(&mut self, until: Option<Instant>) -> io::Result<()> {
        self.session.send_close_notify();
        self.write_tls(until)?;
        self.socket.io.shutdown_write()
    }
}

/// A transport in plaintext or after the TLS handshake (either side).
pub(crate) enum Stream<S> {
    Plain(Socket<S>),
    #[cfg(feature = "rustls")]
    Tls(Box<Tls<S>>),
    /// Only while the handshake runs, or after it failed.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    Broken,
}

impl<S: Transport> Stream<S> {
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_) | Self::Broken)
    }

    /// The peer's end-entity certificate, once TLS is up and if it sent one.
    #[cfg(feature = "rustls")]
    pub(crate) fn peer_certificate(&self) -> Option<&rustls::pki_types::CertificateDer<'static>> {
        match self {
            Self::Tls(tls) => tls.session.peer_certificates()?.first(),
            Self::Plain(_) | Self::Broken => None,
        }
    }

    /// The transport underneath.
    pub(crate) fn transport(&self) -> Option<&S> {
        match self {
            Self::Plain(socket) => Some(&socket.io),
            #[cfg(feature = "rustls")]
            Self::Tls(tls) => Some(&tls.socket.io),
            Self::Broken => None,
        }
    }

    /// Reads, waiting until `until` at most; `writes` bounds what TLS may have to send on the
    /// way (alerts, key updates).
    pub(crate) fn read(
        &mut self,
        buf: &mut [u8],
        until: Option<Instant>,
        writes: Duration,
    ) -> io::Result<usize> {
        match self {
            Self::Plain(socket) => socket.read_until(buf, until),
            #[cfg(feature = "rustls")]
            Self::Tls(tls) => tls.read(buf, until, writes),
            Self::Broken => {
                let _ = writes;
                Err(io::ErrorKind::NotConnected.into())
            }
        }
    }

    /// Waits until input is there, without a buffer; `Ok(false)` when the transport cannot
    /// tell. Under TLS, plaintext rustls holds already makes it ready at once; otherwise the
    /// socket's readiness, with records that carry no plaintext processed on the way.
    pub(crate) fn wait_readable(
        &mut self,
        until: Option<Instant>,
        writes: Duration,
    ) -> io::Result<bool> {
        match self {
            Self::Plain(socket) => socket.wait_readable_until(until),
            #[cfg(feature = "rustls")]
            Self::Tls(tls) => tls.wait_readable(until, writes),
            Self::Broken => {
                let _ = writes;
                Ok(true)
            }
        }
    }

    /// Writes all of `buf` and flushes (TLS records too), by `until`; what went out (or was
    /// taken by TLS) is removed from `buf` as it goes, so that nothing is ever sent twice.
    pub(crate) fn write_all(
        &mut self,
        buf: &mut BytesMut,
        until: Option<Instant>,
    ) -> io::Result<()> {
        match self {
            Self::Plain(socket) => socket.write_all_until(buf, until),
            #[cfg(feature = "rustls")]
            Self::Tls(tls) => tls.write_all(buf, until),
            Self::Broken => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Ends the sending side (`close_notify` first under TLS), by `until`.
    pub(crate) fn close(&mut self, until: Option<Instant>) -> io::Result<()> {
        match self {
            Self::Plain(socket) => socket.io.shutdown_write(),
            #[cfg(feature = "rustls")]
            Self::Tls(tls) => tls.close(until),
            Self::Broken => {
                let _ = until;
                Ok(())
            }
        }
    }
}
