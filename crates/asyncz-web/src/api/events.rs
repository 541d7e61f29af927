//! Scheduler events as Server-Sent Events: one `event: <name>` with the event as JSON data.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use asyncz_core::events::EVERY_EVENT;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;

use crate::auth::{Access, ReadRole};
use crate::AppState;

pub(crate) async fn stream(
    State(state): State<Arc<AppState>>,
    _: Access<ReadRole>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = state.scheduler.subscribe(EVERY_EVENT);
    let events = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = receiver.recv().await?;
        let data = serde_json::to_string(&event).unwrap_or_else(|_| "{}".to_owned());
        let sse = SseEvent::default().event(event.name()).data(data);
        Some((Ok(sse), receiver))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
