//! The request being served, as the database work sees it: the client's address and the
//! request id, set by the HTTP edge for the request's task ([`Context::scope`]) and carried
//! by `Db::run` to the blocking thread ([`Context::enter`]), where the audit log reads them
//! ([`Context::current`]). Here rather than in `audit` because `db` must not import what
//! is built on it.

use std::cell::RefCell;

/// Where the request being served comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
}

tokio::task_local! {
    static REQUEST: Context;
}

thread_local! {
    static CURRENT: RefCell<Context> = RefCell::new(Context::default());
}

impl Context {
    /// Runs a request's future with this context (the HTTP edge, once per request).
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        REQUEST.scope(self, f).await
    }

    /// The context of the task being run (empty outside a request).
    pub fn current() -> Self {
        REQUEST
            .try_with(Clone::clone)
            .unwrap_or_else(|_| CURRENT.with(|c| c.borrow().clone()))
    }

    /// Runs blocking work with this context (what `Db::run` does on the blocking thread).
    pub fn enter<T>(self, f: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|c| c.replace(self));
        let out = f();
        CURRENT.with(|c| c.replace(previous));
        out
    }
}
