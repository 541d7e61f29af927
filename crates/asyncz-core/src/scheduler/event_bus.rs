//! [`EventBus`]: the scheduler's listeners and their dispatch. Listeners are called with no
//! scheduler lock held (the list is copied out first), so a listener may call back into the
//! scheduler; one that panics is logged and skipped.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use crate::events::{self, Event, ListenerId};
use crate::executor::EventSink;

type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Listeners with their masks, and the union of the masks: events nobody wants are never built.
pub(crate) struct EventBus {
    listeners: RwLock<Vec<(ListenerId, u32, Listener)>>,
    mask: Arc<AtomicU32>,
    next_id: AtomicU64,
    /// The scheduler's `logger_name`, for the line logged when a listener panics.
    logger: Arc<RwLock<Arc<str>>>,
}

impl EventBus {
    pub(crate) fn new(logger: Arc<RwLock<Arc<str>>>) -> Self {
        EventBus {
            listeners: RwLock::new(Vec::new()),
            mask: Arc::new(AtomicU32::new(0)),
            next_id: AtomicU64::new(1),
            logger,
        }
    }

    /// Adds a listener for the event codes in `mask`.
    pub(crate) fn add(&self, mask: u32, callback: Listener) -> ListenerId {
        let id = ListenerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut listeners = super::write(&self.listeners);
        listeners.push((id, mask, callback));
        self.refresh_mask(&listeners);
        id
    }

    /// Removes a listener; false when it was not registered.
    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let mut listeners = super::write(&self.listeners);
        let before = listeners.len();
        listeners.retain(|(l, _, _)| *l != id);
        self.refresh_mask(&listeners);
        listeners.len() != before
    }

    fn refresh_mask(&self, listeners: &[(ListenerId, u32, Listener)]) {
        let mask = listeners.iter().fold(0, |acc, (_, m, _)| acc | m);
        self.mask.store(mask, Ordering::Relaxed);
    }

    /// Whether any listener wants events with `code`.
    pub(crate) fn wants(&self, code: u32) -> bool {
        self.mask.load(Ordering::Relaxed) & code != 0
    }

    /// Calls every listener whose mask has the event's code, outside the listener lock.
    pub(crate) fn dispatch(&self, event: &Event) {
        if !self.wants(event.code()) {
            return;
        }
        let listeners: Vec<Listener> = super::read(&self.listeners)
            .iter()
            .filter(|(_, mask, _)| event.code() & mask != 0)
            .map(|(_, _, l)| Arc::clone(l))
            .collect();
        for listener in listeners {
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| listener(event))) {
                let logger = Arc::clone(&super::read(&self.logger));
                tracing::error!(
                    target: super::LOG,
                    logger = %logger,
                    event = events::code_name(event.code()),
                    error = %crate::executor::panic_message(panic.as_ref()),
                    "error notifying listener"
                );
            }
        }
    }

    /// The sink executors report to. It holds the bus weakly: a job outliving its scheduler
    /// reports into nothing.
    pub(crate) fn sink(self: &Arc<Self>) -> EventSink {
        let weak: Weak<EventBus> = Arc::downgrade(self);
        EventSink::with_mask(
            move |event| {
                if let Some(bus) = weak.upgrade() {
                    bus.dispatch(&event);
                }
            },
            Arc::clone(&self.mask),
        )
    }

    /// A channel receiving every event in `mask`; the listener goes away once the receiver is
    /// dropped (at the next event it would get).
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        mask: u32,
    ) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let id: Arc<std::sync::OnceLock<ListenerId>> = Arc::new(std::sync::OnceLock::new());
        let own_id = Arc::clone(&id);
        let weak = Arc::downgrade(self);
        let listener = self.add(
            mask,
            Arc::new(move |event: &Event| {
                if tx.send(event.clone()).is_err() {
                    if let (Some(bus), Some(id)) = (weak.upgrade(), own_id.get()) {
                        bus.remove(*id);
                    }
                }
            }),
        );
        let _ = id.set(listener);
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{SCHEDULER_PAUSED, SCHEDULER_STARTED};
    use std::sync::atomic::AtomicUsize;

    fn bus() -> Arc<EventBus> {
        Arc::new(EventBus::new(Arc::new(RwLock::new(Arc::from("test")))))
    }

    #[test]
    fn only_listeners_whose_mask_matches_are_called() {
        let bus = bus();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = Arc::clone(&hits);
        bus.add(
            SCHEDULER_STARTED,
            Arc::new(move |_| {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        bus.dispatch(&Event::scheduler(SCHEDULER_PAUSED, None));
        assert_eq!(hits.load(Ordering::SeqCst), 0);
        bus.dispatch(&Event::scheduler(SCHEDULER_STARTED, None));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_listener_does_not_stop_the_others() {
        let bus = bus();
        let hits = Arc::new(AtomicUsize::new(0));
        bus.add(SCHEDULER_STARTED, Arc::new(|_| panic!("boom")));
        let h = Arc::clone(&hits);
        bus.add(
            SCHEDULER_STARTED,
            Arc::new(move |_| {
                h.fetch_add(1, Ordering::SeqCst);
            }),
        );
        bus.dispatch(&Event::scheduler(SCHEDULER_STARTED, None));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_listener_may_remove_itself_while_called() {
        let bus = bus();
        let own: Arc<std::sync::OnceLock<ListenerId>> = Arc::new(std::sync::OnceLock::new());
        let (b, o) = (Arc::clone(&bus), Arc::clone(&own));
        let id = bus.add(
            SCHEDULER_STARTED,
            Arc::new(move |_| {
                // Would deadlock if dispatch held the listener lock while calling.
                b.remove(*o.get().unwrap());
            }),
        );
        own.set(id).unwrap();
        bus.dispatch(&Event::scheduler(SCHEDULER_STARTED, None));
        assert!(!bus.wants(SCHEDULER_STARTED));
    }

    #[test]
    fn the_mask_is_the_union_of_the_listeners() {
        let bus = bus();
        let a = bus.add(SCHEDULER_STARTED, Arc::new(|_| {}));
        bus.add(SCHEDULER_PAUSED, Arc::new(|_| {}));
        assert!(bus.wants(SCHEDULER_STARTED) && bus.wants(SCHEDULER_PAUSED));
        assert!(bus.remove(a));
        assert!(!bus.remove(a));
        assert!(!bus.wants(SCHEDULER_STARTED) && bus.wants(SCHEDULER_PAUSED));
    }

    #[test]
    fn a_dropped_subscription_unsubscribes() {
        let bus = bus();
        let rx = bus.subscribe(SCHEDULER_STARTED);
        drop(rx);
        bus.dispatch(&Event::scheduler(SCHEDULER_STARTED, None));
        assert!(!bus.wants(SCHEDULER_STARTED));
    }
}
