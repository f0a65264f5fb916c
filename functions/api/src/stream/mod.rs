//! Every server-sent-event stream of the gateway (`/v1/events/tasks/{task}`, streamed chat
//! completions) runs the same loop, written once here: take a place in the user's quota
//! of open streams ([`guard`]), poll the store, send what changed, keep a silent stream
//! alive, and stop when the source is done, the stream's time is up or its session ended.
//! A route says only what a poll finds and how an ended stream says goodbye: a
//! [`Source`].

pub mod guard;

use std::future::Future;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;

pub use guard::{StreamEnd, StreamGuard, KEEP_ALIVE};

/// What one poll found.
pub enum Polled {
    /// Frames to send; the stream goes on (polling again at once).
    Send(Vec<Bytes>),
    /// The last frames; the stream closes after them.
    Done(Vec<Bytes>),
    /// Nothing new: wait [`Source::wait`] and poll again.
    Nothing,
}

/// What a stream sends, poll by poll.
pub trait Source: Send + 'static {
    /// Looks once for something to send.
    fn poll(&mut self) -> impl Future<Output = Polled> + Send;
    /// How long to wait after a poll that found nothing.
    fn wait(&mut self) -> Duration;
    /// The frames that end a stream the guard stopped.
    fn ended(&mut self, end: StreamEnd) -> Vec<Bytes>;
}

struct Running<S> {
    source: S,
    /// A user's stream; a job's relayed answer has none (its claim bounds it).
    guard: Option<StreamGuard>,
    done: bool,
}

impl<S: Source> Running<S> {
    /// The next piece of the body.
    async fn next(&mut self) -> Vec<Bytes> {
        loop {
            if let Some(guard) = self.guard.as_mut() {
                if let Some(end) = guard.check().await {
                    self.done = true;
                    return self.source.ended(end);
                }
            }
            match self.source.poll().await {
                Polled::Send(frames) if !frames.is_empty() => {
                    if let Some(guard) = self.guard.as_mut() {
                        guard.sent();
                    }
                    return frames;
                }
                Polled::Done(frames) => {
                    self.done = true;
                    return frames;
                }
                Polled::Send(_) | Polled::Nothing => {}
            }
            if let Some(guard) = self.guard.as_mut().filter(|guard| guard.quiet_too_long()) {
                guard.sent();
                return vec![Bytes::from_static(KEEP_ALIVE.as_bytes())];
            }
            tokio::time::sleep(self.source.wait()).await;
        }
    }
}

/// A `text/event-stream` response fed by `source` until it is done or `guard` ends it.
pub fn respond<S: Source>(source: S, guard: StreamGuard) -> Response {
    respond_with(source, Some(guard))
}

/// A `text/event-stream` response fed by `source` until it is done, for a caller that
/// is not a user's session (a job relaying its model's answer): no quota place, no
/// session checks.
pub fn respond_unguarded<S: Source>(source: S) -> Response {
    respond_with(source, None)
}

fn respond_with<S: Source>(source: S, guard: Option<StreamGuard>) -> Response {
    let running = Running {
        source,
        guard,
        done: false,
    };
    let body = futures_util::stream::unfold(running, |mut running| async move {
        if running.done {
            return None;
        }
        let frames = running.next().await.concat();
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from(frames)),
            running,
        ))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
