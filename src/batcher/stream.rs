//! One stream's queues: frames waiting for inference, pass-through frames and events in
//! arrival order (`queue`), and what is ready to go downstream (`outbox`); with its state
//! (paused, at EOS, flushing), priority and counters. The batcher decides; this keeps order.

use std::collections::VecDeque;

use super::{Counters, LateFrame, Nanos, Output, Overflow, PauseReason};

/// An entry of a stream's queue.
pub(super) enum Item<F, E> {
    Frame { frame: F, arrived: Nanos, deadline: Option<Nanos> },
    Pass(F),
    Event(E),
}

/// What is ready to go out, and for a frame that went through inference, its deadline.
pub(super) struct Outgoing<F, E> {
    pub(super) output: Output<F, E>,
    pub(super) deadline: Option<Nanos>,
}

impl<F, E> Outgoing<F, E> {
    pub(super) fn new(output: Output<F, E>) -> Self {
        Outgoing { output, deadline: None }
    }
}

/// One stream's queues and state.
pub(super) struct Stream<F, E> {
    pub(super) queue: VecDeque<Item<F, E>>,
    /// Frames in `queue` waiting for inference.
    pub(super) waiting: usize,
    /// Frames taken into a batch and not completed yet.
    pub(super) inferring: usize,
    /// Of those, how many a flush has made stale: they are dropped on completion.
    pub(super) stale: usize,
    /// The deadlines of the frames in inference, in the order they complete.
    pub(super) inferring_deadlines: VecDeque<Option<Nanos>>,
    pub(super) outbox: VecDeque<Outgoing<F, E>>,
    pub(super) overflow: Overflow,
    pub(super) priority: i32,
    /// Batches in a row formed while this stream had a frame waiting and got no place.
    pub(super) skipped: u32,
    pub(super) eos: bool,
    pub(super) paused: Option<PauseReason>,
    pub(super) flushing: bool,
    pub(super) counters: Counters,
    /// Told apart from earlier streams with the same index (see `BatchFrame::generation`).
    pub(super) generation: u64,
}

impl<F, E> Stream<F, E> {
    pub(super) fn new(overflow: Overflow, priority: i32, generation: u64) -> Self {
        Stream {
            queue: VecDeque::new(),
            waiting: 0,
            inferring: 0,
            stale: 0,
            inferring_deadlines: VecDeque::new(),
            outbox: VecDeque::new(),
            overflow,
            priority,
            skipped: 0,
            eos: false,
            paused: None,
            flushing: false,
            counters: Counters::default(),
            generation,
        }
    }

    /// A stream the batch waits for: it is expected to deliver more frames soon.
    pub(super) fn is_active(&self) -> bool {
        !self.eos && self.paused.is_none() && !self.flushing
    }

    /// Frames at the head of the queue, before any event or pass-through frame.
    pub(super) fn takeable(&self) -> usize {
        self.queue
            .iter()
            .take_while(|item| matches!(item, Item::Frame { .. }))
            .count()
    }

    pub(super) fn head_arrival(&self) -> Option<Nanos> {
        match self.queue.front() {
            Some(Item::Frame { arrived, .. }) => Some(*arrived),
            _ => None,
        }
    }

    pub(super) fn head_deadline(&self) -> Option<Nanos> {
        match self.queue.front() {
            Some(Item::Frame { deadline, .. }) => *deadline,
            _ => None,
        }
    }

    /// The earliest deadline among the takeable frames.
    pub(super) fn earliest_takeable_deadline(&self) -> Option<Nanos> {
        self.queue
            .iter()
            .map_while(|item| match item {
                Item::Frame { deadline, .. } => Some(*deadline),
                _ => None,
            })
            .flatten()
            .min()
    }

    pub(super) fn oldest_waiting_position(&self) -> Option<usize> {
        self.queue
            .iter()
            .position(|item| matches!(item, Item::Frame { .. }))
    }

    /// With no frame of this stream in inference, the events and pass-through frames at
    /// the head of the queue are ready to go out: move them to the outbox.
    pub(super) fn release_head(&mut self) {
        if self.inferring > 0 {
            return;
        }
        while matches!(self.queue.front(), Some(Item::Pass(_) | Item::Event(_))) {
            match self.queue.pop_front() {
                Some(Item::Pass(frame)) => self.outbox.push_back(Outgoing::new(Output::Pass(frame))),
                Some(Item::Event(event)) => self.outbox.push_back(Outgoing::new(Output::Event(event))),
                _ => unreachable!("front was checked"),
            }
        }
    }

    /// Removes every frame waiting in the queue or the outbox and counts it dropped;
    /// keeps events. Returns the frames so the caller can release them.
    pub(super) fn drop_frames(&mut self) -> Vec<F> {
        let mut dropped = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for item in self.queue.drain(..) {
            match item {
                Item::Frame { frame, .. } | Item::Pass(frame) => dropped.push(frame),
                Item::Event(event) => kept.push_back(Item::Event(event)),
            }
        }
        self.queue = kept;
        let mut kept_out = VecDeque::with_capacity(self.outbox.len());
        for out in self.outbox.drain(..) {
            match out.output {
                Output::Frame(frame) | Output::Pass(frame) => dropped.push(frame),
                Output::Event(event) => kept_out.push_back(Outgoing::new(Output::Event(event))),
            }
        }
        self.outbox = kept_out;
        self.waiting = 0;
        self.counters.dropped += dropped.len() as u64;
        dropped
    }

    /// The waiting frames that cannot leave by their deadline even if a batch of one started
    /// `now` and took `alone` ns, all but the newest waiting frame: dropped under
    /// drop-oldest (counted `late`, returned in `late`), pushed on without inference under
    /// pass-oldest (nothing is lost there), kept under block (nothing is lost either).
    pub(super) fn drop_late(&mut self, stream: u32, now: Nanos, alone: Nanos, late: &mut Vec<LateFrame<F>>) {
        if self.overflow == Overflow::Block {
            return;
        }
        let Some(newest) = self.queue.iter().rposition(|item| matches!(item, Item::Frame { .. })) else {
            return;
        };
        let finish = now.saturating_add(alone);
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for (i, item) in self.queue.drain(..).enumerate() {
            match item {
                Item::Frame { frame, deadline: Some(d), .. } if i != newest && finish > d => {
                    self.waiting -= 1;
                    if self.overflow == Overflow::PassOldest {
                        kept.push_back(Item::Pass(frame));
                    } else {
                        late.push(LateFrame { stream, frame, lateness: finish - d });
                        self.counters.late += 1;
                    }
                }
                item => kept.push_back(item),
            }
        }
        self.queue = kept;
        self.release_head();
    }
}
