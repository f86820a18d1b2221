//! How a conversation may be cut: into turns (a user message and everything after it, up to
//! the next user message) and into units that are removed or kept whole (an assistant message
//! that calls tools together with the tool results answering it, or any other single message).
//! OpenAI rejects a tool message whose call is missing, so no strategy ever cuts inside a
//! unit.

use std::ops::Range;

use mamba_tokens::{ChatMessage, Role};

/// The units of `messages`, in order, covering every message once.
pub(crate) fn units(messages: &[ChatMessage]) -> Vec<Range<usize>> {
    let mut units = Vec::new();
    let mut start = 0;
    while start < messages.len() {
        let mut end = start + 1;
        let calls = &messages[start].tool_calls;
        if messages[start].role == Role::Assistant && !calls.is_empty() {
            // The results that follow and answer one of this message's calls belong to it.
            while end < messages.len()
                && messages[end].role == Role::Tool
                && messages[end]
                    .tool_call_id
                    .as_deref()
                    .is_some_and(|id| calls.iter().any(|call| call.id == id))
            {
                end += 1;
            }
        }
        units.push(start..end);
        start = end;
    }
    units
}

/// The turns of `messages`: each starts at a user message and runs to the next one; the
/// messages before the first user message, if any, make a turn of their own. Turns are made
/// of whole units.
pub(crate) fn turns(messages: &[ChatMessage]) -> Vec<Range<usize>> {
    let mut starts: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(index, message)| *index > 0 && message.role == Role::User)
        .map(|(index, _)| index)
        .collect();
    starts.insert(0, 0);
    starts.push(messages.len());
    starts
        .windows(2)
        .filter(|pair| pair[0] < pair[1])
        .map(|pair| pair[0]..pair[1])
        .collect()
}

/// Where the latest `turns` turns start: the index of the `turns`-th user message from the
/// end; `messages.len()` when `turns` is 0; 0 when there are not that many turns.
pub(crate) fn preserved_start(messages: &[ChatMessage], turns: u32) -> usize {
    if turns == 0 {
        return messages.len();
    }
    let mut seen = 0;
    for (index, message) in messages.iter().enumerate().rev() {
        if message.role == Role::User {
            seen += 1;
            if seen == turns {
                return index;
            }
        }
    }
    0
}

/// What counts as a turn: for conversations, a user message and what follows; for a
/// workflow's scratchpad, where one user message (the task) starts everything, each unit (one
/// step: a thought, or a tool call with its results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Segmentation {
    #[default]
    UserTurns,
    Units,
}

impl Segmentation {
    /// The turns of `messages`, in order.
    pub(crate) fn turns(self, messages: &[ChatMessage]) -> Vec<Range<usize>> {
        match self {
            Segmentation::UserTurns => turns(messages),
            Segmentation::Units => units(messages),
        }
    }

    /// Where the latest `count` turns start (`messages.len()` for 0, 0 when there are not
    /// that many).
    pub(crate) fn preserved_start(self, messages: &[ChatMessage], count: u32) -> usize {
        match self {
            Segmentation::UserTurns => preserved_start(messages, count),
            Segmentation::Units => {
                let units = units(messages);
                let count = usize::try_from(count).unwrap_or(usize::MAX);
                match units.len().checked_sub(count) {
                    _ if count == 0 => messages.len(),
                    Some(first_kept) => units.get(first_kept).map_or(messages.len(), |u| u.start),
                    None => 0,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mamba_tokens::ToolCall;

    use super::*;

    fn conversation() -> Vec<ChatMessage> {
        vec![
            ChatMessage::user("Weather in Paris and Rome?"),
            ChatMessage::assistant("").with_tool_calls([
                ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#),
                ToolCall::new("call_2", "get_weather", r#"{"city":"Rome"}"#),
            ]),
            ChatMessage::tool("call_1", "Sunny"),
            ChatMessage::tool("call_2", "Rain"),
            ChatMessage::assistant("Paris is sunny, Rome rainy."),
            ChatMessage::user("Thanks"),
            ChatMessage::assistant("You're welcome."),
        ]
    }

    #[test]
    fn a_tool_call_and_its_results_are_one_unit() {
        assert_eq!(units(&conversation()), [0..1, 1..4, 4..5, 5..6, 6..7]);
    }

    #[test]
    fn a_result_answering_no_call_of_the_message_before_it_is_a_unit_of_its_own() {
        let messages = [
            ChatMessage::assistant("").with_tool_calls([ToolCall::new("a", "f", "{}")]),
            ChatMessage::tool("b", "stray"),
        ];
        assert_eq!(units(&messages), [0..1, 1..2]);
    }

    #[test]
    fn a_turn_runs_from_a_user_message_to_the_next() {
        assert_eq!(turns(&conversation()), [0..5, 5..7]);
        let greeting_first = [
            ChatMessage::assistant("Hello! How can I help?"),
            ChatMessage::user("Hi"),
        ];
        assert_eq!(turns(&greeting_first), [0..1, 1..2]);
        assert_eq!(turns(&[]), Vec::<Range<usize>>::new());
    }

    #[test]
    fn a_scratchpad_keeps_its_latest_steps() {
        let steps = Segmentation::Units;
        let messages = conversation();
        assert_eq!(steps.turns(&messages), units(&messages));
        assert_eq!(steps.preserved_start(&messages, 0), 7);
        assert_eq!(steps.preserved_start(&messages, 2), 5);
        assert_eq!(steps.preserved_start(&messages, 4), 1);
        assert_eq!(steps.preserved_start(&messages, 9), 0);
    }

    #[test]
    fn turns_start_at_user_messages() {
        let messages = conversation();
        assert_eq!(preserved_start(&messages, 0), 7);
        assert_eq!(preserved_start(&messages, 1), 5);
        assert_eq!(preserved_start(&messages, 2), 0);
        assert_eq!(preserved_start(&messages, 3), 0);
    }
}
