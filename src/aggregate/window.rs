//! The last minutes of a node, handed to inference once per minute.

use std::collections::VecDeque;

use crate::schema::FEATURE_COUNT;

/// A ring of the last `length` minute vectors of one node.
#[derive(Debug, Clone)]
pub struct WindowRing {
    length: usize,
    minutes: VecDeque<[f32; FEATURE_COUNT]>,
}

impl WindowRing {
    /// A ring of `length` minutes (at least 1).
    pub fn new(length: usize) -> Self {
        let length = length.max(1);
        Self { length, minutes: VecDeque::with_capacity(length) }
    }

    /// Adds the next minute; returns the full window (oldest first, `length × 130` values)
    /// once `length` minutes are there.
    pub fn push(&mut self, minute: [f32; FEATURE_COUNT]) -> Option<Vec<f32>> {
        if self.minutes.len() == self.length {
            self.minutes.pop_front();
        }
        self.minutes.push_back(minute);
        (self.minutes.len() == self.length)
            .then(|| self.minutes.iter().flatten().copied().collect())
    }

    /// Minutes held.
    pub fn len(&self) -> usize {
        self.minutes.len()
    }

    /// Whether no minute is held yet.
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
    }

    /// Bytes of feature data a full ring holds.
    pub fn capacity_bytes(&self) -> usize {
        self.length * FEATURE_COUNT * std::mem::size_of::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(v: f32) -> [f32; FEATURE_COUNT] {
        [v; FEATURE_COUNT]
    }

    #[test]
    fn the_window_slides_oldest_first() {
        let mut ring = WindowRing::new(3);
        assert_eq!(ring.push(minute(1.0)), None);
        assert_eq!(ring.push(minute(2.0)), None);
        let full = ring.push(minute(3.0)).unwrap();
        assert_eq!(full.len(), 3 * FEATURE_COUNT);
        assert_eq!((full[0], full[FEATURE_COUNT], full[2 * FEATURE_COUNT]), (1.0, 2.0, 3.0));
        let next = ring.push(minute(4.0)).unwrap();
        assert_eq!((next[0], next[2 * FEATURE_COUNT]), (2.0, 4.0));
        assert_eq!(ring.len(), 3);
        assert_eq!(WindowRing::new(60).capacity_bytes(), 31_200);
    }
}
