//! A run's own counts of its configs' endings, as its bars and closing
//! line show them.

/// This run's configs: done, failed, running and interrupted so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub done: usize,
    pub failed: usize,
    pub running: usize,
    pub interrupted: usize,
}

impl Tally {
    pub fn finished(&self) -> usize {
        self.done + self.failed
    }
}
