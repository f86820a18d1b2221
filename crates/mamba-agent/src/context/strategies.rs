//! The compaction strategies, as edits of a [`Counted`] conversation: each message with its
//! token count, so every step knows the running total without recounting. Each one works only
//! on the messages before the preserved turns and never cuts inside a unit (a tool call and
//! its results).

use mamba_tokens::{ChatMessage, Role};

use super::units::{Segmentation, units};

/// Messages with their counts (as `count_messages` counts each, less the reply priming) and
/// the tokens the rest of the prompt takes (system prompt and priming).
#[derive(Debug, Clone)]
pub(crate) struct Counted {
    pub(crate) messages: Vec<ChatMessage>,
    pub(crate) counts: Vec<u64>,
    /// System prompt and reply priming.
    pub(crate) fixed: u64,
    /// What a turn is.
    pub(crate) segmentation: Segmentation,
}

impl Counted {
    /// The prompt's tokens.
    pub(crate) fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(self.fixed, |sum, n| sum.saturating_add(*n))
    }

    fn tokens_of(&self, range: std::ops::Range<usize>) -> u64 {
        self.counts[range].iter().sum()
    }

    /// Replaces the messages in `range` with `with` (counted `count`).
    fn replace(&mut self, range: std::ops::Range<usize>, with: Vec<(ChatMessage, u64)>) {
        let (messages, counts): (Vec<_>, Vec<_>) = with.into_iter().unzip();
        self.messages.splice(range.clone(), messages);
        self.counts.splice(range, counts);
    }
}

/// Drops the oldest turns before the preserved ones until the prompt is at most `target`;
/// returns how many messages it dropped. Whole turns go, so no answer is left without its
/// question and no tool result without its call.
pub(crate) fn sliding_window(counted: &mut Counted, preserve_turns: u32, target: u64) -> usize {
    let preserved = counted
        .segmentation
        .preserved_start(&counted.messages, preserve_turns);
    let mut total = counted.total();
    let mut drop_until = 0;
    for turn in counted.segmentation.turns(&counted.messages) {
        if total <= target || turn.end > preserved {
            break;
        }
        total = total.saturating_sub(counted.tokens_of(turn.clone()));
        drop_until = turn.end;
    }
    counted.replace(0..drop_until, Vec::new());
    drop_until
}

/// Replaces completed tool calls before the preserved turns, oldest first, with one assistant
/// message naming the tools, until the prompt is at most `target`; returns how many messages
/// it replaced.
pub(crate) fn selective_pruning(
    counted: &mut Counted,
    preserve_turns: u32,
    target: u64,
    count: &dyn Fn(&ChatMessage) -> u64,
) -> usize {
    let mut removed = 0;
    // Units are taken from the back so that replacing one leaves the earlier ones' indices
    // as they were; the oldest go first, so they are chosen first and applied in reverse.
    let preserved = counted
        .segmentation
        .preserved_start(&counted.messages, preserve_turns);
    let calls: Vec<_> = units(&counted.messages)
        .into_iter()
        .filter(|unit| unit.end <= preserved && unit.len() > 1)
        .collect();
    let mut total = counted.total();
    let mut chosen = Vec::new();
    for unit in calls {
        if total <= target {
            break;
        }
        let summary = pruned_call(&counted.messages[unit.clone()]);
        let summary_tokens = count(&summary);
        total = total
            .saturating_sub(counted.tokens_of(unit.clone()))
            .saturating_add(summary_tokens);
        chosen.push((unit, summary, summary_tokens));
    }
    for (unit, summary, tokens) in chosen.into_iter().rev() {
        removed += unit.len();
        counted.replace(unit, vec![(summary, tokens)]);
    }
    removed
}

/// The one message that stands for a completed tool call: the assistant's text, if any, and
/// the names of the tools it called.
fn pruned_call(unit: &[ChatMessage]) -> ChatMessage {
    let call = &unit[0];
    let mut names: Vec<&str> = Vec::new();
    for tool_call in &call.tool_calls {
        if !names.contains(&tool_call.name.as_str()) {
            names.push(&tool_call.name);
        }
    }
    let line = format!("[Called tools: {}]", names.join(", "));
    let content = if call.content.trim().is_empty() {
        line
    } else {
        format!("{}\n{line}", call.content)
    };
    ChatMessage::assistant(content)
}

/// Replaces every message before the preserved turns with one user message holding `summary`;
/// returns how many messages it replaced.
pub(crate) fn summarized(
    counted: &mut Counted,
    preserve_turns: u32,
    summary: &str,
    count: &dyn Fn(&ChatMessage) -> u64,
) -> usize {
    let preserved = counted
        .segmentation
        .preserved_start(&counted.messages, preserve_turns);
    if preserved == 0 {
        return 0;
    }
    let message = ChatMessage::user(format!(
        "Summary of the earlier conversation:\n{}",
        summary.trim()
    ));
    let tokens = count(&message);
    counted.replace(0..preserved, vec![(message, tokens)]);
    preserved
}

/// The units a model is asked to score: those before the preserved turns.
pub(crate) fn scorable_units(
    counted: &Counted,
    preserve_turns: u32,
) -> Vec<std::ops::Range<usize>> {
    let preserved = counted
        .segmentation
        .preserved_start(&counted.messages, preserve_turns);
    units(&counted.messages)
        .into_iter()
        .filter(|unit| unit.end <= preserved)
        .collect()
}

/// Drops the units with the lowest `scores` (the older first among equal scores) until the
/// prompt is at most `target`; returns how many messages it dropped.
pub(crate) fn drop_least_important(
    counted: &mut Counted,
    scored: &[(std::ops::Range<usize>, f64)],
    target: u64,
) -> usize {
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|a, b| scored[*a].1.total_cmp(&scored[*b].1).then(a.cmp(b)));
    let mut total = counted.total();
    let mut dropped = Vec::new();
    for index in order {
        if total <= target {
            break;
        }
        let unit = scored[index].0.clone();
        total = total.saturating_sub(counted.tokens_of(unit.clone()));
        dropped.push(unit);
    }
    dropped.sort_by_key(|unit| std::cmp::Reverse(unit.start));
    let mut removed = 0;
    for unit in dropped {
        removed += unit.len();
        counted.replace(unit, Vec::new());
    }
    removed
}

/// The conversation as plain lines for a model to read: `role: text`, tool calls and results
/// named.
pub(crate) fn transcript(messages: &[ChatMessage]) -> String {
    let mut lines = Vec::with_capacity(messages.len());
    for message in messages {
        let mut line = format!("{}: {}", message.role.as_str(), message.content.trim());
        for call in &message.tool_calls {
            line.push_str(&format!(" [calls {}({})]", call.name, call.arguments));
        }
        if message.role == Role::Tool {
            line = format!("tool result: {}", message.content.trim());
        }
        lines.push(line);
    }
    lines.join("\n")
}
