//! Workflows: multi-step runs on an agent with per-step usage and cost, hooks, and the ReAct
//! loop.
//!
//! | Python (mamba-agents) | Rust |
//! |---|---|
//! | `ReActWorkflow(agent=agent)` | [`ReActWorkflow::new(agent)`](ReActWorkflow::new) |
//! | `await workflow.run(q)` | [`workflow.run(q).await`](ReActWorkflow::run) |
//! | `workflow.get_token_usage()` / `get_cost()` | [`workflow.token_usage()`](ReActWorkflow::token_usage) / [`workflow.cost()`](ReActWorkflow::cost) |
//! | `WorkflowHooks(on_step_complete=f)` | [`WorkflowHooks::new().on_step_complete(f)`](WorkflowHooks::on_step_complete) |
//!
//! Write your own with the [`Workflow`] trait and a [`WorkflowRun`], which numbers steps and
//! iterations, enforces [`WorkflowConfig`], gives each step the usage and cost of its model
//! requests and calls the hooks.

mod hooks;
mod react;
mod run;
mod state;

pub use hooks::{HookOutput, WorkflowHooks};
pub use react::{ReActConfig, ReActState, ReActWorkflow};
pub use run::{Stop, Workflow, WorkflowRun, WorkflowTotals};
pub use state::{
    HookError, StepKind, TerminationReason, WorkflowConfig, WorkflowResult, WorkflowState,
    WorkflowStep,
};
