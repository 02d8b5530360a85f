//! MLLP, the framing HL7 v2 travels in over TCP: each message is `0x0B` + message + `0x1C
//! 0x0D`, and each is answered with its ACK in the same framing, in order, on the same
//! connection (many messages per connection). Owned here because it is small: a reader that
//! finds frames in a byte stream, and the listener.
//!
//! Limits, so a slow or broken peer costs little: a frame may be at most
//! [`MAX_FRAME_BYTES`] (a larger one closes the connection); once a frame has started it must
//! end within [`FRAME_TIMEOUT`]; a connection idle for [`IDLE_TIMEOUT`] is closed; at most
//! [`MAX_CONNECTIONS`] are served at once (more are closed at once); an ACK must be taken by
//! the peer within [`FRAME_TIMEOUT`]. Bytes between frames (a sender's stray newlines) are
//! skipped.

use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const START: u8 = 0x0B;
pub const END: [u8; 2] = [0x1C, 0x0D];
pub const MAX_FRAME_BYTES: usize = super::message::MAX_MESSAGE_BYTES;
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
pub const MAX_CONNECTIONS: usize = 64;

/// Wraps a message in a frame.
pub fn frame(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message.as_bytes());
    out.extend_from_slice(&END);
    out
}

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A whole frame's content.
    Frame(Vec<u8>),
    /// A frame grew past the limit: the stream cannot be trusted any more.
    TooLarge,
}

/// Finds frames in a byte stream, fed in whatever pieces the network delivers.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
    /// Inside a frame (its start byte seen).
    open: bool,
    /// After a frame over the limit: go on to the next frame (a file) rather than stop (a
    /// connection, which is closed).
    keep_going: bool,
    /// Passing over the rest of a frame over the limit, to its end.
    skipping: bool,
    /// The byte before, while skipping.
    prev: u8,
    /// Frames lost because another began before they ended.
    pub restarted: usize,
    /// Bytes other than white space outside any frame (passed over).
    pub outside: usize,
}

impl Deframer {
    /// A deframer for a file of frames: a frame over the limit is passed over and reading
    /// goes on with the next.
    pub fn for_a_file() -> Self {
        Deframer {
            keep_going: true,
            ..Deframer::default()
        }
    }

    /// Adds bytes; returns the frames they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Found> {
        let mut found = vec![];
        for &b in bytes {
            if self.skipping {
                if b == END[1] && self.prev == END[0] {
                    self.skipping = false;
                }
                self.prev = b;
                continue;
            }
            if !self.open {
                if b == START {
                    self.open = true;
                    self.buf.clear();
                } else if !b.is_ascii_whitespace() {
                    self.outside += 1;
                }
                continue;
            }
            if b == END[1] && self.buf.last() == Some(&END[0]) {
                self.buf.pop();
                found.push(Found::Frame(std::mem::take(&mut self.buf)));
                self.open = false;
                continue;
            }
            if b == START {
                // a new frame before the old one ended: the old one is lost, as senders
                // that restart a frame expect
                if !self.buf.is_empty() {
                    self.restarted += 1;
                }
                self.buf.clear();
                continue;
            }
            self.buf.push(b);
            if self.buf.len() > MAX_FRAME_BYTES + 1 {
                self.buf = vec![];
                self.open = false;
                found.push(Found::TooLarge);
                if !self.keep_going {
                    return found;
                }
                self.skipping = true;
                self.prev = 0;
            }
        }
        found
    }

    /// A frame has started and not ended.
    pub fn in_frame(&self) -> bool {
        self.open
    }
}

/// Text from a frame: UTF-8, or else ISO 8859-1 (HL7 v2's usual 8-bit character set).
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// How long a peer may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A started frame must end within this; an ACK must be taken within it too.
    pub frame_timeout: Duration,
    /// A connection with no frame started is closed after this.
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            frame_timeout: FRAME_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Accepts connections until the process ends, each served in its own task.
pub async fn serve(listener: TcpListener, state: AppState) {
    serve_with(listener, state, Limits::default()).await
}

/// [`serve`] with other limits (tests use short ones).
pub async fn serve_with(listener: TcpListener, state: AppState, limits: Limits) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "hospital feed: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "hospital feed: too many connections, closing one");
            drop(stream);
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            if let Err(e) = connection(stream, &state, limits).await {
                tracing::debug!(%peer, error = %e, "hospital feed: connection ended");
            }
            drop(slot);
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    state: &AppState,
    limits: Limits,
) -> std::io::Result<()> {
    let mut deframer = Deframer::default();
    let mut buf = vec![0u8; 64 * 1024];
    // when the frame being read started: the whole frame must arrive within the frame
    // timeout, however the peer spaces its bytes (a byte every few seconds must not hold a
    // connection slot for ever)
    let mut frame_started: Option<tokio::time::Instant> = None;
    loop {
        let wait = match frame_started {
            Some(started) => limits.frame_timeout.saturating_sub(started.elapsed()),
            None => limits.idle_timeout,
        };
        if wait.is_zero() {
            tracing::info!(
                "hospital feed: a frame took too long to arrive, closing the connection"
            );
            return Ok(());
        }
        let n = match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                tracing::info!("hospital feed: a connection was idle or too slow, closing it");
                return Ok(());
            }
        };
        let was_in_frame = deframer.in_frame();
        let founds = deframer.push(&buf[..n]);
        frame_started = match (deframer.in_frame(), was_in_frame && founds.is_empty()) {
            (false, _) => None,
            // still the frame that was being read
            (true, true) => frame_started.or_else(|| Some(tokio::time::Instant::now())),
            // a new frame began in these bytes
            (true, false) => Some(tokio::time::Instant::now()),
        };
        for found in founds {
            match found {
                Found::Frame(bytes) => {
                    let text = decode(&bytes);
                    // the message is handled in a task of its own, so a peer that hangs up
                    // can never cut a transaction off halfway
                    let st = state.clone();
                    let handled =
                        tokio::spawn(async move { super::feed::receive(&st, &text).await }).await;
                    let answer = match handled {
                        Ok(h) => h.ack,
                        Err(_) => {
                            tracing::error!("hospital feed: handling a message failed");
                            return Ok(());
                        }
                    };
                    let framed = frame(&answer);
                    match tokio::time::timeout(limits.frame_timeout, stream.write_all(&framed))
                        .await
                    {
                        Ok(r) => r?,
                        Err(_) => return Ok(()),
                    }
                }
                Found::TooLarge => {
                    tracing::warn!(
                        limit = MAX_FRAME_BYTES,
                        "hospital feed: a message over the size limit, closing the connection"
                    );
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_however_the_bytes_arrive() {
        let mut d = Deframer::default();
        let mut stream = b"\r\n".to_vec();
        stream.extend(frame("MSH|one"));
        stream.extend(frame("MSH|two"));
        let mut got = vec![];
        for chunk in stream.chunks(3) {
            got.extend(d.push(chunk));
        }
        assert_eq!(
            got,
            vec![
                Found::Frame(b"MSH|one".to_vec()),
                Found::Frame(b"MSH|two".to_vec())
            ]
        );
        assert!(!d.in_frame());
    }

    #[test]
    fn a_frame_past_the_limit_is_refused() {
        let mut d = Deframer::default();
        assert!(d.push(&[START]).is_empty());
        let big = vec![b'x'; MAX_FRAME_BYTES + 10];
        assert_eq!(d.push(&big), vec![Found::TooLarge]);
    }

    #[test]
    fn a_lone_end_byte_inside_a_message_is_content() {
        let mut d = Deframer::default();
        let got = d.push(&[START, b'a', 0x1C, b'b', 0x1C, 0x0D]);
        assert_eq!(got, vec![Found::Frame(vec![b'a', 0x1C, b'b'])]);
    }

    #[test]
    fn latin_one_is_read_when_not_utf8() {
        assert_eq!(decode(&[b'O', 0xE9]), "Oé");
        assert_eq!(decode("Zoë".as_bytes()), "Zoë");
    }
}
