//! The timer heap: a binary min-heap of deadlines over a slab of entries, each entry
//! knowing its position in the heap, so a cancel removes the entry at once in
//! O(log n) and leaves no tombstone behind (Smithay#1927: tombstones grew a heap to
//! millions). Generic over the payload, so `shoal-mux` reuses it without closures.

use std::time::Instant;

/// Names one timer in a [`TimerHeap`]: slot and generation, so a handle kept after its
/// timer fired or was cancelled never cancels a newer timer in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

struct Entry<T> {
    generation: u32,
    /// Index in `heap`, meaningful only while `value` is `Some`.
    position: usize,
    deadline: Instant,
    /// Insertion order: timers with equal deadlines fire first in, first out.
    sequence: u64,
    value: Option<T>,
}

/// Timers ordered by deadline (then insertion order), with O(log n) insert, cancel and
/// pop. Memory is bounded by the most timers ever pending at once.
pub struct TimerHeap<T> {
    entries: Vec<Entry<T>>,
    heap: Vec<u32>,
    free: Vec<u32>,
    next_sequence: u64,
}

impl<T> Default for TimerHeap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerHeap<T> {
    /// An empty heap.
    pub fn new() -> Self {
        TimerHeap {
            entries: Vec::new(),
            heap: Vec::new(),
            free: Vec::new(),
            next_sequence: 0,
        }
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Adds a timer due at `deadline`.
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerId {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let position = self.heap.len();
        let slot = match self.free.pop() {
            Some(slot) => {
                let e = &mut self.entries[slot as usize];
                e.position = position;
                e.deadline = deadline;
                e.sequence = sequence;
                e.value = Some(value);
                slot
            }
            None => {
                let slot = self.entries.len() as u32;
                self.entries.push(Entry {
                    generation: 0,
                    position,
                    deadline,
                    sequence,
                    value: Some(value),
                });
                slot
            }
        };
        self.heap.push(slot);
        self.sift_up(position);
        TimerId {
            slot,
            generation: self.entries[slot as usize].generation,
        }
    }

    /// Whether `id` is still pending.
    pub fn contains(&self, id: TimerId) -> bool {
        self.entries
            .get(id.slot as usize)
            .is_some_and(|e| e.generation == id.generation && e.value.is_some())
    }

    /// Removes a pending timer and returns its payload; `None` if it already fired or
    /// was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        if !self.contains(id) {
            return None;
        }
        let position = self.entries[id.slot as usize].position;
        self.remove_at(position)
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap
            .first()
            .map(|&slot| self.entries[slot as usize].deadline)
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(TimerId, T)> {
        let &slot = self.heap.first()?;
        let entry = &self.entries[slot as usize];
        if entry.deadline > now {
            return None;
        }
        let id = TimerId {
            slot,
            generation: entry.generation,
        };
        self.remove_at(0).map(|value| (id, value))
    }

    fn remove_at(&mut self, position: usize) -> Option<T> {
        let slot = self.heap.swap_remove(position);
        if position < self.heap.len() {
            let moved = self.heap[position];
            self.entries[moved as usize].position = position;
            self.sift_down(position);
            let now_at = self.entries[moved as usize].position;
            self.sift_up(now_at);
        }
        let entry = &mut self.entries[slot as usize];
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
        entry.value.take()
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let ea = &self.entries[self.heap[a] as usize];
        let eb = &self.entries[self.heap[b] as usize];
        (ea.deadline, ea.sequence) < (eb.deadline, eb.sequence)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.entries[self.heap[a] as usize].position = a;
        self.entries[self.heap[b] as usize].position = b;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(i, parent) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let left = 2 * i + 1;
            if left >= self.heap.len() {
                break;
            }
            let right = left + 1;
            let child = if right < self.heap.len() && self.less(right, left) {
                right
            } else {
                left
            };
            if !self.less(child, i) {
                break;
            }
            self.swap(i, child);
            i = child;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_then_insertion_order_and_cancel_removes() {
        let base = Instant::now();
        let mut heap = TimerHeap::new();
        let ids: Vec<_> = [5u64, 1, 3, 1, 4]
            .iter()
            .enumerate()
            .map(|(i, &ms)| heap.insert(base + Duration::from_millis(ms), i))
            .collect();
        assert_eq!(heap.cancel(ids[2]), Some(2));
        assert_eq!(heap.cancel(ids[2]), None);
        let mut order = Vec::new();
        while let Some((_, v)) = heap.pop_expired(base + Duration::from_secs(1)) {
            order.push(v);
        }
        assert_eq!(order, vec![1, 3, 4, 0]);
        assert!(heap.is_empty());
        // A handle of a fired timer does not cancel the next timer in its slot.
        let fresh = heap.insert(base, 9);
        assert_eq!(heap.cancel(ids[0]), None);
        assert!(heap.contains(fresh));
    }
}
