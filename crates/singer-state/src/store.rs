//! Where state is kept between runs.

use crate::{Result, State};

/// Durable storage for one job's [`State`].
///
/// A target (or an orchestrator) saves every STATE it has made durable; the
/// next run of the job loads the last one saved and passes it to the tap.
pub trait StateStore {
    /// The last state saved, or `None` if nothing was ever saved.
    ///
    /// # Errors
    ///
    /// If the store cannot be read or holds something that is not a valid
    /// state.
    fn load(&mut self) -> Result<Option<State>>;

    /// Replaces the stored state with `state`.
    ///
    /// When `save` returns `Ok`, the state is durable: a crash or power loss
    /// afterwards still loads it (or a later one). A crash during `save`
    /// leaves either the old or the new state, never a mix. When it returns
    /// an error, the stored state is the old one or the new one; callers
    /// must not assume which.
    ///
    /// # Errors
    ///
    /// If the state cannot be written durably.
    fn save(&mut self, state: &State) -> Result<()>;
}

impl<T: StateStore + ?Sized> StateStore for &mut T {
    fn load(&mut self) -> Result<Option<State>> {
        (**self).load()
    }

    fn save(&mut self, state: &State) -> Result<()> {
        (**self).save(state)
    }
}

impl<T: StateStore + ?Sized> StateStore for Box<T> {
    fn load(&mut self) -> Result<Option<State>> {
        (**self).load()
    }

    fn save(&mut self, state: &State) -> Result<()> {
        (**self).save(state)
    }
}
