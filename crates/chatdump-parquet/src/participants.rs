//! Participant data joined onto messages: the `user_id` and `custom_participant_id` columns of
//! schema version 2 (bulk export, `--with-participants`).

use std::collections::HashMap;

/// The ids the participants route gives one participant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantIds {
    /// The user id, if any.
    pub user_id: Option<String>,
    /// The organisation's own id for the participant, if any.
    pub custom_participant_id: Option<String>,
}

/// Participant (peer) id, as in the dump's `participantId`, to its ids. Set as
/// [`crate::ParquetOptions::participants`], it makes files use schema version 2.
pub type Participants = HashMap<String, ParticipantIds>;
