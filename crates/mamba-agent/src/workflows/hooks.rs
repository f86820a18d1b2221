//! [`WorkflowHooks`]: the Python library's eight callbacks and `on_compaction`, sync or async.
//!
//! Hooks see the state read-only, so they cannot change a run's steps or usage. A hook that
//! returns an error or panics does not end the run: the failure is logged (`WARN`) and listed
//! in [`WorkflowResult::hook_errors`](super::WorkflowResult::hook_errors).

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt;

use super::{HookError, WorkflowState, WorkflowStep};
use crate::context::CompactionResult;

/// What a hook may return: nothing, or a `Result` whose error is reported.
///
/// ```
/// use mamba_agent::workflows::HookOutput;
///
/// assert_eq!(().into_error(), None);
/// assert_eq!(Err::<(), _>("no disk").into_error(), Some("no disk".to_owned()));
/// ```
pub trait HookOutput {
    /// The error message, if the hook failed.
    fn into_error(self) -> Option<String>;
}

impl HookOutput for () {
    fn into_error(self) -> Option<String> {
        None
    }
}

impl<E: fmt::Display> HookOutput for Result<(), E> {
    fn into_error(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Option<String>> + Send>>;
/// A synchronous hook, returning its failure message.
type SyncHook<C, A> = dyn Fn(&WorkflowState<C>, &A) -> Option<String> + Send + Sync;
/// An async hook, given copies of the state and subject.
type AsyncHook<C, A> = dyn Fn(WorkflowState<C>, A) -> BoxFuture + Send + Sync;

/// A registered hook for events carrying an `A`.
enum Handler<C, A> {
    Sync(Arc<SyncHook<C, A>>),
    Async(Arc<AsyncHook<C, A>>),
}

impl<C, A> Clone for Handler<C, A> {
    fn clone(&self) -> Self {
        match self {
            Handler::Sync(f) => Handler::Sync(Arc::clone(f)),
            Handler::Async(f) => Handler::Async(Arc::clone(f)),
        }
    }
}

macro_rules! hooks {
    ($( $field:ident, $async_name:ident, $arg:ty, $doc:literal; )*) => {
        /// Callbacks around a workflow run: start, completion and errors of the run, of each
        /// step and of each iteration. Register as many as you like; each gets the state
        /// (read-only) and the event's subject.
        ///
        /// ```
        /// use mamba_agent::workflows::{ReActState, WorkflowHooks, WorkflowState, WorkflowStep};
        ///
        /// // The seed's `log_usage`, reading the running usage from the state.
        /// fn log_usage(state: &WorkflowState<ReActState>, step: &WorkflowStep) {
        ///     println!("Step {} used {} tokens (run total {})", step.number,
        ///         step.usage.total_tokens, state.usage.total_tokens);
        /// }
        /// let hooks = WorkflowHooks::new()
        ///     .on_step_complete(log_usage)
        ///     .on_workflow_complete_async(|state: WorkflowState<ReActState>, _: ()| async move {
        ///         println!("cost ${}", state.cost);
        ///     });
        /// assert_eq!(hooks.len(), 2);
        /// ```
        pub struct WorkflowHooks<C> {
            $( $field: Vec<Handler<C, $arg>>, )*
        }

        impl<C> Default for WorkflowHooks<C> {
            fn default() -> Self {
                WorkflowHooks { $( $field: Vec::new(), )* }
            }
        }

        impl<C> Clone for WorkflowHooks<C> {
            fn clone(&self) -> Self {
                WorkflowHooks { $( $field: self.$field.clone(), )* }
            }
        }

        impl<C> fmt::Debug for WorkflowHooks<C> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("WorkflowHooks")
                    $( .field(stringify!($field), &self.$field.len()) )*
                    .finish()
            }
        }

        impl<C: Clone + Send + Sync + 'static> WorkflowHooks<C> {
            /// No hooks.
            pub fn new() -> Self {
                Self::default()
            }

            /// How many hooks are registered.
            pub fn len(&self) -> usize {
                0 $( + self.$field.len() )*
            }

            /// Whether none is registered.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            $(
                #[doc = concat!("Adds a synchronous hook called ", $doc, ".")]
                pub fn $field<R: HookOutput>(
                    mut self,
                    hook: impl Fn(&WorkflowState<C>, &$arg) -> R + Send + Sync + 'static,
                ) -> Self {
                    self.$field.push(Handler::Sync(Arc::new(move |state, arg| hook(state, arg).into_error())));
                    self
                }

                #[doc = concat!("Adds an async hook called ", $doc, "; it gets copies of the state and subject.")]
                pub fn $async_name<R: HookOutput + 'static, F: Future<Output = R> + Send + 'static>(
                    mut self,
                    hook: impl Fn(WorkflowState<C>, $arg) -> F + Send + Sync + 'static,
                ) -> Self {
                    self.$field.push(Handler::Async(Arc::new(move |state, arg| {
                        Box::pin(hook(state, arg).map(HookOutput::into_error))
                    })));
                    self
                }
            )*
        }

        /// The event a hook is called for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum HookKind { $( #[allow(non_camel_case_types)] $field, )* }
    };
}

hooks! {
    on_workflow_start, on_workflow_start_async, (), "when a run starts";
    on_workflow_complete, on_workflow_complete_async, (), "when a run ends with an answer";
    on_workflow_error, on_workflow_error_async, String, "when a run ends without an answer (with why)";
    on_step_start, on_step_start_async, WorkflowStep, "when a step starts";
    on_step_complete, on_step_complete_async, WorkflowStep, "when a step succeeds";
    on_step_error, on_step_error_async, WorkflowStep, "when a step fails (its `error` says why)";
    on_iteration_start, on_iteration_start_async, u32, "when an iteration starts (with its number)";
    on_iteration_complete, on_iteration_complete_async, u32, "when an iteration ends (with its number)";
    on_compaction, on_compaction_async, CompactionResult, "when the run's context was compacted (with what compaction did)";
}

impl<C: Clone + Send + Sync + 'static> WorkflowHooks<C> {
    /// Calls every hook of one event in registration order, collecting failures.
    pub(crate) async fn fire_workflow(
        &self,
        kind: HookKind,
        state: &WorkflowState<C>,
        errors: &mut Vec<HookError>,
    ) {
        let handlers = match kind {
            HookKind::on_workflow_start => &self.on_workflow_start,
            _ => &self.on_workflow_complete,
        };
        fire(handlers, name(kind), state, &(), errors).await;
    }

    pub(crate) async fn fire_error(
        &self,
        state: &WorkflowState<C>,
        error: &str,
        errors: &mut Vec<HookError>,
    ) {
        let hook = name(HookKind::on_workflow_error);
        fire(
            &self.on_workflow_error,
            hook,
            state,
            &error.to_owned(),
            errors,
        )
        .await;
    }

    pub(crate) async fn fire_step(
        &self,
        kind: HookKind,
        state: &WorkflowState<C>,
        step: &WorkflowStep,
        errors: &mut Vec<HookError>,
    ) {
        let handlers = match kind {
            HookKind::on_step_start => &self.on_step_start,
            HookKind::on_step_error => &self.on_step_error,
            _ => &self.on_step_complete,
        };
        fire(handlers, name(kind), state, step, errors).await;
    }

    pub(crate) async fn fire_iteration(
        &self,
        kind: HookKind,
        state: &WorkflowState<C>,
        iteration: u32,
        errors: &mut Vec<HookError>,
    ) {
        let handlers = match kind {
            HookKind::on_iteration_start => &self.on_iteration_start,
            _ => &self.on_iteration_complete,
        };
        fire(handlers, name(kind), state, &iteration, errors).await;
    }
}

impl<C: Clone + Send + Sync + 'static> WorkflowHooks<C> {
    pub(crate) async fn fire_compaction(
        &self,
        state: &WorkflowState<C>,
        result: &CompactionResult,
        errors: &mut Vec<HookError>,
    ) {
        let hook = name(HookKind::on_compaction);
        fire(&self.on_compaction, hook, state, result, errors).await;
    }
}

fn name(kind: HookKind) -> &'static str {
    match kind {
        HookKind::on_workflow_start => "on_workflow_start",
        HookKind::on_workflow_complete => "on_workflow_complete",
        HookKind::on_workflow_error => "on_workflow_error",
        HookKind::on_step_start => "on_step_start",
        HookKind::on_step_complete => "on_step_complete",
        HookKind::on_step_error => "on_step_error",
        HookKind::on_iteration_start => "on_iteration_start",
        HookKind::on_iteration_complete => "on_iteration_complete",
        HookKind::on_compaction => "on_compaction",
    }
}

async fn fire<C: Clone, A: Clone>(
    handlers: &[Handler<C, A>],
    hook: &'static str,
    state: &WorkflowState<C>,
    arg: &A,
    errors: &mut Vec<HookError>,
) {
    for handler in handlers {
        let outcome = match handler {
            Handler::Sync(f) => std::panic::catch_unwind(AssertUnwindSafe(|| f(state, arg))),
            Handler::Async(f) => {
                // The closure may panic before it returns its future, or the future while it
                // runs: both are caught.
                match std::panic::catch_unwind(AssertUnwindSafe(|| f(state.clone(), arg.clone()))) {
                    Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                    Err(panic) => Err(panic),
                }
            }
        };
        let message = match outcome {
            Ok(None) => continue,
            Ok(Some(message)) => message,
            Err(panic) => format!("panicked: {}", crate::tools::panic_message(&*panic)),
        };
        tracing::warn!(hook, %message, "a workflow hook failed; the run goes on");
        errors.push(HookError::new(hook, message));
    }
}
