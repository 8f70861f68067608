//! Who is who: one tracker per stream gives each person a track ID that stays with them
//! from frame to frame, across gaps (frames dropped by drop-oldest, paused streams,
//! frames where the person scores low) as long as `timeout` of stream time.
//!
//! ByteTrack's association, greedy: first the confident people (score at least
//! `high_score`) against every live track, by keypoint similarity (OKS) where both have
//! enough confident keypoints or by box overlap, whichever is higher, each track's box moved
//! to where its motion puts it now; then the remaining low-score people against the tracks
//! still unmatched, by box overlap alone. Both cues are gated by the time since the track
//! was last seen: the longer the gap (frames dropped, a fast mover between batches), the
//! less sure the motion, so the keypoint tolerance grows and the boxes are compared with a
//! buffer around them (C-BIoU's buffered IoU), up to half a box on each side. A confident person left unmatched starts a new
//! track; a low-score one gets no ID (0). IDs start at 1, are unique within the stream and
//! never reused, even after `reset`.
//!
//! Pure: people, times in ns and IDs; no GStreamer.

mod motion;

use crate::geometry::{iou, oks};
use crate::meta::Person;
use motion::BoxMotion;

/// Time over which a track's keypoint tolerance (the area OKS scales by) grows by its own
/// size, ns: motion between frames is less sure the longer the gap.
const UNCERTAINTY_GROWTH: u64 = 50_000_000;

/// The buffer added on each side of both boxes before their overlap is measured, as a
/// fraction of each box's size per second since the track was last seen (0.1 after a
/// 100 ms gap, one frame in three at 30 fps), and at most.
const BUFFER_PER_SECOND: f32 = 1.0;
const MAX_BUFFER: f32 = 0.5;

/// `b` grown by `buffer` times its width and height on each side.
fn buffered(b: &[f32; 4], buffer: f32) -> [f32; 4] {
    let (dx, dy) = ((b[2] - b[0]) * buffer, (b[3] - b[1]) * buffer);
    [b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy]
}

/// Default of the element's `track-timeout`: how long a lost track is kept.
pub const DEFAULT_TRACK_TIMEOUT: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerConfig {
    /// A track not seen for longer than this (stream time, ns) is forgotten.
    pub timeout: u64,
    /// People scoring at least this are matched first and may start tracks.
    pub high_score: f32,
    /// Least similarity (OKS or IoU) for a confident person to continue a track.
    pub min_similarity: f32,
    /// Least box overlap for a low-score person to continue a track.
    pub min_low_score_iou: f32,
    /// Keypoints count for OKS from this confidence, and OKS needs this many in common.
    pub keypoint_confidence: f32,
    pub min_shared_keypoints: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            timeout: DEFAULT_TRACK_TIMEOUT,
            high_score: 0.5,
            min_similarity: 0.3,
            min_low_score_iou: 0.5,
            keypoint_confidence: 0.5,
            min_shared_keypoints: 4,
        }
    }
}

struct Track {
    id: u64,
    motion: BoxMotion,
    /// The keypoints last seen, and the box centre they were seen around.
    keypoints: Vec<[f32; 3]>,
    last_seen: u64,
}

impl Track {
    /// How much `person` at `time` looks like this track: the higher of OKS against the
    /// track's keypoints moved with its motion (when both have enough confident keypoints)
    /// and the buffered overlap of their boxes. OKS measures keypoint distances against the
    /// person's size; the longer the track has gone unseen, the less sure its motion, so the
    /// size it is measured against grows with the gap (by its own size every 50 ms). Limbs
    /// of a fast mover can land far from where they were while the body stays in its box:
    /// then the boxes still say who it is.
    fn similarity(&self, person: &Person, time: u64, config: &TrackerConfig) -> f32 {
        let predicted = self.motion.predict(time);
        let [dx, dy] = self.motion.shift(time);
        let moved: Vec<[f32; 3]> = self.keypoints.iter().map(|k| [k[0] + dx, k[1] + dy, k[2]]).collect();
        let unseen = time.saturating_sub(self.last_seen) as f32 / UNCERTAINTY_GROWTH as f32;
        let area = (predicted[2] - predicted[0]) * (predicted[3] - predicted[1]) * (1.0 + unseen);
        let keypoints = oks(&moved, &person.keypoints, area, config.keypoint_confidence, config.min_shared_keypoints);
        keypoints.unwrap_or(0.0).max(self.overlap(person, time))
    }

    /// Overlap of `person`'s box with the box where the motion puts the track at `time`,
    /// both grown by a buffer that widens with the time since the track was last seen.
    fn overlap(&self, person: &Person, time: u64) -> f32 {
        let unseen = time.saturating_sub(self.last_seen) as f32 / 1e9;
        let buffer = (unseen * BUFFER_PER_SECOND).min(MAX_BUFFER);
        iou(&buffered(&self.motion.predict(time), buffer), &buffered(&person.bbox, buffer))
    }

    fn see(&mut self, person: &Person, time: u64) {
        self.motion.update(&person.bbox, time);
        self.keypoints.clone_from(&person.keypoints);
        self.last_seen = time;
    }
}

/// The tracks of one stream.
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    /// The time of the last frame, to notice time going back (a seek, a new segment).
    last_time: Option<u64>,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker { config, tracks: Vec::new(), next_id: 1, last_time: None }
    }

    pub fn set_config(&mut self, config: TrackerConfig) {
        self.config = config;
    }

    /// Forgets every track (a flush, a new stream); IDs given so far are not given again.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.last_time = None;
    }

    /// The people of the frame at `time` (ns, stream time): sets each one's `track_id`.
    pub fn update(&mut self, time: u64, people: &mut [Person]) {
        if self.last_time.is_some_and(|last| time < last) {
            self.reset(); // time went back: what came before says nothing about now
        }
        self.last_time = Some(time);
        let timeout = self.config.timeout;
        self.tracks.retain(|t| time.saturating_sub(t.last_seen) <= timeout);
        for person in people.iter_mut() {
            person.track_id = 0;
        }

        let config = self.config;
        let (high, low): (Vec<usize>, Vec<usize>) = (0..people.len()).partition(|&i| people[i].score >= config.high_score);
        let mut track_taken = vec![false; self.tracks.len()];
        // 1. Confident people against every track, by OKS or IoU.
        self.assign(people, &high, &mut track_taken, time, |track, person| track.similarity(person, time, &config), config.min_similarity);
        // 2. Low-score people against the tracks left, by box overlap alone.
        self.assign(people, &low, &mut track_taken, time, |track, person| track.overlap(person, time), config.min_low_score_iou);
        // 3. Confident people still without a track start one.
        for &i in &high {
            if people[i].track_id == 0 {
                let id = self.next_id;
                self.next_id += 1;
                people[i].track_id = id;
                self.tracks.push(Track {
                    id,
                    motion: BoxMotion::new(&people[i].bbox, time),
                    keypoints: people[i].keypoints.clone(),
                    last_seen: time,
                });
            }
        }
    }

    /// Greedy assignment of `candidates` to free tracks, best similarity first, above `min`.
    fn assign(
        &mut self,
        people: &mut [Person],
        candidates: &[usize],
        track_taken: &mut [bool],
        time: u64,
        similarity: impl Fn(&Track, &Person) -> f32,
        min: f32,
    ) {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for &p in candidates {
            for (t, track) in self.tracks.iter().enumerate() {
                if track_taken.get(t).copied().unwrap_or(true) {
                    continue;
                }
                let s = similarity(track, &people[p]);
                if s >= min {
                    pairs.push((s, t, p));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, t, p) in pairs {
            if track_taken[t] || people[p].track_id != 0 {
                continue;
            }
            track_taken[t] = true;
            people[p].track_id = self.tracks[t].id;
            self.tracks[t].see(&people[p], time);
        }
    }
}

#[cfg(test)]
mod tests;
