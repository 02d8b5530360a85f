//! The HTTP server: accepts TCP connections and serves the application on each with HTTP/1.1
//! (hyper), with the limits a public service needs that `axum::serve` does not offer.
//!
//! - **Header-read timeout**: a connection must deliver a complete request head within
//!   `header_timeout` of opening, and within `header_timeout` of its first byte when it is
//!   kept alive between requests. A client that sends half a request is cut off.
//! - **Idle timeout**: a kept-alive connection that sends nothing for `idle_timeout` after its
//!   last answer is closed; so is one on which no byte moves in either direction for that long
//!   while an answer is being sent (a client that stops reading). While the application is
//!   still working on a request nothing is timed here: the request timeout
//!   ([`crate::web::guard`]) governs that.
//! - **Connection cap**: beyond `max_connections` open connections a new one gets an
//!   immediate `503` with `Retry-After` and is closed, so a flood cannot exhaust the
//!   process's open files (`accept: too many open files`) and lock out everyone else.
//! - **Graceful shutdown**: when `shutdown` resolves the listener closes, connections between
//!   requests close at once, requests being served finish (their connections close after the
//!   answer), then `drain` (the application's own in-flight work) is awaited, all within
//!   `shutdown_grace`; after that the server returns whatever is still open.
//!
//! It must never read or decide anything about a request itself: that is the application's.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection limits and the shutdown grace period (README, "Configure it").
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1000,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open when the grace period ended (0 when everything finished).
    pub connections_left: usize,
    /// Whether the application's in-flight work finished within the grace period.
    pub drained: bool,
}

/// Raises this process's soft limit on open files to its hard limit (as Go and nginx do) and
/// returns the soft limit now in force. Each connection is an open file; the default soft
/// limit of 1,024 is what let 1,100 half-open connections lock everyone out.
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        // rlim_t is u64 on Linux, other widths elsewhere
        #[allow(clippy::unnecessary_cast)]
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// The connection cap when none is configured: most of the open-files limit, leaving room
/// for database connections, static files and logs.
pub fn default_max_connections(open_files: Option<u64>) -> usize {
    match open_files {
        Some(n) => (n.saturating_sub(256) as usize).clamp(64, 10_000),
        None => 1000,
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully (see the
/// module comment); `drain` resolves when the application has no request in flight.
pub async fn run(
    listener: TcpListener,
    app: Router,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
    drain: impl Future<Output = ()>,
) -> Stopped {
    let options = Arc::new(options);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    // every connection task holds a sender: when all are gone, recv() gives None
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_accept_warning: Option<Instant> = None;
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // out of open files or memory: wait for connections to end rather than
                    // spin; a connection the client reset before we took it is no concern
                    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
                        let now = Instant::now();
                        if last_accept_warning.is_none_or(|t| now - t > Duration::from_secs(5)) {
                            tracing::warn!(error = %e, "cannot accept connections");
                            last_accept_warning = Some(now);
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let connection = Connection {
                    app: app.clone(),
                    options: options.clone(),
                    remote,
                };
                let stop = stop_rx.clone();
                let open = open_tx.clone();
                tokio::spawn(async move {
                    connection.serve(stream, stop).await;
                    drop(slot);
                    drop(open);
                });
            }
            Err(_) => {
                tokio::spawn(refuse(stream));
            }
        }
    }
    drop(listener);
    let open_now = options.max_connections - slots.available_permits();
    tracing::info!(
        connections = open_now,
        grace_seconds = options.shutdown_grace.as_secs_f64(),
        "shutting down: no new connections; finishing requests in flight"
    );
    let _ = stop_tx.send(true);
    drop(open_tx);
    let deadline = Instant::now() + options.shutdown_grace;
    let connections_done =
        tokio::time::timeout_at(deadline, async { while open_rx.recv().await.is_some() {} })
            .await
            .is_ok();
    let drained = connections_done && tokio::time::timeout_at(deadline, drain).await.is_ok();
    let connections_left = options.max_connections - slots.available_permits();
    if !drained {
        tracing::warn!(
            connections = connections_left,
            "the shutdown grace period ended with work in flight: stopping anyway"
        );
    }
    Stopped {
        connections_left,
        drained,
    }
}

/// Over the connection cap: a short 503 and close, without reading the request.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"overloaded","message":"The service is busy. Try again in a moment."}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// One accepted connection.
struct Connection {
    app: Router,
    options: Arc<ServerOptions>,
    remote: SocketAddr,
}

impl Connection {
    async fn serve(self, stream: TcpStream, mut stop: watch::Receiver<bool>) {
        let activity = Arc::new(Activity::new());
        let io = hyper_util::rt::TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = Tracked {
            app: self.app,
            activity: activity.clone(),
            remote: self.remote,
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(io, service);
        let mut conn = std::pin::pin!(conn);
        let mut stopping = false;
        loop {
            let now = Instant::now();
            let wake = activity
                .deadline(&self.options)
                .unwrap_or(now + self.options.idle_timeout);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.wait_for(|stop| *stop), if !stopping => {
                    stopping = true;
                    if activity.between_requests() {
                        return;
                    }
                    // finish the request in hand, then close
                    conn.as_mut().graceful_shutdown();
                }
                // a deadline that moved earlier (a new phase, a head begun) wakes us too
                _ = activity.changed.notified() => {}
                _ = tokio::time::sleep_until(wake) => {
                    if activity.deadline(&self.options).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(phase = activity.phase_name(), "closing a connection that timed out");
                        return;
                    }
                }
            }
        }
    }
}

const WAITING_FIRST: u8 = 0;
const IDLE: u8 = 1;
const HANDLING: u8 = 2;
const SENDING: u8 = 3;
const NONE: u64 = u64::MAX;

/// What a connection is doing and when it last moved a byte, shared by its I/O, its service
/// and its watchdog. Times are milliseconds since the connection was accepted.
struct Activity {
    accepted: Instant,
    phase: AtomicU8,
    /// When the connection last became idle (its last answer was sent).
    idle_since: AtomicU64,
    /// The first byte read while idle: a new request head has begun.
    head_since: AtomicU64,
    /// The last byte read or written.
    last_io: AtomicU64,
    /// While an answer is sent: the application has yet to produce its next part (an event
    /// stream waiting for an event), so the client is not the one holding things up.
    producing: AtomicBool,
    /// Told when the deadline may have moved earlier (I/O only ever moves it later).
    changed: tokio::sync::Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            accepted: Instant::now(),
            phase: AtomicU8::new(WAITING_FIRST),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            last_io: AtomicU64::new(0),
            producing: AtomicBool::new(false),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.accepted + Duration::from_millis(ms)
    }

    fn read(&self) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if self.phase.load(Ordering::Acquire) == IDLE
            && self
                .head_since
                .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    fn handling(&self) {
        self.phase.store(HANDLING, Ordering::Release);
        self.changed.notify_one();
    }

    fn sending(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
        self.producing.store(false, Ordering::Relaxed);
        self.phase.store(SENDING, Ordering::Release);
        self.changed.notify_one();
    }

    /// Whether the application is producing the answer's next part (then the client is not
    /// timed).
    fn set_producing(&self, producing: bool) {
        let was = self.producing.swap(producing, Ordering::Relaxed);
        if was && !producing {
            self.changed.notify_one();
        }
    }

    fn answered(&self) {
        self.idle_since.store(self.now_ms(), Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
        self.phase.store(IDLE, Ordering::Release);
        self.changed.notify_one();
    }

    fn between_requests(&self) -> bool {
        matches!(self.phase.load(Ordering::Acquire), WAITING_FIRST | IDLE)
    }

    fn phase_name(&self) -> &'static str {
        match self.phase.load(Ordering::Acquire) {
            WAITING_FIRST => "waiting for the first request",
            IDLE => "idle between requests",
            HANDLING => "handling",
            _ => "sending an answer",
        }
    }

    /// When this connection times out if nothing changes; `None` while the application is
    /// working on a request.
    fn deadline(&self, options: &ServerOptions) -> Option<Instant> {
        match self.phase.load(Ordering::Acquire) {
            WAITING_FIRST => Some(self.accepted + options.header_timeout),
            IDLE => {
                let idle = self.at(self.idle_since.load(Ordering::Relaxed)) + options.idle_timeout;
                match self.head_since.load(Ordering::Relaxed) {
                    NONE => Some(idle),
                    head => Some((self.at(head) + options.header_timeout).min(idle)),
                }
            }
            HANDLING => None,
            _ if self.producing.load(Ordering::Relaxed) => None,
            _ => Some(self.at(self.last_io.load(Ordering::Relaxed)) + options.idle_timeout),
        }
    }
}

/// The socket, noting every byte that moves.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The application as hyper calls it: marks the connection busy while a request is handled
/// and its answer sent, and gives handlers the client's address (`ConnectInfo`).
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
    remote: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        self.activity.handling();
        req.extensions_mut().insert(ConnectInfo(self.remote));
        let app = self.app.clone();
        let activity = self.activity.clone();
        Box::pin(async move {
            let res = match app.oneshot(req.map(Body::new)).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            activity.sending();
            Ok(res.map(|inner| TrackedBody {
                inner,
                answered: Some(Answered(activity)),
            }))
        })
    }
}

/// Marks the connection idle when the answer has been sent (or dropped).
struct Answered(Arc<Activity>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.answered();
    }
}

/// An answer's body that marks the connection idle when it ends.
struct TrackedBody {
    inner: Body,
    answered: Option<Answered>,
}

impl hyper::body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Some(Answered(activity)) = &self.answered {
            let producing = polled.is_pending();
            activity.set_producing(producing);
            if !producing {
                // the time the application took is not the client's: its clock starts now
                activity.wrote();
            }
        }
        if matches!(polled, Poll::Ready(None)) {
            self.answered = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ServerOptions {
        ServerOptions {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            ..Default::default()
        }
    }

    fn after(a: &Activity, d: Option<Instant>) -> Option<Duration> {
        d.map(|d| d - a.accepted)
    }

    #[test]
    fn each_phase_has_its_own_deadline() {
        let o = options();
        let a = Activity::new();
        // a new connection has the header timeout to send its first head
        assert_eq!(after(&a, a.deadline(&o)), Some(Duration::from_secs(10)));
        // while the application works, nothing is timed here
        a.handling();
        assert_eq!(a.deadline(&o), None);
        // sending: the client must keep reading, unless the application is the one waiting
        a.sending();
        assert!(a.deadline(&o).is_some());
        a.producing.store(true, Ordering::Relaxed);
        assert_eq!(a.deadline(&o), None);
        a.producing.store(false, Ordering::Relaxed);
        // answered: idle, with the idle timeout
        a.answered();
        let idle = after(&a, a.deadline(&o)).unwrap();
        assert!(
            idle >= Duration::from_secs(60) && idle < Duration::from_secs(61),
            "{idle:?}"
        );
        assert!(a.between_requests());
        // a byte of a new head: the header timeout from then
        a.read();
        let head = after(&a, a.deadline(&o)).unwrap();
        assert!(
            head >= Duration::from_secs(10) && head < Duration::from_secs(11),
            "{head:?}"
        );
    }

    #[tokio::test]
    async fn a_new_phase_wakes_the_watchdog() {
        let a = Activity::new();
        for change in [Activity::handling, Activity::sending, Activity::answered] {
            change(&a);
            tokio::time::timeout(Duration::from_millis(100), a.changed.notified())
                .await
                .expect("the watchdog is told");
        }
        // the first byte of a new head moves the deadline to the header timeout
        a.read();
        tokio::time::timeout(Duration::from_millis(100), a.changed.notified())
            .await
            .expect("the watchdog is told");
    }

    #[test]
    fn the_default_connection_cap_leaves_room_under_the_open_files_limit() {
        assert_eq!(default_max_connections(Some(1024)), 768);
        assert_eq!(default_max_connections(Some(1_048_576)), 10_000);
        assert_eq!(default_max_connections(Some(100)), 64);
        assert_eq!(default_max_connections(None), 1000);
    }
}
