//! The one way a service changes stored state: read, apply a pure change, write the
//! result back conditionally, and when another writer got there first, read again and
//! retry, a bounded number of times. Every read-modify-write of the services goes
//! through [`retry_on_conflict`]; a try says how it ended with [`Tried`]. (The sweep's,
//! which decides again after a lost race and leaves a contended job to the next sweep,
//! keeps its own loop over [`Tried`].)

use std::future::Future;

use crate::{Error, Result, StoreError};

/// Tries of one read-modify-write before the caller gets a 503 to retry later.
pub(crate) const WRITE_ATTEMPTS: usize = 5;

/// How one try of a read-modify-write ended.
pub(crate) enum Tried<T> {
    /// Done, written or with nothing to write: the answer.
    Done(T),
    /// Another writer changed the state first: read again and try again.
    Lost,
}

impl<T> Tried<T> {
    /// The try's end from its conditional write: a lost condition is [`Tried::Lost`],
    /// any other store failure an error.
    pub(crate) fn written(write: Result<(), StoreError>, answer: T) -> Result<Tried<T>> {
        match write {
            Ok(()) => Ok(Tried::Done(answer)),
            Err(StoreError::Conflict(_)) => Ok(Tried::Lost),
            Err(err) => Err(err.into()),
        }
    }
}

/// Runs `attempt` (read, apply, write) until it is done, at most [`WRITE_ATTEMPTS`]
/// times; `what` names the thing that kept changing in the error after the last.
///
/// `attempt` is a `move` closure over references returning an `async move` block, so
/// the futures stay `Send` for the handlers that await them.
pub(crate) async fn retry_on_conflict<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Tried<T>>>,
{
    for _ in 0..WRITE_ATTEMPTS {
        if let Tried::Done(answer) = attempt().await? {
            return Ok(answer);
        }
    }
    Err(Error::unavailable(format!(
        "{what} kept changing while it was updated; try again"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lost_write_is_retried_until_it_lands_or_the_tries_run_out() {
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let count = &tries;
        let answer = retry_on_conflict("the thing", move || async move {
            let tries = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let write = if tries < 3 {
                Err(StoreError::Conflict("raced".into()))
            } else {
                Ok(())
            };
            Tried::written(write, tries)
        })
        .await
        .unwrap();
        assert_eq!(answer, 3);

        let tries = std::sync::atomic::AtomicUsize::new(0);
        let count = &tries;
        let err = retry_on_conflict("the thing", move || async move {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Tried::<()>::written(Err(StoreError::Conflict("raced".into())), ())
        })
        .await
        .unwrap_err();
        assert_eq!(tries.into_inner(), WRITE_ATTEMPTS);
        assert_eq!(err.kind, crate::ErrorKind::Unavailable);

        let err = retry_on_conflict("the thing", || async {
            Tried::<()>::written(Err(StoreError::Unavailable("down".into())), ())
        })
        .await
        .unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::StoreUnavailable);
    }
}
