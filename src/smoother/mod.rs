//! Steady keypoints: a One Euro filter per tracked person, keypoint and coordinate, and on
//! the box, for one stream. A single-frame model's keypoints shake from frame to frame even
//! when a person stands still; this holds them steady and lets them follow motion.
//!
//! - Each person is known by their track ID (people without one pass unfiltered).
//! - A new track, or one unseen for longer than `RESTART_AFTER`, starts from its raw pose.
//! - A keypoint whose confidence is below `min_confidence` passes unfiltered and does not move
//!   its filter: the next confident sighting continues from the last confident one.
//! - The box is filtered too (its four sides, with the same settings), so it keeps framing
//!   the smoothed keypoints.
//!
//! Pure: people, times in ns and IDs; no GStreamer.

mod one_euro;

use std::collections::HashMap;

pub use one_euro::OneEuroParams;
use one_euro::OneEuro;

use crate::meta::Person;

/// A track unseen for longer than this starts its filters again from its raw pose (about
/// ten frames at 30 fps: longer than drop-oldest's usual gaps, short enough that a person
/// back from behind something is not dragged from where they were).
pub const RESTART_AFTER: u64 = 300_000_000;

/// Defaults of the element's `smoothing-min-cutoff`, `smoothing-beta` and
/// `smoothing-d-cutoff`, chosen by measurement on the project's cameras (README, "Steady
/// keypoints"): 54-64 % less jitter at 6.8 px from the raw keypoints at their 60 fps, 43-50 %
/// at 6.9 px at 30 fps; a beta of 10 smooths more (59-68 %) at 7.6 px, 20 less (49-59 %) at
/// 6.0 px.
pub const DEFAULT_PARAMS: OneEuroParams = OneEuroParams { min_cutoff: 1.5, beta: 14.0, d_cutoff: 1.0 };

/// One tracked person's filters.
struct Filtered {
    /// Per keypoint, x and y; None until the keypoint is first seen with confidence.
    keypoints: Vec<Option<[OneEuro; 2]>>,
    bbox: [OneEuro; 4],
    last_seen: u64,
}

impl Filtered {
    fn new(person: &Person, time: u64) -> Filtered {
        Filtered { keypoints: vec![None; person.keypoints.len()], bbox: person.bbox.map(|v| OneEuro::new(v, time)), last_seen: time }
    }
}

/// The filters of one stream's tracked people.
pub struct Smoother {
    params: OneEuroParams,
    /// Keypoints below this confidence are left as they are.
    min_confidence: f32,
    people: HashMap<u64, Filtered>,
}

impl Smoother {
    pub fn new(params: OneEuroParams, min_confidence: f32) -> Smoother {
        Smoother { params, min_confidence, people: HashMap::new() }
    }

    pub fn set_params(&mut self, params: OneEuroParams, min_confidence: f32) {
        (self.params, self.min_confidence) = (params, min_confidence);
    }

    /// Forgets every person (a flush, a new stream).
    pub fn reset(&mut self) {
        self.people.clear();
    }

    /// Smooths the tracked people of the frame at `time` (ns) in place.
    pub fn update(&mut self, time: u64, people: &mut [Person]) {
        // Whoever was unseen too long starts again (and is forgotten: memory stays bounded).
        self.people.retain(|_, f| time.saturating_sub(f.last_seen) <= RESTART_AFTER && time >= f.last_seen);
        let (params, min_confidence) = (self.params, self.min_confidence);
        for person in people.iter_mut().filter(|p| p.track_id > 0) {
            let filtered = self.people.entry(person.track_id).or_insert_with(|| Filtered::new(person, time));
            filtered.last_seen = time;
            let scale = person.bbox[3] - person.bbox[1];
            for (i, side) in person.bbox.iter_mut().enumerate() {
                *side = filtered.bbox[i].filter(*side, time, scale, &params);
            }
            filtered.keypoints.resize(person.keypoints.len(), None);
            for (keypoint, filters) in person.keypoints.iter_mut().zip(&mut filtered.keypoints) {
                if keypoint[2] < min_confidence {
                    continue;
                }
                match filters {
                    Some([x, y]) => {
                        keypoint[0] = x.filter(keypoint[0], time, scale, &params);
                        keypoint[1] = y.filter(keypoint[1], time, scale, &params);
                    }
                    None => *filters = Some([OneEuro::new(keypoint[0], time), OneEuro::new(keypoint[1], time)]),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: u64 = 33_333_333;

    fn person(id: u64, x: f32, confidence: f32) -> Person {
        Person {
            bbox: [x - 50.0, 100.0, x + 50.0, 400.0],
            score: 0.9,
            keypoints: vec![[x, 150.0, confidence], [x + 10.0, 300.0, 0.9]],
            track_id: id,
        }
    }

    #[test]
    fn each_track_is_smoothed_on_its_own_and_untracked_people_pass() {
        let mut s = Smoother::new(DEFAULT_PARAMS, 0.25);
        let mut frame = vec![person(1, 100.0, 0.9), person(2, 500.0, 0.9), person(0, 800.0, 0.9)];
        s.update(0, &mut frame);
        assert_eq!(frame[0].keypoints[0][0], 100.0, "a new track starts from its raw pose");
        let mut frame = vec![person(2, 510.0, 0.9), person(1, 110.0, 0.9), person(0, 810.0, 0.9)];
        s.update(FRAME, &mut frame);
        assert!(frame[0].keypoints[0][0] > 500.0 && frame[0].keypoints[0][0] < 510.0, "{:?}", frame[0].keypoints);
        assert!(frame[1].keypoints[0][0] > 100.0 && frame[1].keypoints[0][0] < 110.0, "{:?}", frame[1].keypoints);
        assert_eq!(frame[2].keypoints[0][0], 810.0, "no track ID, no filter");
    }

    #[test]
    fn an_unsure_keypoint_passes_and_does_not_drag_the_filter() {
        let mut s = Smoother::new(DEFAULT_PARAMS, 0.25);
        for i in 0..10 {
            s.update(i * FRAME, &mut [person(1, 100.0, 0.9)]);
        }
        let mut unsure = [person(1, 400.0, 0.1)];
        s.update(10 * FRAME, &mut unsure);
        assert_eq!(unsure[0].keypoints[0][0], 400.0, "left as it is");
        let mut back = [person(1, 100.0, 0.9)];
        s.update(11 * FRAME, &mut back);
        assert!((back[0].keypoints[0][0] - 100.0).abs() < 0.01, "the filter was not pulled to 400: {:?}", back[0].keypoints);
    }

    #[test]
    fn a_track_unseen_longer_than_the_restart_time_starts_again() {
        let mut s = Smoother::new(DEFAULT_PARAMS, 0.25);
        s.update(0, &mut [person(1, 100.0, 0.9)]);
        let mut soon = [person(1, 200.0, 0.9)];
        s.update(RESTART_AFTER, &mut soon);
        assert!(soon[0].keypoints[0][0] < 200.0, "within the restart time: filtered");
        let mut late = [person(1, 300.0, 0.9)];
        s.update(2 * RESTART_AFTER + FRAME, &mut late);
        assert_eq!(late[0].keypoints[0][0], 300.0, "unseen too long: raw again");
    }
}
