//! The mamba guides in this directory and the workspace README, compiled and run as doctests
//! so none of their code can rot. They live in this unpublished crate because a published
//! crate's package holds only its own files: a guide included from a crate would break that
//! crate's tests once downloaded (tidy refuses such includes).
#![cfg(doctest)]

#[doc = include_str!("../README.md")]
struct WorkspaceReadme;

#[doc = include_str!("token-counting.md")]
struct TokenCounting;

#[doc = include_str!("usage-tracking.md")]
struct UsageTracking;

#[doc = include_str!("cost-estimation.md")]
struct CostEstimation;

#[doc = include_str!("ledger.md")]
struct Ledger;

#[doc = include_str!("configuration.md")]
struct Configuration;

#[doc = include_str!("token-tracking.md")]
struct TokenTracking;

#[doc = include_str!("context-management.md")]
struct ContextManagement;
